"""Run time of a vector env with gymscope's full vector stack, against the env alone.

Issue 12's second target: the full vector stack (``EpisodeStatsWrapper`` over
``CurveRecorderWrapper`` over ``SQLiteLoggerWrapper``, all from
``gymscope.vector``) at 64 sub-envs adds at most 10% to the vector env's run
time. Measured in one process, interleaved rounds, medians of best-of-
``repeats`` blocks, for:

- the raw vector env (the reference: ratios are run times over its run time),
- gymnasium's ``gymnasium.wrappers.vector.RecordEpisodeStatistics`` around it
  (for scale: what statistics alone cost in gymnasium),
- gymscope's vector ``EpisodeStatsWrapper`` alone,
- the full stack writing a fresh SQLite file and curves per round,

on the no-op vector env of ``vector_overhead.py`` (25- and 500-step episodes:
it costs ~0.1 µs a step, so any per-episode write dwarfs it) and CartPole's
native vector env (random actions). What the stack costs is mostly one SQLite
commit per finished episode (what keeps every finished episode safe from
SIGKILL); at 64 sub-envs with 25-step episodes 2.6 episodes end per step.

Run with ``uv run python benchmarks/vector_stack.py`` (``--quick`` for a
smoke run whose numbers mean nothing).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from _harness import Result, Sample, interleave, print_table, require_positive, summarize
from gymnasium.vector import VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics as VectorRecordEpisodeStatistics
from vector_overhead import NoOpVectorEnv

from gymscope.vector import CurveRecorderWrapper, EpisodeStatsWrapper, SQLiteLoggerWrapper

__all__ = ["main", "run", "run_env"]

RAW = "raw vector env"
GYMNASIUM = "gymnasium vector RecordEpisodeStatistics"
STATS = "gymscope vector EpisodeStatsWrapper"
STACK = "gymscope stats + database + curves"
CASES = (RAW, GYMNASIUM, STATS, STACK)

NOOP = "no-op, 25-step episodes"
NOOP_LONG = "no-op, 500-step episodes"
CARTPOLE = "CartPole-v1 vector env"
LENGTHS = {NOOP: 25, NOOP_LONG: 500}
TARGET_RATIO = 1.10


def _native(env_name: str, num_envs: int) -> VectorEnv[Any, Any, Any]:
    length = LENGTHS.get(env_name)
    if length is not None:
        return NoOpVectorEnv(num_envs, length)
    return gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point")


def _block(
    make: Callable[[Path], VectorEnv[Any, Any, Any]], actions: Sequence[Any], num_envs: int
) -> Sample:
    """One block: a freshly built env (a new database and curves folder for the
    stack), reset, then ``len(actions)`` timed vector steps; closed untimed."""
    folder = Path(tempfile.mkdtemp(prefix="gymscope-vstack-"))
    env = make(folder)
    try:
        env.reset(seed=0)
        env.step(actions[0])  # the first write opens nothing more: reset did
        step = env.step
        gc_was_enabled = gc.isenabled()
        gc.disable()
        try:
            start = time.perf_counter_ns()
            for action in actions:
                step(action)
            elapsed = (time.perf_counter_ns() - start) / 1e9
        finally:
            if gc_was_enabled:
                gc.enable()
    finally:
        env.close()
        shutil.rmtree(folder, ignore_errors=True)
    return Sample(elapsed, units=len(actions) * num_envs)


def run_env(env_name: str, num_envs: int, env_steps: int, rounds: int, repeats: int) -> Result:
    """The four cases on one env: seconds per env-step, ratios of run times to the raw env's."""
    steps = max(10, env_steps // num_envs)
    actions = list(np.random.default_rng(0).integers(0, 2, size=(steps, num_envs)))

    def stack(folder: Path) -> VectorEnv[Any, Any, Any]:
        logged = SQLiteLoggerWrapper(_native(env_name, num_envs), folder / "m.db", "bench")
        return EpisodeStatsWrapper(CurveRecorderWrapper(logged, folder / "curves"))

    makers: dict[str, Callable[[Path], VectorEnv[Any, Any, Any]]] = {
        RAW: lambda _: _native(env_name, num_envs),
        GYMNASIUM: lambda _: VectorRecordEpisodeStatistics(_native(env_name, num_envs)),
        STATS: lambda _: EpisodeStatsWrapper(_native(env_name, num_envs)),
        STACK: stack,
    }
    cases = {
        name: (lambda make=make: _block(make, actions, num_envs))  # type: ignore[misc]
        for name, make in makers.items()
    }
    samples = interleave(cases, rounds, repeats=repeats)
    result = summarize(
        f"{env_name}, num_envs={num_envs}",
        samples,
        reference=RAW,
        per_unit="env-step",
        params={"rounds": rounds, "repeats": repeats, "num_envs": num_envs, "steps": steps},
    )
    ratio = result.figure(STACK).ratio_to_reference
    met = ratio is not None and ratio <= TARGET_RATIO
    shown = "n/a" if ratio is None else f"{ratio:.2f}x"
    raw_ns = result.figure(RAW).median_s * 1e9
    stack_ns = result.figure(STACK).median_s * 1e9
    note = (
        f"{result.name}: raw {raw_ns:.0f} ns/env-step, full stack {stack_ns:.0f} ns/env-step "
        f"= {shown} the raw run time (target <= {TARGET_RATIO:.2f}x: "
        f"{'met' if met else 'NOT met'})"
    )
    return dataclasses.replace(result, notes=(note,))


def run(
    *,
    num_envs: int = 64,
    rounds: int = 5,
    repeats: int = 2,
    env_steps: int = 64_000,
    envs: Sequence[str] = (NOOP, NOOP_LONG, CARTPOLE),
) -> list[Result]:
    """One result per env."""
    return [run_env(name, num_envs, env_steps, rounds, repeats) for name in envs]


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--num-envs", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--env-steps", type=int, default=64_000)
    parser.add_argument("--quick", action="store_true", help="a smoke run: numbers mean nothing")
    args = parser.parse_args(argv)
    require_positive(parser, args, "num_envs", "rounds", "repeats", "env_steps")
    if args.quick:
        args.rounds, args.repeats, args.env_steps = 1, 1, 640
    print(
        f"python {sys.version.split()[0]}, gymnasium {gym.__version__}, {args.rounds} "
        f"interleaved round(s) of best-of-{args.repeats} blocks of ~{args.env_steps} env-steps"
    )
    results = run(
        num_envs=args.num_envs, rounds=args.rounds, repeats=args.repeats, env_steps=args.env_steps
    )
    for result in results:
        print()
        print_table(result)
    print()
    print("\n".join(note for result in results for note in result.notes))


if __name__ == "__main__":
    main()

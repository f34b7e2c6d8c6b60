"""Cost per env-step added by episode statistics on vector envs, by num_envs.

Compares, in one process and at ``num_envs`` 1, 8, 64 and 512:

- gymscope's vector ``gymscope.vector.EpisodeStatsWrapper`` around the vector env,
- gymnasium's ``gymnasium.wrappers.vector.RecordEpisodeStatistics`` around
  it (the reference),
- the per-sub-env way: gymscope's single-env ``EpisodeStatsWrapper``, or
  gymnasium's ``RecordEpisodeStatistics``, inside each sub-env of a
  ``SyncVectorEnv``,

over three vector envs: a no-op native vector env (``NoOpVectorEnv``: it
returns preallocated arrays, so the wrappers' own cost dominates) whose
sub-envs end an episode every 25 steps (staggered: at 64 envs, 2.6 episodes
end per vector step), the same with 500-step episodes (CartPole-v1's time
limit: few episode ends, the per-step cost), and CartPole's native vector env
(``gym.make_vec("CartPole-v1", vectorization_mode="vector_entry_point")``,
random actions; the per-sub-env wrappers wrap ``gym.make("CartPole-v1")``
inside a ``SyncVectorEnv``).

The added cost of a vector wrapper is its time per env-step (a vector step
of ``num_envs`` sub-envs is ``num_envs`` env-steps) minus the bare vector
env's in the same round; that of the per-sub-env wrappers is the wrapped
``SyncVectorEnv``'s minus the bare ``SyncVectorEnv``'s in the same round.
Every round runs every case a few times, round-robin in a rotated order,
keeping each case's fastest block (``benchmarks/_harness.py``); figures are
medians over rounds, ratios are of added costs, against gymnasium's vector
wrapper. Target: at 64 envs, gymscope's vector wrapper adds at most half
what gymnasium's does per env-step; each env's 64-env line says whether it
is met. Where it goes: gymnasium's wrapper does the same dozen NumPy
operations at every step; gymscope's does four, plus, at a step where
episodes end, a few more and a short Python loop per ended episode (its
record, its sub-env's moving statistics, which a vectorised update could not
reproduce bit for bit). So gymscope's lead is largest when few episodes end
per step, and shrinks, then turns, as ends per step grow (many sub-envs,
short episodes).

Run with ``uv run python benchmarks/vector_overhead.py`` (``--help`` for
knobs; ``--quick`` is a smoke run whose numbers mean nothing).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from _envs import NoOpEnv
from _harness import Result, Sample, interleave, print_table, require_positive, summarize
from gymnasium.vector import AutoresetMode, SyncVectorEnv, VectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics as VectorRecordEpisodeStatistics

import gymscope
from gymscope.vector import EpisodeStatsWrapper as VectorEpisodeStatsWrapper

__all__ = ["NoOpVectorEnv", "main", "run", "run_size"]

RAW = "raw vector env"
GYMNASIUM = "gymnasium vector RecordEpisodeStatistics"
OURS = "gymscope vector EpisodeStatsWrapper"
SYNC_RAW = "raw SyncVectorEnv"
SYNC_GYMNASIUM = "per-sub-env RecordEpisodeStatistics"
SYNC_OURS = "per-sub-env EpisodeStatsWrapper"
VECTOR_CASES = (RAW, GYMNASIUM, OURS)
SYNC_CASES = (SYNC_RAW, SYNC_GYMNASIUM, SYNC_OURS)

NOOP = "no-op, 25-step episodes"
NOOP_LONG = "no-op, 500-step episodes"
CARTPOLE = "CartPole-v1 vector env"
EPISODE_LENGTH = 25
#: Episode length of each no-op case.
NOOP_LENGTHS = {NOOP: EPISODE_LENGTH, NOOP_LONG: 500}
SIZES = (1, 8, 64, 512)
TARGET_SIZE = 64
TARGET_RATIO = 0.5


class NoOpVectorEnv(VectorEnv[Any, Any, Any]):
    """The cheapest native vector env: preallocated observations, rewards of 1,
    and episodes of ``episode_length`` steps, sub-env ``i`` ending at the steps
    where ``(t + i) % episode_length == 0`` (so ends are spread over the steps).

    In ``NEXT_STEP`` mode (its metadata), as gymnasium's vector envs do. A
    fresh ``info`` dict per step, because the wrappers write into it.
    """

    metadata: dict[str, Any] = {"autoreset_mode": AutoresetMode.NEXT_STEP}  # noqa: RUF012

    def __init__(self, num_envs: int, episode_length: int = EPISODE_LENGTH) -> None:
        self.num_envs = num_envs
        self.single_observation_space = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self.single_action_space = gym.spaces.Discrete(2)
        self.observation_space = gym.vector.utils.batch_space(
            self.single_observation_space, num_envs
        )
        self.action_space = gym.vector.utils.batch_space(self.single_action_space, num_envs)
        self._obs = np.zeros((num_envs, 4), dtype=np.float32)
        self._rewards = np.ones(num_envs, dtype=np.float64)
        self._no = np.zeros(num_envs, dtype=np.bool_)
        offsets = np.arange(num_envs)
        self._ends = [(t + offsets) % episode_length == 0 for t in range(episode_length)]
        self._length = episode_length
        self._t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        self._t = 0
        return self._obs, {}

    def step(self, actions: Any) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
        self._t = t = self._t + 1
        return self._obs, self._rewards, self._ends[t % self._length], self._no, {}


def make_cases(env_name: str, num_envs: int) -> dict[str, VectorEnv[Any, Any, Any]]:
    """One independently built vector env per case, in the order reported."""

    length = NOOP_LENGTHS.get(env_name)

    def native() -> VectorEnv[Any, Any, Any]:
        if length is not None:
            return NoOpVectorEnv(num_envs, length)
        return gym.make_vec(
            "CartPole-v1", num_envs=num_envs, vectorization_mode="vector_entry_point"
        )

    def single() -> gym.Env[Any, Any]:
        return NoOpEnv(length) if length is not None else gym.make("CartPole-v1")

    def sync(wrap: Callable[[gym.Env[Any, Any]], gym.Env[Any, Any]]) -> VectorEnv[Any, Any, Any]:
        return SyncVectorEnv([lambda: wrap(single()) for _ in range(num_envs)], copy=False)

    return {
        RAW: native(),
        GYMNASIUM: VectorRecordEpisodeStatistics(native()),
        OURS: VectorEpisodeStatsWrapper(native()),
        SYNC_RAW: sync(lambda env: env),
        SYNC_GYMNASIUM: sync(gym.wrappers.RecordEpisodeStatistics),
        SYNC_OURS: sync(gymscope.EpisodeStatsWrapper),
    }


def time_loop(env: VectorEnv[Any, Any, Any], actions: Sequence[Any], num_envs: int) -> Sample:
    """One block: ``len(actions)`` vector steps (autoreset: no reset calls)."""
    step = env.step
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for action in actions:
            step(action)
        return Sample((time.perf_counter_ns() - start) / 1e9, units=len(actions) * num_envs)
    finally:
        if gc_was_enabled:
            gc.enable()


def run_size(
    env_name: str, num_envs: int, env_steps: int, rounds: int, repeats: int
) -> tuple[Result, Result]:
    """(vector wrappers, per-sub-env wrappers) at one size: s per env-step, added
    cost over the bare vector env / bare SyncVectorEnv of the same round."""
    steps = max(10, env_steps // num_envs)
    envs = make_cases(env_name, num_envs)
    rng = np.random.default_rng(0)
    actions = list(rng.integers(0, 2, size=(steps, num_envs)))
    try:
        for env in envs.values():
            env.reset(seed=0)
            time_loop(env, actions[: steps // 5 or 1], num_envs)
        cases = {
            name: (lambda env=env: time_loop(env, actions, num_envs))  # type: ignore[misc]
            for name, env in envs.items()
        }
        samples = interleave(cases, rounds, repeats=repeats)
    finally:
        for env in envs.values():
            env.close()
    params = {"rounds": rounds, "repeats": repeats, "num_envs": num_envs, "steps": steps}
    title = f"{env_name}, num_envs={num_envs}"
    vector = summarize(
        f"{title}: vector wrappers",
        {name: samples[name] for name in VECTOR_CASES},
        reference=GYMNASIUM,
        baseline=RAW,
        per_unit="env-step",
        params=params,
    )
    per_sub_env = summarize(
        f"{title}: per-sub-env wrappers inside a SyncVectorEnv",
        {name: samples[name] for name in SYNC_CASES},
        reference=SYNC_GYMNASIUM,
        baseline=SYNC_RAW,
        per_unit="env-step",
        params=params,
    )
    theirs = vector.figure(GYMNASIUM).added_s
    lines = []
    for result, name in ((vector, OURS), (per_sub_env, SYNC_OURS), (per_sub_env, SYNC_GYMNASIUM)):
        added = result.figure(name).added_s
        ratio = "n/a" if added is None or not theirs or theirs <= 0 else f"{added / theirs:.2f}x"
        lines.append(f"{name} {_ns(added)} ({ratio})")
    note = f"{title}: added ns/env-step vs {GYMNASIUM} {_ns(theirs)}: " + ", ".join(lines)
    if num_envs == TARGET_SIZE:
        ratio_ = vector.figure(OURS).ratio_to_reference
        met = ratio_ is not None and ratio_ <= TARGET_RATIO
        note += f" (target at {TARGET_SIZE} envs <= {TARGET_RATIO}x: {'met' if met else 'NOT met'})"
    return dataclasses.replace(vector, notes=(note,)), per_sub_env


def _ns(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1e9:.0f}"


def scaling(results: Sequence[Result], env_name: str) -> Result:
    """How the added cost per env-step changes with num_envs, one line per case."""
    rows = [r for r in results if r.name.startswith(f"{env_name}, ")]
    notes = []
    for name in (*VECTOR_CASES[1:], *SYNC_CASES[1:]):
        parts = [
            f"{r.params['num_envs']}: {_ns(r.figure(name).added_s)}" for r in rows if name in r
        ]
        notes.append(f"  {name}: " + ", ".join(parts))
    ratios = [
        f"{r.params['num_envs']}: {r.figure(OURS).ratio_to_reference:.2f}x"
        for r in rows
        if OURS in r and r.figure(OURS).ratio_to_reference is not None
    ]
    notes.append(f"  gymscope vector / gymnasium vector, added cost: {', '.join(ratios)}")
    values = {
        f"{name} @ {r.params['num_envs']}": r.figure(name).added_s or 0.0
        for r in rows
        for name in (GYMNASIUM, OURS)
        if name in r
    }
    return Result(
        name=f"{env_name}: added ns per env-step by num_envs",
        per_unit="env-step",
        reference=GYMNASIUM,
        baseline=RAW,
        figures=(),
        values=values,
        notes=tuple(notes),
    )


def run(
    *,
    sizes: Sequence[int] = SIZES,
    rounds: int = 7,
    repeats: int = 3,
    env_steps: int = 20_000,
    envs: Sequence[str] = (NOOP, NOOP_LONG, CARTPOLE),
) -> list[Result]:
    """Per env and size, the vector and the per-sub-env results; then per env the scaling."""
    results: list[Result] = []
    for env_name in envs:
        for num_envs in sizes:
            results.extend(run_size(env_name, num_envs, env_steps, rounds, repeats))
    for env_name in envs:
        results.append(scaling(results, env_name))
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="interleaved rounds")
    parser.add_argument(
        "--repeats", type=int, default=3, help="blocks per case per round (fastest kept)"
    )
    parser.add_argument(
        "--env-steps", type=int, default=20_000, help="env-steps per block (steps x num_envs)"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES), help="num_envs values")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: few steps, 1 round (numbers meaningless)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.repeats, args.env_steps = 1, 1, 200
    require_positive(parser, args, "rounds", "repeats", "env_steps")
    if min(args.sizes) < 1:
        parser.error("--sizes must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    print(
        f"python {sys.version.split()[0]}, gymnasium {gym.__version__}, numpy {np.__version__}, "
        f"{args.rounds} interleaved round(s) of best-of-{args.repeats} blocks of "
        f"~{args.env_steps} env-steps"
    )
    results = run(
        sizes=args.sizes, rounds=args.rounds, repeats=args.repeats, env_steps=args.env_steps
    )
    for result in results:
        print()
        print_table(result)
    target = [note for result in results for note in result.notes if "target at" in note]
    if target:
        print()
        print("\n".join(target))


if __name__ == "__main__":
    main()

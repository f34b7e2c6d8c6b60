"""Per-step cost added by episode-statistics wrappers, and import time.

Measures, in one process, how many nanoseconds per ``step()`` each wrapper adds
on top of the bare env:

- gymscope's ``EpisodeStatsWrapper``,
- ``gymnasium.wrappers.RecordEpisodeStatistics`` (the reference),
- SB3's ``Monitor`` when stable-baselines3 is importable,
- two stacked ``EpisodeStatsWrapper`` (they share one tracker) and, for
  comparison, two stacked ``RecordEpisodeStatistics``,

over ``CartPole-v1`` (``gym.make`` with its default wrappers) and over a no-op
env whose 25-step episodes make the wrappers' own cost dominate. The loop is a
real one: when an episode ends it calls ``reset()`` and goes on, so the cost of
``reset()`` and of the end-of-episode bookkeeping is spread over the steps. The
same no-op env with episodes that never end gives the per-step part alone,
which splits the no-op figure into a per-step and a per-episode cost.

Every round runs every variant a few times, round-robin in a rotated order (so
no variant always runs first or last), and keeps each variant's fastest block
(``benchmarks/_harness.py``); the added cost of a variant is its ns/step minus
the bare env's ns/step in the same round, and the table shows medians over
rounds with the inter-quartile range of the added cost as a noise indicator.

Then it times ``import gymscope`` (lazy: it imports almost nothing), ``import
gymscope; gymscope.EpisodeStatsWrapper`` (what a user pays: it imports
gymnasium) and ``import gymnasium``, each in fresh interpreters, interleaved,
and checks that loading the wrapper does not drag in sqlmodel, sqlalchemy or
moviepy.

Run with ``uv run python benchmarks/step_overhead.py`` (``--help`` for knobs;
``--quick`` is a smoke run whose numbers mean nothing).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
from _envs import NoOpEnv, sb3_monitor
from _harness import Case, Result, Sample, measure, print_table, require_positive

from gymscope import EpisodeStatsWrapper

__all__ = ["NoOpEnv", "main", "run", "run_env", "run_imports"]

RAW = "raw env"
OURS = "EpisodeStatsWrapper"
GYMNASIUM = "RecordEpisodeStatistics"
SB3 = "SB3 Monitor"
OURS_X2 = "EpisodeStatsWrapper x2"
GYMNASIUM_X2 = "RecordEpisodeStatistics x2"

NOOP_ENV = "no-op env"
NOOP_NO_END = "no-op no-end"
CARTPOLE = "CartPole-v1"
NOOP_EPISODE_LENGTH = 25
ENDLESS = 10**15  # an episode length never reached: isolates the per-step cost

HEAVY_MODULES = ("sqlmodel", "sqlalchemy", "moviepy")
IMPORT_TARGET_MS = 50.0


def make_variants(
    make_env: Callable[[], gym.Env[Any, Any]],
) -> dict[str, gym.Env[Any, Any]]:
    """One independently built env per variant, all reset with the same seed."""
    rs = gym.wrappers.RecordEpisodeStatistics
    variants: dict[str, gym.Env[Any, Any]] = {
        RAW: make_env(),
        OURS: EpisodeStatsWrapper(make_env()),
        GYMNASIUM: rs(make_env()),
    }
    monitor = sb3_monitor()
    if monitor is not None:
        variants[SB3] = monitor(make_env())
    variants[OURS_X2] = EpisodeStatsWrapper(
        EpisodeStatsWrapper(make_env(), stats_key="a"), stats_key="b"
    )
    variants[GYMNASIUM_X2] = rs(rs(make_env(), stats_key="a"), stats_key="b")
    for env in variants.values():
        env.reset(seed=0)
    return variants


def time_loop(env: gym.Env[Any, Any], actions: Sequence[int]) -> Sample:
    """One block: ``len(actions)`` steps, resetting at each episode end."""
    step, reset = env.step, env.reset
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for action in actions:
            _, _, terminated, truncated, _ = step(action)
            if terminated or truncated:
                reset()
        return Sample((time.perf_counter_ns() - start) / 1e9, units=len(actions))
    finally:
        if gc_was_enabled:
            gc.enable()


def run_env(
    env_name: str,
    make_env: Callable[[], gym.Env[Any, Any]],
    n_steps: int,
    rounds: int,
    repeats: int,
) -> Result:
    """s/step of every variant; added = minus the raw env, ratio vs RecordEpisodeStatistics."""
    variants = make_variants(make_env)
    rng = random.Random(0)
    actions = [rng.randrange(2) for _ in range(n_steps)]
    for env in variants.values():
        time_loop(env, actions[: n_steps // 5 or 1])
    cases: dict[str, Case] = {
        name: lambda env=env: time_loop(env, actions)  # type: ignore[misc]
        for name, env in variants.items()
    }
    try:
        result = measure(
            env_name,
            cases,
            rounds=rounds,
            repeats=repeats,
            reference=GYMNASIUM,
            baseline=RAW,
            per_unit="step",
            params={"steps": n_steps},
        )
    finally:
        for env in variants.values():
            env.close()
    raw = result.figure(RAW)
    spread = (raw.max_s - raw.min_s) / raw.median_s
    notes = []
    if env_name != NOOP_NO_END:
        notes.append(summary_line(result, with_target=env_name == NOOP_ENV))
    notes.append(
        f"noise: raw env {raw.min_s * 1e9:.0f}..{raw.max_s * 1e9:.0f} ns/step over "
        f"{raw.rounds} round(s) (spread {spread:.0%} of the median)"
    )
    return dataclasses.replace(result, notes=tuple(notes))


def summary_line(result: Result, with_target: bool) -> str:
    ours, theirs = result.figure(OURS), result.figure(GYMNASIUM)
    ratio = "n/a" if ours.ratio_to_reference is None else f"{ours.ratio_to_reference:.2f}"
    line = (
        f"{result.name}: {OURS} adds {(ours.added_s or 0.0) * 1e9:.0f} ns/step, "
        f"{GYMNASIUM} adds {(theirs.added_s or 0.0) * 1e9:.0f} ns/step, ratio {ratio}"
    )
    if with_target:
        met = ours.ratio_to_reference is not None and ours.ratio_to_reference <= 1.0
        line += f" (target <= 1.0: {'met' if met else 'NOT met'})"
    else:
        line += " (for reference; the target applies to the no-op env)"
    return line


def split_line(ending: Result, endless: Result) -> str:
    """Where the no-op overhead goes: every step, or reset() plus the episode end."""
    parts = []
    for name in (OURS, GYMNASIUM):
        per_step = (endless.figure(name).added_s or 0.0) * 1e9
        at_25 = (ending.figure(name).added_s or 0.0) * 1e9
        per_episode = (at_25 - per_step) * NOOP_EPISODE_LENGTH
        parts.append(f"{name} {per_step:.0f} ns/step + {per_episode:.0f} ns/episode")
    return (
        f"split ({NOOP_NO_END} gives the per-step part, the rest of the {NOOP_ENV} "
        f"cost is per reset + episode end): {'; '.join(parts)}"
    )


# -- import time ------------------------------------------------------------------

# CPU time of the import decides the comparison: on a shared machine the wall
# time of the same import varies 3-4x with other processes' load.
_IMPORT_PROBE = """
import json, sys, time
c0, t0 = time.process_time(), time.perf_counter()
{statement}
t1, c1 = time.perf_counter(), time.process_time()
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"cpu": c1 - c0, "wall": t1 - t0, "heavy": heavy}}))
"""

IMPORT_GYMNASIUM = "import gymnasium"
IMPORT_LAZY = "import gymscope"
IMPORT_WRAPPER = "import gymscope; gymscope.EpisodeStatsWrapper"
IMPORT_CASES = (IMPORT_LAZY, IMPORT_WRAPPER, IMPORT_GYMNASIUM)


def probe_import(statement: str) -> dict[str, Any]:
    """Time ``statement`` inside a fresh interpreter (startup excluded)."""
    code = _IMPORT_PROBE.format(statement=statement, heavy=HEAVY_MODULES)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def run_imports(runs: int) -> Result:
    """CPU s per import, fresh interpreters, interleaved; added = minus import gymnasium.

    ``values["heavy modules"]`` counts the modules of ``HEAVY_MODULES`` that
    loading the wrapper imported (expected: 0).
    """
    heavy: dict[str, set[str]] = {statement: set() for statement in IMPORT_CASES}

    def probe(statement: str) -> Sample:
        out = probe_import(statement)
        heavy[statement].update(out["heavy"])
        return Sample(out["cpu"], extra={"wall ms": out["wall"] * 1000.0})

    cases: dict[str, Case] = {
        statement: lambda statement=statement: probe(statement)  # type: ignore[misc]
        for statement in IMPORT_CASES
    }
    result = measure(
        "import time, CPU time inside a fresh interpreter (wall time for reference)",
        cases,
        rounds=runs,
        # compile .pyc files and warm the disk cache first
        warmup_rounds=1 if runs > 1 else 0,
        reference=IMPORT_GYMNASIUM,
        baseline=IMPORT_GYMNASIUM,
        per_unit="import",
    )
    gymnasium_ms = result.figure(IMPORT_GYMNASIUM).median_s * 1000
    notes = []
    for case, label in (
        (IMPORT_LAZY, "import gymscope (lazy)"),
        (IMPORT_WRAPPER, "import gymscope + wrapper"),
    ):
        figure = result.figure(case)
        # paired per round: the runs of one round are close together in time
        diff = (figure.added_s or 0.0) * 1000
        met = diff <= IMPORT_TARGET_MS
        notes.append(
            f"{label}: {figure.median_s * 1000:.1f} ms, import gymnasium: {gymnasium_ms:.1f} ms, "
            f"difference: {diff:+.1f} ms (target: gymscope <= gymnasium + "
            f"{IMPORT_TARGET_MS:.0f} ms: {'met' if met else 'NOT met'})"
        )
    loaded = sorted(heavy[IMPORT_WRAPPER])
    if loaded:
        notes.append(
            "heavy modules: import gymscope + EpisodeStatsWrapper imported "
            f"{', '.join(loaded)} (expected none of {', '.join(HEAVY_MODULES)})"
        )
    else:
        notes.append(
            "heavy modules: import gymscope + EpisodeStatsWrapper imports none of "
            f"{', '.join(HEAVY_MODULES)} (ok)"
        )
    return dataclasses.replace(result, values={"heavy modules": len(loaded)}, notes=tuple(notes))


# -- command line -----------------------------------------------------------------


def run(
    *,
    rounds: int = 15,
    repeats: int = 7,
    noop_steps: int = 5_000,
    cartpole_steps: int = 1_000,
    import_runs: int = 9,
) -> list[Result]:
    """Every env's step overhead (no-op, no-op without episode ends, CartPole), then imports."""
    envs: dict[str, tuple[Callable[[], gym.Env[Any, Any]], int]] = {
        NOOP_ENV: (lambda: NoOpEnv(NOOP_EPISODE_LENGTH), noop_steps),
        NOOP_NO_END: (lambda: NoOpEnv(ENDLESS), noop_steps),
        CARTPOLE: (lambda: gym.make(CARTPOLE), cartpole_steps),
    }
    results = [
        run_env(env_name, make_env, n_steps, rounds, repeats)
        for env_name, (make_env, n_steps) in envs.items()
    ]
    ending, endless = results[0], results[1]
    results[1] = dataclasses.replace(endless, notes=(*endless.notes, split_line(ending, endless)))
    results.append(run_imports(import_runs))
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15, help="interleaved rounds")
    parser.add_argument(
        "--repeats", type=int, default=7, help="blocks per variant per round (fastest kept)"
    )
    parser.add_argument("--noop-steps", type=int, default=5_000, help="steps per block")
    parser.add_argument("--cartpole-steps", type=int, default=1_000, help="steps per block")
    parser.add_argument("--import-runs", type=int, default=9, help="fresh interpreters per case")
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: few steps, 1 round (numbers meaningless)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.repeats, args.import_runs = 1, 1, 1
        args.noop_steps, args.cartpole_steps = 500, 200
    require_positive(
        parser, args, "rounds", "repeats", "noop_steps", "cartpole_steps", "import_runs"
    )
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    print(
        f"python {sys.version.split()[0]}, gymnasium {gym.__version__}, "
        f"{args.rounds} interleaved round(s) of best-of-{args.repeats} blocks "
        f"({args.noop_steps} no-op / {args.cartpole_steps} CartPole steps each)"
    )
    if sb3_monitor() is None:
        print("note: stable_baselines3 is not importable: SB3 Monitor skipped")
    results = run(
        rounds=args.rounds,
        repeats=args.repeats,
        noop_steps=args.noop_steps,
        cartpole_steps=args.cartpole_steps,
        import_runs=args.import_runs,
    )
    for result in results:
        print()
        print_table(result)


if __name__ == "__main__":
    main()

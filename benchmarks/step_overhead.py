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
no variant always runs first or last), and keeps each variant's fastest block;
the added cost of a variant is its ns/step minus the bare env's ns/step in the
same round, and the table shows medians over rounds with the inter-quartile
range of the added cost as a noise indicator.

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
import gc
import importlib
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np

from gymscope import EpisodeStatsWrapper

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


class NoOpEnv(gym.Env[np.ndarray, Any]):
    """The cheapest env that still behaves like one: fixed obs, 25-step episodes.

    A fresh ``info`` dict per step, as real envs return, because the wrappers
    write their statistics into it.
    """

    def __init__(self, episode_length: int = NOOP_EPISODE_LENGTH) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._obs = np.zeros(4, dtype=np.float32)
        self._episode_length = episode_length
        self._t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        return self._obs, {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._t += 1
        return self._obs, 1.0, self._t >= self._episode_length, False, {}


def _sb3_monitor() -> type[gym.Wrapper[Any, Any, Any, Any]] | None:
    try:
        module = importlib.import_module("stable_baselines3.common.monitor")
    except ImportError:
        return None
    monitor: type[gym.Wrapper[Any, Any, Any, Any]] = module.Monitor
    return monitor


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
    monitor = _sb3_monitor()
    if monitor is not None:
        variants[SB3] = monitor(make_env())
    variants[OURS_X2] = EpisodeStatsWrapper(
        EpisodeStatsWrapper(make_env(), stats_key="a"), stats_key="b"
    )
    variants[GYMNASIUM_X2] = rs(rs(make_env(), stats_key="a"), stats_key="b")
    for env in variants.values():
        env.reset(seed=0)
    return variants


def time_loop(env: gym.Env[Any, Any], actions: Sequence[int]) -> int:
    """Nanoseconds to take ``len(actions)`` steps, resetting at each episode end."""
    step, reset = env.step, env.reset
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.perf_counter_ns()
        for action in actions:
            _, _, terminated, truncated, _ = step(action)
            if terminated or truncated:
                reset()
        return time.perf_counter_ns() - start
    finally:
        if gc_was_enabled:
            gc.enable()


def measure_env(
    make_env: Callable[[], gym.Env[Any, Any]],
    n_steps: int,
    rounds: int,
    repeats: int,
    warmup_steps: int,
) -> dict[str, list[float]]:
    """ns/step of every variant in every round.

    A round runs every variant ``repeats`` times, round-robin in a rotated
    order, and keeps each variant's fastest block: on a shared machine a
    block is only ever slowed down by other processes, never sped up.
    """
    variants = make_variants(make_env)
    rng = random.Random(0)
    actions = [rng.randrange(2) for _ in range(n_steps)]
    names = list(variants)
    for name in names:
        time_loop(variants[name], actions[:warmup_steps])
    per_step: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        gc.collect()
        best = dict.fromkeys(names, float("inf"))
        for rep in range(repeats):
            shift = (r * repeats + rep) % len(names)
            for name in names[shift:] + names[:shift]:
                best[name] = min(best[name], time_loop(variants[name], actions) / n_steps)
        for name in names:
            per_step[name].append(best[name])
    for env in variants.values():
        env.close()
    return per_step


def quartiles(values: Sequence[float]) -> tuple[float, float]:
    """25th and 75th percentiles (both equal to the value for a single round)."""
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def summarize(per_step: dict[str, list[float]]) -> list[dict[str, Any]]:
    """Median total and added ns/step per variant; added is paired per round."""
    raw = per_step[RAW]
    rows: list[dict[str, Any]] = []
    for name, values in per_step.items():
        added = [v - b for v, b in zip(values, raw, strict=True)]
        q1, q3 = quartiles(added)
        rows.append(
            {
                "variant": name,
                "total": statistics.median(values),
                "added": statistics.median(added) if name != RAW else None,
                "q1": q1,
                "q3": q3,
            }
        )
    reference = next(row["added"] for row in rows if row["variant"] == GYMNASIUM)
    for row in rows:
        added = row["added"]
        row["ratio"] = added / reference if added is not None and reference > 0 else None
    return rows


def format_table(results: dict[str, list[dict[str, Any]]]) -> list[str]:
    header = (
        f"{'env':<13} {'variant':<27} {'ns/step total':>13} {'ns/step added':>13} "
        f"{'added IQR':>15} {'added/gymnasium':>15}"
    )
    lines = [header, "-" * len(header)]
    for env_name, rows in results.items():
        for row in rows:
            added = "-" if row["added"] is None else f"{row['added']:.0f}"
            iqr = "-" if row["added"] is None else f"{row['q1']:.0f}..{row['q3']:.0f}"
            ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
            lines.append(
                f"{env_name:<13} {row['variant']:<27} {row['total']:>13.0f} "
                f"{added:>13} {iqr:>15} {ratio:>15}"
            )
    return lines


def summary_line(env_name: str, rows: list[dict[str, Any]], with_target: bool) -> str:
    by_name = {row["variant"]: row for row in rows}
    ours, theirs = by_name[OURS], by_name[GYMNASIUM]
    ratio = "n/a" if ours["ratio"] is None else f"{ours['ratio']:.2f}"
    line = (
        f"{env_name}: {OURS} adds {ours['added']:.0f} ns/step, "
        f"{GYMNASIUM} adds {theirs['added']:.0f} ns/step, ratio {ratio}"
    )
    if with_target:
        met = ours["ratio"] is not None and ours["ratio"] <= 1.0
        line += f" (target <= 1.0: {'met' if met else 'NOT met'})"
    else:
        line += " (for reference; the target applies to the no-op env)"
    return line


def split_line(ending: list[dict[str, Any]], endless: list[dict[str, Any]]) -> str:
    """Where the no-op overhead goes: every step, or reset() plus the episode end."""
    parts = []
    for name in (OURS, GYMNASIUM):
        per_step = next(row["added"] for row in endless if row["variant"] == name)
        at_25 = next(row["added"] for row in ending if row["variant"] == name)
        per_episode = (at_25 - per_step) * NOOP_EPISODE_LENGTH
        parts.append(f"{name} {per_step:.0f} ns/step + {per_episode:.0f} ns/episode")
    return (
        f"split ({NOOP_NO_END} gives the per-step part, the rest of the {NOOP_ENV} "
        f"cost is per reset + episode end): {'; '.join(parts)}"
    )


def noise_line(env_name: str, per_step: dict[str, list[float]]) -> str:
    raw = per_step[RAW]
    spread = (max(raw) - min(raw)) / statistics.median(raw)
    return (
        f"{env_name}: raw env {min(raw):.0f}..{max(raw):.0f} ns/step over {len(raw)} "
        f"round(s) (spread {spread:.0%} of the median)"
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

IMPORT_CASES = {
    "import gymscope": "import gymscope",
    "import gymscope; gymscope.EpisodeStatsWrapper": (
        "import gymscope; gymscope.EpisodeStatsWrapper"
    ),
    "import gymnasium": "import gymnasium",
}


def probe_import(statement: str) -> dict[str, Any]:
    """Time ``statement`` inside a fresh interpreter (startup excluded)."""
    code = _IMPORT_PROBE.format(statement=statement, heavy=HEAVY_MODULES)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def measure_imports(runs: int) -> dict[str, dict[str, Any]]:
    """Import CPU and wall time per case over ``runs`` interleaved fresh interpreters."""
    if runs > 1:  # compile .pyc files and warm the disk cache first
        for statement in IMPORT_CASES.values():
            probe_import(statement)
    cpu: dict[str, list[float]] = {case: [] for case in IMPORT_CASES}
    wall: dict[str, list[float]] = {case: [] for case in IMPORT_CASES}
    heavy: dict[str, set[str]] = {case: set() for case in IMPORT_CASES}
    cases = list(IMPORT_CASES)
    for r in range(runs):
        shift = r % len(cases)
        for case in cases[shift:] + cases[:shift]:
            result = probe_import(IMPORT_CASES[case])
            cpu[case].append(result["cpu"] * 1000.0)
            wall[case].append(result["wall"] * 1000.0)
            heavy[case].update(result["heavy"])
    return {
        case: {
            "cpu_ms": cpu[case],
            "median_ms": statistics.median(cpu[case]),
            "wall_median_ms": statistics.median(wall[case]),
            "wall_min_ms": min(wall[case]),
            "wall_max_ms": max(wall[case]),
            "heavy": sorted(heavy[case]),
        }
        for case in cases
    }


def import_lines(imports: dict[str, dict[str, Any]]) -> list[str]:
    lines = [f"{'import':<47} {'CPU ms':>7} {'wall ms':>8} {'wall min..max':>15}"]
    for case, r in imports.items():
        span = f"{r['wall_min_ms']:.0f}..{r['wall_max_ms']:.0f}"
        lines.append(f"{case:<47} {r['median_ms']:>7.1f} {r['wall_median_ms']:>8.1f} {span:>15}")
    gymnasium = imports["import gymnasium"]
    gymnasium_ms = gymnasium["median_ms"]
    for case, label in (
        ("import gymscope", "import gymscope (lazy)"),
        ("import gymscope; gymscope.EpisodeStatsWrapper", "import gymscope + wrapper"),
    ):
        ours_ms = imports[case]["median_ms"]
        # paired per round: the runs of one round are close together in time
        diff = statistics.median(
            a - b for a, b in zip(imports[case]["cpu_ms"], gymnasium["cpu_ms"], strict=True)
        )
        met = diff <= IMPORT_TARGET_MS
        lines.append(
            f"{label}: {ours_ms:.1f} ms, import gymnasium: {gymnasium_ms:.1f} ms, "
            f"difference: {diff:+.1f} ms (target: gymscope <= gymnasium + "
            f"{IMPORT_TARGET_MS:.0f} ms: {'met' if met else 'NOT met'})"
        )
    heavy = imports["import gymscope; gymscope.EpisodeStatsWrapper"]["heavy"]
    if heavy:
        lines.append(
            "heavy modules: import gymscope + EpisodeStatsWrapper imported "
            f"{', '.join(heavy)} (expected none of {', '.join(HEAVY_MODULES)})"
        )
    else:
        lines.append(
            "heavy modules: import gymscope + EpisodeStatsWrapper imports none of "
            f"{', '.join(HEAVY_MODULES)} (ok)"
        )
    return lines


# -- command line -----------------------------------------------------------------


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
    for name in ("rounds", "repeats", "noop_steps", "cartpole_steps", "import_runs"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    print(
        f"python {sys.version.split()[0]}, gymnasium {gym.__version__}, "
        f"{args.rounds} interleaved round(s) of best-of-{args.repeats} blocks "
        f"({args.noop_steps} no-op / {args.cartpole_steps} CartPole steps each), "
        "medians over rounds; added = variant - raw env in the same round"
    )
    if _sb3_monitor() is None:
        print("note: stable_baselines3 is not importable: SB3 Monitor skipped")

    envs: dict[str, tuple[Callable[[], gym.Env[Any, Any]], int]] = {
        NOOP_ENV: (NoOpEnv, args.noop_steps),
        NOOP_NO_END: (lambda: NoOpEnv(ENDLESS), args.noop_steps),
        CARTPOLE: (lambda: gym.make(CARTPOLE), args.cartpole_steps),
    }
    results: dict[str, list[dict[str, Any]]] = {}
    raw_times: dict[str, dict[str, list[float]]] = {}
    for env_name, (make_env, n_steps) in envs.items():
        per_step = measure_env(
            make_env, n_steps, args.rounds, args.repeats, warmup_steps=n_steps // 5 or 1
        )
        raw_times[env_name] = per_step
        results[env_name] = summarize(per_step)

    print()
    for line in format_table(results):
        print(line)
    print()
    for env_name, rows in results.items():
        if env_name != NOOP_NO_END:
            print(summary_line(env_name, rows, with_target=env_name == NOOP_ENV))
    print(split_line(results[NOOP_ENV], results[NOOP_NO_END]))
    print()
    print("noise:")
    for env_name, per_step in raw_times.items():
        print(noise_line(env_name, per_step))

    print()
    print(
        f"import time: measured inside a fresh interpreter each, median of "
        f"{args.import_runs}; CPU time decides (wall time shown for reference); "
        "difference = median of the per-round CPU differences"
    )
    for line in import_lines(measure_imports(args.import_runs)):
        print(line)


if __name__ == "__main__":
    main()

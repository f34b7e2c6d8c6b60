"""CurveRecorderWrapper: per-episode cost, save() time and output sizes, checkpoint I/O.

Three measurements, each beside a naive reference measured in the same run:

1. **Per-episode cost.** One-step episodes of a no-op env, so the work done at
   each episode end dominates: the bare env, ``EpisodeStatsWrapper`` (the
   shared tracker alone), ``CurveRecorderWrapper`` with and without
   checkpoints, and the naive recorder (Python lists, an O(window) moving
   average per episode, the whole history rewritten at every checkpoint, so
   its cost per episode grows with the run: shown for 20,000 episodes).
   Recorders checkpoint every 100 episodes. Rounds interleave the variants
   (``benchmarks/_harness.py``); medians are shown. The episode tracker every
   gymscope wrapper shares (what ``EpisodeStatsWrapper`` alone costs) is part
   of the added cost.
2. **save() at 1,000 / 100,000 / 1,000,000 episodes**: time and sizes of the
   reward chart (SVG, PNG) and of the history JSON. The recorder is filled
   directly through its episode hook (running a million real episodes would
   only measure the env). Returns are random floats, the worst case for the
   JSON text. The naive reference recomputes the moving average in
   O(n * window), draws every point into the SVG and the PNG and dumps the
   lists as JSON; it runs a size only if its projected time (from the
   previous size) fits in the time budget (60 s). One untimed save of each
   kind comes first (loading fonts and modules is not part of a save).
3. **Checkpoint I/O** over a run of 100,000 episodes with a checkpoint every
   10 episodes: bytes gymscope appends (really written) against the final
   history file, and what rewriting the full history at every checkpoint
   would write (computed exactly from the serialised lengths, not written:
   it would be tens of gigabytes).

Run with ``uv run python benchmarks/curves.py`` (``--quick``: a smoke run on
small sizes whose numbers mean nothing).
"""

from __future__ import annotations

import argparse
import dataclasses
import gc
import io
import json
import math
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import gymnasium as gym
import numpy as np
from _harness import Case, Result, Sample, Samples, measure, print_table, summarize
from PIL import Image, ImageDraw

from gymscope.wrappers.curves import CurveRecorderWrapper
from gymscope.wrappers.stats import EpisodeStatsWrapper

WINDOW = 100
SAVE_TARGET_S = 2.0
SVG_TARGET_KB = 300.0
PNG_TARGET_KB = 200.0
CHECKPOINT_TARGET_RATIO = 10.0

RAW = "raw env"
TRACKER = "EpisodeStatsWrapper"
OURS = "CurveRecorderWrapper"
OURS_PLAIN = "CurveRecorderWrapper, no checkpoints"
NAIVE = "naive reference"
NAIVE_PLAIN = "naive reference, no checkpoints"
OURS_SAVE = "gymscope"


class OneStepEnv(gym.Env[np.ndarray, Any]):
    """Every step ends an episode: the cheapest way to produce many episodes."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._obs = np.zeros(1, dtype=np.float32)
        self._reward = 0.0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        return self._obs, {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._reward += 0.37
        return self._obs, self._reward % 7.0, True, False, {}


# -- the naive reference -----------------------------------------------------------------
class NaiveCurveRecorder(gym.Wrapper[Any, Any, Any, Any]):
    """The reference design as described: lists of floats, an O(window) moving
    average per episode, the full history rewritten every ``checkpoint_every``
    episodes (in place, not atomically), every point drawn at save()."""

    def __init__(
        self, env: gym.Env[Any, Any], folder: Path, checkpoint_every: int | None = 100
    ) -> None:
        super().__init__(env)
        self.folder = folder
        self.checkpoint_every = checkpoint_every
        self.rewards: list[float] = []
        self.averages: list[float] = []
        self.checkpoint_bytes = 0
        self._episode_return = 0.0

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        self._episode_return += float(reward)
        if terminated or truncated:
            self.add(self._episode_return)
            self._episode_return = 0.0
        return obs, reward, terminated, truncated, info

    def add(self, episode_return: float) -> None:
        self.rewards.append(episode_return)
        window = self.rewards[-WINDOW:]
        self.averages.append(sum(window) / len(window))
        if self.checkpoint_every and len(self.rewards) % self.checkpoint_every == 0:
            text = json.dumps({"window": WINDOW, "rewards": self.rewards, "avg": self.averages})
            (self.folder / "naive_checkpoint.json").write_text(text)
            self.checkpoint_bytes += len(text)


def naive_moving_average(rewards: list[float], window: int) -> list[float]:
    out = []
    for i in range(len(rewards)):
        chunk = rewards[max(0, i - window + 1) : i + 1]
        out.append(sum(chunk) / len(chunk))
    return out


def naive_save(rewards: list[float], folder: Path) -> dict[str, float]:
    """Every point drawn, moving average recomputed in O(n * window)."""
    t0 = time.perf_counter()
    averages = naive_moving_average(rewards, WINDOW)
    n = len(rewards)
    width, height, pad = 960, 540, 50
    lo, hi = min(rewards), max(rewards)
    span = (hi - lo) or 1.0

    def points(values: list[float]) -> list[tuple[float, float]]:
        return [
            (
                pad + i * (width - 2 * pad) / max(1, n - 1),
                height - pad - (v - lo) * (height - 2 * pad) / span,
            )
            for i, v in enumerate(values)
        ]

    raw, avg = points(rewards), points(averages)
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">']
    for pts, opacity, stroke in ((raw, 0.25, 1.5), (avg, 1.0, 2.75)):
        joined = " ".join(f"{x:.2f},{y:.2f}" for x, y in pts)
        svg.append(
            f'<polyline fill="none" stroke="#4E79A7" stroke-opacity="{opacity}" '
            f'stroke-width="{stroke}" points="{joined}"/>'
        )
    svg.append("</svg>")
    svg_text = "\n".join(svg)
    (folder / "naive_reward_curve.svg").write_text(svg_text)
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    draw.line(raw, fill=(190, 205, 225), width=1)
    draw.line(avg, fill=(78, 121, 167), width=3)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    (folder / "naive_reward_curve.png").write_bytes(buffer.getvalue())
    history = json.dumps({"window": WINDOW, "rewards": rewards, "avg": averages})
    (folder / "naive_history.json").write_text(history)
    return {
        "save_s": time.perf_counter() - t0,
        "svg_kb": len(svg_text) / 1e3,
        "png_kb": len(buffer.getvalue()) / 1e3,
        "history_mb": len(history) / 1e6,
    }


# -- measurements ------------------------------------------------------------------------
def time_episodes(env: gym.Env[Any, Any], episodes: int) -> Sample:
    """A reset/step loop over ``episodes`` one-step episodes."""
    env.reset(seed=0)
    step, reset = env.step, env.reset
    gc.disable()
    try:
        t0 = time.perf_counter()
        for _ in range(episodes):
            step(0)
            reset()
        return Sample(time.perf_counter() - t0, units=episodes)
    finally:
        gc.enable()


def per_episode_case(make: Callable[[], gym.Env[Any, Any]], episodes: int) -> Case:
    """A fresh env per round, dropped without saving: only recording is timed."""

    def case() -> Sample:
        env = make()
        sample = time_episodes(env, episodes)
        if isinstance(env, CurveRecorderWrapper):
            env._closed = True
            env.env.close()
        return sample

    return case


def run_per_episode(episodes: int, rounds: int, folder: Path) -> Result:
    """Per-episode cost of every variant, added = minus the raw env, ratio vs the naive one."""
    makers: dict[str, Callable[[], gym.Env[Any, Any]]] = {
        RAW: OneStepEnv,
        TRACKER: lambda: EpisodeStatsWrapper(OneStepEnv()),
        OURS: lambda: CurveRecorderWrapper(
            OneStepEnv(), folder / "per_episode", checkpoint_every=100
        ),
        OURS_PLAIN: lambda: CurveRecorderWrapper(
            OneStepEnv(), folder / "per_episode", checkpoint_every=None
        ),
        NAIVE: lambda: NaiveCurveRecorder(OneStepEnv(), folder, checkpoint_every=100),
        NAIVE_PLAIN: lambda: NaiveCurveRecorder(OneStepEnv(), folder, checkpoint_every=None),
    }
    result = measure(
        f"per-episode cost, {episodes:,} one-step episodes",
        {name: per_episode_case(make, episodes) for name, make in makers.items()},
        rounds=rounds,
        reference=NAIVE,
        baseline=RAW,
        per_unit="episode",
        params={"episodes": episodes},
    )

    def added(name: str) -> float:
        return (result.figure(name).added_s or 0.0) * 1e6

    ours, tracker = added(OURS), added(TRACKER)
    note = (
        f"{OURS} adds {ours:.2f} us/episode (checkpoints included; "
        f"{ours - tracker:.2f} on top of the tracker every gymscope wrapper shares), "
        f"naive reference {added(NAIVE):.2f} us/episode ({added(NAIVE_PLAIN):.2f} without "
        f"its checkpoints), ratio {result.figure(OURS).ratio_to_reference or math.nan:.2f}"
    )
    return dataclasses.replace(result, notes=(note,))


def filled_recorder(episodes: int, folder: Path) -> CurveRecorderWrapper[Any, Any]:
    """A recorder holding ``episodes`` episodes, fed through its episode hook."""
    recorder = CurveRecorderWrapper(OneStepEnv(), folder, checkpoint_every=None)
    rng = np.random.default_rng(0)
    rewards = rng.normal(0.0, 30.0, episodes) + np.linspace(0.0, 200.0, episodes)
    lengths = rng.integers(10, 500, episodes)
    cumulative = np.concatenate(([0.0], np.cumsum(rewards)))
    ends = np.arange(1, episodes + 1)
    starts = np.maximum(0, ends - WINDOW)
    averages = (cumulative[ends] - cumulative[starts]) / (ends - starts)
    record = SimpleNamespace(
        index=0, episode_return=0.0, moving_mean=0.0, length=0, info={}, metrics={}
    )
    hook = recorder._on_episode
    for i, (r, m, n) in enumerate(
        zip(rewards.tolist(), averages.tolist(), lengths.tolist(), strict=True)
    ):
        record.index, record.episode_return, record.moving_mean, record.length = i, r, m, n
        hook(record)  # type: ignore[arg-type]
    return recorder


def measure_save(episodes: int, folder: Path) -> tuple[dict[str, float], list[float]]:
    recorder = filled_recorder(episodes, folder)
    gc.collect()
    t0 = time.perf_counter()
    recorder.save()
    elapsed = time.perf_counter() - t0
    result = {
        "save_s": elapsed,
        "svg_kb": (folder / "training_reward_curve.svg").stat().st_size / 1e3,
        "png_kb": (folder / "training_reward_curve.png").stat().st_size / 1e3,
        "history_mb": recorder.history_path.stat().st_size / 1e6,
    }
    rewards = recorder.returns.tolist()
    recorder._closed = True
    recorder.env.close()
    return result, rewards


def measure_checkpoints(episodes: int, every: int, folder: Path) -> dict[str, float]:
    recorder = CurveRecorderWrapper(OneStepEnv(), folder, checkpoint_every=every)
    rng = np.random.default_rng(1)
    rewards = rng.normal(100.0, 30.0, episodes)
    record = SimpleNamespace(
        index=0, episode_return=0.0, moving_mean=0.0, length=1, info={}, metrics={}
    )
    hook = recorder._on_episode
    running = 0.0
    for i, r in enumerate(rewards.tolist()):
        running = r if i == 0 else running + (r - running) / min(i + 1, WINDOW)
        record.index, record.episode_return, record.moving_mean = i, r, running
        hook(record)  # type: ignore[arg-type]
    recorder.close()
    final = recorder.history_path.stat().st_size
    # What rewriting the full history at every checkpoint writes, from the
    # length each value adds to the JSON text (exact, without writing it).
    item = np.array(
        [
            len(repr(r)) + len(repr(a)) + 4
            for r, a in zip(rewards.tolist(), recorder.moving_averages.tolist(), strict=True)
        ]
    )
    grown = np.cumsum(item)
    naive = int(grown[every - 1 :: every].sum()) + 40 * (episodes // every)
    return {
        "ours_bytes": recorder.checkpoint_bytes,
        "final_bytes": final,
        "naive_bytes": naive,
    }


# -- report ------------------------------------------------------------------------------
def mb(n: float) -> str:
    return f"{n / 1e6:,.1f} MB" if n < 1e9 else f"{n / 1e9:,.1f} GB"


def ok(passed: bool) -> str:
    return "ok" if passed else "MISSED"


def save_sample(r: dict[str, float]) -> Sample:
    return Sample(
        r["save_s"],
        extra={"SVG kB": r["svg_kb"], "PNG kB": r["png_kb"], "history MB": r["history_mb"]},
    )


def run_save(sizes: Sequence[int], budget: float, folder: Path) -> list[Result]:
    """save() at every size, gymscope then the naive reference on the same returns.

    One save each (a million-episode save is long): not interleaved rounds.
    The naive reference is skipped at a size where its time projected from
    the previous size exceeds ``budget`` seconds; that result has no
    reference figure (ratios ``None``).
    """
    results = []
    naive_last: tuple[int, float] | None = None
    warm = folder / "warm-up"
    warm.mkdir()
    measure_save(500, warm)  # untimed: first use loads fonts and imports modules
    naive_save(list(range(500)), warm)
    for n in sizes:
        sub = folder / f"save_{n}"
        sub.mkdir()
        mine, rewards = measure_save(n, sub)
        samples: Samples = {OURS_SAVE: [[save_sample(mine)]]}
        notes = []
        projected = None if naive_last is None else naive_last[1] * n / naive_last[0]
        if projected is not None and projected > budget:
            notes.append(f"{NAIVE}: skipped: projected {projected:.0f} s > {budget:.0f} s")
        else:
            theirs = naive_save(rewards, sub)
            naive_last = (n, theirs["save_s"])
            samples[NAIVE] = [[save_sample(theirs)]]
            notes.append(
                f"at {n:,} episodes gymscope/naive: save time ratio "
                f"{mine['save_s'] / theirs['save_s']:.2f}, SVG size ratio "
                f"{mine['svg_kb'] / theirs['svg_kb']:.3f}, "
                f"PNG size ratio {mine['png_kb'] / theirs['png_kb']:.2f}"
            )
        if n == sizes[-1]:
            checks = [
                f"{what} {value:{fmt}} {unit} (<= {target:.0f} {unit}: {ok(value <= target)})"
                for what, value, fmt, unit, target in (
                    ("save", mine["save_s"], ".2f", "s", SAVE_TARGET_S),
                    ("SVG", mine["svg_kb"], ".0f", "kB", SVG_TARGET_KB),
                    ("PNG", mine["png_kb"], ".0f", "kB", PNG_TARGET_KB),
                )
            ]
            notes.append(f"targets at {n:,} episodes: " + ", ".join(checks))
        results.append(
            summarize(
                f"save() at {n:,} episodes: reward chart and history, window {WINDOW}",
                samples,
                reference=NAIVE,
                per_unit="save",
                params={"episodes": n, "budget_s": budget},
                notes=notes,
            )
        )
    return results


def run_checkpoints(episodes: int, every: int, folder: Path) -> Result:
    """Bytes, not time: ``values`` holds ``ours_bytes``, ``final_bytes``, ``naive_bytes``."""
    sub = folder / "checkpoints"
    sub.mkdir()
    io_ = measure_checkpoints(episodes, every, sub)
    ratio = io_["ours_bytes"] / io_["final_bytes"]
    note = (
        f"gymscope appends {mb(io_['ours_bytes'])} = {ratio:.2f}x the final history "
        f"({mb(io_['final_bytes'])}) (target <= {CHECKPOINT_TARGET_RATIO:.0f}x: "
        f"{ok(ratio <= CHECKPOINT_TARGET_RATIO)}); full rewrites would write "
        f"{mb(io_['naive_bytes'])} = {io_['naive_bytes'] / io_['final_bytes']:,.0f}x"
    )
    return summarize(
        f"checkpoint I/O over {episodes:,} episodes, every {every}",
        {},
        reference=NAIVE,
        per_unit="run",
        params={"episodes": episodes, "every": every},
        values=io_,
        notes=(note,),
    )


def run(
    *,
    sizes: Sequence[int] = (1_000, 100_000, 1_000_000),
    per_episode: int = 20_000,
    rounds: int = 5,
    checkpoint_run: int = 100_000,
    budget: float = 60.0,
) -> list[Result]:
    """The three measurements, in a temporary folder."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        return [
            run_per_episode(per_episode, rounds, folder),
            *run_save(sizes, budget, folder),
            run_checkpoints(checkpoint_run, 10, folder),
        ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds allowed per naive save")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the per-episode cost")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.quick:
        results = run(
            sizes=(1_000, 5_000, 20_000),
            per_episode=2_000,
            rounds=2,
            checkpoint_run=5_000,
            budget=5.0,
        )
    else:
        results = run(rounds=args.rounds, budget=args.budget)
    for i, result in enumerate(results):
        if i:
            print()
        print_table(result)


if __name__ == "__main__":
    main()

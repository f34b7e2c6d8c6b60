"""A live CartPole run and its replay from the database give the same outputs.

One stack records a real CartPole run into SQLite, TensorBoard and training
curves with the same window and EMA weight; the run is then replayed from the
database (gymscope.replay.stored_records) into the same sinks. TensorBoard
events are read back with TensorBoard's own reader.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gymscope.charts import plot_experiment
from gymscope.episode import RunInfo
from gymscope.metrics.queries import MetricsReader
from gymscope.replay import stored_records
from gymscope.sinks.curves import CurveSink
from gymscope.sinks.tensorboard import stat_tags
from gymscope.tensorboard import export_experiment
from gymscope.wrappers.curves import CurveRecorderWrapper
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from gymscope.wrappers.tensorboard import TensorBoardWrapper

WINDOW = 5
ALPHA = 0.7
EPISODES = 23
KEYS = ("cart_position",)


class CartPosition(gym.Wrapper[Any, Any, Any, Any]):
    """Puts the cart's position into every step's info: a captured info value."""

    def step(self, action: Any) -> tuple[Any, Any, bool, bool, dict[str, Any]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, {**info, "cart_position": obs[0]}


@pytest.fixture
def live_run(tmp_path: Path) -> Path:
    """Record EPISODES CartPole episodes live; returns the database path."""
    db = tmp_path / "metrics.db"
    env = CurveRecorderWrapper(
        TensorBoardWrapper(
            SQLiteLoggerWrapper(
                CartPosition(gym.make("CartPole-v1")),
                db,
                experiment="cartpole",
                window_size=WINDOW,
                info_keys=KEYS,
            ),
            tmp_path / "live_tb",
            alpha=ALPHA,
            window_size=WINDOW,
            info_keys=KEYS,
        ),
        tmp_path / "live_curves",
        window_size=WINDOW,
        checkpoint_every=4,
        info_keys=KEYS,
    )
    log_metrics = env.get_wrapper_attr("log_metrics")
    env.action_space.seed(0)
    env.reset(seed=0)
    episodes = steps = 0
    while episodes < EPISODES:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        # A velora loss column first, then a metric stored in extra["metrics"]:
        # the order a replay gives them back in (losses, then the others).
        log_metrics(actor_loss=1.0 / steps)
        if episodes % 3:  # a metric that some episodes do not report
            log_metrics(value_error=math.sin(steps))
        if terminated or truncated:
            episodes += 1
            env.reset()
    env.close()
    return db


def read_events(folder: Path) -> dict[str, list[tuple[int, float, float]]]:
    """tag -> [(step, value, wall time)] of the one run in ``folder``."""
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {
        tag: [(e.step, e.value, e.wall_time) for e in acc.Scalars(tag)]
        for tag in acc.Tags()["scalars"]
    }


def test_tensorboard_replay_matches_the_live_events(live_run: Path, tmp_path: Path) -> None:
    replayed = export_experiment(
        live_run, "cartpole", tmp_path / "tb", alpha=ALPHA, window_size=WINDOW
    )
    live, again = read_events(tmp_path / "live_tb"), read_events(replayed)
    assert sorted(live) == sorted(
        [
            *stat_tags(WINDOW, ALPHA),
            "info/cart_position",
            "episode_metrics/actor_loss",
            "episode_metrics/value_error",
        ]
    )
    assert sorted(again) == sorted(live)
    for tag, points in live.items():
        assert len(points) == (EPISODES - 8 if tag.endswith("value_error") else EPISODES), tag
        # steps and values exactly (NaN never occurs in this run)
        assert [p[:2] for p in again[tag]] == [p[:2] for p in points], tag
        # wall times: created_at is stored to the microsecond (documented)
        assert [p[2] for p in again[tag]] == pytest.approx([p[2] for p in points], abs=2e-6)
    steps = [step for step, _, _ in live["episode/length"]]
    lengths = [int(value) for _, value, _ in live["episode/length"]]
    assert steps == np.cumsum(lengths).tolist()  # stepped by total env steps


def test_curve_replay_matches_the_live_history(live_run: Path, tmp_path: Path) -> None:
    with MetricsReader(live_run) as reader:
        run = reader.episodes("cartpole")
    sink = CurveSink(tmp_path / "replay_curves", window_size=WINDOW, checkpoint_every=4)
    sink.open(RunInfo(experiment="cartpole", env_id=run.experiment.env))
    for record in stored_records(run, alpha=ALPHA, window_size=WINDOW):
        sink.on_episode(record)
    sink.close()

    live_dir, replay_dir = tmp_path / "live_curves", tmp_path / "replay_curves"
    live = json.loads((live_dir / "training_history.json").read_text())
    again = json.loads((replay_dir / "training_history.json").read_text())
    assert live["summary"]["episodes"] == EPISODES
    for field in ("reward", "length", "reward_moving_avg", "info", "metrics", "summary"):
        assert again[field] == live[field], field
    assert list(live["info"]) == ["cart_position"]
    assert list(live["metrics"]) == ["actor_loss", "value_error"]
    assert live["metrics"]["value_error"].count(None) == 8
    # the same by construction: every file, byte for byte (titles name the env
    # id, which the database keeps), the checkpoints included
    names = sorted(p.name for p in live_dir.iterdir())
    assert names == sorted(p.name for p in replay_dir.iterdir())
    assert "training_history_checkpoint.jsonl" in names
    assert "training_cart_position_curve.png" in names
    for name in names:
        assert (replay_dir / name).read_bytes() == (live_dir / name).read_bytes(), name


def test_plot_experiment_draws_the_live_charts(live_run: Path, tmp_path: Path) -> None:
    paths = plot_experiment(live_run, "cartpole", tmp_path / "plots", window_size=WINDOW)
    stems = ("reward", "length", "cart_position", "actor_loss", "value_error")
    assert [p.name for p in paths] == [
        f"cartpole_{stem}_curve.{ext}" for stem in stems for ext in ("svg", "png")
    ]
    for path in paths:
        live = tmp_path / "live_curves" / path.name.replace("cartpole_", "training_", 1)
        assert path.read_bytes() == live.read_bytes(), path.name

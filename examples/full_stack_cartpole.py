"""Every gymscope wrapper on one CartPole env: stats, database, videos, curves.

The agent below is a hand-written controller (push the cart toward the side
the pole falls to) with some random actions, so returns vary from episode to
episode. It never adds up a reward itself: each episode's return comes from
``info["episode"]``, written by EpisodeStatsWrapper, and the same episode
reaches the database, the video sidecar and the curves, counted once by the
stack's shared episode tracker.

Writes into OUT_DIR:

- ``metrics.db``: one row per episode (table ``episode``, velora's columns);
- ``videos/``: MP4s of episode 0, every 10th and the last one, each with a
  JSON sidecar holding the return the training loop saw;
- ``curves/``: reward and length curves (SVG + PNG), one chart per
  ``log_metrics`` value, and ``cartpole_history.json``.

Run: ``uv run python examples/full_stack_cartpole.py [OUT_DIR]``
"""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from gymscope import (
    CurveRecorderWrapper,
    EpisodeCaptureSchedule,
    EpisodeStatsWrapper,
    ScheduledRecordVideo,
    SQLiteLoggerWrapper,
)


def make_env(out_dir: Path, episodes: int, experiment: str, epsilon: float) -> gym.Env[Any, Any]:
    """CartPole in the full gymscope stack, innermost wrapper first."""
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    # Videos: render only the chosen episodes, stream their frames to ffmpeg.
    env = ScheduledRecordVideo(
        env,
        out_dir / "videos",
        schedule=EpisodeCaptureSchedule(
            every_n_episodes=10, last_n_episodes=1, total_episodes=episodes
        ),
        name_prefix="cartpole",
    )
    # One row per episode; a SQLite file by default, any SQLAlchemy URL works.
    env = SQLiteLoggerWrapper(
        env,
        out_dir / "metrics.db",
        experiment,
        agent="Heuristic",
        config={"episodes": episodes, "epsilon": epsilon},  # stored with the run
        window_size=10,
    )
    # Curves and a JSON history, saved by close() (and at interpreter exit).
    env = CurveRecorderWrapper(env, out_dir / "curves", prefix="cartpole", window_size=10)
    # Outermost: info["episode"] for the training loop.
    return EpisodeStatsWrapper(env, window_size=10)


def policy(obs: np.ndarray, rng: np.random.Generator, epsilon: float = 0.2) -> int:
    """Push toward the side the pole falls to; a random action with probability epsilon."""
    if rng.random() < epsilon:
        return int(rng.integers(2))
    angle, angular_velocity = obs[2], obs[3]
    return int(angle + 0.5 * angular_velocity > 0)


def main(
    out_dir: str | Path = "runs/full_stack_cartpole",
    episodes: int = 30,
    seed: int = 0,
    experiment: str = "full-stack-cartpole",
    epsilon: float = 0.2,
) -> dict[str, Any]:
    """Play ``episodes`` episodes; return what was recorded, and where.

    ``epsilon`` is the share of random actions: 0.2 balances the pole for
    hundreds of steps, 0.6 for a few dozen.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    returns: list[float] = []
    with make_env(out, episodes, experiment, epsilon) as env:
        log_metrics = env.get_wrapper_attr("log_metrics")
        obs, _ = env.reset(seed=seed)
        while len(returns) < episodes:
            obs, _, terminated, truncated, info = env.step(policy(obs, rng, epsilon))
            # A per-step value: the database and the curves keep its mean per episode.
            log_metrics(pole_angle=abs(float(obs[2])))
            if terminated or truncated:
                ep = info["episode"]
                ep_index = len(returns)
                returns.append(ep["r"])
                print(f"episode {ep_index}  return {ep['r']:.0f}  moving mean {ep['r_mean']:.1f}")
                if len(returns) < episodes:  # a reset would start (and film) one more
                    obs, _ = env.reset()
    # Leaving the with-block closed the whole stack: every row, video and curve is on disk.

    db_path = out / "metrics.db"
    with closing(sqlite3.connect(db_path)) as db:
        best = db.execute(
            "SELECT e.episode_num, e.reward FROM episode e JOIN experiment x "
            "ON x.id = e.experiment_id WHERE x.name = ? ORDER BY e.reward DESC LIMIT 1",
            (experiment,),
        ).fetchone()
    videos = sorted(p for p in (out / "videos").iterdir() if p.suffix == ".mp4")
    curves = sorted((out / "curves").iterdir())
    print(f"best episode in the database: #{best[0]} with return {best[1]:.0f}")
    print(f"database: {db_path}")
    print(f"videos:   {out / 'videos'} ({len(videos)} MP4s with JSON sidecars)")
    print(f"curves:   {out / 'curves'} ({len(curves)} files)")
    return {
        "returns": returns,
        "experiment": experiment,
        "db": db_path,
        "videos": videos,
        "curves": curves,
    }


if __name__ == "__main__":
    main(*sys.argv[1:2])

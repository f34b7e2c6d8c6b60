"""Stable-Baselines3 PPO trained through the gymscope stack.

SB3 reads ``info["episode"]`` into ``model.ep_info_buffer`` (what its
``rollout/ep_rew_mean`` shows). Its ``Monitor`` wrapper writes that key too,
so build the VecEnv yourself with EpisodeStatsWrapper in Monitor's place
(``make_vec_env`` always adds a Monitor, outside any ``wrapper_class``).
Each sub-env also logs into one SQLite database and one experiment, and
draws its own curves.

SB3's own logger writes every value it dumps (``train/value_loss``,
``rollout/ep_rew_mean``...) into the same run, at SB3's steps:
``model.set_logger(gymscope.sb3.logger(...))``. A callback also hands PPO's
latest losses to the envs with ``log_metrics``; the database stores their
per-episode means in velora's ``actor_loss``, ``critic_loss`` and
``entropy_loss`` columns.

Needs SB3: ``pip install stable-baselines3``.
Run: ``uv run python examples/sb3_ppo.py [OUT_DIR]``
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import gymnasium as gym
from stable_baselines3 import PPO
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import DummyVecEnv

import gymscope.sb3
from gymscope import CurveRecorderWrapper, EpisodeStatsWrapper, SQLiteLoggerWrapper

# SB3's names for PPO's losses -> the metrics database's (velora's) columns.
LOSSES = {
    "train/policy_gradient_loss": "actor_loss",
    "train/value_loss": "critic_loss",
    "train/entropy_loss": "entropy_loss",
}


def make_env(
    out_dir: Path, experiment: str, index: int, config: dict[str, Any]
) -> Callable[[], gym.Env[Any, Any]]:
    def thunk() -> gym.Env[Any, Any]:
        env = gym.make("CartPole-v1")
        env = SQLiteLoggerWrapper(
            env, out_dir / "metrics.db", experiment, agent="PPO", config=config
        )
        env = CurveRecorderWrapper(env, out_dir / "curves", prefix=f"env{index}")
        return EpisodeStatsWrapper(env)  # in place of SB3's Monitor

    return thunk


class LossesToEpisodes(BaseCallback):
    """Reports PPO's latest losses to every env at each step, with ``log_metrics``."""

    def __init__(self) -> None:
        super().__init__()
        self.losses: dict[str, float] = {}

    def _on_rollout_start(self) -> None:
        # PPO records train/* after its update, so they are fresh here.
        values = self.model.logger.name_to_value
        self.losses = {
            column: float(values[key]) for key, column in LOSSES.items() if key in values
        }

    def _on_step(self) -> bool:
        if self.losses:
            self.training_env.env_method("log_metrics", **self.losses)
        return True


def main(
    out_dir: str | Path = "runs/sb3_ppo",
    total_timesteps: int = 50_000,
    n_envs: int = 4,
    n_steps: int = 256,
    seed: int = 0,
    experiment: str = "ppo-cartpole",
) -> dict[str, Any]:
    """Train PPO on CartPole; return SB3's episode buffer and the stored rows."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = {"algo": "PPO", "n_envs": n_envs, "total_timesteps": total_timesteps}
    vec_env = DummyVecEnv([make_env(out, experiment, i, config) for i in range(n_envs)])
    model = PPO("MlpPolicy", vec_env, n_steps=n_steps, seed=seed, device="cpu", verbose=0)
    # SB3's training values into the same run (formats=(): no console table)
    model.set_logger(gymscope.sb3.logger(out / "metrics.db", experiment, formats=()))
    model.learn(total_timesteps=total_timesteps, callback=LossesToEpisodes())
    model.logger.close()
    vec_env.close()  # closes every stack: rows committed, curves saved

    with closing(sqlite3.connect(out / "metrics.db")) as db:
        rows = db.execute(
            "SELECT e.worker, e.episode_num, e.reward, e.length, e.critic_loss "
            "FROM episode e JOIN experiment x ON x.id = e.experiment_id "
            "WHERE x.name = ? ORDER BY e.id",  # the order episodes ended in
            (experiment,),
        ).fetchall()
        value_losses = db.execute(
            "SELECT m.step, m.value FROM gymscope_metric m JOIN experiment x "
            "ON x.id = m.experiment_id WHERE x.name = ? AND m.name = 'train/value_loss' "
            "ORDER BY m.step",
            (experiment,),
        ).fetchall()
    buffer = list(model.ep_info_buffer)
    first, last = rows[: len(rows) // 10], rows[-len(rows) // 10 :]
    print(
        f"{len(rows)} episodes in {out / 'metrics.db'}; mean return of the first tenth "
        f"{sum(r[2] for r in first) / len(first):.1f}, of the last tenth "
        f"{sum(r[2] for r in last) / len(last):.1f}"
    )
    print(f"SB3's ep_info_buffer (last {len(buffer)} episodes) reads gymscope's info['episode']")
    print(f"{len(value_losses)} values of SB3's train/value_loss in the same run")
    return {"ep_info_buffer": buffer, "rows": rows, "value_losses": value_losses, "out_dir": out}


if __name__ == "__main__":
    main(*sys.argv[1:2])

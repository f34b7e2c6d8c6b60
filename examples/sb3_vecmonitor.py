"""Stable-Baselines3 PPO on a SubprocVecEnv, monitored by gymscope.sb3.VecMonitor.

``gymscope.sb3.VecMonitor`` takes the place of SB3's ``VecMonitor`` on top of
the VecEnv, in the main process: it writes ``info["episode"]`` for SB3
(``model.ep_info_buffer``, ``rollout/ep_rew_mean``) with gymscope's moving
statistics added, and writes every sub-env's episodes into one run of the
metrics database as its worker, through one database engine in the main
process. The worker processes only run CartPole: they never connect to the
database. ``make_vec_env`` may keep its ``Monitor`` in each sub-env: its
``info["episode"]`` describes the same episodes, and VecMonitor adds its keys
to it.

Needs SB3: ``pip install stable-baselines3``.
Run: ``uv run python examples/sb3_vecmonitor.py [OUT_DIR]``
"""

from __future__ import annotations

import sqlite3
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

from stable_baselines3 import PPO
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv

import gymscope.sb3


def main(
    out_dir: str | Path = "runs/sb3_vecmonitor",
    total_timesteps: int = 50_000,
    n_envs: int = 4,
    n_steps: int = 256,
    seed: int = 0,
    experiment: str = "ppo-cartpole-subproc",
) -> dict[str, Any]:
    """Train PPO on CartPole in ``n_envs`` processes; return SB3's episode buffer
    and the stored rows."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    db = out / "metrics.db"
    venv = gymscope.sb3.VecMonitor(
        make_vec_env("CartPole-v1", n_envs=n_envs, seed=seed, vec_env_cls=SubprocVecEnv),
        db=db,
        experiment=experiment,
        agent="PPO",
        config={"algo": "PPO", "n_envs": n_envs, "total_timesteps": total_timesteps},
    )
    model = PPO("MlpPolicy", venv, n_steps=n_steps, seed=seed, device="cpu", verbose=0)
    # SB3's training values into the same run (formats=(): no console table)
    model.set_logger(gymscope.sb3.logger(db, experiment, formats=()))
    model.learn(total_timesteps=total_timesteps)
    model.logger.close()
    venv.close()  # commits the rows, disposes of the engine, stops the workers

    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT e.worker, e.episode_num, e.reward, e.length, e.reward_moving_avg "
            "FROM episode e JOIN experiment x ON x.id = e.experiment_id "
            "WHERE x.name = ? ORDER BY e.id",  # the order episodes ended in
            (experiment,),
        ).fetchall()
    buffer = list(model.ep_info_buffer)
    first, last = rows[: len(rows) // 10], rows[-len(rows) // 10 :]
    print(
        f"{len(rows)} episodes of {n_envs} worker processes in {db}; mean return of the "
        f"first tenth {sum(r[2] for r in first) / len(first):.1f}, of the last tenth "
        f"{sum(r[2] for r in last) / len(last):.1f}"
    )
    print(f"SB3's ep_info_buffer (last {len(buffer)} episodes): {buffer[-1]}")
    return {"ep_info_buffer": buffer, "rows": rows, "out_dir": out}


if __name__ == "__main__":
    main(*sys.argv[1:2])

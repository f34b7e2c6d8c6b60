"""Four worker processes, one experiment, one SQLite file.

``AsyncVectorEnv`` runs each sub-env in its own process, so each holds its
own SQLiteLoggerWrapper. Given the same database and the same experiment
name, they join one run: each leases a distinct worker number (0-3) at its
first write and numbers its episodes 0, 1, 2, ... per worker. SQLite in WAL
mode with a busy timeout takes the four writers in turn; every episode is
committed before the ``step()`` that ended it returns.

The training loop reads ``info["episode"]`` (EpisodeStatsWrapper) as CleanRL
does; at the end the database is read back to show one row per episode.

Run: ``uv run python examples/async_vector_db.py [DB]``. Running it again
with the same DB continues the same experiment (episode numbers go on).
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from gymscope import EpisodeStatsWrapper, SQLiteLoggerWrapper


def make_env(db: str, experiment: str, seed: int) -> Callable[[], gym.Env[Any, Any]]:
    """A thunk building one sub-env; it runs in the worker process."""

    def thunk() -> gym.Env[Any, Any]:
        env = gym.make("CartPole-v1")
        # The same db and experiment in every worker: one run, workers 0..N-1.
        env = SQLiteLoggerWrapper(env, db, experiment, agent="random")
        env = EpisodeStatsWrapper(env)
        env.action_space.seed(seed)
        return env

    return thunk


def main(
    db: str | Path = "runs/async_vector_db.db",
    experiment: str = "cartpole-async",
    num_envs: int = 4,
    total_steps: int = 4_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Run a random policy on ``num_envs`` workers; return the episodes seen and stored."""
    db = Path(db).absolute()  # the workers may not share our working directory
    db.parent.mkdir(parents=True, exist_ok=True)
    envs = gym.vector.AsyncVectorEnv(
        [make_env(str(db), experiment, seed + i) for i in range(num_envs)]
    )
    seen: list[tuple[int, float, int]] = []  # (sub-env, return, length)
    envs.reset(seed=seed)
    for _ in range(0, total_steps, num_envs):
        *_, infos = envs.step(envs.action_space.sample())
        if "episode" in infos:  # NEXT_STEP autoreset, gymnasium's default
            for i in np.flatnonzero(infos["_episode"]):
                seen.append(
                    (int(i), float(infos["episode"]["r"][i]), int(infos["episode"]["l"][i]))
                )
    envs.close()  # each worker closes its wrapper: last rows flushed, lease released

    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT e.worker, e.episode_num, e.reward, e.length FROM episode e "
            "JOIN experiment x ON x.id = e.experiment_id WHERE x.name = ? "
            "ORDER BY e.worker, e.episode_num",
            (experiment,),
        ).fetchall()
        per_worker = conn.execute(
            "SELECT e.worker, count(*), avg(e.reward) FROM episode e "
            "JOIN experiment x ON x.id = e.experiment_id WHERE x.name = ? "
            "GROUP BY e.worker ORDER BY e.worker",
            (experiment,),
        ).fetchall()
    print(f"{len(seen)} episodes finished in the loop; {len(rows)} rows in {db}")
    for worker, count, mean in per_worker:
        print(f"worker {worker}: {count} episodes, mean return {mean:.1f}")
    return {"seen": seen, "rows": rows, "db": db}


if __name__ == "__main__":
    main(*sys.argv[1:2])

"""Reading the metrics database: velora's query, get_current_episode, plain SQL.

Logs a few random-policy CartPole episodes with ``SQLiteLoggerWrapper``, then
reads them back three ways:

1. velora's documented query, unchanged except for the import: a SQLModel
   session over ``select(Episode).where(Episode.experiment_id == 1)``;
2. velora's helper ``get_current_episode(session, experiment_id, episode)``;
3. the standard library's ``sqlite3`` module and plain SQL, no ORM and no
   pandas: a summary per experiment (episodes, mean reward, best moving
   average) and the last episodes of this run.

Each run of the script adds one experiment (a fresh generated name) to the
database; in a new database it is experiment 1, the one velora's query reads.

Run: ``uv run python examples/query_metrics.py [DB_PATH]`` (default ``metrics.db``).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import sys
from typing import Any

import gymnasium as gym

from gymscope import SQLiteLoggerWrapper


def log_episodes(db_path: str | os.PathLike[str], episodes: int, seed: int) -> tuple[int, str]:
    """Play ``episodes`` random CartPole episodes into a new experiment; its id and name."""
    env = SQLiteLoggerWrapper(
        gym.make("CartPole-v1"), db_path, agent="random", config={"seed": seed}, window_size=3
    )
    env.action_space.seed(seed)
    env.reset(seed=seed)
    finished = 0
    while finished < episodes:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            finished += 1
            env.reset()
    experiment_id, name = env.experiment_id, env.experiment_name
    env.close()  # every episode was already committed when its step() returned
    assert experiment_id is not None  # set at the first write
    return experiment_id, name


def velora_query(db_path: str | os.PathLike[str]) -> list[tuple[float, int]]:
    """velora's documented snippet, with ``gymscope.metrics`` for ``velora.metrics``."""
    from sqlmodel import Session, select

    from gymscope.metrics import Episode, get_db_engine

    engine = get_db_engine(db_path)  # velora: get_db_engine() -> ./metrics.db
    seen = []
    with Session(engine) as session:
        statement = select(Episode).where(Episode.experiment_id == 1)
        for episode in session.exec(statement):
            print(episode.reward, episode.length)
            seen.append((episode.reward, episode.length))
    engine.dispose()
    return seen


def current_episode(
    db_path: str | os.PathLike[str], experiment_id: int, episode_num: int
) -> list[dict[str, Any]]:
    """The rows numbered ``episode_num`` of the experiment: one per worker."""
    from sqlmodel import Session

    from gymscope.metrics import get_current_episode, get_db_engine

    engine = get_db_engine(db_path)
    with Session(engine) as session:
        rows = [
            {
                "worker": episode.worker,
                "episode_num": episode.episode_num,
                "reward": episode.reward,
                "reward_moving_avg": episode.reward_moving_avg,
                "created_at": episode.created_at,  # aware datetime, UTC
            }
            for episode in get_current_episode(session, experiment_id, episode_num)
        ]
    engine.dispose()
    for row in rows:
        print(
            f"episode {row['episode_num']} of worker {row['worker']}: reward {row['reward']}, "
            f"moving average {row['reward_moving_avg']:.2f}, ended {row['created_at']:%H:%M:%S} UTC"
        )
    return rows


SUMMARY = """
SELECT x.id, x.name, x.env, COUNT(e.id), AVG(e.reward), MAX(e.reward_moving_avg)
FROM experiment AS x JOIN episode AS e ON e.experiment_id = x.id
GROUP BY x.id
ORDER BY x.id
"""

LAST_EPISODES = """
SELECT episode_num, reward, length, terminated, truncated, created_at
FROM episode
WHERE experiment_id = ?
ORDER BY worker, episode_num DESC
LIMIT ?
"""


def plain_sql(
    db_path: str | os.PathLike[str], experiment_id: int, last: int
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Per-experiment summary and the last episodes of one run, with ``sqlite3`` only."""
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        summary = db.execute(SUMMARY).fetchall()
        recent = db.execute(LAST_EPISODES, (experiment_id, last)).fetchall()
    for exp_id, name, env, episodes, mean, best in summary:
        print(
            f"experiment {exp_id} {name} ({env}): {episodes} episodes, mean reward {mean:.2f}, "
            f"best moving average {best:.2f}"
        )
    for num, reward, length, terminated, truncated, created_at in recent:
        # SQLite keeps booleans as 0/1 and times as UTC text
        ending = "terminated" if terminated else "truncated" if truncated else "?"
        print(f"  episode {num}: reward {reward}, {length} steps, {ending}, {created_at} UTC")
    return summary, recent


def main(
    db_path: str | os.PathLike[str] = "metrics.db", episodes: int = 5, seed: int = 0
) -> dict[str, Any]:
    experiment_id, name = log_episodes(db_path, episodes, seed)
    print(f"logged {episodes} episodes as experiment {experiment_id} ({name}) in {db_path}")
    print("\n1. velora's query (experiment 1): reward, length")
    velora = velora_query(db_path)
    print(f"\n2. get_current_episode: the last episode of experiment {experiment_id}")
    current = current_episode(db_path, experiment_id, episodes - 1)
    print("\n3. plain SQL with sqlite3: every experiment, then this run's last episodes")
    summary, recent = plain_sql(db_path, experiment_id, last=3)
    return {
        "experiment_id": experiment_id,
        "experiment": name,
        "velora": velora,
        "current": current,
        "summary": summary,
        "recent": recent,
    }


if __name__ == "__main__":
    main(*sys.argv[1:2])

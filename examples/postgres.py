"""Log episodes into PostgreSQL: the same wrapper, a different URL.

SQLiteLoggerWrapper takes any SQLAlchemy URL. With PostgreSQL, workers on
several machines can write one experiment: give them all the same URL and
experiment name. Needs the driver: ``pip install "gymscope[postgres]"``
(psycopg 3); write URLs as ``postgresql+psycopg://user:password@host:5432/db``
(a plain ``postgresql://`` URL uses psycopg 3 too when psycopg2 is missing).

On a server, rows are sent in batches (``flush_every``, default 32 episodes
per transaction) so the training loop does not wait for a network round trip
per episode; ``close()`` (also run at interpreter exit) sends the rest.

Run: ``uv run python examples/postgres.py postgresql+psycopg://user:password@host/dbname``
"""

from __future__ import annotations

import argparse
from typing import Any

import gymnasium as gym
import sqlalchemy as sa

from gymscope import EpisodeStatsWrapper, SQLiteLoggerWrapper
from gymscope.metrics import get_db_engine


def main(
    url: str,
    experiment: str = "cartpole-postgres",
    episodes: int = 100,
    seed: int = 0,
    flush_every: int | None = None,
) -> dict[str, Any]:
    """Play ``episodes`` random episodes logged into ``url``; return the stored summary."""
    env = gym.make("CartPole-v1")
    env = SQLiteLoggerWrapper(
        env, url, experiment, agent="random", config={"seed": seed}, flush_every=flush_every
    )
    env = EpisodeStatsWrapper(env)
    env.action_space.seed(seed)
    returns: list[float] = []
    with env:
        env.reset(seed=seed)
        while len(returns) < episodes:
            _, _, terminated, truncated, info = env.step(env.action_space.sample())
            if terminated or truncated:
                returns.append(info["episode"]["r"])
                env.reset()
    # close() (the end of the with-block) committed the last batch.

    engine = get_db_engine(url)  # velora's helper, for any URL
    try:
        with engine.connect() as conn:
            count, mean, best = conn.execute(
                sa.text(
                    "SELECT count(*), avg(e.reward), max(e.reward) FROM episode e "
                    "JOIN experiment x ON x.id = e.experiment_id WHERE x.name = :name"
                ),
                {"name": experiment},
            ).one()
    finally:
        engine.dispose()
    shown = engine.url.render_as_string(hide_password=True)
    print(f"{count} episodes of {experiment!r} in {shown}: mean return {mean:.1f}, best {best:.0f}")
    return {"returns": returns, "count": count, "mean": float(mean), "best": float(best)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("url", help="postgresql+psycopg://user:password@host:5432/dbname")
    parser.add_argument("--episodes", type=int, default=100)
    args = parser.parse_args()
    main(args.url, episodes=args.episodes)

"""Runs with exactly known statistics for the view tests (CLI, report, exports)."""

from __future__ import annotations

from pathlib import Path

from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv, play

#: Run 'four' of :func:`pools`: its run-level moving average (window 5) per episode.
FOUR_AVG = [10.0, 15.0, 20.0, 25.0, 22.0, 24.0, 26.0, 28.0, 22.0, 24.0]


def pool(db: Path, name: str, rewards: list[float], order: list[int], window: int) -> None:
    """A run of ``len(rewards)`` workers; worker ``w`` plays one-step episodes of
    return ``rewards[w]``, one episode per entry of ``order``, in that order."""
    envs = [
        SQLiteLoggerWrapper(
            ScriptedEnv(((reward,),)), db, experiment=name, worker=w, window_size=window
        )
        for w, reward in enumerate(rewards)
    ]
    for w in order:
        play(envs[w], 1)
    for env in envs:
        env.close()


def pools(db: Path) -> Path:
    """Two runs in ``db``. 'four': 4 workers of returns 10, 20, 30, 40, round
    robin, the last round cut after worker 1 (merged: 10 20 30 40 10 20 30 40
    10 20), window 5: best avg5 28, last 24. 'two': workers of returns 1 and 5
    ending 0 0 1 1 0 1, window 3: best and last avg3 11/3."""
    pool(db, "four", [10.0, 20.0, 30.0, 40.0], [0, 1, 2, 3, 0, 1, 2, 3, 0, 1], 5)
    pool(db, "two", [1.0, 5.0], [0, 0, 1, 1, 0, 1], 3)
    return db


def metric_run(db: Path) -> Path:
    """Run 'm' in ``db``: loss reported at steps 2, 4 and 8 (NaN at 6),
    value_loss at 8; then 3 episodes of return 3 (ScriptedEnv's default), window 4."""
    env = SQLiteLoggerWrapper(ScriptedEnv(), db, experiment="m", window_size=4)
    log = env.get_wrapper_attr("log_metrics")
    env.reset()
    log(step=2, loss=0.5)
    log(step=4, loss=0.25)
    log(step=6, loss=float("nan"))
    log(step=8, loss=0.125, value_loss=2.0)
    play(env, 3)
    env.close()
    return db

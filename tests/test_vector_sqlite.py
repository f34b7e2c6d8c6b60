"""gymscope.vector.SQLiteLoggerWrapper: one worker per sub-env in one run, rows
equal to per-sub-env single-env loggers', one engine, resume, worker clashes."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import sqlalchemy as sa
from gymnasium.vector import SyncVectorEnv

from gymscope.errors import InvalidArgumentError, WorkerInUseError
from gymscope.vector import EpisodeStatsWrapper, SQLiteLoggerWrapper
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper as SingleLogger
from stubs import ScriptedEnv
from stubs_db import query, read_episodes, sqlite_url

SCRIPTS = (
    [(1.0, 2.0), (0.5, 0.5, 0.5), (4.0,)],
    [(3.0, 3.0, -1.0), (2.0,)],
    [(0.25,), (7.0, 1.0)],
)
COLUMNS = (
    "worker",
    "episode_num",
    "reward",
    "length",
    "reward_moving_avg",
    "reward_moving_std",
    "terminated",
    "truncated",
    "total_steps",
)


def scripted(n: int = 3) -> SyncVectorEnv:
    return SyncVectorEnv([lambda i=i: ScriptedEnv(SCRIPTS[i]) for i in range(n)])


def step(envs: Any, steps: int) -> None:
    for _ in range(steps):
        envs.step(np.zeros(envs.num_envs, dtype=np.int64))


def rows(url: str, experiment: str = "run") -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in COLUMNS) for r in read_episodes(url, experiment)]


def test_rows_per_worker_equal_single_env_loggers_on_each_sub_env(tmp_path: Path) -> None:
    vector_url = sqlite_url(tmp_path / "vector.db")
    single_url = sqlite_url(tmp_path / "single.db")
    envs = SQLiteLoggerWrapper(scripted(), vector_url, "run", window_size=2)
    envs.reset(seed=0)
    step(envs, 20)
    envs.close()
    # the same streams, each through a single-env logger as worker i
    singles = SyncVectorEnv(
        [
            lambda i=i: SingleLogger(
                ScriptedEnv(SCRIPTS[i]), single_url, "run", window_size=2, worker=i
            )
            for i in range(3)
        ]
    )
    singles.reset(seed=0)
    step(singles, 20)
    singles.close()
    got = rows(vector_url)
    assert got == rows(single_url)
    assert sorted({r[0] for r in got}) == [0, 1, 2]
    # sub-env 0: (1, 2) ends at step 2, reset at 3, (0.5 x3) ends at 6, ...
    assert [r[1:5] for r in got if r[0] == 0][:3] == [
        (0, 3.0, 2, 3.0),
        (1, 1.5, 3, 2.25),
        (2, 4.0, 1, 2.75),
    ]
    assert query(vector_url, "SELECT count(*) FROM experiment") == [(1,)]


def test_nothing_is_created_before_the_first_reset(tmp_path: Path) -> None:
    path = tmp_path / "m.db"
    envs = SQLiteLoggerWrapper(scripted(), path, "run")
    assert not path.exists()
    envs.reset()
    assert path.exists()
    assert envs.workers == (0, 1, 2)
    envs.close()
    assert query(sqlite_url(path), "SELECT * FROM gymscope_worker") == []  # given back


def test_one_generated_run_for_all_sub_envs_and_a_worker_offset(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "m.db")
    first = SQLiteLoggerWrapper(scripted(2), url)
    second = SQLiteLoggerWrapper(scripted(2), url, first.experiment_name, worker_offset=2)
    for envs in (first, second):
        envs.reset()
        step(envs, 4)
    assert (first.workers, second.workers) == ((0, 1), (2, 3))
    first.close()
    second.close()
    got = rows(url, first.experiment_name)
    assert sorted({r[0] for r in got}) == [0, 1, 2, 3]
    assert query(url, "SELECT count(*) FROM experiment") == [(1,)]


def test_a_given_engine_is_shared_and_left_open(tmp_path: Path) -> None:
    engine = sa.create_engine(sqlite_url(tmp_path / "m.db"))
    envs = SQLiteLoggerWrapper(scripted(), engine, "run")
    assert all(sink._engine is engine for group in envs.sinks for sink in group)
    envs.reset()
    step(envs, 6)
    envs.close()
    with engine.connect() as conn:  # still usable
        assert conn.execute(sa.text("SELECT count(*) FROM episode")).scalar() == 7
    engine.dispose()


def test_a_rejoining_run_continues_each_workers_stream(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "m.db")
    sessions = []
    for _ in range(2):
        with SQLiteLoggerWrapper(scripted(), url, "run", window_size=2) as envs:
            envs.reset()
            step(envs, 10)
            sessions.append(list(envs.tracker.episode_counts))
    got = rows(url)
    for worker in range(3):
        mine = [r for r in got if r[0] == worker]
        # numbering goes on across the sessions, and so do the moving stats:
        # the first episode of session 2 averages with the last of session 1
        assert [r[1] for r in mine] == list(range(len(mine)))
        assert len(mine) == sessions[1][worker] > sessions[0][worker] > 0
        returns = [r[2] for r in mine]
        for k, r in enumerate(mine):
            window = returns[max(0, k - 1) : k + 1]
            assert r[4] == pytest.approx(sum(window) / len(window), abs=1e-12)


def test_a_worker_held_by_a_live_logger_is_refused_at_reset(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "m.db")
    owner = SQLiteLoggerWrapper(scripted(2), url, "run")
    owner.reset()
    intruder = SQLiteLoggerWrapper(scripted(2), url, "run")
    with pytest.raises(WorkerInUseError, match="worker 0 of experiment id 1"):
        intruder.reset()
    owner.close()
    intruder.close()


def test_log_metrics_is_stored_once_under_worker_0(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "m.db")
    envs = SQLiteLoggerWrapper(scripted(), url, "run")
    envs.reset()
    step(envs, 3)
    envs.log_metrics(step=9, loss=0.25)
    envs.close()
    assert query(url, "SELECT worker, step, name, value FROM gymscope_metric") == [
        (0, 9, "loss", 0.25)
    ]


def test_stacked_with_the_stats_wrapper_and_pickled(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "m.db")
    envs = EpisodeStatsWrapper(
        SQLiteLoggerWrapper(
            gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point"),
            url,
            "run",
            window_size=5,
        ),
        window_size=5,
    )
    assert envs.tracker is envs.env.tracker  # type: ignore[attr-defined]
    envs.reset(seed=0)
    means = []
    for _ in range(60):
        *_, infos = envs.step(np.zeros(2, dtype=np.int64))
        if "episode" in infos:
            means += [
                (int(i), float(infos["episode"]["r_mean"][i]))
                for i in np.flatnonzero(infos["_episode"])
            ]
    copy = pickle.loads(pickle.dumps(envs))
    envs.close()
    stored = [(r["worker"], r["reward_moving_avg"]) for r in read_episodes(url, "run")]
    assert sorted(stored) == sorted(means)
    copy.env.close()  # type: ignore[attr-defined]


def test_bad_arguments_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="worker_offset must be an int >= 0, got -1"):
        SQLiteLoggerWrapper(scripted(), tmp_path / "m.db", worker_offset=-1)
    with pytest.raises(InvalidArgumentError, match="directory"):
        SQLiteLoggerWrapper(scripted(), tmp_path / "no" / "m.db")
    with pytest.raises(InvalidArgumentError, match="max_pending must be an int >= 1, got 0"):
        SQLiteLoggerWrapper(scripted(), tmp_path / "m.db", max_pending=0)
    with pytest.raises(TypeError, match="check_connection must be True or False"):
        SQLiteLoggerWrapper(scripted(), tmp_path / "m.db", check_connection="yes")  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("num_envs", [16, 64])
def test_many_sub_envs_each_get_a_connection(tmp_path: Path, num_envs: int) -> None:
    """Every sub-env's sink holds a connection while open: the engine's pool is
    sized for all of them (SQLAlchemy's default 5 + 10 made the 16th wait 30 s)."""
    db = tmp_path / "m.db"
    envs = SQLiteLoggerWrapper(
        SyncVectorEnv([lambda: ScriptedEnv(((1.0,),)) for _ in range(num_envs)]), db, "many"
    )
    envs.reset()
    envs.step(np.zeros(num_envs, dtype=np.int64))  # one-step episodes: every sub-env ends one
    envs.close()
    assert query(sqlite_url(db), "SELECT count(*), count(DISTINCT worker) FROM episode") == [
        (num_envs, num_envs)
    ]


def test_worker_numbers_beyond_the_limit_are_refused_at_construction(tmp_path: Path) -> None:
    from gymscope.sinks.database import MAX_WORKER

    with pytest.raises(InvalidArgumentError, match=r"worker_offset \+ num_envs - 1"):
        SQLiteLoggerWrapper(scripted(2), tmp_path / "m.db", "limit", worker_offset=MAX_WORKER)
    assert not (tmp_path / "m.db").exists()
    SQLiteLoggerWrapper(
        scripted(2), tmp_path / "m.db", "limit", worker_offset=MAX_WORKER - 1
    ).close()

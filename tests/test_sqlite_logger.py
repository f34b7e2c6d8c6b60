"""SQLiteLoggerWrapper on a real SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import datetime as dt
import gc
import logging
import math
import os
import pickle
import re
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from gymscope.episode import NonFiniteRewardWarning
from gymscope.metrics import (
    SCHEMA_VERSION,
    Episode,
    EpisodeWriteError,
    IncompatibleSchemaError,
    WorkerInUseError,
    get_db_engine,
)
from gymscope.metrics.models import utcnow, worker_lease
from gymscope.wrappers.sqlite_logger import REMOTE_FLUSH_EVERY, SQLiteLoggerWrapper
from gymscope.wrappers.stats import EpisodeStatsWrapper
from stubs import ScriptedEnv
from stubs_db import (
    BACKENDS,
    SCRIPT,
    backend_url,
    query,
    read_episodes,
    run_episodes,
    script_episode,
    unwritable_dir,
)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database of each backend."""
    return backend_url(request.param, tmp_path)


def logged(url: str, **kwargs: Any) -> SQLiteLoggerWrapper[Any, Any]:
    kwargs.setdefault("experiment", "run")
    env = kwargs.pop("env", None) or ScriptedEnv(episodes=SCRIPT)
    return SQLiteLoggerWrapper(env, url, **kwargs)


def test_one_row_per_episode_with_exact_values(url: str) -> None:
    env = ScriptedEnv(episodes=SCRIPT, truncate=(2,))
    started = utcnow()
    with logged(url, env=env, window_size=3, info_keys=("t",), agent="PPO") as logger:
        run_episodes(logger, 6)
    ended = utcnow()

    rows = read_episodes(url, "run")
    returns = [script_episode(i)[0] for i in range(6)]
    lengths = [script_episode(i)[1] for i in range(6)]
    assert [r["episode_num"] for r in rows] == list(range(6))
    assert [r["worker"] for r in rows] == [0] * 6
    assert [r["reward"] for r in rows] == returns == [1.5, 1.0, 6.0, 2.0, 1.5, 1.0]
    assert [r["length"] for r in rows] == lengths
    assert [r["total_steps"] for r in rows] == [1, 3, 6, 8, 9, 11]
    for i, row in enumerate(rows):
        window = returns[max(0, i - 2) : i + 1]  # last 3, no zero padding
        assert row["reward_moving_avg"] == pytest.approx(np.mean(window))
        assert row["reward_moving_std"] == pytest.approx(np.std(window))
        assert row["terminated"] is (i != 2)
        assert row["truncated"] is (i == 2)
        assert row["extra"] == {"info": {"t": lengths[i]}}
        assert (row["actor_loss"], row["critic_loss"], row["entropy_loss"]) == (None, None, None)
    stamps = query(url, "SELECT duration_s FROM episode ORDER BY episode_num")
    assert all(d > 0 for (d,) in stamps)

    with Session(engine := get_db_engine(url)) as session:
        created = [e.created_at for e in session.exec(select(Episode).order_by(Episode.id))]
        (run,) = query(url, "SELECT name, agent, env, config, gymscope_version FROM experiment")
    engine.dispose()
    assert all(started <= c <= ended for c in created)
    assert created == sorted(created)
    assert run == ("run", "PPO", "ScriptedEnv", "{}", __import__("gymscope").__version__)


def test_log_metrics_stores_episode_means(url: str) -> None:
    with logged(url) as env:
        log = env.get_wrapper_attr("log_metrics")
        env.reset()
        log(actor_loss=1.0, critic_loss=0.5, kl=0.25)
        log(actor_loss=3.0, entropy_loss=np.float32(-0.5), kl=0.75)
        env.step(0)  # episode 0 has one step
        env.reset()
        env.step(0)
        env.step(0)  # episode 1: nothing reported
    first, second = read_episodes(url, "run")
    assert (first["actor_loss"], first["critic_loss"], first["entropy_loss"]) == (2.0, 0.5, -0.5)
    assert first["extra"] == {"metrics": {"kl": 0.5}}
    assert (second["actor_loss"], second["critic_loss"], second["entropy_loss"]) == (
        None,
        None,
        None,
    )
    assert second["extra"] is None


def test_nan_is_null_with_the_reason_and_infinity_is_kept(url: str) -> None:
    script = ((1.0,), (math.nan,), (math.inf,), (2.0,))
    with logged(url, env=ScriptedEnv(episodes=script), window_size=2) as env:
        log = env.get_wrapper_attr("log_metrics")
        env.reset()
        log(critic_loss=math.nan, grad=math.inf, bad=math.nan)
        env.step(0)
        with pytest.warns(NonFiniteRewardWarning):
            run_episodes(env, 2)
        run_episodes(env, 1)  # the run goes on
    rows = read_episodes(url, "run")
    assert [r["reward"] for r in rows] == [1.0, None, math.inf, 2.0]
    assert rows[0]["critic_loss"] is None
    assert rows[0]["extra"] == {
        "metrics": {"grad": "Infinity", "bad": "NaN"},
        "nan": ["critic_loss"],
    }
    nan_window = ["reward", "reward_moving_avg", "reward_moving_std"]
    assert rows[1]["extra"] == {"nan": nan_window}
    assert rows[2]["extra"] == {"nan": ["reward_moving_avg", "reward_moving_std"]}
    assert rows[3]["reward_moving_avg"] == math.inf  # mean of [inf, 2.0]
    assert rows[3]["extra"] == {"nan": ["reward_moving_std"]}


def test_info_values_of_any_type_are_stored_as_json(url: str) -> None:
    final = {"arr": np.array([1, 2]), "f": np.float64(0.5), "obj": Path("x"), "odd": {1, 2}}
    env = ScriptedEnv(episodes=((1.0,),), final_info=final)
    with logged(url, env=env, info_keys=("arr", "f", "obj", "odd", "absent")) as logger:
        run_episodes(logger, 1)
    (row,) = read_episodes(url, "run")
    assert row["extra"] == {"info": {"arr": [1, 2], "f": 0.5, "obj": "x", "odd": "{1, 2}"}}


def test_velora_query_reads_what_the_wrapper_wrote(url: str) -> None:
    with logged(url) as env:
        run_episodes(env, 3)
        experiment_id = env.experiment_id
    engine = get_db_engine(url)
    with Session(engine) as session:
        statement = select(Episode).where(Episode.experiment_id == experiment_id)
        seen = [(episode.reward, episode.length) for episode in session.exec(statement)]
    engine.dispose()
    assert seen == [script_episode(i) for i in range(3)]


# -- runs and workers ----------------------------------------------------------------
def test_fresh_runs_get_generated_readable_names(url: str) -> None:
    first = SQLiteLoggerWrapper(ScriptedEnv(episodes=SCRIPT), url, agent="PPO")
    second = SQLiteLoggerWrapper(ScriptedEnv(episodes=SCRIPT), url)
    assert first.experiment_name.startswith("ScriptedEnv_PPO_20")
    assert second.experiment_name.startswith("ScriptedEnv_20")
    assert first.experiment_name != second.experiment_name
    for env in (first, second):
        run_episodes(env, 2)
        env.close()
    names = query(url, "SELECT name FROM experiment ORDER BY id")
    assert names == [(first.experiment_name,), (second.experiment_name,)]


def test_resume_continues_numbering(url: str) -> None:
    with logged(url) as env:
        run_episodes(env, 3)
    with logged(url) as env:
        run_episodes(env, 2)
        assert env.worker == 0
    rows = read_episodes(url, "run")
    assert [(r["worker"], r["episode_num"]) for r in rows] == [(0, n) for n in range(5)]
    assert [r["reward"] for r in rows] == [script_episode(i)[0] for i in (0, 1, 2, 0, 1)]
    assert query(url, "SELECT count(*) FROM experiment") == [(1,)]


def test_open_wrappers_lease_distinct_workers_and_give_them_back(url: str) -> None:
    first, second = logged(url), logged(url)
    run_episodes(first, 2)
    run_episodes(second, 1)
    assert (first.worker, second.worker) == (0, 1)
    assert len(query(url, "SELECT * FROM gymscope_worker")) == 2
    first.close()
    second.close()
    assert query(url, "SELECT * FROM gymscope_worker") == []
    with logged(url) as third:
        run_episodes(third, 1)
        assert third.worker == 0
    rows = read_episodes(url, "run")
    assert [(r["worker"], r["episode_num"]) for r in rows] == [(0, 0), (0, 1), (0, 2), (1, 0)]


def _step_until_the_episode_ends(env: gym.Env[Any, Any]) -> None:
    while not any(env.step(0)[2:4]):
        pass


def test_explicit_worker_and_a_clash(url: str) -> None:
    owner = logged(url, worker=5)
    run_episodes(owner, 1)
    intruder = logged(url, worker=5)
    # the worker is leased when the stack starts (its first reset)
    with pytest.raises(WorkerInUseError, match=r"worker 5 of experiment id 1 .* process \d+"):
        intruder.reset()
    intruder.reset()
    with pytest.raises(WorkerInUseError, match=r"worker 5 of experiment id 1"):
        _step_until_the_episode_ends(intruder)  # still held then: the episode waits
    owner.close()
    intruder.close()  # its episode is still waiting: worker 5 is free now
    rows = read_episodes(url, "run")
    assert [(r["worker"], r["episode_num"]) for r in rows] == [(5, 0), (5, 1)]


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_leases_of_dead_processes_are_taken_over(url: str) -> None:
    with logged(url) as env:
        run_episodes(env, 1)
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        for worker, host, pid in ((0, socket.gethostname(), _dead_pid()), (1, "elsewhere", 1)):
            conn.execute(
                worker_lease.insert().values(
                    experiment_id=1,
                    worker=worker,
                    token=f"t{worker}",
                    host=host,
                    pid=pid,
                    claimed_at=utcnow(),
                )
            )
    engine.dispose()
    first, second = logged(url), logged(url)
    run_episodes(first, 1)
    run_episodes(second, 1)
    # worker 0's process is gone: taken over; worker 1 may live on another host.
    assert (first.worker, second.worker) == (0, 2)
    first.close()
    second.close()
    assert query(url, "SELECT worker, host FROM gymscope_worker") == [(1, "elsewhere")]


# -- lifecycle -----------------------------------------------------------------------
def test_nothing_is_created_before_the_first_reset(tmp_path: Path) -> None:
    # AsyncVectorEnv builds a throwaway env only to read its spaces: never reset
    path = tmp_path / "lazy.db"
    env = SQLiteLoggerWrapper(ScriptedEnv(episodes=((1.0, 1.0),)), path)
    env.close()
    assert list(tmp_path.iterdir()) == []
    env = SQLiteLoggerWrapper(ScriptedEnv(episodes=((1.0, 1.0),)), path)
    env.reset()  # the stack starts: the worker is leased (and resumes if it can)
    assert query(f"sqlite:///{path}", "SELECT worker FROM gymscope_worker") == [(0,)]
    env.close()
    assert query(f"sqlite:///{path}", "SELECT count(*) FROM gymscope_worker") == [(0,)]


def test_close_is_idempotent_and_final(url: str) -> None:
    env = logged(url, env=ScriptedEnv(episodes=((1.0,),)))
    run_episodes(env, 1)
    env.close()
    env.close()
    env.reset()
    with pytest.raises(RuntimeError, match=r"after SQLiteLoggerWrapper.close\(\)"):
        env.step(0)
    assert len(read_episodes(url)) == 1


def test_a_wrapper_dropped_without_close_flushes_and_releases(url: str) -> None:
    env = logged(url, flush_every=4)
    run_episodes(env, 3)
    assert read_episodes(url) == []
    del env
    gc.collect()
    assert len(read_episodes(url)) == 3
    assert query(url, "SELECT count(*) FROM gymscope_worker") == [(0,)]


def test_a_given_engine_is_used_and_left_open(url: str) -> None:
    engine = sa.create_engine(url)
    with SQLiteLoggerWrapper(ScriptedEnv(episodes=SCRIPT), engine, "eng") as env:
        run_episodes(env, 2)
    with engine.connect() as conn:  # still usable
        assert conn.execute(sa.text("SELECT count(*) FROM episode")).scalar() == 2
    engine.dispose()


def test_pickled_copy_opens_its_own_connection(url: str) -> None:
    engine = sa.create_engine(url)
    original = SQLiteLoggerWrapper(ScriptedEnv(episodes=SCRIPT), engine, "p")
    run_episodes(original, 2)
    state = original._db.__getstate__()
    assert state["_engine"] is None
    assert state["_writer"] is None
    copy = pickle.loads(pickle.dumps(original))
    run_episodes(copy, 2)
    run_episodes(original, 1)
    assert (original.worker, copy.worker) == (0, 1)
    assert copy.experiment_id == original.experiment_id
    copy.close()
    original.close()
    engine.dispose()
    rows = read_episodes(url, "p")
    assert [(r["worker"], r["episode_num"]) for r in rows] == [
        (0, 0),
        (0, 1),
        (0, 2),
        (1, 0),
        (1, 1),
    ]
    # the copy's tracker came along: its returns continue the original's script
    assert [r["reward"] for r in rows if r["worker"] == 1] == [6.0, 2.0]


def test_flush_every_batches_commits(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'b.db'}"
    # without the journal: commits on the training thread, every 3 episodes
    # (with it, flush_every wakes the background commit: tests/test_journal.py)
    env = logged(url, flush_every=3, journal=False)
    run_episodes(env, 2)
    assert read_episodes(url) == []
    run_episodes(env, 1)
    assert len(read_episodes(url)) == 3
    run_episodes(env, 1)
    env.flush()
    assert len(read_episodes(url)) == 4
    run_episodes(env, 1)
    env.close()
    assert [r["episode_num"] for r in read_episodes(url)] == list(range(5))


def test_remote_backends_batch_by_default(tmp_path: Path) -> None:
    url = backend_url("postgresql", tmp_path)
    env = logged(url)
    run_episodes(env, REMOTE_FLUSH_EVERY - 1)
    assert read_episodes(url) == []
    run_episodes(env, 1)
    assert len(read_episodes(url)) == REMOTE_FLUSH_EVERY
    run_episodes(env, 2)
    env.close()
    assert len(read_episodes(url)) == REMOTE_FLUSH_EVERY + 2


def _break_table(url: str) -> None:
    query(url, "ALTER TABLE episode RENAME TO episode_away")


def _repair_table(url: str) -> None:
    query(url, "ALTER TABLE episode_away RENAME TO episode")


def test_failed_writes_are_kept_retried_and_never_duplicated(
    url: str, caplog: pytest.LogCaptureFixture
) -> None:
    env = logged(url, flush_every=1)
    run_episodes(env, 2)
    env.flush()  # the journal commits in the background: make it now
    _break_table(url)
    with caplog.at_level(logging.WARNING, logger="gymscope.metrics.writer"):
        run_episodes(env, 3)  # no exception reaches the training loop
        # (with the journal the background thread commits, 1 to 3 rows at a time)
        wanted = r"could not (write 1 finished|commit [123] journaled) episode"
        deadline = time.monotonic() + 60
        while not re.search(wanted, caplog.text) and time.monotonic() < deadline:
            time.sleep(0.01)
    assert re.search(wanted, caplog.text)
    _repair_table(url)
    env.flush()
    run_episodes(env, 1)
    env.close()
    rows = read_episodes(url, "run")
    assert [r["episode_num"] for r in rows] == list(range(6))
    assert [r["reward"] for r in rows] == [script_episode(i)[0] for i in range(6)]


def test_close_reports_episodes_it_cannot_write(url: str) -> None:
    env = logged(url, flush_every=1)
    run_episodes(env, 1)
    env.flush()
    _break_table(url)
    run_episodes(env, 2)
    with pytest.raises(EpisodeWriteError, match=r"2 finished episode\(s\) could not be written"):
        env.close()
    assert query(url, "SELECT * FROM gymscope_worker") == []  # the lease is given back


def test_postgres_connection_loss_is_survived(tmp_path: Path) -> None:
    url = backend_url("postgresql", tmp_path)
    env = logged(url, flush_every=1)
    run_episodes(env, 1)
    query(
        url,
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    run_episodes(env, 2)
    env.flush()
    env.close()
    assert [r["episode_num"] for r in read_episodes(url)] == [0, 1, 2]


# -- arguments -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"db": "sqlite:///"}, None, None),
        ({"db": "postgresql://u@h:port/x"}, ValueError, "not a valid SQLAlchemy URL"),
        ({"db": "missing/dir/m.db"}, ValueError, "does not exist"),
        ({"config": {"policy": object()}}, TypeError, "config must be JSON serialisable"),
        ({"info_keys": "t"}, TypeError, "single string 't'"),
        ({"info_keys": 3}, TypeError, "info_keys must be a sequence of str"),
        ({"info_keys": ("t", 1)}, TypeError, "non-empty str keys"),
        ({"experiment": ""}, ValueError, "experiment must be a non-empty name"),
        ({"experiment": 7}, TypeError, r"experiment must be a non-empty name .* got 7 \(int\)"),
        ({"agent": 3}, TypeError, "agent must be a str"),
        ({"worker": -1}, ValueError, "worker must be an int >= 0"),
        ({"worker": True}, TypeError, "worker must be an int"),
        ({"flush_every": 0}, ValueError, "flush_every must be an int >= 1"),
        ({"flush_every": 2.0}, TypeError, "flush_every must be an int"),
        ({"window_size": 0}, ValueError, "window_size must be an int >= 1"),
        ({"max_pending": 0}, ValueError, "max_pending must be an int >= 1"),
        ({"max_pending": 1.5}, TypeError, "max_pending must be an int"),
        ({"check_connection": 1}, TypeError, "check_connection must be True or False"),
    ],
)
def test_bad_arguments_fail_at_construction_and_write_nothing(
    kwargs: dict[str, Any], error: type[Exception] | None, match: str | None, tmp_path: Path
) -> None:
    if error is None:  # sqlite:/// (no file) is an in-memory database: allowed
        SQLiteLoggerWrapper(ScriptedEnv(), **kwargs).close()
        return
    with pytest.raises(error, match=match):
        SQLiteLoggerWrapper(ScriptedEnv(), **kwargs)
    assert list(tmp_path.iterdir()) == []


def test_unwritable_directory_fails_at_construction(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="cannot create files in directory"):
        SQLiteLoggerWrapper(ScriptedEnv(), unwritable_dir(tmp_path) / "m.db")


def _make_newer(url: str) -> None:
    get_db_engine(url).dispose()
    newer = SCHEMA_VERSION + 1
    query(url, f"UPDATE gymscope_schema SET version = {newer}, compatible_from = {newer}")


def test_newer_sqlite_database_is_refused_at_construction(tmp_path: Path) -> None:
    path = tmp_path / "newer.db"
    _make_newer(f"sqlite:///{path}")
    before = path.read_bytes()
    with pytest.raises(IncompatibleSchemaError, match="upgrade gymscope"):
        SQLiteLoggerWrapper(ScriptedEnv(), path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["newer.db"]


def test_newer_postgres_database_is_refused_when_the_stack_starts(tmp_path: Path) -> None:
    url = backend_url("postgresql", tmp_path)
    _make_newer(url)
    env = logged(url, env=ScriptedEnv(episodes=((1.0,),)))
    with pytest.raises(IncompatibleSchemaError, match="cannot use safely"):
        env.reset()
    env.reset()
    with pytest.raises(IncompatibleSchemaError, match="cannot use safely"):
        env.step(0)
    with pytest.raises(IncompatibleSchemaError):  # the episode is still waiting
        env.close()
    env.close()
    assert query(url, "SELECT count(*) FROM experiment") == [(0,)]


def test_constructor_arguments_are_recorded_for_gym_make() -> None:
    env = SQLiteLoggerWrapper(
        gym.make("CartPole-v1"), "m.db", "spec", agent="DQN", config={"lr": 1}, worker=2
    )
    assert env.spec is not None
    kwargs = env.spec.additional_wrappers[-1].kwargs
    assert kwargs == {
        "db": "m.db",
        "experiment": "spec",
        "agent": "DQN",
        "config": {"lr": 1},
        "window_size": 100,
        "info_keys": (),
        "worker": 2,
        "flush_every": None,
        "max_pending": 50_000,
        "check_connection": True,
        "journal": True,
    }
    assert env.db_url == f"sqlite:///{Path.cwd() / 'm.db'}"
    env.close()


# -- stacking ------------------------------------------------------------------------
@pytest.mark.parametrize("logger_inside", [True, False])
def test_stacked_with_the_stats_wrapper_rows_are_the_same(
    logger_inside: bool, tmp_path: Path
) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    base = ScriptedEnv(episodes=SCRIPT)
    if logger_inside:
        env: gym.Env[Any, Any] = EpisodeStatsWrapper(SQLiteLoggerWrapper(base, url, "s"))
    else:
        env = SQLiteLoggerWrapper(EpisodeStatsWrapper(base), url, "s")
    infos = []
    for _ in range(4):
        env.reset()
        done = False
        while not done:
            _, _, terminated, truncated, info = env.step(0)
            done = terminated or truncated
        infos.append(info["episode"])
    env.close()
    rows = read_episodes(url, "s")
    assert [(r["reward"], r["length"]) for r in rows] == [(i["r"], i["l"]) for i in infos]
    assert [r["reward_moving_avg"] for r in rows] == [i["r_mean"] for i in infos]


# -- import weight -------------------------------------------------------------------
def test_database_packages_load_only_when_a_logger_is_built() -> None:
    code = """
import sys
import gymscope.wrappers.sqlite_logger as m
print("sqlalchemy" in sys.modules, "sqlmodel" in sys.modules)
from stubs import ScriptedEnv
m.SQLiteLoggerWrapper(ScriptedEnv(), "m.db").close()
print("sqlalchemy" in sys.modules, "sqlmodel" in sys.modules)
"""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parent)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.split() == ["False", "False", "True", "True"]


def test_time_stamps_are_utc() -> None:
    assert utcnow().utcoffset() == dt.timedelta(0)
    assert abs(utcnow().timestamp() - time.time()) < 60

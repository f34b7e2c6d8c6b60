"""The SQLite insert path: time stamps as SQLAlchemy writes them, checkpoint sizing."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gymscope.metrics import get_db_engine
from gymscope.metrics.db import SQLITE_PAGE_SIZE
from gymscope.metrics.journal import CreatedAt
from gymscope.metrics.writer import WAL_AUTOCHECKPOINT_BYTES, _Reconnector
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv
from stubs_db import run_episodes


def _reference(timestamp: float) -> str:
    """What SQLAlchemy stores for the aware datetime of ``timestamp`` on SQLite."""
    moment = dt.datetime.fromtimestamp(timestamp, dt.timezone.utc)
    return moment.isoformat(" ", "microseconds")[:26]


def _created_at(state: CreatedAt, timestamp: float) -> str:
    return state(timestamp)


@settings(max_examples=300)
@given(
    start=st.floats(min_value=0.0, max_value=4e9, allow_nan=False),
    steps=st.lists(st.floats(min_value=0.0, max_value=2.0), max_size=20),
)
def test_created_at_text_equals_datetimes_for_any_time_stamps(
    start: float, steps: list[float]
) -> None:
    state = CreatedAt()  # the cache the writer keeps
    timestamp = start
    for step in [0.0, *steps]:
        timestamp += step
        assert _created_at(state, timestamp) == _reference(timestamp)


@pytest.mark.parametrize(
    "timestamp",
    [0.0, 1.0, 1_700_000_000.9999996, 1_700_000_000.0000004, 1_700_000_000.5, 2**31 + 0.25],
)
def test_created_at_rounds_like_datetime_at_the_edges(timestamp: float) -> None:
    state = CreatedAt()
    first = _created_at(state, timestamp)
    again = _created_at(state, timestamp)  # second call: from the cached prefix
    assert first == again == _reference(timestamp)


def test_new_files_get_small_pages_and_old_files_keep_theirs(tmp_path: Path) -> None:
    get_db_engine(tmp_path / "new.db").dispose()
    old = tmp_path / "old.db"
    with sqlite3.connect(old) as db:  # an empty file with SQLite's default page size
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("DROP TABLE notes")
    db.close()
    get_db_engine(old).dispose()
    for path, size in ((tmp_path / "new.db", SQLITE_PAGE_SIZE), (old, 4096)):
        with sqlite3.connect(path) as db:
            assert db.execute("PRAGMA page_size").fetchone() == (size,)
            assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        db.close()


@pytest.mark.parametrize("page_size", [SQLITE_PAGE_SIZE, 4096])
def test_checkpoint_limit_is_a_wal_size_whatever_the_page_size(
    page_size: int, tmp_path: Path
) -> None:
    path = tmp_path / "m.db"
    with sqlite3.connect(path) as db:
        db.execute(f"PRAGMA page_size = {page_size}")
        db.execute("CREATE TABLE notes (text TEXT)")
        db.execute("DROP TABLE notes")
    db.close()
    env = SQLiteLoggerWrapper(ScriptedEnv(), path, experiment="run")
    run_episodes(env, 1)
    writer = env._db._writer
    assert writer is not None
    (pages,) = writer.conn.exec_driver_sql("PRAGMA wal_autocheckpoint").one()
    assert pages * page_size == WAL_AUTOCHECKPOINT_BYTES
    env.close()


# -- reconnecting --------------------------------------------------------------------
def _blocking_engine(path: Path) -> tuple[Any, threading.Event, list[sqlite3.Connection]]:
    """An engine whose connects wait for ``go``; the DBAPI connections it made."""
    import sqlalchemy as sa

    go, made = threading.Event(), []

    def connect() -> sqlite3.Connection:
        go.wait(30)
        made.append(sqlite3.connect(path, check_same_thread=False))
        return made[-1]

    return sa.create_engine("sqlite://", creator=connect), go, made


def _is_closed(conn: sqlite3.Connection) -> bool:
    try:
        conn.execute("SELECT 1")
    except sqlite3.ProgrammingError:
        return True
    return False


def test_a_reconnect_that_lands_after_stop_is_closed_not_pooled(tmp_path: Path) -> None:
    # The writer gave up (release) while its reconnect thread was connecting,
    # and its engine was disposed of: the late connection must be closed by
    # the thread, not returned to a pool nobody disposes of again (psycopg
    # warned "deleted while still open" when the garbage collector found it).
    engine, go, made = _blocking_engine(tmp_path / "r.db")
    reconnector = _Reconnector(engine)
    reconnector.stop()
    engine.dispose()
    go.set()
    reconnector.thread.join(30)
    assert len(made) == 1
    assert _is_closed(made[0])
    assert reconnector.take() is None


def test_a_reconnect_nobody_took_is_closed_at_stop(tmp_path: Path) -> None:
    engine, go, made = _blocking_engine(tmp_path / "r.db")
    go.set()
    reconnector = _Reconnector(engine)
    reconnector.thread.join(30)
    assert reconnector.connection is not None
    reconnector.stop()
    assert len(made) == 1
    assert _is_closed(made[0])
    engine.dispose()


def test_a_taken_reconnect_stays_open(tmp_path: Path) -> None:
    engine, go, _ = _blocking_engine(tmp_path / "r.db")
    go.set()
    reconnector = _Reconnector(engine)
    reconnector.thread.join(30)
    conn = reconnector.take()
    reconnector.stop()
    assert conn is not None
    assert conn.exec_driver_sql("SELECT 7").scalar() == 7
    conn.close()
    engine.dispose()

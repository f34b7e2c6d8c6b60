"""A database server misconfigured or away: fail fast, or buffer and lose nothing.

A server that cannot be used as configured (wrong host, port, user,
password, database) is one clear error when the writer is built; a server
that goes away after the first connection (stopped and restarted) is an
outage the writers wait out: episodes and step-keyed metrics stay in memory,
are retried with backoff, and are each stored once when it is back; a
bounded buffer drops the newest with one warning. These tests run a
PostgreSQL server of their own (they stop and restart it), on loopback, with
password authentication for the role ``writer``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from itertools import count
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import sqlalchemy as sa

from gymscope.errors import DatabaseUnreachableError
from gymscope.sinks.database import DatabaseSink
from gymscope.vector import SQLiteLoggerWrapper as VectorSQLiteLoggerWrapper
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv
from stubs_db import SCRIPT, PostgresServer, postgres_bindir, query, read_episodes, run_episodes

PASSWORD = "s3cret-Pw"
_names = count()


@pytest.fixture(scope="module")
def server() -> Iterator[PostgresServer]:
    pg = PostgresServer(postgres_bindir(), hba=["host all writer 127.0.0.1/32 scram-sha-256"])
    try:
        pg.start()
        pg.execute(f"CREATE ROLE writer LOGIN PASSWORD '{PASSWORD}'")
        yield pg
    finally:
        pg.stop()


@pytest.fixture
def pg(server: PostgresServer) -> Iterator[PostgresServer]:
    """The module's server, running (a test that stopped it has it started again)."""
    if not server.running:
        server.resume()
    yield server
    if not server.running:
        server.resume()


def writer_url(pg: PostgresServer, *, password: str = PASSWORD, **parts: Any) -> sa.URL:
    """A fresh database owned by ``writer``; its URL with the password (or ``parts``)."""
    name = f"outage{next(_names)}"
    pg.execute(f'CREATE DATABASE "{name}" OWNER writer')
    url = sa.URL.create(
        "postgresql+psycopg",
        username="writer",
        password=password,
        host="127.0.0.1",
        port=pg.port,
        database=name,
    )
    return url.set(**parts)


def tables(pg: PostgresServer, database: str) -> list[tuple[Any, ...]]:
    return pg.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'",
        database,
    )


def stored(url: sa.URL) -> list[tuple[int, float, int]]:
    """(episode_num, reward, length) of every stored episode of worker 0."""
    rows = read_episodes(url)
    assert {r["worker"] for r in rows} <= {0}
    return [(r["episode_num"], r["reward"], r["length"]) for r in rows]


def expected(numbers: list[int]) -> list[tuple[int, float, int]]:
    return [(i, float(sum(SCRIPT[i % 4])), len(SCRIPT[i % 4])) for i in numbers]


# -- misconfiguration ----------------------------------------------------------------
MISCONFIGURED = {
    # name: (changes to the URL, start of the cause in the message, the fix's words)
    "wrong password": ({"password": "wrong-Pw"}, "the server refused the user name or password",
                       "check the user and password"),
    "missing database": ({"database": "no_such_db"}, "the database does not exist on that server",
                         "create it first"),
    "unknown user": ({"username": "nobody"}, "the server has no such user", "CREATE ROLE"),
    "wrong port": ({"port": 1}, "nothing listens on that host and port", "listen_addresses"),
    "unknown host": ({"host": "no-such-host.invalid"}, "the host name does not resolve",
                     "check the host name"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(MISCONFIGURED))
@pytest.mark.parametrize("built", ["wrapper", "sink", "vector"])
def test_misconfiguration_is_one_clear_error_at_construction(
    pg: PostgresServer, case: str, built: str
) -> None:
    changes, cause, fix = MISCONFIGURED[case]
    good = writer_url(pg)
    url = good.set(**changes)
    build = {
        "wrapper": lambda: SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "run"),
        "sink": lambda: DatabaseSink(url, "run"),
        "vector": lambda: VectorSQLiteLoggerWrapper(
            gym.vector.SyncVectorEnv([ScriptedEnv, ScriptedEnv]), url, "run"
        ),
    }[built]
    with pytest.raises(DatabaseUnreachableError) as caught:
        build()
    message = str(caught.value)
    shown = url.render_as_string(hide_password=True)
    assert message.startswith(f"db={shown!r}: cannot connect to the database server: {cause} (")
    assert fix in message
    assert PASSWORD not in message and "wrong-Pw" not in message and "***" in message
    assert isinstance(caught.value, ConnectionError)
    assert tables(pg, str(good.database)) == []  # nothing was created


def test_a_given_engine_is_checked_at_the_first_reset(pg: PostgresServer) -> None:
    url = writer_url(pg, password="wrong-Pw")
    engine = sa.create_engine(url)
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), engine, "run")  # nothing is opened yet
    with pytest.raises(DatabaseUnreachableError, match="refused the user name or password"):
        env.reset()
    env.close()
    engine.dispose()


def test_async_vector_env_reports_it_before_any_worker_starts(pg: PostgresServer) -> None:
    url = writer_url(pg, database="no_such_db")

    def make() -> gym.Env[Any, Any]:
        return SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "run")

    # gymnasium builds one env in this process first (for the spaces): it fails there
    with pytest.raises(DatabaseUnreachableError, match="the database does not exist"):
        gym.vector.AsyncVectorEnv([make, make])


def test_a_server_not_up_yet_is_waited_for_with_check_connection_false(
    pg: PostgresServer,
) -> None:
    url = writer_url(pg)
    pg.pause()
    env = SQLiteLoggerWrapper(
        ScriptedEnv(SCRIPT), url, "run", flush_every=1, check_connection=False
    )
    run_episodes(env, 3)  # the first reset cannot open it: kept, no exception
    pg.resume()
    env.close()
    assert stored(url) == expected([0, 1, 2])


# -- outages -------------------------------------------------------------------------
def _attempts(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "gymscope.metrics.writer" and "attempt" in r.getMessage()
    ]


@pytest.mark.parametrize("flush_every", [1, 4])
def test_a_server_restart_mid_run_loses_nothing(
    pg: PostgresServer, flush_every: int, caplog: pytest.LogCaptureFixture
) -> None:
    url = writer_url(pg)
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "run", flush_every=flush_every)
    run_episodes(env, 4)
    assert len(stored(url)) == 4
    pg.pause()
    with caplog.at_level(logging.DEBUG, logger="gymscope.metrics.writer"):
        run_episodes(env, 6)  # no exception reaches the training loop
        env.log_metrics(step=10, loss=0.5)
        env.log_metrics(step=20, loss=0.25)
        # Within the backoff (0.5 s after the first failure) nothing is tried:
        # one failed attempt, however many episodes ended.
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == 1 and "keeping them in memory" in warned[0]
        assert not any("write attempt" in m for m in _attempts(caplog))
        pg.resume()
        # A background thread reconnects; the next episode end after that writes
        # everything buffered, with no flush() (a kill then loses nothing more).
        played = 10
        deadline = time.monotonic() + 30
        while len(stored(url)) < 10:
            assert time.monotonic() < deadline, "the buffered episodes were never written"
            run_episodes(env, 1)
            played += 1
            time.sleep(0.05)
    assert "buffered episode(s)" in " ".join(_attempts(caplog))
    env.close()
    assert stored(url) == expected(list(range(played)))
    metrics = query(url, "SELECT worker, name, step, value FROM gymscope_metric ORDER BY step")
    assert metrics == [(0, "loss", 10, 0.5), (0, "loss", 20, 0.25)]


def test_flush_in_an_outage_raises_and_keeps_the_episodes_close_reports_them(
    pg: PostgresServer,
) -> None:
    from gymscope.errors import EpisodeWriteError

    url = writer_url(pg)
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "run", flush_every=1)
    run_episodes(env, 2)
    pg.pause()
    run_episodes(env, 3)
    with pytest.raises(EpisodeWriteError, match=r"^3 finished episode\(s\) could not be written"):
        env.flush()  # kept: a training script can wait the outage out here
    pg.resume()
    env.flush()
    assert stored(url) == expected(list(range(5)))
    pg.pause()
    run_episodes(env, 1)
    with pytest.raises(EpisodeWriteError, match=r"^1 finished episode\(s\) could not be written"):
        env.close()  # the last word: what is still not written is reported lost
    pg.resume()
    assert stored(url) == expected(list(range(5)))


def test_an_outage_longer_than_the_buffer_drops_the_newest_with_one_warning(
    pg: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = writer_url(pg)
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "run", flush_every=1, max_pending=3)
    run_episodes(env, 2)
    pg.pause()
    with pytest.warns(RuntimeWarning, match=r"max_pending=3 finished episodes") as caught:
        run_episodes(env, 7)  # 3 kept, 4 dropped
    assert len(caught) == 1
    pg.resume()
    with caplog.at_level(logging.WARNING, logger="gymscope.metrics.writer"):
        env.flush()
    assert "during the outage 4 finished episode(s) were dropped (max_pending=3)" in caplog.text
    run_episodes(env, 1)
    env.close()
    # the dropped episodes' numbers stay unused: the gap shows in the run
    assert stored(url) == expected([0, 1, 2, 3, 4, 9])


def test_the_buffer_before_the_first_connection_is_bounded_too(
    pg: PostgresServer, caplog: pytest.LogCaptureFixture
) -> None:
    url = writer_url(pg)
    pg.pause()
    env = SQLiteLoggerWrapper(
        ScriptedEnv(SCRIPT), url, "run", flush_every=1, max_pending=2, check_connection=False
    )
    with pytest.warns(RuntimeWarning, match=r"max_pending=2 finished episodes") as caught:
        run_episodes(env, 5)  # never connected yet: 2 kept, 3 dropped
    assert len(caught) == 1
    pg.resume()
    with caplog.at_level(logging.WARNING, logger="gymscope.metrics.writer"):
        env.flush()
    assert "during the outage 3 finished episode(s) were dropped (max_pending=2)" in caplog.text
    run_episodes(env, 1)
    env.close()
    assert stored(url) == expected([0, 1, 5])


def test_a_retried_commit_that_had_gone_through_is_not_stored_twice(
    pg: PostgresServer,
) -> None:
    """The answer to a COMMIT lost with the connection: the rows are in, the
    writer does not know and writes them again; ON CONFLICT DO NOTHING."""
    import psycopg

    url = writer_url(pg)
    engine = sa.create_engine(url)
    armed: list[bool] = []
    lost: list[str] = []

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _lose_the_answer(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement == "COMMIT" and armed:
            armed.clear()
            lost.append(statement)
            raise psycopg.OperationalError("server closed the connection unexpectedly")

    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), engine, "run", flush_every=2)
    run_episodes(env, 1)
    armed.append(True)  # the next COMMIT (episodes 0 and 1) "fails" after it committed
    run_episodes(env, 1)
    assert lost == ["COMMIT"] and stored(url) == expected([0, 1])
    run_episodes(env, 2)
    env.close()
    assert stored(url) == expected([0, 1, 2, 3])
    engine.dispose()


def test_vector_sub_envs_wait_out_a_restart(pg: PostgresServer) -> None:
    url = writer_url(pg)
    envs = VectorSQLiteLoggerWrapper(
        gym.vector.SyncVectorEnv([ScriptedEnv, ScriptedEnv]), url, "run", flush_every=1
    )  # episodes of 3 steps and a reset step: 8 per sub-env in 32 steps
    envs.reset()
    actions = np.zeros(2, dtype=np.int64)
    for _ in range(16):
        envs.step(actions)
    pg.pause()
    for _ in range(16):
        envs.step(actions)
    pg.resume()
    envs.close()
    rows = read_episodes(url)
    for worker in (0, 1):
        mine = [(r["episode_num"], r["reward"]) for r in rows if r["worker"] == worker]
        assert mine == [(i, 3.0) for i in range(8)]

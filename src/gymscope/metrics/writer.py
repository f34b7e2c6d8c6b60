"""The insert path: EpisodeRecords to ``episode`` rows, cheaply and without loss.

Two writers share one policy (:class:`EpisodeWriter`):

- :class:`SQLiteEpisodeWriter` hands a prepared ``INSERT`` and a plain tuple
  to the sqlite3 connection behind the engine: about the cost of raw
  ``sqlite3`` (no ORM object, no SQLAlchemy statement per row). With
  ``flush_every=1`` every row is its own autocommit transaction, durable
  against the process being killed as soon as ``step()`` returns (WAL).
- :class:`CoreEpisodeWriter` (every other backend, e.g. PostgreSQL) sends
  batches of rows as one SQLAlchemy Core ``executemany`` in one transaction.

Rows wait in memory until ``flush_every`` of them are there (then one
transaction writes them all) or until :meth:`EpisodeWriter.flush`. A failed
write (database locked past the busy timeout, server unreachable, disk full)
never interrupts the run: the rows stay in memory in order, a warning is
logged once, and the write is retried with exponential backoff at later
episode ends. :meth:`EpisodeWriter.flush`
raises :class:`EpisodeWriteError` if rows still cannot be written. Inserts use
``ON CONFLICT DO NOTHING`` on the unique ``(experiment_id, worker,
episode_num)``, so retrying a batch that did commit (a commit whose answer
was lost with the connection) cannot duplicate rows.

What waits in memory is bounded: at most ``max_pending`` episodes (default
:data:`MAX_PENDING`) and as many metric values per writer. An outage that
outlasts the buffer drops the newest episodes, with one warning when it
starts and the number dropped logged when the database is back (and in
the error ``flush()`` raises); their ``episode_num`` values stay unused, so
the gap shows in the run.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import sqlite3
import struct
import threading
import time
import warnings
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Connection, Engine

from gymscope._retry import Backoff
from gymscope.episode import EpisodeRecord
from gymscope.errors import ArgumentTypeError, EpisodeWriteError
from gymscope.metrics.codec import (
    COLUMNS,
    FLOAT_COLUMNS,
    LOSS_COLUMNS,
    NO_LOSSES,
    episode_extra,
    nan_to_none,
    needs_extra,
    record_losses,
    row_values,
)
from gymscope.metrics.db import autocommit_connection, write_transaction
from gymscope.metrics.journal import (
    CreatedAt,
    Flusher,
    Journal,
    Segment,
    compact_episode,
    frame,
    join_flusher,
    next_sequence,
    row_body,
)
from gymscope.metrics.models import Episode, metric
from gymscope.metrics.runs import HEARTBEAT_S, heartbeat, release_worker

__all__ = [
    "COLUMNS",
    "LOSS_COLUMNS",
    "MAX_PENDING",
    "WAL_AUTOCHECKPOINT_BYTES",
    "CoreEpisodeWriter",
    "EpisodeWriteError",
    "EpisodeWriter",
    "JournaledSQLiteWriter",
    "Overflow",
    "SQLiteEpisodeWriter",
    "episode_extra",
    "metric_rows",
]


def metric_rows(
    experiment_id: int,
    worker: int | None,
    step: int,
    values: Mapping[str, float],
    wall_time: float,
) -> list[dict[str, Any]]:
    """Rows of ``gymscope_metric`` for one report (a NaN value is stored NULL)."""
    return [
        {
            "experiment_id": experiment_id,
            "worker": worker,
            "name": name,
            "step": step,
            "value": None if value != value else float(value),
            "wall_time": wall_time if math.isfinite(wall_time) else time.time(),
        }
        for name, value in values.items()
    ]


logger = logging.getLogger(__name__)

#: Size the WAL reaches before the committing writer checkpoints it (SQLite's
#: default: 1000 pages, 1-4 MB). See SQLiteEpisodeWriter for why it is larger.
WAL_AUTOCHECKPOINT_BYTES = 32 * 1024 * 1024
_SQLITE_DEFAULT_AUTOCHECKPOINT = 1000

_UTC = dt.timezone.utc
_fromtimestamp = dt.datetime.fromtimestamp

#: Default ``max_pending``: finished episodes (and metric values) one worker
#: keeps in memory while the database cannot be written, a few tens of MB.
MAX_PENDING = 50_000


class Overflow:
    """What a full buffer dropped during one outage: one warning when dropping
    starts, the count logged when the database is back.

    >>> import warnings
    >>> overflow = Overflow("sqlite:///m.db", limit=2)
    >>> with warnings.catch_warnings(record=True) as caught:
    ...     warnings.simplefilter("always")
    ...     overflow.drop(episodes=1)
    ...     overflow.drop(episodes=1, metrics=3)
    >>> len(caught), overflow.episodes, overflow.metrics, overflow.describe()
    (1, 2, 3, '2 finished episode(s) and 3 metric value(s) were dropped (max_pending=2)')
    >>> overflow.recovered(); overflow.episodes
    0
    """

    __slots__ = ("episodes", "limit", "metrics", "warned", "where")

    def __init__(self, where: str, limit: int) -> None:
        self.where = where
        self.limit = limit
        self.episodes = 0
        self.metrics = 0
        self.warned = False

    def drop(self, *, episodes: int = 0, metrics: int = 0) -> None:
        """Count what could not be kept; warn at the first drop of the outage."""
        self.episodes += episodes
        self.metrics += metrics
        if self.warned:
            return
        self.warned = True
        warnings.warn(
            f"the metrics database {self.where} still cannot be written and "
            f"max_pending={self.limit} finished episodes (or metric values) already wait "
            "in memory: newer ones are dropped until it can be written again. How many "
            "were dropped is logged then, and at close(); raise max_pending to keep more",
            RuntimeWarning,
            stacklevel=4,
        )

    def describe(self) -> str:
        """What was dropped, as a clause ('' when nothing was)."""
        if not (self.episodes or self.metrics):
            return ""
        parts = [f"{self.episodes} finished episode(s)"] if self.episodes else []
        parts += [f"{self.metrics} metric value(s)"] if self.metrics else []
        return f"{' and '.join(parts)} were dropped (max_pending={self.limit})"

    def recovered(self) -> None:
        """The database takes writes again: log what was lost, start afresh."""
        if self.episodes or self.metrics:
            logger.warning("%s is written again; during the outage %s", self.where, self.describe())
        self.episodes = self.metrics = 0
        self.warned = False


class EpisodeWriter(ABC):
    """Buffers rows of one (experiment, worker) and writes them in transactions.

    Args:
        conn: An autocommit connection (``write_transaction`` delimits writes).
        engine: The engine ``conn`` came from (to reconnect after a failure).
        experiment_id: The experiment the rows belong to.
        worker: The worker number leased for these rows.
        next_num: ``episode_num`` of the first row.
        flush_every: Rows per transaction (1: one commit per episode).
        where: How to name the database in messages.
        token: The worker lease's token (heartbeats refresh it).
        max_pending: Episodes (and metric values) kept in memory while writes
            fail; newer ones are then dropped.
        overflow: Counts what was dropped (shared with the sink that queued
            episodes before the writer existed); a new one by default.
    """

    def __init__(
        self,
        conn: Connection,
        engine: Engine,
        *,
        experiment_id: int,
        worker: int,
        next_num: int,
        flush_every: int,
        where: str,
        token: str | None = None,
        max_pending: int = MAX_PENDING,
        overflow: Overflow | None = None,
    ) -> None:
        self.conn = conn
        self.engine = engine
        self.experiment_id = experiment_id
        self.worker = worker
        self.next_num = next_num
        self.flush_every = flush_every
        self.where = where
        self.written = 0
        self.token = token
        self._pending: list[Any] = []
        self._pending_metrics: list[Any] = []  # dicts (tuples in JournaledSQLiteWriter)
        self._backoff = Backoff()
        self._next_heartbeat = time.monotonic() + HEARTBEAT_S
        self.max_pending = max_pending
        self.overflow = overflow if overflow is not None else Overflow(where, max_pending)
        self._sync = False  # inside flush(): an attempt may wait for a connection

    @property
    def pending(self) -> int:
        """Rows built but not yet committed."""
        return len(self._pending)

    # -- per episode -----------------------------------------------------------------
    def add(self, record: EpisodeRecord) -> None:
        """Queue (and, per ``flush_every``, commit) the row of ``record``. Never raises
        for a database error: the rows are kept and retried later."""
        if self._backoff.failures and len(self._pending) >= self.max_pending:
            self.skip(1)  # the outage outlasts the buffer
        else:
            self._pending.append(self._row(record, self.next_num))
            self.next_num += 1
            if len(self._pending) < self.flush_every:
                return
        if self._may_retry():
            self._try_flush()

    def skip(self, episodes: int) -> None:
        """Count ``episodes`` dropped (their numbers stay unused)."""
        self.next_num += episodes
        self.overflow.drop(episodes=episodes)

    def add_metrics(self, step: int, values: Mapping[str, float], wall_time: float) -> None:
        """Store step-keyed metrics of this worker: written at once in one
        transaction (with the episode rows waiting, if any). Never raises for
        a database error: they are kept and retried with the episodes."""
        rows = metric_rows(self.experiment_id, self.worker, step, values, wall_time)
        if self._backoff.failures and len(self._pending_metrics) + len(rows) > self.max_pending:
            self.overflow.drop(metrics=len(rows))
        else:
            self._pending_metrics.extend(rows)
        if self._may_retry():
            self._try_flush()

    def _may_retry(self) -> bool:
        """Whether a write may be attempted now (always, unless failing)."""
        return self._backoff.ready()

    def _try_flush(self) -> None:
        try:
            self._flush_pending()
        except self._errors() as exc:
            self._failed(exc)

    def flush(self) -> None:
        """Commit every queued row now.

        Raises:
            EpisodeWriteError: the database still refuses them (they stay queued).
        """
        if not self._pending and not self._pending_metrics:
            return
        self._sync = True
        try:
            self._flush_pending()
        except self._errors() as exc:
            self._failed(exc)
            metrics = len(self._pending_metrics)
            also = f" and {metrics} metric value(s)" if metrics else ""
            dropped = self.overflow.describe()
            raise EpisodeWriteError(
                f"{len(self._pending)} finished episode(s){also} could not be written to "
                f"{self.where}: {exc}" + (f"; {dropped} while it could not" if dropped else "")
            ) from exc
        finally:
            self._sync = False

    def _flush_pending(self) -> None:
        rows, metrics = self._pending, self._pending_metrics
        done = not rows
        try:
            # Detached first: if an interrupt lands after the commit, the rows are
            # not written twice; if it lands before, the except puts them back.
            self._pending, self._pending_metrics = [], []
            if rows:
                self._write(rows)
                done = True
                self.written += len(rows)
            if metrics:
                self._write_metrics(metrics)
        except BaseException:
            if not done:
                self._pending = rows + self._pending
            self._pending_metrics = metrics + self._pending_metrics
            raise
        failures = self._backoff.succeeded() if self._backoff.failures else 0
        if failures:
            logger.warning(
                "wrote %d buffered episode(s) to %s after %d failed attempt(s)",
                len(rows),
                self.where,
                failures,
            )
        if self.overflow.warned:
            self.overflow.recovered()
        self._beat()

    def _write_metrics(self, metrics: list[dict[str, Any]]) -> None:
        conn = self._metrics_connection()
        with write_transaction(conn):
            conn.execute(metric.insert(), metrics)

    def _metrics_connection(self) -> Connection:
        return self.conn

    def _beat(self) -> None:
        """Refresh the lease's heartbeat, at most every HEARTBEAT_S (best effort)."""
        if self.token is None or time.monotonic() < self._next_heartbeat:
            return
        self._next_heartbeat = time.monotonic() + HEARTBEAT_S
        try:
            heartbeat(self._metrics_connection(), self.token)
        except Exception as exc:
            logger.debug("heartbeat failed: %s", exc)

    def _failed(self, exc: BaseException) -> None:
        failures = self._backoff.failed()
        if failures == 1:
            logger.warning(
                "could not write %d finished episode(s) to %s (%s); keeping them in memory "
                "and retrying at later episode ends",
                len(self._pending),
                self.where,
                exc,
            )
        else:
            logger.debug("write attempt %d to %s failed: %s", failures, self.where, exc)
        self._after_failure()

    def release(self, token: str) -> None:
        """Give up the worker lease held under ``token`` and close the connection.

        Best effort and without flushing: call :meth:`flush` first. A lease
        that cannot be deleted is taken over once this process has ended.
        """
        try:
            if self._broken_connection():
                self.conn = autocommit_connection(self.engine)
            release_worker(self.conn, token)
        except Exception as exc:
            logger.debug("could not release worker lease: %s", exc)
        try:
            self.conn.close()
        except Exception:
            logger.debug("closing the connection failed", exc_info=True)

    def _broken_connection(self) -> bool:
        return False

    # -- per backend -----------------------------------------------------------------
    @abstractmethod
    def _row(self, record: EpisodeRecord, episode_num: int) -> Any:
        """The row for ``record`` in the form ``_write`` takes."""

    @abstractmethod
    def _write(self, rows: list[Any]) -> None:
        """Commit ``rows`` in one transaction (or raise, with nothing committed)."""

    @abstractmethod
    def _errors(self) -> tuple[type[BaseException], ...]:
        """The exceptions that mean "the database refused this write"."""

    def _after_failure(self) -> None:  # noqa: B027 (optional hook, no-op by default)
        """Prepare the next attempt (e.g. drop a broken connection)."""


class SQLiteEpisodeWriter(EpisodeWriter):
    """Rows as tuples through the sqlite3 connection behind ``conn``."""

    def __init__(self, conn: Connection, engine: Engine, **kwargs: Any) -> None:
        super().__init__(conn, engine, **kwargs)
        dbapi = conn.connection.driver_connection
        if not isinstance(dbapi, sqlite3.Connection):
            raise ArgumentTypeError(
                f"SQLiteEpisodeWriter needs the sqlite3 driver, got {type(dbapi).__name__}"
            )
        # Autocommit at the driver level (the connection was opened with
        # isolation_level="AUTOCOMMIT"): a lone INSERT is its own transaction.
        self._db = dbapi
        self._cursor = dbapi.cursor()
        # Each commit appends every B-tree page it touched (four: the table and
        # its three indexes, ~4 KB with gymscope's 1 KB pages) to the WAL. A
        # checkpoint runs on the training thread inside the commit that crosses
        # the limit and costs three fsyncs (WAL, database, new WAL header) plus
        # the bytes written since the last one. SQLite's default limit would
        # checkpoint every ~250 episodes; at 32 MB it is every ~8000, so the
        # fixed part (milliseconds each, tens when the disk is busy) all but
        # vanishes per episode and hot pages are copied once.
        page_size = self._cursor.execute("PRAGMA page_size").fetchone()[0]
        self._cursor.execute(
            f"PRAGMA wal_autocheckpoint = {max(1, WAL_AUTOCHECKPOINT_BYTES // page_size)}"
        )
        self._created_at = CreatedAt()
        columns = ", ".join(COLUMNS)
        marks = ", ".join("?" * len(COLUMNS))
        self._sql = f"INSERT INTO episode ({columns}) VALUES ({marks}) ON CONFLICT DO NOTHING"

    def _row(self, record: EpisodeRecord, episode_num: int) -> tuple[Any, ...]:
        metrics = record.metrics
        losses = record_losses(record) if metrics else NO_LOSSES
        extra = None
        mean, std = record.moving_mean, record.moving_std
        # The usual episode (no info, no metrics, finite) skips the full test.
        if (record.info or metrics or record.nonfinite or mean != mean or std != std) and (
            needs_extra(record)
        ):
            obj = episode_extra(record, losses)
            if obj is not None:
                extra = json.dumps(obj, allow_nan=False)
        # NaN floats need no conversion: SQLite stores them as NULL.
        return row_values(
            record,
            experiment_id=self.experiment_id,
            episode_num=episode_num,
            worker=self.worker,
            losses=losses,
            created_at=self._created_at(record.ended_at),
            extra=extra,
        )

    def add(self, record: EpisodeRecord) -> None:
        if self.flush_every != 1 or self._pending or self._pending_metrics:
            super().add(record)
            return
        # Fast path: one autocommit INSERT per episode.
        row = self._row(record, self.next_num)
        self.next_num += 1
        try:
            self._cursor.execute(self._sql, row)
        except sqlite3.Error as exc:
            self._pending.append(row)
            self._failed(exc)
            return
        self.written += 1
        if self.overflow.warned:  # the first write after an outage that dropped some
            self.overflow.recovered()
        if self.token is not None and time.monotonic() >= self._next_heartbeat:
            self._beat()

    def _write(self, rows: list[Any]) -> None:
        if len(rows) == 1:
            self._cursor.execute(self._sql, rows[0])
            return
        cursor = self._cursor
        cursor.execute("BEGIN IMMEDIATE")
        try:
            cursor.executemany(self._sql, rows)
            cursor.execute("COMMIT")
        except BaseException:
            if self._db.in_transaction:
                self._db.rollback()
            raise

    def _errors(self) -> tuple[type[BaseException], ...]:
        return (sqlite3.Error,)

    def release(self, token: str) -> None:
        try:  # the connection goes back to the engine's pool: leave it as found
            self._cursor.execute(f"PRAGMA wal_autocheckpoint = {_SQLITE_DEFAULT_AUTOCHECKPOINT}")
        except sqlite3.Error:
            logger.debug("could not reset wal_autocheckpoint", exc_info=True)
        super().release(token)


class CoreEpisodeWriter(EpisodeWriter):
    """Rows as dicts through SQLAlchemy Core; any backend SQLAlchemy supports."""

    def __init__(self, conn: Connection, engine: Engine, **kwargs: Any) -> None:
        super().__init__(conn, engine, **kwargs)
        table = Episode.__table__  # type: ignore[attr-defined]
        backend = engine.dialect.name
        statement: Any
        if backend == "postgresql":
            statement = postgresql.insert(table).on_conflict_do_nothing()
        elif backend == "sqlite":
            statement = sqlite_dialect.insert(table).on_conflict_do_nothing()
        else:
            statement = sa.insert(table)
        self._statement = statement
        self._broken = False
        self._reconnector: _Reconnector | None = None

    def _row(self, record: EpisodeRecord, episode_num: int) -> dict[str, Any]:
        losses = record_losses(record)
        extra = episode_extra(record, losses) if needs_extra(record) else None
        values = row_values(
            record,
            experiment_id=self.experiment_id,
            episode_num=episode_num,
            worker=self.worker,
            losses=losses,
            created_at=_fromtimestamp(record.ended_at, _UTC),
            extra=extra,
        )
        return {
            name: nan_to_none(value) if i in FLOAT_COLUMNS else value
            for i, (name, value) in enumerate(zip(COLUMNS, values, strict=True))
        }

    def _connection(self) -> Connection:
        """The open connection; after a failure, the one the reconnector opened.

        Outside :meth:`flush`, a connection that is not there yet is a failed
        attempt at once (the training thread never waits for a connect); in
        ``flush()`` it is opened here (waiting at most the connect timeout).
        """
        if not self._broken:
            return self.conn
        reconnector, conn = self._reconnector, None
        if reconnector is not None:
            conn = reconnector.take()
            if conn is None and not self._sync:
                raise sa.exc.DisconnectionError(
                    f"not connected again yet ({reconnector.error or 'connecting'})"
                )
            reconnector.stop()
            self._reconnector = None
        self.conn = conn if conn is not None else autocommit_connection(self.engine)
        self._broken = False
        return self.conn

    def _may_retry(self) -> bool:
        reconnector = self._reconnector
        return self._backoff.ready() or (
            reconnector is not None and reconnector.connection is not None
        )

    def _write(self, rows: list[Any]) -> None:
        conn = self._connection()
        conn.exec_driver_sql("BEGIN")
        try:
            conn.execute(self._statement, rows)
            conn.exec_driver_sql("COMMIT")
        except BaseException:
            try:
                conn.exec_driver_sql("ROLLBACK")
            except Exception:
                logger.debug("ROLLBACK failed", exc_info=True)
            raise

    def _errors(self) -> tuple[type[BaseException], ...]:
        dbapi_error = getattr(self.engine.dialect.loaded_dbapi, "Error", sa.exc.SQLAlchemyError)
        return (sa.exc.SQLAlchemyError, dbapi_error)

    def _broken_connection(self) -> bool:
        return self._broken

    def _metrics_connection(self) -> Connection:
        return self._connection()

    def _after_failure(self) -> None:
        # The server may have dropped the connection: the next attempt needs a
        # fresh one, which a background thread opens (a connect can take up to
        # the connect timeout when the network is cut).
        if not self._broken:
            try:
                self.conn.close()
            except Exception:
                logger.debug("closing a failed connection failed", exc_info=True)
            self._broken = True
        if self._reconnector is None:
            self._reconnector = _Reconnector(self.engine)

    def release(self, token: str) -> None:
        if self._reconnector is not None:
            conn = self._reconnector.take()
            self._reconnector.stop()
            self._reconnector = None
            if conn is not None:
                self.conn, self._broken = conn, False
        super().release(token)


#: Longest pause between two reconnection attempts of a writer whose server is away.
RECONNECT_MAX_S = 5.0


class _Reconnector:
    """Opens a connection for a writer off the training thread, retrying with
    backoff (0.25 s doubling to :data:`RECONNECT_MAX_S`) until one works or
    it is stopped. The writer takes the connection at its next attempt."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.connection: Connection | None = None
        self.error: BaseException | None = None
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="gymscope-reconnect", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        backoff = Backoff(first_s=0.25, max_s=RECONNECT_MAX_S)
        while not self._stopped.is_set():
            conn: Connection | None = None
            try:
                conn = autocommit_connection(self.engine)
                conn.exec_driver_sql("SELECT 1")
            except Exception as exc:
                if conn is not None:  # connected, but the server is not answering
                    _discard(conn)
                    conn = None
                # no traceback: its frames would keep this attempt's objects alive
                self.error = exc.with_traceback(None)
                logger.debug("reconnecting failed: %s", exc)
                del exc
                backoff.failed()
                self._stopped.wait(backoff.delay_s)
                continue
            with self._lock:
                if not self._stopped.is_set():
                    self.connection = conn
                    return
            # stopped while connecting: the writer (and perhaps its engine's
            # pool) is gone, so close the connection itself rather than hand it
            # back to a pool nobody will dispose of again
            _discard(conn)
            return

    def take(self) -> Connection | None:
        """The connection, if it is open (then it is the caller's)."""
        with self._lock:
            conn, self.connection = self.connection, None
        return conn

    def stop(self) -> None:
        """Stop trying; close a connection nobody took."""
        with self._lock:
            self._stopped.set()
            conn, self.connection = self.connection, None
        if conn is not None:
            _discard(conn)


def _discard(conn: Connection) -> None:
    """Close ``conn``'s DBAPI connection for good (not back into the pool).

    A connection returned to a pool that was disposed of meanwhile stays open
    until the garbage collector finds it (psycopg then warns "deleted while
    still open"); invalidating it closes it now.
    """
    try:
        conn.invalidate()
        conn.close()
    except Exception:
        logger.debug("closing an unused connection failed", exc_info=True)


class JournaledSQLiteWriter(SQLiteEpisodeWriter):
    """SQLite rows journaled with one ``write()`` each, committed in batches by the
    process's background :class:`~gymscope.metrics.journal.Flusher`.

    Every finished episode is in the journal before :meth:`add` returns, so it
    survives SIGKILL of the process (the next writer or reader ingests the
    journal); the commit happens off the training thread, every
    :data:`~gymscope.metrics.journal.FLUSH_INTERVAL_S` or once ``flush_every``
    rows wait. :meth:`flush` commits synchronously.

    Args:
        journal: This writer's journal.
        database: The SQLite file (its process-wide flusher commits the rows).
    """

    def __init__(
        self,
        conn: Connection,
        engine: Engine,
        *,
        journal: Journal,
        database: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(conn, engine, **kwargs)
        self.journal = journal
        self._lock = threading.Lock()
        # segments whose rows are queued or in a commit that failed, oldest first
        self._segments: list[Segment] = []
        self._in_flight = 0  # rows taken by a commit not finished yet
        self._failure_logged = False
        self._journal_down = False  # the last journal write failed (warned once)
        self._flusher: Flusher = join_flusher(database, self)

    @property
    def pending(self) -> int:
        """Rows journaled but not yet committed."""
        return len(self._pending) + self._in_flight

    def add(self, record: EpisodeRecord) -> None:
        num = self.next_num
        self.next_num = num + 1
        item: bytes | tuple[Any, ...]
        mean, std = record.moving_mean, record.moving_std
        # The usual episode (no info, no metrics, finite) is packed with one
        # struct.pack, its created_at text formatted when it is committed;
        # any other is kept as the row, journaled as JSON.
        if record.info or record.metrics or record.nonfinite or mean != mean or std != std:
            item = self._row(record, num)
            data = frame(row_body(item))
        else:
            try:
                item = compact_episode(
                    self.experiment_id,
                    num,
                    record.episode_return,
                    record.length,
                    mean,
                    std,
                    record.ended_at,
                    self.worker,
                    record.duration_s,
                    record.terminated,
                    record.truncated,
                    record.total_steps,
                )
            except struct.error:  # an int beyond 64 bits
                item = self._row(record, num)
                data = frame(row_body(item))
            else:
                data = frame(item)
        with self._lock:  # the journal frame and the queue change together
            try:
                retired = self.journal.append(data)
            except OSError as exc:  # disk full...: the row waits in memory only
                self._journal_failed(exc)
            else:
                if retired is not None:  # full: a new segment took the frame
                    self._segments.append(retired)
                if self._journal_down:
                    self._journal_ok()
            self._pending.append((next_sequence(), item))
            # wake the flusher once, when the queue reaches a batch: Event.set
            # costs more than the journal write, and the flusher takes every row
            full = len(self._pending) == self.flush_every
        if full:
            self._flusher.wake()
        if self.token is not None and time.monotonic() >= self._next_heartbeat:
            self._beat()

    def add_metrics(self, step: int, values: Mapping[str, float], wall_time: float) -> None:
        rows = [
            (r["experiment_id"], r["worker"], r["name"], r["step"], r["value"], r["wall_time"])
            for r in metric_rows(self.experiment_id, self.worker, step, values, wall_time)
        ]
        with self._lock:
            try:
                retired = self.journal.append_metrics(rows)
            except OSError as exc:
                self._journal_failed(exc)
            else:
                if retired is not None:
                    self._segments.append(retired)
                self._journal_ok()
            self._pending_metrics.extend(rows)

    def _journal_failed(self, exc: OSError) -> None:
        if self._journal_down:
            return
        self._journal_down = True
        logger.warning(
            "could not write to the journal %s (%s); keeping finished episodes in memory "
            "until they are committed to %s (until then they do not survive SIGKILL)",
            self.journal.folder,
            exc,
            self.where,
        )

    def _journal_ok(self) -> None:
        if self._journal_down:
            self._journal_down = False
            logger.warning("writing to the journal %s again", self.journal.folder)

    # -- called by the flusher -----------------------------------------------------------
    def take(self) -> tuple[list[Any], list[Any], list[Segment]] | None:
        """The queued rows and the journal segments holding them (a new segment
        takes the next rows); None if nothing is queued."""
        with self._lock:
            rows, metrics = self._pending, self._pending_metrics
            if not rows and not metrics:
                return None
            try:
                self._segments.append(self.journal.rotate())
            except OSError as exc:
                # no new segment (disk full, read-only folder): the current one
                # goes on, and is deleted with the batch that follows its rotation
                logger.debug("could not start a new journal segment: %s", exc)
            self._pending, self._pending_metrics = [], []
            segments, self._segments = self._segments, []
            self._in_flight = len(rows)
        return rows, metrics, segments

    def committed(self, batch: tuple[list[Any], list[Any], list[Segment]], failures: int) -> None:
        """The batch is in the database: delete its journal segments."""
        rows, _, segments = batch
        for segment in segments:
            try:
                self.journal.discard(segment)
            except OSError as exc:  # harmless: ingesting it again inserts nothing
                logger.debug("could not delete journal segment %s: %s", segment.path, exc)
        with self._lock:
            self.written += len(rows)
            self._in_flight = 0
        if failures:
            logger.warning(
                "wrote %d journaled episode(s) to %s after %d failed attempt(s)",
                len(rows),
                self.where,
                failures,
            )
            self._failure_logged = False

    def failed(
        self, batch: tuple[list[Any], list[Any], list[Segment]], exc: BaseException, failures: int
    ) -> None:
        """The commit failed: queue the batch again, ahead of newer rows."""
        rows, metrics, segments = batch
        with self._lock:
            self._pending = rows + self._pending
            self._pending_metrics = metrics + self._pending_metrics
            self._segments = segments + self._segments
            self._in_flight = 0
        if not self._failure_logged:
            self._failure_logged = True
            logger.warning(
                "could not commit %d journaled episode(s) to %s (%s); they are safe in the "
                "journal %s and retried with backoff",
                len(rows),
                self.where,
                exc,
                self.journal.folder,
            )
        else:
            logger.debug("commit attempt %d to %s failed: %s", failures, self.where, exc)

    # -- lifecycle -----------------------------------------------------------------------
    def flush(self) -> None:
        """Commit every journaled row now (synchronously).

        Raises:
            EpisodeWriteError: the database refuses them (they stay journaled and queued).
        """
        if not self._pending and not self._pending_metrics and not self._in_flight:
            return
        self._flusher.commit()  # waits for a commit in progress, then commits the rest
        with self._lock:
            rows, metrics = len(self._pending), len(self._pending_metrics)
        if rows or metrics:
            also = f" and {metrics} metric value(s)" if metrics else ""
            raise EpisodeWriteError(
                f"{rows} finished episode(s){also} could not be written to {self.where} "
                f"(they are kept in the journal {self.journal.folder}, which the next writer "
                "or reader of the database ingests)"
            )

    def release(self, token: str) -> None:
        self._flusher.unregister(self)
        with self._lock:
            clean = not self._pending and not self._pending_metrics and not self._segments
        if clean:
            try:
                self.journal.close()
            except OSError as exc:
                logger.debug("could not delete journal segment: %s", exc)
        else:  # unlocked, the segments are orphans: the next writer or reader ingests them
            for segment in [*self._segments, self.journal.current]:
                self.journal.abandon(segment)
        super().release(token)

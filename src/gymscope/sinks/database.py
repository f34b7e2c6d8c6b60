"""DatabaseSink: one ``episode`` row per record, in a run of the metrics database.

The sink behind :class:`~gymscope.wrappers.sqlite_logger.SQLiteLoggerWrapper`
(whose docstring describes runs, workers, durability and the lifecycle), usable
on its own: feed it records live or replayed.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import time
from collections.abc import Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

from gymscope._checks import check_bool, check_int, check_optional_int, check_str
from gymscope._retry import Backoff
from gymscope.episode import EpisodeRecord, ResumeState, RunInfo, StatsConfig
from gymscope.errors import (
    ArgumentTypeError,
    DatabaseUnreachableError,
    EpisodeWriteError,
    UsageError,
)
from gymscope.sinks.base import Sink

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from gymscope.metrics.db import DbTarget
    from gymscope.metrics.writer import EpisodeWriter, Overflow

__all__ = ["MAX_PENDING", "REMOTE_FLUSH_EVERY", "DatabaseSink"]

logger = logging.getLogger(__name__)

#: The largest worker number (the column is a 32-bit INTEGER on PostgreSQL).
MAX_WORKER = 2**31 - 1

#: Default ``flush_every`` for databases other than SQLite: rows per commit.
REMOTE_FLUSH_EVERY = 32

#: Default ``max_pending`` (:data:`gymscope.metrics.writer.MAX_PENDING`): finished
#: episodes kept in memory while the database cannot be written.
MAX_PENDING = 50_000

# Connections a forked child inherited from its parent. Closing them in the
# child could disturb the parent's use of the same database, so the child
# keeps them referenced (never used) until it exits.
_INHERITED: list[object] = []


class DatabaseSink(Sink):
    """Writes every record as a row of ``episode`` in run ``experiment``.

    Nothing is opened or created before the stack's first ``reset()`` (when a
    wrapper drives the sink: that is when a worker that rejoins its run reads
    where it left off, :meth:`resume_state`) or the first record. Step-keyed
    training metrics (:meth:`on_metrics`) go to table ``gymscope_metric``
    under this sink's worker; per-episode means of ``log_metrics`` values go
    to the episode rows (velora's loss columns and ``extra["metrics"]``). Rows that
    cannot be written wait in memory and are retried with backoff at later
    records, up to ``max_pending`` of them (newer ones are then dropped, with
    a warning); :meth:`flush` and :meth:`close` raise
    :class:`~gymscope.errors.EpisodeWriteError` if they still cannot be.

    A database server is connected to once when the sink is built
    (``check_connection``), so that a wrong host, port, user, password or
    database name is reported then, as
    :class:`~gymscope.errors.DatabaseUnreachableError`, rather than as
    episodes that could not be written at ``close()``. A failure after that
    (the server restarted, the network cut) is an outage: the episodes wait.

    Args:
        db: SQLite file path, SQLAlchemy URL or Engine (checked now).
        experiment: Name of the run to join or resume; None generates one
            from ``env_id`` and ``agent``.
        env_id: The env's id, stored with a new experiment.
        agent: Agent name stored with a new experiment.
        config: JSON-serialisable configuration stored with a new experiment
            (and in its config history when it differs from the run's latest).
        worker: Worker number of this stream; None leases a free one.
        flush_every: Rows per commit; None for the backend's default: on a
            SQLite file with the journal, a batch is committed at least every
            :data:`~gymscope.metrics.journal.FLUSH_INTERVAL_S` and as soon as
            :data:`~gymscope.metrics.journal.FLUSH_ROWS` rows wait; on SQLite
            without it, 1 (a commit per episode); elsewhere
            :data:`REMOTE_FLUSH_EVERY`.
        journal: On a SQLite file, append each finished episode to a journal
            (a copy into a mapped file) and commit in batches off the training
            thread (True, the default there), or commit each row before
            ``step()`` returns (False). Either way a finished episode
            survives SIGKILL of the process; the journal costs a fraction of
            a commit. Ignored (no journal) for other databases and
            in-memory SQLite.
        stats: Window and EMA weight of the records' moving statistics,
            stored with a new experiment as the run's (default 100 and 0.1).
        max_pending: Finished episodes (and metric values) kept in memory
            while the database cannot be written; during a longer outage the
            newer ones are dropped (one warning; the count is logged when the
            database is back). Default :data:`MAX_PENDING`.
        check_connection: Connect to a database server now (a URL) or at the
            first open (an Engine) and raise
            :class:`~gymscope.errors.DatabaseUnreachableError` if that fails.
            False treats every failure as an outage (e.g. workers that may
            start before the server): episodes wait and are retried.

    Raises:
        DatabaseUnreachableError: the server of a URL cannot be connected to.

    >>> import sqlite3, tempfile
    >>> from gymscope.sinks.base import replay_returns
    >>> folder = tempfile.TemporaryDirectory()
    >>> sink = DatabaseSink(f"{folder.name}/m.db", "replayed")
    >>> sink.open(RunInfo())
    >>> for record in replay_returns([1.0, 2.0]):
    ...     sink.on_episode(record)
    >>> sink.close()
    >>> with sqlite3.connect(f"{folder.name}/m.db") as db:
    ...     db.execute("SELECT episode_num, reward FROM episode").fetchall()
    [(0, 1.0), (1, 2.0)]
    >>> folder.cleanup()
    """

    def __init__(
        self,
        db: DbTarget = "metrics.db",
        experiment: str | None = None,
        *,
        env_id: str = "",
        agent: str | None = None,
        config: object = None,
        worker: int | None = None,
        flush_every: int | None = None,
        stats: StatsConfig | None = None,
        max_pending: int = MAX_PENDING,
        check_connection: bool = True,
        journal: bool = True,
    ) -> None:
        from sqlalchemy.engine import Engine

        from gymscope.metrics.connect import check_reachable
        from gymscope.metrics.db import check_db_target, check_existing_schema
        from gymscope.metrics.runs import dump_config, experiment_name

        if experiment is not None:
            check_str(
                "experiment",
                experiment,
                what="a non-empty name (the run to join) or None (a fresh run)",
            )
        if agent is not None and not isinstance(agent, str):
            raise ArgumentTypeError(
                f"agent must be a str such as the agent's class name, got {agent!r} "
                f"({type(agent).__name__}); pass agent={type(agent).__name__!r}"
            )
        check_optional_int(
            "worker", worker, 0, none_means="lease a free number", maximum=MAX_WORKER
        )
        check_optional_int("flush_every", flush_every, 1, none_means="the backend's default")
        self._max_pending = check_int("max_pending", max_pending, 1)
        check_bool("check_connection", check_connection)
        check_bool("journal", journal)
        self._journal = journal
        self._config_json = None if config is None else dump_config(config)
        if stats is not None and not isinstance(stats, StatsConfig):
            raise ArgumentTypeError(
                f"stats must be a gymscope.episode.StatsConfig, got {stats!r} "
                f"({type(stats).__name__}); pass StatsConfig(window_size=100, alpha=0.1)"
            )
        self._stats = stats if stats is not None else StatsConfig()
        target = check_db_target(db)
        if not isinstance(target, Engine):
            check_existing_schema(target)
            if check_connection:
                check_reachable(target)
        # An Engine is connected to at the first open: a failure then is reported the same way.
        self._check_first_open = check_connection and isinstance(target, Engine)
        self._env_id = env_id
        self._agent = agent or ""
        self._experiment_name = (
            experiment if experiment is not None else experiment_name(env_id, agent)
        )
        self._worker_arg = worker
        self._flush_every_arg = flush_every
        # A given Engine is used as is; otherwise one is created at the first write.
        self._engine: Engine | None = target if isinstance(target, Engine) else None
        self._owns_engine = self._engine is None
        self._url: URL = target.url if isinstance(target, Engine) else target
        self._writer: EpisodeWriter | None = None
        self._backlog: list[EpisodeRecord] = []
        self._metric_backlog: list[tuple[int, dict[str, float], float]] = []
        self._metric_values = 0  # values in _metric_backlog
        self._token: str | None = None
        self._experiment_id: int | None = None
        self._open_backoff = Backoff()
        self._overflow: Overflow | None = None
        self._closed = False

    # -- public ------------------------------------------------------------------------
    @property
    def url(self) -> URL:
        """The database URL."""
        return self._url

    @property
    def experiment_name(self) -> str:
        """Name of the run this sink writes to (generated when none was given)."""
        return self._experiment_name

    @property
    def experiment_id(self) -> int | None:
        """``experiment.id`` of the run; None until the first row is written."""
        return self._experiment_id

    @property
    def worker(self) -> int | None:
        """Worker number (leased when the sink opens, when not given)."""
        if self._writer is not None:
            return self._writer.worker
        return self._worker_arg

    @property
    def db_url(self) -> str:
        """The database URL, password hidden."""
        return str(self._url.render_as_string(hide_password=True))

    def open(self, run: RunInfo) -> None:
        """Join ``run`` and name it: the stack's other sinks report this run."""
        super().open(run)
        if run.experiment is None:
            run.experiment = self._experiment_name
            run.worker = self._worker_arg
        if run.experiment == self._experiment_name and run.database is None:
            run.database = self._url
        if not run.env_id:
            run.env_id = self._env_id
        if not run.agent:
            run.agent = self._agent

    def on_episode(
        self, record: EpisodeRecord, info: MutableMapping[str, Any] | None = None
    ) -> None:
        """Queue (and, per ``flush_every``, commit) the row of ``record``."""
        writer = self._writer
        if writer is not None:
            writer.add(record)
            return
        if self._closed:
            raise UsageError(
                f"episode {record.index} ended after SQLiteLoggerWrapper.close() (its "
                "DatabaseSink is closed); it is not recorded. Create a new wrapper to keep logging"
            )
        if len(self._backlog) < self._max_pending:
            self._backlog.append(record)
        else:
            self._dropped_overflow().drop(episodes=1)
        if self._open_backoff.ready():
            self._try_open()

    def resume_state(self, history: int = 100) -> ResumeState | None:
        """Open the database now and read where this worker's stream left off.

        Called by the driver at the stack's first ``reset()``: the worker
        number is leased, and if the run already holds episodes of it (a
        worker rejoining after a stop or a crash), their count, total steps
        and last ``history`` returns and lengths come back. None for a fresh
        stream, or when the database cannot be opened yet (then the episodes
        wait in memory as usual, and numbering still continues from the
        database once it opens).
        """
        if self._closed or self.experiment_id is not None:
            return None
        if not self._try_open():
            return None
        writer = self._writer
        assert writer is not None
        from gymscope.metrics.runs import worker_history

        try:
            episodes, steps, returns, lengths = worker_history(
                writer.conn, writer.experiment_id, writer.worker, history
            )
        except _open_errors() as exc:
            logger.warning("could not read worker %d's stored episodes: %s", writer.worker, exc)
            return None
        if not episodes:
            return None
        logger.info(
            "worker %d of experiment %r continues after episode %d (%d steps)",
            writer.worker,
            self._experiment_name,
            episodes - 1,
            steps,
        )
        return ResumeState(
            episodes=episodes,
            total_steps=steps,
            returns=tuple(returns),
            lengths=tuple(lengths),
            source=f"{self.db_url}, experiment {self._experiment_name!r}, worker {writer.worker}",
        )

    def on_metrics(self, step: int, values: Mapping[str, float]) -> None:
        """Store step-keyed metrics (table ``gymscope_metric``) under this worker."""
        if self._closed:
            raise UsageError(
                f"metrics at step {step} reported after the DatabaseSink was closed; "
                "they are not recorded"
            )
        now = time.time()
        writer = self._writer
        if writer is None:
            if self._metric_values + len(values) <= self._max_pending:
                self._metric_backlog.append((step, dict(values), now))
                self._metric_values += len(values)
            else:
                self._dropped_overflow().drop(metrics=len(values))
            if self._open_backoff.ready():
                self._try_open()
            return
        writer.add_metrics(step, values, now)

    def flush(self) -> None:
        """Commit every record not yet in the database.

        Raises:
            EpisodeWriteError: the database refuses them (they stay queued).
        """
        if self._backlog or self._metric_backlog:
            self._open_or_raise()
        if self._writer is not None:
            self._writer.flush()

    def close(self) -> None:
        """Flush, give the worker lease back and close the connection (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            self.flush()
        finally:
            self._release()

    def forked(self) -> None:
        """In a forked child: leave the parent's connection, rows and lease alone."""
        if self._writer is not None:
            _INHERITED.append(self._writer)
        if self._owns_engine and self._engine is not None:
            self._engine.dispose(close=False)
        self._writer = None
        self._backlog = []
        self._metric_backlog = []
        self._metric_values = 0
        self._token = None
        self._experiment_id = None
        self._overflow = None

    # -- opening -----------------------------------------------------------------------
    def _dropped_overflow(self) -> Overflow:
        """Counts what the backlog dropped; handed to the writer when it opens."""
        if self._overflow is None:
            from gymscope.metrics.writer import Overflow

            self._overflow = Overflow(self.db_url, self._max_pending)
        return self._overflow

    def _try_open(self) -> bool:
        """Open now if possible; an outage is logged and retried later."""
        try:
            self._open()
        except DatabaseUnreachableError:  # an OSError, but misconfiguration: let it out
            raise
        except _open_errors() as exc:
            self._open_failed(exc)
            return False
        return True

    def _open_or_raise(self) -> None:
        try:
            self._open()
        except DatabaseUnreachableError:
            raise
        except _open_errors() as exc:
            self._open_failed(exc)
            dropped = self._overflow.describe() if self._overflow is not None else ""
            raise EpisodeWriteError(
                f"{len(self._backlog)} finished episode(s) could not be written: cannot open "
                f"{self.db_url}: {exc}" + (f"; {dropped} while it could not" if dropped else "")
            ) from exc

    def _open(self) -> None:
        """Open the database, register the run and the worker, write the backlog."""
        skipped = 0
        if self._writer is None:
            if self._check_first_open:
                self._check_engine()
            self._writer = self._open_writer()
            # the backlog's records come first; the ones dropped after them keep
            # their numbers unused
            skipped = self._overflow.episodes if self._overflow is not None else 0
            self._experiment_id = self._writer.experiment_id
            if self.run is not None and self.run.experiment == self._experiment_name:
                self.run.worker = self._writer.worker
            failures = self._open_backoff.succeeded()
            if failures:
                logger.warning("opened %s after %d failed attempt(s)", self.db_url, failures)
        backlog, self._backlog = self._backlog, []
        for record in backlog:
            self._writer.add(record)
        self._writer.next_num += skipped
        metrics, self._metric_backlog, self._metric_values = self._metric_backlog, [], 0
        for step, values, wall_time in metrics:
            self._writer.add_metrics(step, values, wall_time)

    def _check_engine(self) -> None:
        """The first connection through a given Engine: a failure is misconfiguration."""
        import sqlalchemy as sa

        from gymscope.metrics.connect import unreachable_error

        assert self._engine is not None
        try:
            self._engine.connect().close()
        except (sa.exc.SQLAlchemyError, OSError) as exc:
            raise unreachable_error(self._url, exc) from None
        self._check_first_open = False

    def _open_writer(self) -> EpisodeWriter:
        from gymscope._version import __version__
        from gymscope.metrics.db import (
            autocommit_connection,
            get_db_engine,
            is_sqlite,
            sqlite_file,
            write_transaction,
        )
        from gymscope.metrics.journal import (
            FLUSH_ROWS,
            Journal,
            ingest_orphans,
            journal_folder,
            journals_supported,
        )
        from gymscope.metrics.runs import (
            claim_worker,
            join_experiment,
            next_episode_num,
            record_config,
        )
        from gymscope.metrics.writer import (
            CoreEpisodeWriter,
            JournaledSQLiteWriter,
            SQLiteEpisodeWriter,
        )

        if self._engine is None:
            self._engine = get_db_engine(self._url)
        else:
            get_db_engine(self._engine)  # the schema may be missing or newer
        engine = self._engine
        database = sqlite_file(engine.url) if is_sqlite(engine.url) else None
        if database is not None:
            # A dead writer's journal first: its episodes (perhaps this very
            # worker's, restarted after SIGKILL) count in the numbering below.
            ingest_orphans(database)
        token = secrets.token_hex(16)
        conn = autocommit_connection(engine)
        try:
            with write_transaction(conn, exclusive=True):
                experiment_id = join_experiment(
                    conn,
                    self._experiment_name,
                    env=self._env_id,
                    agent=self._agent,
                    config=None,
                    version=__version__,
                    stats_window=self._stats.window_size,
                    stats_alpha=self._stats.alpha,
                )
                worker = claim_worker(conn, experiment_id, self._worker_arg, token)
                if self._config_json is not None:
                    record_config(
                        conn,
                        experiment_id,
                        self._config_json,
                        worker=worker,
                        run=self._experiment_name,
                    )
                next_num = next_episode_num(conn, experiment_id, worker)
        except BaseException:
            conn.close()
            raise
        self._token = token
        sqlite_driver = isinstance(conn.connection.driver_connection, sqlite3.Connection)
        kwargs: dict[str, Any] = {
            "experiment_id": experiment_id,
            "worker": worker,
            "next_num": next_num,
            "where": self.db_url,
            "token": token,
            "max_pending": self._max_pending,
            "overflow": self._dropped_overflow(),
        }
        if database is not None and sqlite_driver and self._journal and journals_supported():
            try:
                journal = Journal(journal_folder(database), token)
            except OSError as exc:
                logger.warning(
                    "cannot create the journal beside %s (%s): committing every episode "
                    "before step() returns instead",
                    database,
                    exc,
                )
            else:
                return JournaledSQLiteWriter(
                    conn,
                    engine,
                    journal=journal,
                    database=str(database),
                    flush_every=self._flush_every_arg or FLUSH_ROWS,
                    **kwargs,
                )
        flush_every = self._flush_every_arg or (1 if sqlite_driver else REMOTE_FLUSH_EVERY)
        writer_cls = SQLiteEpisodeWriter if sqlite_driver else CoreEpisodeWriter
        return writer_cls(conn, engine, flush_every=flush_every, **kwargs)

    def _open_failed(self, exc: BaseException) -> None:
        log = logger.warning if self._open_backoff.failed() == 1 else logger.debug
        log(
            "cannot open the metrics database %s (%s); keeping %d finished episode(s) in "
            "memory and retrying at later episode ends",
            self.db_url,
            exc,
            len(self._backlog),
        )

    def _release(self) -> None:
        writer, token = self._writer, self._token
        self._writer = None
        self._token = None
        if writer is not None and token is not None:
            writer.release(token)
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.update(
            _engine=None,  # an Engine does not pickle: the copy opens its own
            _owns_engine=True,
            _writer=None,
            _backlog=[],  # this instance writes them; a copy must not
            _metric_backlog=[],
            _metric_values=0,
            _token=None,
            _experiment_id=None,
            _open_backoff=Backoff(),
            _overflow=None,
        )
        return state


def _open_errors() -> tuple[type[BaseException], ...]:
    import sqlalchemy.exc

    errors: list[type[BaseException]] = [sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, OSError]
    try:
        import psycopg
    except ImportError:
        pass
    else:
        errors.append(psycopg.Error)
    return tuple(errors)

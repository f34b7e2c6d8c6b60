"""RunLogger: the trainer's writer into a run of the metrics database, no env needed.

The env-side writers (:class:`~gymscope.wrappers.sqlite_logger.SQLiteLoggerWrapper`
and its :class:`~gymscope.sinks.database.DatabaseSink`) store what the
environment did: one row per episode. What the trainer knows (losses,
learning rate, throughput, hyperparameters) comes from outside any env;
:class:`RunLogger` writes it into the same run, by name, as step-keyed
metrics (table ``gymscope_metric``, worker NULL: "the trainer"), texts
(``gymscope_text``) and configurations (the run's config history,
``gymscope_config``). The SB3 bridge (:mod:`gymscope.sb3`) and the
TensorBoard-style :class:`~gymscope.integrations.summary_writer.SummaryWriter`
are built on it.

>>> import tempfile
>>> from gymscope.metrics.reader import MetricsReader
>>> folder = tempfile.TemporaryDirectory()
>>> with RunLogger(f"{folder.name}/m.db", "ppo-run", config={"lr": 3e-4}) as run:
...     run.log_metrics(128, {"train/value_loss": 0.5, "train/entropy": float("nan")})
...     run.log(256, learning_rate=3e-4)
>>> reader = MetricsReader(f"{folder.name}/m.db")
>>> series = reader.metrics("ppo-run")["train/value_loss"]
>>> series.steps.tolist(), series.values.tolist(), series.workers.tolist()
([128], [0.5], [-1])
>>> reader.configs("ppo-run")[0].value()
{'lr': 0.0003}
>>> reader.close(); folder.cleanup()
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Mapping
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gymscope._checks import as_float, check_int, check_number, check_str
from gymscope._retry import Backoff
from gymscope.errors import ArgumentTypeError, EpisodeWriteError, InvalidArgumentError, UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Connection, Engine

    from gymscope.metrics.db import DbTarget

__all__ = ["MAX_STEP", "RunLogger"]

logger = logging.getLogger(__name__)

#: The largest step the database holds (the column is a signed 64-bit BIGINT).
MAX_STEP = 2**63 - 1

# This process's pid, refreshed in a fork()ed child (os.getpid() per call
# would be a system call on every log_metrics).
_pid = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _pid.__setitem__(0, os.getpid()))

# Connections a forked child inherited from its parent: closing them in the
# child could disturb the parent's use of them, so they stay referenced,
# unused, until the child exits.
_INHERITED: list[object] = []


def real_number(label: str, value: object) -> float:
    """``value`` as a float if it is a real number, else a clear error.

    Accepted: ``int`` and ``float`` (not ``bool``), NumPy numbers, and any
    one-element array or tensor whose ``.item()`` is one (NumPy, PyTorch,
    JAX). NaN and infinities are kept.

    Args:
        label: How the value is named in the message (``"values['loss']"``).
        value: What was passed.

    Raises:
        ArgumentTypeError: ``value`` is not a real number.
        InvalidArgumentError: an int too large for a float.

    >>> real_number("x", 2), real_number("x", float("inf"))
    (2.0, inf)
    >>> real_number("values['lr']", "3e-4")
    Traceback (most recent call last):
        ...
    gymscope.errors.ArgumentTypeError: values['lr'] must be a real number (int, float, or a \
NumPy/PyTorch scalar), got '3e-4' (str); pass float(...) of it, or log text with log_text()
    """
    try:
        number = as_float(value)
        if number is None and not isinstance(value, (bool, str, bytes)):
            item = getattr(value, "item", None)  # torch/JAX scalars, 1-element arrays
            if callable(item):
                try:
                    inner = item()
                except (TypeError, ValueError, RuntimeError, IndexError):
                    inner = None
                number = as_float(inner)
    except OverflowError:
        raise InvalidArgumentError(
            f"{label} must be a real number a float can hold, got {value!r}; pass a smaller "
            "value (or float('inf'))"
        ) from None
    if number is None:
        raise ArgumentTypeError(
            f"{label} must be a real number (int, float, or a NumPy/PyTorch scalar), got "
            f"{value!r} ({type(value).__name__}); pass float(...) of it, or log text with "
            "log_text()"
        )
    return number


def _check_step(step: object, argument: str = "step") -> int:
    return check_int(
        argument,
        step,
        0,
        "the env step (or update) the values belong to, such as SB3's num_timesteps",
        maximum=MAX_STEP,
    )


def _check_wall_time(wall_time: object) -> float:
    if wall_time is None:
        return time.time()
    return check_number(
        "wall_time",
        wall_time,
        what="a finite Unix time in seconds, or None (now)",
        fix="pass time.time() or leave it out",
    )


def _reason(exc: BaseException) -> str:
    """The database's own words for ``exc``, without SQLAlchemy's statement dump."""
    orig = getattr(exc, "orig", None)
    text = str(orig if orig is not None else exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _db_errors() -> tuple[type[BaseException], ...]:
    """The exceptions that mean "the database refused this write"."""
    import sqlalchemy.exc

    errors: list[type[BaseException]] = [sqlalchemy.exc.SQLAlchemyError, sqlite3.Error, OSError]
    try:
        import psycopg
    except ImportError:
        pass
    else:
        errors.append(psycopg.Error)
    return tuple(errors)


class _Writer:
    """What a RunLogger keeps and commits: the connection and the queued rows.

    Held by the RunLogger and by its finalizer (never the other way round),
    so a logger dropped without ``close()`` is collected and still commits.
    """

    def __init__(
        self,
        url: URL,
        engine: Engine | None,
        *,
        name: str,
        env: str,
        agent: str,
        config: str | None,
        flush_secs: float,
        where: str,
    ) -> None:
        self.url = url
        self.engine = engine
        self.owns_engine = engine is None
        self.schema_checked = False
        self.conn: Connection | None = None
        self.name = name
        self.env = env
        self.agent = agent
        self.config = config
        self.flush_secs = flush_secs
        self.where = where
        self.experiment_id: int | None = None
        self.metrics: list[tuple[int, dict[str, float], float]] = []
        self.texts: list[tuple[str, int | None, str, float]] = []
        self.configs: list[str] = []
        self.backoff = Backoff()
        self.next_commit = 0.0  # time.monotonic() of the next commit: the first is at once
        self.lock = threading.Lock()
        self.pid = _pid[0]
        self.closed = False

    @property
    def pending(self) -> int:
        """Values, texts and configurations queued but not yet committed."""
        return (
            sum(len(values) for _, values, _ in self.metrics)
            + len(self.texts)
            + (len(self.configs))
        )

    def has_work(self) -> bool:
        return bool(self.metrics or self.texts or self.configs) or (
            self.experiment_id is None and self.config is not None
        )

    # -- committing --------------------------------------------------------------------
    def maybe_commit(self, *, now: bool = False) -> None:
        """Commit if it is time (``flush_secs``) and no backoff is running; never
        raises for a database error."""
        if not now and time.monotonic() < self.next_commit:
            return
        if not self.backoff.ready():
            return
        try:
            self.commit()
        except _db_errors() as exc:
            self.failed(exc)

    def commit(self) -> None:
        """Write everything queued in one transaction (or raise, keeping it queued)."""
        from gymscope.metrics.db import autocommit_connection, get_db_engine, write_transaction
        from gymscope.metrics.models import metric, text_log
        from gymscope.metrics.runs import join_experiment, record_config
        from gymscope.metrics.writer import metric_rows

        if not self.has_work():
            return
        if self.engine is None:
            self.engine = get_db_engine(self.url)
            self.schema_checked = True
        elif not self.schema_checked:
            get_db_engine(self.engine)  # a given engine: the tables may be missing
            self.schema_checked = True
        if self.conn is None:
            self.conn = autocommit_connection(self.engine)
        conn = self.conn
        metrics, texts, configs = self.metrics, self.texts, self.configs
        # Detached first: if an interrupt lands after the commit, nothing is
        # written twice; if it lands before, the except puts everything back.
        self.metrics, self.texts, self.configs = [], [], []
        try:
            experiment_id = self.experiment_id
            with write_transaction(conn, exclusive=experiment_id is None or bool(configs)):
                if experiment_id is None:
                    from gymscope._version import __version__

                    experiment_id = join_experiment(
                        conn,
                        self.name,
                        env=self.env,
                        agent=self.agent,
                        config=self.config,
                        version=__version__,
                    )
                for config in configs:
                    record_config(conn, experiment_id, config, worker=None, run=self.name)
                rows = [
                    row
                    for step, values, wall_time in metrics
                    for row in metric_rows(experiment_id, None, step, values, wall_time)
                ]
                if rows:
                    conn.execute(metric.insert(), rows)
                if texts:
                    conn.execute(
                        text_log.insert(),
                        [
                            {
                                "experiment_id": experiment_id,
                                "tag": tag,
                                "step": step,
                                "text": text,
                                "wall_time": wall_time,
                            }
                            for tag, step, text, wall_time in texts
                        ],
                    )
        except BaseException:
            self.metrics = metrics + self.metrics
            self.texts = texts + self.texts
            self.configs = configs + self.configs
            raise
        self.experiment_id = experiment_id
        self.next_commit = time.monotonic() + self.flush_secs
        failures = self.backoff.succeeded() if self.backoff.failures else 0
        if failures:
            logger.warning(
                "RunLogger wrote its buffered values to %s (experiment %r) after %d failed "
                "attempt(s)",
                self.where,
                self.name,
                failures,
            )

    def failed(self, exc: BaseException) -> None:
        failures = self.backoff.failed()
        if failures == 1:
            logger.warning(
                "RunLogger could not write to %s (experiment %r): %s; keeping %d value(s) in "
                "memory and retrying with backoff at later log calls (close() raises if they "
                "still cannot be written)",
                self.where,
                self.name,
                _reason(exc),
                self.pending,
            )
        else:
            logger.debug("RunLogger write attempt %d to %s failed: %s", failures, self.where, exc)
        self.drop_connection()  # the next attempt starts on a fresh one

    def error(self, exc: BaseException) -> EpisodeWriteError:
        return EpisodeWriteError(
            f"RunLogger could not write {self.pending} value(s), text(s) or config(s) of "
            f"experiment {self.name!r} to {self.where}: {_reason(exc)}; they are still in "
            "memory: make the database reachable (or writable) again and call flush() or "
            "close() once more"
        )

    def flush(self) -> None:
        try:
            self.commit()
        except _db_errors() as exc:
            self.failed(exc)
            raise self.error(exc) from exc

    # -- the connection ----------------------------------------------------------------
    def drop_connection(self) -> None:
        conn, self.conn = self.conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:
                logger.debug("closing a failed connection failed", exc_info=True)

    def release(self) -> None:
        self.drop_connection()
        if self.owns_engine and self.engine is not None:
            self.engine.dispose()
            self.engine = None

    def close(self) -> None:
        """Commit what is queued and release the connection (idempotent).

        Raises:
            EpisodeWriteError: queued rows could still not be written; they
                stay queued and a later ``close()`` tries again.
        """
        if self.closed:
            return
        try:
            self.flush()
        except BaseException:
            self.release()
            raise
        self.closed = True
        self.release()

    def forget(self) -> None:
        """In a fork()ed child: leave the parent's connection and rows alone."""
        if self.conn is not None:
            _INHERITED.append(self.conn)
            self.conn = None
        if self.owns_engine and self.engine is not None:
            self.engine.dispose(close=False)
            self.engine = None
        self.metrics, self.texts, self.configs = [], [], []
        self.closed = True


def _close_abandoned(writer: _Writer) -> None:
    """Run by the finalizer: at interpreter exit, or when a RunLogger is collected
    without ``close()``. Never raises; in a fork()ed child it does nothing."""
    if writer.pid != _pid[0]:
        return
    # A thread stopped at exit may hold the lock: do not wait for it forever.
    locked = writer.lock.acquire(timeout=10.0)
    try:
        writer.close()
    except Exception:
        logger.exception("closing RunLogger of experiment %r failed", writer.name)
    finally:
        if locked:
            writer.lock.release()


class RunLogger:
    """Writes the trainer's metrics, texts and configurations into a run.

    The run is found (or created) by its name, ``experiment``, as the env-side
    writers do: a :class:`RunLogger` and any number of
    :class:`~gymscope.wrappers.sqlite_logger.SQLiteLoggerWrapper` workers (and
    other RunLoggers) write one run together. A run created here has no env or
    agent unless given; the first env-side writer that joins it fills them in.

    Rows are kept in memory and committed in one transaction by the first
    ``log_*`` call at least ``flush_secs`` after the previous commit (the first
    call commits at once: the run exists from then on), and by :meth:`flush`,
    :meth:`close` and interpreter exit. Nothing is opened before that first
    commit. Step-keyed values go to ``gymscope_metric`` with worker NULL (the
    trainer; :class:`~gymscope.metrics.reader.MetricsReader` shows worker
    -1). A NaN is stored as NULL, infinities as they are.

    A database that fails (locked past the busy timeout, server down, disk
    full, read-only file) never makes a ``log_*`` call raise: the rows stay in
    memory in order, one warning is logged through the ``gymscope`` logger,
    and the commit is retried with exponential backoff at later calls; once
    the database answers again, everything is written. :meth:`flush` and
    :meth:`close` raise :class:`~gymscope.errors.EpisodeWriteError` if the rows
    still cannot be written (they stay queued). A row whose commit succeeded
    but was reported as failed (a connection lost during ``COMMIT``) may be
    written twice.

    A RunLogger is safe to share between threads. A pickled copy (or the
    logger in a ``fork()``-ed child) leaves the original's connection and rows
    alone and opens its own connection at its first commit. Not closed, it is
    closed when it is garbage collected or at interpreter exit.

    Args:
        db: SQLite file path, SQLAlchemy URL or Engine (checked now; nothing
            is created yet).
        experiment: Name of the run to write to (joined if it exists); None
            generates a fresh one from ``env_id`` and ``agent``.
        env_id: Env id stored with a new run (may stay empty).
        agent: Agent name stored with a new run (may stay empty).
        config: JSON-serialisable configuration (dicts, lists, numbers,
            strings, dataclasses, pydantic models) stored with a new run, and
            in its config history when it differs from the run's latest.
        flush_secs: Seconds between two commits (0: every call commits).

    Raises:
        ArgumentTypeError: an argument has the wrong type (``config`` not
            JSON serialisable, ``db`` not a path, URL or Engine...).
        InvalidArgumentError: an argument's value is unusable (a missing or
            read-only folder for the SQLite file, a negative ``flush_secs``...).
        IncompatibleSchemaError: the SQLite file was written by a newer
            gymscope or by another program.
    """

    def __init__(
        self,
        db: DbTarget = "metrics.db",
        experiment: str | None = None,
        *,
        env_id: str = "",
        agent: str = "",
        config: object = None,
        flush_secs: float = 1.0,
    ) -> None:
        from sqlalchemy.engine import Engine

        from gymscope.metrics.db import check_db_target, check_existing_schema
        from gymscope.metrics.runs import dump_config, experiment_name

        if experiment is not None:
            check_str(
                "experiment",
                experiment,
                what="a non-empty name (the run to write to) or None (a fresh run)",
            )
        for argument, value in (("env_id", env_id), ("agent", agent)):
            if not isinstance(value, str):
                raise ArgumentTypeError(
                    f"{argument} must be a str (it may be empty), got {value!r} "
                    f"({type(value).__name__}); pass {argument}={str(value)!r}"
                )
        self._flush_secs = check_number(
            "flush_secs",
            flush_secs,
            low=0.0,
            low_open=False,
            what="a finite number of seconds >= 0",
            fix="0 commits at every call",
        )
        self._config_json = None if config is None else dump_config(config)
        target = check_db_target(db)
        if not isinstance(target, Engine):
            check_existing_schema(target)
        self._engine: Engine | None = target if isinstance(target, Engine) else None
        self._url: URL = target.url if isinstance(target, Engine) else target
        self._env_id = env_id
        self._agent = agent
        self._experiment_name = (
            experiment if experiment is not None else experiment_name(env_id, agent or None)
        )
        self._start(closed=False)

    def _start(self, *, closed: bool) -> None:
        self._writer = _Writer(
            self._url,
            self._engine,
            name=self._experiment_name,
            env=self._env_id,
            agent=self._agent,
            config=self._config_json,
            flush_secs=self._flush_secs,
            where=self.db_url,
        )
        self._writer.closed = closed
        self._finalizer: weakref.finalize[Any, Any] | None = None
        if not closed:
            self._finalizer = weakref.finalize(self, _close_abandoned, self._writer)

    # -- properties --------------------------------------------------------------------
    @property
    def experiment_name(self) -> str:
        """Name of the run this logger writes to (generated when none was given)."""
        return self._experiment_name

    @property
    def experiment_id(self) -> int | None:
        """``experiment.id`` of the run; None until the first commit."""
        return self._writer.experiment_id

    @property
    def db_url(self) -> str:
        """The database URL, password hidden."""
        return str(self._url.render_as_string(hide_password=True))

    @property
    def pending(self) -> int:
        """Values, texts and configurations logged but not committed yet."""
        return self._writer.pending

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has run."""
        return self._writer.closed

    # -- logging -----------------------------------------------------------------------
    def log_metrics(
        self, step: int, values: Mapping[str, float], *, wall_time: float | None = None
    ) -> None:
        """Store ``values`` (name -> number) at ``step``.

        Args:
            step: The x axis the values belong to: an int >= 0 (NumPy ints
                too), such as the env steps so far (SB3's ``num_timesteps``,
                CleanRL's ``global_step``).
            values: Metric names and real numbers (Python, NumPy or one-element
                tensors); NaN is stored as NULL, infinities as they are.
            wall_time: Unix time of the values; None for now.

        Raises:
            ArgumentTypeError: ``step`` is not an int, ``values`` not a mapping
                of non-empty str to real numbers (nothing of the call is stored).
            InvalidArgumentError: ``step`` is negative or beyond 64 bits.
            UsageError: the logger is closed.
        """
        step = _check_step(step)
        if not isinstance(values, Mapping):
            raise ArgumentTypeError(
                f"values must be a mapping of metric names to numbers, such as "
                f"{{'loss': 0.5}}, got {values!r} ({type(values).__name__}); or call "
                "log(step, loss=0.5)"
            )
        checked: dict[str, float] = {}
        for name, value in values.items():
            if not isinstance(name, str) or not name.strip():
                raise (ArgumentTypeError if not isinstance(name, str) else InvalidArgumentError)(
                    f"the names in values must be non-empty str, got {name!r} in {values!r}; "
                    f"name the metric, such as 'train/loss'"
                )
            checked[name] = real_number(f"values[{name!r}]", value)
        stamp = _check_wall_time(wall_time)
        if not checked:
            return
        writer = self._use(f"metrics at step {step} were logged")
        with writer.lock:
            writer.metrics.append((step, checked, stamp))
            writer.maybe_commit()

    def log(self, step: int, **values: float) -> None:
        """``log_metrics(step, values)`` with the values as keyword arguments.

        >>> import tempfile
        >>> folder = tempfile.TemporaryDirectory()
        >>> with RunLogger(f"{folder.name}/m.db", "kw") as run:
        ...     run.log(10, loss=0.25)
        >>> folder.cleanup()
        """
        self.log_metrics(step, values)

    def log_text(
        self, tag: str, text: str, step: int | None = None, *, wall_time: float | None = None
    ) -> None:
        """Store ``text`` under ``tag`` (table ``gymscope_text``).

        Args:
            tag: What the text is (``"hyperparameters"``, ``"notes"``).
            text: The text (may be empty).
            step: The step it belongs to, or None for none.
            wall_time: Unix time of the text; None for now.

        Raises:
            ArgumentTypeError, InvalidArgumentError: a bad argument.
            UsageError: the logger is closed.
        """
        check_str("tag", tag, what="a non-empty str naming the text, such as 'notes'")
        if not isinstance(text, str):
            raise ArgumentTypeError(
                f"text must be a str, got {text!r} ({type(text).__name__}); pass str(...) of it"
            )
        checked_step = None if step is None else _check_step(step)
        stamp = _check_wall_time(wall_time)
        writer = self._use(f"text {tag!r} was logged")
        with writer.lock:
            writer.texts.append((tag, checked_step, text, stamp))
            writer.maybe_commit()

    def log_config(self, config: object) -> None:
        """Add ``config`` to the run's config history (if it differs from the latest).

        A run without a configuration also takes it as its ``experiment.config``.
        Committed at once (if the database answers; else with the rest).

        Args:
            config: JSON-serialisable configuration: dicts, lists, numbers,
                strings, dataclasses, pydantic models.

        Raises:
            ArgumentTypeError: ``config`` is not JSON serialisable.
            UsageError: the logger is closed.
        """
        from gymscope.metrics.runs import dump_config

        text = dump_config(config)
        writer = self._use("a config was logged")
        with writer.lock:
            writer.configs.append(text)
            writer.maybe_commit(now=True)

    # -- lifecycle ---------------------------------------------------------------------
    def flush(self) -> None:
        """Commit everything logged so far, now.

        Raises:
            EpisodeWriteError: the database still refuses it (it stays queued).
        """
        writer = self._current()
        with writer.lock:
            if not writer.closed:
                writer.flush()

    def close(self) -> None:
        """Commit what is queued and close the connection. Safe to call twice.

        Raises:
            EpisodeWriteError: rows could still not be written (the message
                names the database and the cause); they stay queued, and
                calling ``close()`` again retries.
        """
        writer = self._current()
        with writer.lock:
            writer.close()
        if writer.closed and self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None

    def __enter__(self) -> RunLogger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"RunLogger({self.db_url!r}, {self._experiment_name!r})"

    # -- processes and copies ----------------------------------------------------------
    def _current(self) -> _Writer:
        """The writer of this process (a fork()ed child gets its own)."""
        if self._writer.pid != _pid[0]:
            self._adopt()
        return self._writer

    def _use(self, what: str) -> _Writer:
        writer = self._current()
        if writer.closed:
            raise UsageError(
                f"{what} after RunLogger.close() (experiment {self._experiment_name!r}); it is "
                "not recorded. Create a new RunLogger with the same experiment to keep logging"
            )
        return writer

    def _adopt(self) -> None:
        """First use in a process that inherited this logger by fork()."""
        closed = self._writer.closed
        self._writer.forget()
        if self._finalizer is not None:
            self._finalizer.detach()  # the parent's: it does nothing here anyway
        self._start(closed=closed)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        del state["_writer"], state["_finalizer"]
        state["_closed"] = self._writer.closed
        state["_engine"] = None  # an Engine does not pickle: the copy opens its own
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        closed = state.pop("_closed")
        self.__dict__.update(state)
        self._start(closed=closed)

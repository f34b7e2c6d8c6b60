"""SQLiteLoggerWrapper: one database row per finished episode, velora's schema.

Named for the embedded default (a SQLite file, ``metrics.db``), it writes to
any SQLAlchemy URL or Engine, e.g. PostgreSQL for workers on many machines.
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import time
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
from gymnasium.core import ActType, ObsType

from gymscope._checks import check_optional_int
from gymscope.episode import EpisodeRecord, StatsConfig, check_info_keys, check_window_size
from gymscope.errors import ArgumentTypeError, InvalidArgumentError, UsageError
from gymscope.wrappers.base import GymscopeWrapper

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

    from gymscope.metrics.db import DbTarget
    from gymscope.metrics.writer import EpisodeWriter

__all__ = ["REMOTE_FLUSH_EVERY", "SQLiteLoggerWrapper"]

logger = logging.getLogger(__name__)

#: Default ``flush_every`` for databases other than SQLite: rows per commit.
REMOTE_FLUSH_EVERY = 32
_MAX_BACKOFF_S = 60.0

# Connections a forked child inherited from its parent. Closing them in the
# child could disturb the parent's use of the same database, so the child
# keeps them referenced (never used) until it exits.
_INHERITED: list[object] = []


class SQLiteLoggerWrapper(
    GymscopeWrapper[ObsType, ActType],
    gym.utils.RecordConstructorArgs,
):
    """Writes every finished episode to a metrics database (velora's schema).

    Each episode becomes one row of table ``episode`` with velora's columns
    filled (``episode_num``, ``reward``, ``length``, ``reward_moving_avg`` and
    ``reward_moving_std`` over the last ``window_size`` episodes of this env,
    the mean ``actor_loss``/``critic_loss``/``entropy_loss`` reported with
    ``log_metrics`` during the episode, ``created_at`` = when it ended) plus
    gymscope's: ``worker``, ``duration_s``, ``terminated``, ``truncated``,
    ``total_steps`` and ``extra`` (JSON: captured ``info_keys`` under
    ``"info"``, other reported metrics under ``"metrics"``). Column
    conventions (UTC times, NaN as NULL) are in :mod:`gymscope.metrics.models`.

    **Runs.** ``experiment=None`` starts a fresh run under a generated name
    (``env.experiment_name``); a given name joins that run, or resumes it. A
    wrapper built in each worker process gets its own generated name, so to
    put the episodes of several workers (``AsyncVectorEnv``, SB3's
    ``SubprocVecEnv``, Ray) in one run, pass them one name.

    **Workers.** ``episode_num`` counts per worker and continues after the
    highest number already stored for the run and that worker. With
    ``worker=None`` each wrapper leases the lowest worker number of the run
    that no open wrapper holds (0, 1, 2, ...) at its first write, and gives it
    back on ``close()``: 8 processes writing one run become workers 0-7 and
    never collide; a resumed single-process run continues as worker 0. A
    lease left behind by a killed process is taken over once that process is
    gone (checked by pid on the same host; a lease of a process on another
    host stays taken, so that worker number is skipped). An explicit
    ``worker`` is checked the same way: a live holder is an error.

    **Durability.** On SQLite (``flush_every=1``, the default there) each row
    is committed in WAL mode before ``step()`` returns: killing the process
    (SIGKILL, SIGTERM, a crash) loses no finished episode (a power loss may
    lose the last ones: ``synchronous=NORMAL``). Other backends commit every
    ``flush_every`` episodes (default ``REMOTE_FLUSH_EVERY`` = 32) to spare
    the training thread a network round trip per episode: SIGKILL or SIGTERM
    loses at most the ``flush_every - 1`` latest episodes, while an exception,
    ``KeyboardInterrupt`` or a normal exit loses none (``close()`` runs at
    interpreter exit). ``flush_every=1`` makes any backend as safe as SQLite.
    A failing database never stops the run: rows wait in memory and are
    retried at later episode ends (a warning is logged); ``flush()`` and
    ``close()`` raise :class:`~gymscope.errors.EpisodeWriteError` if
    they still cannot be written. SQLite's ``-wal`` file grows to about 32 MB
    between checkpoints (every ~8000 episodes in a file gymscope created),
    which keeps these rare on the training thread.

    **Lifecycle.** Nothing is opened or created before the first episode
    ends (gymnasium's ``AsyncVectorEnv`` builds and closes a throwaway copy:
    it leaves no file and no row). Pickled copies drop the connection and open
    their own in the new process (a given Engine is replaced by one for the
    same URL). ``close()`` is idempotent, flushes, and runs at exit.

    Args:
        env: The environment to wrap.
        db: SQLite file path, SQLAlchemy URL (``"postgresql+psycopg://..."``)
            or Engine. A relative path is resolved now, against the current
            directory.
        experiment: Name of the run to join or resume; None for a fresh one.
        agent: Agent name stored with a new experiment (velora's ``agent``;
            an empty string when not given).
        config: JSON-serialisable configuration stored with a new experiment.
        window_size: Episodes spanned by ``reward_moving_avg``/``_std``.
        info_keys: Keys of the final step's ``info`` to store in ``extra``.
        worker: Worker number of this env copy; None leases a free one.
        flush_every: Episodes per commit; None for 1 on SQLite and
            ``REMOTE_FLUSH_EVERY`` elsewhere.

    Raises:
        TypeError, ValueError: for a bad argument, before anything is written:
            an unwritable or missing directory, a malformed URL, a
            non-serialisable ``config``, ``info_keys`` that are not strings.
        IncompatibleSchemaError: an existing SQLite file was written by a
            newer, incompatible gymscope or by another program (other
            backends are checked when first opened).

    Example:
        >>> import gymnasium as gym, sqlite3, tempfile, os
        >>> from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = os.path.join(tmp.name, "metrics.db")
        >>> env = SQLiteLoggerWrapper(gym.make("CartPole-v1"), path, experiment="demo")
        >>> _ = env.reset(seed=0)
        >>> done, steps = False, 0
        >>> while not done:
        ...     _, _, terminated, truncated, _ = env.step(0)
        ...     done, steps = terminated or truncated, steps + 1
        >>> env.close()
        >>> with sqlite3.connect(path) as db:
        ...     rows = db.execute("SELECT episode_num, reward, length FROM episode").fetchall()
        >>> rows == [(0, float(steps), steps)]
        True
        >>> tmp.cleanup()

        Arguments are checked before anything is written:

        >>> SQLiteLoggerWrapper(gym.make("CartPole-v1"), "/no/such/dir/m.db")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        gymscope.errors.InvalidArgumentError: db='/no/such/dir/m.db': directory '/no/such/dir' ...
    """

    def __init__(
        self,
        env: gym.Env[ObsType, ActType],
        db: DbTarget = "metrics.db",
        experiment: str | None = None,
        *,
        agent: str | None = None,
        config: object = None,
        window_size: int = 100,
        info_keys: Sequence[str] = (),
        worker: int | None = None,
        flush_every: int | None = None,
    ) -> None:
        from sqlalchemy.engine import Engine

        from gymscope.metrics.db import check_db_target, check_existing_schema
        from gymscope.metrics.runs import dump_config

        keys = check_info_keys(info_keys)
        window = check_window_size(window_size)
        if experiment is not None:
            if not isinstance(experiment, str):
                raise ArgumentTypeError(
                    f"experiment must be a str (the run to join) or None (a fresh run), got "
                    f"{experiment!r} ({type(experiment).__name__})"
                )
            if not experiment.strip():
                raise InvalidArgumentError(
                    f"experiment must be a non-empty name (the run to join) or None (a fresh "
                    f"run), got {experiment!r}"
                )
        if agent is not None and not isinstance(agent, str):
            raise ArgumentTypeError(
                f"agent must be a str such as the agent's class name, got {agent!r} "
                f"({type(agent).__name__}); pass agent={type(agent).__name__!r}"
            )
        check_optional_int("worker", worker, 0, none_means="lease a free number")
        check_optional_int("flush_every", flush_every, 1, none_means="the backend's default")
        config_json = dump_config(config)
        target = check_db_target(db)
        if not isinstance(target, Engine):
            check_existing_schema(target)
        gym.utils.RecordConstructorArgs.__init__(
            self,
            # An Engine cannot be copied into the spec: its URL rebuilds the same target.
            db=target.url if isinstance(target, Engine) else db,
            experiment=experiment,
            agent=agent,
            config=config,
            window_size=window_size,
            info_keys=keys,
            worker=worker,
            flush_every=flush_every,
        )
        super().__init__(env, stats=StatsConfig(window_size=window), info_keys=keys)
        from gymscope.metrics.runs import experiment_name

        self._env_id = _env_id(env)
        self._agent = agent or ""
        self._config_json = config_json
        self._experiment_name = (
            experiment if experiment is not None else experiment_name(self._env_id, agent)
        )
        self._worker_arg = worker
        self._flush_every_arg = flush_every
        # A given Engine is used as is; otherwise one is created at the first write.
        self._engine: Engine | None = target if isinstance(target, Engine) else None
        self._owns_engine = self._engine is None
        self._url: URL = target.url if isinstance(target, Engine) else target
        self._writer: EpisodeWriter | None = None
        self._backlog: list[EpisodeRecord] = []
        self._pid: int | None = None
        self._token: str | None = None
        self._experiment_id: int | None = None
        self._open_failures = 0
        self._retry_open_at = 0.0
        self._finalizer: weakref.finalize[Any, Any] | None = None

    # -- public ------------------------------------------------------------------------
    @property
    def experiment_name(self) -> str:
        """Name of the run this env writes to (generated when none was given)."""
        return self._experiment_name

    @property
    def experiment_id(self) -> int | None:
        """``experiment.id`` of the run; None until the first episode is written."""
        return self._experiment_id

    @property
    def worker(self) -> int | None:
        """Worker number of this env copy (leased at the first write when not given)."""
        if self._writer is not None:
            return self._writer.worker
        return self._worker_arg

    @property
    def db_url(self) -> str:
        """The database URL, password hidden."""
        return str(self._url.render_as_string(hide_password=True))

    def flush(self) -> None:
        """Commit every finished episode not yet in the database.

        Raises:
            EpisodeWriteError: the database refuses them (they stay queued).
        """
        if self._pid is not None and self._pid != os.getpid():
            self._forget_inherited()
        if self._backlog:
            self._open_or_raise()
        if self._writer is not None:
            self._writer.flush()

    # -- episode end -------------------------------------------------------------------
    def _on_episode(self, record: EpisodeRecord) -> None:
        writer = self._writer
        if writer is not None and self._pid == os.getpid():
            writer.add(record)
            return
        self._on_episode_slow(record)

    def _on_episode_slow(self, record: EpisodeRecord) -> None:
        if self._closed:
            raise UsageError(
                f"episode {record.index} ended after SQLiteLoggerWrapper.close(); it is not "
                "recorded. Create a new wrapper to keep logging"
            )
        if self._pid is not None and self._pid != os.getpid():
            self._forget_inherited()
        self._close_at_exit()  # from now on there is something to flush or release
        self._backlog.append(record)
        if time.monotonic() < self._retry_open_at:
            return
        try:
            self._open()
        except _open_errors() as exc:
            self._open_failed(exc)

    def _open_or_raise(self) -> None:
        from gymscope.metrics.writer import EpisodeWriteError

        try:
            self._open()
        except _open_errors() as exc:
            self._open_failed(exc)
            raise EpisodeWriteError(
                f"{len(self._backlog)} finished episode(s) could not be written: cannot open "
                f"{self.db_url}: {exc}"
            ) from exc

    def _open(self) -> None:
        """Open the database, register the run and the worker, write the backlog."""
        if self._writer is None:
            self._writer = self._open_writer()
            self._pid = os.getpid()
            self._experiment_id = self._writer.experiment_id
            # A wrapper dropped without close() still flushes and gives its lease back.
            self._finalizer = weakref.finalize(
                self,
                _finish,
                self._writer,
                self._token,
                self._engine if self._owns_engine else None,
                self._pid,
            )
            self._finalizer.atexit = False  # at exit, close() runs instead
            if self._open_failures:
                logger.warning(
                    "opened %s after %d failed attempt(s)", self.db_url, self._open_failures
                )
            self._open_failures = 0
            self._retry_open_at = 0.0
        backlog, self._backlog = self._backlog, []
        for record in backlog:
            self._writer.add(record)

    def _open_writer(self) -> EpisodeWriter:
        from gymscope._version import __version__
        from gymscope.metrics.db import autocommit_connection, get_db_engine, write_transaction
        from gymscope.metrics.runs import claim_worker, join_experiment, next_episode_num
        from gymscope.metrics.writer import CoreEpisodeWriter, SQLiteEpisodeWriter

        if self._engine is None:
            self._engine = get_db_engine(self._url)
        else:
            get_db_engine(self._engine)  # the schema may be missing or newer
        engine = self._engine
        token = secrets.token_hex(16)
        conn = autocommit_connection(engine)
        try:
            with write_transaction(conn, exclusive=True):
                experiment_id = join_experiment(
                    conn,
                    self._experiment_name,
                    env=self._env_id,
                    agent=self._agent,
                    config=self._config_json,
                    version=__version__,
                )
                worker = claim_worker(conn, experiment_id, self._worker_arg, token)
                next_num = next_episode_num(conn, experiment_id, worker)
        except BaseException:
            conn.close()
            raise
        self._token = token
        sqlite_driver = isinstance(conn.connection.driver_connection, sqlite3.Connection)
        flush_every = self._flush_every_arg or (1 if sqlite_driver else REMOTE_FLUSH_EVERY)
        writer_cls = SQLiteEpisodeWriter if sqlite_driver else CoreEpisodeWriter
        return writer_cls(
            conn,
            engine,
            experiment_id=experiment_id,
            worker=worker,
            next_num=next_num,
            flush_every=flush_every,
            where=self.db_url,
        )

    def _open_failed(self, exc: BaseException) -> None:
        self._open_failures += 1
        delay = min(_MAX_BACKOFF_S, 0.5 * 2 ** (self._open_failures - 1))
        self._retry_open_at = time.monotonic() + delay
        log = logger.warning if self._open_failures == 1 else logger.debug
        log(
            "cannot open the metrics database %s (%s); keeping %d finished episode(s) in "
            "memory and retrying at later episode ends",
            self.db_url,
            exc,
            len(self._backlog),
        )

    def _forget_inherited(self) -> None:
        """In a forked child: leave the parent's connection, rows and lease alone."""
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._writer is not None:
            _INHERITED.append(self._writer)
        if self._owns_engine and self._engine is not None:
            self._engine.dispose(close=False)
        self._writer = None
        self._backlog = []
        self._pid = None
        self._token = None
        self._experiment_id = None

    # -- lifecycle ---------------------------------------------------------------------
    def _close_sink(self) -> None:
        if self._pid is not None and self._pid != os.getpid():
            self._forget_inherited()
        try:
            if self._backlog:
                self._open_or_raise()
            if self._writer is not None:
                self._writer.flush()
        finally:
            self._release()

    def _release(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        writer, token = self._writer, self._token
        self._writer = None
        self._token = None
        self._pid = None
        if writer is not None and token is not None:
            writer.release(token)
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()
            self._engine = None

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.update(
            _finalizer=None,
            _engine=None,  # an Engine does not pickle: the copy opens its own
            _owns_engine=True,
            _writer=None,
            _backlog=[],  # this instance writes them; a copy must not
            _pid=None,
            _token=None,
            _experiment_id=None,
            _open_failures=0,
            _retry_open_at=0.0,
        )
        return state


def _finish(writer: EpisodeWriter, token: str | None, engine: Engine | None, pid: int) -> None:
    """Flush, release the lease and close, for a wrapper collected without close()."""
    if os.getpid() != pid:  # a forked child: these belong to the parent
        return
    from gymscope.metrics.writer import EpisodeWriteError

    try:
        writer.flush()
    except EpisodeWriteError as exc:
        logger.error("SQLiteLoggerWrapper collected without close(): %s", exc)
    if token is not None:
        writer.release(token)
    if engine is not None:
        engine.dispose()


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


def _env_id(env: gym.Env[Any, Any]) -> str:
    spec = env.spec
    if spec is not None and spec.id:
        return str(spec.id)
    return type(env.unwrapped).__name__

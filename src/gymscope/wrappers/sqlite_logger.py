"""SQLiteLoggerWrapper: one database row per finished episode, velora's schema.

Named for the embedded default (a SQLite file, ``metrics.db``), it writes to
any SQLAlchemy URL or Engine, e.g. PostgreSQL for workers on many machines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import gymnasium as gym
from gymnasium.core import ActType, ObsType

from gymscope.episode import StatsConfig, check_info_keys, check_window_size
from gymscope.sinks.database import MAX_PENDING, REMOTE_FLUSH_EVERY
from gymscope.wrappers.base import GymscopeWrapper, check_env

if TYPE_CHECKING:
    from gymscope.metrics.db import DbTarget

__all__ = ["MAX_PENDING", "REMOTE_FLUSH_EVERY", "SQLiteLoggerWrapper"]


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
    that no open wrapper holds (0, 1, 2, ...) when its stack starts (the
    first ``reset()``), and gives it back on ``close()``: 8 processes writing
    one run become workers 0-7 and never collide; a resumed single-process
    run continues as worker 0. A worker number that has episodes already is
    continued: the stack's tracker takes up the stored episode index, total
    steps, moving window and EMA, and every output of the stack continues
    (see the "Resuming a run" docs page). A
    lease left behind by a killed process is taken over once that process is
    gone (checked by pid on the same host; a lease of a process on another
    host stays taken, so that worker number is skipped). An explicit
    ``worker`` is checked the same way: a live holder is an error.

    **Durability.** On a SQLite file each finished episode is appended to
    the writer's journal (``<db>.gymscope-journal/``, a copy into a mapped file)
    before ``step()`` returns, and a background thread commits the journaled
    rows in batches (at least every 0.25 s; see :mod:`gymscope.metrics.journal`):
    killing the process (SIGKILL, SIGTERM, a crash) loses no finished episode;
    the next writer or reader of the database ingests what the dead process
    journaled but had not committed, each episode once. With
    ``journal=False`` each row is committed in WAL mode before ``step()``
    returns instead (``flush_every=1``, the default then), at about five
    times the cost. A power loss may lose the last episodes either way
    (``synchronous=NORMAL``). Other backends commit every
    ``flush_every`` episodes (default ``REMOTE_FLUSH_EVERY`` = 32) to spare
    the training thread a network round trip per episode: SIGKILL or SIGTERM
    loses at most the ``flush_every - 1`` latest episodes, while an exception,
    ``KeyboardInterrupt`` or a normal exit loses none (``close()`` runs at
    interpreter exit). ``flush_every=1`` makes any backend as safe as SQLite.
    A failing database never stops the run: rows wait in memory (up to
    ``max_pending``) and are retried with backoff at later episode ends (a
    warning is logged); ``flush()`` and ``close()`` raise
    :class:`~gymscope.errors.EpisodeWriteError` if they still cannot be
    written. A database server is connected to once at construction: a
    wrong host, port, user, password or database name raises
    :class:`~gymscope.errors.DatabaseUnreachableError` there (see the "Many
    machines" docs page for what each failure loses). SQLite's ``-wal`` file grows to about 32 MB
    between checkpoints (every ~8000 episodes in a file gymscope created),
    which keeps these rare on the training thread.

    **Lifecycle.** Nothing is created before the stack's first ``reset()``
    (gymnasium's ``AsyncVectorEnv`` builds and closes a throwaway copy that
    is never reset: it leaves no file and no row); a database server is only
    connected to and hung up on, to report misconfiguration at once. Pickled copies
    drop the connection and open their own in the new process (a given
    Engine is replaced by one for the same URL). ``close()`` is idempotent,
    flushes, and runs at exit.

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
        flush_every: Episodes per commit; None for the backend's default
            (SQLite with the journal: a batch at least every 0.25 s, or once
            4096 rows wait; SQLite without it: 1; elsewhere
            ``REMOTE_FLUSH_EVERY``).
        journal: On a SQLite file, journal each episode (a copy into a mapped
            file, no system call) and commit in batches off the training thread (the default), or
            commit every row before ``step()`` returns (False).
        max_pending: Finished episodes kept in memory while the database
            cannot be written (default ``MAX_PENDING``); a longer outage
            drops the newer ones, with a warning.
        check_connection: Connect to a database server at construction (an
            Engine: at the first ``reset()``) and raise if that fails; False
            treats a server that is not up yet as an outage.

    Raises:
        TypeError, ValueError: for a bad argument, before anything is written:
            an unwritable or missing directory, a malformed URL, a
            non-serialisable ``config``, ``info_keys`` that are not strings.
        IncompatibleSchemaError: an existing SQLite file was written by a
            newer, incompatible gymscope or by another program (other
            backends are checked when first opened).
        DatabaseUnreachableError: the database server cannot be connected
            to as configured; the message names the URL (password hidden)
            and the fix.

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
        max_pending: int = MAX_PENDING,
        check_connection: bool = True,
        journal: bool = True,
    ) -> None:
        from sqlalchemy.engine import Engine

        from gymscope.sinks.database import DatabaseSink

        check_env(env)
        keys = check_info_keys(info_keys)
        window = check_window_size(window_size)
        stats = StatsConfig(window_size=window)
        sink = DatabaseSink(
            db,
            experiment,
            env_id=_env_id(env),
            agent=agent,
            config=config,
            worker=worker,
            flush_every=flush_every,
            stats=stats,
            max_pending=max_pending,
            check_connection=check_connection,
            journal=journal,
        )
        gym.utils.RecordConstructorArgs.__init__(
            self,
            # An Engine cannot be copied into the spec: its URL rebuilds the same target.
            db=sink.url if isinstance(db, Engine) else db,
            experiment=experiment,
            agent=agent,
            config=config,
            window_size=window_size,
            info_keys=keys,
            worker=worker,
            flush_every=flush_every,
            max_pending=max_pending,
            check_connection=check_connection,
            journal=journal,
        )
        # priority -1: the database names the run and leases the worker before
        # the stack's other sinks report them
        super().__init__(env, sink, stats=stats, info_keys=keys, priority=-1)
        self._db = sink

    @property
    def experiment_name(self) -> str:
        """Name of the run this env writes to (generated when none was given)."""
        return self._db.experiment_name

    @property
    def experiment_id(self) -> int | None:
        """``experiment.id`` of the run; None until the first episode is written."""
        return self._db.experiment_id

    @property
    def worker(self) -> int | None:
        """Worker number of this env copy (leased at the first reset when not given)."""
        return self._db.worker

    @property
    def db_url(self) -> str:
        """The database URL, password hidden."""
        return self._db.db_url

    def flush(self) -> None:
        """Commit every finished episode not yet in the database.

        Raises:
            EpisodeWriteError: the database refuses them (they stay queued).
        """
        self._check_process()
        self._db.flush()


def _env_id(env: gym.Env[Any, Any]) -> str:
    spec = env.spec
    if spec is not None and spec.id:
        return str(spec.id)
    return type(env.unwrapped).__name__

"""The vector SQLiteLoggerWrapper: one database worker per sub-env, one engine."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from gymnasium.vector import VectorEnv

from gymscope._checks import check_bool, check_int
from gymscope.episode import StatsConfig, check_info_keys, check_window_size
from gymscope.sinks.database import MAX_PENDING
from gymscope.vector.base import VectorGymscopeWrapper, check_vector_env

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from gymscope.metrics.db import DbTarget
    from gymscope.sinks.database import DatabaseSink

__all__ = ["SQLiteLoggerWrapper", "database_sinks", "engine_for_sub_envs"]


class SQLiteLoggerWrapper(VectorGymscopeWrapper):
    """Writes every finished episode of every sub-env to a metrics database.

    The vector counterpart of :class:`gymscope.SQLiteLoggerWrapper`, built on
    :class:`~gymscope.vector.base.VectorGymscopeWrapper`: one
    :class:`~gymscope.sinks.database.DatabaseSink` per sub-env, all writing
    one run (``experiment``) through one SQLAlchemy engine, sub-env ``i`` as
    worker ``worker_offset + i``. Each sub-env's rows are those a single-env
    ``SQLiteLoggerWrapper`` on it would write (``episode_num`` counting its
    own episodes, its own moving statistics); the database's run-level
    statistics merge the workers. Rows, durability and resuming are as
    described there: a worker that has rows already continues its stream
    (episode numbers, moving statistics) at the first ``reset()``.

    Nothing is created before the first ``reset()`` (a database server is
    connected to once at construction, to report misconfiguration at once). On
    ``close()`` the sinks flush and give their workers back, and an engine
    the wrapper created is disposed (a given one is left open).

    Args:
        env: The vector environment to wrap.
        db: SQLite file path, SQLAlchemy URL or Engine (shared by the sub-envs).
        experiment: Name of the run to join or resume; None for a fresh one
            (one generated name for all the sub-envs).
        agent: Agent name stored with a new experiment.
        config: JSON-serialisable configuration stored with the run.
        window_size: Episodes spanned by ``reward_moving_avg``/``_std``.
        info_keys: Keys of the final step's info to store in ``extra``.
        worker_offset: Worker number of sub-env 0; sub-env ``i`` is
            ``worker_offset + i`` (give a second vector env writing the same
            run its own range).
        flush_every: Episodes per commit and sub-env; None for the
            backend's default (as the single-env ``SQLiteLoggerWrapper``).
        journal: On a SQLite file, journal each episode (a copy into a mapped
            file) and commit all sub-envs' rows in one batch off the training
            thread (the default), or commit every row before ``step()``
            returns (False). See the single-env wrapper's "Durability".
        max_pending: Finished episodes per sub-env kept in memory while the
            database cannot be written (default ``MAX_PENDING``).
        check_connection: Connect to a database server at construction (an
            Engine: at the first ``reset()``) and raise if that fails.

    Raises:
        TypeError, ValueError: for a bad argument, before anything is written.
        DatabaseUnreachableError: the database server cannot be connected
            to as configured (at construction; for an Engine, at the first
            ``reset()``).
        WorkerInUseError: at the first ``reset()``, when a live logger holds
            one of the workers.

    Example:
        >>> import gymnasium as gym, numpy as np, sqlite3, tempfile, os
        >>> from gymscope.vector import SQLiteLoggerWrapper
        >>> tmp = tempfile.TemporaryDirectory()
        >>> path = os.path.join(tmp.name, "metrics.db")
        >>> envs = SQLiteLoggerWrapper(gym.make_vec("CartPole-v1", num_envs=2), path, "demo")
        >>> _ = envs.reset(seed=0)
        >>> for _ in range(40):
        ...     _ = envs.step(np.zeros(2, dtype=np.int64))
        >>> envs.close()
        >>> with sqlite3.connect(path) as db:
        ...     rows = db.execute(
        ...         "SELECT worker, episode_num, length FROM episode ORDER BY worker, episode_num"
        ...     ).fetchall()
        >>> rows[:2]
        [(0, 0, 9), (0, 1, 9)]
        >>> sorted({worker for worker, _, _ in rows})
        [0, 1]
        >>> tmp.cleanup()
    """

    def __init__(
        self,
        env: VectorEnv[Any, Any, Any],
        db: DbTarget = "metrics.db",
        experiment: str | None = None,
        *,
        agent: str | None = None,
        config: object = None,
        window_size: int = 100,
        info_keys: Sequence[str] = (),
        worker_offset: int = 0,
        flush_every: int | None = None,
        max_pending: int = MAX_PENDING,
        check_connection: bool = True,
        journal: bool = True,
    ) -> None:
        check_vector_env(env)
        keys = check_info_keys(info_keys)
        stats = StatsConfig(window_size=check_window_size(window_size))
        offset = check_int("worker_offset", worker_offset, 0)
        pending = check_int("max_pending", max_pending, 1)
        check_bool("check_connection", check_connection)
        spec = getattr(env, "spec", None)
        env_id = str(getattr(spec, "id", "") or type(env.unwrapped).__name__)
        sinks, self._owned_engine = database_sinks(
            db,
            experiment,
            env.num_envs,
            offset,
            env_id=env_id,
            agent=agent,
            config=config,
            flush_every=flush_every,
            stats=stats,
            max_pending=pending,
            check_connection=check_connection,
            journal=journal,
        )
        self._db_sinks = sinks
        # priority -1: the database names the run before the stack's other sinks report it
        super().__init__(env, [[sink] for sink in sinks], stats=stats, info_keys=keys, priority=-1)

    @property
    def experiment_name(self) -> str:
        """Name of the run the sub-envs write to (generated when none was given)."""
        return self._db_sinks[0].experiment_name

    @property
    def workers(self) -> tuple[int | None, ...]:
        """Worker number of each sub-env."""
        return tuple(sink.worker for sink in self._db_sinks)

    @property
    def db_url(self) -> str:
        """The database URL, password hidden."""
        return self._db_sinks[0].db_url

    def flush(self) -> None:
        """Commit every finished episode of every sub-env not yet in the database.

        Raises:
            EpisodeWriteError: the database refuses them (they stay queued).
        """
        if self._owner_pid != os.getpid():
            self._adopt()
        for sink in self._db_sinks:
            sink.flush()

    def _adopt(self) -> None:
        # a fork()ed child: the shared engine's pooled connections are the
        # parent's; drop them without closing (SQLAlchemy's fork recipe)
        if self._owned_engine is not None:
            self._owned_engine.dispose(close=False)
        super()._adopt()

    def close(self, **kwargs: Any) -> None:
        """Flush, give the workers back, dispose of the engine this wrapper made,
        close the vector env. Safe to call twice.

        Raises:
            EpisodeWriteError: rows could still not be written.
        """
        try:
            super().close(**kwargs)
        finally:
            if self._owned_engine is not None:
                self._owned_engine.dispose()

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state["_owned_engine"] = None  # an Engine does not pickle; each sink opens its own
        return state


def database_sinks(
    db: Any,
    experiment: str | None,
    num_envs: int,
    worker_offset: int,
    *,
    env_id: str,
    agent: str | None,
    config: object,
    flush_every: int | None,
    stats: StatsConfig,
    max_pending: int = MAX_PENDING,
    check_connection: bool = True,
    check_now: bool = True,
    journal: bool = True,
) -> tuple[tuple[DatabaseSink, ...], Engine | None]:
    """One :class:`~gymscope.sinks.database.DatabaseSink` per sub-env, sub-env
    ``i`` as worker ``worker_offset + i`` of one run, all on one engine: ``db``
    itself when it is an Engine, else one made here for ``num_envs``
    connections (:func:`engine_for_sub_envs`), returned second (the caller
    disposes of it; None for a given Engine).

    With ``check_connection`` a server that cannot be used as configured
    is an error: a URL is checked once, here (``check_now``; else by each
    sink at its first open, as a given Engine always is).

    Raises:
        DatabaseUnreachableError: the server refuses the URL as configured.
        TypeError, ValueError: a bad argument (worker numbers beyond
            ``MAX_WORKER`` among them).
    """
    from sqlalchemy.engine import Engine

    from gymscope.metrics.connect import check_reachable
    from gymscope.metrics.db import check_db_target, check_existing_schema
    from gymscope.sinks.database import MAX_WORKER, DatabaseSink

    last = worker_offset + num_envs - 1
    check_int("worker_offset + num_envs - 1", last, 0, maximum=MAX_WORKER)
    target = check_db_target(db)
    owned: Engine | None = None
    if isinstance(target, Engine):
        engine = target
    else:
        check_existing_schema(target)
        if check_connection and check_now:  # once for all sub-envs
            check_reachable(target)
        engine = owned = engine_for_sub_envs(target, num_envs)
    checked = check_connection and check_now and owned is not None
    sinks: list[DatabaseSink] = []
    for i in range(num_envs):
        sinks.append(
            DatabaseSink(
                engine,
                experiment if not sinks else sinks[0].experiment_name,
                env_id=env_id,
                agent=agent,
                config=config,
                worker=worker_offset + i,
                flush_every=flush_every,
                stats=stats,
                max_pending=max_pending,
                check_connection=check_connection and not checked,
                journal=journal,
            )
        )
    return tuple(sinks), owned


def engine_for_sub_envs(url: Any, connections: int = 1) -> Engine:
    """An engine for ``url`` that has not connected yet (the first sink to open
    creates the tables, with gymscope's SQLite settings), whose pool holds
    ``connections`` at once: each sub-env's sink keeps one open while the
    wrapper is (SQLAlchemy's default pool of 5 + 10 would make the 16th
    sub-env wait 30 s and fail)."""
    import sqlalchemy as sa

    from gymscope.metrics.db import is_sqlite

    kwargs: dict[str, Any] = {"pool_size": max(5, connections), "max_overflow": 10}
    if not is_sqlite(url):
        from gymscope.metrics.connect import connect_args

        kwargs.update(pool_pre_ping=True, connect_args=connect_args(url))
    return sa.create_engine(url, **kwargs)

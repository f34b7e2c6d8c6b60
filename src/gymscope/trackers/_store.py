"""The tracker runs a run was handed to, kept in the metrics database.

One row of ``gymscope_tracker_run`` (see :data:`gymscope.metrics.models.tracker_run`)
per (experiment, worker, backend, target): the tracker's run id, so a resumed
worker or a later ``gymscope push`` continues that tracker run instead of
starting another, and the high-water marks of what the tracker holds, so a
push never sends a point twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

__all__ = ["StoredTrackerRun", "TrackerRunStore"]

logger = logging.getLogger(__name__)


@dataclass
class StoredTrackerRun:
    """What the database says a tracker holds of a run.

    Attributes:
        run_id: The tracker's id of the run.
        episodes: Per worker, the last ``episode_num`` the tracker received.
        episode_step: The step of the last episode logged (None: none yet).
        metric_step: The last step of training metrics logged (None: none yet).
        videos: File names of the videos attached.
    """

    run_id: str
    episodes: dict[int, int] = field(default_factory=dict)
    episode_step: int | None = None
    metric_step: int | None = None
    videos: list[str] = field(default_factory=list)


class TrackerRunStore:
    """Reads and writes one row of ``gymscope_tracker_run``.

    Args:
        database: The metrics database (a SQLAlchemy URL or an Engine).
        experiment: The run's name (table ``experiment``).
        worker: The worker the tracker run is of; None for the whole run.
        backend: ``"wandb"``, ``"mlflow"``, ``"comet"``.
        target: Where the tracker run lives (see :func:`tracker_target`).
        experiment_id: The run's id, when known (else looked up by name).
    """

    def __init__(
        self,
        database: URL | Engine,
        experiment: str,
        *,
        worker: int | None,
        backend: str,
        target: str,
        experiment_id: int | None = None,
    ) -> None:
        self.database = database
        self.experiment = experiment
        self.worker = worker
        self.backend = backend
        self.target = target
        self._experiment_id = experiment_id
        self._engine: Engine | None = None
        self._schema_checked = False

    def _get_engine(self) -> Engine:
        import sqlalchemy as sa
        from sqlalchemy.engine import Engine

        if self._engine is None:
            if isinstance(self.database, Engine):
                self._engine = self.database
            else:
                from gymscope.metrics.db import configure_sqlite

                self._engine = sa.create_engine(self.database)
                configure_sqlite(self._engine)
        return self._engine

    def _lookup_id(self, conn: Any) -> int | None:
        import sqlalchemy as sa

        from gymscope.metrics.models import Experiment

        if self._experiment_id is None:
            table = Experiment.__table__  # type: ignore[attr-defined]
            self._experiment_id = conn.execute(
                sa.select(table.c.id).where(table.c.name == self.experiment)
            ).scalar()
        return self._experiment_id

    def _where(self, experiment_id: int) -> Any:
        from gymscope.metrics.models import tracker_run as t

        worker = t.c.worker.is_(None) if self.worker is None else t.c.worker == self.worker
        return (
            (t.c.experiment_id == experiment_id)
            & worker
            & (t.c.backend == self.backend)
            & (t.c.target == self.target)
        )

    def load(self) -> StoredTrackerRun | None:
        """The stored tracker run, or None (none yet, or no such table: an older
        or read-only database, which this reads without changing)."""
        import sqlalchemy as sa

        from gymscope.metrics.models import tracker_run as t

        engine = self._get_engine()
        with engine.connect() as conn:
            if not sa.inspect(conn).has_table(t.name):
                return None
            experiment_id = self._lookup_id(conn)
            if experiment_id is None:
                return None
            row = conn.execute(
                sa.select(t.c.run_id, t.c.episodes, t.c.episode_step, t.c.metric_step, t.c.videos)
                .where(self._where(experiment_id))
                .order_by(t.c.id.desc())
            ).first()
        if row is None:
            return None
        episodes = {int(k): int(v) for k, v in (row.episodes or {}).items()}
        return StoredTrackerRun(
            str(row.run_id),
            episodes,
            None if row.episode_step is None else int(row.episode_step),
            None if row.metric_step is None else int(row.metric_step),
            [str(v) for v in row.videos or ()],
        )

    def save(self, stored: StoredTrackerRun) -> bool:
        """Write ``stored`` (insert or update the row); False when the run is
        not in the database yet (its database sink has not written it).

        Raises:
            sqlalchemy.exc.SQLAlchemyError, OSError: the database refuses it.
        """
        import sqlalchemy as sa

        from gymscope.metrics.db import autocommit_connection, ensure_schema, write_transaction
        from gymscope.metrics.models import tracker_run as t
        from gymscope.metrics.models import utcnow

        engine = self._get_engine()
        if not self._schema_checked:
            ensure_schema(engine)  # an older file gets the table (in place)
            self._schema_checked = True
        values = {
            "run_id": stored.run_id,
            "episodes": {str(k): v for k, v in sorted(stored.episodes.items())} or None,
            "episode_step": stored.episode_step,
            "metric_step": stored.metric_step,
            "videos": list(stored.videos) or None,
            "updated_at": utcnow(),
        }
        with autocommit_connection(engine) as conn, write_transaction(conn):
            experiment_id = self._lookup_id(conn)
            if experiment_id is None:
                return False
            row = conn.execute(
                sa.select(t.c.id).where(self._where(experiment_id)).order_by(t.c.id.desc())
            ).first()
            if row is None:
                conn.execute(
                    t.insert().values(
                        experiment_id=experiment_id,
                        worker=self.worker,
                        backend=self.backend,
                        target=self.target,
                        created_at=values["updated_at"],
                        **values,
                    )
                )
            else:
                conn.execute(t.update().where(t.c.id == row.id).values(**values))
        return True

    def close(self) -> None:
        """Dispose of the engine this store created (idempotent)."""
        from sqlalchemy.engine import Engine

        engine, self._engine = self._engine, None
        if engine is not None and not isinstance(self.database, Engine):
            engine.dispose()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_engine"] = None
        state["_schema_checked"] = False
        if not isinstance(self.database, str) and type(self.database).__name__ != "URL":
            state["database"] = None  # an Engine does not pickle
        return state

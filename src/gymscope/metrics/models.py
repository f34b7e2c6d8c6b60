"""The metrics tables: velora's ``experiment`` and ``episode``, plus gymscope's columns.

Every column of velora's schema is here with the same name, type and index,
so velora's documented queries run unchanged against a gymscope database.
The added columns are what a logger shared by many workers needs: the
experiment's unique ``name`` (how workers join one run), the gymscope
version, and per episode the ``worker`` that wrote it, its duration, how it
ended, the step count so far and a JSON column ``extra`` for captured info
values and further metrics.

The tables live in gymscope's own SQLAlchemy registry (``metadata``), not in
SQLModel's default one, so an application that defines its own ``episode``
table with SQLModel does not clash with these.

Conventions of the stored values:

- ``created_at`` columns hold time-zone aware UTC datetimes (``timestamptz``
  on PostgreSQL; SQLite stores UTC text and reads back aware datetimes), as
  current SQLModel does, so workers in different time zones compare. An
  episode's ``created_at`` is the moment it ended.
- A NaN value is stored as SQL ``NULL`` (SQLite cannot store NaN at all, and
  every backend then behaves the same); the names of the NaN columns are
  listed in ``extra["nan"]``, so a ``NULL`` there is never ambiguous.
  Infinities are stored as they are.
- the three loss columns are ``NULL`` when the agent did not report them
  (velora's own ``entropy_loss`` default of 0.0 is read as "not reported"
  beside two NULL losses, see :func:`~gymscope.metrics.codec.row_loss`).
- ``extra`` is ``NULL`` or a JSON object with the optional keys ``"info"``
  (captured ``info_keys``), ``"metrics"`` (episode means of metrics other than
  the three losses) and ``"nan"``. Non-finite floats inside it are written as
  the strings ``"NaN"``, ``"Infinity"`` and ``"-Infinity"`` (strict JSON).

>>> from gymscope.metrics import Episode, Experiment
>>> Episode.__tablename__, Experiment.__tablename__
('episode', 'experiment')
>>> [c for c in ("reward", "reward_moving_avg", "worker") if c in Episode.__table__.c]
['reward', 'reward_moving_avg', 'worker']
"""

# No ``from __future__ import annotations`` here: SQLModel resolves the
# relationship annotations at class creation and needs real objects for them.

import datetime as dt
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import registry
from sqlmodel import Field, Relationship, SQLModel

from gymscope.errors import InvalidArgumentError

__all__ = [
    "COMPATIBLE_FROM",
    "SCHEMA_VERSION",
    "Episode",
    "Experiment",
    "UTCDateTime",
    "config_history",
    "metadata",
    "metric",
    "schema_info",
    "text_log",
    "tracker_run",
    "utcnow",
    "worker_lease",
]

#: Version of the table layout this gymscope writes. Bump it on any change.
#: Version 2 added the step-keyed ``gymscope_metric`` table, the run's
#: ``gymscope_config`` history and ``gymscope_text``, the experiment's
#: ``stats_window``/``stats_alpha`` and the worker lease's ``heartbeat_at``;
#: :func:`~gymscope.metrics.db.ensure_schema` adds them to a version-1 file.
#: Version 3 added ``gymscope_tracker_run`` (the experiment-tracker runs a run
#: was handed to, for ``gymscope push``), added in place to a version 1 or 2 file.
SCHEMA_VERSION = 3
#: Oldest schema version whose code can still read and write a database in
#: this layout. Additive changes keep it; an incompatible change sets it to
#: ``SCHEMA_VERSION`` so older gymscope versions refuse the database.
COMPATIBLE_FROM = 1

_registry = registry()


class _Base(SQLModel, registry=_registry):
    """Base of gymscope's tables: its own registry and metadata."""


#: The SQLAlchemy metadata holding every gymscope table.
metadata: MetaData = _registry.metadata


def utcnow() -> dt.datetime:
    """The current time as an aware UTC datetime (how gymscope stores times)."""
    return dt.datetime.now(dt.timezone.utc)


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware datetimes stored as UTC; read back as aware UTC datetimes.

    The same contract as SQLModel's own datetime type in recent versions,
    spelled out here so the schema does not depend on the SQLModel version.
    A naive datetime is refused: it does not say which time zone it means.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Dialect) -> dt.datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:
            raise InvalidArgumentError(
                f"datetime {value!r} has no time zone; gymscope stores UTC: pass an aware "
                "datetime such as datetime.now(timezone.utc)"
            )
        return value.astimezone(dt.timezone.utc)

    def process_result_value(
        self, value: dt.datetime | None, dialect: Dialect
    ) -> dt.datetime | None:
        if value is None:
            return None
        if value.utcoffset() is None:  # SQLite keeps UTC without an offset
            return value.replace(tzinfo=dt.timezone.utc)
        return value.astimezone(dt.timezone.utc)


class Experiment(_Base, table=True):
    """One run: every episode of all its workers points here.

    velora's columns: ``id``, ``agent``, ``env``, ``config``, ``created_at``.
    Added: ``name`` (unique; workers join a run by name),
    ``gymscope_version`` (the version that created the row), and the window
    and EMA weight of the run's statistics, ``stats_window`` and
    ``stats_alpha`` (those of the logger that created it; NULL in a version-1
    file, read as 100 and 0.1). ``config`` is the configuration the run was
    first started with; every later one is in ``gymscope_config``.
    """

    __tablename__: ClassVar[Any] = "experiment"

    id: int | None = Field(default=None, primary_key=True)
    agent: str = Field(index=True)
    env: str = Field(index=True)
    config: str
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    name: str = Field(sa_column=Column(String, unique=True, index=True, nullable=False))
    gymscope_version: str = ""
    stats_window: int | None = None
    stats_alpha: float | None = None

    episodes: list["Episode"] = Relationship(back_populates="experiment")


class Episode(_Base, table=True):
    """One finished episode.

    velora's columns: ``id``, ``experiment_id``, ``episode_num``, ``reward``,
    ``length``, ``reward_moving_avg``, ``reward_moving_std``, ``actor_loss``,
    ``critic_loss``, ``entropy_loss``, ``created_at``. Added: ``worker``,
    ``duration_s``, ``terminated``, ``truncated``, ``total_steps``, ``extra``.
    ``episode_num`` counts per (experiment, worker), so
    ``(experiment_id, worker, episode_num)`` is unique.
    """

    __tablename__: ClassVar[Any] = "episode"
    __table_args__: ClassVar[Any] = (
        Index(
            "ix_episode_experiment_worker_num",
            "experiment_id",
            "worker",
            "episode_num",
            unique=True,
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    experiment_id: int = Field(foreign_key="experiment.id", index=True)
    episode_num: int = Field(index=True)
    reward: float | None = None  # NULL only for a NaN return
    length: int
    reward_moving_avg: float | None = None
    reward_moving_std: float | None = None
    actor_loss: float | None = None
    critic_loss: float | None = None
    entropy_loss: float | None = 0.0
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    worker: int = 0
    duration_s: float = 0.0
    terminated: bool = False
    truncated: bool = False
    total_steps: int = 0
    extra: dict[str, Any] | None = Field(
        default=None, sa_column=Column(JSON(none_as_null=True), nullable=True)
    )

    experiment: Experiment | None = Relationship(back_populates="episodes")


#: One row (id 1): the schema version of the database and since which version
#: it is compatible. Written when the tables are created.
schema_info = Table(
    "gymscope_schema",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("version", Integer, nullable=False),
    Column("compatible_from", Integer, nullable=False),
    Column("gymscope_version", String, nullable=False),
)

#: Which writer holds which worker number of an experiment. A row exists while
#: a logger is open; one left behind by a killed process is taken over once
#: that process is known to be gone.
worker_lease = Table(
    "gymscope_worker",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiment.id"), nullable=False),
    Column("worker", Integer, nullable=False),
    Column("token", String, nullable=False, unique=True),
    Column("host", String, nullable=False),
    Column("pid", Integer, nullable=False),
    Column("claimed_at", UTCDateTime, nullable=False),
    # Last sign of life of the writer (refreshed as it writes, at most every
    # HEARTBEAT_S): how a reader on another host tells a live run from a dead one.
    Column("heartbeat_at", UTCDateTime, nullable=True),
    UniqueConstraint("experiment_id", "worker", name="uq_gymscope_worker_experiment_worker"),
)

#: Step-keyed training metrics: one row per value reported with
#: ``log_metrics(step=...)``, the SB3 logger bridge or the SummaryWriter-style
#: writer. ``step`` is the env step the value belongs to (TensorBoard's and
#: W&B's x axis), ``wall_time`` Unix seconds, ``worker`` the env worker that
#: reported it (NULL for the trainer: a logger outside any env). A value of
#: NULL is a reported NaN: a metric that was not reported has no row.
metric = Table(
    "gymscope_metric",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiment.id"), nullable=False),
    Column("worker", Integer, nullable=True),
    Column("name", String, nullable=False),
    Column("step", BigInteger, nullable=False),
    Column("value", Float, nullable=True),
    Column("wall_time", Float, nullable=False),
    Index("ix_gymscope_metric_experiment_name_step", "experiment_id", "name", "step"),
)

#: Every configuration a run was started (or resumed) with, and when: a row
#: when the run is created and one each time a writer joins it with a
#: configuration that differs from the latest one.
config_history = Table(
    "gymscope_config",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiment.id"), nullable=False, index=True),
    Column("worker", Integer, nullable=True),
    Column("config", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

#: Text logged for a run (``SummaryWriter.add_text``): tag, step, text.
text_log = Table(
    "gymscope_text",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiment.id"), nullable=False, index=True),
    Column("tag", String, nullable=False),
    Column("step", BigInteger, nullable=True),
    Column("text", Text, nullable=False),
    Column("wall_time", Float, nullable=False),
)

#: The experiment-tracker runs (W&B, MLflow, Comet) a run was handed to, live
#: or by ``gymscope push``: one row per (experiment, worker, backend, target).
#: ``worker`` is NULL for a tracker run of the whole run (``push``, the vector
#: ``AnalyticsWrapper``); ``target`` names where the tracker run lives (the
#: backend's project and URI or entity); ``run_id`` is the tracker's id, so a
#: later push or a resumed worker continues that run. The high-water marks
#: say what the tracker already holds: ``episodes`` (JSON ``{worker: last
#: episode_num}``), ``episode_step`` (the step of the last episode logged),
#: ``metric_step`` (the last training-metric step logged) and ``videos`` (JSON
#: list of the video file names attached); NULL: nothing yet.
tracker_run = Table(
    "gymscope_tracker_run",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiment.id"), nullable=False, index=True),
    Column("worker", Integer, nullable=True),
    Column("backend", String, nullable=False),
    Column("target", String, nullable=False),
    Column("run_id", String, nullable=False),
    Column("episodes", JSON(none_as_null=True), nullable=True),
    Column("episode_step", BigInteger, nullable=True),
    Column("metric_step", BigInteger, nullable=True),
    Column("videos", JSON(none_as_null=True), nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

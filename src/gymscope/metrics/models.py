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
- ``actor_loss`` and ``critic_loss`` are ``NULL`` when the agent did not
  report them; ``entropy_loss`` is ``0.0`` then (velora's default).
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
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
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
    "metadata",
    "schema_info",
    "utcnow",
    "worker_lease",
]

#: Version of the table layout this gymscope writes. Bump it on any change.
SCHEMA_VERSION = 1
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
    Added: ``name`` (unique; workers join a run by name) and
    ``gymscope_version`` (the version that created the row).
    """

    __tablename__: ClassVar[Any] = "experiment"

    id: int | None = Field(default=None, primary_key=True)
    agent: str = Field(index=True)
    env: str = Field(index=True)
    config: str
    created_at: dt.datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    name: str = Field(sa_column=Column(String, unique=True, index=True, nullable=False))
    gymscope_version: str = ""

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
    UniqueConstraint("experiment_id", "worker", name="uq_gymscope_worker_experiment_worker"),
)

"""Reading a metrics database: runs, their summaries and their episodes.

What ``gymscope runs/show/export/plot/report`` and
:func:`~gymscope.charts.plot_experiment` read, in one place. A
:class:`MetricsReader` never writes and never creates anything: a SQLite path
that does not exist is an error (:class:`DatabaseNotFoundError`), not a new
empty ``metrics.db``; an existing file is opened with writes refused
(``PRAGMA query_only``), or in SQLite's read-only mode when this process may
not write it. Tables are reflected, not taken from gymscope's models, so a
database written by velora itself (no ``name``, ``worker``, ... columns) reads
too; what it lacks reads as missing values.

Experiments are found by id or by name (:meth:`MetricsReader.experiment`). An
unknown one raises :class:`ExperimentNotFoundError`, whose message lists the
closest names.

>>> import tempfile, gymnasium as gym
>>> from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
>>> folder = tempfile.TemporaryDirectory()
>>> db = f"{folder.name}/metrics.db"
>>> env = SQLiteLoggerWrapper(gym.make("CartPole-v1"), db, experiment="cartpole-1")
>>> _ = env.reset(seed=0)
>>> for _ in range(100):
...     _, _, terminated, truncated, _ = env.step(0)
...     if terminated or truncated:
...         _ = env.reset()
>>> env.close()
>>> with MetricsReader(db) as reader:
...     (run,) = reader.runs()
...     episodes = reader.episodes("cartpole-1")
>>> run.name, run.env, run.episodes == len(episodes), run.steps <= 100
('cartpole-1', 'CartPole-v1', True, True)
>>> with MetricsReader(db) as reader:
...     try:
...         reader.experiment("cartpole")
...     except ExperimentNotFoundError as exc:
...         print(exc)
no experiment 'cartpole' in the database; close matches: 1 ('cartpole-1')
>>> MetricsReader(f"{folder.name}/missing.db")  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
gymscope.errors.DatabaseNotFoundError: no metrics database at '.../missing.db'
>>> folder.cleanup()
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from gymscope._checks import finite_or_none
from gymscope.errors import (
    ArgumentTypeError,
    DatabaseNotFoundError,
    ExperimentNotFoundError,
    NotAMetricsDatabaseError,
)
from gymscope.metrics.codec import aware_time, decode_json, reported_losses, stored_float
from gymscope.metrics.db import BUSY_TIMEOUT_S, DbTarget, resolve_url, sqlite_file

__all__ = [
    "EPISODE_FIELDS",
    "DatabaseNotFoundError",
    "ExperimentInfo",
    "ExperimentNotFoundError",
    "MetricsReader",
    "NotAMetricsDatabaseError",
    "RunEpisodes",
    "RunSummary",
    "describe_target",
    "looks_like_database",
]

FloatArray = npt.NDArray[np.float64]

#: Episode columns read, in this order: velora's, then gymscope's additions.
EPISODE_FIELDS = (
    "episode_num",
    "worker",
    "reward",
    "length",
    "reward_moving_avg",
    "reward_moving_std",
    "actor_loss",
    "critic_loss",
    "entropy_loss",
    "created_at",
    "duration_s",
    "terminated",
    "truncated",
    "total_steps",
    "extra",
)
# Columns every velora-schema database has; the rest are read when present.
_REQUIRED = ("experiment_id", "episode_num", "reward", "length")
_SQLITE_SUFFIXES = frozenset({".db", ".sqlite", ".sqlite3", ".db3"})
_UTC = dt.timezone.utc
# How many experiments an error message names.
_LISTED = 10


def looks_like_database(text: str) -> bool:
    """Whether a command-line argument names a database rather than an experiment.

    True for a URL (``sqlite:///runs.db``, ``postgresql://...``), an existing
    file, and a path ending in ``.db``, ``.sqlite``, ``.sqlite3`` or ``.db3``.

    >>> looks_like_database("postgresql+psycopg://me@host/runs"), looks_like_database("7")
    (True, False)
    >>> looks_like_database("runs/metrics.db"), looks_like_database("CartPole-v1_PPO")
    (True, False)
    """
    if "://" in text:
        return True
    path = Path(text).expanduser()
    return path.suffix.lower() in _SQLITE_SUFFIXES or path.is_file()


def describe_target(db: DbTarget) -> str:
    """How to name ``db`` in messages: the path, or the URL without its password."""
    if isinstance(db, Engine):
        return db.url.render_as_string(hide_password=True)
    if isinstance(db, URL):
        return db.render_as_string(hide_password=True)
    text = os.fspath(db)
    if isinstance(text, str) and "://" in text:
        try:
            return sa.make_url(text).render_as_string(hide_password=True)
        except (sa.exc.ArgumentError, ValueError):
            return text
    return str(text)


# -- values --------------------------------------------------------------------------
# -- records -------------------------------------------------------------------------
@dataclass(frozen=True)
class ExperimentInfo:
    """One row of ``experiment``.

    Attributes:
        id: Primary key.
        name: The run's unique name ("" in a velora database, which has none).
        env: Environment id.
        agent: Agent name.
        config: The stored configuration text (JSON when gymscope or velora wrote it).
        created_at: When the row was written (aware, UTC), if known.
        gymscope_version: The gymscope version that created the row ("" if unknown).
    """

    id: int
    name: str
    env: str
    agent: str
    config: str
    created_at: dt.datetime | None
    gymscope_version: str = ""

    @property
    def label(self) -> str:
        """The name, or ``experiment {id}`` for a run without one."""
        return self.name or f"experiment {self.id}"

    def config_value(self) -> Any:
        """The configuration parsed as JSON, or the raw text if it is not JSON."""
        text = self.config.strip()
        if not text:
            return {}
        try:
            return json.loads(text)
        except ValueError:
            return self.config


@dataclass(frozen=True)
class RunSummary:
    """What ``gymscope runs`` shows of one experiment.

    Attributes:
        experiment: The experiment's row.
        episodes: Episodes stored.
        steps: Environment steps (sum of the episode lengths).
        workers: Distinct workers that wrote episodes.
        best_moving_avg: Highest stored ``reward_moving_avg`` (None if none).
        last_moving_avg: ``reward_moving_avg`` of the episode that ended last.
        started: When the run started: its first episode's start (end minus
            duration) or the experiment row's creation, whichever is earlier.
        ended: When its last episode ended.
    """

    experiment: ExperimentInfo
    episodes: int
    steps: int
    workers: int
    best_moving_avg: float | None
    last_moving_avg: float | None
    started: dt.datetime | None
    ended: dt.datetime | None

    @property
    def id(self) -> int:
        """The experiment id."""
        return self.experiment.id

    @property
    def name(self) -> str:
        """The experiment name."""
        return self.experiment.name

    @property
    def env(self) -> str:
        """The environment id."""
        return self.experiment.env

    @property
    def agent(self) -> str:
        """The agent name."""
        return self.experiment.agent

    @property
    def duration_s(self) -> float | None:
        """Seconds from the start to the end of the last episode (None if unknown)."""
        if self.started is None or self.ended is None:
            return None
        return max(0.0, (self.ended - self.started).total_seconds())


@dataclass(frozen=True)
class RunEpisodes:
    """The episodes of one experiment, in the order they ended.

    Column-wise: ``values[name]`` is the list of stored values of column
    ``name`` (one of :data:`EPISODE_FIELDS`; a column the database lacks is
    absent from ``values``). Episodes are ordered by ``episode_num`` for a run
    with one worker, by ``created_at`` (the end time) across workers.

    Attributes:
        experiment: The experiment's row.
        values: Stored values by column, one per episode.
    """

    experiment: ExperimentInfo
    values: dict[str, list[Any]] = field(repr=False)

    def __len__(self) -> int:
        return len(self.values["episode_num"])

    def floats(self, name: str) -> FloatArray:
        """Column ``name`` as floats: NULL, non-numbers and a missing column are NaN."""
        column = self.values.get(name)
        if column is None:
            return np.full(len(self), np.nan)
        numbers = [stored_float(v) for v in column]
        return np.array([math.nan if v is None else v for v in numbers], dtype=np.float64)

    @property
    def rewards(self) -> FloatArray:
        """Episode returns (NaN where NULL)."""
        return self.floats("reward")

    @property
    def lengths(self) -> FloatArray:
        """Episode lengths."""
        return self.floats("length")

    @property
    def moving_avg(self) -> FloatArray:
        """The stored ``reward_moving_avg`` (the logger's window)."""
        return self.floats("reward_moving_avg")

    @property
    def workers(self) -> int:
        """Distinct workers (1 when the database has no ``worker`` column)."""
        column = self.values.get("worker")
        return len(set(column)) if column else (1 if len(self) else 0)

    def ended_at(self) -> list[dt.datetime | None]:
        """When each episode ended (aware UTC), None where unknown."""
        column = self.values.get("created_at")
        if column is None:
            return [None] * len(self)
        return [aware_time(v) for v in column]

    def started_at(self) -> dt.datetime | None:
        """When the run started: the earliest episode start (end minus duration)
        or the experiment row's creation, whichever is earlier."""
        candidates = [] if self.experiment.created_at is None else [self.experiment.created_at]
        durations = self.values.get("duration_s") or [None] * len(self)
        for end, duration in zip(self.ended_at(), durations, strict=True):
            if end is not None:
                seconds = stored_float(duration)
                lead = seconds if seconds is not None and math.isfinite(seconds) else 0.0
                candidates.append(end - dt.timedelta(seconds=max(0.0, lead)))
        return min(candidates, default=None)

    def extras(self) -> dict[str, FloatArray]:
        """Per-episode series besides return and length, NaN where missing.

        Captured info values (``extra["info"]``), then the losses that were
        reported (``entropy_loss`` only if some value is non-zero: 0.0 is also
        what the logger stores when none was reported), then the other logged
        metrics (``extra["metrics"]``). A metric whose name is taken already
        is called ``metric {name}``.
        """
        n = len(self)
        groups: dict[str, dict[str, FloatArray]] = {"info": {}, "metrics": {}}
        for i, raw in enumerate(self.values.get("extra") or ()):
            extra = decode_json(raw)
            if not isinstance(extra, dict):
                continue
            for group, series in groups.items():
                values = extra.get(group)
                if not isinstance(values, dict):
                    continue
                for key, value in values.items():
                    number = stored_float(value)
                    if number is None:
                        continue
                    if key not in series:
                        series[key] = np.full(n, np.nan)
                    series[key][i] = number
        extras: dict[str, FloatArray] = dict(groups["info"])
        for loss in reported_losses(self.values):
            values = self.floats(loss)
            extras[loss if loss not in extras else f"metric {loss}"] = values
        for key, values in groups["metrics"].items():
            extras[key if key not in extras else f"metric {key}"] = values
        return extras

    def records(self) -> Iterator[dict[str, Any]]:
        """One plain dict per episode: every stored column with JSON-ready values.

        Keys follow :data:`EPISODE_FIELDS` (those the database has), with
        ``experiment_id`` first; ``created_at`` is ISO 8601 text in UTC,
        ``terminated``/``truncated`` are bools, ``extra`` is the parsed JSON
        object, NULL is None (an infinite return stays ``inf``).
        """
        names = [name for name in EPISODE_FIELDS if name in self.values]
        columns = [self.values[name] for name in names]
        for row in zip(*columns, strict=True):
            record: dict[str, Any] = {"experiment_id": self.experiment.id}
            for name, value in zip(names, row, strict=True):
                record[name] = _plain(name, value)
            yield record


def _plain(name: str, value: Any) -> Any:
    if value is None:
        return None
    if name == "created_at":
        when = aware_time(value)
        return None if when is None else when.isoformat()
    if name in ("terminated", "truncated"):
        return bool(value)
    if name == "extra":
        return decode_json(value)
    return value


# -- the reader ----------------------------------------------------------------------
class MetricsReader:
    """Read access to a metrics database; writes nothing, creates nothing.

    Args:
        db: A SQLite file path, a SQLAlchemy URL (string or URL) or an Engine
            (used as is and not disposed by :meth:`close`).

    Raises:
        DatabaseNotFoundError: a SQLite path with no file.
        NotAMetricsDatabaseError: a file that is not SQLite, or a database
            without velora's ``experiment`` and ``episode`` tables.
        TypeError, ValueError: ``db`` is not a path, URL or Engine (see
            :func:`~gymscope.metrics.db.resolve_url`).
        gymnasium.error.DependencyNotInstalled: the URL's driver is missing.
    """

    def __init__(self, db: DbTarget) -> None:
        self.description = describe_target(db)
        self._owned = not isinstance(db, Engine)
        self.path: Path | None = None
        if isinstance(db, Engine):
            self.engine = db
        else:
            url = resolve_url(db)
            path = sqlite_file(url)
            if path is None:
                self.engine = sa.create_engine(url, poolclass=NullPool)
            else:
                self.path = _existing_sqlite_file(path.expanduser(), self.description)
                self.engine = _sqlite_reader_engine(self.path)
        try:
            self._reflect()
        except BaseException:
            self.close()
            raise

    def _reflect(self) -> None:
        try:
            inspector = sa.inspect(self.engine)
            tables = set(inspector.get_table_names())
        except sa.exc.OperationalError:  # cannot connect, locked, ...: not about the content
            raise
        except sa.exc.DatabaseError as exc:  # e.g. "file is not a database"
            raise NotAMetricsDatabaseError(
                f"{self.description!r} is not a metrics database ({_reason(exc)})"
            ) from None
        if "episode" not in tables or "experiment" not in tables:
            raise NotAMetricsDatabaseError(
                f"{self.description!r} has no 'experiment' and 'episode' tables: "
                "not a metrics database"
            )
        self.episode_columns = frozenset(c["name"] for c in inspector.get_columns("episode"))
        missing = [c for c in _REQUIRED if c not in self.episode_columns]
        if missing:
            raise NotAMetricsDatabaseError(
                f"table 'episode' of {self.description!r} lacks the velora columns {missing}"
            )
        self.experiment_columns = frozenset(c["name"] for c in inspector.get_columns("experiment"))
        meta = sa.MetaData()
        self._episode = sa.Table("episode", meta, autoload_with=self.engine)
        self._experiment = sa.Table("experiment", meta, autoload_with=self.engine)

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Release the connections (an Engine passed in is left open)."""
        if self._owned:
            self.engine.dispose()

    def __enter__(self) -> MetricsReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- experiments -------------------------------------------------------------------
    def _experiment_select(self) -> sa.Select[Any]:
        exp = self._experiment
        wanted = [exp.c.id]
        for name in ("name", "env", "agent", "config", "created_at", "gymscope_version"):
            if name in self.experiment_columns:
                wanted.append(exp.c[name])
        return sa.select(*wanted)

    def _info(self, row: Any) -> ExperimentInfo:
        values = row._mapping

        def text(name: str) -> str:
            value = values.get(name)
            return "" if value is None else str(value)

        return ExperimentInfo(
            id=int(values["id"]),
            name=text("name"),
            env=text("env"),
            agent=text("agent"),
            config=text("config"),
            created_at=aware_time(values.get("created_at")),
            gymscope_version=text("gymscope_version"),
        )

    def experiments(self) -> list[ExperimentInfo]:
        """Every experiment, by id."""
        with self.engine.connect() as conn:
            rows = conn.execute(self._experiment_select().order_by(self._experiment.c.id)).all()
        return [self._info(row) for row in rows]

    def experiment(self, reference: int | str | ExperimentInfo) -> ExperimentInfo:
        """The experiment with this id or name.

        A string of digits is tried as an id first, then as a name.

        Raises:
            TypeError: ``reference`` is not an int or str.
            ExperimentNotFoundError: no such experiment; the message names the
                closest names (or lists the experiments).
        """
        if isinstance(reference, ExperimentInfo):
            return reference
        if isinstance(reference, bool) or not isinstance(reference, (int, str)):
            raise ArgumentTypeError(
                f"experiment must be an experiment id (int) or name (str), got {reference!r}"
            )
        exp = self._experiment
        select = self._experiment_select()
        has_name = "name" in self.experiment_columns
        with self.engine.connect() as conn:
            row = None
            if isinstance(reference, int) or reference.strip().isdigit():
                key = int(reference)
                if abs(key) < 2**63:
                    row = conn.execute(select.where(exp.c.id == key)).first()
            if row is None and isinstance(reference, str) and has_name:
                row = conn.execute(select.where(exp.c.name == reference)).first()
            if row is not None:
                return self._info(row)
            known = conn.execute(select.order_by(exp.c.id)).all()
        raise self._not_found(reference, [self._info(r) for r in known])

    def _not_found(
        self, reference: int | str, known: list[ExperimentInfo]
    ) -> ExperimentNotFoundError:
        matches = _close_matches(str(reference), known)
        if matches:
            listed = ", ".join(f"{info.id} ({info.name!r})" for info in matches)
            message = f"no experiment {reference!r} in the database; close matches: {listed}"
        else:
            shown = ", ".join(
                f"{info.id} ({info.name!r})" if info.name else str(info.id)
                for info in known[:_LISTED]
            )
            if len(known) > _LISTED:
                shown += f", ... ({len(known) - _LISTED} more)"
            message = (
                f"no experiment {reference!r} in the database; known (id and name): "
                f"{shown or 'none'}"
            )
        return ExperimentNotFoundError(
            message, reference, [(info.id, info.name) for info in matches]
        )

    # -- summaries ---------------------------------------------------------------------
    def runs(self) -> list[RunSummary]:
        """A summary of every experiment, by id (one pass over ``episode``)."""
        infos = self.experiments()
        ep = self._episode
        cols = self.episode_columns
        aggregates = [
            ep.c.experiment_id,
            sa.func.count().label("episodes"),
            sa.func.coalesce(sa.func.sum(ep.c.length), 0).label("steps"),
            (
                sa.func.max(ep.c.reward_moving_avg) if "reward_moving_avg" in cols else sa.null()
            ).label("best"),
            (sa.func.count(sa.distinct(ep.c.worker)) if "worker" in cols else sa.literal(1)).label(
                "workers"
            ),
        ]
        with self.engine.connect() as conn:
            totals = {
                row.experiment_id: row
                for row in conn.execute(sa.select(*aggregates).group_by(ep.c.experiment_id))
            }
            first = self._edge_rows(conn, last=False)
            last = self._edge_rows(conn, last=True)
        summaries = []
        for info in infos:
            total = totals.get(info.id)
            head, tail = first.get(info.id), last.get(info.id)
            started = info.created_at
            if head is not None and head["end"] is not None:
                lead = stored_float(head.get("duration_s"))
                seconds = lead if lead is not None and math.isfinite(lead) else 0.0
                begin = head["end"] - dt.timedelta(seconds=max(0.0, seconds))
                started = begin if started is None else min(started, begin)
            best = None if total is None else stored_float(total.best)
            last_avg = None if tail is None else stored_float(tail.get("reward_moving_avg"))
            summaries.append(
                RunSummary(
                    experiment=info,
                    episodes=0 if total is None else int(total.episodes),
                    steps=0 if total is None else int(total.steps or 0),
                    workers=0 if total is None else int(total.workers),
                    best_moving_avg=None if best is None else finite_or_none(best),
                    last_moving_avg=None if last_avg is None else finite_or_none(last_avg),
                    started=started,
                    ended=None if tail is None else tail["end"],
                )
            )
        return summaries

    def _edge_rows(self, conn: sa.Connection, *, last: bool) -> dict[int, dict[str, Any]]:
        """Per experiment, the episode that ended first (or last): its end time,
        duration and moving average. By ``created_at`` when stored, else by id."""
        ep = self._episode
        cols = self.episode_columns
        key = ep.c.created_at if "created_at" in cols else ep.c.id
        pick = sa.func.max(key) if last else sa.func.min(key)
        edge = (
            sa.select(ep.c.experiment_id.label("xid"), pick.label("k"))
            .group_by(ep.c.experiment_id)
            .subquery()
        )
        wanted = [ep.c.experiment_id, ep.c.id]
        for name in ("created_at", "duration_s", "reward_moving_avg"):
            if name in cols:
                wanted.append(ep.c[name])
        query = sa.select(*wanted).join(
            edge, sa.and_(ep.c.experiment_id == edge.c.xid, key == edge.c.k)
        )
        rows: dict[int, dict[str, Any]] = {}
        for row in conn.execute(query.order_by(ep.c.id)):
            values = dict(row._mapping)
            values["end"] = aware_time(values.get("created_at"))
            # Ties (same end time): the last inserted for "last", the first for "first".
            if last or row.experiment_id not in rows:
                rows[row.experiment_id] = values
        return rows

    def summary(self, experiment: int | str | ExperimentInfo) -> RunSummary:
        """The :class:`RunSummary` of one experiment (see :meth:`runs`)."""
        info = self.experiment(experiment)
        return next(run for run in self.runs() if run.id == info.id)

    # -- episodes ----------------------------------------------------------------------
    def returns_of_episode(self, episode_num: int) -> list[tuple[int, float]]:
        """``(experiment id, return)`` of every stored episode numbered
        ``episode_num``, across experiments and workers (NaN for NULL)."""
        ep = self._episode
        query = sa.select(ep.c.experiment_id, ep.c.reward).where(ep.c.episode_num == episode_num)
        with self.engine.connect() as conn:
            rows = conn.execute(query.order_by(ep.c.id)).all()
        out = []
        for experiment_id, reward in rows:
            number = stored_float(reward)
            out.append((int(experiment_id), math.nan if number is None else number))
        return out

    def episodes(self, experiment: int | str | ExperimentInfo) -> RunEpisodes:
        """Every episode of an experiment, in the order they ended.

        Raises:
            ExperimentNotFoundError: see :meth:`experiment`.
        """
        info = self.experiment(experiment)
        ep = self._episode
        cols = self.episode_columns
        names = [name for name in EPISODE_FIELDS if name in cols]
        with self.engine.connect() as conn:
            workers = 1
            if "worker" in cols:
                workers = conn.execute(
                    sa.select(sa.func.count(sa.distinct(ep.c.worker))).where(
                        ep.c.experiment_id == info.id
                    )
                ).scalar_one()
            if workers > 1 and "created_at" in cols:
                order = [ep.c.created_at, ep.c.worker, ep.c.episode_num]
            else:
                order = [ep.c.episode_num]
            query = (
                sa.select(*(ep.c[name] for name in names))
                .where(ep.c.experiment_id == info.id)
                .order_by(*order, ep.c.id)
            )
            rows = conn.execute(query).all()
        values: dict[str, list[Any]] = {name: [] for name in names}
        lists = [values[name] for name in names]
        for row in rows:
            for column, value in zip(lists, row, strict=True):
                column.append(value)
        return RunEpisodes(info, values)


def _close_matches(reference: str, known: list[ExperimentInfo]) -> list[ExperimentInfo]:
    """Experiments whose name contains ``reference`` or resembles it; at most 5."""
    named = [info for info in known if info.name]
    needle = reference.casefold()
    found = [info for info in named if needle and needle in info.name.casefold()]
    by_name = {info.name.casefold(): info for info in named}
    for name in difflib.get_close_matches(needle, list(by_name), n=5, cutoff=0.6):
        if by_name[name] not in found:
            found.append(by_name[name])
    return found[:5]


def _reason(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None)
    return str(orig if orig is not None else exc).strip() or type(exc).__name__


def _existing_sqlite_file(path: Path, shown: str) -> Path:
    """``path`` made absolute, once known to be a readable SQLite file."""
    path = path.absolute()
    if not path.exists():
        raise DatabaseNotFoundError(f"no metrics database at {str(path)!r}")
    if path.is_dir():
        raise NotAMetricsDatabaseError(
            f"{shown!r} is a directory; give the database file in it (e.g. "
            f"{str(path / 'metrics.db')!r})"
        )
    try:
        with path.open("rb") as file:
            header = file.read(16)
    except OSError as exc:
        raise NotAMetricsDatabaseError(
            f"cannot read {str(path)!r}: {exc.strerror or exc}"
        ) from None
    if header and header != b"SQLite format 3\x00":
        raise NotAMetricsDatabaseError(f"{str(path)!r} is not a SQLite database")
    return path


def _sqlite_reader_engine(path: Path) -> Engine:
    """An engine that reads ``path`` and cannot write it.

    Where this process may write the file and its folder, a normal connection
    with ``query_only`` on: the last reader to close cleans up SQLite's
    ``-wal``/``-shm`` files as usual. Otherwise SQLite's read-only mode.
    """
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    uri = path.as_uri() + ("" if writable else "?mode=ro")

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
        conn.execute("PRAGMA query_only = ON")
        return conn

    return sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)

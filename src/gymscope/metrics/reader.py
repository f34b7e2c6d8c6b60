"""MetricsReader: read access to a metrics database that writes and creates nothing."""

from __future__ import annotations

import datetime as dt
import difflib
import logging
import math
import os
import socket
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import numpy as np
import numpy.typing as npt
import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import NullPool

from gymscope.errors import (
    ArgumentTypeError,
    DatabaseNotFoundError,
    ExperimentNotFoundError,
    NotAMetricsDatabaseError,
)
from gymscope.metrics.codec import aware_time, stored_float
from gymscope.metrics.db import (
    BUSY_TIMEOUT_S,
    SQLITE_HEADER,
    DbTarget,
    resolve_url,
    sqlite_file,
    sqlite_header,
)
from gymscope.metrics.journal import ingest_orphans
from gymscope.metrics.records import (
    EPISODE_FIELDS,
    ConfigEntry,
    ExperimentInfo,
    MetricSeries,
    RunEpisodes,
    RunMetrics,
    RunStatus,
    RunSummary,
    TextEntry,
)
from gymscope.metrics.runs import STALE_S
from gymscope.metrics.runs import pid_alive as _pid_alive
from gymscope.metrics.runstats import DEFAULT_ALPHA, DEFAULT_WINDOW, run_statistics

FloatArray = npt.NDArray[np.float64]

__all__ = ["MetricsReader", "describe_target", "looks_like_database"]

logger = logging.getLogger(__name__)

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
    if path.suffix.lower() in _SQLITE_SUFFIXES:
        return True
    try:
        return path.is_file()
    except OSError:  # a name too long for a file: not one
        return False


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
                # what a killed writer journaled but did not commit: its last episodes
                ingest_orphans(self.path)
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
        # gymscope's own tables, absent from velora's files and older versions
        self._metric = self._optional(meta, tables, "gymscope_metric")
        self._configs = self._optional(meta, tables, "gymscope_config")
        self._texts = self._optional(meta, tables, "gymscope_text")
        self._leases = self._optional(meta, tables, "gymscope_worker")

    def _optional(self, meta: sa.MetaData, tables: set[str], name: str) -> sa.Table | None:
        return sa.Table(name, meta, autoload_with=self.engine) if name in tables else None

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
        for name in (
            "name",
            "env",
            "agent",
            "config",
            "created_at",
            "gymscope_version",
            "stats_window",
            "stats_alpha",
        ):
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
            stats_window=_positive_int(values.get("stats_window"), DEFAULT_WINDOW),
            stats_alpha=_weight(values.get("stats_alpha"), DEFAULT_ALPHA),
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
        """A summary of every experiment, by id.

        The moving averages are the run's (all workers' episodes in the order
        they ended, see :mod:`gymscope.metrics.runstats`), which reads the
        returns of each run once.
        """
        infos = self.experiments()
        ep = self._episode
        cols = self.episode_columns
        aggregates = [
            ep.c.experiment_id,
            sa.func.count().label("episodes"),
            sa.func.coalesce(sa.func.sum(ep.c.length), 0).label("steps"),
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
            statuses = self._statuses(conn, {info.id: last.get(info.id) for info in infos})
            names = self._metric_names(conn)
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
                workers = 0 if total is None else int(total.workers)
                stats = None
                if total is not None:
                    stats = run_statistics(
                        self._merged_returns(conn, info.id, workers),
                        window_size=info.stats_window,
                        alpha=info.stats_alpha,
                    )
                summaries.append(
                    RunSummary(
                        experiment=info,
                        episodes=0 if total is None else int(total.episodes),
                        steps=0 if total is None else int(total.steps or 0),
                        workers=workers,
                        best_moving_avg=None if stats is None else stats.best_moving_avg,
                        last_moving_avg=None if stats is None else stats.last_moving_avg,
                        started=started,
                        ended=None if tail is None else tail["end"],
                        last_ema=None if stats is None else stats.last_ema,
                        status=statuses[info.id],
                        metrics=tuple(names.get(info.id, ())),
                    )
                )
        return summaries

    def _merged_returns(self, conn: sa.Connection, experiment_id: int, workers: int) -> FloatArray:
        """The run's returns in the merged end order (see :meth:`episodes`)."""
        ep = self._episode
        query = sa.select(ep.c.reward).where(ep.c.experiment_id == experiment_id)
        query = query.order_by(*self._order(workers), ep.c.id)
        values = [stored_float(v) for (v,) in conn.execute(query)]
        return np.array([math.nan if v is None else v for v in values], dtype=np.float64)

    def _order(self, workers: int) -> list[Any]:
        ep = self._episode
        if workers > 1 and "created_at" in self.episode_columns:
            return [ep.c.created_at, ep.c.worker, ep.c.episode_num]
        return [ep.c.episode_num]

    # -- status ------------------------------------------------------------------------
    def status(self, experiment: int | str | ExperimentInfo) -> RunStatus:
        """Whether the run is running, finished or crashed (see :class:`RunStatus`)."""
        info = self.experiment(experiment)
        with self.engine.connect() as conn:
            tail = self._edge_rows(conn, last=True, only=info.id).get(info.id)
            return self._statuses(conn, {info.id: tail})[info.id]

    def _statuses(
        self, conn: sa.Connection, tails: dict[int, dict[str, Any] | None]
    ) -> dict[int, RunStatus]:
        leases: dict[int, list[Any]] = {}
        if self._leases is not None:
            lease = self._leases
            wanted = [lease.c.experiment_id, lease.c.worker, lease.c.host, lease.c.pid]
            has_beat = "heartbeat_at" in lease.c
            wanted.append(lease.c.heartbeat_at if has_beat else lease.c.claimed_at)
            for row in conn.execute(sa.select(*wanted)):
                leases.setdefault(row[0], []).append(row)
        latest_metric: dict[int, float] = {}
        if self._metric is not None:
            m = self._metric
            query = sa.select(m.c.experiment_id, sa.func.max(m.c.wall_time)).group_by(
                m.c.experiment_id
            )
            latest_metric = {xid: t for xid, t in conn.execute(query) if t is not None}
        now = dt.datetime.now(_UTC)
        host = socket.gethostname()
        out: dict[int, RunStatus] = {}
        for xid, tail in tails.items():
            times = [] if tail is None or tail["end"] is None else [tail["end"]]
            if xid in latest_metric:
                times.append(dt.datetime.fromtimestamp(latest_metric[xid], _UTC))
            running: list[int] = []
            crashed: list[int] = []
            for _, worker, lease_host, pid, beat in leases.get(xid, ()):
                when = aware_time(beat)
                if when is not None:
                    times.append(when)
                if lease_host == host:
                    alive = _pid_alive(int(pid))
                else:
                    alive = when is not None and (now - when).total_seconds() < STALE_S
                (running if alive else crashed).append(int(worker))
            if running:
                state = "running"
            elif crashed:
                state = "crashed"
            else:
                state = "finished" if tail is not None or xid in latest_metric else "empty"
            out[xid] = RunStatus(
                state, tuple(sorted(running)), tuple(sorted(crashed)), max(times, default=None)
            )
        return out

    # -- training metrics, configs, texts ----------------------------------------------
    def _metric_names(self, conn: sa.Connection) -> dict[int, list[str]]:
        if self._metric is None:
            return {}
        m = self._metric
        query = (
            sa.select(m.c.experiment_id, m.c.name)
            .group_by(m.c.experiment_id, m.c.name)
            .order_by(m.c.experiment_id, m.c.name)
        )
        names: dict[int, list[str]] = {}
        for xid, name in conn.execute(query):
            names.setdefault(xid, []).append(name)
        return names

    def metrics(
        self, experiment: int | str | ExperimentInfo, names: Sequence[str] | None = None
    ) -> RunMetrics:
        """The run's step-keyed training metrics (all, or those in ``names``),
        each in step order (ties: the order they were stored)."""
        info = self.experiment(experiment)
        series: dict[str, MetricSeries] = {}
        if self._metric is None:
            return RunMetrics(info, series)
        m = self._metric
        query = sa.select(m.c.name, m.c.step, m.c.value, m.c.wall_time, m.c.worker).where(
            m.c.experiment_id == info.id
        )
        if names is not None:
            query = query.where(m.c.name.in_(list(names)))
        columns: dict[str, tuple[list[int], list[float], list[float], list[int]]] = {}
        with self.engine.connect() as conn:
            for name, step, value, wall, worker in conn.execute(
                query.order_by(m.c.name, m.c.step, m.c.id)
            ):
                steps, values, walls, workers = columns.setdefault(name, ([], [], [], []))
                steps.append(int(step))
                number = stored_float(value)
                values.append(math.nan if number is None else number)
                walls.append(math.nan if wall is None else float(wall))
                workers.append(-1 if worker is None else int(worker))
        for name, (steps, values, walls, workers) in columns.items():
            series[name] = MetricSeries(
                name,
                np.array(steps, dtype=np.int64),
                np.array(values, dtype=np.float64),
                np.array(walls, dtype=np.float64),
                np.array(workers, dtype=np.int64),
            )
        return RunMetrics(info, series)

    def configs(self, experiment: int | str | ExperimentInfo) -> list[ConfigEntry]:
        """Every configuration the run was started or resumed with, oldest first
        (just ``experiment.config`` for a run without a history)."""
        info = self.experiment(experiment)
        entries: list[ConfigEntry] = []
        if self._configs is not None:
            c = self._configs
            query = (
                sa.select(c.c.config, c.c.created_at, c.c.worker)
                .where(c.c.experiment_id == info.id)
                .order_by(c.c.id)
            )
            with self.engine.connect() as conn:
                entries = [
                    ConfigEntry(str(text), aware_time(when), None if w is None else int(w))
                    for text, when, w in conn.execute(query)
                ]
        if not entries and info.config.strip() not in ("", "{}"):
            entries = [ConfigEntry(info.config, info.created_at, None)]
        return entries

    def texts(self, experiment: int | str | ExperimentInfo) -> list[TextEntry]:
        """Texts logged for the run (``SummaryWriter.add_text``), in the order logged."""
        info = self.experiment(experiment)
        if self._texts is None:
            return []
        t = self._texts
        query = (
            sa.select(t.c.tag, t.c.step, t.c.text, t.c.wall_time)
            .where(t.c.experiment_id == info.id)
            .order_by(t.c.id)
        )
        with self.engine.connect() as conn:
            return [
                TextEntry(str(tag), None if step is None else int(step), str(text), float(wall))
                for tag, step, text, wall in conn.execute(query)
            ]

    def _edge_rows(
        self, conn: sa.Connection, *, last: bool, only: int | None = None
    ) -> dict[int, dict[str, Any]]:
        """Per experiment, the episode that ended first (or last): its end time,
        duration and moving average. By ``created_at`` when stored, else by id."""
        ep = self._episode
        cols = self.episode_columns
        key = ep.c.created_at if "created_at" in cols else ep.c.id
        pick = sa.func.max(key) if last else sa.func.min(key)
        edge_query = sa.select(ep.c.experiment_id.label("xid"), pick.label("k"))
        if only is not None:
            edge_query = edge_query.where(ep.c.experiment_id == only)
        edge = edge_query.group_by(ep.c.experiment_id).subquery()
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
            query = (
                sa.select(*(ep.c[name] for name in names))
                .where(ep.c.experiment_id == info.id)
                .order_by(*self._order(workers), ep.c.id)
            )
            rows = conn.execute(query).all()
        values: dict[str, list[Any]] = {name: [] for name in names}
        lists = [values[name] for name in names]
        for row in rows:
            for column, value in zip(lists, row, strict=True):
                column.append(value)
        return RunEpisodes(info, values)


def _positive_int(value: Any, default: int) -> int:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return default


def _weight(value: Any, default: float) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 < value <= 1:
        return float(value)
    return default


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
    try:
        exists, is_dir, is_file = path.exists(), path.is_dir(), path.is_file()
    except OSError as exc:  # a name too long, a loop of links
        raise DatabaseNotFoundError(
            f"no metrics database at {str(path)!r} ({exc.strerror or exc})"
        ) from None
    if not exists:
        raise DatabaseNotFoundError(f"no metrics database at {str(path)!r}")
    if is_dir:
        raise NotAMetricsDatabaseError(
            f"{shown!r} is a directory; give the database file in it (e.g. "
            f"{str(path / 'metrics.db')!r})"
        )
    if not is_file:  # a device, a FIFO (reading its header would wait forever)
        raise NotAMetricsDatabaseError(f"{shown!r} is not a regular file: not a database")
    try:
        header = sqlite_header(path)
    except OSError as exc:
        raise NotAMetricsDatabaseError(
            f"cannot read {str(path)!r}: {exc.strerror or exc}"
        ) from None
    if header and header != SQLITE_HEADER:
        raise NotAMetricsDatabaseError(f"{str(path)!r} is not a SQLite database")
    return path


def _sqlite_reader_engine(path: Path) -> Engine:
    """An engine that reads ``path`` and cannot write it.

    Where this process may write the file and its folder, a normal connection
    with ``query_only`` on: the last reader to close cleans up SQLite's
    ``-wal``/``-shm`` files as usual. Otherwise SQLite's read-only mode; and
    where even that cannot open the file (a read-only mount, or a folder this
    process may not write, with no ``-shm`` file for a WAL database), SQLite's
    immutable mode: nobody can be writing a file on a read-only file system.
    """
    writable = os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
    base = path.as_uri()
    modes = [base] if writable else [base + "?mode=ro", base + "?immutable=1"]

    def connect() -> sqlite3.Connection:
        error: sqlite3.Error | None = None
        for uri in modes:
            conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S, check_same_thread=False)
            try:
                conn.execute("PRAGMA query_only = ON")
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
            except sqlite3.Error as exc:
                conn.close()  # now, so that no -wal/-shm file is left behind
                if not isinstance(exc, sqlite3.OperationalError):
                    raise  # a damaged file: no other mode reads it
                error = exc  # cannot open: try the next mode
                continue
            if uri.endswith("immutable=1"):
                _warn_unread_wal(path)
            return conn
        assert error is not None
        raise error

    return sa.create_engine("sqlite://", creator=connect, poolclass=NullPool)


def _warn_unread_wal(path: Path) -> None:
    wal = path.with_name(path.name + "-wal")
    try:
        size = wal.stat().st_size
    except OSError:
        return
    if size:
        logger.warning(
            "%s is read as an immutable file (it cannot be opened read-only here); the "
            "latest episodes, still in %s (%d bytes), are not shown. Copy both files to a "
            "writable folder to read them",
            path,
            wal.name,
            size,
        )

"""MetricsReader: read access to a metrics database that writes and creates nothing.

What each method reads (see the database page of the docs for the figures):

- :meth:`MetricsReader.runs` (``gymscope runs``) touches a bounded number of
  rows per run, whatever the number of episodes: the first and last episode
  of each worker and the run's last ``window`` episodes, found through the
  ``(experiment_id, worker, episode_num)`` index;
- :meth:`MetricsReader.summary` and :meth:`MetricsReader.episodes` read the
  episodes of one run, never those of other runs.

A SQLite file is read with the standard library's ``sqlite3`` module (no
SQLAlchemy, no NumPy: ``gymscope runs`` starts as fast as ``--help``); any
other URL, or an Engine, through SQLAlchemy (:mod:`gymscope.metrics.source`).
"""

from __future__ import annotations

import datetime as dt
import difflib
import json
import logging
import math
import os
import socket
import sqlite3
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from gymscope.errors import (
    ArgumentTypeError,
    DatabaseNotFoundError,
    ExperimentNotFoundError,
    NotAMetricsDatabaseError,
)
from gymscope.metrics._liveness import STALE_S
from gymscope.metrics._liveness import pid_alive as _pid_alive
from gymscope.metrics.codec import aware_time, stored_float
from gymscope.metrics.journal import ingest_orphans
from gymscope.metrics.records import (
    EPISODE_FIELDS,
    ConfigEntry,
    ExperimentInfo,
    MetricOverview,
    MetricSeries,
    RunEpisodes,
    RunMetrics,
    RunStatus,
    RunSummary,
    TextEntry,
)
from gymscope.metrics.runstats import DEFAULT_ALPHA, DEFAULT_WINDOW
from gymscope.metrics.source import (
    SQLITE_HEADER,
    AlchemySource,
    Source,
    SQLiteSource,
    placeholders,
    sqlite_header,
    sqlite_path,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from gymscope.metrics.db import DbTarget

__all__ = ["MetricsReader", "describe_target", "looks_like_database"]

logger = logging.getLogger(__name__)

# Columns every velora-schema database has; the rest are read when present.
_REQUIRED = ("experiment_id", "episode_num", "reward", "length")
_SQLITE_SUFFIXES = frozenset({".db", ".sqlite", ".sqlite3", ".db3"})
_UTC = dt.timezone.utc
# How many experiments an error message names.
_LISTED = 10
_EXPERIMENT_FIELDS = (
    "name",
    "env",
    "agent",
    "config",
    "created_at",
    "gymscope_version",
    "stats_window",
    "stats_alpha",
)
# What the listing reads of a worker's first and last episode.
_EDGE_FIELDS = ("id", "worker", "episode_num", "created_at", "duration_s", "total_steps", "length")


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
    if isinstance(db, (str, os.PathLike)):
        text = os.fspath(db)
        if not isinstance(text, str) or "://" not in text or sqlite_path(text) is not None:
            return str(text)
        import sqlalchemy as sa

        try:
            return sa.make_url(text).render_as_string(hide_password=True)
        except (sa.exc.ArgumentError, ValueError):
            return text
    from sqlalchemy.engine import URL, Engine

    if isinstance(db, Engine):
        return db.url.render_as_string(hide_password=True)
    if isinstance(db, URL):
        return db.render_as_string(hide_password=True)
    return str(db)  # type: ignore[unreachable]  # not a DbTarget: named as it is


def _is_engine(db: object) -> bool:
    # only an object of an imported SQLAlchemy can be an Engine
    sa_engine = sys.modules.get("sqlalchemy.engine")
    return sa_engine is not None and isinstance(db, sa_engine.Engine)


def _error_kind(exc: BaseException) -> str | None:
    """``"operational"`` (cannot connect, locked...), ``"database"`` (not a
    database, damaged), or None: not a database error."""
    if isinstance(exc, sqlite3.OperationalError):
        return "operational"
    if isinstance(exc, sqlite3.DatabaseError):
        return "database"
    sa = sys.modules.get("sqlalchemy")
    if sa is not None:
        if isinstance(exc, sa.exc.OperationalError):
            return "operational"
        if isinstance(exc, sa.exc.DatabaseError):
            return "database"
    return None


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
        self._engine: Engine | None = None
        self._owned = True
        self.path: Path | None = None
        self.source: Source
        path = None
        if _is_engine(db):
            self._engine, self._owned = db, False  # type: ignore[assignment]
        elif isinstance(db, (str, os.PathLike)) and isinstance(os.fspath(db), str):
            path = sqlite_path(os.fspath(db))
        if path is None and self._engine is None:
            import sqlalchemy as sa
            from sqlalchemy.pool import NullPool

            from gymscope.metrics.db import resolve_url, sqlite_file

            url = resolve_url(db)  # type: ignore[arg-type]
            path = sqlite_file(url)
            if path is None:
                self._engine = sa.create_engine(url, poolclass=NullPool)
        if self._engine is not None:
            self.source = AlchemySource(self._engine)
        else:
            assert path is not None
            self.path = _existing_sqlite_file(path.expanduser(), self.description)
            # what a killed writer journaled but did not commit: its last episodes
            ingest_orphans(self.path)
            try:
                self.source = SQLiteSource(self.path)
            except sqlite3.DatabaseError as exc:
                if isinstance(exc, sqlite3.OperationalError):
                    raise
                raise NotAMetricsDatabaseError(
                    f"{self.description!r} is not a metrics database ({_reason(exc)})"
                ) from None
        try:
            self._reflect()
        except BaseException:
            self.close()
            raise

    @property
    def engine(self) -> Engine:
        """A SQLAlchemy engine on the same database (created on first use for a
        SQLite file, which is otherwise read without SQLAlchemy; it cannot write)."""
        if self._engine is None:
            assert self.path is not None
            import sqlalchemy as sa
            from sqlalchemy.pool import NullPool

            from gymscope.metrics.source import open_sqlite_reader

            path = self.path
            self._engine = sa.create_engine(
                "sqlite://", creator=lambda: open_sqlite_reader(path), poolclass=NullPool
            )
        return self._engine

    def _reflect(self) -> None:
        try:
            tables = self.source.tables()
        except Exception as exc:
            kind = _error_kind(exc)
            if kind == "database":  # e.g. "file is not a database"
                raise NotAMetricsDatabaseError(
                    f"{self.description!r} is not a metrics database ({_reason(exc)})"
                ) from None
            raise  # cannot connect, locked, ...: not about the content
        if "episode" not in tables or "experiment" not in tables:
            raise NotAMetricsDatabaseError(
                f"{self.description!r} has no 'experiment' and 'episode' tables: "
                "not a metrics database"
            )
        episode_types = self.source.columns("episode")
        self.episode_columns = frozenset(episode_types)
        missing = [c for c in _REQUIRED if c not in self.episode_columns]
        if missing:
            raise NotAMetricsDatabaseError(
                f"table 'episode' of {self.description!r} lacks the velora columns {missing}"
            )
        experiment_types = self.source.columns("experiment")
        self.experiment_columns = frozenset(experiment_types)
        self._converters = {
            **{f"experiment.{k}": self._converter(v) for k, v in experiment_types.items()},
            **{f"episode.{k}": self._converter(v) for k, v in episode_types.items()},
        }
        # gymscope's own tables, absent from velora's files and older versions
        self._tables = tables
        self._lease_columns = (
            frozenset(self.source.columns("gymscope_worker"))
            if "gymscope_worker" in tables
            else frozenset()
        )
        # The listing's per-worker seeks need gymscope's schema: its worker
        # column and the (experiment_id, worker, episode_num) index.
        self._workers_indexed = {"worker", "total_steps"} <= self.episode_columns

    def _converter(self, kind: str) -> Callable[[Any], Any] | None:
        if kind.split("(")[0].strip() == "JSON":
            return _json_value
        return self.source.converter(kind)  # type: ignore[attr-defined, no-any-return]

    def _rows(
        self, sql: str, params: dict[str, Any] | None = None, convert: Sequence[str] = ()
    ) -> list[tuple[Any, ...]]:
        """Rows of ``sql``; ``convert`` names each column (``table.column``) whose
        stored value is turned into what SQLAlchemy would read (times, bools, JSON)."""
        rows = self.source.rows(sql, params)
        converters = [self._converters.get(name) for name in convert]
        if not any(converters):
            return rows
        pairs = [(i, f) for i, f in enumerate(converters) if f is not None]
        out = []
        for row in rows:
            values = list(row)
            for i, f in pairs:
                if values[i] is not None:
                    values[i] = f(values[i])
            out.append(tuple(values))
        return out

    # -- lifecycle ---------------------------------------------------------------------
    def close(self) -> None:
        """Release the connections (an Engine passed in is left open)."""
        source = getattr(self, "source", None)
        if source is not None:
            source.close()
        if self._owned and self._engine is not None:
            self._engine.dispose()

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
    def _experiment_fields(self) -> list[str]:
        return ["id", *(n for n in _EXPERIMENT_FIELDS if n in self.experiment_columns)]

    def _select_experiments(
        self, where: str = "", params: dict[str, Any] | None = None
    ) -> list[ExperimentInfo]:
        fields = self._experiment_fields()
        sql = f"SELECT {', '.join(fields)} FROM experiment {where} ORDER BY id"
        rows = self._rows(sql, params, [f"experiment.{f}" for f in fields])
        return [self._info(dict(zip(fields, row, strict=True))) for row in rows]

    def _info(self, values: dict[str, Any]) -> ExperimentInfo:
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
        return self._select_experiments()

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
        if isinstance(reference, int) or reference.strip().isdigit():
            key = int(reference)
            if abs(key) < 2**63:
                found = self._select_experiments("WHERE id = :id", {"id": key})
                if found:
                    return found[0]
        if isinstance(reference, str) and "name" in self.experiment_columns:
            found = self._select_experiments("WHERE name = :name", {"name": reference})
            if found:
                return found[0]
        raise self._not_found(reference, self.experiments())

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
    def runs(self, *, full: bool = False) -> list[RunSummary]:
        """A summary of every experiment, by id: the listing of ``gymscope runs``.

        Its cost does not grow with the episodes: per run it reads each
        worker's first and last episode and the run's last ``window``
        episodes (all workers, in the order they ended), through the
        ``(experiment_id, worker, episode_num)`` index. ``episodes`` counts
        each worker's numbered stream (``episode_num`` runs from 0 without a
        gap per worker), ``steps`` adds up each worker's last ``total_steps``,
        ``last_moving_avg`` is the mean return of the last ``window``
        episodes. The two figures that depend on every episode of a run are
        left out (None): ``best_moving_avg`` and ``last_ema``.

        ``full=True`` gives every run's :meth:`summary` instead, which reads
        every episode of the database. A database without gymscope's columns
        (velora's) is summarised by one aggregate per run.
        """
        infos = self.experiments()
        if full:
            return [self.summary(info) for info in infos]
        return self._summaries(infos)

    def summary(
        self, experiment: int | str | ExperimentInfo, episodes: RunEpisodes | None = None
    ) -> RunSummary:
        """The full :class:`RunSummary` of one experiment, from all its episodes:
        exact counts, and the run-level best and last moving average and EMA
        over its merged episode sequence (see :mod:`gymscope.metrics.runstats`).

        ``episodes``: the run's :meth:`episodes`, if read already.
        """
        info = self.experiment(experiment)
        run = episodes if episodes is not None and episodes.experiment.id == info.id else None
        if run is None:
            run = self.episodes(info)
        listed = self._summaries([info])[0]
        if not len(run):
            return listed
        stats = run.merged_stats()
        return RunSummary(
            experiment=info,
            episodes=len(run),
            steps=int(sum(x for x in run.float_list("length") if x == x)),
            workers=run.workers,
            best_moving_avg=stats.best_moving_avg,
            last_moving_avg=stats.last_moving_avg,
            started=run.started_at(),
            ended=max((t for t in run.ended_at() if t is not None), default=None),
            last_ema=stats.last_ema,
            status=listed.status,
            metrics=listed.metrics,
        )

    def _summaries(self, infos: list[ExperimentInfo]) -> list[RunSummary]:
        ids = [info.id for info in infos]
        only = ids[0] if len(ids) == 1 else None
        indexed = self._workers_indexed
        edges = self._worker_edges(only) if indexed else self._aggregate_edges(ids)
        names = self._metric_names(ids)
        latest = self._latest_metric_times(names)
        statuses = self._statuses(
            {xid: (bool(edges.get(xid)), _ended(edges.get(xid, []))) for xid in ids}, latest, ids
        )
        summaries = []
        for info in infos:
            workers = edges.get(info.id, [])
            episodes = sum(w.episodes for w in workers)
            last = None
            if episodes:
                last = self._last_window_mean(info, workers)
            summaries.append(
                RunSummary(
                    experiment=info,
                    episodes=episodes,
                    steps=sum(w.steps for w in workers),
                    workers=len(workers),
                    best_moving_avg=None,
                    last_moving_avg=last,
                    started=_started(info, workers),
                    ended=_ended(workers),
                    last_ema=None,
                    status=statuses[info.id],
                    metrics=tuple(names.get(info.id, ())),
                )
            )
        return summaries

    def _edge_sql(self, only: int | None) -> str:
        """The common head of the listing's statements: ``w`` holds each run's
        workers (skip-scanning the ``(experiment_id, worker, episode_num)``
        index: one seek per worker), ``edge`` the ids of each worker's first
        and last episode (one seek each)."""
        where = "" if only is None else "WHERE id = :only"
        return (
            "WITH RECURSIVE w(x, worker) AS ("
            " SELECT id, (SELECT min(worker) FROM episode WHERE experiment_id = experiment.id)"
            f" FROM experiment {where}"
            " UNION ALL SELECT x, (SELECT min(worker) FROM episode"
            "  WHERE experiment_id = w.x AND worker > w.worker)"
            " FROM w WHERE w.worker IS NOT NULL), "
            "edge AS (SELECT x, worker,"
            " (SELECT id FROM episode e WHERE e.experiment_id = w.x AND e.worker = w.worker"
            "  ORDER BY e.episode_num LIMIT 1) AS first_id,"
            " (SELECT id FROM episode e WHERE e.experiment_id = w.x AND e.worker = w.worker"
            "  ORDER BY e.episode_num DESC LIMIT 1) AS last_id"
            " FROM w WHERE w.worker IS NOT NULL)"
        )

    def _worker_edges(self, only: int | None) -> dict[int, list[_Worker]]:
        """Per run (all, or ``only`` that one), each worker's first and last
        episode: one statement, a few index seeks per worker."""
        fields = [f for f in _EDGE_FIELDS if f in self.episode_columns and f != "id"]
        picked = ", ".join([*(f"f.{f}" for f in fields), *(f"l.{f}" for f in fields)])
        sql = (
            f"{self._edge_sql(only)} SELECT edge.x, {picked} FROM edge"
            " JOIN episode f ON f.id = edge.first_id JOIN episode l ON l.id = edge.last_id"
            " ORDER BY edge.x, edge.worker"
        )
        convert = ["", *(f"episode.{f}" for f in fields), *(f"episode.{f}" for f in fields)]
        out: dict[int, list[_Worker]] = {}
        n = len(fields)
        for row in self._rows(sql, {} if only is None else {"only": only}, convert):
            head = dict(zip(fields, row[1 : 1 + n], strict=True))
            tail = dict(zip(fields, row[1 + n :], strict=True))
            # a worker's stream is numbered from 0 without gaps; a stream that
            # starts later (rows deleted, a resumed copy) counts from its first
            count = int(tail["episode_num"]) - int(head["episode_num"]) + 1
            steps = int(tail.get("total_steps") or 0)
            if int(head["episode_num"]) != 0:
                steps -= int(head.get("total_steps") or 0) - int(head.get("length") or 0)
            out.setdefault(int(row[0]), []).append(
                _Worker(int(tail["worker"]), count, steps, head, tail)
            )
        return out

    def _aggregate_edges(self, ids: list[int]) -> dict[int, list[_Worker]]:
        """Without gymscope's columns (a velora file): one aggregate per run, its
        first and last episode by ``created_at`` (else by id)."""
        cols = self.episode_columns
        key = "created_at" if "created_at" in cols else "id"
        fields = [f for f in ("id", "created_at", "duration_s") if f in cols]
        out: dict[int, list[_Worker]] = {}
        for xid in ids:
            ((count, steps),) = self._rows(
                "SELECT count(*), coalesce(sum(length), 0) FROM episode WHERE experiment_id = :x",
                {"x": xid},
            )
            if not count:
                continue
            edge = []
            for order in ("ASC", "DESC"):
                (row,) = self._rows(
                    f"SELECT {', '.join(fields)} FROM episode WHERE experiment_id = :x "
                    f"ORDER BY {key} {order}, id {order} LIMIT 1",
                    {"x": xid},
                    [f"episode.{f}" for f in fields],
                )
                edge.append(dict(zip(fields, row, strict=True)))
            out[xid] = [_Worker(0, int(count), int(steps or 0), edge[0], edge[1])]
        return out

    def _last_window_mean(self, info: ExperimentInfo, workers: list[_Worker]) -> float | None:
        """Mean return of the run's last ``window`` episodes, all workers merged in
        the order they ended (None if one of them is NaN or infinite).

        Only a worker's last ``window`` episodes can be among them, and with
        ``k`` workers each usually holds about ``window / k``: each worker's
        latest episodes are read a share at a time, and more only from a
        worker all of whose episodes read made it into the window.
        """
        window = info.stats_window
        if not self._workers_indexed:
            has_time = "created_at" in self.episode_columns
            order = "created_at DESC, id DESC" if has_time else "id DESC"
            rows = self.source.rows(
                f"SELECT reward FROM episode WHERE experiment_id = :x ORDER BY {order} LIMIT :n",
                {"x": info.id, "n": window},
            )
            return _mean([r for (r,) in rows])
        # the window, summed by the database, with how many of each worker's
        # episodes read made it in (all of them: read more of that worker)
        share = (
            window if len(workers) == 1 else min(window, -(-window * 21 // (20 * len(workers))) + 2)
        )
        limits = {w.worker: min(share, w.episodes) for w in workers}
        available = {w.worker: w.episodes for w in workers}
        while True:
            params: dict[str, Any] = {"x": info.id, "n": window}
            parts = []
            for i, (worker, limit) in enumerate(limits.items()):
                params[f"w{i}"], params[f"l{i}"] = worker, limit
                parts.append(
                    "SELECT * FROM (SELECT reward, created_at, worker, episode_num, id"
                    f" FROM episode WHERE experiment_id = :x AND worker = :w{i}"
                    f" ORDER BY episode_num DESC LIMIT :l{i}) AS t{i}"
                )
            rows = self.source.rows(
                "SELECT worker, count(*), count(reward), sum(reward), max(abs(reward)) FROM ("
                f"SELECT reward, worker FROM ({' UNION ALL '.join(parts)}) AS latest"
                " ORDER BY created_at DESC, worker DESC, episode_num DESC, id DESC LIMIT :n"
                ") AS window_rows GROUP BY worker",
                params,
            )
            short = {
                worker: min(window, 2 * limits[worker], available[worker])
                for worker, count, *_ in rows
                if count == limits[worker] < min(window, available[worker])
            }
            if not short:
                break
            limits.update(short)
        count = sum(int(row[1]) for row in rows)
        if not count or sum(int(row[2]) for row in rows) < count:
            return None  # none, or a NaN return (stored as NULL) in the window
        if any(row[3] is None or row[4] is None for row in rows):
            return None  # inf - inf
        total = sum(float(row[3]) for row in rows)
        biggest = max(float(row[4]) for row in rows)
        if not math.isfinite(total) or not math.isfinite(biggest):
            return None
        return total / count

    # -- status ------------------------------------------------------------------------
    def status(self, experiment: int | str | ExperimentInfo) -> RunStatus:
        """Whether the run is running, finished or crashed (see :class:`RunStatus`)."""
        return self._summaries([self.experiment(experiment)])[0].status

    def _statuses(
        self,
        ends: dict[int, tuple[bool, dt.datetime | None]],
        latest_metric: dict[int, float],
        ids: list[int],
    ) -> dict[int, RunStatus]:
        leases: dict[int, list[tuple[Any, ...]]] = {}
        if "gymscope_worker" in self._tables:
            beat = "heartbeat_at" if "heartbeat_at" in self._lease_columns else "claimed_at"
            sql = f"SELECT experiment_id, worker, host, pid, {beat} FROM gymscope_worker"
            params: dict[str, Any] = {}
            if len(ids) == 1:
                sql += " WHERE experiment_id = :x"
                params["x"] = ids[0]
            for row in self.source.rows(sql, params):
                leases.setdefault(row[0], []).append(row)
        now = dt.datetime.now(_UTC)
        host = socket.gethostname()
        out: dict[int, RunStatus] = {}
        for xid in ids:
            has_episodes, end = ends.get(xid, (False, None))
            times = [] if end is None else [end]
            if xid in latest_metric:
                times.append(dt.datetime.fromtimestamp(latest_metric[xid], _UTC))
            running: list[int] = []
            crashed: list[int] = []
            for _, worker, lease_host, pid, beat_at in leases.get(xid, ()):
                when = aware_time(beat_at)
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
                state = "finished" if has_episodes or xid in latest_metric else "empty"
            out[xid] = RunStatus(
                state, tuple(sorted(running)), tuple(sorted(crashed)), max(times, default=None)
            )
        return out

    # -- training metrics, configs, texts ----------------------------------------------
    def _metric_names(self, ids: list[int]) -> dict[int, list[str]]:
        """Each run's metric names, by skip-scanning the ``(experiment_id, name,
        step)`` index: one seek per name."""
        if "gymscope_metric" not in self._tables:
            return {}
        sql = (
            "WITH RECURSIVE n(name) AS ("
            " SELECT min(name) FROM gymscope_metric WHERE experiment_id = :x"
            " UNION ALL SELECT (SELECT min(name) FROM gymscope_metric"
            "  WHERE experiment_id = :x AND name > n.name)"
            " FROM n WHERE n.name IS NOT NULL) "
            "SELECT name FROM n WHERE name IS NOT NULL"
        )
        names: dict[int, list[str]] = {}
        for xid in ids:
            found = [str(name) for (name,) in self.source.rows(sql, {"x": xid})]
            if found:
                names[xid] = found
        return names

    def _latest_metric_times(self, names: dict[int, list[str]]) -> dict[int, float]:
        """Per run, the wall time of the value at the highest step of each metric:
        the last one logged (one seek per metric)."""
        latest: dict[int, float] = {}
        sql = (
            "SELECT wall_time FROM gymscope_metric WHERE experiment_id = :x AND name = :n "
            "ORDER BY step DESC, id DESC LIMIT 1"
        )
        for xid, run_names in names.items():
            times = []
            for name in run_names:
                rows = self.source.rows(sql, {"x": xid, "n": name})
                if rows and rows[0][0] is not None:
                    times.append(float(rows[0][0]))
            if times:
                latest[xid] = max(times)
        return latest

    def metrics(
        self, experiment: int | str | ExperimentInfo, names: Sequence[str] | None = None
    ) -> RunMetrics:
        """The run's step-keyed training metrics (all, or those in ``names``),
        each in step order (ties: the order they were stored)."""
        info = self.experiment(experiment)
        series: dict[str, MetricSeries] = {}
        if "gymscope_metric" not in self._tables:
            return RunMetrics(info, series)
        sql = (
            "SELECT name, step, value, wall_time, worker FROM gymscope_metric "
            "WHERE experiment_id = :x"
        )
        params: dict[str, Any] = {"x": info.id}
        if names is not None:
            if not names:
                return RunMetrics(info, series)
            marks, more = placeholders("n", list(names))
            sql += f" AND name IN ({marks})"
            params.update(more)
        columns: dict[str, tuple[list[int], list[float], list[float], list[int]]] = {}
        for name, step, value, wall, worker in self.source.rows(
            sql + " ORDER BY name, step, id", params
        ):
            steps, values, walls, workers = columns.setdefault(name, ([], [], [], []))
            steps.append(int(step))
            number = stored_float(value)
            values.append(math.nan if number is None else number)
            walls.append(math.nan if wall is None else float(wall))
            workers.append(-1 if worker is None else int(worker))
        for name, (steps, values, walls, workers) in columns.items():
            series[name] = MetricSeries.of(name, steps, values, walls, workers)
        return RunMetrics(info, series)

    def metric_overview(self, experiment: int | str | ExperimentInfo) -> list[MetricOverview]:
        """Per step-keyed metric of the run, by name: its points, first and last
        step and last value, counted by the database (no values read)."""
        info = self.experiment(experiment)
        names = self._metric_names([info.id]).get(info.id, [])
        out = []
        for name in names:
            params = {"x": info.id, "n": name}
            ((points, first, last),) = self.source.rows(
                "SELECT count(*), min(step), max(step) FROM gymscope_metric"
                " WHERE experiment_id = :x AND name = :n",
                params,
            )
            rows = self.source.rows(
                "SELECT value FROM gymscope_metric WHERE experiment_id = :x AND name = :n"
                " ORDER BY step DESC, id DESC LIMIT 1",
                params,
            )
            value = stored_float(rows[0][0]) if rows else None
            out.append(
                MetricOverview(
                    str(name),
                    int(points),
                    None if first is None else int(first),
                    None if last is None else int(last),
                    math.nan if rows and value is None else value,
                )
            )
        return out

    def configs(self, experiment: int | str | ExperimentInfo) -> list[ConfigEntry]:
        """Every configuration the run was started or resumed with, oldest first
        (just ``experiment.config`` for a run without a history)."""
        info = self.experiment(experiment)
        entries: list[ConfigEntry] = []
        if "gymscope_config" in self._tables:
            rows = self.source.rows(
                "SELECT config, created_at, worker FROM gymscope_config "
                "WHERE experiment_id = :x ORDER BY id",
                {"x": info.id},
            )
            entries = [
                ConfigEntry(str(text), aware_time(when), None if w is None else int(w))
                for text, when, w in rows
            ]
        if not entries and info.config.strip() not in ("", "{}"):
            entries = [ConfigEntry(info.config, info.created_at, None)]
        return entries

    def texts(self, experiment: int | str | ExperimentInfo) -> list[TextEntry]:
        """Texts logged for the run (``SummaryWriter.add_text``), in the order logged."""
        info = self.experiment(experiment)
        if "gymscope_text" not in self._tables:
            return []
        rows = self.source.rows(
            "SELECT tag, step, text, wall_time FROM gymscope_text "
            "WHERE experiment_id = :x ORDER BY id",
            {"x": info.id},
        )
        return [
            TextEntry(str(tag), None if step is None else int(step), str(text), float(wall))
            for tag, step, text, wall in rows
        ]

    # -- episodes ----------------------------------------------------------------------
    def returns_of_episode(self, episode_num: int) -> list[tuple[int, float]]:
        """``(experiment id, return)`` of every stored episode numbered
        ``episode_num``, across experiments and workers (NaN for NULL)."""
        rows = self.source.rows(
            "SELECT experiment_id, reward FROM episode WHERE episode_num = :n ORDER BY id",
            {"n": episode_num},
        )
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
        cols = self.episode_columns
        names = [name for name in EPISODE_FIELDS if name in cols]
        workers = 1
        if "worker" in cols:
            if self._workers_indexed:
                workers = len(self._worker_ids(info.id))
            else:
                ((workers,),) = self.source.rows(
                    "SELECT count(DISTINCT worker) FROM episode WHERE experiment_id = :x",
                    {"x": info.id},
                )
        order = "episode_num"
        if workers > 1 and "created_at" in cols:
            order = "created_at, worker, episode_num"
        rows = self._rows(
            f"SELECT {', '.join(names)} FROM episode WHERE experiment_id = :x ORDER BY {order}, id",
            {"x": info.id},
            [f"episode.{name}" for name in names],
        )
        values: dict[str, list[Any]] = (
            {
                name: list(column)
                for name, column in zip(names, zip(*rows, strict=True), strict=True)
            }
            if rows
            else {name: [] for name in names}
        )
        return RunEpisodes(info, values)

    def _worker_ids(self, experiment_id: int) -> list[int]:
        sql = (
            "WITH RECURSIVE w(worker) AS ("
            " SELECT min(worker) FROM episode WHERE experiment_id = :x"
            " UNION ALL SELECT (SELECT min(worker) FROM episode"
            "  WHERE experiment_id = :x AND worker > w.worker)"
            " FROM w WHERE w.worker IS NOT NULL) "
            "SELECT worker FROM w WHERE worker IS NOT NULL"
        )
        return [int(w) for (w,) in self.source.rows(sql, {"x": experiment_id})]


class _Worker:
    """One worker's share of a run, from its first and last episode."""

    __slots__ = ("episodes", "first", "last", "steps", "worker")

    def __init__(
        self, worker: int, episodes: int, steps: int, first: dict[str, Any], last: dict[str, Any]
    ) -> None:
        self.worker = worker
        self.episodes = episodes
        self.steps = steps
        self.first = first
        self.last = last


def _ended(workers: list[_Worker]) -> dt.datetime | None:
    """When the run's last episode ended: the latest of the workers' last episodes."""
    times = [aware_time(w.last.get("created_at")) for w in workers]
    return max((t for t in times if t is not None), default=None)


def _started(info: ExperimentInfo, workers: list[_Worker]) -> dt.datetime | None:
    """The earliest of the row's creation and the workers' first episode starts."""
    started = info.created_at
    for worker in workers:
        end = aware_time(worker.first.get("created_at"))
        if end is None:
            continue
        lead = stored_float(worker.first.get("duration_s"))
        seconds = lead if lead is not None and math.isfinite(lead) else 0.0
        begin = end - dt.timedelta(seconds=max(0.0, seconds))
        started = begin if started is None else min(started, begin)
    return started


def _end_order(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """The merged end order of ``(created_at, worker, episode_num, id, ...)`` rows."""
    created = row[0]
    return ("" if created is None else str(created), row[1], row[2], row[3])


def _mean(values: list[Any]) -> float | None:
    """The mean of stored returns; None if there are none or one is NaN or infinite."""
    if not values:
        return None
    numbers = [v if type(v) is float else stored_float(v) for v in values]
    try:
        total = math.fsum(numbers)  # type: ignore[arg-type]
    except (TypeError, OverflowError):  # a None: not a number; inf - inf
        return None
    return total / len(numbers) if math.isfinite(total) else None


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


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

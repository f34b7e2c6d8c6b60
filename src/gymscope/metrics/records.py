"""What a metrics database holds about runs, as plain objects.

:class:`ExperimentInfo` is a row of ``experiment``, :class:`RunSummary` a
run's figures for listings, :class:`RunEpisodes` a run's episode columns.
:class:`~gymscope.metrics.reader.MetricsReader` builds them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from gymscope.metrics.codec import (
    aware_time,
    decode_json,
    reported_losses,
    row_loss,
    stored_float,
)
from gymscope.metrics.runstats import (
    DEFAULT_ALPHA,
    DEFAULT_WINDOW,
    MergedStats,
    RunStatistics,
    merged_stats,
)

# NumPy is imported by the methods that return arrays, not here: listing runs,
# showing one and exporting it need none (they start without NumPy).
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    FloatArray = npt.NDArray[np.float64]

__all__ = [
    "EPISODE_FIELDS",
    "X_AXES",
    "ConfigEntry",
    "ExperimentInfo",
    "MergedStats",
    "MetricOverview",
    "MetricSeries",
    "RunEpisodes",
    "RunMetrics",
    "RunStatus",
    "RunSummary",
    "TextEntry",
    "WorkerSummary",
    "XAxis",
]

#: What a chart's x axis counts: episodes ended, env steps taken (all
#: workers), or seconds since the run started.
XAxis = Literal["episodes", "steps", "time"]
#: The x axes charts can be drawn against, the default first.
X_AXES: tuple[XAxis, ...] = ("episodes", "steps", "time")

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
        stats_window: Window of the run's statistics (100 when not stored).
        stats_alpha: EMA weight of the run's statistics (0.1 when not stored).
    """

    id: int
    name: str
    env: str
    agent: str
    config: str
    created_at: dt.datetime | None
    gymscope_version: str = ""
    stats_window: int = DEFAULT_WINDOW
    stats_alpha: float = DEFAULT_ALPHA

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
class RunStatus:
    """Whether a run is being written, and what became of its workers.

    ``state`` is one of:

    - ``"running"``: some worker holds its lease and is alive (its process
      exists on this host, or, on another host, it wrote within
      :data:`~gymscope.metrics.runs.STALE_S` seconds);
    - ``"crashed"``: no worker is alive, but some stopped without closing
      (a lease left behind: its process is gone from this host, or another
      host's worker has been silent for longer than ``STALE_S``);
    - ``"finished"``: every worker closed cleanly;
    - ``"empty"``: nothing was written and no worker holds a lease.

    Attributes:
        state: See above.
        running: Worker numbers alive now.
        crashed: Worker numbers that stopped without closing.
        last_activity: The latest of the last episode's end, the last
            training metric and the workers' heartbeats (aware UTC).
    """

    state: str
    running: tuple[int, ...] = ()
    crashed: tuple[int, ...] = ()
    last_activity: dt.datetime | None = None

    @property
    def label(self) -> str:
        """``state``, with the workers concerned when the run has several."""
        if self.state == "running" and self.crashed:
            return f"running ({len(self.crashed)} crashed)"
        return self.state


@dataclass(frozen=True)
class ConfigEntry:
    """One configuration a run was started or resumed with (``gymscope_config``)."""

    config: str
    created_at: dt.datetime | None
    worker: int | None

    def value(self) -> Any:
        """The configuration parsed as JSON, or the raw text if it is not JSON."""
        try:
            return json.loads(self.config)
        except ValueError:
            return self.config


@dataclass(frozen=True)
class TextEntry:
    """A text logged for a run (``SummaryWriter.add_text``)."""

    tag: str
    step: int | None
    text: str
    wall_time: float


@dataclass(frozen=True)
class MetricSeries:
    """One step-keyed training metric of a run, in step order.

    Attributes:
        name: The metric's name (``train/value_loss``, ``actor_loss``...).
        steps: The env step of each value.
        values: The values (NaN where a NaN was reported).
        wall_time: Unix time of each value.
        workers: The env worker that reported each value (-1: the trainer).
    """

    name: str
    steps: npt.NDArray[np.int64]
    values: FloatArray
    wall_time: FloatArray
    workers: npt.NDArray[np.int64]

    @classmethod
    def of(
        cls,
        name: str,
        steps: list[int],
        values: list[float],
        wall_time: list[float],
        workers: list[int],
    ) -> MetricSeries:
        """A series from plain lists."""
        import numpy as np

        return cls(
            name,
            np.array(steps, dtype=np.int64),
            np.array(values, dtype=np.float64),
            np.array(wall_time, dtype=np.float64),
            np.array(workers, dtype=np.int64),
        )

    def __len__(self) -> int:
        return len(self.steps)

    @property
    def first_step(self) -> int | None:
        """The step of the first value (None: no value)."""
        return int(self.steps[0]) if len(self) else None

    @property
    def last_step(self) -> int | None:
        """The step of the last value (None: no value)."""
        return int(self.steps[-1]) if len(self) else None

    @property
    def last_value(self) -> float | None:
        """The last value reported (NaN if a NaN was; None: no value)."""
        return float(self.values[-1]) if len(self) else None


@dataclass(frozen=True)
class MetricOverview:
    """What ``gymscope show`` lists of one step-keyed metric, without its values.

    Attributes:
        name: The metric's name.
        points: Values stored.
        first_step: The step of the first value (None: no value).
        last_step: The step of the last value.
        last_value: The value at the last step (NaN if a NaN was reported).
    """

    name: str
    points: int
    first_step: int | None
    last_step: int | None
    last_value: float | None

    def __len__(self) -> int:
        return self.points


@dataclass(frozen=True)
class RunMetrics:
    """The step-keyed training metrics of one run, by name (sorted)."""

    experiment: ExperimentInfo
    series: dict[str, MetricSeries]

    def __len__(self) -> int:
        return len(self.series)

    def __iter__(self) -> Iterator[MetricSeries]:
        return iter(self.series.values())

    def __contains__(self, name: object) -> bool:
        return name in self.series

    def __getitem__(self, name: str) -> MetricSeries:
        return self.series[name]

    @property
    def names(self) -> list[str]:
        """The metric names, sorted."""
        return list(self.series)

    @property
    def points(self) -> int:
        """Values stored over all metrics."""
        return sum(len(series) for series in self.series.values())


@dataclass(frozen=True)
class WorkerSummary:
    """One worker's share of a run (``gymscope show RUN --by-worker``).

    Attributes:
        worker: The worker number (0 for a database without workers).
        episodes: Episodes this worker ended.
        steps: Env steps of those episodes.
        last_moving_avg: This worker's own moving average of returns (over
            its last ``window_size`` episodes) after its last episode.
        best_moving_avg: The highest of this worker's own moving averages.
        state: ``"running"``, ``"crashed"`` or ``"finished"``: the state of
            its lease (see :class:`RunStatus`).
    """

    worker: int
    episodes: int
    steps: int
    last_moving_avg: float | None
    best_moving_avg: float | None
    state: str


@dataclass(frozen=True)
class RunSummary:
    """What ``gymscope runs`` shows of one experiment.

    Attributes:
        experiment: The experiment's row.
        episodes: Episodes stored.
        steps: Environment steps (sum of the episode lengths).
        workers: Distinct workers that wrote episodes.
        best_moving_avg: Highest run-level moving average of returns (over
            the last ``window_size`` episodes of all workers, in the order
            they ended; see :mod:`gymscope.metrics.runstats`), None if none.
        last_moving_avg: The run-level moving average after the last episode.
        started: When the run started: its first episode's start (end minus
            duration) or the experiment row's creation, whichever is earlier.
        ended: When its last episode ended.
        last_ema: The run-level EMA of returns after the last episode.
        status: Running, finished or crashed (see :class:`RunStatus`).
        metrics: Names of the run's step-keyed training metrics.
    """

    experiment: ExperimentInfo
    episodes: int
    steps: int
    workers: int
    best_moving_avg: float | None
    last_moving_avg: float | None
    started: dt.datetime | None
    ended: dt.datetime | None
    last_ema: float | None = None
    status: RunStatus = field(default_factory=lambda: RunStatus("empty"))
    metrics: tuple[str, ...] = ()

    @property
    def window_size(self) -> int:
        """Window of the run-level moving statistics."""
        return self.experiment.stats_window

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

    def float_list(self, name: str) -> list[float]:
        """Column ``name`` as a list of floats: NULL, non-numbers and a missing
        column are NaN. Computed once per column (do not modify it)."""
        cache: dict[str, list[float]] = self.__dict__.setdefault("_float_lists", {})
        if name in cache:
            return cache[name]
        column = self.values.get(name)
        if column is None:
            out = [math.nan] * len(self)
        else:
            out = []
            for value in column:
                kind = type(value)
                if kind is float:  # the common cases first
                    out.append(value)
                elif kind is int:
                    out.append(float(value))
                else:
                    number = stored_float(value)
                    out.append(math.nan if number is None else number)
        cache[name] = out
        return out

    def floats(self, name: str) -> FloatArray:
        """Column ``name`` as floats: NULL, non-numbers and a missing column are NaN."""
        import numpy as np

        return np.array(self.float_list(name), dtype=np.float64)

    def loss(self, name: str) -> FloatArray:
        """Loss column ``name`` as floats, NaN where not reported (see
        :func:`~gymscope.metrics.codec.row_loss`)."""
        import numpy as np

        if name not in self.values:
            return np.full(len(self), np.nan)
        out = np.full(len(self), np.nan)
        for i in range(len(self)):
            stored = row_loss(self.values, name, i)
            number = None if stored is None else stored_float(stored)
            if number is not None:
                out[i] = number
        return out

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

    def run_stats(
        self, window_size: int | None = None, alpha: float | None = None
    ) -> RunStatistics:
        """Run-level moving statistics over these episodes in their merged end
        order (see :mod:`gymscope.metrics.runstats`), with the run's stored
        window and EMA weight unless given; computed once per window and weight."""
        import numpy as np

        merged = self.merged_stats(window_size, alpha)
        cache: dict[int, RunStatistics] = self.__dict__.setdefault("_run_stats", {})
        if id(merged) not in cache:
            cache[id(merged)] = RunStatistics(
                merged.window_size,
                merged.alpha,
                np.array(merged.moving_mean, dtype=np.float64),
                np.array(merged.moving_std, dtype=np.float64),
                np.array(merged.ema_return, dtype=np.float64),
            )
        return cache[id(merged)]

    def merged_stats(
        self, window_size: int | None = None, alpha: float | None = None
    ) -> MergedStats:
        """:meth:`run_stats` as plain lists (no NumPy), computed once per window
        and weight."""
        window = window_size or self.experiment.stats_window
        weight = alpha or self.experiment.stats_alpha
        cache: dict[tuple[int, float], MergedStats] = self.__dict__.setdefault("_merged", {})
        if (window, weight) not in cache:
            cache[window, weight] = merged_stats(
                self.float_list("reward"),
                window_size=window,
                alpha=weight,
                lengths=self.float_list("length"),
            )
        return cache[window, weight]

    def worker_ids(self) -> FloatArray:
        """The worker of each episode (0 when the database has no ``worker`` column)."""
        import numpy as np

        column = self.values.get("worker")
        if column is None:
            return np.zeros(len(self))
        return np.array([0 if w is None else w for w in column], dtype=np.float64)

    def by_worker(self) -> dict[int, npt.NDArray[np.intp]]:
        """Positions of each worker's episodes (in the merged order), by worker."""
        import numpy as np

        ids = self.worker_ids()
        # sorted(set()), not np.unique: its first call imports numpy.ma (50 ms)
        return {int(w): np.flatnonzero(ids == w) for w in sorted(set(ids.tolist()))}

    def worker_summaries(
        self, status: RunStatus | None = None, window_size: int | None = None
    ) -> list[WorkerSummary]:
        """Per worker, by number: its episodes, steps and its own moving averages
        (over its own episodes only, with the run's window unless given), and
        the state of its lease in ``status``."""
        window = window_size or self.experiment.stats_window
        rewards, lengths = self.float_list("reward"), self.float_list("length")
        column = self.values.get("worker") or [0] * len(self)
        positions: dict[int, list[int]] = {}
        for i, worker in enumerate(column):
            positions.setdefault(0 if worker is None else int(worker), []).append(i)
        out = []
        for worker in sorted(positions):
            at = positions[worker]
            own = merged_stats(
                [rewards[i] for i in at], window_size=window, alpha=self.experiment.stats_alpha
            )
            state = "finished"
            if status is not None and worker in status.running:
                state = "running"
            elif status is not None and worker in status.crashed:
                state = "crashed"
            out.append(
                WorkerSummary(
                    worker=worker,
                    episodes=len(at),
                    steps=int(sum(lengths[i] for i in at if lengths[i] == lengths[i])),
                    last_moving_avg=own.last_moving_avg,
                    best_moving_avg=own.best_moving_avg,
                    state=state,
                )
            )
        return out

    def total_steps(self) -> FloatArray:
        """Env steps taken by all workers when each episode ended (the running
        sum of the lengths in the merged order)."""
        import numpy as np

        lengths = self.lengths
        return np.cumsum(np.where(np.isfinite(lengths), lengths, 0.0))

    def elapsed_s(self) -> FloatArray:
        """Seconds from the run's start (:meth:`started_at`) to each episode's
        end (NaN where unknown)."""
        import numpy as np

        start = self.started_at()
        if start is None:
            return np.full(len(self), np.nan)
        return np.array(
            [math.nan if end is None else (end - start).total_seconds() for end in self.ended_at()],
            dtype=np.float64,
        )

    def x_values(self, axis: XAxis) -> FloatArray:
        """Each episode's position on a chart's x axis: its index in the merged
        order (``"episodes"``), :meth:`total_steps` (``"steps"``) or
        :meth:`elapsed_s` (``"time"``)."""
        import numpy as np

        if axis == "steps":
            return self.total_steps()
        if axis == "time":
            return self.elapsed_s()
        return np.arange(len(self), dtype=np.float64)

    @property
    def workers(self) -> int:
        """Distinct workers (1 when the database has no ``worker`` column)."""
        column = self.values.get("worker")
        return len(set(column)) if column else (1 if len(self) else 0)

    def ended_at(self) -> list[dt.datetime | None]:
        """When each episode ended (aware UTC), None where unknown. Computed
        once (do not modify it)."""
        cached: list[dt.datetime | None] | None = self.__dict__.get("_ended_at")
        if cached is not None:
            return cached
        column = self.values.get("created_at")
        if column is None:
            out: list[dt.datetime | None] = [None] * len(self)
        else:
            out = []
            for value in column:
                # naive UTC datetimes, as read: the common case, first
                if type(value) is dt.datetime and value.tzinfo is None:
                    out.append(value.replace(tzinfo=dt.timezone.utc))
                else:
                    out.append(aware_time(value))
        self.__dict__["_ended_at"] = out
        return out

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
        reported (NaN where an episode had none: see
        :func:`~gymscope.metrics.codec.row_loss`), then the other logged
        metrics (``extra["metrics"]``). A metric whose name is taken already
        is called ``metric {name}``.
        """
        import numpy as np

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
            values = self.loss(loss)
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

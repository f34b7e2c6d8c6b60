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
from typing import Any

import numpy as np
import numpy.typing as npt

from gymscope.metrics.codec import aware_time, decode_json, reported_losses, stored_float

__all__ = ["EPISODE_FIELDS", "ExperimentInfo", "RunEpisodes", "RunSummary"]

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

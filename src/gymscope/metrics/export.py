"""A run's episodes as CSV, JSON Lines, or Stable-Baselines3's ``monitor.csv``.

- ``csv``: a header row, then one row per episode with every stored column
  (:data:`~gymscope.metrics.queries.EPISODE_FIELDS` the database has, after
  ``experiment_id``); ``created_at`` in ISO 8601 UTC, booleans ``true``/
  ``false``, ``extra`` as JSON text, NULL as an empty field.
- ``jsonl``: one JSON object per line with the same keys; ``extra`` is a
  nested object, NULL and non-finite numbers are ``null``.
- ``monitor``: the layout SB3's ``Monitor`` writes, so that
  ``stable_baselines3.common.monitor.load_results`` and ``plot_results``
  read it: a first line ``#{"t_start": <unix time>, "env_id": "<id>"}``, a
  header ``r,l,t``, then per episode its return (rounded to 6 places), length
  and end time in seconds since ``t_start`` (rounded to 6 places). ``t_start``
  is when the run started (its first episode's start). SB3 reads the files of
  a folder whose names end in ``monitor.csv``.

Episodes come in the order they ended (see
:meth:`~gymscope.metrics.queries.MetricsReader.episodes`), so a run of many
workers becomes one file whose ``t`` never decreases.

The run's step-keyed training metrics (table ``gymscope_metric``, see
:meth:`~gymscope.metrics.reader.MetricsReader.metrics`) are exported with
:func:`metric_lines`/:func:`export_metrics` (``gymscope export --table
metrics``): one row per reported value, in the columns of
:data:`METRIC_FIELDS`, ordered by name then step. Only reported values are
rows (nothing is filled in for a step a metric was not reported at); a
reported NaN is ``nan`` in CSV and ``null`` in JSON Lines; ``worker`` is
empty/``null`` for a value the trainer reported.

>>> import tempfile, gymnasium as gym
>>> from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
>>> folder = tempfile.TemporaryDirectory()
>>> env = SQLiteLoggerWrapper(gym.make("CartPole-v1"), f"{folder.name}/metrics.db",
...                           experiment="cartpole")
>>> _ = env.reset(seed=0)
>>> for _ in range(50):
...     _, _, terminated, truncated, _ = env.step(0)
...     if terminated or truncated:
...         _ = env.reset()
>>> env.close()
>>> path = export_episodes(f"{folder.name}/metrics.db", "cartpole",
...                        f"{folder.name}/cartpole.monitor.csv", format="monitor")
>>> lines = path.read_text().splitlines()
>>> lines[0].startswith('#{"t_start": '), lines[1], lines[2].split(",")[:2]
(True, 'r,l,t', ['11.0', '11'])
>>> folder.cleanup()
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from gymscope._outputs import check_output_file, write_output_file
from gymscope.errors import InvalidArgumentError
from gymscope.metrics.queries import EPISODE_FIELDS, MetricsReader, RunEpisodes
from gymscope.metrics.records import RunMetrics

if TYPE_CHECKING:
    from gymscope.metrics.db import DbTarget

__all__ = [
    "EXPORT_FORMATS",
    "METRIC_FIELDS",
    "METRIC_FORMATS",
    "ExportFormat",
    "episode_lines",
    "export_episodes",
    "export_metrics",
    "metric_lines",
]

ExportFormat = Literal["csv", "jsonl", "monitor"]
#: The formats :func:`export_episodes` writes.
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl", "monitor")
#: The formats :func:`export_metrics` writes (``monitor`` is SB3's episode file).
METRIC_FORMATS: tuple[ExportFormat, ...] = ("csv", "jsonl")
#: The columns of a metrics export, in order.
METRIC_FIELDS = ("experiment_id", "name", "step", "value", "wall_time", "worker")


def _csv_line(values: list[Any]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue()


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)  # every digit; "inf" for an infinite return
    if isinstance(value, (dict, list)):
        return json.dumps(value, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return value


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _round6(value: float) -> str:
    if not math.isfinite(value):
        return "" if value != value else repr(value)
    return repr(round(value, 6))


def episode_lines(run: RunEpisodes, format: ExportFormat = "csv") -> Iterator[str]:
    """The export of ``run`` in ``format``, line by line (each ends with a newline).

    Raises:
        ValueError: an unknown format.
    """
    if format == "csv":
        names = ["experiment_id", *(n for n in EPISODE_FIELDS if n in run.values)]
        yield _csv_line(names)
        for record in run.records():
            yield _csv_line([_csv_value(record[name]) for name in names])
    elif format == "jsonl":
        for record in run.records():
            plain = {key: _json_value(value) for key, value in record.items()}
            yield json.dumps(plain, allow_nan=False, ensure_ascii=False) + "\n"
    elif format == "monitor":
        yield from _monitor_lines(run)
    else:
        raise InvalidArgumentError(
            f"format must be one of {', '.join(EXPORT_FORMATS)}; got {format!r}"
        )


def _monitor_lines(run: RunEpisodes) -> Iterator[str]:
    start = run.started_at()
    t_start = start.timestamp() if start is not None else 0.0
    header = {"t_start": t_start, "env_id": run.experiment.env}
    yield "#" + json.dumps(header, ensure_ascii=False) + "\n"
    yield "r,l,t\n"
    rewards = run.rewards.tolist()
    lengths = run.values["length"]
    for reward, length, end in zip(rewards, lengths, run.ended_at(), strict=True):
        t = "" if end is None else _round6(end.timestamp() - t_start)
        yield f"{_round6(reward)},{int(length)},{t}\n"


def metric_records(metrics: RunMetrics) -> Iterator[dict[str, Any]]:
    """One plain dict per reported value (keys: :data:`METRIC_FIELDS`), by name then step."""
    experiment_id = metrics.experiment.id
    for series in metrics:
        rows = zip(
            series.steps.tolist(),
            series.values.tolist(),
            series.wall_time.tolist(),
            series.workers.tolist(),
            strict=True,
        )
        for step, value, wall, worker in rows:
            yield {
                "experiment_id": experiment_id,
                "name": series.name,
                "step": step,
                "value": value,
                "wall_time": None if wall != wall else wall,
                "worker": None if worker < 0 else worker,
            }


def metric_lines(metrics: RunMetrics, format: ExportFormat = "csv") -> Iterator[str]:
    """The export of a run's step-keyed metrics in ``format`` (``csv`` or
    ``jsonl``), line by line (see the module docs).

    Raises:
        ValueError: a format other than csv or jsonl.
    """
    if format == "csv":
        yield _csv_line(list(METRIC_FIELDS))
        for record in metric_records(metrics):
            yield _csv_line([_csv_value(record[name]) for name in METRIC_FIELDS])
    elif format == "jsonl":
        for record in metric_records(metrics):
            plain = {key: _json_value(value) for key, value in record.items()}
            yield json.dumps(plain, allow_nan=False, ensure_ascii=False) + "\n"
    else:
        raise InvalidArgumentError(
            f"format must be one of {', '.join(METRIC_FORMATS)} for metrics; got {format!r}"
        )


def export_metrics(
    db: DbTarget,
    experiment: int | str,
    output: str | os.PathLike[str],
    *,
    format: ExportFormat = "csv",
    overwrite: bool = False,
) -> Path:
    """Write the step-keyed training metrics of one experiment to ``output``
    (atomically), as :func:`metric_lines` spells them.

    A database without the ``gymscope_metric`` table (version 1, velora)
    gives a header only (CSV) or an empty file (JSON Lines).

    Args:
        db: The metrics database (path, URL or Engine); opened read-only.
        experiment: Its id or name.
        output: The file to write (see :func:`export_episodes`).
        format: ``"csv"`` or ``"jsonl"``.
        overwrite: Replace an existing file (never a database).

    Returns:
        ``output`` as a Path.

    Raises:
        ValueError: a format other than csv or jsonl.
        FileNotFoundError: a SQLite path with no file.
        LookupError: no such experiment.
        FileExistsError: ``output`` exists and ``overwrite`` is false, or it
            is a database.
        OSError: ``output`` cannot be written.
    """
    if format not in METRIC_FORMATS:
        raise InvalidArgumentError(
            f"format must be one of {', '.join(METRIC_FORMATS)} for metrics; got {format!r}"
        )
    path = check_output_file(output, argument="output", overwrite=overwrite)
    with MetricsReader(db) as reader:
        metrics = reader.metrics(experiment)
    lines = (line.encode("utf-8") for line in metric_lines(metrics, format))
    write_output_file(path, lines, argument="output", overwrite=overwrite)
    return path


def export_episodes(
    db: DbTarget,
    experiment: int | str,
    output: str | os.PathLike[str],
    *,
    format: ExportFormat = "csv",
    overwrite: bool = False,
) -> Path:
    """Write the episodes of one experiment to ``output`` (atomically).

    Args:
        db: The metrics database (path, URL or Engine); opened read-only.
        experiment: Its id or name.
        output: The file to write; missing folders are created. A device, FIFO,
            socket, directory, symbolic link or SQLite database there is refused
            (see :func:`gymscope._outputs.check_output_file`).
        format: ``"csv"``, ``"jsonl"`` or ``"monitor"`` (see the module docs).
        overwrite: Replace an existing file (never a database).

    Returns:
        ``output`` as a Path.

    Raises:
        ValueError: an unknown format.
        DatabaseNotFoundError, NotAMetricsDatabaseError, ExperimentNotFoundError:
            see :class:`~gymscope.metrics.queries.MetricsReader`.
        FileExistsError: ``output`` exists and ``overwrite`` is false, or it is a
            database (:class:`~gymscope.errors.OutputExistsError`).
        OSError: ``output`` cannot be written.
    """
    if format not in EXPORT_FORMATS:
        raise InvalidArgumentError(
            f"format must be one of {', '.join(EXPORT_FORMATS)}; got {format!r}"
        )
    path = check_output_file(output, argument="output", overwrite=overwrite)
    with MetricsReader(db) as reader:
        run = reader.episodes(experiment)
    lines = (line.encode("utf-8") for line in episode_lines(run, format))
    write_output_file(path, lines, argument="output", overwrite=overwrite)
    return path

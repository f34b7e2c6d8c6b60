"""The episode row format, in one place: record -> row, row -> record parts.

A row of table ``episode`` holds velora's columns (``reward``, ``length``,
``reward_moving_avg``/``_std``, the three loss columns) and gymscope's
(``worker``, ``duration_s``, ``terminated``, ``truncated``, ``total_steps``
and ``extra``). ``extra`` is a JSON object, or NULL when it would be empty:

- ``"info"``: the captured info values (``EpisodeRecord.info``),
- ``"metrics"``: per-episode means of logged values that have no column of
  their own (``EpisodeRecord.metrics`` minus the losses),
- ``"nan"``: the names of the float columns whose NULL means NaN (SQLite
  stores NaN as NULL; every other NULL is a value nobody reported).

Velora's loss columns are NULL when not reported. velora itself (and
gymscope before schema version 2) stored ``entropy_loss`` as 0.0 then (its
column default): a row whose ``entropy_loss`` is 0.0 while its other two
losses are NULL is read as "not reported" (:func:`row_loss`), and so is a
column of zeros (:func:`reported_losses`).

>>> from gymscope.sinks.base import replay_returns
>>> record = next(replay_returns([float("nan")]))
>>> episode_extra(record, record_losses(record))
{'nan': ['reward', 'reward_moving_avg', 'reward_moving_std']}
>>> reported_losses({"actor_loss": [None, 0.5], "entropy_loss": [0.0, 0.0]})
['actor_loss']
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gymscope.episode import EpisodeRecord

__all__ = [
    "COLUMNS",
    "FLOAT_COLUMNS",
    "JSON_FLOATS",
    "LOSS_COLUMNS",
    "NO_LOSSES",
    "aware_time",
    "decode_floats",
    "decode_json",
    "episode_extra",
    "nan_to_none",
    "needs_extra",
    "record_losses",
    "reported_losses",
    "row_extra",
    "row_loss",
    "row_metrics",
    "row_values",
    "stored_float",
]

#: Metrics reported with ``log_metrics`` that have their own velora column.
LOSS_COLUMNS = ("actor_loss", "critic_loss", "entropy_loss")
_LOSSES = frozenset(LOSS_COLUMNS)

#: What a row's loss columns hold when nothing was reported: NULL (velora
#: itself stores 0.0 in ``entropy_loss``; see :func:`row_loss`).
NO_LOSSES: tuple[Any, Any, Any] = (None, None, None)

#: Columns written per episode, in the order of the rows the writers build.
COLUMNS = (
    "experiment_id",
    "episode_num",
    "reward",
    "length",
    "reward_moving_avg",
    "reward_moving_std",
    "actor_loss",
    "critic_loss",
    "entropy_loss",
    "created_at",
    "worker",
    "duration_s",
    "terminated",
    "truncated",
    "total_steps",
    "extra",
)

#: How non-finite floats are spelled inside the JSON ``extra`` column.
JSON_FLOATS = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}

_UTC = dt.timezone.utc


# -- record -> row -------------------------------------------------------------------
def record_losses(record: EpisodeRecord) -> tuple[Any, Any, Any]:
    """``(actor_loss, critic_loss, entropy_loss)`` of a row, None for the ones
    not reported."""
    metrics = record.metrics
    if not metrics:
        return NO_LOSSES
    return (
        metrics.get("actor_loss"),
        metrics.get("critic_loss"),
        metrics.get("entropy_loss"),
    )


def needs_extra(record: EpisodeRecord) -> bool:
    """Whether the row of ``record`` has an ``extra`` object (cheap test first)."""
    if record.info or record.nonfinite:
        return True
    mean, std = record.moving_mean, record.moving_std
    if mean != mean or std != std:
        return True
    metrics = record.metrics
    return bool(metrics) and (
        not _LOSSES.issuperset(metrics) or any(v != v for v in metrics.values())
    )


def _nan_columns(record: EpisodeRecord, losses: tuple[Any, Any, Any]) -> list[str]:
    values = (record.episode_return, record.moving_mean, record.moving_std, *losses)
    names = ("reward", "reward_moving_avg", "reward_moving_std", *LOSS_COLUMNS)
    return [name for name, v in zip(names, values, strict=True) if v is not None and v != v]


def episode_extra(record: EpisodeRecord, losses: tuple[Any, Any, Any]) -> dict[str, Any] | None:
    """The ``extra`` JSON object of a row, or None when there is nothing to put there."""
    from gymscope.metrics.runs import jsonable

    extra: dict[str, Any] = {}
    if record.info:
        extra["info"] = jsonable(record.info)
    others = {k: v for k, v in record.metrics.items() if k not in _LOSSES}
    if others:
        extra["metrics"] = jsonable(others)
    nan = _nan_columns(record, losses)
    if nan:
        extra["nan"] = nan
    return extra or None


def row_values(
    record: EpisodeRecord,
    *,
    experiment_id: int,
    episode_num: int,
    worker: int,
    losses: tuple[Any, Any, Any],
    created_at: Any,
    extra: Any,
) -> tuple[Any, ...]:
    """The values of a row in :data:`COLUMNS` order (floats as they are: NaN
    stays NaN, which SQLite stores as NULL; see :data:`FLOAT_COLUMNS`)."""
    return (
        experiment_id,
        episode_num,
        record.episode_return,
        record.length,
        record.moving_mean,
        record.moving_std,
        losses[0],
        losses[1],
        losses[2],
        created_at,
        worker,
        record.duration_s,
        record.terminated,
        record.truncated,
        record.total_steps,
        extra,
    )


#: Positions in :data:`COLUMNS` of the float columns whose NaN is stored NULL.
FLOAT_COLUMNS = frozenset(
    COLUMNS.index(name) for name in ("reward", "reward_moving_avg", "reward_moving_std")
) | frozenset(COLUMNS.index(name) for name in LOSS_COLUMNS)


def nan_to_none(value: Any) -> Any:
    """NaN as None (stored NULL, as SQLite does); everything else unchanged."""
    if value is not None and value != value:
        return None
    return value


# -- row -> values -------------------------------------------------------------------
def decode_json(value: Any) -> Any:
    """A stored JSON column (text on SQLite, already parsed elsewhere); None if unreadable."""
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return None
    return value


def row_extra(value: Any) -> dict[str, Any]:
    """The ``extra`` object of a row (``{}`` for NULL or anything unreadable)."""
    extra = decode_json(value)
    return extra if isinstance(extra, dict) else {}


def decode_floats(values: Any) -> dict[str, Any]:
    """A stored JSON object with the spellings of NaN/infinities turned back into floats."""
    if not isinstance(values, Mapping):
        return {}
    return {
        str(k): JSON_FLOATS[v] if isinstance(v, str) and v in JSON_FLOATS else v
        for k, v in values.items()
    }


def stored_float(value: Any) -> float | None:
    """A stored value as a float: NULL is NaN, JSON spellings are decoded; None
    for anything that is not a number."""
    if value is None:
        return math.nan
    if isinstance(value, str):
        return JSON_FLOATS.get(value)
    if isinstance(value, (bool, int, float)):
        return float(value)
    return None


def aware_time(value: Any) -> dt.datetime | None:
    """A stored time as an aware UTC datetime (gymscope stores UTC; naive means UTC)."""
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, dt.datetime):
        return None
    if value.utcoffset() is None:
        return value.replace(tzinfo=_UTC)
    return value.astimezone(_UTC)


def row_loss(values: Mapping[str, Sequence[Any]], name: str, i: int) -> Any:
    """The stored ``name`` loss of row ``i``, or None where it was not reported.

    ``entropy_loss`` 0.0 beside two NULL losses is velora's "not reported"
    (its column default, which gymscope also wrote before schema version 2).
    """
    column = values.get(name)
    if column is None:
        return None
    value = column[i]
    if name == "entropy_loss" and value is not None and value == 0:
        others = [values.get(other) for other in ("actor_loss", "critic_loss")]
        if all(c is None or c[i] is None for c in others):
            return None
    return value


def reported_losses(values: Mapping[str, Sequence[Any]]) -> list[str]:
    """The loss columns of a run that hold reported values.

    A column counts if some row holds a value; ``entropy_loss`` only if some
    value is non-zero, since 0.0 is also what is stored when none was reported.
    """
    reported = []
    for name in LOSS_COLUMNS:
        column = values.get(name)
        if column is None:
            continue
        if name == "entropy_loss":
            if any(v is not None and v != 0 for v in column):
                reported.append(name)
        elif any(v is not None for v in column):
            reported.append(name)
    return reported


def row_metrics(
    values: Mapping[str, Sequence[Any]], i: int, losses: Sequence[str], extra: Mapping[str, Any]
) -> dict[str, float]:
    """``EpisodeRecord.metrics`` of row ``i``: its reported losses, then the
    numeric entries of ``extra["metrics"]``. A NULL that ``extra["nan"]`` names
    is NaN; any other NULL was not reported."""
    listed = extra.get("nan")
    nan: Sequence[Any] = listed if isinstance(listed, list) else ()
    metrics: dict[str, float] = {}
    for name in losses:
        stored = row_loss(values, name, i)
        if stored is not None:
            metrics[name] = float(stored)
        elif name in nan:
            metrics[name] = math.nan
    for name, value in decode_floats(extra.get("metrics")).items():
        if isinstance(value, (bool, int, float)):
            metrics[name] = float(value)
    return metrics

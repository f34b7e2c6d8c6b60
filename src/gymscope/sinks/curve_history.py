"""CurveHistory: a run's per-episode series in growable arrays, their charts and JSON.

The in-memory half of :class:`~gymscope.sinks.curves.CurveSink` (which adds
the files): fed EpisodeRecords, it keeps the return, length, moving average
of returns and every captured info value and metric of each episode, and
turns them into the curve charts and the ``{prefix}_history.json`` text.
:func:`gymscope.charts.experiment_charts` replays a stored run into one, so
a plotted run and a live one are drawn by the same code.

>>> from gymscope.sinks.base import replay_returns
>>> history = CurveHistory(window_size=2)
>>> for record in replay_returns([3.0, 1.0, 5.0], window_size=2):
...     history.on_episode(record)
>>> history.moving_averages.tolist(), history.summary()["best_episode"]
([3.0, 2.0, 3.0], 2)
>>> [stem for stem, _ in history.charts("demo")]
['demo_reward_curve', 'demo_length_curve']
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Iterable, Iterator, Mapping, MutableMapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from gymscope.charts.curves import curve_charts
from gymscope.charts.layout import LineChart
from gymscope.episode import EpisodeRecord, check_info_keys, check_window_size
from gymscope.sinks._scalars import NumbersOnly
from gymscope.sinks.base import Sink

__all__ = ["CHECKPOINT_FORMAT", "HISTORY_FORMAT", "CurveHistory"]

#: ``format`` field of ``{prefix}_history.json``.
HISTORY_FORMAT = "gymscope-curves/1"
#: ``format`` field of the first line of ``{prefix}_history_checkpoint.jsonl``.
CHECKPOINT_FORMAT = "gymscope-curves-checkpoint/1"

FloatArray = npt.NDArray[np.float64]
_MIN_CAPACITY = 64
# Episodes per block of serialised history text kept between saves.
_TEXT_BLOCK = 4096


def _grown(array: npt.NDArray[Any], needed: int, fill: float) -> npt.NDArray[Any]:
    """A copy of ``array`` with room for at least ``needed`` values (doubling,
    so appending n values copies O(n) values in total)."""
    capacity = max(_MIN_CAPACITY, array.size)
    while capacity < needed:
        capacity *= 2
    out = np.full(capacity, fill, dtype=array.dtype)
    out[: array.size] = array
    return out


def _json_list(values: npt.NDArray[Any]) -> list[Any]:
    """``values`` as a JSON-ready list: non-finite values become ``null``."""
    out: list[Any] = values.tolist()
    if values.dtype.kind == "f":
        for i in np.flatnonzero(~np.isfinite(values)).tolist():
            out[i] = None
    return out


def _json_items(values: npt.NDArray[Any]) -> bytes:
    """The items of a JSON array of ``values`` (no brackets), non-finite as null."""
    return json.dumps(_json_list(values), allow_nan=False, separators=(",", ":"))[1:-1].encode()


def _json_float(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _json_number(value: float) -> str:
    """A float as JSON text: ``repr`` (shortest round-trip form) or ``null``."""
    return repr(value) if math.isfinite(value) else "null"


class CurveHistory(Sink):
    """Every episode's return, length, moving average, info values and metrics.

    Per record it appends, to compact NumPy arrays that double when full,
    ``episode_return``, ``length``, ``moving_mean`` (the driver's moving
    average over ``window_size`` episodes), each captured info value and
    each metric. Info values that are not numbers are left out, with one
    warning per key. Writes nothing: see :class:`~gymscope.sinks.curves.CurveSink`.

    Args:
        window_size: Episodes in the moving averages (the records' own
            ``window_size``; a record with another one is warned about once).
        info_keys: Info keys that get a series (and a chart) even before, or
            without, a value; others get one when they first appear.
        metrics: Names of metrics to keep, or ``"all"``.
    """

    #: Serialise the history text block by block as episodes arrive, so that
    #: :meth:`history_chunks` stays fast for long runs (charts alone do not need it).
    keep_text = False

    def __init__(
        self,
        window_size: int = 100,
        info_keys: Iterable[str] = (),
        metrics: Iterable[str] | Literal["all"] = "all",
    ) -> None:
        self._window_size = check_window_size(window_size)
        keys = check_info_keys(info_keys)
        names = None if metrics == "all" else check_info_keys(metrics, "metrics")
        self._metric_names = None if names is None else frozenset(names)
        self._n = 0
        self._first_episode: int | None = None
        self._returns: FloatArray = np.empty(0, dtype=np.float64)
        self._averages: FloatArray = np.empty(0, dtype=np.float64)
        self._lengths: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        # Declared names get a column (and a chart) even before a value arrives.
        self._info: dict[str, FloatArray] = {k: np.empty(0, np.float64) for k in keys}
        self._metrics: dict[str, FloatArray] = {k: np.empty(0, np.float64) for k in names or ()}
        self._numbers = NumbersOnly("CurveSink", "charts")
        self._window_warned = False
        # JSON text of the history's completed blocks, by series ("reward", "info/<key>").
        self._text: dict[str, list[bytes]] = {}

    # -- what was recorded ----------------------------------------------------------
    @property
    def window_size(self) -> int:
        """Episodes in the moving averages."""
        return self._window_size

    @property
    def episode_count(self) -> int:
        """Episodes recorded so far."""
        return self._n

    @property
    def first_episode(self) -> int:
        """Index of the first recorded episode (0 before any)."""
        return self._first_episode or 0

    @property
    def returns(self) -> FloatArray:
        """Return of every recorded episode (a read-only view)."""
        return self._view(self._returns)

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        """Length of every recorded episode (a read-only view)."""
        return self._view(self._lengths)

    @property
    def moving_averages(self) -> FloatArray:
        """Moving average of returns after each episode (a read-only view)."""
        return self._view(self._averages)

    @property
    def info_series(self) -> dict[str, FloatArray]:
        """Captured info values by key, NaN where an episode had none."""
        return {k: self._view(v) for k, v in self._info.items()}

    @property
    def metric_series(self) -> dict[str, FloatArray]:
        """Per-episode means of metrics by name, NaN where missing."""
        return {k: self._view(v) for k, v in self._metrics.items()}

    def _view(self, array: npt.NDArray[Any]) -> npt.NDArray[Any]:
        view = self._column(array)[: self._n]
        view.flags.writeable = False
        return view

    def _column(self, values: npt.NDArray[Any]) -> npt.NDArray[Any]:
        # a column that has not seen a value lately is shorter than the run
        return values if values.size >= self._n else _grown(values, self._n, math.nan)

    # -- recording ------------------------------------------------------------------
    def load(
        self,
        first_episode: int,
        returns: Sequence[float],
        lengths: Sequence[int],
        moving_averages: Sequence[float],
        info: Mapping[str, Sequence[float]] | None = None,
        metrics: Mapping[str, Sequence[float]] | None = None,
    ) -> None:
        """Replace the history by stored series (a resumed run's earlier episodes).

        Episodes ``first_episode``, ``first_episode + 1``, ... in order; the
        info and metric series have the same length, NaN where an episode
        had no value. Later records are appended after them.
        """
        n = len(returns)
        if not len(lengths) == len(moving_averages) == n:
            raise ValueError("returns, lengths and moving averages must have the same length")
        self._n = n
        self._first_episode = first_episode if n else None
        self._returns = np.array(returns, dtype=np.float64)
        self._lengths = np.array(lengths, dtype=np.int64)
        self._averages = np.array(moving_averages, dtype=np.float64)
        for columns, loaded in ((self._info, info or {}), (self._metrics, metrics or {})):
            for name in columns:
                columns[name] = np.full(n, math.nan)
            for name, values in loaded.items():
                if len(values) != n:
                    raise ValueError(f"series {name!r} has {len(values)} values, not {n}")
                columns[name] = np.array(values, dtype=np.float64)
        self._text = {}
        if self.keep_text:
            self._cache_text()

    def on_episode(
        self, record: EpisodeRecord, info: MutableMapping[str, Any] | None = None
    ) -> None:
        """Append one episode (``info`` is not used: the record holds the captured values)."""
        n = self._n
        if n == self._returns.size:
            self._returns = _grown(self._returns, n + 1, math.nan)
            self._averages = _grown(self._averages, n + 1, math.nan)
            self._lengths = _grown(self._lengths, n + 1, 0)
        if n == 0:
            self._first_episode = record.index
        if record.window_size != self._window_size and not self._window_warned:
            self._window_warned = True
            warnings.warn(
                f"episode {record.index} has a moving average over {record.window_size} "
                f"episodes, but this curve history is labelled avg{self._window_size}; "
                "give the driver and the sink the same window_size",
                stacklevel=2,
            )
        self._returns[n] = record.episode_return
        self._averages[n] = record.moving_mean
        self._lengths[n] = record.length
        if record.info:
            self._put(self._info, record.info, n, "info[{!r}]", None)
        if record.metrics:
            self._put(self._metrics, record.metrics, n, "metric {!r}", self._metric_names)
        self._n = n + 1
        if self.keep_text and self._n % _TEXT_BLOCK == 0:
            self._cache_text()

    def _put(
        self,
        columns: dict[str, FloatArray],
        values: Mapping[str, Any],
        n: int,
        label: str,
        wanted: frozenset[str] | None,
    ) -> None:
        for name, raw in values.items():
            if wanted is not None and name not in wanted:
                continue
            value = self._numbers.number(label.format(name), raw, stacklevel=3)
            if value is None:
                continue
            column = columns.get(name)
            if column is None or column.size <= n:
                column = _grown(
                    column if column is not None else np.empty(0, np.float64),
                    max(n + 1, self._returns.size),
                    math.nan,
                )
                columns[name] = column
            column[n] = value

    # -- summary and charts -----------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """``episodes``, ``best`` (highest finite return) and ``best_episode``,
        ``final`` return, ``final_moving_avg`` and ``window``; None where
        there is no (finite) value."""
        returns = self._returns[: self._n]
        finite = np.isfinite(returns)
        best = best_episode = None
        if finite.any():
            i = int(np.argmax(np.where(finite, returns, -np.inf)))
            best, best_episode = float(returns[i]), self.first_episode + i
        last = self._n - 1
        return {
            "episodes": self._n,
            "best": best,
            "best_episode": best_episode,
            "final": _json_float(float(returns[last])) if self._n else None,
            "final_moving_avg": _json_float(float(self._averages[last])) if self._n else None,
            "window": self._window_size,
        }

    def extra_series(self) -> dict[str, FloatArray]:
        """The series charted besides return and length: info values, then
        metrics (``metric {name}`` when an info key has the same name)."""
        n = self._n
        extras = {name: self._column(v)[:n] for name, v in self._info.items()}
        for name, values in self._metrics.items():
            extras[name if name not in extras else f"metric {name}"] = self._column(values)[:n]
        return extras

    def charts(
        self, prefix: str, *, subject: str = "", width: int = 960, height: int = 540
    ) -> list[tuple[str, LineChart]]:
        """The charts with their file stems (see :func:`gymscope.charts.curves.curve_charts`):
        ``{prefix}_reward_curve``, ``{prefix}_length_curve``, one per extra series."""
        n = self._n
        return curve_charts(
            prefix,
            returns=self._returns[:n],
            lengths=self._lengths[:n],
            moving_avg=self._averages[:n],
            window=self._window_size,
            extras=self.extra_series(),
            first_episode=self.first_episode,
            subject=subject,
            width=width,
            height=height,
        )

    # -- text -------------------------------------------------------------------------
    def _series(self) -> Iterator[tuple[str, str | None, npt.NDArray[Any]]]:
        """Every series of the history: (field, name within the field, values)."""
        n = self._n
        yield "reward", None, self._returns[:n]
        yield "length", None, self._lengths[:n]
        yield "reward_moving_avg", None, self._averages[:n]
        for field, columns in (("info", self._info), ("metrics", self._metrics)):
            for name, values in columns.items():
                yield field, name, self._column(values)[:n]

    def _cache_text(self) -> None:
        """Serialise the blocks of ``_TEXT_BLOCK`` episodes completed since the
        last call, for every series. Run as each block completes, so a save
        only serialises the last, partial block: turning floats into text is
        what a big history's save would otherwise spend most of its time on."""
        complete = self._n // _TEXT_BLOCK
        for field, name, values in self._series():
            blocks = self._text.setdefault(f"{field}/{name}" if name else field, [])
            while len(blocks) < complete:
                start = len(blocks) * _TEXT_BLOCK
                blocks.append(_json_items(values[start : start + _TEXT_BLOCK]))

    def _json_array(self, key: str, values: npt.NDArray[Any]) -> bytes:
        done = self._text.get(key, [])
        tail = values[len(done) * _TEXT_BLOCK :]
        parts = [*done, _json_items(tail)] if tail.size else done
        return b"[" + b",".join(parts) + b"]"

    def history_chunks(self) -> Iterator[bytes]:
        """The ``{prefix}_history.json`` text, one top-level field per line, so
        the summary stays readable at the top of a big file. Yielded field by
        field: a million-episode history is never one big string."""
        self._cache_text()
        head = {
            "format": HISTORY_FORMAT,
            "summary": self.summary(),
            "first_episode": self.first_episode,
        }
        yield b"{\n"
        for key, value in head.items():
            yield f"  {json.dumps(key)}: {json.dumps(value, allow_nan=False)},\n".encode()
        groups: dict[str, list[bytes]] = {"info": [], "metrics": []}
        for field, name, values in self._series():
            if name is None:
                yield f'  "{field}": '.encode() + self._json_array(field, values) + b",\n"
            else:
                item = (
                    json.dumps(name).encode() + b":" + self._json_array(f"{field}/{name}", values)
                )
                groups[field].append(item)
        yield b'  "info": {' + b",".join(groups["info"]) + b"},\n"
        yield b'  "metrics": {' + b",".join(groups["metrics"]) + b"}\n}\n"

    def checkpoint_lines(self, start: int) -> list[str]:
        """One JSON line per episode from position ``start`` on (the checkpoint
        file's records: episode, reward, length, moving average, then the
        episode's info values and metrics, if any)."""
        end, first = self._n, self.first_episode
        columns = [
            (group, name, self._column(values)[start:end].tolist())
            for group, source in (("info", self._info), ("metrics", self._metrics))
            for name, values in source.items()
        ]
        returns = self._returns[start:end].tolist()
        averages = self._averages[start:end].tolist()
        lengths = self._lengths[start:end].tolist()
        lines = []
        for i in range(end - start):
            # Formatted by hand (repr of a float is valid JSON when finite):
            # several times faster than json.dumps of a dict per episode.
            line = (
                f'{{"episode":{first + start + i},"reward":{_json_number(returns[i])},'
                f'"length":{lengths[i]},"reward_moving_avg":{_json_number(averages[i])}'
            )
            if columns:
                extra: dict[str, dict[str, float | None]] = {}
                for group, name, values in columns:
                    value = values[i]
                    if value == value:  # not NaN: the episode had this value
                        extra.setdefault(group, {})[name] = _json_float(value)
                if extra:
                    line += "," + json.dumps(extra, allow_nan=False, separators=(",", ":"))[1:-1]
            lines.append(line + "}")
        return lines

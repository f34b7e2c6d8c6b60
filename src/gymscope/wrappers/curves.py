"""CurveRecorderWrapper: training curves (SVG + PNG) and a JSON history of a run."""

from __future__ import annotations

import json
import math
import os
import warnings
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.core import ActType, ObsType

from gymscope._checks import check_optional_int
from gymscope._files import (
    append_bytes,
    atomic_write_bytes,
    check_writable_dir,
    safe_name,
)
from gymscope.charts.curves import write_curve_charts
from gymscope.episode import EpisodeRecord, StatsConfig, check_info_keys, check_window_size
from gymscope.errors import ArgumentTypeError, InvalidArgumentError
from gymscope.wrappers.base import GymscopeWrapper

__all__ = [
    "CHECKPOINT_FORMAT",
    "HISTORY_FORMAT",
    "CurveRecorderWrapper",
    "load_checkpoint",
]

#: ``format`` field of ``{prefix}_history.json``.
HISTORY_FORMAT = "gymscope-curves/1"
#: ``format`` field of the first line of ``{prefix}_history_checkpoint.jsonl``.
CHECKPOINT_FORMAT = "gymscope-curves-checkpoint/1"

FloatArray = npt.NDArray[np.float64]
_MIN_CAPACITY = 64
# Open wrappers by (output_dir, prefix), to warn when two would write the same files.
_open_targets: weakref.WeakValueDictionary[tuple[str, str], CurveRecorderWrapper[Any, Any]] = (
    weakref.WeakValueDictionary()
)
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


def _number(value: Any) -> float | None:
    """``value`` as a float if it is a real number (or a one-element numeric array)."""
    if isinstance(value, np.ndarray):
        if value.size != 1 or value.dtype.kind not in "biuf":
            return None
        value = value.item()
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        try:
            return float(value)
        except OverflowError:  # an int beyond float range
            return math.inf if value > 0 else -math.inf
    return None


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


class CurveRecorderWrapper(
    GymscopeWrapper[ObsType, ActType],
    gym.utils.RecordConstructorArgs,
):
    """Records every episode's return, length and chosen metrics; draws the curves.

    Per finished episode it appends, to compact NumPy arrays that double when
    full, the return, the length, the moving average of returns over
    ``window_size`` episodes, each captured ``info`` value (``info_keys``) and
    each value reported with ``log_metrics`` (its mean over the episode).
    :meth:`save` — also run by :meth:`close` and at interpreter exit — writes
    into ``output_dir``:

    - ``{prefix}_reward_curve.svg`` / ``.png``: returns (faint) and their
      moving average ``avg{window_size}`` (bold);
    - ``{prefix}_length_curve.svg`` / ``.png``: lengths and their moving average;
    - ``{prefix}_{name}_curve.svg`` / ``.png`` per info key and metric, the name
      sanitised into a safe file name (``"loss/actor"`` -> ``loss_actor``);
    - ``{prefix}_history.json``: the full series (``reward``, ``length``,
      ``reward_moving_avg``, ``info``, ``metrics``; NaN and infinities as
      ``null``) and a ``summary`` (episodes, best, best_episode, final,
      final_moving_avg, window).

    Charts are downsampled per pixel column, so their size and drawing time
    do not grow with the run; the JSON keeps every value. Its text is
    produced 4,096 episodes at a time as the run goes and kept, so
    :meth:`save` only turns the latest episodes into text (this costs memory
    about the size of the history file, ~40 MB per million episodes). Every
    file is written to a temporary name and renamed into place.

    Every ``checkpoint_every`` episodes the episodes since the previous
    checkpoint are appended to ``{prefix}_history_checkpoint.jsonl`` (one JSON
    object per line after a header line): total checkpoint I/O is linear in
    the number of episodes. Each append is one ``write`` of whole lines, so a
    crash can cut only the last line short; :func:`load_checkpoint` reads the
    file back and skips such a line. A new wrapper starts the file afresh.

    A run without episodes still saves: the charts say "no episodes yet" and
    the history has ``"episodes": 0``. A series without a finite value is
    drawn as an empty chart saying so. Info values that are not numbers are
    left out, with one warning per key.

    Each env copy needs its own files: in a vector env give every copy its
    own ``prefix`` (``prefix=f"env{i}"``) or ``output_dir``. A second open
    wrapper on the same files in one process is warned about. Pickling
    (``AsyncVectorEnv``, ``SubprocVecEnv``) copies the history so far and the
    paths, so a copy that goes on recording writes to the same files too.

    Args:
        env: The environment to wrap.
        output_dir: Folder for the files; created if missing. An unwritable
            folder is an error here, not at the end of the run.
        prefix: Start of every file name: letters, digits, ``_``, ``.``, ``-``.
        window_size: Episodes in the moving averages.
        checkpoint_every: Append new episodes to the checkpoint file every this
            many episodes; None for no checkpoint file.
        info_keys: Keys of the final step's ``info`` to record and chart.
        metrics: Names of ``log_metrics`` values to record and chart, or
            ``"all"`` for every name reported.

    Example:
        >>> import tempfile, gymnasium as gym
        >>> from gymscope.wrappers.curves import CurveRecorderWrapper
        >>> folder = tempfile.TemporaryDirectory()
        >>> env = CurveRecorderWrapper(gym.make("CartPole-v1"), folder.name, window_size=10)
        >>> _ = env.reset(seed=0)
        >>> for _ in range(50):
        ...     _, _, terminated, truncated, _ = env.step(0)
        ...     if terminated or truncated:
        ...         _ = env.reset()
        >>> env.close()
        >>> env.episode_count, env.summary()["best"]
        (5, 11.0)
        >>> for path in sorted(Path(folder.name).iterdir()):
        ...     print(path.name)
        training_history.json
        training_history_checkpoint.jsonl
        training_length_curve.png
        training_length_curve.svg
        training_reward_curve.png
        training_reward_curve.svg
        >>> folder.cleanup()

        Arguments are checked up front:

        >>> env = gym.make("CartPole-v1")
        >>> CurveRecorderWrapper(env, "curves", prefix="../up")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        gymscope.errors.InvalidArgumentError: prefix must be a plain file-name part (letters, ...
    """

    def __init__(
        self,
        env: gym.Env[ObsType, ActType],
        output_dir: str | os.PathLike[str],
        prefix: str = "training",
        window_size: int = 100,
        checkpoint_every: int | None = 100,
        info_keys: Sequence[str] = (),
        metrics: Iterable[str] | Literal["all"] = "all",
    ) -> None:
        if not isinstance(output_dir, (str, os.PathLike)):
            raise ArgumentTypeError(
                f"output_dir must be a str or path, got {output_dir!r} "
                f"({type(output_dir).__name__})"
            )
        if not isinstance(prefix, str) or not prefix:
            raise ArgumentTypeError(f"prefix must be a non-empty str, got {prefix!r}")
        if safe_name(prefix, fallback="") != prefix:
            raise InvalidArgumentError(
                "prefix must be a plain file-name part (letters, digits, '_', '.', '-'), "
                f"got {prefix!r}; for example prefix={safe_name(prefix, 'training')!r} "
                "(use output_dir for folders)"
            )
        window_size = check_window_size(window_size)
        check_optional_int("checkpoint_every", checkpoint_every, 1, none_means="no checkpoints")
        keys = check_info_keys(info_keys)
        metric_names = None if metrics == "all" else check_info_keys(metrics, "metrics")
        # Absolute now, so a later chdir (or the exit handler) writes to the same place.
        directory = check_writable_dir(Path(output_dir).expanduser().absolute(), "output_dir")
        gym.utils.RecordConstructorArgs.__init__(
            self,
            output_dir=os.fspath(output_dir),
            prefix=prefix,
            window_size=window_size,
            checkpoint_every=checkpoint_every,
            info_keys=keys,
            metrics="all" if metric_names is None else metric_names,
        )
        super().__init__(env, stats=StatsConfig(window_size, 0.1), info_keys=keys)
        self._output_dir = directory
        self._prefix = prefix
        target = (str(directory), prefix)
        other = _open_targets.get(target)
        if other is not None and not other._closed:
            warnings.warn(
                f"another open CurveRecorderWrapper writes '{directory / prefix}_*': "
                "the last to save overwrites the other's files; give each env its own "
                "prefix (e.g. prefix=f'env{i}') or output_dir, or close the other first",
                stacklevel=2,
            )
        _open_targets[target] = self
        self._window_size = window_size
        self._checkpoint_every = checkpoint_every
        self._metric_names = None if metric_names is None else frozenset(metric_names)
        spec = env.unwrapped.spec
        self._subject = spec.id if spec is not None else ""

        self._n = 0
        self._first_episode: int | None = None
        self._returns: FloatArray = np.empty(0, dtype=np.float64)
        self._averages: FloatArray = np.empty(0, dtype=np.float64)
        self._lengths: npt.NDArray[np.int64] = np.empty(0, dtype=np.int64)
        # Declared names get a column (and a chart) even before a value arrives.
        self._info: dict[str, FloatArray] = {k: np.empty(0, np.float64) for k in keys}
        self._metrics: dict[str, FloatArray] = {
            k: np.empty(0, np.float64) for k in (metric_names or ())
        }
        self._not_numbers: set[str] = set()
        # JSON text of the history's completed blocks, by series ("reward", "info/<key>").
        self._text: dict[str, list[bytes]] = {}
        self._checkpointed = 0
        self._checkpoint_started = False
        self.checkpoint_bytes = 0
        """Bytes written to the checkpoint file so far."""
        self._close_at_exit()

    # -- what was recorded ----------------------------------------------------------
    @property
    def output_dir(self) -> Path:
        """The folder the files are written to."""
        return self._output_dir

    @property
    def prefix(self) -> str:
        """The start of every file name."""
        return self._prefix

    @property
    def window_size(self) -> int:
        """Episodes in the moving averages."""
        return self._window_size

    @property
    def episode_count(self) -> int:
        """Episodes recorded so far."""
        return self._n

    @property
    def history_path(self) -> Path:
        """``{output_dir}/{prefix}_history.json``."""
        return self._output_dir / f"{self._prefix}_history.json"

    @property
    def checkpoint_path(self) -> Path:
        """``{output_dir}/{prefix}_history_checkpoint.jsonl``."""
        return self._output_dir / f"{self._prefix}_history_checkpoint.jsonl"

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
        """Per-episode means of ``log_metrics`` values by name, NaN where missing."""
        return {k: self._view(v) for k, v in self._metrics.items()}

    def _view(self, array: npt.NDArray[Any]) -> npt.NDArray[Any]:
        if array.size < self._n:  # a column that has not seen a value lately
            array = _grown(array, self._n, math.nan)
        view = array[: self._n]
        view.flags.writeable = False
        return view

    # -- recording ------------------------------------------------------------------
    def _on_episode(self, record: EpisodeRecord) -> None:
        n = self._n
        if n == self._returns.size:
            self._returns = _grown(self._returns, n + 1, math.nan)
            self._averages = _grown(self._averages, n + 1, math.nan)
            self._lengths = _grown(self._lengths, n + 1, 0)
        if n == 0:
            self._first_episode = record.index
        self._returns[n] = record.episode_return
        self._averages[n] = record.moving_mean
        self._lengths[n] = record.length
        if record.info:
            self._put(self._info, record.info, n, "info")
        if record.metrics:
            self._put(self._metrics, record.metrics, n, "metric")
        self._n = n + 1
        if self._n % _TEXT_BLOCK == 0:
            self._cache_text()
        every = self._checkpoint_every
        if every is not None and self._n - self._checkpointed >= every:
            self.checkpoint()

    def _put(
        self, columns: dict[str, FloatArray], values: Mapping[str, Any], n: int, kind: str
    ) -> None:
        wanted = self._metric_names if kind == "metric" else None
        for name, raw in values.items():
            if wanted is not None and name not in wanted:
                continue
            value = _number(raw)
            if value is None:
                if name not in self._not_numbers:
                    self._not_numbers.add(name)
                    warnings.warn(
                        f"info[{name!r}] is a {type(raw).__name__}, not a number: "
                        "CurveRecorderWrapper charts numbers only and leaves it out",
                        stacklevel=2,
                    )
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

    # -- checkpoints ----------------------------------------------------------------
    def checkpoint(self) -> int:
        """Append the episodes since the last checkpoint to the checkpoint file.

        Called every ``checkpoint_every`` episodes and by :meth:`save`; does
        nothing when checkpoints are off. Returns the number of bytes written.
        """
        if self._checkpoint_every is None or (
            self._checkpointed == self._n and self._checkpoint_started
        ):
            return 0
        start, end = self._checkpointed, self._n
        first = self._first_episode or 0
        columns = [
            (group, name, self._column(values)[start:end].tolist())
            for group, source in (("info", self._info), ("metrics", self._metrics))
            for name, values in source.items()
        ]
        lines = []
        if not self._checkpoint_started:
            header = {
                "format": CHECKPOINT_FORMAT,
                "prefix": self._prefix,
                "window": self._window_size,
            }
            lines.append(json.dumps(header))
        returns = self._returns[start:end].tolist()
        averages = self._averages[start:end].tolist()
        lengths = self._lengths[start:end].tolist()
        for i in range(end - start):
            # Formatted by hand (repr of a float is valid JSON when finite):
            # several times faster than json.dumps of a dict per episode.
            reward, average = returns[i], averages[i]
            line = (
                f'{{"episode":{first + start + i},"reward":{_json_number(reward)},'
                f'"length":{lengths[i]},"reward_moving_avg":{_json_number(average)}'
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
        data = ("\n".join(lines) + "\n").encode("utf-8")
        if self._checkpoint_started:
            append_bytes(self.checkpoint_path, data)
        else:  # a new run replaces the file of an earlier one, atomically
            atomic_write_bytes(self.checkpoint_path, data)
            self._checkpoint_started = True
        self._checkpointed = end
        self.checkpoint_bytes += len(data)
        return len(data)

    def _column(self, values: FloatArray) -> FloatArray:
        return values if values.size >= self._n else _grown(values, self._n, math.nan)

    # -- output ---------------------------------------------------------------------
    def summary(self) -> dict[str, Any]:
        """``episodes``, ``best`` (highest finite return) and ``best_episode``,
        ``final`` return, ``final_moving_avg`` and ``window``; None where
        there is no (finite) value."""
        returns = self._returns[: self._n]
        finite = np.isfinite(returns)
        best = best_episode = None
        if finite.any():
            i = int(np.argmax(np.where(finite, returns, -np.inf)))
            best, best_episode = float(returns[i]), (self._first_episode or 0) + i
        last = self._n - 1
        return {
            "episodes": self._n,
            "best": best,
            "best_episode": best_episode,
            "final": _json_float(float(returns[last])) if self._n else None,
            "final_moving_avg": _json_float(float(self._averages[last])) if self._n else None,
            "window": self._window_size,
        }

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
        last call, for every series. Run as each block completes, so save()
        only serialises the last, partial block: turning floats into text is
        what a big history's save() would otherwise spend most of its time on."""
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

    def _history_chunks(self) -> Iterator[bytes]:
        """``{prefix}_history.json``, one top-level field per line, so the
        summary stays readable at the top of a big file. Yielded field by
        field: a million-episode history is never one big string."""
        self._cache_text()
        head = {
            "format": HISTORY_FORMAT,
            "summary": self.summary(),
            "first_episode": self._first_episode or 0,
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

    def save(self) -> list[Path]:
        """Write the charts and the history now (the run can go on).

        Returns:
            The paths written: the charts (``.svg`` and ``.png``), the
            history JSON and, when checkpoints are on, the checkpoint file.
        """
        n = self._n
        extras = {name: self._column(v)[:n] for name, v in self._info.items()}
        for name, values in self._metrics.items():
            extras[name if name not in extras else f"metric {name}"] = self._column(values)[:n]
        written = write_curve_charts(
            self._output_dir,
            self._prefix,
            returns=self._returns[:n],
            lengths=self._lengths[:n],
            moving_avg=self._averages[:n],
            window=self._window_size,
            extras=extras,
            first_episode=self._first_episode or 0,
            subject=self._subject,
        )
        atomic_write_bytes(self.history_path, self._history_chunks())
        written.append(self.history_path)
        if self._checkpoint_every is not None:
            self.checkpoint()
            written.append(self.checkpoint_path)
        return written

    def _close_sink(self) -> None:
        target = (str(self._output_dir), self._prefix)
        if _open_targets.get(target) is self:
            del _open_targets[target]
        self.save()


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``{prefix}_history_checkpoint.jsonl`` file back.

    A last line cut short by a crash is skipped.

    Returns:
        ``{"header": {...}, "episodes": [{"episode": ..., "reward": ...}, ...]}``.
    """
    text = Path(path).read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    elif lines:
        lines.pop()  # no newline at the end: an interrupted append
    if not lines:
        raise InvalidArgumentError(
            f"{os.fspath(path)!r} has no header line: not a gymscope checkpoint"
        )
    header = json.loads(lines[0])
    if header.get("format") != CHECKPOINT_FORMAT:
        raise InvalidArgumentError(
            f"{os.fspath(path)!r} is not a gymscope checkpoint "
            f"(format {header.get('format')!r}, expected {CHECKPOINT_FORMAT!r})"
        )
    return {"header": header, "episodes": [json.loads(line) for line in lines[1:]]}

"""CurveSink: training curves (SVG + PNG), a JSON history and append-only checkpoints.

The output of :class:`~gymscope.wrappers.curves.CurveRecorderWrapper`, usable
without an env: feed it EpisodeRecords live (the wrapper does) or from a
stored run (:func:`gymscope.charts.plot_experiment` does), and the files are
the same. The series are kept by :class:`~gymscope.sinks.curve_history.CurveHistory`,
which this class extends with the files.

>>> import tempfile
>>> from gymscope.sinks.base import replay_returns
>>> folder = tempfile.TemporaryDirectory()
>>> sink = CurveSink(folder.name, window_size=2, checkpoint_every=None)
>>> for record in replay_returns([1.0, 4.0, 2.0], window_size=2):
...     sink.on_episode(record)
>>> sink.close()
>>> sorted(p.name for p in Path(folder.name).iterdir())  # doctest: +NORMALIZE_WHITESPACE
['training_history.json', 'training_length_curve.png', 'training_length_curve.svg',
 'training_reward_curve.png', 'training_reward_curve.svg']
>>> folder.cleanup()
"""

from __future__ import annotations

import json
import logging
import math
import os
import warnings
import weakref
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gymscope._checks import check_optional_int
from gymscope._files import (
    AppendTargetChanged,
    append_bytes,
    atomic_write_bytes,
    check_writable_dir,
    name_max,
    safe_name,
)
from gymscope._retry import FailedWrites
from gymscope.charts.write import write_chart
from gymscope.episode import EpisodeRecord, ResumeState, StatsBank, StatsConfig
from gymscope.errors import (
    ArgumentTypeError,
    CheckpointError,
    CheckpointNotFoundError,
    InvalidArgumentError,
)
from gymscope.sinks.curve_history import CHECKPOINT_FORMAT, HISTORY_FORMAT, CurveHistory

__all__ = ["CHECKPOINT_FORMAT", "HISTORY_FORMAT", "CurveSink", "check_prefix", "load_checkpoint"]

logger = logging.getLogger(__name__)

# Open sinks by (output_dir, prefix), to warn when two would write the same files.
_open_targets: weakref.WeakValueDictionary[tuple[str, str], CurveSink] = (
    weakref.WeakValueDictionary()
)


def check_prefix(prefix: object) -> str:
    """Validate a file-name prefix: a non-empty plain file-name part."""
    if not isinstance(prefix, str) or not prefix:
        raise ArgumentTypeError(f"prefix must be a non-empty str, got {prefix!r}")
    if len(prefix) > _MAX_PREFIX:
        raise InvalidArgumentError(
            f"prefix is {len(prefix)} characters long ({prefix[:40]!r}...); use at most "
            f"{_MAX_PREFIX} characters (the file names add up to 116 more)"
        )
    if safe_name(prefix, fallback="") != prefix:
        raise InvalidArgumentError(
            "prefix must be a plain file-name part (letters, digits, '_', '.', '-'), "
            f"got {prefix!r}; for example prefix={safe_name(prefix, 'training')!r} "
            "(use output_dir for folders)"
        )
    return prefix


# The longest prefix (the longest safe_name).
_MAX_PREFIX = 80
# Longest name built around the prefix: a chart's temporary file,
# ".{prefix}_{series name, up to 80}_curve.svg.{pid, up to 10}.{8 hex}.tmp".
_NAME_OVERHEAD = len("._") + 80 + len("_curve.svg.") + 10 + len(".") + 8 + len(".tmp")


def _check_prefix_length(directory: Path, prefix: str) -> None:
    """Refuse a prefix whose longest file name ``directory`` cannot hold."""
    limit = name_max(directory)
    longest = len(prefix.encode()) + _NAME_OVERHEAD
    if longest > limit:
        raise InvalidArgumentError(
            f"prefix is {len(prefix)} characters long ({prefix[:40]!r}...): the file names "
            f"built from it would be up to {longest} bytes, but {str(directory)!r} takes "
            f"names of at most {limit}; use at most {limit - _NAME_OVERHEAD} characters"
        )


class CurveSink(CurveHistory):
    """Keeps a run's curve history and writes its charts, history and checkpoints.

    :meth:`save` — also run by :meth:`close` — writes into ``output_dir``:

    - ``{prefix}_reward_curve.svg`` / ``.png``: returns (faint) and their
      moving average ``avg{window_size}`` (bold);
    - ``{prefix}_length_curve.svg`` / ``.png``: lengths and their moving average;
    - ``{prefix}_{name}_curve.svg`` / ``.png`` per info key and metric, the name
      sanitised into a safe file name (``"loss/actor"`` -> ``loss_actor``);
    - ``{prefix}_history.json``: the full series and a ``summary`` (see the
      "Training curves" docs page for the layout).

    Charts are downsampled per pixel column; the JSON keeps every value, its
    text produced 4,096 episodes at a time as the run goes (memory about the
    size of the file). Every ``checkpoint_every`` episodes the episodes since
    the previous checkpoint are appended to ``{prefix}_history_checkpoint.jsonl``
    in one ``write`` of whole lines (a crash can cut only the last line,
    which :func:`load_checkpoint` skips); a new sink starts the file afresh,
    unless its stack resumes a run: then it loads the earlier attempts'
    episodes and appends to their files (:meth:`on_resume`).
    Every other file is written to a temporary name and renamed into place.
    A second open sink on the same files in one process is warned about.
    Step-keyed metrics (:meth:`on_metrics`) are not charted: the curves are
    per episode. A sink used without a wrapper saves only when closed.

    Args:
        output_dir: Folder for the files; created if missing. An unwritable
            folder is an error here, not at the end of the run.
        prefix: Start of every file name: letters, digits, ``_``, ``.``, ``-``.
        window_size: Episodes in the moving averages.
        checkpoint_every: Append new episodes to the checkpoint file every this
            many episodes; None for no checkpoint file.
        info_keys: Info keys charted even before (or without) a value.
        metrics: Names of metrics to record and chart, or ``"all"``.
        subject: What ran, put in front of the chart titles; None for the
            run's ``env_id`` (see :class:`~gymscope.episode.RunInfo`).
    """

    keep_text = True  # it writes the history: serialise it as the run goes

    def __init__(
        self,
        output_dir: str | os.PathLike[str],
        prefix: str = "training",
        window_size: int = 100,
        checkpoint_every: int | None = 100,
        info_keys: Iterable[str] = (),
        metrics: Iterable[str] | Literal["all"] = "all",
        *,
        subject: str | None = None,
    ) -> None:
        if not isinstance(output_dir, (str, os.PathLike)):
            raise ArgumentTypeError(
                f"output_dir must be a str or path, got {output_dir!r} "
                f"({type(output_dir).__name__})"
            )
        check_prefix(prefix)
        check_optional_int("checkpoint_every", checkpoint_every, 1, none_means="no checkpoints")
        super().__init__(window_size, info_keys, metrics)
        # Absolute now, so a later chdir (or the exit handler) writes to the same place.
        planned = Path(output_dir).expanduser().absolute()
        _check_prefix_length(planned, prefix)  # before the folder is created
        directory = check_writable_dir(planned, "output_dir")
        self._output_dir = directory
        self._prefix = prefix
        self._checkpoint_every = checkpoint_every
        self._subject = subject
        self._closed = False
        self._checkpointed = 0
        # Size of the checkpoint file after its last whole batch; None: (re)write it whole.
        self._checkpoint_size: int | None = None
        self._failures = FailedWrites("CurveSink")
        self.checkpoint_bytes = 0
        """Bytes written to the checkpoint file so far."""
        target = (str(directory), prefix)
        other = _open_targets.get(target)
        if other is not None and not other._closed:
            warnings.warn(
                f"another open curve recorder writes '{directory / prefix}_*': "
                "the last to save overwrites the other's files; give each env its own "
                "prefix (e.g. prefix=f'env{i}') or output_dir, or close the other first",
                stacklevel=3,
            )
        _open_targets[target] = self

    @property
    def output_dir(self) -> Path:
        """The folder the files are written to."""
        return self._output_dir

    @property
    def prefix(self) -> str:
        """The start of every file name."""
        return self._prefix

    @property
    def subject(self) -> str:
        """What the chart titles name: ``subject``, else the run's env id, else ``""``."""
        if self._subject is not None:
            return self._subject
        return self.run.env_id if self.run is not None else ""

    @property
    def history_path(self) -> Path:
        """``{output_dir}/{prefix}_history.json``."""
        return self._output_dir / f"{self._prefix}_history.json"

    @property
    def checkpoint_path(self) -> Path:
        """``{output_dir}/{prefix}_history_checkpoint.jsonl``."""
        return self._output_dir / f"{self._prefix}_history_checkpoint.jsonl"

    def on_episode(
        self, record: EpisodeRecord, info: MutableMapping[str, Any] | None = None
    ) -> None:
        """Append one episode; checkpoint when ``checkpoint_every`` new ones are in.

        A checkpoint that cannot be written (disk full, folder gone) is warned
        about once and retried at later episode ends, with backoff; the
        episodes stay in memory.
        """
        super().on_episode(record, info)
        every = self._checkpoint_every
        if every is not None and self._n - self._checkpointed >= every and self._failures.ready():
            try:
                self.checkpoint()
            except OSError as exc:
                self._failures.failed(str(self.checkpoint_path), exc)

    # -- resuming -----------------------------------------------------------------
    def on_resume(self, state: ResumeState) -> None:
        """Continue the history the run's earlier attempts left in ``output_dir``.

        Called by the driver when the stack resumes its run, before the first
        record. The earlier episodes come from whichever of
        ``{prefix}_history_checkpoint.jsonl`` and ``{prefix}_history.json``
        reaches further (episodes with index ``< state.episodes`` only). A
        gap between them and ``state.episodes`` (episodes the database holds
        that were not checkpointed before a crash) is filled from
        ``state.returns``/``state.lengths``, their moving averages computed
        from the returns before them and their info values and metrics
        unknown (NaN); episodes that neither covers are NaN with length 0.
        New episodes are appended after them, so the charts and the history
        span every attempt.

        The checkpoint file stays append-only: a last line cut short by a
        crash (never a whole line) is cut off, and the next checkpoint
        appends after the last whole line. A file that cannot be continued
        (another prefix or window, a damaged line, or episodes the run no
        longer has: the database lost them, e.g. with ``flush_every > 1``)
        is kept under a new name, ``{file name}.prev-{k}`` (the lowest free
        ``k`` from 1), and written afresh at the next checkpoint; so is a
        history JSON with episodes the run no longer has.
        """
        if self._n:
            return  # records came first: this stream is not a continuation
        end = state.episodes
        checkpoint = self._read_checkpoint(end) if self._checkpoint_every is not None else None
        history = self._read_history(end)
        best = checkpoint
        if history is not None and (checkpoint is None or history.stop > checkpoint.stop):
            best = history
        checkpointed = 0 if checkpoint is None else len(checkpoint.returns)
        known_from = end - len(state.returns)  # the index of state.returns[0]
        if best is None:
            best = _Stored(first=known_from)
        bank = StatsBank(StatsConfig(self._window_size))
        if best.stop >= known_from:  # the stored state continues the series
            bank.replay(best.returns, best.lengths, best.stop)
        extra = [*best.info.values(), *best.metrics.values()]
        for index in range(best.stop, end):
            if index < known_from:  # neither file nor database has it
                best.returns.append(math.nan)
                best.lengths.append(0)
                best.averages.append(math.nan)
            else:
                value = float(state.returns[index - known_from])
                length = int(state.lengths[index - known_from])
                bank.push(value, length)
                best.returns.append(value)
                best.lengths.append(length)
                best.averages.append(bank.mean)
            for column in extra:
                column.append(math.nan)
        metrics = best.metrics
        if self._metric_names is not None:
            metrics = {k: v for k, v in metrics.items() if k in self._metric_names}
        self.load(best.first, best.returns, best.lengths, best.averages, best.info, metrics)
        if (
            checkpoint is not None
            and checkpoint.size is not None
            and checkpoint.first == best.first
        ):
            # its lines are the history's first ones: the next checkpoint appends after them
            self._checkpoint_size = checkpoint.size
            self._checkpointed = checkpointed
        if self.episode_count:
            logger.info(
                "%s continues the curve history of episodes %d-%d (resumed from %s)",
                self.checkpoint_path.parent / self._prefix,
                self.first_episode,
                end - 1,
                state.source or "a stored state",
            )

    def _read_checkpoint(self, end: int) -> _Stored | None:
        """The checkpoint file's episodes before ``end``; ``size`` is set when
        the file can be continued (else it was put aside)."""
        path = self.checkpoint_path
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            logger.warning("cannot read %s to resume the curves: %s", path, exc)
            return None
        whole = raw.rfind(b"\n") + 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # a cut last line: handled below
                data = load_checkpoint(path)
        except CheckpointError as exc:
            self._put_aside(path, str(exc))
            return None
        header = data["header"]
        if header.get("prefix") != self._prefix or header.get("window") != self._window_size:
            self._put_aside(
                path,
                f"it was written with prefix {header.get('prefix')!r} and window "
                f"{header.get('window')!r}",
            )
            return None
        episodes = data["episodes"]
        kept = [e for e in episodes if e["episode"] < end]
        first = kept[0]["episode"] if kept else end
        stored = _Stored(first=first)
        for position, episode in enumerate(kept):
            if episode["episode"] != first + position:
                self._put_aside(path, f"episode {first + position} is missing from it")
                return None
            stored.add(episode)
        if len(kept) < len(episodes):
            self._put_aside(
                path,
                f"it holds episodes {kept[-1]['episode'] + 1 if kept else first}-"
                f"{episodes[-1]['episode']}, which the run resumed from "
                "does not have (lost before they were stored)",
            )
            return stored
        if whole < len(raw):
            logger.info("%s: cutting off its last line, cut short by a crash", path)
            os.truncate(path, whole)
        stored.size = whole
        return stored

    def _read_history(self, end: int) -> _Stored | None:
        """The history JSON's episodes before ``end`` (put aside if it has later ones)."""
        path = self.history_path
        try:
            data = json.loads(path.read_bytes())
            first = data["first_episode"]
            if data.get("format") != HISTORY_FORMAT or not isinstance(first, int):
                raise ValueError(f"not a {HISTORY_FORMAT} file")
            count = len(data["reward"])
            columns = [data["reward"], data["length"], data["reward_moving_avg"]]
            series = {**data.get("info", {}), **data.get("metrics", {})}
            if any(len(c) != count for c in [*columns, *series.values()]):
                raise ValueError("its series differ in length")
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            logger.warning("cannot resume the curves from %s: %s", path, exc)
            return None
        keep = max(0, min(count, end - first))
        if keep < count:
            self._put_aside(path, f"it holds episodes after {end - 1}, which the run does not have")
        if not keep:
            return None
        stored = _Stored(first=first)
        stored.returns = [_float(x) for x in data["reward"][:keep]]
        stored.lengths = [int(x or 0) for x in data["length"][:keep]]
        stored.averages = [_float(x) for x in data["reward_moving_avg"][:keep]]
        for group, target in (("info", stored.info), ("metrics", stored.metrics)):
            for name, values in data.get(group, {}).items():
                target[name] = [_float(x) for x in values[:keep]]
        return stored

    def _put_aside(self, path: Path, why: str) -> None:
        """Rename ``path`` to the first free ``{name}.prev-{k}`` (never overwrite it)."""
        for k in range(1, 10_000):
            target = path.with_name(f"{path.name}.prev-{k}")
            if target.exists():
                continue
            try:
                os.link(path, target)  # fails rather than replace a file that appeared
                os.unlink(path)
            except FileExistsError:
                continue
            except OSError as exc:
                logger.warning("cannot keep %s aside (%s); it will be rewritten", path, exc)
                return
            warnings.warn(
                f"{path} cannot be continued by the resumed run ({why}); it was kept as "
                f"{target.name} and a new one is written",
                RuntimeWarning,
                stacklevel=4,
            )
            return

    def checkpoint(self) -> int:
        """Write the episodes since the last checkpoint to the checkpoint file.

        Called every ``checkpoint_every`` episodes and by :meth:`save`; does
        nothing when checkpoints are off. The first call of a sink writes the
        file afresh (header and every episode so far, renamed into place),
        unless the sink resumed a run and continues its file (:meth:`on_resume`);
        later ones append the new episodes in one ``write``. A failed append
        is cut back, so the file stays whole lines, each episode once, and
        is retried by the next call; a file removed or cut by someone else is
        written whole again. Returns the number of bytes written.

        Raises:
            OSError: the file could not be written (nothing is lost: the
                next call writes the same episodes).
        """
        if self._checkpoint_every is None or (
            self._checkpointed == self._n and self._checkpoint_size is not None
        ):
            return 0
        path = self.checkpoint_path
        data = b""
        if self._checkpoint_size is not None:
            data = self._lines(self.checkpoint_lines(self._checkpointed))
            try:
                self._checkpoint_size = append_bytes(path, data, self._checkpoint_size)
            except AppendTargetChanged:
                self._checkpoint_size = None
        if self._checkpoint_size is None:  # a new run replaces an earlier one's file
            header = {
                "format": CHECKPOINT_FORMAT,
                "prefix": self._prefix,
                "window": self.window_size,
            }
            data = self._lines([json.dumps(header), *self.checkpoint_lines(0)])
            atomic_write_bytes(path, data)
            self._checkpoint_size = len(data)
        self._checkpointed = self._n
        self.checkpoint_bytes += len(data)
        self._failures.succeeded(str(path))
        return len(data)

    @staticmethod
    def _lines(lines: list[str]) -> bytes:
        return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""

    def write_charts(self, *, scale: float = 1.0) -> list[Path]:
        """Write the charts only (``.svg`` and ``.png`` each, in chart order).

        Args:
            scale: PNG resolution relative to the 960x540 layout.
        """
        written: list[Path] = []
        for stem, chart in self.charts(self._prefix, subject=self.subject):
            written += write_chart(chart, self._output_dir / stem, scale=scale)
        return written

    def save(self) -> list[Path]:
        """Write the charts and the history now (the run can go on).

        Every file is tried, even after one fails.

        Returns:
            The paths written: the charts (``.svg`` and ``.png``), the
            history JSON and, when checkpoints are on, the checkpoint file.

        Raises:
            OutputWriteError: some files could not be written (an ``OSError``
                naming them); what was recorded stays in memory, so a later
                ``save()`` can still write it.
        """
        failures = self._failures
        written: list[Path] = []
        for stem, chart in self.charts(self._prefix, subject=self.subject):
            try:
                written += write_chart(chart, self._output_dir / stem)
            except OSError as exc:
                failures.failed(str(self._output_dir / stem) + ".svg/.png", exc)
            else:
                failures.succeeded(str(self._output_dir / stem) + ".svg/.png")
        steps: list[tuple[Path, Callable[[], object]]] = [
            (
                self.history_path,
                lambda: atomic_write_bytes(self.history_path, self.history_chunks()),
            )
        ]
        if self._checkpoint_every is not None:
            steps.append((self.checkpoint_path, self.checkpoint))
        for path, write in steps:
            try:
                write()
            except OSError as exc:
                failures.failed(str(path), exc)
            else:
                failures.succeeded(str(path))
                written.append(path)
        error = failures.error()
        if error is not None:
            raise error
        return written

    def close(self) -> None:
        """Save (see :meth:`save`). Safe to call twice: later calls do nothing.

        Raises:
            OutputWriteError: some files could still not be written.
        """
        if self._closed:
            return
        self._closed = True
        target = (str(self._output_dir), self._prefix)
        if _open_targets.get(target) is self:
            del _open_targets[target]
        self.save()


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a ``{prefix}_history_checkpoint.jsonl`` file back.

    A last line cut short by a crash (no newline at its end) is skipped with
    a warning; any other damage is an error naming the file and the line.

    Returns:
        ``{"header": {...}, "episodes": [{"episode": ..., "reward": ...}, ...]}``.

    Raises:
        CheckpointNotFoundError: there is no file at ``path``.
        CheckpointError: the file is not UTF-8, not a gymscope checkpoint, or
            holds a line that is not one whole episode record.
    """
    where = repr(os.fspath(path))
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError as exc:
        raise CheckpointNotFoundError(
            exc.errno, f"no checkpoint file {where}; checkpoints are written every "
            "checkpoint_every episodes as {prefix}_history_checkpoint.jsonl in output_dir",
        ) from exc  # fmt: skip
    except IsADirectoryError as exc:
        raise CheckpointError(f"{where} is a folder, not a checkpoint file") from exc
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointError(
            f"{where} is not a gymscope checkpoint: byte {exc.start} is not UTF-8 text"
        ) from exc
    lines = text.split("\n")
    if lines[-1] != "":  # no newline at the end: an interrupted append
        warnings.warn(
            f"{where}: the last line ({len(lines[-1])} characters) was cut short, "
            "probably by a crash while it was written; it is skipped",
            RuntimeWarning,
            stacklevel=2,
        )
    lines.pop()
    if not lines:
        raise CheckpointError(f"{where} has no header line: not a gymscope checkpoint")
    header = _json_object(lines[0], where, 1)
    if header is None or header.get("format") != CHECKPOINT_FORMAT:
        found = "not a JSON object" if header is None else f"format {header.get('format')!r}"
        raise CheckpointError(
            f"{where} is not a gymscope checkpoint (its first line is {found}, "
            f"expected a header with format {CHECKPOINT_FORMAT!r})"
        )
    episodes: list[dict[str, Any]] = []
    for number, line in enumerate(lines[1:], start=2):
        episode = _json_object(line, where, number)
        index = None if episode is None else episode.get("episode")
        if episode is None or isinstance(index, bool) or not isinstance(index, int):
            raise CheckpointError(
                f"{where} line {number} is not an episode record ({line[:80]!r}); the file "
                "was damaged or written by another program"
            )
        if episodes and index <= episodes[-1]["episode"]:
            raise CheckpointError(
                f"{where} line {number} holds episode {index} after episode "
                f"{episodes[-1]['episode']}: episodes twice or out of order, the file was damaged"
            )
        episodes.append(episode)
    return {"header": header, "episodes": episodes}


def _json_object(line: str, where: str, number: int) -> dict[str, Any] | None:
    """``line`` as a JSON object, None if it is another JSON value."""
    try:
        value = json.loads(line)
    except ValueError as exc:
        raise CheckpointError(
            f"{where} line {number} is not whole JSON ({exc}): the file was damaged"
        ) from exc
    return value if isinstance(value, dict) else None


@dataclass
class _Stored:
    """Episodes of a resumed run read back from its files, from index ``first`` on."""

    first: int
    returns: list[float] = field(default_factory=list)
    lengths: list[int] = field(default_factory=list)
    averages: list[float] = field(default_factory=list)
    info: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, list[float]] = field(default_factory=dict)
    size: int | None = None  # checkpoint bytes to continue after (None: rewrite it)

    @property
    def stop(self) -> int:
        """One past the last episode's index."""
        return self.first + len(self.returns)

    def add(self, episode: Mapping[str, Any]) -> None:
        """Append one checkpoint line's episode."""
        n = len(self.returns)
        self.returns.append(_float(episode.get("reward")))
        self.lengths.append(int(episode.get("length") or 0))
        self.averages.append(_float(episode.get("reward_moving_avg")))
        for group, target in (("info", self.info), ("metrics", self.metrics)):
            values = episode.get(group) or {}
            for name in values:
                if name not in target:
                    target[name] = [math.nan] * n
            for name, column in target.items():
                column.append(_float(values.get(name)))


def _float(value: object) -> float:
    """A stored number as a float; null (a non-finite value) or junk as NaN."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    return float(value)

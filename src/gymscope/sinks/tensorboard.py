"""TensorBoardSink: finished episodes and training metrics as TensorBoard scalars.

The output of :class:`~gymscope.wrappers.tensorboard.TensorBoardWrapper` and of
:func:`gymscope.tensorboard.export_experiment`, which feed it live records and
records replayed from the metrics database: both write the same tags, steps
and values. tensorboardX is an optional dependency (in a clone of gymscope:
``uv sync --extra tensorboard`` or ``pip install ".[tensorboard]"``),
imported when the first event is written (or by
:func:`import_tensorboardx`), never by importing this module.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from pathlib import Path
from typing import Any

import gymnasium as gym

from gymscope._checks import check_bool, check_number, check_str
from gymscope._files import atomic_write_text
from gymscope._retry import FailedWrites
from gymscope.episode import EpisodeRecord, ResumeState
from gymscope.errors import (
    ArgumentTypeError,
    FolderNotWritableError,
    NotAFolderError,
    OutputExistsError,
    UsageError,
)
from gymscope.sinks._events import EventFile, tfrecord
from gymscope.sinks._scalars import NumbersOnly, scalar
from gymscope.sinks.base import Sink

__all__ = [
    "EPISODE_METRIC_PREFIX",
    "EPISODE_TAGS",
    "INFO_PREFIX",
    "METRIC_PREFIX",
    "RUN_MARK",
    "TensorBoardSink",
    "check_logdir",
    "episode_scalars",
    "import_tensorboardx",
    "stat_tags",
]

logger = logging.getLogger(__name__)

#: Tags written at every episode end, in this order: the return and length of
#: the episode, their exponential moving averages and the moving mean and
#: population standard deviation of returns. Each statistic's tag carries its
#: parameter, so two different numbers never share a name (in one stack, or
#: across runs overlaid in TensorBoard): ``{alpha}`` is the EMA weight and
#: ``{window}`` the window, as :func:`stat_tags` spells them
#: (``episode/return_ema_0.1``, ``episode/return_mean_100``).
EPISODE_TAGS = (
    "episode/return",
    "episode/length",
    "episode/return_ema_{alpha}",
    "episode/length_ema_{alpha}",
    "episode/return_mean_{window}",
    "episode/return_std_{window}",
)
#: Tag prefix of captured ``info`` values: ``info/<key>``.
INFO_PREFIX = "info/"
#: Tag prefix of step-keyed training metrics: ``train/<name>``, where lerax
#: and SB3 put them (:meth:`TensorBoardSink.on_metrics`).
METRIC_PREFIX = "train/"
#: Tag prefix of a record's per-episode means of ``log_metrics`` values:
#: ``episode_metrics/<name>`` (their own name: a mean over an episode is not
#: the value reported at a step).
EPISODE_METRIC_PREFIX = "episode_metrics/"

#: File naming the run and worker of a default-named log folder (see
#: :meth:`TensorBoardSink.on_resume`).
RUN_MARK = ".gymscope-run.json"

_INSTALL = (
    'pip install "gymscope[tensorboard]" (from a clone: uv sync --extra tensorboard, '
    'or pip install ".[tensorboard]")'
)


def import_tensorboardx() -> tuple[Any, Any]:
    """tensorboardX's ``FileWriter`` and ``Summary`` proto, or how to install it.

    Raises:
        gymnasium.error.DependencyNotInstalled: tensorboardX is missing; the
            message gives the install command.
    """
    try:
        from tensorboardX import FileWriter  # type: ignore[import-untyped]
        from tensorboardX.proto.summary_pb2 import Summary  # type: ignore[import-untyped]
    except ImportError as exc:
        raise gym.error.DependencyNotInstalled(
            f"TensorBoard logging needs tensorboardX, which is not installed ({exc}): {_INSTALL}"
        ) from exc
    return FileWriter, Summary


def _protos() -> tuple[Any, Any, Any]:
    """tensorboardX's ``Event`` and ``Summary`` protos and its TFRecord CRC."""
    import_tensorboardx()
    from tensorboardX.proto.event_pb2 import Event  # type: ignore[import-untyped]
    from tensorboardX.proto.summary_pb2 import Summary
    from tensorboardX.record_writer import masked_crc32c  # type: ignore[import-untyped]

    return Event, Summary, masked_crc32c


def _alpha_text(alpha: float) -> str:
    return f"{alpha:.6g}"


@functools.lru_cache(maxsize=64)
def stat_tags(window_size: int, alpha: float, prefix: str = "episode/") -> tuple[str, ...]:
    """The :data:`EPISODE_TAGS` spelled out for a window and EMA weight.

    >>> stat_tags(100, 0.1)  # doctest: +NORMALIZE_WHITESPACE
    ('episode/return', 'episode/length', 'episode/return_ema_0.1',
     'episode/length_ema_0.1', 'episode/return_mean_100', 'episode/return_std_100')
    >>> stat_tags(10, 0.05, "run/")[2:]
    ('run/return_ema_0.05', 'run/length_ema_0.05', 'run/return_mean_10', 'run/return_std_10')
    """
    return tuple(
        prefix + tag.removeprefix("episode/").format(window=window_size, alpha=_alpha_text(alpha))
        for tag in EPISODE_TAGS
    )


def episode_scalars(
    record: EpisodeRecord, skipped: set[str] | None = None
) -> Iterator[tuple[str, float]]:
    """The ``(tag, value)`` pairs TensorBoard gets for one finished episode.

    First the :data:`EPISODE_TAGS` (see :func:`stat_tags`), then
    ``info/<key>`` per captured info value and ``episode_metrics/<name>`` per
    per-episode metric mean. Non-finite values are kept
    (TensorBoard stores them and marks them on its charts). Info values that
    are not numbers are left out; their keys are added to ``skipped`` when
    it is given.

    >>> from gymscope.episode import EpisodeRecord
    >>> record = EpisodeRecord(
    ...     index=0, episode_return=3.0, length=2, duration_s=0.1, ended_at=0.0,
    ...     terminated=True, truncated=False, total_steps=2, window_size=100,
    ...     moving_mean=3.0, moving_std=0.0, ema_return=3.0, ema_length=2.0, alpha=0.1,
    ...     info={"score": 7, "name": "x"}, metrics={"loss": 0.5})
    >>> dict(episode_scalars(record))  # doctest: +NORMALIZE_WHITESPACE
    {'episode/return': 3.0, 'episode/length': 2.0, 'episode/return_ema_0.1': 3.0,
     'episode/length_ema_0.1': 2.0, 'episode/return_mean_100': 3.0,
     'episode/return_std_100': 0.0, 'info/score': 7.0, 'episode_metrics/loss': 0.5}
    """
    tags = stat_tags(record.window_size, record.alpha)
    yield tags[0], record.episode_return
    yield tags[1], float(record.length)
    yield tags[2], record.ema_return
    yield tags[3], record.ema_length
    yield tags[4], record.moving_mean
    yield tags[5], record.moving_std
    for key, raw in record.info.items():
        value = scalar(raw)
        if value is None:
            if skipped is not None:
                skipped.add(key)
            continue
        yield INFO_PREFIX + key, value
    for name, metric in record.metrics.items():
        yield EPISODE_METRIC_PREFIX + name, float(metric)


def check_logdir(path: Path, argument: str = "logdir") -> Path:
    """Check, without creating anything, that ``path`` is or can become a
    writable folder: it is a writable directory, or its nearest existing
    ancestor is. Raises ``NotADirectoryError``/``PermissionError`` naming the
    argument and the fix."""
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        what = "is" if probe == path else f"would be inside {str(probe)!r}, which is"
        raise NotAFolderError(
            f"{argument} {str(path)!r} {what} not a directory; pass a folder path"
        )
    if not os.access(probe, os.W_OK | os.X_OK):
        where = "" if probe == path else f" (its nearest existing folder {str(probe)!r} is not)"
        raise FolderNotWritableError(
            f"{argument} {str(path)!r} is not writable{where}; pass a folder this process "
            "can create files in"
        )
    return path


class TensorBoardSink(Sink):
    """One event file: an event per finished episode, and per metrics report.

    :meth:`on_episode` writes one event holding every scalar of the record
    (see :func:`episode_scalars`) at step ``record.total_steps`` (total env
    steps: the x axis of CleanRL's and SB3's charts) and wall time
    ``record.ended_at`` (now, if that is not finite). :meth:`on_metrics`
    writes ``train/<name>`` for each value at the step it is given, at the
    current wall time: step-keyed training metrics (losses, learning rate)
    beside the episodes. Values are stored as 32-bit floats, as by every
    TensorBoard writer.

    Nothing is created before the first event, which is written at once;
    later events are kept in memory and appended (framed as TFRecords, with
    tensorboardX's protos) at the first event ``flush_secs`` after the last
    write; :meth:`close` writes everything and is idempotent (a wrapper
    closes its sinks when it is collected or at exit; a sink used on its own
    is closed by its user, like any other). A write
    that fails (disk full, folder gone or read-only) is warned about once,
    cut back so the file holds whole records only, and retried with backoff
    at later events; :meth:`close` raises
    :class:`~gymscope.errors.OutputWriteError` if the events still cannot be
    written. The file name carries the process id and a random part besides
    tensorboardX's time and host name, so writers sharing a folder never overwrite each
    other's file. A pickled copy, or the sink in a ``fork()``-ed child, leaves
    the original's file alone and opens its own.

    Args:
        logdir: The run's folder; created at the first event.
        flush_secs: Seconds between flushes of the event file.
        unique: Claim a fresh folder at the first event: ``logdir`` if it does
            not exist yet, else ``logdir_2``, ``logdir_3``, ... (for default
            folder names, which several runs may compute alike); a stack that
            resumes its run takes the folder its worker wrote to before
            (:meth:`on_resume`).
        resume_from: ``(folder, pattern)``: the folder is marked with the run
            and worker at the first event, as with ``unique``, and a stack
            that resumes its run takes the most recently marked folder of
            this run and worker among ``folder.glob(pattern)`` instead of
            ``logdir`` (the vector wrapper's default folders,
            ``runs/*/env{i}``). ``logdir`` is used when none is found.
        owner: Name used in messages (the driver's, e.g. ``"TensorBoardWrapper"``).

    Raises:
        gymnasium.error.DependencyNotInstalled: (at the first event)
            tensorboardX is missing.

    Example:
        >>> import tempfile
        >>> from tensorboard.backend.event_processing.event_accumulator import (
        ...     EventAccumulator)
        >>> from gymscope.sinks.base import replay_returns
        >>> folder = tempfile.TemporaryDirectory()
        >>> sink = TensorBoardSink(f"{folder.name}/run")
        >>> for record in replay_returns([1.0, 2.0]):
        ...     sink.on_episode(record)
        >>> sink.on_metrics(2, {"learning_rate": 0.5})
        >>> sink.close()
        >>> events = EventAccumulator(str(sink.logdir))
        >>> _ = events.Reload()
        >>> [(e.step, e.value) for e in events.Scalars("episode/return")]
        [(1, 1.0), (2, 2.0)]
        >>> [(e.step, e.value) for e in events.Scalars("train/learning_rate")]
        [(2, 0.5)]
        >>> folder.cleanup()
    """

    def __init__(
        self,
        logdir: str | os.PathLike[str],
        *,
        flush_secs: float = 10.0,
        unique: bool = False,
        resume_from: tuple[str | os.PathLike[str], str] | None = None,
        owner: str = "TensorBoardSink",
    ) -> None:
        if not isinstance(logdir, (str, os.PathLike)) or isinstance(os.fspath(logdir), bytes):
            raise ArgumentTypeError(
                f"logdir must be a str or path, got {logdir!r} ({type(logdir).__name__})"
            )
        # Absolute now, so a later chdir (or the exit handler) writes to the same place.
        folder = Path(logdir).expanduser().absolute()
        self.planned = folder
        self._logdir = folder
        self.flush_secs = check_number(
            "flush_secs", flush_secs, low=0.0, what="a finite number of seconds > 0"
        )
        self.unique = check_bool("unique", unique)
        self.resume_from: tuple[Path, str] | None = None
        if resume_from is not None:
            base, pattern = resume_from
            self.resume_from = (Path(base).expanduser().absolute(), check_str("pattern", pattern))
        self.owner = check_str("owner", owner)
        self.episodes_written = 0
        """Episodes written by this sink object (a pickled copy counts its own)."""
        self._closed = False
        self._file: EventFile | None = None
        self._protos: tuple[Any, Any, Any] | None = None
        self._pid: int | None = None
        self._next_write = 0.0  # time.monotonic() of the next write: the first is at once
        self._failures = FailedWrites(self.owner)
        self._skipped: set[str] = set()
        self._numbers = NumbersOnly(self.owner, "logs")
        self._resumed = False

    @property
    def logdir(self) -> Path:
        """The run's folder (with ``unique``, settled at the first event)."""
        return self._logdir

    @property
    def is_open(self) -> bool:
        """An event file is open in this process."""
        return self._file is not None and self._pid == os.getpid()

    # -- writing ----------------------------------------------------------------------
    def on_episode(
        self, record: EpisodeRecord, info: MutableMapping[str, Any] | None = None
    ) -> None:
        """Write the scalars of ``record`` as one event (see the class docs).

        Raises:
            UsageError: (a ``RuntimeError``) the sink is closed.
        """
        self._refuse_if_closed(f"episode {record.index} ended", "it is")
        ended_at = record.ended_at
        # unknown (a stored episode without created_at): tensorboardX uses now
        walltime = ended_at if math.isfinite(ended_at) else None
        self._write(episode_scalars(record, self._skipped), record.total_steps, walltime)
        self.episodes_written += 1
        if self._skipped:  # warned about after the event, once per key
            for key in sorted(self._skipped):
                self._numbers.number(f"info[{key!r}]", record.info[key])
            self._skipped.clear()

    def on_metrics(
        self, step: int, values: Mapping[str, float], walltime: float | None = None
    ) -> None:
        """Write ``train/<name>`` for each value as one event at ``step``.

        ``walltime`` is the Unix time of the event (now when None or not
        finite: a replayed metric passes its stored time). Values that are
        not numbers are left out (one warning per name); nothing is written
        when none is left.

        Raises:
            UsageError: (a ``RuntimeError``) the sink is closed.
        """
        self._refuse_if_closed(f"metrics at step {step} reported", "they are")
        scalars = []
        for name, raw in values.items():
            value = self._numbers.number(f"metric {name!r}", raw)
            if value is not None:
                scalars.append((METRIC_PREFIX + name, value))
        if scalars:
            when = walltime if walltime is not None and math.isfinite(walltime) else time.time()
            self._write(scalars, int(step), when)

    def _write(
        self, scalars: Iterable[tuple[str, float]], step: int, walltime: float | None
    ) -> None:
        if not self.is_open:
            self._open()
        file = self._file
        assert file is not None and self._protos is not None
        event, summary, crc = self._protos
        value = summary.Value
        values = [value(tag=tag, simple_value=x) for tag, x in scalars]
        record = event(
            wall_time=time.time() if walltime is None else walltime,
            step=step,
            summary=summary(value=values),
        )
        file.add(tfrecord(record.SerializeToString(), crc))
        if time.monotonic() >= self._next_write and self._failures.ready():
            self._try_write()

    def _try_write(self) -> None:
        try:
            self._write_file()
        except OSError as exc:
            self._failures.failed(str(self._logdir), exc)

    def _write_file(self) -> None:
        """Write the kept events (settling the folder and file name first)."""
        file = self._file
        if file is None or not file.pending:
            return
        if file.path is None:
            marked = self.unique or self.resume_from is not None
            folder = self._earlier_folder() if marked and self._resumed else None
            if folder is None:
                folder = self._claim() if self.unique else self._make(self._logdir)
            self._logdir = folder
            if marked:
                self._mark(folder)
            # tensorboardX's name, plus the pid and a random part: writers of
            # one folder in the same second would otherwise share a file.
            name = (
                f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}"
                f".{os.getpid()}.{secrets.token_hex(4)}"
            )
            file.path = folder / name
            logger.debug("writing TensorBoard events to %s", folder)
        file.write()
        self._failures.succeeded(str(self._logdir))
        self._next_write = time.monotonic() + self.flush_secs

    def _refuse_if_closed(self, what: str, subject: str) -> None:
        if self._closed:
            raise UsageError(
                f"{what} after {self.owner}.close(); {subject} not logged. "
                f"Create a new {self.owner} to keep logging"
            )

    # -- the file ---------------------------------------------------------------------
    def _open(self) -> None:
        """Start this process's event file (in memory: nothing is created yet)."""
        protos = _protos()
        if self._file is not None:  # a forked child: the parent's file is not ours
            self.forked()
        event = protos[0]
        first = event(wall_time=time.time(), file_version="brain.Event:2")
        self._file = EventFile(tfrecord(first.SerializeToString(), protos[2]))
        self._protos = protos
        self._pid = os.getpid()

    def on_resume(self, state: ResumeState) -> None:
        """The stack resumes its run: the steps continue (records carry the
        restored ``total_steps``), and with ``unique`` the events go to the
        folder the run's worker wrote to before, when one is found.

        A default-named folder is marked with the run and worker that claimed
        it (``.gymscope-run.json``); at the first event of a resumed stack,
        the folders next to :attr:`planned` are searched for that mark, and
        the most recently marked one holding this run's worker is taken
        instead of a new ``logdir_N``: TensorBoard then shows one run whose
        second event file goes on where the first stops. With
        :attr:`resume_from` the search is among its matches instead. An
        explicit ``logdir`` (neither) is used as given.
        """
        self._resumed = True

    def _run_mark(self) -> dict[str, Any] | None:
        run = self.run
        if run is None or run.experiment is None or run.worker is None:
            return None
        return {"experiment": run.experiment, "worker": run.worker}

    def _mark(self, folder: Path) -> None:
        """Name the run and worker of a claimed folder (see :meth:`on_resume`)."""
        mark = self._run_mark()
        if mark is None:
            return
        try:
            atomic_write_text(folder / RUN_MARK, json.dumps(mark) + "\n")
        except OSError as exc:
            logger.debug("could not mark %s with its run: %s", folder, exc)

    def _candidates(self) -> list[Path]:
        """The folders an earlier attempt of this run may have written to."""
        try:
            if self.resume_from is not None:
                base, pattern = self.resume_from
                return sorted(base.glob(pattern))
            with os.scandir(self.planned.parent) as entries:
                return [Path(entry.path) for entry in entries]
        except (OSError, ValueError):  # no such folder; a pattern glob() refuses
            return []

    def _earlier_folder(self) -> Path | None:
        """The folder marked with this run and worker: next to :attr:`planned`,
        or among :attr:`resume_from`'s matches."""
        mark = self._run_mark()
        if mark is None:
            return None
        found: list[tuple[float, str, Path]] = []
        for folder in self._candidates():
            marked = folder / RUN_MARK
            try:
                if not folder.is_dir() or json.loads(marked.read_text()) != mark:
                    continue
                found.append((marked.stat().st_mtime, str(folder), folder))
            except (OSError, ValueError):
                continue
        if not found:
            return None
        folder = max(found)[2]
        logger.info("%s: resumed run %s continues in %s", self.owner, mark, folder)
        return folder

    def _make(self, folder: Path) -> Path:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._folder_error(exc, folder) from exc
        return folder

    def _claim(self) -> Path:
        base = self.planned
        self._make(base.parent)
        for n in range(1, 10_000):
            folder = base if n == 1 else base.with_name(f"{base.name}_{n}")
            try:
                folder.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise self._folder_error(exc, folder) from exc
            return folder
        raise OutputExistsError(f"{self.owner}: every name {str(base)!r}_N is taken")

    def _folder_error(self, exc: OSError, folder: Path) -> OSError:
        return type(exc)(
            exc.errno,
            f"{self.owner}: cannot create the log folder {str(folder)!r} ({exc.strerror or exc})",
        )

    def _drop_file(self) -> None:
        self._file = None
        self._pid = None

    def forked(self) -> None:
        """Forget the parent's file and kept events (they are the parent's)."""
        self._drop_file()
        self._next_write = 0.0
        self._failures = FailedWrites(self.owner)
        if self.unique:
            self._logdir = self.planned

    def close(self) -> None:
        """Write the kept events. Safe to call twice.

        Raises:
            OutputWriteError: events could still not be written (the message
                names the folder and the cause).
        """
        if self._closed:
            return
        self._closed = True
        if self._file is not None and self._pid == os.getpid():
            try:
                self._write_file()
            except OSError as exc:
                self._failures.failed(str(self._logdir), exc)
        self._drop_file()
        error = self._failures.error()
        if error is not None:
            raise error

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        # The file and its writer thread stay with this process; a copy opens its
        # own file (a fresh folder, when the folder name was a default).
        state.update(
            _file=None,
            _protos=None,
            _pid=None,
            episodes_written=0,
            _next_write=0.0,
            _failures=FailedWrites(self.owner),
        )
        if self.unique:
            state["_logdir"] = self.planned
        return state

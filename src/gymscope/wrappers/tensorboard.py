"""TensorBoardWrapper: every finished episode as TensorBoard scalars (via tensorboardX).

The tags, and the code that writes them, are shared with
:func:`gymscope.tensorboard.export_experiment`, so a live run and a run
converted from the metrics database look the same in TensorBoard.
tensorboardX is an optional dependency (``pip install "gymscope[tensorboard]"``),
imported when a wrapper is built, never by ``import gymscope``.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import secrets
import warnings
import weakref
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.core import ActType, ObsType

from gymscope._checks import check_number
from gymscope._files import safe_name
from gymscope.episode import (
    EpisodeRecord,
    StatsConfig,
    check_alpha,
    check_info_keys,
    check_window_size,
)
from gymscope.errors import (
    ArgumentTypeError,
    FolderNotWritableError,
    InvalidArgumentError,
    NotAFolderError,
    OutputExistsError,
    UsageError,
)
from gymscope.wrappers.base import GymscopeWrapper

__all__ = [
    "EPISODE_TAGS",
    "INFO_PREFIX",
    "METRIC_PREFIX",
    "EventLog",
    "TensorBoardWrapper",
    "check_logdir",
    "default_logdir",
    "episode_scalars",
    "import_tensorboardx",
]

logger = logging.getLogger(__name__)

#: Tags written at every episode end, in this order: the return and length of
#: the episode, their exponential moving averages (lerax's ``episode/return``
#: and ``episode/length``), and the moving mean and population standard
#: deviation of returns over the last ``window_size`` episodes.
EPISODE_TAGS = (
    "episode/return",
    "episode/length",
    "episode/return_ema",
    "episode/length_ema",
    "episode/return_mean",
    "episode/return_std",
)
#: Tag prefix of captured ``info`` values: ``info/<key>``.
INFO_PREFIX = "info/"
#: Tag prefix of values reported with ``log_metrics`` (their episode mean):
#: ``train/<name>``, where lerax and SB3 put training values.
METRIC_PREFIX = "train/"

_INSTALL = 'pip install "gymscope[tensorboard]"'
_DEFAULT_FLUSH_SECS = 10.0


def import_tensorboardx() -> tuple[Any, Any]:
    """tensorboardX's ``FileWriter`` and ``Summary`` proto, or how to install it."""
    try:
        from tensorboardX import FileWriter  # type: ignore[import-untyped]
        from tensorboardX.proto.summary_pb2 import Summary  # type: ignore[import-untyped]
    except ImportError as exc:
        raise gym.error.DependencyNotInstalled(
            f"TensorBoard logging needs tensorboardX, which is not installed ({exc}): {_INSTALL}"
        ) from exc
    return FileWriter, Summary


# -- tags and values -----------------------------------------------------------------
def _scalar(value: Any) -> float | None:
    """``value`` as a float if it is a real number (or one number in a list or
    array, as captured info values are stored in the database), else None."""
    if isinstance(value, np.ndarray):
        if value.size != 1 or value.dtype.kind not in "biuf":
            return None
        value = value.item()
    elif isinstance(value, (list, tuple)):
        if len(value) != 1:
            return None
        value = value[0]
    if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
        try:
            return float(value)
        except OverflowError:  # an int beyond float range
            return math.inf if value > 0 else -math.inf
    return None


def episode_scalars(
    record: EpisodeRecord, skipped: set[str] | None = None
) -> Iterator[tuple[str, float]]:
    """The ``(tag, value)`` pairs TensorBoard gets for one finished episode.

    First the :data:`EPISODE_TAGS`, then ``info/<key>`` per captured info
    value and ``train/<name>`` per ``log_metrics`` value. Non-finite values
    are kept (TensorBoard stores them and marks them on its charts). Info
    values that are not numbers are left out; their keys are added to
    ``skipped`` when it is given.

    >>> from gymscope.episode import EpisodeRecord
    >>> record = EpisodeRecord(
    ...     index=0, episode_return=3.0, length=2, duration_s=0.1, ended_at=0.0,
    ...     terminated=True, truncated=False, total_steps=2, window_size=100,
    ...     moving_mean=3.0, moving_std=0.0, ema_return=3.0, ema_length=2.0, alpha=0.9,
    ...     info={"score": 7, "name": "x"}, metrics={"loss": 0.5})
    >>> dict(episode_scalars(record))  # doctest: +NORMALIZE_WHITESPACE
    {'episode/return': 3.0, 'episode/length': 2.0, 'episode/return_ema': 3.0,
     'episode/length_ema': 2.0, 'episode/return_mean': 3.0, 'episode/return_std': 0.0,
     'info/score': 7.0, 'train/loss': 0.5}
    """
    yield "episode/return", record.episode_return
    yield "episode/length", float(record.length)
    yield "episode/return_ema", record.ema_return
    yield "episode/length_ema", record.ema_length
    yield "episode/return_mean", record.moving_mean
    yield "episode/return_std", record.moving_std
    for key, raw in record.info.items():
        value = _scalar(raw)
        if value is None:
            if skipped is not None:
                skipped.add(key)
            continue
        yield INFO_PREFIX + key, value
    for name, metric in record.metrics.items():
        yield METRIC_PREFIX + name, float(metric)


# -- the event file ------------------------------------------------------------------
def _close_writer(writer: Any, pid: int) -> None:
    """Close a writer dropped without close() (not in a forked child: the
    buffered events and the file belong to the parent)."""
    if os.getpid() == pid:
        writer.close()


class EventLog:
    """One event file, opened at the first write, one event per episode.

    Shared by :class:`TensorBoardWrapper` and
    :func:`gymscope.tensorboard.export_experiment`, so both write the same
    tags, steps and wall times. Each episode is one event holding all its
    scalars, stepped by ``record.total_steps``, at wall time
    ``record.ended_at``. tensorboardX's ``FileWriter`` queues the events and
    writes them in a background thread, flushing every ``flush_secs``.

    The file name carries the process id and a random part besides
    tensorboardX's time and host name, so writers sharing a folder never
    overwrite each other's file. Pickling drops the open file; a copy opens
    its own. In a forked child the parent's writer is left alone.

    Args:
        logdir: The run's folder (absolute).
        flush_secs: Seconds between flushes of the event file.
        unique: Claim a fresh folder at the first write: ``logdir`` if it does
            not exist yet, else ``logdir_2``, ``logdir_3``, ... (for default
            folder names, which several runs may compute alike).
        owner: Name used in messages.
    """

    def __init__(
        self, logdir: Path, *, flush_secs: float, unique: bool = False, owner: str = "EventLog"
    ) -> None:
        self.planned = logdir
        self.logdir = logdir
        self.flush_secs = flush_secs
        self.unique = unique
        self.owner = owner
        self.written = 0
        self._writer: Any = None
        self._summary: Any = None
        self._pid: int | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None
        self._skipped: set[str] = set()
        self._warned: set[str] = set()

    @property
    def is_open(self) -> bool:
        """An event file is open in this process."""
        return self._writer is not None and self._pid == os.getpid()

    def write(self, record: EpisodeRecord) -> None:
        """Append the scalars of ``record`` (see :func:`episode_scalars`) as one
        event at step ``record.total_steps`` and wall time ``record.ended_at``."""
        if not self.is_open:
            self._open()
        skipped = self._skipped
        value = self._summary.Value
        values = [value(tag=tag, simple_value=x) for tag, x in episode_scalars(record, skipped)]
        ended_at = record.ended_at
        self._writer.add_summary(
            self._summary(value=values),
            global_step=record.total_steps,
            # unknown (a stored episode without created_at): tensorboardX uses now
            walltime=ended_at if math.isfinite(ended_at) else None,
        )
        self.written += 1
        if skipped:
            self._warn_skipped(record)

    def _warn_skipped(self, record: EpisodeRecord) -> None:
        for key in sorted(self._skipped - self._warned):
            warnings.warn(
                f"info[{key!r}] is a {type(record.info[key]).__name__}, not a number: "
                f"{self.owner} logs numbers only and leaves it out",
                stacklevel=3,
            )
        self._warned |= self._skipped
        self._skipped.clear()

    def _open(self) -> None:
        file_writer, summary = import_tensorboardx()
        if self._writer is not None:  # a forked child: the parent's writer is not ours
            self._forget()
        folder = self._claim() if self.unique else self._make(self.logdir)
        pid = os.getpid()
        # tensorboardX names the file after the second and the host only: two
        # writers of one folder in the same second would share (truncate) it.
        suffix = f".{pid}.{secrets.token_hex(4)}"
        self._writer = file_writer(str(folder), flush_secs=self.flush_secs, filename_suffix=suffix)
        self._summary = summary
        self._pid = pid
        self.logdir = folder
        self._finalizer = weakref.finalize(self, _close_writer, self._writer, pid)
        logger.debug("writing TensorBoard events to %s", folder)

    def _make(self, folder: Path) -> Path:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise type(exc)(
                exc.errno,
                f"{self.owner}: cannot create the log folder {str(folder)!r} "
                f"({exc.strerror or exc})",
            ) from exc
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
                raise type(exc)(
                    exc.errno,
                    f"{self.owner}: cannot create the log folder {str(folder)!r} "
                    f"({exc.strerror or exc})",
                ) from exc
            return folder
        raise OutputExistsError(f"{self.owner}: every name {str(base)!r}_N is taken")

    def _forget(self) -> None:
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        self._writer = None
        self._pid = None
        if self.unique:
            self.logdir = self.planned

    def close(self) -> None:
        """Write the queued events, close the file. Safe to call twice."""
        writer, pid = self._writer, self._pid
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        self._writer = None
        self._pid = None
        if writer is not None and pid == os.getpid():
            writer.close()

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        # The file and its writer thread stay with this process; a copy opens its
        # own file (a fresh folder, when the folder name was a default).
        state.update(_writer=None, _summary=None, _pid=None, _finalizer=None, written=0)
        if self.unique:
            state["logdir"] = self.planned
        return state


# -- the wrapper ---------------------------------------------------------------------
def default_logdir(env: gym.Env[Any, Any]) -> Path:
    """``runs/{env id}_{UTC time}`` (CleanRL's layout), the env id made file-safe.

    >>> import gymnasium as gym
    >>> default_logdir(gym.make("CartPole-v1")).as_posix()  # doctest: +ELLIPSIS
    'runs/CartPole-v1_20...-...'

    An id such as ``ALE/Pong-v5`` becomes ``ALE_Pong-v5``: one folder, inside ``runs``.
    """
    spec = env.spec
    env_id = spec.id if spec is not None and spec.id else type(env.unwrapped).__name__
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return Path("runs") / f"{safe_name(env_id, 'env')}_{stamp}"


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


def _check_flush_secs(flush_secs: object) -> float:
    return check_number("flush_secs", flush_secs, low=0.0, what="a finite number of seconds > 0")


class TensorBoardWrapper(
    GymscopeWrapper[ObsType, ActType],
    gym.utils.RecordConstructorArgs,
):
    """Logs every finished episode to TensorBoard.

    At each episode end one event is written to ``logdir``, stepped by the
    total number of env steps taken so far (``record.total_steps``: the x
    axis of CleanRL's and SB3's charts), at the wall time the episode ended:

    - ``episode/return``, ``episode/length``: return and length of the episode;
    - ``episode/return_ema``, ``episode/length_ema``: their exponential moving
      averages, ``ema = alpha * new + (1 - alpha) * ema`` seeded with the first
      value (with ``alpha=0.9``, what lerax's TensorBoard callback logs as
      ``episode/return`` and ``episode/length``);
    - ``episode/return_mean``, ``episode/return_std``: mean and population
      standard deviation of the returns of the last ``window_size`` episodes;
    - ``info/<key>``: the final step's ``info[key]`` for each of ``info_keys``;
    - ``train/<name>``: the episode mean of each value reported with
      ``env.get_wrapper_attr("log_metrics")(name=value)``.

    Until ``window_size`` episodes have ended the moving statistics cover the
    episodes so far. NaN and infinite values are logged as they are:
    TensorBoard keeps them and marks them on its charts, where skipping
    them would hide a diverging run. Info values that are not numbers are
    left out (one warning per key). Values are stored as 32-bit floats, as
    by every TensorBoard writer.

    Without ``logdir`` the run goes to ``runs/{env id}_{UTC time}`` (as
    CleanRL names its runs), the id made file-safe (``ALE/Pong-v5`` ->
    ``ALE_Pong-v5``); if that folder exists when the first episode ends,
    ``_2``, ``_3``, ... is appended, so runs started in the same second never
    share a folder. Point TensorBoard at the parent: ``tensorboard --logdir runs``.

    **Lifecycle.** Nothing is created before the first episode ends
    (gymnasium's ``AsyncVectorEnv`` builds and closes a throwaway copy: it
    leaves no folder and no empty event file). The file is written by
    tensorboardX in a background thread and flushed every ``flush_secs``;
    ``close()`` writes everything, is idempotent, and runs at interpreter
    exit. Pickled copies (``AsyncVectorEnv``, SB3's ``SubprocVecEnv``) drop
    the file and open their own in the new process. Give each env copy of a
    vector env its own ``logdir`` (``f"runs/exp/env{i}"``) or keep the default:
    each copy then gets its own run.

    Args:
        env: The environment to wrap.
        logdir: Folder of this run's event file; created when the first
            episode ends. None for ``runs/{env id}_{UTC time}``.
        alpha: Weight of the newest episode in the EMAs, in (0, 1]
            (lerax's default 0.9).
        window_size: Episodes spanned by the moving mean and std.
        info_keys: Keys of the final step's ``info`` to log as ``info/<key>``.
        flush_secs: Seconds between flushes of the event file to disk.

    Raises:
        gymnasium.error.DependencyNotInstalled: tensorboardX is missing
            (``pip install "gymscope[tensorboard]"``).
        TypeError, ValueError: a bad argument.
        NotADirectoryError, PermissionError: ``logdir`` cannot become a
            writable folder (checked without creating anything).

    Example:
        >>> import gymnasium as gym, tempfile
        >>> from gymscope.wrappers.tensorboard import TensorBoardWrapper
        >>> folder = tempfile.TemporaryDirectory()
        >>> env = TensorBoardWrapper(gym.make("CartPole-v1"), f"{folder.name}/cartpole")
        >>> _ = env.reset(seed=0)
        >>> done = False
        >>> while not done:
        ...     _, _, terminated, truncated, _ = env.step(0)
        ...     done = terminated or truncated
        >>> env.close()
        >>> [p.name.startswith("events.out.tfevents.") for p in env.logdir.iterdir()]
        [True]
        >>> folder.cleanup()

        Arguments are checked up front:

        >>> TensorBoardWrapper(gym.make("CartPole-v1"), alpha=0)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        gymscope.errors.InvalidArgumentError: alpha must be a float in (0, 1] (weight of the ...
    """

    def __init__(
        self,
        env: gym.Env[ObsType, ActType],
        logdir: str | os.PathLike[str] | None = None,
        alpha: float = 0.9,
        window_size: int = 100,
        info_keys: Sequence[str] = (),
        *,
        flush_secs: float = _DEFAULT_FLUSH_SECS,
    ) -> None:
        alpha = check_alpha(alpha)
        window_size = check_window_size(window_size)
        keys = check_info_keys(info_keys)
        flush = _check_flush_secs(flush_secs)
        if logdir is not None:
            if not isinstance(logdir, (str, os.PathLike)) or isinstance(os.fspath(logdir), bytes):
                raise ArgumentTypeError(
                    f"logdir must be a str or path (the run's folder), or None for "
                    f"runs/{{env id}}_{{time}}; got {logdir!r} ({type(logdir).__name__})"
                )
            if not os.fspath(logdir).strip():
                raise InvalidArgumentError(
                    f"logdir must be a folder path, or None for runs/{{env id}}_{{time}}; "
                    f"got {logdir!r}"
                )
        import_tensorboardx()  # missing: say so now, not at the first episode end
        if not isinstance(env, gym.Env):  # before default_logdir reads env.spec
            raise ArgumentTypeError(
                f"env must be a gymnasium.Env, got {env!r} ({type(env).__name__}); "
                "wrap the result of gymnasium.make(...)"
            )
        # Absolute now, so a later chdir (or the exit handler) writes to the same place.
        folder = Path(logdir if logdir is not None else default_logdir(env))
        folder = check_logdir(folder.expanduser().absolute())
        gym.utils.RecordConstructorArgs.__init__(
            self,
            # None stays None: a rebuilt env (gym.make(env.spec)) names its own run.
            logdir=None if logdir is None else os.fspath(logdir),
            alpha=alpha,
            window_size=window_size,
            info_keys=keys,
            flush_secs=flush,
        )
        super().__init__(env, stats=StatsConfig(window_size, alpha), info_keys=keys)
        self._log = EventLog(
            folder, flush_secs=flush, unique=logdir is None, owner="TensorBoardWrapper"
        )

    @property
    def logdir(self) -> Path:
        """The run's folder. With the default name it is settled when the first
        episode ends (a ``_2`` suffix if another run took the name)."""
        return self._log.logdir

    @property
    def episodes_logged(self) -> int:
        """Episodes written by this wrapper object (a pickled copy counts its own)."""
        return self._log.written

    def _on_episode(self, record: EpisodeRecord) -> None:
        if self._closed:
            raise UsageError(
                f"episode {record.index} ended after TensorBoardWrapper.close(); it is not "
                "logged. Create a new wrapper to keep logging"
            )
        if not self._log.is_open:
            self._close_at_exit()  # from now on there is something to flush
        self._log.write(record)

    def _close_sink(self) -> None:
        self._log.close()

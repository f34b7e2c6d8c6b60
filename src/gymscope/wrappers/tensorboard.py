"""TensorBoardWrapper: every finished episode as TensorBoard scalars (via tensorboardX).

A driver of :class:`~gymscope.sinks.tensorboard.TensorBoardSink`, which
:func:`gymscope.tensorboard.export_experiment` also feeds, so a live run and a
run converted from the metrics database look the same in TensorBoard.
tensorboardX is an optional dependency (in a clone of gymscope: ``uv sync
--extra tensorboard`` or ``pip install ".[tensorboard]"``), imported when a
wrapper is built, never by ``import gymscope``.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
from gymnasium.core import ActType, ObsType

from gymscope._files import safe_name
from gymscope.episode import StatsConfig, check_alpha, check_info_keys, check_window_size
from gymscope.errors import ArgumentTypeError, InvalidArgumentError
from gymscope.sinks.tensorboard import (
    EPISODE_TAGS,
    INFO_PREFIX,
    METRIC_PREFIX,
    TensorBoardSink,
    check_logdir,
    episode_scalars,
    import_tensorboardx,
)
from gymscope.wrappers.base import GymscopeWrapper

__all__ = [
    "EPISODE_TAGS",
    "INFO_PREFIX",
    "METRIC_PREFIX",
    "TensorBoardWrapper",
    "check_logdir",
    "default_logdir",
    "episode_scalars",
    "import_tensorboardx",
]


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


class TensorBoardWrapper(
    GymscopeWrapper[ObsType, ActType],
    gym.utils.RecordConstructorArgs,
):
    """Logs every finished episode to TensorBoard.

    At each episode end one event is written to ``logdir``, stepped by the
    total number of env steps taken so far (``record.total_steps``: the x
    axis of CleanRL's and SB3's charts), at the wall time the episode ended:

    - ``episode/return``, ``episode/length``: return and length of the episode;
    - ``episode/return_ema_{alpha}``, ``episode/length_ema_{alpha}``: their
      exponential moving averages, ``ema = alpha * new + (1 - alpha) * ema``
      seeded with the first value (``episode/return_ema_0.1`` by default; with
      ``alpha=0.9``, ``episode/return_ema_0.9`` is what lerax's TensorBoard
      callback logs as ``episode/return``);
    - ``episode/return_mean_{window}``, ``episode/return_std_{window}``: mean
      and population standard deviation of the returns of the last
      ``window_size`` episodes (``episode/return_mean_100``);
    - ``info/<key>``: the final step's ``info[key]`` for each of ``info_keys``;
    - ``episode_metrics/<name>``: the episode mean of each value reported with
      ``env.get_wrapper_attr("log_metrics")(name=value)``;
    - ``train/<name>``: values reported with a step,
      ``log_metrics(step=..., name=value)``, at that step.

    The statistics' tags carry their window and EMA weight, so two
    different numbers never share a name (the defaults are those of the
    other gymscope wrappers: window 100, alpha 0.1).

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
    leaves no folder and no empty event file). Events are appended to
    the file at episode ends, at most every ``flush_secs``; a failed write
    warns once and is retried (see the "TensorBoard" docs page); ``close()``
    writes everything, is idempotent, and runs at interpreter exit. Pickled
    copies (``AsyncVectorEnv``, SB3's ``SubprocVecEnv``) drop the file and
    open their own in the new process. Give each env copy of a
    vector env its own ``logdir`` (``f"runs/exp/env{i}"``) or keep the default:
    each copy then gets its own run.

    Args:
        env: The environment to wrap.
        logdir: Folder of this run's event file; created when the first
            episode ends. None for ``runs/{env id}_{UTC time}``.
        alpha: Weight of the newest episode in the EMAs, in (0, 1] (the
            other gymscope wrappers' 0.1; lerax uses 0.9).
        window_size: Episodes spanned by the moving mean and std.
        info_keys: Keys of the final step's ``info`` to log as ``info/<key>``.
        flush_secs: Seconds between flushes of the event file to disk.

    Raises:
        gymnasium.error.DependencyNotInstalled: tensorboardX is missing
            (``pip install "gymscope[tensorboard]"``; from a clone
            ``uv sync --extra tensorboard``).
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
        alpha: float = 0.1,
        window_size: int = 100,
        info_keys: Sequence[str] = (),
        *,
        flush_secs: float = 10.0,
    ) -> None:
        alpha = check_alpha(alpha)
        window_size = check_window_size(window_size)
        keys = check_info_keys(info_keys)
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
        if not isinstance(env, gym.Env):  # before default_logdir reads env.spec
            raise ArgumentTypeError(
                f"env must be a gymnasium.Env, got {env!r} ({type(env).__name__}); "
                "wrap the result of gymnasium.make(...)"
            )
        folder = Path(logdir if logdir is not None else default_logdir(env))
        sink = TensorBoardSink(
            folder, flush_secs=flush_secs, unique=logdir is None, owner="TensorBoardWrapper"
        )
        import_tensorboardx()  # missing: say so now, not at the first episode end
        check_logdir(sink.planned)
        gym.utils.RecordConstructorArgs.__init__(
            self,
            # None stays None: a rebuilt env (gym.make(env.spec)) names its own run.
            logdir=None if logdir is None else os.fspath(logdir),
            alpha=alpha,
            window_size=window_size,
            info_keys=keys,
            flush_secs=sink.flush_secs,
        )
        super().__init__(env, sink, stats=StatsConfig(window_size, alpha), info_keys=keys)
        self._tensorboard = sink

    @property
    def tensorboard(self) -> TensorBoardSink:
        """The sink that writes the event file."""
        return self._tensorboard

    @property
    def logdir(self) -> Path:
        """The run's folder. With the default name it is settled when the first
        episode ends (a ``_2`` suffix if another run took the name)."""
        return self._tensorboard.logdir

    @property
    def episodes_logged(self) -> int:
        """Episodes written by this wrapper object (a pickled copy counts its own)."""
        return self._tensorboard.episodes_written

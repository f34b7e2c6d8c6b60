"""CurveRecorderWrapper: training curves (SVG + PNG) and a JSON history of a run.

A driver of :class:`~gymscope.sinks.curves.CurveSink`, which does the work
(and can be fed without an env, e.g. from a stored run).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium.core import ActType, ObsType

from gymscope.episode import StatsConfig, check_info_keys, check_window_size
from gymscope.sinks.curves import CHECKPOINT_FORMAT, HISTORY_FORMAT, CurveSink, load_checkpoint
from gymscope.wrappers.base import GymscopeWrapper

__all__ = [
    "CHECKPOINT_FORMAT",
    "HISTORY_FORMAT",
    "CurveRecorderWrapper",
    "load_checkpoint",
]

FloatArray = npt.NDArray[np.float64]


class CurveRecorderWrapper(
    GymscopeWrapper[ObsType, ActType],
    gym.utils.RecordConstructorArgs,
):
    """Records every episode's return, length and chosen metrics; draws the curves.

    Drives a :class:`~gymscope.sinks.curves.CurveSink` (:attr:`curves`), which
    keeps, per finished episode, the return, the length, the moving average
    of returns over ``window_size`` episodes, each captured ``info`` value
    (``info_keys``) and each value reported with ``log_metrics`` (its mean
    over the episode). :meth:`save` — also run by :meth:`close` and at
    interpreter exit — writes the sink's files into ``output_dir``:
    ``{prefix}_reward_curve``, ``{prefix}_length_curve`` and one
    ``{prefix}_{name}_curve`` per info key and metric (``.svg`` and ``.png``),
    and ``{prefix}_history.json``; every ``checkpoint_every`` episodes the new
    ones are appended to ``{prefix}_history_checkpoint.jsonl`` (read it with
    :func:`load_checkpoint`). The "Training curves" docs page describes the
    files.

    Each env copy needs its own files: in a vector env give every copy its
    own ``prefix`` (``prefix=f"env{i}"``) or ``output_dir``. A second open
    wrapper on the same files in one process is warned about. Pickling
    (``AsyncVectorEnv``, ``SubprocVecEnv``) copies the history so far and the
    paths, so a copy that goes on recording writes to the same files too.

    Args:
        env: The environment to wrap.
        output_dir: Folder for the files (see :class:`~gymscope.sinks.curves.CurveSink`).
        prefix: Start of every file name: letters, digits, ``_``, ``.``, ``-``.
        window_size: Episodes in the moving averages.
        checkpoint_every: Checkpoint every this many episodes; None for none.
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
        window_size = check_window_size(window_size)
        keys = check_info_keys(info_keys)
        spec = getattr(env, "spec", None)  # not an env: the base class says so
        sink = CurveSink(
            output_dir,
            prefix,
            window_size,
            checkpoint_every,
            keys,
            metrics,
            subject=spec.id if spec is not None else "",
        )
        gym.utils.RecordConstructorArgs.__init__(
            self,
            output_dir=os.fspath(output_dir),
            prefix=prefix,
            window_size=window_size,
            checkpoint_every=checkpoint_every,
            info_keys=keys,
            metrics="all" if metrics == "all" else check_info_keys(metrics, "metrics"),
        )
        super().__init__(env, sink, stats=StatsConfig(window_size, 0.1), info_keys=keys)
        self._curves = sink

    @property
    def curves(self) -> CurveSink:
        """The sink that keeps the history and writes the files."""
        return self._curves

    @property
    def output_dir(self) -> Path:
        """The folder the files are written to."""
        return self._curves.output_dir

    @property
    def prefix(self) -> str:
        """The start of every file name."""
        return self._curves.prefix

    @property
    def window_size(self) -> int:
        """Episodes in the moving averages."""
        return self._curves.window_size

    @property
    def episode_count(self) -> int:
        """Episodes recorded so far."""
        return self._curves.episode_count

    @property
    def history_path(self) -> Path:
        """``{output_dir}/{prefix}_history.json``."""
        return self._curves.history_path

    @property
    def checkpoint_path(self) -> Path:
        """``{output_dir}/{prefix}_history_checkpoint.jsonl``."""
        return self._curves.checkpoint_path

    @property
    def checkpoint_bytes(self) -> int:
        """Bytes written to the checkpoint file so far."""
        return self._curves.checkpoint_bytes

    @property
    def returns(self) -> FloatArray:
        """Return of every recorded episode (a read-only view)."""
        return self._curves.returns

    @property
    def lengths(self) -> npt.NDArray[np.int64]:
        """Length of every recorded episode (a read-only view)."""
        return self._curves.lengths

    @property
    def moving_averages(self) -> FloatArray:
        """Moving average of returns after each episode (a read-only view)."""
        return self._curves.moving_averages

    @property
    def info_series(self) -> dict[str, FloatArray]:
        """Captured info values by key, NaN where an episode had none."""
        return self._curves.info_series

    @property
    def metric_series(self) -> dict[str, FloatArray]:
        """Per-episode means of ``log_metrics`` values by name, NaN where missing."""
        return self._curves.metric_series

    def summary(self) -> dict[str, Any]:
        """See :meth:`CurveSink.summary <gymscope.sinks.curve_history.CurveHistory.summary>`."""
        return self._curves.summary()

    def checkpoint(self) -> int:
        """See :meth:`CurveSink.checkpoint <gymscope.sinks.curves.CurveSink.checkpoint>`."""
        return self._curves.checkpoint()

    def save(self) -> list[Path]:
        """Write the charts and the history now (see :meth:`CurveSink.save
        <gymscope.sinks.curves.CurveSink.save>`)."""
        return self._curves.save()

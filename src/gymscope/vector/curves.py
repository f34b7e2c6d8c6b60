"""The vector CurveRecorderWrapper: one CurveSink, so one set of curve files, per sub-env."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gymnasium.vector import VectorEnv

from gymscope.episode import StatsConfig, check_info_keys, check_window_size
from gymscope.sinks.curves import CurveSink, check_prefix
from gymscope.vector.base import VectorGymscopeWrapper, check_vector_env

__all__ = ["CurveRecorderWrapper", "sub_env_prefix"]


def sub_env_prefix(prefix: str, sub_env: int) -> str:
    """The file prefix of sub-env ``sub_env``'s curves: ``{prefix}_env{sub_env}``.

    >>> sub_env_prefix("training", 3)
    'training_env3'
    """
    return f"{prefix}_env{sub_env}"


class CurveRecorderWrapper(VectorGymscopeWrapper):
    """Training curves (SVG + PNG) and a JSON history of every sub-env of a vector env.

    The vector counterpart of :class:`gymscope.wrappers.curves.CurveRecorderWrapper`,
    built on :class:`~gymscope.vector.base.VectorGymscopeWrapper`: one
    :class:`~gymscope.sinks.curves.CurveSink` per sub-env, all in
    ``output_dir``, sub-env ``i``'s files named with the prefix
    ``{prefix}_env{i}`` (:func:`sub_env_prefix`): ``training_env0_history.json``,
    ``training_env0_reward_curve.svg``, ... Each sub-env's files are those a
    single-env ``CurveRecorderWrapper(env_i, output_dir, prefix=f"{prefix}_env{i}")``
    on that sub-env alone would write: its own episodes, numbered from 0,
    its own moving averages and checkpoints.

    Values reported with ``log_metrics(step=..., ...)`` belong to the
    learner, not to a sub-env (see :mod:`gymscope.vector.base`); the curves
    of vector wrappers chart returns, lengths and captured ``info_keys``.

    :meth:`save` — also run by :meth:`close` and at interpreter exit —
    writes every sub-env's files.

    Args:
        env: The vector environment to wrap.
        output_dir: Folder of every sub-env's files (created if missing).
        prefix: Start of the file names: letters, digits, ``_``, ``.``,
            ``-``; sub-env ``i`` uses ``{prefix}_env{i}``.
        window_size: Episodes in the moving averages (per sub-env).
        checkpoint_every: Checkpoint every this many episodes of a sub-env;
            None for none.
        info_keys: Keys of the sub-env's final-step ``info`` to record and chart.

    Raises:
        TypeError, ValueError: a bad argument (before any file is written).
        OSError: ``output_dir`` cannot be created or written to.

    Example:
        >>> import tempfile, gymnasium as gym, numpy as np
        >>> from pathlib import Path
        >>> from gymscope.vector import CurveRecorderWrapper
        >>> folder = tempfile.TemporaryDirectory()
        >>> envs = CurveRecorderWrapper(gym.make_vec("CartPole-v1", num_envs=2), folder.name)
        >>> _ = envs.reset(seed=0)
        >>> for _ in range(40):
        ...     _ = envs.step(np.zeros(2, dtype=np.int64))
        >>> envs.close()
        >>> envs.episode_counts
        (4, 4)
        >>> sorted(p.name for p in Path(folder.name).glob("*_history.json"))
        ['training_env0_history.json', 'training_env1_history.json']
        >>> folder.cleanup()
    """

    def __init__(
        self,
        env: VectorEnv[Any, Any, Any],
        output_dir: str | os.PathLike[str],
        prefix: str = "training",
        window_size: int = 100,
        checkpoint_every: int | None = 100,
        info_keys: Sequence[str] = (),
    ) -> None:
        check_vector_env(env)
        window_size = check_window_size(window_size)
        keys = check_info_keys(info_keys)
        check_prefix(prefix)
        spec = getattr(env, "spec", None)
        subject = str(getattr(spec, "id", "") or "")
        sinks = [
            CurveSink(
                output_dir,
                sub_env_prefix(prefix, i),
                window_size,
                checkpoint_every,
                keys,
                (),
                subject=f"{subject} env{i}" if subject else f"env{i}",
            )
            for i in range(env.num_envs)
        ]
        self._curve_sinks = tuple(sinks)
        self._prefix = prefix
        super().__init__(
            env, [[sink] for sink in sinks], stats=StatsConfig(window_size, 0.1), info_keys=keys
        )

    @property
    def curves(self) -> tuple[CurveSink, ...]:
        """The sink of each sub-env (history, files)."""
        return self._curve_sinks

    @property
    def output_dir(self) -> Path:
        """The folder the files are written to."""
        return self._curve_sinks[0].output_dir

    @property
    def prefix(self) -> str:
        """The prefix given; sub-env ``i``'s files start with ``{prefix}_env{i}``."""
        return self._prefix

    @property
    def window_size(self) -> int:
        """Episodes in the moving averages."""
        return self._curve_sinks[0].window_size

    @property
    def episode_counts(self) -> tuple[int, ...]:
        """Episodes recorded so far, per sub-env."""
        return tuple(sink.episode_count for sink in self._curve_sinks)

    @property
    def history_paths(self) -> tuple[Path, ...]:
        """``{output_dir}/{prefix}_env{i}_history.json`` of each sub-env."""
        return tuple(sink.history_path for sink in self._curve_sinks)

    def summary(self) -> list[dict[str, Any]]:
        """Each sub-env's :meth:`CurveSink.summary
        <gymscope.sinks.curve_history.CurveHistory.summary>`."""
        return [sink.summary() for sink in self._curve_sinks]

    def checkpoint(self) -> int:
        """Append every sub-env's new episodes to its checkpoint now; episodes written."""
        self._check_process()
        return sum(sink.checkpoint() for sink in self._curve_sinks)

    def save(self) -> list[Path]:
        """Write every sub-env's charts and history now; the paths written."""
        self._check_process()
        return [path for sink in self._curve_sinks for path in sink.save()]

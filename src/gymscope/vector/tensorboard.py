"""The vector TensorBoardWrapper: one TensorBoardSink, so one TensorBoard run, per sub-env."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gymnasium.vector import VectorEnv

from gymscope._files import safe_name
from gymscope.episode import StatsConfig, check_alpha, check_info_keys, check_window_size
from gymscope.errors import ArgumentTypeError, InvalidArgumentError
from gymscope.sinks.tensorboard import TensorBoardSink, check_logdir, import_tensorboardx
from gymscope.vector.base import VectorGymscopeWrapper, check_vector_env

__all__ = ["TensorBoardWrapper", "default_vector_logdir", "sub_env_logdir"]


def sub_env_logdir(logdir: str | os.PathLike[str], sub_env: int) -> Path:
    """The folder of sub-env ``sub_env``'s events: ``{logdir}/env{sub_env}``.

    >>> sub_env_logdir("runs/ppo", 2).as_posix()
    'runs/ppo/env2'
    """
    return Path(logdir) / f"env{sub_env}"


def default_vector_logdir(env: VectorEnv[Any, Any, Any]) -> Path:
    """``runs/{env id}_{UTC time}`` (CleanRL's layout), made file-safe, with
    ``_2``, ``_3``, ... appended while a folder of that name exists.

    >>> import gymnasium as gym
    >>> default_vector_logdir(gym.make_vec("CartPole-v1")).as_posix()  # doctest: +ELLIPSIS
    'runs/CartPole-v1_20...-...'
    """
    spec = getattr(env, "spec", None)
    env_id = str(getattr(spec, "id", "") or type(env.unwrapped).__name__)
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    base = Path("runs") / f"{safe_name(env_id, 'env')}_{stamp}"
    folder, k = base, 1
    while folder.exists():
        k += 1
        folder = base.with_name(f"{base.name}_{k}")
    return folder


class TensorBoardWrapper(VectorGymscopeWrapper):
    """Logs every finished episode of every sub-env to TensorBoard, one run per sub-env.

    The vector counterpart of :class:`gymscope.wrappers.tensorboard.TensorBoardWrapper`,
    built on :class:`~gymscope.vector.base.VectorGymscopeWrapper`: one
    :class:`~gymscope.sinks.tensorboard.TensorBoardSink` per sub-env, sub-env
    ``i`` writing to ``{logdir}/env{i}`` (:func:`sub_env_logdir`).
    ``tensorboard --logdir {logdir}`` shows one run per sub-env (``env0``,
    ``env1``, ...), each with the tags of the single-env wrapper
    (``episode/return``, ``episode/return_ema_{alpha}``, ...,
    ``info/<key>``) at the steps of that sub-env: an episode's step is the
    sub-env's total steps when it ended (``record.total_steps``), exactly
    what a single-env ``TensorBoardWrapper`` on that sub-env alone logs.

    Training metrics, ``envs.log_metrics(step=..., name=value)``, belong to
    the learner: they are logged once, as ``train/<name>`` in ``env0``'s
    run (sub-env 0's sink, see :mod:`gymscope.vector.base`), at the step
    given (usually the global step: ``num_envs`` times the vector steps).

    Without ``logdir`` the run goes to ``runs/{env id}_{UTC time}``
    (:func:`default_vector_logdir`; ``_2``, ``_3``, ... if that folder
    exists when the wrapper is built). Resuming a run (a database wrapper in
    the stack) continues each sub-env's steps in the folder its worker wrote
    to before: the given ``logdir``'s, or, by default, the ``runs/*/env{i}``
    folder marked with the run and worker (``.gymscope-run.json``), so
    TensorBoard shows one run per sub-env. Nothing is created before a
    sub-env's first episode ends; failing writes, flushing, pickling and
    ``close()`` are as for the single-env wrapper.

    Args:
        env: The vector environment to wrap.
        logdir: Folder of the run; sub-env ``i``'s events go to
            ``{logdir}/env{i}``. None for ``runs/{env id}_{UTC time}``.
        alpha: Weight of the newest episode in the EMAs, in (0, 1].
        window_size: Episodes spanned by the moving mean and std (per sub-env).
        info_keys: Keys of the sub-env's final-step ``info`` to log as ``info/<key>``.
        flush_secs: Seconds between flushes of each event file to disk.

    Raises:
        gymnasium.error.DependencyNotInstalled: tensorboardX is missing
            (``pip install "gymscope[tensorboard]"``).
        TypeError, ValueError: a bad argument.
        NotADirectoryError, PermissionError: ``logdir`` cannot become a
            writable folder (checked without creating anything).

    Example:
        >>> import gymnasium as gym, numpy as np, tempfile
        >>> from gymscope.vector import TensorBoardWrapper
        >>> folder = tempfile.TemporaryDirectory()
        >>> envs = gym.make_vec("CartPole-v1", num_envs=2)
        >>> envs = TensorBoardWrapper(envs, f"{folder.name}/cartpole")
        >>> _ = envs.reset(seed=0)
        >>> for _ in range(20):
        ...     _ = envs.step(np.zeros(2, dtype=np.int64))
        >>> envs.close()
        >>> sorted(p.name for p in envs.logdir.iterdir())
        ['env0', 'env1']
        >>> envs.episodes_logged
        (2, 2)
        >>> folder.cleanup()
    """

    def __init__(
        self,
        env: VectorEnv[Any, Any, Any],
        logdir: str | os.PathLike[str] | None = None,
        alpha: float = 0.1,
        window_size: int = 100,
        info_keys: Sequence[str] = (),
        *,
        flush_secs: float = 10.0,
    ) -> None:
        check_vector_env(env)
        alpha = check_alpha(alpha)
        window_size = check_window_size(window_size)
        keys = check_info_keys(info_keys)
        if logdir is not None:
            if not isinstance(logdir, (str, os.PathLike)) or isinstance(os.fspath(logdir), bytes):
                raise ArgumentTypeError(
                    f"logdir must be a str or path, or None for runs/{{env id}}_{{time}}; "
                    f"got {logdir!r} ({type(logdir).__name__})"
                )
            if not os.fspath(logdir).strip():
                raise InvalidArgumentError(
                    f"logdir must be a folder path, or None for runs/{{env id}}_{{time}}; "
                    f"got {logdir!r}"
                )
        root = Path(logdir if logdir is not None else default_vector_logdir(env))
        root = root.expanduser().absolute()
        import_tensorboardx()  # missing: say so now, not at the first episode end
        check_logdir(root)
        sinks = [
            TensorBoardSink(
                sub_env_logdir(root, i),
                flush_secs=flush_secs,
                # a default folder is new at each start: a resumed sub-env goes
                # back to the runs/*/env{i} folder its worker wrote to before
                resume_from=None if logdir is not None else (root.parent, f"*/env{i}"),
                owner="TensorBoardWrapper",
            )
            for i in range(env.num_envs)
        ]
        self._tb_sinks = tuple(sinks)
        super().__init__(
            env,
            [[sink] for sink in sinks],
            stats=StatsConfig(window_size, alpha),
            info_keys=keys,
        )

    @property
    def tensorboard(self) -> tuple[TensorBoardSink, ...]:
        """The sink of each sub-env."""
        return self._tb_sinks

    @property
    def logdir(self) -> Path:
        """The run's folder, parent of the sub-envs' ``env{i}`` folders (of
        sub-env 0's, once a resumed run went back to its earlier folder)."""
        return self._tb_sinks[0].logdir.parent

    @property
    def logdirs(self) -> tuple[Path, ...]:
        """Each sub-env's folder, ``{logdir}/env{i}``."""
        return tuple(sink.logdir for sink in self._tb_sinks)

    @property
    def episodes_logged(self) -> tuple[int, ...]:
        """Episodes written per sub-env by this wrapper object."""
        return tuple(sink.episodes_written for sink in self._tb_sinks)

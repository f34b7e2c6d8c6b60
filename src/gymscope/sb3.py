"""Stable-Baselines3's logger, writing into a run of the metrics database.

SB3 records its training values (``train/value_loss``, ``rollout/ep_rew_mean``,
``time/fps``...) in its logger and dumps them every ``log_interval`` to the
logger's output formats (stdout, CSV, TensorBoard...). One line makes the
run's database one of them::

    model.set_logger(gymscope.sb3.logger("metrics.db", "ppo-cartpole"))

Every numeric value SB3 dumps is then stored at the step SB3 dumps it at
(``num_timesteps``) in table ``gymscope_metric`` (worker NULL: the
trainer), next to the episodes the env-side wrappers write into the same
run. See :class:`RunOutputFormat` for what is stored and how exclusions work.

Stable-Baselines3 is not a dependency of gymscope (it brings PyTorch):
``pip install stable-baselines3``. This module imports without it; its
functions raise :class:`gymnasium.error.DependencyNotInstalled` with that
command when it is missing.

:class:`VecMonitor` (from :mod:`gymscope.sb3_vec`, loaded on first use) is
the env side: SB3's ``VecMonitor`` on a ``VecEnv`` in the main process,
feeding gymscope's statistics and sinks (one database engine for all the
sub-envs).
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any

import gymnasium as gym

from gymscope._checks import check_str, check_strings
from gymscope.errors import InvalidArgumentError
from gymscope.run_logger import RunLogger

if TYPE_CHECKING:
    from gymscope.metrics.db import DbTarget
    from gymscope.sb3_vec import VecMonitor

__all__ = [
    "FORMAT_NAME",
    "SB3_FORMATS",
    "RunOutputFormat",
    "VecMonitor",
    "import_sb3_logger",
    "logger",
]


def __getattr__(name: str) -> Any:
    if name == "VecMonitor":
        from gymscope.sb3_vec import VecMonitor

        globals()[name] = VecMonitor
        return VecMonitor
    raise AttributeError(f"module 'gymscope.sb3' has no attribute {name!r}")


#: The name of gymscope's output format: ``logger.record(key, value,
#: exclude="gymscope")`` keeps a value out of the database, as
#: ``exclude="csv"`` keeps it out of SB3's CSV file.
FORMAT_NAME = "gymscope"

#: SB3's own output formats (``stable_baselines3.common.logger.make_output_format``).
SB3_FORMATS = ("stdout", "log", "json", "csv", "tensorboard")

_INSTALL = (
    "pip install stable-baselines3 (it brings PyTorch, which is why gymscope does not depend on it)"
)


def import_sb3_logger() -> ModuleType:
    """``stable_baselines3.common.logger``, or how to install it.

    Raises:
        gymnasium.error.DependencyNotInstalled: Stable-Baselines3 is missing.
    """
    try:
        from stable_baselines3.common import logger as sb3_logger
    except ImportError as exc:
        raise gym.error.DependencyNotInstalled(
            f"gymscope.sb3 needs Stable-Baselines3, which is not installed ({exc}): {_INSTALL}"
        ) from exc
    module: ModuleType = sb3_logger
    return module


# One subclass of (gymscope class, SB3 base) per pair, made on first use.
_WITH_SB3_BASE: dict[tuple[type, type], type] = {}


def with_sb3_base(cls: type, base: type) -> type:
    """``cls`` if it derives from ``base`` already, else a subclass of both
    (made once, named like ``cls``): how gymscope's SB3 classes are real SB3
    ``KVWriter``/``VecEnvWrapper`` instances without importing SB3 (and torch)
    when ``gymscope.sb3`` is imported."""
    if issubclass(cls, base):
        return cls
    made = _WITH_SB3_BASE.get((cls, base))
    if made is None:
        made = _WITH_SB3_BASE[(cls, base)] = type(
            cls.__name__,
            (cls, base),
            {"__module__": cls.__module__, "__qualname__": cls.__qualname__},
        )
    return made


class RunOutputFormat:
    """An SB3 output format (a ``KVWriter``) that stores each dump into a run.

    Instances are ``stable_baselines3.common.logger.KVWriter`` instances
    (the class derives from it when first instantiated, so that importing
    :mod:`gymscope.sb3` does not import SB3): pass one to SB3's ``Logger``
    beside its own formats, or let :func:`logger` do it.

    At each ``Logger.dump(step)`` (:meth:`write`):

    - numbers (Python, NumPy; a bool as 0 or 1) are stored at ``step`` under
      their key, e.g. ``train/value_loss``; NaN as NULL;
    - strings are stored as texts (``gymscope_text``, tag = key), as SB3's
      TensorBoard format does with ``add_text``;
    - an ``HParam``'s ``hparam_dict`` goes to the run's config history (its
      ``metric_dict`` only names metrics: nothing to store);
    - anything else (arrays, tensors, ``Video``, ``Figure``, ``Image``) is
      left out, with one warning per key;
    - a key recorded with ``exclude`` naming this format (``"gymscope"`` by
      default) is skipped, with SB3's own test (``format_name in excluded``);
      every other key is stored, including those SB3 keeps out of TensorBoard
      (``time/total_timesteps``, ``train/n_updates``...).

    Every dump is committed at once (``flush_secs=0``) unless told otherwise:
    when ``learn()`` returns, the database holds everything SB3 dumped. A
    database that fails does not stop training (see :class:`~gymscope.RunLogger`).

    Args:
        db: SQLite file path, SQLAlchemy URL or Engine.
        experiment: Name of the run (joined if it exists); None generates one.
        env_id: Env id stored with a new run.
        agent: Agent name stored with a new run (``"PPO"``).
        config: JSON-serialisable configuration stored with the run.
        flush_secs: Seconds between commits (0: each dump commits).
        format_name: The name ``exclude=`` refers to.

    Raises:
        gymnasium.error.DependencyNotInstalled: Stable-Baselines3 is missing.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> RunOutputFormat:
        return super().__new__(with_sb3_base(cls, import_sb3_logger().KVWriter))

    def __init__(
        self,
        db: DbTarget = "metrics.db",
        experiment: str | None = None,
        *,
        env_id: str = "",
        agent: str = "",
        config: object = None,
        flush_secs: float = 0.0,
        format_name: str = FORMAT_NAME,
    ) -> None:
        self.format_name = check_str(
            "format_name", format_name, what="a non-empty name for exclude= to refer to"
        )
        self.run = RunLogger(
            db, experiment, env_id=env_id, agent=agent, config=config, flush_secs=flush_secs
        )
        """The :class:`~gymscope.RunLogger` the values go through (log more with it)."""
        self._warned: set[str] = set()

    @property
    def experiment_name(self) -> str:
        """Name of the run in the database."""
        return self.run.experiment_name

    def write(
        self,
        key_values: dict[str, Any],
        key_excluded: dict[str, tuple[str, ...]],
        step: int = 0,
    ) -> None:
        """Store one dump of SB3's logger at ``step`` (see the class docs)."""
        import numpy as np

        sb3_logger = import_sb3_logger()
        numbers: dict[str, float] = {}
        for key, value in key_values.items():
            excluded = key_excluded.get(key)
            if excluded is not None and self.format_name in excluded:
                continue
            if value is None:
                continue
            if isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
                numbers[key] = float(value)
            elif isinstance(value, str):
                self.run.log_text(key, value, step)
            elif isinstance(value, sb3_logger.HParam):
                self.run.log_config(dict(value.hparam_dict))
            elif key not in self._warned:
                self._warned.add(key)
                warnings.warn(
                    f"SB3 logged {key!r} as a {type(value).__name__}: the {self.format_name!r} "
                    "output stores numbers, strings (as texts) and HParam (as the config) only "
                    f"and leaves it out; record it with exclude={self.format_name!r} to silence "
                    "this",
                    stacklevel=2,
                )
        if numbers:
            self.run.log_metrics(step, numbers)

    def close(self) -> None:
        """Commit what is buffered and close the database connection (idempotent).

        Raises:
            EpisodeWriteError: values could still not be written.
        """
        self.run.close()


def logger(
    db: DbTarget = "metrics.db",
    experiment: str | None = None,
    *,
    formats: Sequence[str] = ("stdout",),
    folder: str | os.PathLike[str] | None = None,
    log_suffix: str = "",
    env_id: str = "",
    agent: str = "",
    config: object = None,
    flush_secs: float = 0.0,
) -> Any:
    """An SB3 ``Logger`` with SB3's own ``formats`` plus the run's database.

    ``model.set_logger(gymscope.sb3.logger("metrics.db", "ppo-cartpole"))``
    keeps SB3's console output and stores every dumped value in the run
    (see :class:`RunOutputFormat`).

    Args:
        db: SQLite file path, SQLAlchemy URL or Engine of the metrics database.
        experiment: Name of the run (the same as the env-side wrappers' to
            put everything in one run); None generates one.
        formats: SB3's formats to keep: any of ``"stdout"``, ``"log"``,
            ``"json"``, ``"csv"``, ``"tensorboard"`` (may be empty).
        folder: Where SB3's file formats write. None: as SB3's ``configure``
            (``$SB3_LOGDIR``, else a fresh ``SB3-<time>`` folder in the
            temporary directory); no folder at all is made for ``("stdout",)``.
        log_suffix: Suffix of SB3's file names (``progress{suffix}.csv``).
        env_id: Env id stored with a new run.
        agent: Agent name stored with a new run (``"PPO"``).
        config: JSON-serialisable configuration stored with the run.
        flush_secs: Seconds between database commits (0: each dump commits).

    Returns:
        A ``stable_baselines3.common.logger.Logger``; gymscope's format is
        the last of its ``output_formats``.

    Raises:
        gymnasium.error.DependencyNotInstalled: Stable-Baselines3 is missing.
        InvalidArgumentError: a format SB3 does not know.
    """
    sb3_logger = import_sb3_logger()
    names = check_strings(
        "formats", formats, kind="a sequence of SB3 format names", example="({value!r},)"
    )
    for name in names:
        if name not in SB3_FORMATS:
            also = "; the gymscope output is always added" if name == FORMAT_NAME else ""
            raise InvalidArgumentError(
                f"formats holds {name!r}, which is not one of SB3's formats {SB3_FORMATS}{also}"
            )
    ours = RunOutputFormat(
        db, experiment, env_id=env_id, agent=agent, config=config, flush_secs=flush_secs
    )
    folder_path: str | None = None if folder is None else os.fspath(folder)
    if folder_path is None and any(name != "stdout" for name in names):
        configured = sb3_logger.configure(None, [])  # SB3's default folder, made as SB3 does
        folder_path = configured.get_dir()
    outputs: list[Any] = []
    try:
        for name in dict.fromkeys(names):
            if name == "stdout" and folder_path is None:
                outputs.append(sb3_logger.HumanOutputFormat(sys.stdout))
            else:
                assert folder_path is not None
                outputs.append(sb3_logger.make_output_format(name, folder_path, log_suffix))
    except BaseException:
        for output in outputs:
            output.close()
        ours.close()
        raise
    made = sb3_logger.Logger(folder=folder_path, output_formats=[*outputs, ours])
    if names and names != ["stdout"]:
        made.log(f"Logging to {folder_path}")
    return made

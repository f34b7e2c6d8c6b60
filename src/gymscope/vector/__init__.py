"""gymscope for vector envs, natively: one wrapper around the whole batch.

:class:`EpisodeStatsWrapper` wraps a :class:`gymnasium.vector.VectorEnv`
(``gym.make_vec(...)``, ``SyncVectorEnv``, ``AsyncVectorEnv``) and writes
gymnasium's vector ``info["episode"]`` layout plus gymscope's moving
statistics, with NumPy accounting whose per-step cost does not grow with
``num_envs`` in Python. Each sub-env is a worker of the run (worker =
sub-env index); :class:`SQLiteLoggerWrapper` writes each sub-env's episodes
to the metrics database as its worker, :class:`CurveRecorderWrapper` and
:class:`TensorBoardWrapper` give each sub-env its own curve files and
TensorBoard run, :class:`AnalyticsWrapper` hands the whole run to one
experiment-tracker run (W&B, MLflow, Comet), :class:`ScheduledRecordVideo` films chosen sub-envs (or
all of them tiled). :class:`VectorGymscopeWrapper` is the
driver the vector wrappers are built on, :class:`VectorEpisodeTracker` the
accounting.

Nothing here is imported by ``import gymscope``; the names below load on
first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_LAZY: dict[str, str] = {
    "AnalyticsWrapper": "gymscope.vector.analytics",
    "CurveRecorderWrapper": "gymscope.vector.curves",
    "EpisodeEnds": "gymscope.vector.tracker",
    "EpisodeStatsWrapper": "gymscope.vector.stats",
    "SQLiteLoggerWrapper": "gymscope.vector.sqlite_logger",
    "ScheduledRecordVideo": "gymscope.vector.video",
    "TensorBoardWrapper": "gymscope.vector.tensorboard",
    "VectorEpisodeTracker": "gymscope.vector.tracker",
    "VectorGymscopeWrapper": "gymscope.vector.base",
    "find_vector_tracker": "gymscope.vector.base",
    "sub_env_info": "gymscope.vector.tracker",
}

__all__ = [
    "AnalyticsWrapper",
    "CurveRecorderWrapper",
    "EpisodeEnds",
    "EpisodeStatsWrapper",
    "SQLiteLoggerWrapper",
    "ScheduledRecordVideo",
    "TensorBoardWrapper",
    "VectorEpisodeTracker",
    "VectorGymscopeWrapper",
    "find_vector_tracker",
    "sub_env_info",
]

if TYPE_CHECKING:
    from gymscope.vector.analytics import AnalyticsWrapper
    from gymscope.vector.base import VectorGymscopeWrapper, find_vector_tracker
    from gymscope.vector.curves import CurveRecorderWrapper
    from gymscope.vector.sqlite_logger import SQLiteLoggerWrapper
    from gymscope.vector.stats import EpisodeStatsWrapper
    from gymscope.vector.tensorboard import TensorBoardWrapper
    from gymscope.vector.tracker import EpisodeEnds, VectorEpisodeTracker, sub_env_info
    from gymscope.vector.video import ScheduledRecordVideo


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gymscope.vector' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

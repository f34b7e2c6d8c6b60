"""gymscope: stackable gymnasium wrappers that record what an environment did.

Wrap an env once and every framework that drives it gets episode statistics,
a metrics database, videos and training curves. Heavy dependencies (sqlmodel,
imageio-ffmpeg) are imported only when the wrapper that needs them is first used.

>>> import gymscope
>>> "EpisodeStatsWrapper" in gymscope.__all__
True
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gymscope._version import __version__

# name -> module that defines it; resolved on first attribute access (PEP 562)
_LAZY: dict[str, str] = {
    "EpisodeRecord": "gymscope.episode",
    "EpisodeTracker": "gymscope.episode",
    "NonFiniteRewardWarning": "gymscope.episode",
    "RollingStats": "gymscope.episode",
    "StatsConfig": "gymscope.episode",
    "EpisodeStatsWrapper": "gymscope.wrappers.stats",
    "StatsKeyClashError": "gymscope.errors",
    "GymscopeError": "gymscope.errors",
    "SQLiteLoggerWrapper": "gymscope.wrappers.sqlite_logger",
    "ScheduledRecordVideo": "gymscope.wrappers.video",
    "CurveRecorderWrapper": "gymscope.wrappers.curves",
    "TensorBoardWrapper": "gymscope.wrappers.tensorboard",
    "AnalyticsWrapper": "gymscope.wrappers.analytics",
    "plot_experiment": "gymscope.charts",
    "VideoEncoderError": "gymscope.errors",
    "GymscopeWrapper": "gymscope.wrappers.base",
    "SinkWrapper": "gymscope.wrappers.sinks",
    "RunInfo": "gymscope.episode",
    "EpisodeCaptureSchedule": "gymscope.schedule",
    "RecordState": "gymscope.state",
    "AnalyticsState": "gymscope.state",
    "RunLogger": "gymscope.run_logger",
    "SummaryWriter": "gymscope.integrations.summary_writer",
}
# Submodules reachable as attributes (``gymscope.sb3``), imported on first use.
_SUBMODULES = frozenset({"sb3"})

__all__ = [
    "AnalyticsState",
    "AnalyticsWrapper",
    "CurveRecorderWrapper",
    "EpisodeCaptureSchedule",
    "EpisodeRecord",
    "EpisodeStatsWrapper",
    "EpisodeTracker",
    "GymscopeError",
    "GymscopeWrapper",
    "NonFiniteRewardWarning",
    "RecordState",
    "RollingStats",
    "RunInfo",
    "RunLogger",
    "SQLiteLoggerWrapper",
    "ScheduledRecordVideo",
    "SinkWrapper",
    "StatsConfig",
    "StatsKeyClashError",
    "SummaryWriter",
    "TensorBoardWrapper",
    "VideoEncoderError",
    "__version__",
    "plot_experiment",
]

if TYPE_CHECKING:
    from gymscope.charts import plot_experiment
    from gymscope.episode import (
        EpisodeRecord,
        EpisodeTracker,
        NonFiniteRewardWarning,
        RollingStats,
        RunInfo,
        StatsConfig,
    )
    from gymscope.errors import GymscopeError, StatsKeyClashError, VideoEncoderError
    from gymscope.integrations.summary_writer import SummaryWriter
    from gymscope.run_logger import RunLogger
    from gymscope.schedule import EpisodeCaptureSchedule
    from gymscope.state import AnalyticsState, RecordState
    from gymscope.wrappers.analytics import AnalyticsWrapper
    from gymscope.wrappers.base import GymscopeWrapper
    from gymscope.wrappers.curves import CurveRecorderWrapper
    from gymscope.wrappers.sinks import SinkWrapper
    from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
    from gymscope.wrappers.stats import EpisodeStatsWrapper
    from gymscope.wrappers.tensorboard import TensorBoardWrapper
    from gymscope.wrappers.video import ScheduledRecordVideo


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f"gymscope.{name}")
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gymscope' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

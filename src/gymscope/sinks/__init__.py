"""Outputs behind one small interface: each sink takes EpisodeRecords.

:class:`EpisodeSink` is the protocol (``open``, ``on_episode``,
``on_metrics``, ``close``) and :class:`Sink` a base class with no-op
defaults. One class per output; each works without an env, fed live by a
wrapper or replayed from a stored run (:func:`gymscope.replay.stored_records`).
Sinks that need heavy packages import them when first used.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from gymscope.episode import RunInfo
from gymscope.sinks.base import EpisodeSink, Sink, replay_returns

_LAZY: dict[str, str] = {
    "CurveHistory": "gymscope.sinks.curve_history",
    "CurveSink": "gymscope.sinks.curves",
    "DatabaseSink": "gymscope.sinks.database",
    "EpisodeStatsSink": "gymscope.sinks.stats",
    "TensorBoardSink": "gymscope.sinks.tensorboard",
    "VideoSink": "gymscope.sinks.video",
}

__all__ = [
    "CurveHistory",
    "CurveSink",
    "DatabaseSink",
    "EpisodeSink",
    "EpisodeStatsSink",
    "RunInfo",
    "Sink",
    "TensorBoardSink",
    "VideoSink",
    "replay_returns",
]

if TYPE_CHECKING:
    from gymscope.sinks.curve_history import CurveHistory
    from gymscope.sinks.curves import CurveSink
    from gymscope.sinks.database import DatabaseSink
    from gymscope.sinks.stats import EpisodeStatsSink
    from gymscope.sinks.tensorboard import TensorBoardSink
    from gymscope.sinks.video import VideoSink


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'gymscope.sinks' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value

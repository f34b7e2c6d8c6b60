"""The agent and the env stack behind ``gymscope demo``.

A cross-entropy agent (:mod:`~gymscope.demo.agent`) trains a linear policy on
an env wrapped in gymscope's recording wrappers (:mod:`~gymscope.demo.stack`);
:mod:`~gymscope.demo.run` is the training loop, which reads every return from
``info["episode"]`` as a loop written for gymnasium's
``RecordEpisodeStatistics`` would, and :mod:`~gymscope.demo.summary` says what
was recorded and where.
"""

from __future__ import annotations

from gymscope.demo.agent import CrossEntropyAgent, LinearPolicy
from gymscope.demo.run import DemoResult, run_demo
from gymscope.demo.stack import (
    FALLBACK_MAX_EPISODE_STEPS,
    MOVING_WINDOW,
    STATS_KEY,
    DemoError,
    build_env,
    demo_paths,
    prepare_out_dir,
    video_schedule,
)
from gymscope.demo.summary import query_hint, render_summary

__all__ = [
    "FALLBACK_MAX_EPISODE_STEPS",
    "MOVING_WINDOW",
    "STATS_KEY",
    "CrossEntropyAgent",
    "DemoError",
    "DemoResult",
    "LinearPolicy",
    "build_env",
    "demo_paths",
    "prepare_out_dir",
    "query_hint",
    "render_summary",
    "run_demo",
    "video_schedule",
]

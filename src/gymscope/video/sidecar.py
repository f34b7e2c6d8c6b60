"""The JSON sidecar written next to every video: what the video shows.

``{video file name}.json`` is a versioned record (``"schema":
"gymscope-video/2"``). ``run`` is the join key to the metrics database:
``{"experiment": ..., "worker": ...}`` of the stack's
:class:`~gymscope.episode.RunInfo` when the sidecar is written (each null when
unknown, e.g. without a database wrapper in the stack). The other keys:

- ``video``, ``format``: file name of the video, ``"mp4"`` or ``"gif"``;
- ``trigger``: ``"episode"``, ``"step"`` or ``"manual"``;
- ``episode``: RecordVideo's episode counter when the video started (the
  number in an episode video's name: it counts ``reset()`` calls);
- ``step``: index of the first step the video covers;
- ``frames``, ``fps``: frames in the file, frames per second;
- ``width``, ``height``: size of the file; ``frame_width``,
  ``frame_height``: size of the rendered frames;
- ``end``: why the video ended: ``"episode_end"``, ``"video_length"``,
  ``"reset"``, ``"new_recording"``, ``"stop_recording"`` or ``"close"``;
- ``return``, ``length``, ``terminated``, ``truncated``, ``seed``: of the
  episode the video started in, null when it did not end during the video;
- ``episodes``: a summary of every EpisodeRecord that ended during the video
  (``index``, ``return``, ``length``, ``terminated``, ``truncated``,
  ``seed``, ``duration_s``, ``moving_mean``, ``nonfinite``).

Non-finite numbers are written as null, so the file is strict JSON.
Version 1 (gymscope 0.1 before the sink layer) had no ``schema`` and no
``run``; every other key is unchanged.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gymscope._checks import finite_or_none
from gymscope._files import atomic_write_text
from gymscope.episode import EpisodeRecord, RunInfo

__all__ = ["SCHEMA", "VideoFacts", "sidecar_record", "write_sidecar"]

#: The ``schema`` value of the sidecars this version writes.
SCHEMA = "gymscope-video/2"


@dataclass(frozen=True)
class VideoFacts:
    """What a sidecar says about the file itself."""

    path: str
    format: str
    frames: int
    fps: float
    size: tuple[int, int]  # of the file
    frame_size: tuple[int, int]  # of the rendered frames


def sidecar_record(
    video: VideoFacts,
    *,
    trigger: str,
    episode: int,
    step: int,
    end: str,
    episodes: Sequence[EpisodeRecord],
    first_index: int | None,
    run: RunInfo | None,
) -> dict[str, Any]:
    """The sidecar of ``video``, as a JSON-ready dict (see the module docstring).

    ``first_index`` is the index of the episode the video started in (None:
    the first of ``episodes``).

    >>> from gymscope.sinks.base import replay_returns
    >>> records = list(replay_returns([3.0]))
    >>> facts = VideoFacts("v/a.mp4", "mp4", 2, 30, (16, 16), (8, 8))
    >>> data = sidecar_record(facts, trigger="manual", episode=0, step=0, end="close",
    ...                       episodes=records, first_index=0, run=RunInfo("exp", 2))
    >>> data["schema"], data["run"], data["video"], data["return"]
    ('gymscope-video/2', {'experiment': 'exp', 'worker': 2}, 'a.mp4', 3.0)
    """
    if first_index is None and episodes:
        first_index = episodes[0].index
    first = next((r for r in episodes if r.index == first_index), None)
    return {
        "schema": SCHEMA,
        "run": {
            "experiment": None if run is None else run.experiment,
            "worker": None if run is None else run.worker,
        },
        "video": os.path.basename(video.path),
        "format": video.format,
        "trigger": trigger,
        "episode": episode,
        "step": step,
        "frames": video.frames,
        "fps": video.fps,
        "width": video.size[0],
        "height": video.size[1],
        "frame_width": video.frame_size[0],
        "frame_height": video.frame_size[1],
        "end": end,
        "return": None if first is None else finite_or_none(first.episode_return),
        "length": None if first is None else first.length,
        "terminated": None if first is None else first.terminated,
        "truncated": None if first is None else first.truncated,
        "seed": None if first is None else first.seed,
        "episodes": [_episode_summary(r) for r in episodes],
    }


def _episode_summary(record: EpisodeRecord) -> dict[str, Any]:
    return {
        "index": record.index,
        "return": finite_or_none(record.episode_return),
        "length": record.length,
        "terminated": record.terminated,
        "truncated": record.truncated,
        "seed": record.seed,
        "duration_s": round(record.duration_s, 6),
        "moving_mean": finite_or_none(record.moving_mean),
        "nonfinite": record.nonfinite,
    }


def write_sidecar(video_path: str, payload: dict[str, Any]) -> Path:
    """Write ``payload`` atomically to ``{video_path}.json``; the sidecar's path."""
    path = Path(video_path + ".json")
    atomic_write_text(path, json.dumps(payload, indent=2, allow_nan=False) + "\n")
    return path

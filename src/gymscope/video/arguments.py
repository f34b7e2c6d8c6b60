"""RecordVideo's arguments, checked: env, triggers, lengths, fps, names, RecordState.

Every check raises before anything is created, with a message that names the
argument, the value and the fix.
"""

from __future__ import annotations

import math
import os
import warnings
from collections.abc import Callable
from typing import Any, cast

import gymnasium as gym
import numpy as np

from gymscope._checks import check_int, check_str
from gymscope._files import name_max
from gymscope.errors import ArgumentTypeError, InvalidArgumentError
from gymscope.schedule import EpisodeCaptureSchedule
from gymscope.state import RecordState

__all__ = [
    "Trigger",
    "check_env",
    "check_lengths",
    "check_name_length",
    "check_trigger",
    "check_triggers",
    "resolve_fps",
    "safe_name",
    "state_arguments",
    "warn_existing",
]

#: RecordVideo's trigger: episode or step index -> start a video?
Trigger = Callable[[int], bool]

# Render modes that cannot give an RGB image (depth maps are float distances).
_NON_IMAGE_MODES = (None, "human", "ansi", "depth_array", "depth_array_list")
# Characters a file name built from name_prefix may not contain: path
# separators (they would leave video_folder), control characters, and what
# Windows refuses, so that a folder of videos can be copied anywhere.
_UNSAFE_NAME_CHARS = frozenset('/\\:*?"<>|') | frozenset(map(chr, range(32))) | {"\x7f"}
#: The highest frame rate accepted: what players and the MP4/GIF containers
#: take (a GIF stores frame delays in 1/100 s; ffmpeg refuses absurd rates).
MAX_FPS = 1000
# Longest file name gymscope builds from a video name, beyond the name itself:
# the sidecar's temporary file ".{name}.{fmt}.json.{pid}.{8 hex}.tmp" (a pid
# of at most 10 digits), longer than the video's ".{name}.{fmt}.{8 hex}.part".
# Plus the ".attempt-{k}" a resumed run adds to a name an earlier attempt took
# (k < 10,000, see VideoSink.free_name).
_NAME_OVERHEAD = (
    len(".") + len(".mp4.json.") + 10 + len(".") + 8 + len(".tmp") + len(".attempt-") + 4
)
# The longest counter in a name: episode or step index (a 64-bit integer).
_INDEX_DIGITS = 19


def check_env(env: object) -> None:
    """Refuse anything but an env whose render mode gives images, naming the fix."""
    if not isinstance(env, gym.Env):
        raise ArgumentTypeError(
            f"env must be a gymnasium.Env, got {env!r} ({type(env).__name__}); "
            'wrap the result of gymnasium.make(..., render_mode="rgb_array")'
        )
    render_mode = env.render_mode
    if render_mode in _NON_IMAGE_MODES:
        modes = env.metadata.get("render_modes", [])
        hint = "" if "rgb_array" in modes else f" (this env offers {modes!r})"
        raise InvalidArgumentError(
            f"ScheduledRecordVideo needs an env that renders images, but its render_mode "
            f'is {render_mode!r}; create it with render_mode="rgb_array", e.g. '
            f'gym.make(env_id, render_mode="rgb_array"){hint}'
        )


def check_trigger(name: str, trigger: object, example: str) -> Trigger | None:
    """``trigger`` if it is callable or None."""
    if trigger is not None and not callable(trigger):
        raise ArgumentTypeError(
            f"{name} must be a callable int -> bool or None, got {trigger!r} "
            f"({type(trigger).__name__}); e.g. {name}={example}"
        )
    return cast("Trigger | None", trigger)


def resolve_fps(fps: object, metadata: dict[str, Any]) -> float:
    """The fps argument, else ``metadata["render_fps"]``, else 30."""
    if fps is not None:
        return check_int(
            "fps",
            fps,
            1,
            f"pass a whole number of frames per second up to {MAX_FPS}, or None",
            maximum=MAX_FPS,
        )
    render_fps = metadata.get("render_fps")
    if render_fps is None:
        return 30
    if (
        isinstance(render_fps, bool)
        or not isinstance(render_fps, (int, float, np.integer, np.floating))
        or not math.isfinite(float(render_fps))
        or render_fps <= 0
        or render_fps > MAX_FPS
    ):
        raise InvalidArgumentError(
            f"the env's metadata['render_fps'] is {render_fps!r}, not a frame rate a video "
            f"can have (0 < fps <= {MAX_FPS}); pass fps= explicitly, e.g. fps=30"
        )
    return int(render_fps) if float(render_fps).is_integer() else float(render_fps)


def safe_name(value: object, argument: str) -> str:
    """``value`` with every character that could leave the video folder replaced."""
    name = check_str(argument, value)
    if name.startswith("."):
        example = name.lstrip("./\\") or "rl-video"
        raise InvalidArgumentError(
            f"{argument} {name!r} starts with '.': the videos would be hidden files, which "
            f"file browsers and `gymscope report` skip; pass e.g. {argument}="
            f"{example!r}"
        )
    safe = "".join("_" if c in _UNSAFE_NAME_CHARS else c for c in name)
    if safe != name:
        warnings.warn(
            f"{argument} {name!r} contains path separators or characters not allowed in file "
            f"names; the file names start with {safe!r} instead, inside video_folder",
            UserWarning,
            stacklevel=3,
        )
    return safe


def check_name_length(folder: str, name: str, argument: str, *, counter: bool = True) -> None:
    """Refuse a video name whose longest derived file name ``folder`` cannot hold.

    ``counter``: ``name`` is a prefix, followed by ``-episode-{i}`` or
    ``-step-{t}`` (counted with the most digits an index can have).
    """
    longest = len(name.encode()) + _NAME_OVERHEAD
    if counter:
        longest += len("-episode-") + _INDEX_DIGITS
    limit = name_max(folder)
    if longest > limit:
        room = limit - (longest - len(name.encode()))
        raise InvalidArgumentError(
            f"{argument} is {len(name)} characters long ({name[:40]!r}...): the file names "
            f"built from it would be up to {longest} bytes, but {folder!r} takes names of "
            f"at most {limit}; use at most {max(room, 0)} characters"
        )


def check_triggers(
    episode_trigger: object, step_trigger: object, schedule: object
) -> tuple[Trigger | None, Trigger | None]:
    """The episode and step triggers, from the triggers or from ``schedule``."""
    episode = check_trigger(
        "episode_trigger", episode_trigger, "lambda episode: episode % 100 == 0"
    )
    step = check_trigger("step_trigger", step_trigger, "lambda step: step % 10_000 == 0")
    if schedule is None:
        return episode, step
    if not isinstance(schedule, EpisodeCaptureSchedule):
        raise ArgumentTypeError(
            f"schedule must be an EpisodeCaptureSchedule or None, got {schedule!r} "
            f"({type(schedule).__name__}); e.g. "
            "schedule=EpisodeCaptureSchedule.parse('every:100,last:1,total:500')"
        )
    if episode is not None or step is not None:
        raise InvalidArgumentError(
            "give either schedule= or episode_trigger=/step_trigger=, not both; the "
            "schedule's own triggers are schedule.episode_trigger and schedule.step_trigger"
        )
    if not (schedule.captures_episodes or schedule.captures_steps):
        raise InvalidArgumentError(
            f"schedule {str(schedule)!r} captures nothing; give it a rule (e.g. "
            "'every:100', or 'cubic' for RecordVideo's default episodes)"
        )
    return schedule.episode_trigger, schedule.step_trigger


def check_lengths(video_length: object, max_frames: object) -> tuple[int, int | None]:
    """``video_length`` and ``max_frames``, which exclude each other."""
    length = check_int(
        "video_length", video_length, 0, "0 records whole episodes, N > 0 exactly N frames"
    )
    if max_frames is None:
        return length, None
    cap = check_int("max_frames", max_frames, 1, "it caps the frames of a video; None for no cap")
    if length:
        raise InvalidArgumentError(
            f"video_length={length} and max_frames={cap} both limit the frames of a video; "
            "give one: video_length=N ends each video after N frames (it may span "
            "episodes), max_frames=N keeps whole-episode videos but only their first N frames"
        )
    return length, cap


def state_arguments(state: object, kwargs: dict[str, Any]) -> dict[str, Any]:
    """``state.to_wrapper()`` of a :class:`RecordState`, if ``kwargs`` repeat none of it."""
    if not isinstance(state, RecordState):
        raise ArgumentTypeError(
            f"state must be a gymscope.state.RecordState, got {state!r} ({type(state).__name__})"
        )
    settings = state.to_wrapper()
    clash = sorted(set(settings) & set(kwargs))
    if clash:
        raise ArgumentTypeError(
            f"from_state() takes {', '.join(clash)} from the RecordState; do not pass "
            "them again (build another RecordState to change them)"
        )
    return settings


def warn_existing(folder: str, prefix: str, fmt: str) -> None:
    """Warn when ``folder`` holds videos that names built from ``prefix`` would replace."""
    stems = (f"{prefix}-episode-", f"{prefix}-step-")
    suffix = f".{fmt}"
    with os.scandir(folder) as entries:
        clash = sorted(
            e.name for e in entries if e.name.startswith(stems) and e.name.endswith(suffix)
        )
    if clash:
        warnings.warn(
            f"{folder!r} already holds {len(clash)} video(s) named {prefix}-... (e.g. "
            f"{clash[0]!r}); videos with the same names will be replaced (unless the "
            "stack resumes its run: then new videos get new names). Pass another "
            "video_folder or name_prefix to keep them",
            UserWarning,
            stacklevel=3,
        )

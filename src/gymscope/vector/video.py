"""The vector ScheduledRecordVideo: videos of chosen sub-envs, or of all of them tiled.

One :class:`~gymscope.sinks.video.VideoSink` per video stream (a recorded
sub-env, or the tiled view), driven by the vector wrapper: the sink owns the
files (ffmpeg, atomic names, background finalisation, sidecars) exactly as
behind the single-env :class:`~gymscope.wrappers.video.ScheduledRecordVideo`.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
from gymnasium.core import ActType, ObsType
from gymnasium.vector import AutoresetMode, VectorEnv

from gymscope._checks import check_bool, check_int
from gymscope.episode import ResumeState, StatsConfig, check_window_size
from gymscope.errors import ArgumentTypeError, InvalidArgumentError, UsageError
from gymscope.schedule import EpisodeCaptureSchedule
from gymscope.sinks.video import VideoSink
from gymscope.vector.base import VectorGymscopeWrapper, check_vector_env
from gymscope.video.arguments import (
    Trigger,
    check_lengths,
    check_name_length,
    check_trigger,
    check_triggers,
    resolve_fps,
    safe_name,
    warn_existing,
)
from gymscope.video.frames import VideoFormat

__all__ = ["ScheduledRecordVideo", "grid_shape", "tile_frames"]


def grid_shape(n: int, height: int, width: int, aspect: tuple[int, int]) -> tuple[int, int]:
    """Rows and columns of the grid of ``n`` frames of ``height`` x ``width``
    whose width:height is nearest to ``aspect`` (gymnasium's vector
    RecordVideo layout: rows divide ``n``, ties go to fewer rows).

    >>> grid_shape(4, 100, 100, (1, 1)), grid_shape(4, 100, 100, (4, 1))
    ((2, 2), (1, 4))
    >>> grid_shape(3, 10, 10, (1, 1))  # 3 has no other divisor
    (1, 3)
    """
    target = aspect[0] / aspect[1]
    best, best_diff = (1, n), math.inf
    for rows in range(1, math.isqrt(n) + 1):
        if n % rows == 0:
            cols = n // rows
            diff = abs((cols * width) / (rows * height) - target)
            if diff < best_diff:
                best, best_diff = (rows, cols), diff
    return best


def tile_frames(frames: Sequence[Any], rows: int, cols: int) -> npt.NDArray[Any]:
    """One image of ``frames`` laid out row by row on a ``rows`` x ``cols`` grid.

    >>> tile_frames([np.zeros((2, 3, 3), np.uint8), np.ones((2, 3, 3), np.uint8)], 1, 2).shape
    (2, 6, 3)
    """
    shapes = {np.shape(f) for f in frames}
    if len(shapes) != 1 or len(next(iter(shapes))) != 3:
        raise InvalidArgumentError(
            f"the sub-envs' frames cannot be tiled: they must be images of one shape "
            f"(height, width, channels), got shapes {sorted(shapes)}"
        )
    stack = np.asarray(frames)
    n, h, w, c = stack.shape
    grid = np.zeros((rows * h, cols * w, c), dtype=stack.dtype)
    for k in range(n):
        r, col = divmod(k, cols)
        grid[r * h : (r + 1) * h, col * w : (col + 1) * w] = stack[k]
    return grid


class _Stream:
    """One video stream: the sub-env whose episodes drive it, the sub-envs it
    shows, and the RecordVideo counters of that sub-env."""

    def __init__(self, sub_env: int, shows: tuple[int, ...] | None, prefix: str, video: VideoSink):
        self.sub_env = sub_env
        self.shows = shows  # None: sub_env's own frames; else the sub-envs tiled
        self.prefix = prefix
        self.video = video
        self.episode_id = -1
        self.step_id = -1
        # its episode ended; the next step (NEXT_STEP) or a reset of it starts the next
        self.waiting = False
        self.grid: tuple[int, int] | None = None

    def on_resume(self, state: ResumeState) -> None:
        if self.episode_id == -1:
            self.episode_id = state.episodes - 1  # the reset adds one
            self.step_id = state.total_steps - 1


class ScheduledRecordVideo(VectorGymscopeWrapper):
    """Records videos of chosen sub-envs of a vector env, streaming frames to ffmpeg.

    The vector counterpart of :class:`gymscope.wrappers.video.ScheduledRecordVideo`,
    built on :class:`~gymscope.vector.base.VectorGymscopeWrapper`. Each
    sub-env of ``sub_envs`` (sub-env 0 by default) is filmed on its own, as
    a single-env ``ScheduledRecordVideo(env_i, video_folder,
    name_prefix=f"{name_prefix}-env{i}")`` on that sub-env alone would film
    it: ``episode_trigger(k)`` is asked at the start of the sub-env's
    ``k``-th episode, ``step_trigger(t)`` at its ``t``-th step (its own
    steps, from 0: an autoreset step starts an episode, it is not counted),
    whole-episode videos (``video_length=0``) are ``length + 1`` frames
    (the first frame, then one per step), files are
    ``{name_prefix}-env{i}-episode-{k}.mp4`` / ``-step-{t}.mp4``, each with
    its JSON sidecar naming the run and worker ``i`` and holding sub-env
    ``i``'s EpisodeRecords. Frames come from the vector env's ``render()``
    (one frame per sub-env with ``render_mode="rgb_array"``), called once
    per step while a video records.

    With ``tile=True`` one video shows the sub-envs of ``sub_envs``
    (``"all"`` for every one) side by side, laid out as gymnasium's vector
    ``RecordVideo`` does (the grid whose aspect ratio is nearest to
    ``video_aspect_ratio``); its triggers, counters and sidecar records are
    those of the first sub-env listed, and its files are named
    ``{name_prefix}-episode-{k}.mp4``, as gymnasium's.

    In ``AutoresetMode.SAME_STEP`` a sub-env is reset by the step that ends
    its episode, so the episode's final frame is never rendered (as with
    gymnasium's wrapper): a whole-episode video has ``length`` frames, a
    video of ``video_length`` frames spans later frames than the single-env
    wrapper's, and a step video started at an episode's last step (which
    would show only that final frame) is not saved.
    In ``AutoresetMode.DISABLED`` a sub-env's next episode starts at the
    ``reset()`` whose ``reset_mask`` includes it; steps in between are not
    filmed.

    Args:
        env: The vector environment, made with ``render_mode="rgb_array"``.
        video_folder: Folder of the videos; created if missing.
        episode_trigger: ``int -> bool``: start a video at this episode of the sub-env.
        step_trigger: ``int -> bool``: start a video at this step of the sub-env.
        video_length: Frames per video; 0 records whole episodes.
        name_prefix: Start of every file name (see above).
        fps: Frames per second; None takes ``metadata["render_fps"]``, else 30.
        disable_logger: False logs every saved video at INFO level.
        gc_trigger: ``int -> bool``: ``gc.collect()`` after a video of this
            episode of its sub-env is saved.
        sub_envs: Indices of the sub-envs to film, or ``"all"``.
        tile: Film the ``sub_envs`` in one tiled video instead of one each.
        video_aspect_ratio: Width:height the tiled grid comes nearest to.
        schedule: An :class:`~gymscope.schedule.EpisodeCaptureSchedule` used
            instead of ``episode_trigger``/``step_trigger``.
        format: ``"mp4"`` (H.264) or ``"gif"``.
        max_frames: Keep at most this many frames of each whole-episode video.
        scale: Resize factor applied by the encoder.
        sidecar: Write the JSON sidecar next to every video.
        window_size: Episodes spanned by the moving mean the sidecars report.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument is out of range (a sub-env index, a render
            mode that gives no images: the message names the fix).
        OSError: ``video_folder`` cannot be created or written to.

    Example:
        >>> import os, tempfile
        >>> import gymnasium as gym, numpy as np
        >>> from gymscope.vector import ScheduledRecordVideo
        >>> folder = tempfile.mkdtemp()
        >>> envs = gym.make_vec("CartPole-v1", num_envs=2, render_mode="rgb_array")
        >>> envs = ScheduledRecordVideo(
        ...     envs, folder, episode_trigger=lambda k: k == 0, sub_envs=[0, 1]
        ... )
        >>> _ = envs.reset(seed=0)
        >>> for _ in range(12):
        ...     _ = envs.step(np.zeros(2, dtype=np.int64))
        >>> envs.close()
        >>> sorted(name for name in os.listdir(folder) if name.endswith(".mp4"))
        ['rl-video-env0-episode-0.mp4', 'rl-video-env1-episode-0.mp4']
        >>> import shutil; shutil.rmtree(folder)
    """

    def __init__(
        self,
        env: VectorEnv[Any, Any, Any],
        video_folder: str | Path,
        episode_trigger: Trigger | None = None,
        step_trigger: Trigger | None = None,
        video_length: int = 0,
        name_prefix: str = "rl-video",
        fps: int | None = None,
        disable_logger: bool = True,
        gc_trigger: Trigger | None = None,
        *,
        sub_envs: Sequence[int] | Literal["all"] = (0,),
        tile: bool = False,
        video_aspect_ratio: tuple[int, int] = (1, 1),
        schedule: EpisodeCaptureSchedule | None = None,
        format: VideoFormat = "mp4",
        max_frames: int | None = None,
        scale: float = 1.0,
        sidecar: bool = True,
        window_size: int = 100,
    ) -> None:
        check_vector_env(env)
        _check_render_mode(env)
        n = env.num_envs
        indices = _check_sub_envs(sub_envs, n)
        tile = check_bool("tile", tile)
        aspect = _check_aspect(video_aspect_ratio)
        episode_trigger, step_trigger = check_triggers(episode_trigger, step_trigger, schedule)
        gc_trigger = check_trigger("gc_trigger", gc_trigger, "lambda episode: True")
        length, max_frames = check_lengths(video_length, max_frames)
        check_bool("disable_logger", disable_logger)
        check_window_size(window_size)
        frames_per_sec = resolve_fps(fps, env.metadata)
        prefix = safe_name(name_prefix, "name_prefix")
        plans: list[tuple[int, tuple[int, ...] | None, str]] = (
            [(indices[0], indices, prefix)]
            if tile
            else [(i, None, f"{prefix}-env{i}") for i in indices]
        )
        streams: list[_Stream] = []
        for sub_env, shows, stream_prefix in plans:
            video = VideoSink(
                video_folder,
                format=format,
                fps=frames_per_sec,
                scale=scale,
                max_frames=max_frames,
                sidecar=sidecar,
                log_saved=not disable_logger,
            )
            check_name_length(video.video_folder, stream_prefix, "name_prefix")
            streams.append(_Stream(sub_env, shows, stream_prefix, video))
        if episode_trigger is None and step_trigger is None:
            from gymnasium.utils.save_video import capped_cubic_video_schedule

            episode_trigger = capped_cubic_video_schedule
        groups: list[list[VideoSink]] = [[] for _ in range(n)]
        for stream in streams:
            groups[stream.sub_env].append(stream.video)
        super().__init__(env, groups, stats=StatsConfig(window_size=window_size))
        for stream in streams:
            self._gymscope_tracker.add_resume_listener(stream.sub_env, stream.on_resume)
            warn_existing(stream.video.video_folder, stream.prefix, format)
        self._streams = tuple(streams)
        self.episode_trigger = episode_trigger
        self.step_trigger = step_trigger
        self.gc_trigger = gc_trigger
        self.disable_logger = disable_logger
        self.video_folder = streams[0].video.video_folder
        self.frames_per_sec = frames_per_sec
        self.name_prefix = prefix
        self.video_length = length
        self.video_aspect_ratio = aspect
        self.schedule = schedule
        self.tile = tile
        self._length = length
        mode = self._gymscope_tracker.autoreset_mode
        self._next_step = mode is AutoresetMode.NEXT_STEP
        self._same_step = mode is AutoresetMode.SAME_STEP
        self._frames: Sequence[Any] | None = None

    # -- public state ----------------------------------------------------------------
    @property
    def sub_envs(self) -> tuple[int, ...]:
        """The sub-envs filmed (tiled: the sub-envs the video shows)."""
        shows = self._streams[0].shows
        return shows if shows is not None else tuple(s.sub_env for s in self._streams)

    @property
    def video_sinks(self) -> tuple[VideoSink, ...]:
        """The sink of each video stream: one per filmed sub-env, or the tiled one."""
        return tuple(stream.video for stream in self._streams)

    @property
    def recording(self) -> bool:
        """A video is being recorded."""
        return any(stream.video.recording for stream in self._streams)

    @property
    def episode_ids(self) -> tuple[int, ...]:
        """RecordVideo's ``episode_id`` of each stream (its driving sub-env's episode)."""
        return tuple(stream.episode_id for stream in self._streams)

    @property
    def step_ids(self) -> tuple[int, ...]:
        """RecordVideo's ``step_id`` of each stream (its driving sub-env's steps)."""
        return tuple(stream.step_id for stream in self._streams)

    @property
    def saved_videos(self) -> list[Path]:
        """Paths of the videos saved so far (those still being finalised in
        the background are missing until :meth:`flush` or :meth:`close` returns)."""
        return [path for stream in self._streams for path in stream.video.saved_videos]

    def flush(self) -> None:
        """Wait until every finished video and its sidecar are on disk."""
        self._check_process()
        for stream in self._streams:
            stream.video.flush()

    # -- manual recording (gymnasium's RecordVideo API) -------------------------------
    def start_recording(self, video_name: str) -> None:
        """Start a video named ``video_name`` on every stream now, finishing the
        ones running first; frames come from the next step on.

        With one stream (one filmed sub-env, or ``tile=True``) the file is
        ``{video_name}.{format}``; with several, each filmed sub-env's is
        ``{video_name}-env{i}.{format}``. Stop them with :meth:`stop_recording`
        (or ``video_length``, when set).
        """
        name = safe_name(video_name, "video_name")
        several = len(self._streams) > 1
        names = [f"{name}-env{s.sub_env}" if several else name for s in self._streams]
        for full in names:
            check_name_length(self.video_folder, full, "video_name", counter=False)
        counts = self._gymscope_tracker.episode_counts
        for stream, full in zip(self._streams, names, strict=True):
            # the stream's next step is step_id + 1, in its running episode
            self._start(stream, full, "manual", stream.step_id + 1, counts[stream.sub_env])

    def stop_recording(self) -> None:
        """Finish the running videos and save them.

        Raises:
            UsageError: no video is being recorded.
        """
        if not self.recording:
            raise UsageError(
                "stop_recording() was called, but no video is being recorded; check "
                "envs.recording first"
            )
        for stream in self._streams:
            if stream.video.recording:
                self._finish(stream, "stop_recording")

    # -- gymnasium API ---------------------------------------------------------------
    def step(self, actions: ActType) -> tuple[ObsType, Any, Any, Any, dict[str, Any]]:
        """Step the vector env; film the sub-envs that are recorded."""
        result = super().step(actions)
        terminations, truncations = result[2], result[3]
        self._frames = None
        counts = self._gymscope_tracker.episode_counts
        step_trigger = self.step_trigger
        length = self._length
        try:
            for stream in self._streams:
                i = stream.sub_env
                if stream.waiting:
                    if self._next_step:  # the autoreset step: sub-env i starts its next episode
                        stream.waiting = False
                        self._begin(stream)
                    continue  # DISABLED: stepped while waiting for its reset, not filmed
                ended = bool(terminations[i] or truncations[i])
                stream.step_id += 1
                if step_trigger is not None and step_trigger(stream.step_id):
                    first = counts[i] - 1 if ended else counts[i]
                    name = f"{stream.prefix}-step-{stream.step_id}"
                    self._start(stream, name, "step", stream.step_id, first)
                video = stream.video
                if ended and self._same_step:
                    # already reset: the frame rendered now is the next episode's first
                    if video.recording and not length:
                        if video.frames:
                            self._finish(stream, "episode_end")
                        else:  # a step video started on a final frame that is never rendered
                            video.abort()
                    self._begin(stream)
                    continue
                if video.recording:
                    self._capture(stream)
                    if length and video.frames >= length:
                        self._finish(stream, "video_length")
                    elif ended and not length:
                        self._finish(stream, "episode_end")
                if ended:
                    stream.waiting = True
        finally:
            self._frames = None
        return result

    def reset(
        self,
        *,
        seed: int | list[int | None] | None = None,
        options: dict[str, Any] | None = None,
    ) -> tuple[ObsType, dict[str, Any]]:
        """Reset the vector env (or the sub-envs of ``options["reset_mask"]``);
        start the videos their triggers ask for."""
        mask = None if options is None else options.get("reset_mask")
        obs, info = super().reset(seed=seed, options=options)
        started = None if mask is None else np.asarray(mask, dtype=np.bool_)
        self._frames = None
        try:
            for stream in self._streams:
                if started is None or bool(started[stream.sub_env]):
                    stream.waiting = False
                    self._begin(stream)
        finally:
            self._frames = None
        return obs, info

    # -- recording -------------------------------------------------------------------
    def _begin(self, stream: _Stream) -> None:
        """Stream's sub-env starts an episode (RecordVideo's reset())."""
        stream.episode_id += 1
        video = stream.video
        length = self._length
        if video.recording and not length:
            self._finish(stream, "reset")  # an episode abandoned before it ended
        trigger = self.episode_trigger
        if trigger is not None and trigger(stream.episode_id):
            name = f"{stream.prefix}-episode-{stream.episode_id}"
            first = self._gymscope_tracker.episode_counts[stream.sub_env]
            self._start(stream, name, "episode", stream.step_id + 1, first)
        if video.recording:
            self._capture(stream)
            if length and video.frames >= length:
                self._finish(stream, "video_length")

    def _start(self, stream: _Stream, name: str, trigger: str, step: int, first: int) -> None:
        video = stream.video
        stops = video.recording
        try:
            video.start(
                name, trigger=trigger, episode=stream.episode_id, step=step, first_episode=first
            )
        finally:
            if stops:
                self._after_save(stream)

    def _capture(self, stream: _Stream) -> None:
        video = stream.video
        if video.full:  # max_frames reached: not rendered
            return
        frames = self._frames
        if frames is None:
            try:
                frames = self._frames = self._render()
            except UsageError:
                video.abort()  # no frame will come: the video is dropped, not saved empty
                raise
        if stream.shows is None:
            video.add_frame(frames[stream.sub_env])
            return
        shown = [frames[i] for i in stream.shows]
        if stream.grid is None:
            height, width = np.shape(shown[0])[:2]
            stream.grid = grid_shape(len(shown), height, width, self.video_aspect_ratio)
        video.add_frame(tile_frames(shown, *stream.grid))

    def _render(self) -> Sequence[Any]:
        out = self.env.render()
        if not isinstance(out, (list, tuple)) or len(out) != self.num_envs:
            raise UsageError(
                f"{self.env}.render() returned {type(out).__name__}"
                f"{f' of length {len(out)}' if isinstance(out, (list, tuple)) else ''}; "
                f"ScheduledRecordVideo needs one frame per sub-env ({self.num_envs}), as "
                'vector envs made with render_mode="rgb_array" give'
            )
        return out

    def _finish(self, stream: _Stream, reason: str) -> None:
        try:
            stream.video.stop(reason)
        finally:
            self._after_save(stream)

    def _after_save(self, stream: _Stream) -> None:
        gc_trigger = self.gc_trigger
        if gc_trigger is not None and gc_trigger(stream.episode_id):
            gc.collect()


def _check_render_mode(env: VectorEnv[Any, Any, Any]) -> None:
    mode = env.render_mode
    if mode != "rgb_array":
        raise InvalidArgumentError(
            f"ScheduledRecordVideo needs a vector env that renders one image per sub-env, but "
            f'its render_mode is {mode!r}; create it with render_mode="rgb_array", e.g. '
            f'gym.make_vec(env_id, num_envs=4, render_mode="rgb_array")'
        )


def _check_sub_envs(sub_envs: object, n: int) -> tuple[int, ...]:
    if sub_envs == "all":
        return tuple(range(n))
    if isinstance(sub_envs, (str, bytes)) or not isinstance(sub_envs, Sequence):
        raise ArgumentTypeError(
            f"sub_envs must be a sequence of sub-env indices or 'all', got {sub_envs!r} "
            f"({type(sub_envs).__name__}); e.g. sub_envs=[0] or sub_envs=[0, {n - 1}]"
        )
    if not sub_envs:
        raise InvalidArgumentError(
            "sub_envs is empty: name at least one sub-env to film, e.g. sub_envs=[0]"
        )
    indices = tuple(
        check_int("sub_envs[k]", i, 0, f"a sub-env index below num_envs={n}", maximum=n - 1)
        for i in sub_envs
    )
    if len(set(indices)) != len(indices):
        raise InvalidArgumentError(
            f"sub_envs {list(indices)} names a sub-env twice; name each one once"
        )
    return indices


def _check_aspect(aspect: object) -> tuple[int, int]:
    if (
        not isinstance(aspect, tuple)
        or len(aspect) != 2
        or not all(isinstance(a, int) and not isinstance(a, bool) and a > 0 for a in aspect)
    ):
        raise InvalidArgumentError(
            f"video_aspect_ratio must be two positive ints (width, height), got {aspect!r}; "
            "e.g. video_aspect_ratio=(16, 9)"
        )
    return aspect[0], aspect[1]

"""ScheduledRecordVideo: a drop-in for gymnasium's RecordVideo that streams frames.

The wrapper is the driver: it keeps RecordVideo's triggers, counters and
attributes, renders the env where RecordVideo does and hands the frames to a
:class:`~gymscope.sinks.video.VideoSink`, which owns the files (ffmpeg
processes, background finalisation, sidecars). See the "Videos" docs page.
"""

from __future__ import annotations

import gc
import logging
import math
import os
import warnings
from pathlib import Path
from typing import Any, SupportsFloat, cast

import gymnasium as gym
from gymnasium.core import ActType, ObsType, RenderFrame
from gymnasium.wrappers import RecordVideo

from gymscope.episode import ResumeState, StatsConfig, check_window_size
from gymscope.errors import ArgumentTypeError, UsageError, VideoEncoderError
from gymscope.schedule import EpisodeCaptureSchedule
from gymscope.sinks.video import VideoSink
from gymscope.state import RecordState
from gymscope.video.arguments import (
    Trigger,
    check_env,
    check_lengths,
    check_name_length,
    check_trigger,
    check_triggers,
    resolve_fps,
    safe_name,
    state_arguments,
    warn_existing,
)
from gymscope.video.frames import VideoFormat
from gymscope.wrappers.base import GymscopeWrapper

__all__ = ["ScheduledRecordVideo", "VideoEncoderError", "VideoFormat"]

logger = logging.getLogger(__name__)


# RecordVideo unsubscripted: its type parameters changed between gymnasium
# versions (none of its own in 1.0 and 1.1, three with RenderFrame in 1.2, two
# since 1.3), so any subscript fails at import on some version gymscope supports.
# GymscopeWrapper[ObsType, ActType] makes this class generic all the same.
class ScheduledRecordVideo(
    GymscopeWrapper[ObsType, ActType],
    RecordVideo,
):
    """Records videos of chosen episodes, streaming frames to ffmpeg as they come.

    A drop-in for :class:`gymnasium.wrappers.RecordVideo`: the same arguments
    with the same meanings, the same file names (``{name_prefix}-episode-{i}.mp4``
    for a video started by ``episode_trigger(i)``, ``{name_prefix}-step-{t}.mp4``
    for one started by ``step_trigger(t)``) and the same triggers, including
    the default schedule (episodes 0, 1, 8, 27, ..., 729, then every 1000th)
    when no trigger is given. ``isinstance(env, RecordVideo)`` holds.

    The differences, all deliberate:

    - frames are streamed to ffmpeg, never kept (``recorded_frames`` stays
      empty; :attr:`frames_recorded` counts the frames of the running video);
    - a whole-episode video is finalised on the step that terminates or
      truncates the episode, the encoder closed on a background thread
      (``close()`` and :meth:`flush` wait for it);
    - ``video_length=N`` gives exactly N frames, not N + 1;
    - files appear under their final name only once complete, each with a
      JSON sidecar ``{video file name}.json`` (``sidecar=False`` turns it
      off; its keys are listed in :mod:`gymscope.video.sidecar`), which names
      the stack's run and worker and holds the stack's EpisodeRecords;
    - ``gc_trigger`` defaults to None: no frames are held for ``gc.collect()``
      to free; ``disable_logger=False`` logs each saved video at INFO level;
    - a ``step()`` after an episode ended without ``reset()`` is warned
      about once and carries on as with RecordVideo, but those steps belong
      to no episode (a ``step()`` before the first ``reset()`` is an error);
    - a process killed mid-video leaves a hidden ``.{name}.{random}.part``
      file, never a file under a final name; ``close()``, run at exit and
      when the wrapper is garbage-collected unclosed, saves the running video;
    - when the stack resumes its run (a database wrapper in the stack, see
      the "Resuming a run" docs page), ``episode_id`` and ``step_id``
      continue from the restored episode index and step count, so
      ``episode_trigger(i)`` sees the run's episode indices and the names
      continue; an existing file is then never replaced: a video whose name
      is taken is saved as ``{name}.attempt-{k}.{format}`` (``k`` = 2, 3, ...).

    Args:
        env: The environment; its ``render_mode`` must give images
            (``"rgb_array"`` or ``"rgb_array_list"``).
        video_folder: Folder of the videos; created if missing.
        episode_trigger: ``int -> bool``: start a video at this episode.
        step_trigger: ``int -> bool``: start a video at this step (counted
            over all episodes, from 0).
        video_length: Frames per video; 0 records whole episodes. A video of
            N > 0 frames may span several episodes, as with RecordVideo.
        name_prefix: Start of every file name; characters that could leave
            ``video_folder`` (``/``, ``\\``, ...) are replaced by ``_``.
        fps: Frames per second of the file; None takes the env's
            ``metadata["render_fps"]``, else 30.
        disable_logger: False logs every saved video at INFO level.
        gc_trigger: ``int -> bool``: call ``gc.collect()`` after the video
            of this episode is saved.
        schedule: An :class:`~gymscope.schedule.EpisodeCaptureSchedule` used
            instead of ``episode_trigger``/``step_trigger``.
        format: ``"mp4"`` (H.264) or ``"gif"``.
        max_frames: Keep at most this many frames of each whole-episode video
            (later frames are not even rendered); None for no cap.
        scale: Resize factor applied by the encoder, e.g. 0.5.
        sidecar: Write the JSON sidecar next to every video.
        window_size: Episodes spanned by the moving mean the sidecar reports.

    Raises:
        TypeError: An argument has the wrong type.
        ValueError: An argument is out of range, or the env's render mode
            gives no image (the message names the fix).
        OSError: ``video_folder`` cannot be created or written to.

    Example:
        >>> import json, os, tempfile
        >>> import gymnasium as gym
        >>> from gymscope.wrappers.video import ScheduledRecordVideo
        >>> folder = tempfile.mkdtemp()
        >>> env = gym.make("CartPole-v1", render_mode="rgb_array")
        >>> env = ScheduledRecordVideo(env, folder, episode_trigger=lambda i: i == 0)
        >>> _ = env.reset(seed=1)
        >>> done = False
        >>> while not done:
        ...     _, _, terminated, truncated, _ = env.step(1)
        ...     done = terminated or truncated
        >>> env.close()
        >>> sorted(os.listdir(folder))
        ['rl-video-episode-0.mp4', 'rl-video-episode-0.mp4.json']
        >>> with open(os.path.join(folder, "rl-video-episode-0.mp4.json")) as f:
        ...     sidecar = json.load(f)
        >>> sidecar["return"], sidecar["length"], sidecar["frames"], sidecar["seed"]
        (9.0, 9, 10, 1)

        Bad input is refused before anything is recorded:

        >>> ScheduledRecordVideo(gym.make("CartPole-v1"), folder)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        gymscope.errors.InvalidArgumentError: ScheduledRecordVideo needs an env that renders ...
        >>> ScheduledRecordVideo(env, folder, video_length=-5)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
            ...
        gymscope.errors.InvalidArgumentError: video_length must be an int >= 0, got -5; ...
        >>> import shutil; shutil.rmtree(folder)
    """

    def __init__(
        self,
        env: gym.Env[ObsType, ActType],
        video_folder: str | os.PathLike[str],
        episode_trigger: Trigger | None = None,
        step_trigger: Trigger | None = None,
        video_length: int = 0,
        name_prefix: str = "rl-video",
        fps: int | None = None,
        disable_logger: bool = True,
        gc_trigger: Trigger | None = None,
        *,
        schedule: EpisodeCaptureSchedule | None = None,
        format: VideoFormat = "mp4",
        max_frames: int | None = None,
        scale: float = 1.0,
        sidecar: bool = True,
        window_size: int = 100,
    ) -> None:
        # Everything is checked before the wrapper joins the stack, so a
        # refused wrapper leaves no listener behind on the env's tracker.
        check_env(env)
        triggers = check_triggers(episode_trigger, step_trigger, schedule)
        gc_trigger = check_trigger("gc_trigger", gc_trigger, "lambda episode: True")
        length, max_frames = check_lengths(video_length, max_frames)
        if not isinstance(disable_logger, bool):
            raise ArgumentTypeError(f"disable_logger must be a bool, got {disable_logger!r}")
        check_window_size(window_size)
        frames_per_sec = resolve_fps(fps, env.metadata)
        prefix = safe_name(name_prefix, "name_prefix")
        if isinstance(video_folder, (str, os.PathLike)):  # before the folder is created
            check_name_length(os.path.abspath(os.fspath(video_folder)), prefix, "name_prefix")
        video = VideoSink(
            video_folder,
            format=format,
            fps=frames_per_sec,
            scale=scale,
            max_frames=max_frames,
            sidecar=sidecar,
            log_saved=not disable_logger,
        )
        check_name_length(video.video_folder, prefix, "name_prefix")
        gym.utils.RecordConstructorArgs.__init__(
            self,
            video_folder=video_folder,
            episode_trigger=episode_trigger,
            step_trigger=step_trigger,
            video_length=video_length,
            name_prefix=name_prefix,
            fps=fps,
            disable_logger=disable_logger,
            gc_trigger=gc_trigger,
            schedule=schedule,
            format=format,
            max_frames=max_frames,
            scale=scale,
            sidecar=sidecar,
            window_size=window_size,
        )
        # RecordVideo.__init__ is not called: it needs moviepy (not a gymscope
        # dependency), warns about any existing folder and would bind the
        # wrapper a second time. Its attributes are set here, same names and meanings.
        GymscopeWrapper.__init__(self, env, video, stats=StatsConfig(window_size=window_size))
        self._gymscope_tracker.add_resume_listener(self._on_resume)
        self._video = video
        episode_trigger, step_trigger = triggers
        if episode_trigger is None and step_trigger is None:
            from gymnasium.utils.save_video import capped_cubic_video_schedule

            episode_trigger = capped_cubic_video_schedule
        self.episode_trigger = episode_trigger
        self.step_trigger = step_trigger
        self.disable_logger = disable_logger
        self.gc_trigger = gc_trigger
        self.video_folder = video.video_folder
        self.frames_per_sec = cast("int", frames_per_sec)
        self.name_prefix = prefix
        # RecordVideo's convention: infinity means "whole episodes".
        self.video_length = cast("int", length if length else math.inf)
        self.recorded_frames = []
        self.render_history = []
        self.step_id = -1
        self.episode_id = -1
        self.schedule = schedule
        self._length = length
        self._warned_outside = False
        warn_existing(video.video_folder, prefix, format)

    def __del__(self) -> None:
        # RecordVideo.__del__ warns of frames never saved; none are held here
        # (close() and the finalizer save the running video). Before gymnasium
        # 1.4 it also read recorded_frames unguarded, which raised, unraisably,
        # after a constructor that failed before setting it.
        pass

    @classmethod
    def from_state(
        cls,
        env: gym.Env[ObsType, ActType],
        state: RecordState,
        **kwargs: Any,
    ) -> ScheduledRecordVideo[ObsType, ActType]:
        """A wrapper recording what a velora-style :class:`RecordState` says.

        Built on ``state.to_wrapper()`` (folder and triggers); ``kwargs`` are
        the other arguments (``name_prefix``, ``format``, ``fps``, ...).

        >>> import shutil, tempfile
        >>> import gymnasium as gym
        >>> from gymscope import EpisodeCaptureSchedule, RecordState
        >>> from gymscope.wrappers.video import ScheduledRecordVideo
        >>> folder = tempfile.mkdtemp()
        >>> state = RecordState.from_schedule(folder, EpisodeCaptureSchedule(every_n_episodes=10))
        >>> env = ScheduledRecordVideo.from_state(
        ...     gym.make("CartPole-v1", render_mode="rgb_array"), state, name_prefix="cartpole"
        ... )
        >>> env.episode_trigger(20), env.episode_trigger(21), env.name_prefix
        (True, False, 'cartpole')
        >>> env.close(); shutil.rmtree(folder)
        """
        return cls(env, **state_arguments(state, kwargs), **kwargs)

    # -- public state ----------------------------------------------------------------
    @property
    def video_sink(self) -> VideoSink:
        """The sink that writes this wrapper's videos and sidecars."""
        return self._video

    @property
    def recording(self) -> bool:  # type: ignore[override]
        """A video is being recorded (RecordVideo's attribute, read-only here)."""
        return self._video.recording

    @property
    def _video_name(self) -> str | None:  # type: ignore[override]
        rec = self._video._rec
        return None if rec is None else rec.name

    @property
    def format(self) -> VideoFormat:
        """``"mp4"`` or ``"gif"``."""
        return self._video.format

    @property
    def max_frames(self) -> int | None:
        """Frames kept of each video at most (None: no cap)."""
        return self._video.max_frames

    @property
    def scale(self) -> float:
        """Resize factor of the encoder."""
        return self._video.scale

    @property
    def sidecar(self) -> bool:
        """Whether a JSON sidecar is written next to every video."""
        return self._video.sidecar

    @property
    def frames_recorded(self) -> int:
        """Frames written to the running video so far (0 when not recording)."""
        return self._video.frames

    @property
    def saved_videos(self) -> list[Path]:
        """Paths of the videos saved so far, in the order they were completed.

        Videos still being finalised in the background are missing until
        :meth:`flush` or :meth:`close` returns.
        """
        return self._video.saved_videos

    def flush(self) -> None:
        """Wait until every finished video and its sidecar are on disk (the
        running one goes on); re-raise a background error (:class:`VideoEncoderError`)."""
        self._video.flush()

    # -- gymnasium API ---------------------------------------------------------------
    def step(self, action: ActType) -> tuple[ObsType, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env, capture a frame when recording, finish a video that is done."""
        tracker = self._gymscope_tracker
        if self._gymscope_owner:
            if tracker._running:
                obs, reward, terminated, truncated, info = self.env.step(action)
                tracker.account(reward, terminated, truncated, info)
            else:  # before reset() (an error), or after an episode ended without one
                self._step_outside_episode()
                obs, reward, terminated, truncated, info = self.env.step(action)
        else:
            obs, reward, terminated, truncated, info = self.env.step(action)
        self.step_id += 1
        ended = terminated or truncated
        step_trigger = self.step_trigger
        if step_trigger is not None and step_trigger(self.step_id):
            # A video starting on an episode's final frame starts in that episode.
            first = tracker.episode_count - 1 if ended else tracker.episode_count
            self._start(f"{self.name_prefix}-step-{self.step_id}", "step", self.step_id, first)
        video = self._video
        if video.recording:
            self._capture_frame()
            if self._length and video.frames >= self._length:
                self._finish("video_length")
            elif ended and not self._length:
                self._finish("episode_end")
        return obs, reward, terminated, truncated, info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        """Reset the env; start a video if ``episode_trigger`` says so."""
        obs, info = GymscopeWrapper.reset(self, seed=seed, options=options)
        self.episode_id += 1
        video = self._video
        if video.recording and not self._length:
            self._finish("reset")  # an episode abandoned before it ended
        episode_trigger = self.episode_trigger
        if episode_trigger is not None and episode_trigger(self.episode_id):
            name = f"{self.name_prefix}-episode-{self.episode_id}"
            self._start(name, "episode", self.step_id + 1, self._gymscope_tracker.episode_count)
        if video.recording:
            self._capture_frame()
            if self._length and video.frames >= self._length:
                self._finish("video_length")
        return obs, info

    def _on_resume(self, state: ResumeState) -> None:
        """The stack resumes its run (at the first ``reset()``, before the
        episode trigger is asked): the counters continue, so that
        ``episode_trigger`` and the names see the restored episode index and
        ``step_trigger`` the restored step count."""
        if self.episode_id == -1:
            self.episode_id = state.episodes - 1  # this reset() adds one
            self.step_id = state.total_steps - 1

    def render(self) -> RenderFrame | list[RenderFrame]:
        """The env's render output (frames are captured by step/reset).

        In ``*_list`` render modes, as with RecordVideo, the frames the
        recorder took from the env since the last call come first.
        """
        out = self.env.render()
        if self.render_history and isinstance(out, list):
            taken, self.render_history = self.render_history, []
            return taken + out
        return cast("RenderFrame | list[RenderFrame]", out)

    def _step_outside_episode(self) -> None:
        """A step() with no episode running: before the first reset() it is an
        error; after an episode ended it is warned about once and not
        recorded, and the env is stepped, as by gymnasium's RecordVideo."""
        tracker = self._gymscope_tracker
        if tracker._running is None:
            tracker.raise_not_running()
        if not self._warned_outside:
            self._warned_outside = True
            warnings.warn(
                f"step() was called after episode {tracker.episode_count - 1} ended "
                "(terminated or truncated) without reset(); the steps until the next "
                "reset() belong to no episode: their frames can still be recorded, but "
                "they are counted in no EpisodeRecord. Call env.reset() after an episode ends",
                UserWarning,
                stacklevel=3,
            )

    def start_recording(self, video_name: str) -> None:
        """Start a video named ``video_name`` now (finishing a running one first)."""
        name = safe_name(video_name, "video_name")
        check_name_length(self.video_folder, name, "video_name", counter=False)
        self._start(name, "manual", self.step_id + 1, self._gymscope_tracker.episode_count)

    def stop_recording(self) -> None:
        """Finish the running video and save it."""
        if not self.recording:
            raise UsageError(
                "stop_recording() was called, but no video is being recorded; check "
                "env.recording first"
            )
        self._finish("stop_recording")

    # -- recording -------------------------------------------------------------------
    def _start(self, name: str, trigger: str, start_step: int, first_episode: int) -> None:
        video = self._video
        stops = video.recording
        try:
            video.start(
                name, trigger=trigger, episode=self.episode_id, step=start_step,
                first_episode=first_episode,
            )  # fmt: skip
        finally:
            if stops:
                self._after_save()

    def _capture_frame(self) -> None:
        video = self._video
        if video.full:
            # max_frames reached: not even rendered, except in *_list modes,
            # where the env keeps every frame until render() takes them.
            if str(self.env.render_mode).endswith("_list"):
                frames = self.env.render()
                if isinstance(frames, list):
                    self.render_history += frames  # handed on by the next render()
            return
        frame = self.env.render()
        if isinstance(frame, list):  # rgb_array_list: the frames since the last call
            if not frame:
                logger.debug("render() returned no frame (rgb_array_list already emptied)")
                return
            self.render_history += frame  # handed on by the next render() call
            frame = frame[-1]
        video.add_frame(frame)

    def _finish(self, reason: str) -> None:
        try:
            self._video.stop(reason)
        finally:
            self._after_save()

    def _after_save(self) -> None:
        gc_trigger = self.gc_trigger
        if gc_trigger is not None and gc_trigger(self.episode_id):
            gc.collect()

"""ScheduledRecordVideo: a drop-in for gymnasium's RecordVideo that streams frames.

gymnasium's :class:`~gymnasium.wrappers.RecordVideo` keeps every frame of a
recording in memory and encodes it in one go when the next episode starts.
:class:`ScheduledRecordVideo` takes the same arguments, names its files the
same way and starts videos on the same triggers, but:

- each frame goes straight to an ``ffmpeg`` process (the binary shipped with
  ``imageio-ffmpeg``) as it is rendered, so the Python process holds one
  frame at a time whatever the episode length;
- the video is finalised when the episode terminates or truncates (not at the
  next ``reset()``), on ``close()`` and at interpreter exit; the encoder is
  closed on a background thread so the step that ends the episode does not
  wait for it;
- a file is written under a hidden temporary name and renamed
  (``os.replace``) once ffmpeg has finished it: a killed process never leaves
  a truncated video under a final name;
- ``video_length=N`` gives exactly N frames (``RecordVideo`` gives N + 1);
- ``format="gif"`` writes GIFs (with ``max_frames`` and ``scale`` to keep
  them small), and every video gets a JSON sidecar with the return, length
  and seed of its episode, taken from the stack's
  :class:`~gymscope.episode.EpisodeRecord`.

Frames must be ``uint8`` arrays of shape ``(H, W, 3)`` (RGB), ``(H, W, 4)``
(RGBA: MP4 files drop the alpha channel, GIFs make pixels with alpha below
128 transparent), ``(H, W)`` or ``(H, W, 1)`` (grayscale); anything else,
or a frame whose shape or dtype differs from the first one of its video, is
a ``TypeError``/``ValueError`` raised by the ``step()``/``reset()`` that
rendered it, and the unfinished video is deleted. MP4 frames whose width or height is odd or below
16 pixels are padded with black at the right and bottom (H.264 needs even
sizes, and players refuse tiny videos); the sidecar gives both sizes.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import uuid
import warnings
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Literal, SupportsFloat, cast

import gymnasium as gym
import numpy as np
from gymnasium.core import ActType, ObsType, RenderFrame
from gymnasium.error import DependencyNotInstalled
from gymnasium.wrappers import RecordVideo

from gymscope._checks import check_int, check_number
from gymscope.episode import EpisodeRecord, StatsConfig, check_window_size
from gymscope.errors import ArgumentTypeError, InvalidArgumentError, UsageError, VideoEncoderError
from gymscope.schedule import EpisodeCaptureSchedule
from gymscope.state import RecordState
from gymscope.wrappers.base import GymscopeWrapper

__all__ = ["ScheduledRecordVideo", "VideoEncoderError", "VideoFormat"]

logger = logging.getLogger(__name__)

#: The file formats ScheduledRecordVideo writes.
VideoFormat = Literal["mp4", "gif"]

Trigger = Callable[[int], bool]

_FORMATS = ("mp4", "gif")
# Render modes that cannot give an RGB image (depth maps are float distances).
_NON_IMAGE_MODES = (None, "human", "ansi", "depth_array", "depth_array_list")
_PIX_FMT = {1: "gray", 3: "rgb24", 4: "rgba"}
# H.264 in yuv420p needs even sizes; below 16 px some players refuse the file.
_MP4_MIN_SIDE = 16
# A GIF has one palette; ffmpeg builds it from the first frames, holding at
# most this many frames until it is ready (memory stays bounded).
_GIF_PALETTE_FRAMES = 16
# libx264 settings (see _Encoder): cheap per frame, constant quality.
_X264_OPTIONS = ("-preset", "ultrafast", "-tune", "zerolatency", "-crf", "23")
# Frames up to 1280x720 are encoded on one thread (see _Encoder).
_ONE_THREAD_PIXELS = 1280 * 720
# Background finalisations allowed at once before the next one waits.
_MAX_PENDING = 2
# Characters a file name built from name_prefix may not contain: path
# separators (they would leave video_folder), control characters, and what
# Windows refuses, so that a folder of videos can be copied anywhere.
_UNSAFE_NAME_CHARS = frozenset('/\\:*?"<>|') | frozenset(map(chr, range(32))) | {"\x7f"}
_F_SETPIPE_SZ = 1031  # Linux fcntl: resize a pipe's kernel buffer


# -- argument checks -----------------------------------------------------------------


def _check_trigger(name: str, trigger: object, example: str) -> Trigger | None:
    if trigger is not None and not callable(trigger):
        raise ArgumentTypeError(
            f"{name} must be a callable int -> bool or None, got {trigger!r} "
            f"({type(trigger).__name__}); e.g. {name}={example}"
        )
    return cast("Trigger | None", trigger)


def _check_scale(scale: object) -> float:
    return check_number(
        "scale",
        scale,
        low=0.0,
        high=8.0,
        what="a float in (0, 8] (1.0 keeps the rendered size, 0.5 halves width and height)",
    )


def _resolve_fps(fps: object, metadata: dict[str, Any]) -> float:
    """The fps argument, else ``metadata["render_fps"]``, else 30."""
    if fps is not None:
        return check_int("fps", fps, 1, "pass a whole number of frames per second, or None")
    render_fps = metadata.get("render_fps")
    if render_fps is None:
        return 30
    if (
        isinstance(render_fps, bool)
        or not isinstance(render_fps, (int, float, np.integer, np.floating))
        or not math.isfinite(float(render_fps))
        or render_fps <= 0
    ):
        raise InvalidArgumentError(
            f"the env's metadata['render_fps'] is {render_fps!r}, not a frame rate; "
            f"pass fps= explicitly, e.g. fps=30"
        )
    return int(render_fps) if float(render_fps).is_integer() else float(render_fps)


def _safe_name(value: object, argument: str) -> str:
    """``value`` with every character that could leave the video folder replaced."""
    if not isinstance(value, str):
        raise ArgumentTypeError(f"{argument} must be a str, got {value!r} ({type(value).__name__})")
    if not value.strip():
        raise InvalidArgumentError(f"{argument} must be a non-empty str, got {value!r}")
    safe = "".join("_" if c in _UNSAFE_NAME_CHARS else c for c in value)
    if safe != value:
        warnings.warn(
            f"{argument} {value!r} contains path separators or characters not allowed in file "
            f"names; the file names start with {safe!r} instead, inside video_folder",
            UserWarning,
            stacklevel=3,
        )
    return safe


def _prepare_folder(video_folder: object) -> str:
    """Create ``video_folder`` and prove it can hold new files; its absolute path."""
    if not isinstance(video_folder, (str, os.PathLike)):
        raise ArgumentTypeError(
            f"video_folder must be a str or a path, got {video_folder!r} "
            f"({type(video_folder).__name__})"
        )
    folder = os.path.abspath(os.fspath(video_folder))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".gymscope-write-test-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise type(exc)(
            exc.errno,
            f"video_folder {folder!r} cannot hold new files ({exc.strerror or exc}); "
            "pass a folder you can write to, e.g. video_folder='videos'",
        ) from exc
    return folder


@functools.lru_cache(maxsize=1)
def _ffmpeg() -> tuple[str, str]:
    """The ffmpeg executable and the video codec it offers for MP4 (cached)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - moviepy depends on it
        raise DependencyNotInstalled(
            "imageio-ffmpeg is not installed (it ships the ffmpeg binary videos are encoded "
            'with); run `pip install "imageio-ffmpeg>=0.5"`'
        ) from exc
    exe: str = imageio_ffmpeg.get_ffmpeg_exe()
    listing = subprocess.run(
        [exe, "-hide_banner", "-encoders"],
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    ).stdout
    encoders = {line.split()[1] for line in listing.splitlines() if len(line.split()) > 1}
    codec = "libx264" if "libx264" in encoders else "mpeg4"
    return exe, codec


# -- the encoder -----------------------------------------------------------------------


def _frame_layout(frame: object) -> tuple[int, int, int]:
    """``(height, width, channels)`` of a valid first frame, else a clear error."""
    if not isinstance(frame, np.ndarray):
        raise ArgumentTypeError(
            f"env.render() returned {type(frame).__name__}, not a NumPy image; "
            'make the env with render_mode="rgb_array"'
        )
    if frame.dtype != np.uint8:
        raise ArgumentTypeError(
            f"video frames must be uint8 images, env.render() returned dtype {frame.dtype} "
            f"(shape {frame.shape}); convert in the env, e.g. "
            "(np.clip(frame, 0, 1) * 255).astype(np.uint8)"
        )
    if frame.ndim == 2:
        (height, width), channels = frame.shape, 1
    elif frame.ndim == 3 and frame.shape[2] in _PIX_FMT:
        height, width, channels = frame.shape
    else:
        raise InvalidArgumentError(
            f"video frames must have shape (H, W, 3) (RGB), (H, W, 4) (RGBA) or (H, W) "
            f"(grayscale); env.render() returned shape {frame.shape}"
        )
    if height < 1 or width < 1:
        raise InvalidArgumentError(
            f"video frames must not be empty; env.render() returned {frame.shape}"
        )
    return height, width, channels


def _even_at_least(value: int, minimum: int) -> int:
    return max(minimum, value + value % 2)


# Encoders whose pipe to ffmpeg is open in this process (see _detach_after_fork).
_open_encoders: weakref.WeakSet[_Encoder] = weakref.WeakSet()


def _detach_after_fork() -> None:
    """In a forked child, point the inherited pipes to ffmpeg at /dev/null.

    A child created with fork() while a video is being recorded (an
    AsyncVectorEnv or a DataLoader worker started mid-recording) holds a copy
    of the pipe's write end: ffmpeg would not see the end of its input until
    that child exits, and finishing the video would wait for it. /dev/null is
    put in place of the copy, rather than closing it, so that the child's
    stale file object can never write into a file that reuses the number.
    """
    encoders = list(_open_encoders)
    _open_encoders.clear()
    if not encoders:
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for encoder in encoders:
            encoder._forked = True
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull, encoder._stdin.fileno())
    finally:
        os.close(devnull)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_detach_after_fork)


class _Encoder:
    """One ffmpeg process writing one video to a temporary file.

    ``write`` checks each frame against the first one and pipes it to ffmpeg;
    ``finish`` closes the pipe, waits for ffmpeg and renames the file to its
    final name; ``abort`` kills ffmpeg and deletes the temporary file.
    """

    def __init__(
        self,
        first_frame: Any,
        final_path: str,
        fmt: VideoFormat,
        fps: float,
        scale: float,
    ) -> None:
        height, width, channels = _frame_layout(first_frame)
        self.shape = first_frame.shape
        self.frame_size = (width, height)
        self.final_path = final_path
        folder, name = os.path.split(final_path)
        self.tmp_path = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.part")
        self.frames = 0
        self._forked = False  # set in a child forked while this encoder was open
        exe, codec = _ffmpeg()
        scaled = (max(1, round(width * scale)), max(1, round(height * scale)))
        filters = [] if scaled == (width, height) else [f"scale={scaled[0]}:{scaled[1]}:flags=area"]
        if fmt == "mp4":
            self.size = (
                _even_at_least(scaled[0], _MP4_MIN_SIDE),
                _even_at_least(scaled[1], _MP4_MIN_SIDE),
            )
            if self.size != scaled:
                filters.append(f"pad={self.size[0]}:{self.size[1]}:0:0:color=black")
            graph = ",".join(filters)
            if codec == "libx264":
                # Cheap per frame, since it shares the CPU with training:
                # ultrafast takes ~20% less CPU than veryfast for files about
                # twice as large (still ~0.4 kB per CartPole frame), and
                # zerolatency holds no lookahead frames (less memory, a quick
                # flush). One thread costs least CPU and keeps up with any
                # renderer at these sizes; bigger frames get x264's default.
                threads = "1" if width * height <= _ONE_THREAD_PIXELS else "0"
                output = ["-c:v", "libx264", *_X264_OPTIONS, "-threads", threads]
            else:  # pragma: no cover - only with an ffmpeg built without x264
                output = ["-c:v", codec, "-q:v", "4"]
            output += ["-pix_fmt", "yuv420p", "-f", "mp4"]
        else:
            self.size = scaled
            palette = (
                f"split[frames][head];[head]trim=end_frame={_GIF_PALETTE_FRAMES},palettegen"
                "[palette];[frames][palette]paletteuse=dither=bayer:bayer_scale=3"
            )
            graph = ",".join([*filters, palette])
            output = ["-loop", "0", "-f", "gif"]
        rate = Fraction(fps).limit_denominator(1001)
        command = [
            exe,
            "-hide_banner",
            "-nostats",
            "-loglevel",
            "error",
            "-f",
            "rawvideo",
            "-pix_fmt",
            _PIX_FMT[channels],
            "-video_size",
            f"{width}x{height}",
            "-framerate",
            str(rate),
            "-i",
            "pipe:0",
            "-an",
            *(["-vf", graph] if graph else []),
            *output,
            "-y",
            self.tmp_path,
        ]
        # Held for the encoder's life, closed by finish() or abort().
        self._stderr: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        try:
            # Its own session: a Ctrl-C meant for training does not kill ffmpeg
            # mid-file; close() (run at exit too) finishes the video instead.
            self._proc = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                start_new_session=os.name == "posix",
            )
        except OSError as exc:
            self._stderr.close()
            raise VideoEncoderError(f"could not start ffmpeg ({exe}): {exc}") from exc
        self._stdin = cast("IO[bytes]", self._proc.stdin)  # stdin=PIPE above
        if sys.platform.startswith("linux"):
            # Room for a whole frame in the pipe (64 kB by default): a write
            # returns at once while ffmpeg keeps up, instead of in 11 pieces.
            import fcntl

            with contextlib.suppress(OSError):
                fcntl.fcntl(self._stdin.fileno(), _F_SETPIPE_SZ, 1 << 20)
        _open_encoders.add(self)

    @property
    def pid(self) -> int:
        """Process id of the ffmpeg subprocess."""
        return self._proc.pid

    def write(self, frame: Any) -> None:
        """Pipe one frame to ffmpeg; a frame unlike the first one is an error."""
        if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8:
            _frame_layout(frame)  # raises the precise TypeError
        if frame.shape != self.shape:
            raise InvalidArgumentError(
                f"video frame {self.frames} has shape {frame.shape}, but this video's frames "
                f"have shape {self.shape}; the frame size must not change during a video "
                "(the unfinished video was discarded)"
            )
        if not frame.flags.c_contiguous:
            frame = np.ascontiguousarray(frame)
        try:
            self._stdin.write(frame)
        except (BrokenPipeError, OSError) as exc:
            raise VideoEncoderError(
                f"ffmpeg stopped while writing {self.final_path!r}: {self._error_output()}"
            ) from exc
        self.frames += 1

    def finish(self) -> bool:
        """Flush ffmpeg, wait for it, and give the file its final name.

        Returns False, saving nothing, in a forked child: the video belongs
        to the parent, whose ffmpeg is still writing it.
        """
        if self._forked:
            self._release()
            return False
        _open_encoders.discard(self)
        try:
            try:
                self._stdin.close()
            except OSError as exc:
                self._proc.wait()
                raise VideoEncoderError(
                    f"ffmpeg stopped while writing {self.final_path!r}: {self._error_output()}"
                ) from exc
            code = self._proc.wait()
            if code != 0:
                raise VideoEncoderError(
                    f"ffmpeg exited with code {code} writing {self.final_path!r}: "
                    f"{self._error_output()}"
                )
            os.replace(self.tmp_path, self.final_path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(self.tmp_path)
            raise
        finally:
            self._stderr.close()
        return True

    def abort(self) -> None:
        """Kill ffmpeg and delete the unfinished file (only the parent's copy does)."""
        if self._forked:
            self._release()
            return
        _open_encoders.discard(self)
        with contextlib.suppress(OSError):
            self._stdin.close()
        with contextlib.suppress(OSError):
            self._proc.kill()
        self._proc.wait()
        with contextlib.suppress(OSError):
            os.unlink(self.tmp_path)
        self._stderr.close()

    def _release(self) -> None:
        with contextlib.suppress(OSError):
            self._stdin.close()  # /dev/null since the fork
        self._stderr.close()

    def _error_output(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            text = ""
        return text[-2000:] or "(no error output)"


# -- one recording -------------------------------------------------------------------


@dataclass(eq=False)
class _Recording:
    """A video being recorded: its name, what started it, what it holds."""

    name: str
    trigger: str  # "episode", "step" or "manual"
    episode_id: int  # RecordVideo's episode counter when it started
    start_step: int  # index of the first step the video covers
    start_record: int  # EpisodeRecord.index of the episode it started in
    encoder: _Encoder | None = None
    episodes: list[EpisodeRecord] = field(default_factory=list)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _episode_summary(record: EpisodeRecord) -> dict[str, Any]:
    return {
        "index": record.index,
        "return": _finite(record.episode_return),
        "length": record.length,
        "terminated": record.terminated,
        "truncated": record.truncated,
        "seed": record.seed,
        "duration_s": round(record.duration_s, 6),
        "moving_mean": _finite(record.moving_mean),
        "nonfinite": record.nonfinite,
    }


def _write_json_atomic(path: str, payload: dict[str, Any]) -> None:
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.part")
    try:
        # open(..., "x") rather than mkstemp: the file gets the umask's
        # permissions, like the video next to it (mkstemp makes it 0600).
        with open(tmp, "x", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=2, allow_nan=False)
            handle.write("\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class _Finalizer:
    """Finishes one encoder and writes its sidecar, possibly on another thread."""

    def __init__(
        self,
        encoder: _Encoder,
        sidecar: tuple[str, dict[str, Any]] | None,
        saved: list[Path],
    ) -> None:
        self.encoder = encoder
        self.sidecar = sidecar
        self.saved = saved
        self.error: BaseException | None = None
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        try:
            if not self.encoder.finish():
                return
            # The video first: a sidecar never names a file that is not there.
            if self.sidecar is not None:
                _write_json_atomic(*self.sidecar)
            self.saved.append(Path(self.encoder.final_path))
        except BaseException as exc:  # re-raised in the main thread
            self.error = exc

    def start(self) -> None:
        name = os.path.basename(self.encoder.final_path)
        self.thread = threading.Thread(target=self.run, name=f"gymscope-video:{name}")
        self.thread.start()

    def join(self) -> None:
        if self.thread is not None:
            self.thread.join()

    @property
    def done(self) -> bool:
        return self.thread is None or not self.thread.is_alive()


# -- the wrapper -----------------------------------------------------------------------


class ScheduledRecordVideo(
    GymscopeWrapper[ObsType, ActType],
    RecordVideo[ObsType, ActType],
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
      truncates the episode; the encoder is closed on a background thread
      (``close()`` and :meth:`flush` wait for it);
    - ``video_length=N`` gives exactly N frames, not N + 1;
    - files appear under their final name only once complete, each with a
      JSON sidecar ``{video file name}.json`` (``sidecar=False`` turns it off);
    - ``gc_trigger`` defaults to None: with no frames held there is nothing
      for ``gc.collect()`` to free; ``disable_logger=False`` logs each saved
      video at INFO level (there is no moviepy progress bar);
    - in ``rgb_array_list`` mode, frames the recorder takes from
      ``env.render()`` are not handed back by the next ``render()`` call
      (RecordVideo keeps them, without bound, until someone asks);
    - a video is written as a hidden ``.{name}.{random}.part`` file and
      renamed when complete. A process killed mid-video leaves that file
      behind (ffmpeg runs in its own session, so it even completes it when
      its input ends) but never a file under a final name; such leftovers
      can be deleted at any time. The ffmpeg process is also spared a
      Ctrl-C meant for training: ``close()``, run at exit too, saves the
      video being recorded.

    The sidecar holds: ``video``, ``format``, ``trigger`` (``"episode"``,
    ``"step"`` or ``"manual"``), ``episode`` (RecordVideo's episode counter
    when the video started, the number in an episode video's name: it counts
    ``reset()`` calls), ``step`` (index of the first step the video covers),
    ``frames``, ``fps``, ``width``/``height`` (of the file) and
    ``frame_width``/``frame_height`` (of the rendered frames), ``end`` (why
    the video ended: ``"episode_end"``, ``"video_length"``, ``"reset"``,
    ``"new_recording"``, ``"stop_recording"`` or ``"close"``), then
    ``return``, ``length``, ``terminated``, ``truncated`` and ``seed`` of the
    episode the video started in (null when that episode did not end during
    the video), and ``episodes``: a summary of every EpisodeRecord that ended
    during the video (``index``, ``return``, ``length``, ``terminated``,
    ``truncated``, ``seed``, ``duration_s``, ``moving_mean``, ``nonfinite``).
    Non-finite returns are written as null.

    As a member of a gymscope stack it shares the stack's EpisodeTracker
    (and, when it is the innermost gymscope wrapper, feeds it), so the
    sidecar's returns are exactly those the other wrappers record.

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
            ``video_folder`` (``/``, ``\\``, ...) are replaced by ``_`` with
            a warning.
        fps: Frames per second of the file; None takes the env's
            ``metadata["render_fps"]``, else 30.
        disable_logger: False logs every saved video at INFO level.
        gc_trigger: ``int -> bool``: call ``gc.collect()`` after the video
            of this episode is saved.
        schedule: An :class:`~gymscope.schedule.EpisodeCaptureSchedule` used
            instead of ``episode_trigger``/``step_trigger`` (give one or the
            other); its ``last_n_episodes`` needs ``total_episodes``.
        format: ``"mp4"`` (H.264) or ``"gif"``.
        max_frames: Keep at most this many frames of each video (later frames
            of the episode are not even rendered); None for no cap. Use it
            with whole-episode videos, not with ``video_length``.
        scale: Resize factor applied by the encoder, e.g. 0.5 for GIFs half
            as wide and high.
        sidecar: Write the JSON sidecar next to every video.
        window_size: Episodes spanned by the moving mean the sidecar reports
            (pass the stack's window to share one set of statistics).

    Raises:
        TypeError: An argument has the wrong type (a trigger that is not
            callable, a float ``video_length``, ...).
        ValueError: An argument is out of range, or the env's render mode
            gives no image (the message names the fix,
            ``render_mode="rgb_array"``).
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
        episode_trigger = _check_trigger(
            "episode_trigger", episode_trigger, "lambda episode: episode % 100 == 0"
        )
        step_trigger = _check_trigger(
            "step_trigger", step_trigger, "lambda step: step % 10_000 == 0"
        )
        gc_trigger = _check_trigger("gc_trigger", gc_trigger, "lambda episode: True")
        if schedule is not None:
            if not isinstance(schedule, EpisodeCaptureSchedule):
                raise ArgumentTypeError(
                    f"schedule must be an EpisodeCaptureSchedule or None, got {schedule!r} "
                    f"({type(schedule).__name__}); e.g. "
                    "schedule=EpisodeCaptureSchedule.parse('every:100,last:1,total:500')"
                )
            if episode_trigger is not None or step_trigger is not None:
                raise InvalidArgumentError(
                    "give either schedule= or episode_trigger=/step_trigger=, not both; the "
                    "schedule's own triggers are schedule.episode_trigger and "
                    "schedule.step_trigger"
                )
            if not (schedule.captures_episodes or schedule.captures_steps):
                raise InvalidArgumentError(
                    f"schedule {str(schedule)!r} captures nothing; give it a rule (e.g. "
                    "'every:100', or 'cubic' for RecordVideo's default episodes)"
                )
            episode_trigger, step_trigger = schedule.episode_trigger, schedule.step_trigger
        length = check_int(
            "video_length", video_length, 0, "0 records whole episodes, N > 0 exactly N frames"
        )
        if max_frames is not None:
            max_frames = check_int(
                "max_frames", max_frames, 1, "it caps the frames of a video; None for no cap"
            )
            if length:
                raise InvalidArgumentError(
                    f"video_length={length} and max_frames={max_frames} both limit the frames "
                    "of a video; give one: video_length=N ends each video after N frames "
                    "(it may span episodes), max_frames=N keeps whole-episode videos but "
                    "only their first N frames"
                )
        if format not in _FORMATS:
            raise InvalidArgumentError(f"format must be 'mp4' or 'gif', got {format!r}")
        scale = _check_scale(scale)
        if not isinstance(disable_logger, bool):
            raise ArgumentTypeError(f"disable_logger must be a bool, got {disable_logger!r}")
        if not isinstance(sidecar, bool):
            raise ArgumentTypeError(f"sidecar must be a bool, got {sidecar!r}")
        check_window_size(window_size)
        frames_per_sec = _resolve_fps(fps, env.metadata)
        prefix = _safe_name(name_prefix, "name_prefix")
        folder = _prepare_folder(video_folder)
        _ffmpeg()  # fail here, not at the first video, if ffmpeg is unusable

        gym.utils.RecordConstructorArgs.__init__(
            self,
            video_folder=video_folder,
            episode_trigger=None if schedule is not None else episode_trigger,
            step_trigger=None if schedule is not None else step_trigger,
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
        # RecordVideo.__init__ is not called: it imports moviepy, warns about
        # any existing folder and would bind the wrapper a second time. Its
        # attributes are set here with the same names and meanings.
        GymscopeWrapper.__init__(self, env, stats=StatsConfig(window_size=window_size))
        if episode_trigger is None and step_trigger is None:
            from gymnasium.utils.save_video import capped_cubic_video_schedule

            episode_trigger = capped_cubic_video_schedule
        self.episode_trigger = episode_trigger
        self.step_trigger = step_trigger
        self.disable_logger = disable_logger
        self.gc_trigger = gc_trigger
        self.video_folder = folder
        self.frames_per_sec = cast("int", frames_per_sec)
        self.name_prefix = prefix
        self._video_name = None
        # RecordVideo's convention: infinity means "whole episodes".
        self.video_length = cast("int", length if length else math.inf)
        self.recording = False
        self.recorded_frames = []
        self.render_history = []
        self.step_id = -1
        self.episode_id = -1

        self.schedule = schedule
        self.format: VideoFormat = format
        self.max_frames = max_frames
        self.scale = scale
        self.sidecar = sidecar
        self._length = length
        self._frame_cap = length or max_frames or 0
        self._rec: _Recording | None = None
        self._ended: EpisodeRecord | None = None
        self._pending: list[_Finalizer] = []
        self._saved: list[Path] = []
        self._warn_existing()
        self._close_at_exit()

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
        if not isinstance(state, RecordState):
            raise ArgumentTypeError(
                f"state must be a gymscope.state.RecordState, got {state!r} "
                f"({type(state).__name__})"
            )
        settings = state.to_wrapper()
        clash = sorted(set(settings) & set(kwargs))
        if clash:
            raise ArgumentTypeError(
                f"from_state() takes {', '.join(clash)} from the RecordState; do not pass "
                "them again (build another RecordState to change them)"
            )
        return cls(env, **settings, **kwargs)

    # -- public state ----------------------------------------------------------------
    @property
    def frames_recorded(self) -> int:
        """Frames written to the running video so far (0 when not recording)."""
        rec = self._rec
        return 0 if rec is None or rec.encoder is None else rec.encoder.frames

    @property
    def saved_videos(self) -> list[Path]:
        """Paths of the videos saved so far, in the order they were completed.

        Videos still being finalised in the background are missing until
        :meth:`flush` or :meth:`close` returns.
        """
        return list(self._saved)

    def flush(self) -> None:
        """Wait until every finished video and its sidecar are on disk.

        The running recording, if any, goes on. Re-raises an error that
        ffmpeg (:class:`VideoEncoderError`) or the file system raised while
        finishing a video in the background.
        """
        for job in self._pending:
            job.join()
        self._reap()

    # -- gymnasium API ---------------------------------------------------------------
    def step(self, action: ActType) -> tuple[ObsType, SupportsFloat, bool, bool, dict[str, Any]]:
        """Step the env, capture a frame when recording, finish a video that is done."""
        if self._gymscope_owner:
            tracker = self._gymscope_tracker
            if not tracker._running:  # checked first: a finished env is not stepped
                tracker.raise_not_running()
            obs, reward, terminated, truncated, info = self.env.step(action)
            tracker.account(reward, terminated, truncated, info)
        else:
            obs, reward, terminated, truncated, info = self.env.step(action)
        self.step_id += 1
        step_trigger = self.step_trigger
        if step_trigger is not None and step_trigger(self.step_id):
            ended = self._ended
            self._start(
                f"{self.name_prefix}-step-{self.step_id}",
                "step",
                self.step_id,
                ended.index if ended is not None else self._gymscope_tracker.episode_count,
            )
        if self.recording:
            self._capture_frame()
            rec = self._rec
            if rec is not None:
                if self._ended is not None:
                    rec.episodes.append(self._ended)
                if self._length and rec.encoder is not None and rec.encoder.frames >= self._length:
                    self._finish("video_length")
                elif (terminated or truncated) and not self._length:
                    self._finish("episode_end")
        self._ended = None
        return obs, reward, terminated, truncated, info

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[ObsType, dict[str, Any]]:
        """Reset the env; start a video if ``episode_trigger`` says so."""
        obs, info = GymscopeWrapper.reset(self, seed=seed, options=options)
        self._ended = None
        self.episode_id += 1
        if self.recording and not self._length:
            self._finish("reset")  # an episode abandoned before it ended
        episode_trigger = self.episode_trigger
        if episode_trigger is not None and episode_trigger(self.episode_id):
            self._start(
                f"{self.name_prefix}-episode-{self.episode_id}",
                "episode",
                self.step_id + 1,
                self._gymscope_tracker.episode_count,
            )
        if self.recording:
            self._capture_frame()
            rec = self._rec
            if (
                self._length
                and rec is not None
                and rec.encoder is not None
                and rec.encoder.frames >= self._length
            ):
                self._finish("video_length")
        return obs, info

    def render(self) -> RenderFrame | list[RenderFrame]:
        """The env's render output, unchanged (frames are captured by step/reset)."""
        return cast("RenderFrame | list[RenderFrame]", self.env.render())

    def start_recording(self, video_name: str) -> None:
        """Start a video named ``video_name`` now (finishing a running one first)."""
        tracker = self._gymscope_tracker
        self._start(
            _safe_name(video_name, "video_name"), "manual", self.step_id + 1, tracker.episode_count
        )

    def stop_recording(self) -> None:
        """Finish the running video and save it."""
        if not self.recording:
            raise UsageError(
                "stop_recording() was called, but no video is being recorded; check "
                "env.recording first"
            )
        self._finish("stop_recording")

    # -- recording -------------------------------------------------------------------
    def _on_episode(self, record: EpisodeRecord) -> None:
        # Kept until the frame of the final step is captured: the record
        # belongs to the video(s) that hold that frame.
        self._ended = record

    def _start(self, name: str, trigger: str, start_step: int, start_record: int) -> None:
        if self.recording:
            self._finish("new_recording")
        self._rec = _Recording(name, trigger, self.episode_id, start_step, start_record)
        self._video_name = name
        self.recording = True

    def _capture_frame(self) -> None:
        rec = self._rec
        if rec is None:
            raise UsageError("no video is being recorded: call start_recording() first")
        encoder = rec.encoder
        if self._frame_cap and encoder is not None and encoder.frames >= self._frame_cap:
            # max_frames reached: not even rendered, except in *_list modes,
            # where the env keeps every frame until render() takes them.
            if str(self.env.render_mode).endswith("_list"):
                self.env.render()
            return
        frame = self.env.render()
        if isinstance(frame, list):  # rgb_array_list: the frames since the last call
            if not frame:
                logger.debug("render() returned no frame (rgb_array_list already emptied)")
                return
            frame = frame[-1]
        try:
            if encoder is None:
                encoder = rec.encoder = _Encoder(
                    frame,
                    os.path.join(self.video_folder, f"{rec.name}.{self.format}"),
                    self.format,
                    self.frames_per_sec,
                    self.scale,
                )
            encoder.write(frame)
        except Exception:
            self._abort()
            raise

    def _abort(self) -> None:
        """Drop the running video without saving anything under its name."""
        rec, self._rec = self._rec, None
        self.recording = False
        self._video_name = None
        if rec is not None and rec.encoder is not None:
            rec.encoder.abort()

    def _finish(self, reason: str, *, background: bool = True) -> None:
        rec, self._rec = self._rec, None
        self.recording = False
        self._video_name = None
        if rec is None:
            return
        encoder = rec.encoder
        if encoder is None or encoder.frames == 0:
            warnings.warn(
                f"video {rec.name!r} has no frames (env.render() gave none); nothing saved",
                UserWarning,
                stacklevel=3,
            )
            if encoder is not None:
                encoder.abort()
            return
        sidecar = None
        if self.sidecar:
            sidecar = (encoder.final_path + ".json", self._sidecar(rec, encoder, reason))
        job = _Finalizer(encoder, sidecar, self._saved)
        if background:
            if len(self._pending) >= _MAX_PENDING:  # backpressure: ffmpeg is behind
                self._pending[0].join()
            job.start()
            self._pending.append(job)
        else:
            job.run()
        if not self.disable_logger:
            logger.info("saved video %s (%d frames)", encoder.final_path, encoder.frames)
        gc_trigger = self.gc_trigger
        if gc_trigger is not None and gc_trigger(self.episode_id):
            gc.collect()
        if job.error is not None:
            raise job.error
        self._reap()

    def _reap(self) -> None:
        """Forget finished background jobs; re-raise the first error among them."""
        pending = self._pending
        if not pending or not any(job.done for job in pending):
            return
        self._pending = [job for job in pending if not job.done]
        errors = [job.error for job in pending if job.done and job.error is not None]
        for error in errors[1:]:
            logger.error("could not save a video: %s", error)
        if errors:
            raise errors[0]

    def _sidecar(self, rec: _Recording, encoder: _Encoder, reason: str) -> dict[str, Any]:
        first = next((r for r in rec.episodes if r.index == rec.start_record), None)
        return {
            "video": os.path.basename(encoder.final_path),
            "format": self.format,
            "trigger": rec.trigger,
            "episode": rec.episode_id,
            "step": rec.start_step,
            "frames": encoder.frames,
            "fps": self.frames_per_sec,
            "width": encoder.size[0],
            "height": encoder.size[1],
            "frame_width": encoder.frame_size[0],
            "frame_height": encoder.frame_size[1],
            "end": reason,
            "return": None if first is None else _finite(first.episode_return),
            "length": None if first is None else first.length,
            "terminated": None if first is None else first.terminated,
            "truncated": None if first is None else first.truncated,
            "seed": None if first is None else first.seed,
            "episodes": [_episode_summary(r) for r in rec.episodes],
        }

    def _warn_existing(self) -> None:
        stems = (f"{self.name_prefix}-episode-", f"{self.name_prefix}-step-")
        suffix = f".{self.format}"
        with os.scandir(self.video_folder) as entries:
            clash = sorted(
                e.name for e in entries if e.name.startswith(stems) and e.name.endswith(suffix)
            )
        if clash:
            warnings.warn(
                f"{self.video_folder!r} already holds {len(clash)} video(s) named "
                f"{self.name_prefix}-... (e.g. {clash[0]!r}); videos with the same names "
                "will be replaced. Pass another video_folder or name_prefix to keep them",
                UserWarning,
                stacklevel=3,
            )

    # -- lifecycle -------------------------------------------------------------------
    def _close_sink(self) -> None:
        try:
            if self.recording:
                self._finish("close", background=False)
        finally:
            self.flush()

    def __del__(self) -> None:
        # Garbage-collected without close(): save the running video rather than
        # lose it (RecordVideo only warns). Never raise from here.
        if getattr(self, "_rec", None) is not None and not getattr(self, "_closed", True):
            try:
                self._finish("close", background=False)
                self.flush()
            except Exception:  # pragma: no cover - best effort
                logger.exception("could not save the last video of %r", self)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled/deep-copied without the running video and background jobs.

        The copy starts with no recording (the original keeps writing its
        own); triggers must be picklable (schedules are, lambdas are not).
        """
        state = super().__getstate__()
        state.update(_rec=None, recording=False, _video_name=None, _pending=[], _saved=[])
        return state

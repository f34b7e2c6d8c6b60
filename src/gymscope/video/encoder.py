"""One ffmpeg process writing one video file, fed raw frames through a pipe.

The binary is the one shipped with ``imageio-ffmpeg``. What no writer library
does, and gymscope needs:

- the file is written under a hidden ``.{name}.{random}.part`` name and
  renamed (``os.replace``) once ffmpeg has finished it, so a final name
  never holds a truncated video;
- :meth:`Encoder.finish` may run on another thread (the training thread
  only pays for piping frames);
- ffmpeg runs in its own session: a Ctrl-C meant for training does not kill
  it mid-file, and ``close()`` finishes the video instead;
- a child forked while a video is open never holds the parent's pipe open
  (see :func:`_detach_after_fork`), and never finishes the parent's file;
- exactly the frames written end up in the file.
"""

from __future__ import annotations

import contextlib
import functools
import os
import subprocess
import sys
import tempfile
import uuid
import weakref
from fractions import Fraction
from typing import IO, Any, cast

import numpy as np
from gymnasium.error import DependencyNotInstalled

from gymscope.errors import InvalidArgumentError, VideoEncoderError
from gymscope.video.frames import PIX_FMT, VideoFormat, frame_layout, output_size, scaled_size

__all__ = ["Encoder", "ffmpeg"]

# A GIF has one palette; ffmpeg builds it from the first frames, holding at
# most this many frames until it is ready (memory stays bounded).
_GIF_PALETTE_FRAMES = 16
# libx264 settings (see Encoder): cheap per frame, constant quality.
_X264_OPTIONS = ("-preset", "ultrafast", "-tune", "zerolatency", "-crf", "23")
# Frames up to 1280x720 are encoded on one thread (see Encoder).
_ONE_THREAD_PIXELS = 1280 * 720
_F_SETPIPE_SZ = 1031  # Linux fcntl: resize a pipe's kernel buffer


@functools.lru_cache(maxsize=1)
def ffmpeg() -> tuple[str, str]:
    """The ffmpeg executable and the video codec it offers for MP4 (cached)."""
    try:
        import imageio_ffmpeg
    except ImportError as exc:  # pragma: no cover - a declared dependency
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


# Encoders whose pipe to ffmpeg is open in this process (see _detach_after_fork).
_open_encoders: weakref.WeakSet[Encoder] = weakref.WeakSet()


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
            encoder.forked = True
            with contextlib.suppress(OSError, ValueError):
                os.dup2(devnull, encoder._stdin.fileno())
    finally:
        os.close(devnull)


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_detach_after_fork)


def _output_options(
    fmt: VideoFormat, frame: tuple[int, int], size: tuple[int, int], scale: float, codec: str
) -> list[str]:
    """ffmpeg's filter graph and output options for frames of ``frame`` (w, h)."""
    scaled = scaled_size(frame, scale)
    filters = [] if scaled == frame else [f"scale={scaled[0]}:{scaled[1]}:flags=area"]
    if fmt == "gif":
        palette = (
            f"split[frames][head];[head]trim=end_frame={_GIF_PALETTE_FRAMES},palettegen"
            "[palette];[frames][palette]paletteuse=dither=bayer:bayer_scale=3"
        )
        return ["-vf", ",".join([*filters, palette]), "-loop", "0", "-f", "gif"]
    if size != scaled:
        filters.append(f"pad={size[0]}:{size[1]}:0:0:color=black")
    graph = ["-vf", ",".join(filters)] if filters else []
    if codec == "libx264":
        # Cheap per frame, since it shares the CPU with training: ultrafast
        # takes ~20% less CPU than veryfast for files about twice as large
        # (still ~0.4 kB per CartPole frame), and zerolatency holds no
        # lookahead frames (less memory, a quick flush). One thread costs
        # least CPU and keeps up with any renderer at these sizes; bigger
        # frames get x264's default.
        threads = "1" if frame[0] * frame[1] <= _ONE_THREAD_PIXELS else "0"
        output = ["-c:v", "libx264", *_X264_OPTIONS, "-threads", threads]
    else:  # pragma: no cover - only with an ffmpeg built without x264
        output = ["-c:v", codec, "-q:v", "4"]
    return [*graph, *output, "-pix_fmt", "yuv420p", "-f", "mp4"]


class Encoder:
    """One ffmpeg process writing one video to a temporary file.

    ``write`` checks each frame against the first one and pipes it to ffmpeg;
    ``finish`` closes the pipe, waits for ffmpeg and renames the file to its
    final name; ``abort`` kills ffmpeg and deletes the temporary file.

    Attributes:
        frames: Frames written so far.
        frame_size: ``(width, height)`` of the frames.
        size: ``(width, height)`` of the file (scaled, padded for MP4).
        final_path: Where the finished file goes.
    """

    def __init__(
        self, first_frame: Any, final_path: str, fmt: VideoFormat, fps: float, scale: float
    ) -> None:
        height, width, channels = frame_layout(first_frame)
        self.shape = first_frame.shape
        self.frame_size = (width, height)
        self.size = output_size(self.frame_size, fmt, scale)
        self.final_path = final_path
        folder, name = os.path.split(final_path)
        self.tmp_path = os.path.join(folder, f".{name}.{uuid.uuid4().hex[:8]}.part")
        self.frames = 0
        self.forked = False  # set in a child forked while this encoder was open
        exe, codec = ffmpeg()
        command = [
            *(exe, "-hide_banner", "-nostats", "-loglevel", "error"),
            *("-f", "rawvideo", "-pix_fmt", PIX_FMT[channels], "-video_size", f"{width}x{height}"),
            *("-framerate", str(Fraction(fps).limit_denominator(1001)), "-i", "pipe:0", "-an"),
            *_output_options(fmt, self.frame_size, self.size, scale, codec),
            *("-y", self.tmp_path),
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
            frame_layout(frame)  # raises the precise TypeError
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
            raise self._stopped() from exc
        self.frames += 1

    def finish(self) -> bool:
        """Flush ffmpeg, wait for it, and give the file its final name.

        Returns False, saving nothing, in a forked child: the video belongs
        to the parent, whose ffmpeg is still writing it.
        """
        if self.forked:
            self._release()
            return False
        _open_encoders.discard(self)
        try:
            try:
                self._stdin.close()
            except OSError as exc:
                self._proc.wait()
                raise self._stopped() from exc
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
        if self.forked:
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

    def _stopped(self) -> VideoEncoderError:
        return VideoEncoderError(
            f"ffmpeg stopped while writing {self.final_path!r}: {self._error_output()}"
        )

    def _error_output(self) -> str:
        try:
            self._stderr.seek(0)
            text = self._stderr.read().decode(errors="replace").strip()
        except (OSError, ValueError):
            text = ""
        return text[-2000:] or "(no error output)"

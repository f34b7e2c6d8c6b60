"""VideoSink: videos and their JSON sidecars, fed frames and EpisodeRecords.

The sink owns the files: the running recording and its ffmpeg process, the
background finalisation of finished videos and their sidecars. It knows
nothing about environments; a driver (:class:`~gymscope.wrappers.video.
ScheduledRecordVideo`, or your own loop) calls :meth:`VideoSink.start`,
hands in frames with :meth:`VideoSink.add_frame` and ends the video with
:meth:`VideoSink.stop`; :meth:`VideoSink.on_episode` takes the records of the
episodes the video shows.

>>> import json, os, tempfile
>>> import numpy as np
>>> from gymscope.sinks.base import replay_returns
>>> folder = tempfile.mkdtemp()
>>> sink = VideoSink(folder, fps=10)
>>> sink.open(RunInfo(experiment="demo", worker=0))
>>> sink.start("clip")
>>> for t in range(3):
...     sink.add_frame(np.full((32, 48, 3), 40 * t, dtype=np.uint8))
>>> for record in replay_returns([5.0]):
...     sink.on_episode(record)
>>> sink.close()
>>> sorted(os.listdir(folder))
['clip.mp4', 'clip.mp4.json']
>>> with open(os.path.join(folder, "clip.mp4.json")) as f:
...     data = json.load(f)
>>> data["schema"], data["run"], data["frames"], data["return"]
('gymscope-video/2', {'experiment': 'demo', 'worker': 0}, 3, 5.0)
>>> import shutil; shutil.rmtree(folder)
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
import warnings
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gymscope._checks import check_bool, check_int, check_number
from gymscope._retry import FailedWrites
from gymscope.episode import EpisodeRecord, ResumeState, RunInfo
from gymscope.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    UsageError,
    VideoEncoderError,
)
from gymscope.sinks.base import Sink
from gymscope.video.arguments import MAX_FPS
from gymscope.video.encoder import Encoder, ffmpeg
from gymscope.video.frames import VideoFormat, check_scale
from gymscope.video.sidecar import VideoFacts, sidecar_record, write_sidecar

__all__ = ["RunInfo", "VideoSink"]

logger = logging.getLogger(__name__)

_FORMATS = ("mp4", "gif")
# Background finalisations allowed at once before the next one waits.
_MAX_PENDING = 2


def prepare_folder(video_folder: object) -> str:
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


@dataclass(eq=False)
class _Recording:
    """A video being recorded: its name, what started it, what it holds."""

    name: str
    trigger: str  # "episode", "step" or "manual"
    episode_id: int  # the driver's episode counter when it started
    start_step: int  # index of the first step the video covers
    first_index: int | None  # EpisodeRecord.index of the episode it started in
    encoder: Encoder | None = None
    episodes: list[EpisodeRecord] = field(default_factory=list)
    # Ended episodes whose final frame has not come yet (see on_episode).
    pending: list[EpisodeRecord] = field(default_factory=list)
    failed: bool = False  # the file could not be written: later frames are only counted
    dropped: int = 0  # frames taken since it failed


class _Finalisation:
    """Finishes one encoder and writes its sidecar, possibly on another thread."""

    def __init__(self, encoder: Encoder, sidecar: dict[str, Any] | None, saved: list[Path]) -> None:
        self.encoder = encoder
        self.sidecar = sidecar
        self.saved = saved
        self.error: BaseException | None = None
        self.sidecar_error: OSError | None = None
        self.thread: threading.Thread | None = None

    def run(self) -> None:
        try:
            if not self.encoder.finish():
                return
            self.saved.append(Path(self.encoder.final_path))
            # The video first: a sidecar never names a file that is not there.
            if self.sidecar is not None:
                try:
                    write_sidecar(self.encoder.final_path, self.sidecar)
                except OSError as exc:  # kept and retried by the sink
                    self.sidecar_error = exc
        except BaseException as exc:  # handled in the driver's thread
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


class VideoSink(Sink):
    """Writes each recording to a video file (streamed to ffmpeg) and a JSON sidecar.

    One video at a time: :meth:`start` names it, :meth:`add_frame` pipes each
    frame to ffmpeg (memory does not grow with the video), :meth:`stop`
    closes the encoder on a background thread and, once the file is complete
    under its final name, writes ``{video file name}.json`` (see
    :mod:`gymscope.video.sidecar` for its keys; ``run`` is read from the
    sink's :class:`RunInfo` when the video is stopped). :meth:`flush` and
    :meth:`close` wait for the background work and re-raise its errors.

    An EpisodeRecord given to :meth:`on_episode` belongs to the video that
    receives the episode's final frame: the next frame handed in (or the
    running video, if it is stopped first). A video started right after an
    episode ended, with ``first_episode`` set to that episode's index, gets
    its record: its first frame is that episode's final one.

    Pickled or copied without the running video and background jobs; in a
    process forked while a video was open, :meth:`forked` drops it (the
    parent's ffmpeg finishes the parent's file).

    Args:
        video_folder: Folder of the videos; created if missing.
        format: ``"mp4"`` (H.264) or ``"gif"``.
        fps: Frames per second of the files.
        scale: Resize factor applied by the encoder (0.5 halves both sides).
        max_frames: Keep at most this many frames of each video (later ones
            are dropped; :attr:`full` tells a driver it need not render them).
        sidecar: Write the JSON sidecar next to every video.
        log_saved: Log every saved video at INFO level.

    Raises:
        OSError: ``video_folder`` cannot be created or written to.
    """

    def __init__(
        self,
        video_folder: str | os.PathLike[str],
        *,
        format: VideoFormat = "mp4",
        fps: float = 30,
        scale: float = 1.0,
        max_frames: int | None = None,
        sidecar: bool = True,
        log_saved: bool = False,
    ) -> None:
        if format not in _FORMATS:
            raise InvalidArgumentError(f"format must be 'mp4' or 'gif', got {format!r}")
        if max_frames is not None:
            max_frames = check_int(
                "max_frames", max_frames, 1, "it caps the frames of a video; None for no cap"
            )
        check_number(
            "fps",
            fps,
            low=0.0,
            high=MAX_FPS,
            what=f"a number in (0, {MAX_FPS}] (frames per second)",
        )
        self.format: VideoFormat = format
        self.fps = fps  # as given: an int stays an int in the sidecar
        self.scale = check_scale(scale)
        self.max_frames = max_frames
        self.sidecar = check_bool("sidecar", sidecar)
        self.log_saved = check_bool("log_saved", log_saved)
        self.video_folder = prepare_folder(video_folder)
        ffmpeg()  # fail here, not at the first video, if ffmpeg is unusable
        self._rec: _Recording | None = None
        self._last: EpisodeRecord | None = None  # ended while no video ran
        self._pending: list[_Finalisation] = []
        self._saved: list[Path] = []
        self._failures = FailedWrites("VideoSink")
        # Sidecars of saved videos that could not be written yet: (video path, payload).
        self._sidecars_due: list[tuple[str, dict[str, Any]]] = []
        #: Never replace an existing file (set when the stack resumes a run).
        self.keep_existing = False
        # Names this sink started while keeping existing files (not on disk until saved).
        self._started: set[str] = set()

    # -- state ------------------------------------------------------------------------
    @property
    def recording(self) -> bool:
        """A video is being recorded."""
        return self._rec is not None

    @property
    def frames(self) -> int:
        """Frames written to the running video so far (0 when not recording)."""
        rec = self._rec
        if rec is None:
            return 0
        return rec.dropped if rec.encoder is None else rec.encoder.frames

    @property
    def full(self) -> bool:
        """The running video has ``max_frames`` frames: more would be dropped."""
        return self.max_frames is not None and self.frames >= self.max_frames

    @property
    def saved_videos(self) -> list[Path]:
        """Paths of the videos saved so far, in the order they were completed.

        Videos still being finalised in the background are missing until
        :meth:`flush` or :meth:`close` returns.
        """
        return list(self._saved)

    # -- recording --------------------------------------------------------------------
    def on_resume(self, state: ResumeState) -> None:
        """The stack resumes its run: from now on an existing file is never
        replaced (see :meth:`free_name`); the names themselves continue, since
        the driver counts on from the restored episode index."""
        self.keep_existing = True

    def free_name(self, name: str) -> str:
        """``name``, or, when :attr:`keep_existing` is set and a video (or
        sidecar) of that name exists or was started by this sink,
        ``{name}.attempt-{k}`` with the lowest free ``k`` from 2.

        An earlier attempt of a resumed run may have saved a video under the
        name the resumed one computes (it recorded episodes the database
        never stored, e.g. with ``flush_every > 1``): both are kept.
        """
        if not self.keep_existing:
            return name
        for k in range(1, 10_000):
            candidate = name if k == 1 else f"{name}.attempt-{k}"
            path = os.path.join(self.video_folder, f"{candidate}.{self.format}")
            if candidate in self._started or os.path.lexists(path):
                continue
            if os.path.lexists(path + ".json"):
                continue
            self._started.add(candidate)
            if k > 1:
                logger.info("%s.%s exists: this video is saved as %s", name, self.format, path)
            return candidate
        raise UsageError(
            f"every name {name}.attempt-N.{self.format} is taken in {self.video_folder}"
        )

    def start(
        self,
        name: str,
        *,
        trigger: str = "manual",
        episode: int = 0,
        step: int = 0,
        first_episode: int | None = None,
    ) -> None:
        """Start the video ``{name}.{format}`` (stopping a running one first).

        ``trigger``, ``episode`` and ``step`` go to the sidecar as they are.
        ``first_episode`` is the index of the episode the video starts in
        (None: the first one that ends during the video). With
        :attr:`keep_existing` an existing file is never replaced: the video
        gets a new name (:meth:`free_name`).
        """
        name = self.free_name(name)
        carry: list[EpisodeRecord] = []
        if self._rec is not None:
            # Episodes from first_episode on end in the new video, not this one.
            old = self._rec
            if first_episode is not None:
                carry = [r for r in old.pending if r.index >= first_episode]
                old.pending = [r for r in old.pending if r.index < first_episode]
            self.stop("new_recording")
        elif self._last is not None and self._last.index == first_episode:
            carry = [self._last]  # the video starts on that episode's final frame
        self._last = None
        self._rec = _Recording(name, trigger, episode, step, first_episode, pending=carry)

    def add_frame(self, frame: Any) -> None:
        """Pipe one frame to the running video.

        Raises:
            UsageError: no video is being recorded.
            TypeError, ValueError: the frame is not an image, or unlike the
                first one of the video; the unfinished video is deleted.
        """
        rec = self._rec
        if rec is None:
            raise UsageError("no video is being recorded: call start_recording() first")
        if self.full:
            return
        if rec.failed:  # counted, so that video_length still ends the recording
            rec.dropped += 1
            return
        encoder = rec.encoder
        path = os.path.join(self.video_folder, f"{rec.name}.{self.format}")
        frames = 0 if encoder is None else encoder.frames
        try:
            if encoder is None:
                encoder = rec.encoder = Encoder(frame, path, self.format, self.fps, self.scale)
            encoder.write(frame)
        except (VideoEncoderError, OSError) as exc:  # disk full, folder gone: the video is lost
            if rec.encoder is not None:
                rec.encoder.abort()
                rec.encoder = None
            rec.failed = True
            rec.dropped = frames + 1
            self._failures.failed(path, exc, lost=True)
            return
        except Exception:
            self.abort()
            raise
        if rec.pending:
            rec.episodes += rec.pending
            rec.pending.clear()

    def on_episode(
        self, record: EpisodeRecord, info: MutableMapping[str, Any] | None = None
    ) -> None:
        """Take an episode that just ended (its final frame is the next one)."""
        rec = self._rec
        if rec is not None:
            rec.pending.append(record)
        else:
            self._last = record

    def abort(self) -> None:
        """Drop the running video without saving anything under its name."""
        rec, self._rec = self._rec, None
        if rec is not None and rec.encoder is not None:
            rec.encoder.abort()

    def stop(self, reason: str = "stop_recording", *, background: bool = True) -> None:
        """Finish the running video (if any) and save it with its sidecar.

        ``reason`` is the sidecar's ``end``. With ``background`` the encoder
        is closed on another thread (at most two at once); otherwise here.

        A video whose file cannot be written (disk full, folder gone) is
        warned about once and reported by :meth:`flush` and :meth:`close`;
        a sidecar that cannot be written is kept and retried at the next
        video's end and at :meth:`close`.
        """
        rec, self._rec = self._rec, None
        if rec is None:
            return
        rec.episodes += rec.pending
        encoder = rec.encoder
        if rec.failed:
            return
        if encoder is None or encoder.frames == 0:
            warnings.warn(
                f"video {rec.name!r} has no frames (env.render() gave none); nothing saved",
                UserWarning,
                stacklevel=4,
            )
            if encoder is not None:
                encoder.abort()
            return
        job = _Finalisation(encoder, self._sidecar(rec, encoder, reason), self._saved)
        if background:
            if len(self._pending) >= _MAX_PENDING:  # backpressure: ffmpeg is behind
                self._pending[0].join()
            job.start()
            self._pending.append(job)
        else:
            job.run()
        if self.log_saved:
            logger.info("saved video %s (%d frames)", encoder.final_path, encoder.frames)
        if not background:
            self._settle(job)
        self._reap()
        if self._sidecars_due and self._failures.ready():
            self._write_sidecars()

    def _sidecar(self, rec: _Recording, encoder: Encoder, reason: str) -> dict[str, Any] | None:
        if not self.sidecar:
            return None
        facts = VideoFacts(
            encoder.final_path, self.format, encoder.frames, self.fps, encoder.size,
            encoder.frame_size,
        )  # fmt: skip
        return sidecar_record(
            facts,
            trigger=rec.trigger,
            episode=rec.episode_id,
            step=rec.start_step,
            end=reason,
            episodes=rec.episodes,
            first_index=rec.first_index,
            run=self.run,  # read now: the database sink fills it in at its first write
        )

    def flush(self) -> None:
        """Wait until every stopped video and its sidecar are on disk.

        The running recording, if any, goes on.

        Raises:
            OutputWriteError: videos or sidecars could not be written (disk
                full, folder gone); the message names them and the cause
                (for a video, ffmpeg's own error output). A lost video is
                reported once; a sidecar is retried until it is written.
        """
        for job in self._pending:
            job.join()
        self._reap()
        if self._sidecars_due:
            self._write_sidecars()
        error = self._failures.error()
        if error is not None:
            raise error

    def _reap(self) -> None:
        """Forget finished background jobs, noting what they could not write."""
        pending = self._pending
        if not pending or not any(job.done for job in pending):
            return
        self._pending = [job for job in pending if not job.done]
        for job in pending:
            if job.done:
                self._settle(job)

    def _settle(self, job: _Finalisation) -> None:
        """Note what a finished job could not write; re-raise anything else."""
        error, job.error = job.error, None
        if isinstance(error, (VideoEncoderError, OSError)):
            self._failures.failed(job.encoder.final_path, error, lost=True)
        elif error is not None:
            raise error
        if job.sidecar_error is not None and job.sidecar is not None:
            path = job.encoder.final_path
            self._failures.failed(path + ".json", job.sidecar_error)
            self._sidecars_due.append((path, job.sidecar))
            job.sidecar_error = None

    def _write_sidecars(self) -> None:
        due, self._sidecars_due = self._sidecars_due, []
        for path, payload in due:
            try:
                write_sidecar(path, payload)
            except OSError as exc:
                self._failures.failed(path + ".json", exc)
                self._sidecars_due.append((path, payload))
            else:
                self._failures.succeeded(path + ".json")

    # -- lifecycle --------------------------------------------------------------------
    def close(self) -> None:
        """Save the running video (``"end": "close"``) and wait for every file.

        Raises:
            OutputWriteError: videos or sidecars could not be written (see
                :meth:`flush`).
        """
        try:
            self.stop("close", background=False)
        finally:
            self.flush()

    def forked(self) -> None:
        """In a forked child: drop the parent's running video and jobs, unsaved.

        A video this process started itself (a driver may record before it
        first delivers an episode here) is kept.
        """
        rec = self._rec
        if rec is not None and rec.encoder is not None and rec.encoder.forked:
            self.abort()  # the encoder knows it was forked: it only lets go of its copies
        self._pending = [job for job in self._pending if not job.encoder.forked]
        self._last = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickled/deep-copied without the running video and background jobs."""
        state = self.__dict__.copy()
        state.update(
            _rec=None,
            _last=None,
            _pending=[],
            _saved=[],
            _failures=FailedWrites("VideoSink"),
            _sidecars_due=[],
        )
        return state

"""Time and memory of recording videos: gymnasium RecordVideo vs ScheduledRecordVideo.

The env is CartPole-v1's own renderer (600x400 RGB frames drawn with pygame)
in episodes of exactly L steps (:class:`FixedLengthCartPole` restarts the pole
when it falls and truncates at L steps), for L = 100, 500 and 2000. Every
episode is recorded, so a video holds L + 1 frames (the reset frame and one
per step). Variants:

- ``render only``: calls ``render()`` where the recorders do and drops the
  frame: the reference every ratio is taken against;
- ``RecordVideo``: ``gymnasium.wrappers.RecordVideo`` (frames kept in a list,
  encoded by moviepy when the next episode starts, here at ``reset()``);
- ``ScheduledRecordVideo``: gymscope's wrapper (frames streamed to ffmpeg,
  the file finished on a background thread after the truncating step);
- ``imageio streaming``: the simplest streaming writer, imageio-ffmpeg's
  ``write_frames`` fed one frame per step and closed on the truncating step,
  for reference;
- ``moviepy streaming`` (its own table, :func:`compare_moviepy`): moviepy's
  ``FFMPEG_VideoWriter``, which pipes frames to the same imageio-ffmpeg
  binary, given gymscope's x264 settings, against ScheduledRecordVideo on
  one episode length: the training thread's time per frame (reset and the
  steps before the last, minus rendering only), the stall of the step that
  finalises the video, CPU per frame, peak RSS (fresh interpreter) and the
  frames decoded from each file (moviepy's clip writer can drop one, see
  REFERENCE.md). It is what decided that gymscope keeps its own encoder and
  does not depend on moviepy.

Timing (one process). For each L, every round runs one episode of every
variant in a rotated order (so no variant always runs first or last) after
one untimed warm-up round. A variant keeps its wrapper across rounds, as a
training run would. The wall time of an episode is ``reset()`` plus L
``step()`` calls plus, for ScheduledRecordVideo, the wait for its background
finaliser (``flush()``): counting that wait is conservative (training would
overlap it with the next episode), and it keeps one variant's encoder from
running while the next variant is timed. RecordVideo encodes the previous
episode inside ``reset()``, so each timed round pays for exactly one video.
The CPU columns split the work between the Python process (rendering,
piping frames; ``RUSAGE_SELF``) and the encoder processes
(``RUSAGE_CHILDREN``): on a machine whose other cores are busy, the
encoder's CPU time adds to the wall time instead of overlapping it.
The **stall** is the time spent inside the call that finalises a video:
RecordVideo's ``reset()``, the truncating ``step()`` for the others. Tables
show medians over rounds.

Memory (a fresh interpreter per measurement, so that one variant's heap --
RecordVideo's frame list above all -- cannot hide or inflate another's). The
child builds the env and the variant, records one short untimed episode (so
imports, pygame and the encoder machinery are warm), runs ``gc.collect()``,
resets the kernel's peak-RSS counter (``echo 5 > /proc/self/clear_refs``)
and notes its RSS. It then records one episode of L frames and finalises the
video. **Python growth** is the peak RSS (``VmHWM``) minus that baseline.
The encoder is a separate process: a sampler thread reads ``VmHWM`` of every
child process running ffmpeg (``/proc/self/task/*/children``, after exec:
before it, a vfork()ed child shows its parent's memory) every 5 ms and keeps
the largest, reported as **encoder peak RSS** (its whole RSS, since it starts
from nothing). ``ru_maxrss`` of ``getrusage(RUSAGE_CHILDREN)`` is not used: a
child inherits its parent's peak RSS across fork/exec, so it would report the
Python process's frame list as ffmpeg's. Linux only (``/proc``).

The same is done for a GIF of 200 frames: ScheduledRecordVideo with
``format="gif"`` against Pillow writing a GIF with every frame in memory
(what a hand-written recorder does: ``Image.save(save_all=True,
append_images=frames)``).

Run with ``uv run python benchmarks/video.py`` (``--help`` for knobs;
``--quick`` is a smoke run whose numbers mean nothing).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from _harness import Case, Result, Sample, Samples, measure, print_table, summarize
from gymnasium.envs.classic_control.cartpole import CartPoleEnv

from gymscope.wrappers.video import ScheduledRecordVideo

RENDER_ONLY = "render only"
GYMNASIUM = "RecordVideo"
OURS = "ScheduledRecordVideo"
IMAGEIO = "imageio streaming"
MOVIEPY = "moviepy streaming"
VARIANTS = (RENDER_ONLY, GYMNASIUM, OURS, IMAGEIO)
OURS_GIF = "ScheduledRecordVideo gif"
PILLOW_GIF = "Pillow gif (all frames)"

FPS = 50
TARGETS = {
    "python_growth_mb_2000": 10.0,
    "ratio_500": 2.0,
    "stall_ms_500": 100.0,
    "gif_growth_mb_200": 60.0,
}


class FixedLengthCartPole(gym.Env[np.ndarray, int]):
    """CartPole's dynamics and 600x400 renderer in episodes of exactly ``length`` steps."""

    metadata: dict[str, Any] = {"render_modes": ["rgb_array"], "render_fps": FPS}  # noqa: RUF012

    def __init__(self, length: int) -> None:
        self._inner = CartPoleEnv(render_mode="rgb_array")
        self.render_mode = "rgb_array"
        self.observation_space = self._inner.observation_space
        self.action_space = self._inner.action_space
        self.length = length
        self._t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        return self._inner.reset(seed=seed)

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        obs, reward, terminated, _, info = self._inner.step(action)
        if terminated:  # the pole fell: put it back up, the episode goes on
            obs, _ = self._inner.reset()
        self._t += 1
        return obs, float(reward), False, self._t >= self.length, info

    def render(self) -> np.ndarray:
        return np.asarray(self._inner.render())

    def close(self) -> None:
        self._inner.close()


class RenderOnly(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """Renders where the recorders do (reset and every step) and drops the frame."""

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        out = self.env.reset(seed=seed, options=options)
        self.env.render()
        return out

    def step(self, action: int) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        out = self.env.step(action)
        self.env.render()
        return out


class StreamingRecorder(gym.Wrapper[np.ndarray, int, np.ndarray, int]):
    """The simplest streaming recorder: a writer opened at reset(), fed every
    frame, closed on the step that ends the episode (subclasses pick the writer)."""

    stem = "stream"

    def __init__(self, env: gym.Env[np.ndarray, int], folder: str) -> None:
        super().__init__(env)
        self._folder = folder
        self._episode = -1
        self._writer: Any = None
        self.last_path = ""

    def _open(self, path: str, size: tuple[int, int]) -> Any:
        raise NotImplementedError

    def _write(self, frame: Any) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Close the writer of the running episode, if any."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        out = self.env.reset(seed=seed, options=options)
        self._episode += 1
        frame = self.env.render()
        assert isinstance(frame, np.ndarray)
        height, width = frame.shape[:2]
        self.last_path = os.path.join(self._folder, f"{self.stem}-episode-{self._episode}.mp4")
        self._writer = self._open(self.last_path, (width, height))
        self._write(frame)
        return out

    def step(self, action: int) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        out = self.env.step(action)
        self._write(self.env.render())
        if out[2] or out[3]:
            self.finish()
        return out

    def close(self) -> None:
        self.finish()
        super().close()


class ImageioStreaming(StreamingRecorder):
    """imageio-ffmpeg's ``write_frames`` generator."""

    stem = "imageio"

    def _open(self, path: str, size: tuple[int, int]) -> Any:
        import imageio_ffmpeg

        writer = imageio_ffmpeg.write_frames(
            path, size, fps=FPS, macro_block_size=8, ffmpeg_log_level="error"
        )
        writer.send(None)
        return writer

    def _write(self, frame: Any) -> None:
        self._writer.send(frame)


class MoviepyStreaming(StreamingRecorder):
    """moviepy's streaming writer, ``FFMPEG_VideoWriter``.

    It pipes frames to the same imageio-ffmpeg binary as gymscope's encoder;
    given gymscope's x264 settings, so that the plumbing is compared, not codecs.
    """

    stem = "moviepy"

    def _open(self, path: str, size: tuple[int, int]) -> Any:
        from moviepy.video.io.ffmpeg_writer import FFMPEG_VideoWriter

        return FFMPEG_VideoWriter(
            path,
            size,
            FPS,
            codec="libx264",
            preset="ultrafast",
            threads=1,
            ffmpeg_params=["-tune", "zerolatency", "-crf", "23"],
        )

    def _write(self, frame: Any) -> None:
        self._writer.write_frame(frame)


def make_variant(name: str, length: int, folder: str) -> gym.Env[Any, Any]:
    """A fresh env wrapped for ``name``, writing into ``folder``."""
    env = FixedLengthCartPole(length)
    always: Callable[[int], bool] = lambda episode: True  # noqa: E731
    if name == RENDER_ONLY:
        return RenderOnly(env)
    if name == GYMNASIUM:
        # A folder that does not exist yet: RecordVideo warns about existing ones.
        return gym.wrappers.RecordVideo(
            env, os.path.join(folder, "gymnasium"), episode_trigger=always
        )
    if name == OURS:
        return ScheduledRecordVideo(env, os.path.join(folder, "gymscope"), episode_trigger=always)
    if name == IMAGEIO:
        os.makedirs(os.path.join(folder, "imageio"), exist_ok=True)
        return ImageioStreaming(env, os.path.join(folder, "imageio"))
    if name == MOVIEPY:
        os.makedirs(os.path.join(folder, "moviepy"), exist_ok=True)
        return MoviepyStreaming(env, os.path.join(folder, "moviepy"))
    if name == OURS_GIF:
        return ScheduledRecordVideo(
            env, os.path.join(folder, "gif"), episode_trigger=always, format="gif"
        )
    raise ValueError(f"unknown variant {name!r}")


# -- timing ---------------------------------------------------------------------------


def _cpu_s(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def episode_case(name: str, env: gym.Env[Any, Any], length: int, per_frame: bool = False) -> Case:
    """One recorded episode of ``env`` per call: wall time, and the stall and CPU split.

    With ``per_frame``, the time is the training thread's per frame instead:
    ``reset()`` and the steps before the last (``length`` frames), so that
    neither the finalisation nor the wait for the file counts.
    """
    frames = length + 1

    def case() -> Sample:
        python_cpu = _cpu_s(resource.RUSAGE_SELF)
        encoder_cpu = _cpu_s(resource.RUSAGE_CHILDREN)  # waited-for children
        wall, reset, last, body = timed_episode(env, length)
        extra = {
            "Python CPU ms/frame": (_cpu_s(resource.RUSAGE_SELF) - python_cpu) / frames * 1e3,
            "encoder CPU ms/frame": (_cpu_s(resource.RUSAGE_CHILDREN) - encoder_cpu) / frames * 1e3,
        }
        stall = stall_s(name, reset, last)
        if stall is not None:
            extra["stall ms"] = stall * 1e3
        return Sample(body, units=length, extra=extra) if per_frame else Sample(wall, extra=extra)

    return case


def measure_times(lengths: Sequence[int], rounds: int) -> list[Result]:
    """Per length, every variant's wall time per episode; ratio vs render only.

    A variant keeps its wrapper across rounds, as a training run would; one
    untimed round first (it also gives RecordVideo a video to finish).
    """
    with tempfile.TemporaryDirectory(prefix="gymscope-video-bench-") as root:
        return [
            measure_variants(
                f"{length + 1} frames per episode",
                VARIANTS,
                length,
                os.path.join(root, str(length)),
                rounds,
                reference=RENDER_ONLY,
                per_unit="episode",
            )
            for length in lengths
        ]


def measure_variants(
    title: str,
    names: Sequence[str],
    length: int,
    folder: str,
    rounds: int,
    *,
    per_frame: bool = False,
    **options: Any,
) -> Result:
    """One :func:`episode_case` per variant in ``names``, interleaved after one
    untimed round (which also gives RecordVideo a video to finish); the
    wrappers are kept across rounds, as a training run would, and closed after."""
    envs = {name: make_variant(name, length, folder) for name in names}
    try:
        return measure(
            title,
            {name: episode_case(name, env, length, per_frame) for name, env in envs.items()},
            rounds=rounds,
            warmup_rounds=1,
            params={"length": length, "frames": length + 1},
            **options,
        )
    finally:
        for env in envs.values():
            env.close()


def timed_episode(env: gym.Env[Any, Any], length: int) -> tuple[float, float, float, float]:
    """``(wall s, reset() s, truncating step() s, s before it)`` of one recorded episode."""
    step = env.step
    start = time.perf_counter()
    env.reset()
    after_reset = time.perf_counter()
    for _ in range(length - 1):
        step(0)
    before_last = time.perf_counter()
    _, _, _, truncated, _ = step(1)
    after_last = time.perf_counter()
    if not truncated:
        raise RuntimeError("FixedLengthCartPole did not truncate where expected")
    if isinstance(env, ScheduledRecordVideo):
        env.flush()  # counted: the file is on disk before the next variant runs
    end = time.perf_counter()
    return end - start, after_reset - start, after_last - before_last, before_last - start


def stall_s(name: str, reset_s: float, last_step_s: float) -> float | None:
    """Time inside the call that finalises the video, for a recording variant."""
    if name == GYMNASIUM:
        return reset_s
    if name in (OURS, IMAGEIO, MOVIEPY):
        return last_step_s
    return None


# -- memory (fresh interpreter per measurement) -------------------------------------------


def _status_kb(pid: int | str, field: str) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _children() -> list[int]:
    pids: list[int] = []
    for task in os.listdir("/proc/self/task"):
        with contextlib.suppress(OSError), open(f"/proc/self/task/{task}/children") as f:
            pids.extend(int(p) for p in f.read().split())
    return pids


class ChildPeakSampler:
    """Largest VmHWM seen among this process's children while running."""

    def __init__(self, period_s: float = 0.005) -> None:
        self.peak_kb = 0
        self._period = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in _children():
                with contextlib.suppress(OSError, KeyError, ValueError):
                    # Only after exec: until then a vfork()ed child reports
                    # its parent's memory as its own.
                    with open(f"/proc/{pid}/comm", encoding="utf-8") as comm:
                        if "ffmpeg" not in comm.read():
                            continue
                    self.peak_kb = max(self.peak_kb, _status_kb(pid, "VmHWM"))
            self._stop.wait(self._period)

    def __enter__(self) -> ChildPeakSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _pillow_gif(env: gym.Env[Any, Any], length: int, path: str) -> None:
    from PIL import Image

    frames = []
    env.reset()
    frames.append(Image.fromarray(env.render()))  # type: ignore[arg-type]
    for _ in range(length):
        env.step(0)
        frames.append(Image.fromarray(env.render()))  # type: ignore[arg-type]
    frames[0].save(
        path, save_all=True, append_images=frames[1:], duration=1000 / FPS, loop=0, optimize=False
    )


def memory_probe(name: str, length: int) -> dict[str, Any]:
    """Runs in a fresh interpreter: peak growth of one recorded episode of ``length``."""
    with tempfile.TemporaryDirectory(prefix="gymscope-video-mem-") as root:
        if name == PILLOW_GIF:
            env: gym.Env[Any, Any] = RenderOnly(FixedLengthCartPole(length))
            _pillow_gif(env, 5, os.path.join(root, "warm.gif"))
        else:
            env = make_variant(name, length, root)
            env.reset()
            for _ in range(5):
                env.step(0)
            if isinstance(env, gym.wrappers.RecordVideo) and env.recording:
                env.stop_recording()
            elif isinstance(env, StreamingRecorder):
                env.finish()
        gc.collect()
        exact = _reset_peak()
        baseline_kb = _status_kb("self", "VmRSS") if exact else _status_kb("self", "VmHWM")
        start = time.perf_counter()
        with ChildPeakSampler() as sampler:
            if name == PILLOW_GIF:
                _pillow_gif(env, length - 1, os.path.join(root, "pillow.gif"))
            else:
                timed_episode(env, length)
                if isinstance(env, gym.wrappers.RecordVideo) and not isinstance(
                    env, ScheduledRecordVideo
                ):
                    env.stop_recording()  # what its next reset() would do
                env.close()
        wall_s = time.perf_counter() - start
        peak_kb = _status_kb("self", "VmHWM")
    return {
        "wall_s": wall_s,
        "python_growth_mb": max(0, peak_kb - baseline_kb) / 1024,
        "encoder_peak_mb": sampler.peak_kb / 1024 if sampler.peak_kb else None,
        "exact": exact,
    }


def measure_memory(name: str, length: int) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-probe", name, str(length)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "SDL_VIDEODRIVER": "dummy"},
    ).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def run_memory(lengths: Sequence[int], gif_length: int) -> list[Result]:
    """Peak RSS per variant, one fresh interpreter each; per length, then the GIF.

    ``median_s`` is the time of that one episode in the fresh interpreter
    (encoder included); the MB figures are in ``extra``.
    """
    groups: list[tuple[tuple[str, ...], int, str]] = [
        ((GYMNASIUM, OURS, IMAGEIO), length, GYMNASIUM) for length in lengths
    ]
    groups.append(((OURS_GIF, PILLOW_GIF), gif_length, PILLOW_GIF))
    results = []
    for names, length, reference in groups:
        samples: Samples = {}
        approximate = []
        for name in names:
            probe = measure_memory(name, length)
            extra = {"Python growth MB": probe["python_growth_mb"]}
            if probe["encoder_peak_mb"] is not None:
                extra["encoder peak MB"] = probe["encoder_peak_mb"]
            samples[name] = [[Sample(probe["wall_s"], extra=extra)]]
            if not probe["exact"]:
                approximate.append(name)
        notes = [f"peak not resettable, approximate: {', '.join(approximate)}"] * bool(approximate)
        results.append(
            summarize(
                f"peak RSS at {length + 1} frames, fresh interpreter per case (growth over a "
                "warmed-up baseline)",
                samples,
                reference=reference,
                per_unit="episode",
                params={"length": length, "frames": length + 1},
                notes=notes,
            )
        )
    return results


# -- moviepy's streaming writer against gymscope's encoder -----------------------------------

MOVIEPY_CASES = (RENDER_ONLY, OURS, MOVIEPY)


def decoded_frames(path: str) -> int:
    """Frames in a video, counted by decoding it (not from its header)."""
    import imageio_ffmpeg

    result = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", path, "-f", "null", "-"],
        capture_output=True,
        text=True,
        check=True,
    )
    counts = [line for line in result.stderr.replace("\r", "\n").splitlines() if "frame=" in line]
    return int(counts[-1].split("frame=")[1].split()[0])


def frame_counts(length: int) -> dict[str, int]:
    """Decoded frames of one episode of ``length`` steps (``length + 1`` given) per writer."""
    counts: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="gymscope-video-count-") as root:
        for name in (OURS, MOVIEPY):
            env = make_variant(name, length, root)
            timed_episode(env, length)
            env.close()
            if isinstance(env, ScheduledRecordVideo):
                path = str(env.saved_videos[-1])
            else:
                assert isinstance(env, MoviepyStreaming)
                path = env.last_path
            counts[name] = decoded_frames(path)
    return counts


def compare_moviepy(length: int, rounds: int) -> Result:
    """gymscope's encoder against moviepy's FFMPEG_VideoWriter on one episode length.

    Figures per frame, with ``added_s`` over rendering only; the fresh
    interpreter's peak RSS and the frames decoded from each file are the
    result's ``values`` (``{writer} Python growth MB``, ``... encoder peak
    MB``, ``... frames``; ``frames given``).
    """
    with tempfile.TemporaryDirectory(prefix="gymscope-video-moviepy-") as root:
        timed = measure_variants(
            f"moviepy's FFMPEG_VideoWriter against gymscope's encoder, {length + 1} frames",
            MOVIEPY_CASES,
            length,
            root,
            rounds,
            per_frame=True,
            reference=OURS,
            baseline=RENDER_ONLY,
            per_unit="frame",
        )
    values: dict[str, float] = {"frames given": length + 1}
    for name, frames in frame_counts(length).items():
        probe = measure_memory(name, length)
        values[f"{name} frames"] = frames
        values[f"{name} Python growth MB"] = probe["python_growth_mb"]
        values[f"{name} encoder peak MB"] = probe["encoder_peak_mb"] or math.nan
    notes = [
        f"{name}: {values[f'{name} frames']:.0f} of {length + 1} frames decoded, Python "
        f"growth {values[f'{name} Python growth MB']:.2f} MB, ffmpeg peak "
        f"{values[f'{name} encoder peak MB']:.1f} MB"
        for name in (OURS, MOVIEPY)
    ]
    return dataclasses.replace(timed, values=values, notes=tuple(notes))


def targets(times: Sequence[Result], memory: Sequence[Result]) -> Result:
    """The targets, checked on the largest length, the middle one and the GIF."""

    def verdict(value: float, limit: float) -> str:
        return "met" if value <= limit else "NOT met"

    def growth(result: Result, name: str) -> float:
        return result.figure(name).extra["Python growth MB"]

    def at(results: Sequence[Result], length: int) -> Result:
        return next(r for r in results if r.params["length"] == length)

    lengths = sorted(r.params["length"] for r in times)
    big, mid = at(memory[:-1], lengths[-1]), at(times, lengths[len(lengths) // 2])
    gif = memory[-1]
    big_frames, mid_frames, gif_frames = (r.params["frames"] for r in (big, mid, gif))
    values = {
        "python_growth_mb_2000": growth(big, OURS),
        "ratio_500": mid.figure(OURS).ratio_to_reference or math.nan,
        "stall_ms_500": mid.figure(OURS).extra.get("stall ms", math.nan),
        "gif_growth_mb_200": growth(gif, OURS_GIF),
    }
    ratio = {name: mid.figure(name).ratio_to_reference or math.nan for name in VARIANTS}
    notes = [
        f"Python peak RSS growth at {big_frames} frames: {OURS} {growth(big, OURS):.1f} MB, "
        f"{GYMNASIUM} {growth(big, GYMNASIUM):.1f} MB (target <= "
        f"{TARGETS['python_growth_mb_2000']:.0f} MB: "
        f"{verdict(values['python_growth_mb_2000'], TARGETS['python_growth_mb_2000'])})",
        f"time / render only at {mid_frames} frames: {OURS} {ratio[OURS]:.2f}, {GYMNASIUM} "
        f"{ratio[GYMNASIUM]:.2f}, {IMAGEIO} {ratio[IMAGEIO]:.2f} (target <= "
        f"{TARGETS['ratio_500']:.1f}: {verdict(values['ratio_500'], TARGETS['ratio_500'])})",
        f"finalisation stall at {mid_frames} frames: {OURS} {values['stall_ms_500']:.1f} ms, "
        f"{GYMNASIUM} {mid.figure(GYMNASIUM).extra.get('stall ms', math.nan):.1f} ms "
        f"(target <= {TARGETS['stall_ms_500']:.0f} ms: "
        f"{verdict(values['stall_ms_500'], TARGETS['stall_ms_500'])})",
        f"GIF of {gif_frames} frames, Python peak RSS growth: {OURS} "
        f"{values['gif_growth_mb_200']:.1f} MB, Pillow {growth(gif, PILLOW_GIF):.1f} MB "
        f"(target <= {TARGETS['gif_growth_mb_200']:.0f} MB: "
        f"{verdict(values['gif_growth_mb_200'], TARGETS['gif_growth_mb_200'])})",
    ]
    return summarize(
        "targets", {}, reference=RENDER_ONLY, per_unit="episode", values=values, notes=notes
    )


def run(
    *,
    lengths: Sequence[int] = (100, 500, 2000),
    rounds: int = 5,
    gif_length: int = 199,
    moviepy_length: int | None = 299,
) -> list[Result]:
    """Time per episode at every length, peak memory, the targets, then the
    moviepy comparison (None: skipped). Linux only."""
    os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    times = measure_times(lengths, rounds)
    memory = run_memory(lengths, gif_length)
    results = [*times, *memory, targets(times, memory)]
    if moviepy_length is not None:
        results.append(compare_moviepy(moviepy_length, rounds))
    return results


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed interleaved rounds")
    parser.add_argument(
        "--lengths", type=int, nargs="+", default=[100, 500, 2000], help="steps per episode"
    )
    parser.add_argument("--gif-length", type=int, default=199, help="steps of the GIF episode")
    parser.add_argument(
        "--moviepy-length", type=int, default=299, help="steps of the moviepy comparison"
    )
    parser.add_argument(
        "--moviepy-only", action="store_true", help="run only the moviepy comparison"
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: short episodes, 1 round (meaningless)"
    )
    parser.add_argument(
        "--memory-probe", nargs=2, metavar=("VARIANT", "LENGTH"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.lengths, args.gif_length, args.moviepy_length = 1, [10, 20], 9, 9
    if args.rounds < 1 or min([*args.lengths, args.gif_length, args.moviepy_length]) < 2:
        parser.error("--rounds must be >= 1, --lengths, --gif-length and --moviepy-length >= 2")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.memory_probe:
        name, length = args.memory_probe
        print(json.dumps(memory_probe(name, int(length))))
        return
    if not sys.platform.startswith("linux"):
        raise SystemExit("benchmarks/video.py reads /proc: it runs on Linux only")
    print(
        f"python {sys.version.split()[0]}, gymnasium {gym.__version__}, {os.cpu_count()} CPUs "
        f"(load average {os.getloadavg()[0]:.2f}); CartPole 600x400 RGB at {FPS} fps, every "
        f"episode recorded; {args.rounds} interleaved round(s), medians; time per episode: "
        "reset + steps (ScheduledRecordVideo also waits for its file); encoder = ffmpeg "
        "subprocesses"
    )
    if args.moviepy_only:
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
        results = [compare_moviepy(args.moviepy_length, args.rounds)]
    else:
        results = run(
            lengths=args.lengths,
            rounds=args.rounds,
            gif_length=args.gif_length,
            moviepy_length=args.moviepy_length,
        )
    for result in results:
        print()
        print_table(result)
    print(f"load average at the end: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()

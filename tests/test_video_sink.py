"""VideoSink without an env: synthetic frames and EpisodeRecords in, files decoded back.

Also the sink's place in a stack: the sidecar's run key, garbage collection
of an unclosed wrapper.
"""

from __future__ import annotations

import copy
import gc
import json
import os
import pickle
import sqlite3
import warnings
import weakref
from pathlib import Path
from typing import Any

import gymnasium as gym
import imageio.v3 as iio
import numpy as np
import pytest

from gymscope.episode import EpisodeRecord, RunInfo, StatsConfig
from gymscope.errors import UsageError
from gymscope.sinks import VideoSink
from gymscope.sinks.base import Sink, replay_returns
from gymscope.wrappers.base import GymscopeWrapper
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from gymscope.wrappers.video import ScheduledRecordVideo
from stubs import ScriptedEnv, play


def decode(path: Path) -> tuple[int, tuple[int, int], list[np.ndarray]]:
    """Frames counted by decoding ``path`` with imageio, (width, height), the frames.

    imageio's ffmpeg reader leaves its pipes to the garbage collector; the
    ResourceWarning that makes is not about gymscope, so it is silenced here.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        frames = list(iio.imread(path, index=None))
        gc.collect()
    height, width = frames[0].shape[:2]
    return len(frames), (width, height), frames


def frame(t: int, height: int = 32, width: int = 48) -> np.ndarray:
    image = np.zeros((height, width, 3), dtype=np.uint8)
    image[..., 0] = 20 * t  # red encodes the frame's index
    return image


def sidecar(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(Path(f"{path}.json").read_text(encoding="utf-8"))
    return data


def records(*returns: float) -> list[EpisodeRecord]:
    return list(replay_returns(returns))


# -- frames in, a file out ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "size", "expected"),
    [("mp4", (32, 48), (48, 32)), ("mp4", (33, 47), (48, 34)), ("gif", (33, 47), (47, 33))],
)
def test_frames_are_decoded_back_in_number_and_size(
    tmp_path: Path, fmt: Any, size: tuple[int, int], expected: tuple[int, int]
) -> None:
    sink = VideoSink(tmp_path, format=fmt, fps=10)
    sink.open(RunInfo())
    sink.start("clip")
    for t in range(12):  # 12 frames: the count moviepy gets wrong (REFERENCE.md)
        sink.add_frame(frame(t, *size))
    assert sink.recording and sink.frames == 12
    sink.close()
    path = tmp_path / f"clip.{fmt}"
    frames, decoded_size, decoded = decode(path)
    assert (frames, decoded_size) == (12, expected)
    reds = [int(image[: size[0], : size[1], 0].mean()) for image in decoded]
    assert all(abs(red - 20 * t) <= 8 for t, red in enumerate(reds)), reds
    data = sidecar(path)
    assert (data["frames"], data["width"], data["height"]) == (12, *expected)
    assert (data["frame_width"], data["frame_height"]) == (size[1], size[0])
    assert sink.saved_videos == [path]


def test_max_frames_drops_later_frames(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path, max_frames=3, scale=0.5)
    sink.start("capped")
    for t in range(5):
        sink.add_frame(frame(t))
    assert sink.full and sink.frames == 3
    sink.stop()
    sink.flush()
    assert decode(tmp_path / "capped.mp4")[:2] == (3, (24, 16))


def test_stop_in_the_background_then_flush(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path)
    for name in ("a", "b", "c"):
        sink.start(name)
        sink.add_frame(frame(0))
        sink.stop("episode_end")
    sink.flush()
    assert sorted(p.name for p in sink.saved_videos) == ["a.mp4", "b.mp4", "c.mp4"]
    assert not list(tmp_path.glob(".*"))  # no temporary file left
    sink.close()
    sink.close()  # idempotent


def test_a_video_without_frames_is_not_saved(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path)
    sink.start("empty")
    with pytest.warns(UserWarning, match="has no frames"):
        sink.stop()
    sink.close()
    assert list(tmp_path.iterdir()) == []


def test_usage_and_argument_errors(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path)
    with pytest.raises(UsageError, match="no video is being recorded"):
        sink.add_frame(frame(0))
    sink.start("bad")
    with pytest.raises(TypeError, match="uint8"):
        sink.add_frame(frame(0).astype(np.float32))
    assert not sink.recording and list(tmp_path.iterdir()) == []
    with pytest.raises(ValueError, match="format must be 'mp4' or 'gif'"):
        VideoSink(tmp_path, format="avi")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fps must be a number in \\(0, 1000\\]"):
        VideoSink(tmp_path, fps=0)
    for fps in (1000.5, 10**9, float("inf")):
        with pytest.raises(ValueError, match=rf"fps must be a number in \(0, 1000\] .*, got {fps}"):
            VideoSink(tmp_path, fps=fps)
    with pytest.raises(TypeError, match="sidecar must be True or False"):
        VideoSink(tmp_path, sidecar="yes")  # type: ignore[arg-type]


# -- episodes and the sidecar -------------------------------------------------------------


def test_records_go_to_the_video_holding_their_final_frame(tmp_path: Path) -> None:
    first, second, third = records(1.0, 2.0, 4.0)
    sink = VideoSink(tmp_path)
    sink.on_episode(first)  # no video running, and none starts in episode 0: dropped
    sink.start("one", first_episode=1)
    sink.add_frame(frame(0))
    sink.on_episode(second)
    sink.start("two", first_episode=1)  # starts on episode 1's final frame: it gets it
    sink.add_frame(frame(1))
    sink.add_frame(frame(2))
    sink.on_episode(third)
    sink.close()  # stopped before episode 2's final frame came: still its episode
    one, two = sidecar(tmp_path / "one.mp4"), sidecar(tmp_path / "two.mp4")
    assert (one["episodes"], one["return"], one["end"]) == ([], None, "new_recording")
    assert [e["index"] for e in two["episodes"]] == [1, 2]
    assert (two["return"], two["end"], two["frames"]) == (2.0, "close", 2)


def test_sidecar_is_versioned_and_names_the_run_as_it_is_when_written(tmp_path: Path) -> None:
    run = RunInfo()
    sink = VideoSink(tmp_path, fps=25)
    sink.open(run)
    sink.start("clip", trigger="episode", episode=3, step=40, first_episode=0)
    sink.add_frame(frame(0))
    run.experiment, run.worker = "x", 2  # as a database sink does after open()
    for record in records(7.5):
        sink.on_episode(record)
    sink.add_frame(frame(1))
    sink.stop("episode_end")
    sink.close()
    data = sidecar(tmp_path / "clip.mp4")
    assert data["schema"] == "gymscope-video/2"
    assert data["run"] == {"experiment": "x", "worker": 2}
    assert (data["trigger"], data["episode"], data["step"], data["fps"]) == ("episode", 3, 40, 25)
    assert (data["return"], data["length"], data["seed"]) == (7.5, 1, None)


def test_sidecar_without_a_run(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path)  # never opened
    sink.start("alone")
    sink.add_frame(frame(0))
    sink.close()
    assert sidecar(tmp_path / "alone.mp4")["run"] == {"experiment": None, "worker": None}


def test_pickled_copy_has_no_running_video(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path, format="gif")
    sink.start("clip")
    sink.add_frame(frame(0))
    for clone in (pickle.loads(pickle.dumps(sink)), copy.deepcopy(sink)):
        assert not clone.recording and clone.format == "gif"
        clone.close()
    sink.add_frame(frame(1))
    sink.close()
    assert decode(tmp_path / "clip.gif")[0] == 2


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_forked_child_drops_the_parents_video(tmp_path: Path) -> None:
    sink = VideoSink(tmp_path)
    sink.start("parent")
    sink.add_frame(frame(0))
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            sink.forked()
            sink.close()
            code = 0 if not sink.recording and not sink.saved_videos else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    sink.add_frame(frame(1))
    sink.close()
    assert decode(tmp_path / "parent.mp4")[0] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parent.mp4", "parent.mp4.json"]


# -- in a stack -----------------------------------------------------------------------------

SCRIPT = ((1.0, 2.0, 3.0), (0.5,) * 5)


def scripted() -> ScriptedEnv:
    return ScriptedEnv(SCRIPT, render_mode="rgb_array")


class _NamesTheRun(Sink):
    """Does to the RunInfo what a database sink does: names the run at open(),
    sets the worker at its first write."""

    def open(self, run: RunInfo) -> None:
        super().open(run)
        run.experiment = "x"

    def on_episode(self, record: EpisodeRecord, info: Any = None) -> None:
        assert self.run is not None
        if self.run.worker is None:
            self.run.worker = 5


class _RunNamer(GymscopeWrapper[Any, Any]):
    def __init__(self, env: gym.Env[Any, Any]) -> None:
        super().__init__(env, _NamesTheRun(), stats=StatsConfig(), priority=-1)


@pytest.mark.parametrize("video_outside", [True, False], ids=["video-outer", "video-inner"])
def test_sidecar_names_the_run_a_stack_member_fills_in(tmp_path: Path, video_outside: bool) -> None:
    trigger = {"episode_trigger": lambda i: True}
    if video_outside:
        env: gym.Env[Any, Any] = ScheduledRecordVideo(_RunNamer(scripted()), tmp_path, **trigger)
    else:
        env = _RunNamer(ScheduledRecordVideo(scripted(), tmp_path, **trigger))
    play(env, 2)
    env.close()
    for index in (0, 1):
        run = sidecar(tmp_path / f"rl-video-episode-{index}.mp4")["run"]
        assert run == {"experiment": "x", "worker": 5}


@pytest.mark.parametrize("video_outside", [True, False], ids=["video-outer", "video-inner"])
def test_sidecar_run_matches_the_database_row(tmp_path: Path, video_outside: bool) -> None:
    db = tmp_path / "metrics.db"
    trigger = {"episode_trigger": lambda i: True}
    if video_outside:
        env: gym.Env[Any, Any] = ScheduledRecordVideo(
            SQLiteLoggerWrapper(scripted(), db, experiment="x"), tmp_path / "v", **trigger
        )
    else:
        env = SQLiteLoggerWrapper(
            ScheduledRecordVideo(scripted(), tmp_path / "v", **trigger), db, experiment="x"
        )
    play(env, 2)
    env.close()
    with sqlite3.connect(db) as connection:
        rows = connection.execute(
            "SELECT DISTINCT episode.worker FROM episode JOIN experiment "
            "ON episode.experiment_id = experiment.id WHERE experiment.name = 'x'"
        ).fetchall()
    connection.close()
    assert len(rows) == 1
    for index in (0, 1):
        run = sidecar(tmp_path / "v" / f"rl-video-episode-{index}.mp4")["run"]
        assert run == {"experiment": "x", "worker": rows[0][0]}


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_between_videos_keeps_the_video_it_started(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: i == 1)
    play(env, 1)  # episode 0, not recorded
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child records episode 1 before its first delivery
        code = 1
        try:
            play(env, 1)
            env.close()
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    env.close()
    assert decode(tmp_path / "rl-video-episode-1.mp4")[0] == 6
    assert sidecar(tmp_path / "rl-video-episode-1.mp4")["end"] == "episode_end"


def test_unclosed_wrapper_saves_its_video_when_collected(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: True)
    env.reset()
    env.step(0)
    wrapper = weakref.ref(env)
    del env
    gc.collect()
    assert wrapper() is None  # the sink does not keep the wrapper alive
    path = tmp_path / "rl-video-episode-0.mp4"
    assert decode(path)[0] == 2
    assert sidecar(path)["end"] == "close"

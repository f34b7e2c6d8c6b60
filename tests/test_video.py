"""ScheduledRecordVideo: files decoded, parity with RecordVideo, sidecars, errors, lifecycle."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import pickle
import re
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import gymnasium as gym
import imageio_ffmpeg
import numpy as np
import pytest
from gymnasium.wrappers import RecordVideo, RenderCollection
from PIL import Image

from gymscope import EpisodeCaptureSchedule, EpisodeStatsWrapper, RecordState
from gymscope.errors import OutputWriteError
from gymscope.wrappers.video import ScheduledRecordVideo
from stubs import ScriptedEnv, play

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SRC = ROOT / "src"

# Episode lengths 3, 5 and 2, cycling.
SCRIPT = ((1.0, 2.0, 3.0), (0.5,) * 5, (-1.0, 4.0))


# -- helpers ------------------------------------------------------------------------------


def decode(path: Path) -> tuple[int, tuple[int, int], float, list[np.ndarray]]:
    """Frames counted by decoding the file, (width, height), fps, and the frames.

    MP4s are decoded by ffmpeg itself (imageio-ffmpeg's read_frames leaks its
    pipes when ffmpeg has already exited, which filterwarnings=error reports).
    """
    if path.suffix == ".gif":
        with Image.open(path) as image:
            frames = []
            for index in range(image.n_frames):
                image.seek(index)
                frames.append(np.asarray(image.convert("RGB")))
            return len(frames), image.size, 1000.0 / image.info["duration"], frames
    result = subprocess.run(
        [
            *(imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)),
            *("-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"),
        ],
        capture_output=True,
        check=True,
    )
    header = result.stderr.decode()
    stream = next(line for line in header.splitlines() if "Video:" in line)
    size = re.search(r", (\d+)x(\d+)[ ,]", stream)
    fps = re.search(r", ([\d.]+) fps", stream)
    assert size is not None and fps is not None, stream
    width, height = int(size[1]), int(size[2])
    data = np.frombuffer(result.stdout, dtype=np.uint8).reshape(-1, height, width, 3)
    return len(data), (width, height), float(fps[1]), list(data)


def videos(folder: Path) -> list[str]:
    """Names of the finished videos in ``folder`` (no sidecars, no temporary files)."""
    return sorted(p.name for p in folder.iterdir() if p.suffix in (".mp4", ".gif"))


def sidecar(folder: Path, video: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((folder / f"{video}.json").read_text(encoding="utf-8"))
    return data


def scripted(**kwargs: Any) -> ScriptedEnv:
    return ScriptedEnv(SCRIPT, render_mode="rgb_array", **kwargs)


class FrameEnv(gym.Env[np.ndarray, int]):
    """Episodes of ``length`` steps whose render() output is chosen by ``frame(t)``."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(self, frame: Any, length: int = 4, render_mode: str = "rgb_array") -> None:
        self.frame = frame
        self.length = length
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self.t = 0
        self.renders = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, dtype=np.float32), {}

    def step(self, action: int) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self.t += 1
        return np.zeros(1, dtype=np.float32), 1.0, self.t >= self.length, False, {}

    def render(self) -> Any:
        self.renders += 1
        return self.frame(self.t)


def solid(height: int, width: int, channels: int | None = 3) -> Any:
    shape = (height, width) if channels is None else (height, width, channels)

    def frame(t: int) -> np.ndarray:
        image = np.zeros(shape, dtype=np.uint8)
        if channels in (None, 1):
            image[...] = 200  # gray
        else:
            image[..., 0] = 200  # red
        return image

    return frame


class CountingRecordVideo(RecordVideo):  # unsubscripted: its type parameters vary by version
    """gymnasium's RecordVideo, remembering how many frames each video was given.

    Its files are not written (moviepy is slow and can drop a frame, see
    REFERENCE.md): names and intended frame counts are what is compared.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.given: dict[str, int] = {}

    def stop_recording(self) -> None:
        assert self._video_name is not None
        self.given[f"{self._video_name}.mp4"] = len(self.recorded_frames)
        self.recorded_frames = []
        self.recording = False
        self._video_name = None


# -- parity with gymnasium's RecordVideo --------------------------------------------------


@pytest.mark.parametrize(
    "triggers",
    [
        {},  # RecordVideo's default schedule: 0, 1, 8, ...
        {"episode_trigger": lambda i: i % 3 == 0},
        {"step_trigger": lambda t: t % 7 == 0},
        {"step_trigger": lambda t: t % 10 == 0, "video_length": 4},
        {"episode_trigger": lambda i: i == 1, "video_length": 6},
        {"episode_trigger": lambda i: i < 2, "step_trigger": lambda t: t == 4},
    ],
    ids=["default", "every-3rd-episode", "every-7th-step", "steps-length-4", "span", "both"],
)
def test_names_triggers_and_frames_match_record_video(
    tmp_path: Path, triggers: dict[str, Any]
) -> None:
    theirs = CountingRecordVideo(scripted(), str(tmp_path / "gymnasium"), **triggers)
    ours = ScheduledRecordVideo(scripted(), tmp_path / "ours", **triggers)
    play(theirs, 10, seed=0)
    play(ours, 10, seed=0)
    theirs.close()
    ours.close()

    assert videos(tmp_path / "ours") == sorted(theirs.given)
    length = triggers.get("video_length", 0)
    for name, given in theirs.given.items():
        frames, size, fps, _ = decode(tmp_path / "ours" / name)
        # RecordVideo keeps N + 1 frames for video_length=N; gymscope exactly N.
        assert frames == (min(given, length) if length else given), name
        assert size == (48, 32) and fps == 10.0


def test_same_files_as_record_video_writes(tmp_path: Path) -> None:
    theirs = RecordVideo(scripted(), str(tmp_path / "gymnasium"), episode_trigger=lambda i: i < 2)
    ours = ScheduledRecordVideo(scripted(), tmp_path / "ours", episode_trigger=lambda i: i < 2)
    for env in (theirs, ours):
        play(env, 3, seed=0)
        env.close()
    assert videos(tmp_path / "ours") == videos(tmp_path / "gymnasium")
    assert videos(tmp_path / "ours") == ["rl-video-episode-0.mp4", "rl-video-episode-1.mp4"]
    assert isinstance(ours, RecordVideo)


# -- frames and timing of the files --------------------------------------------------------


def test_frames_are_those_rendered_in_order(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: i == 1)
    play(env, 2, seed=0)
    env.close()
    frames, _, _, decoded = decode(tmp_path / "rl-video-episode-1.mp4")
    assert frames == 6  # reset frame + 5 steps
    # ScriptedEnv paints red = 20 * t; lossy H.264 stays within a few levels.
    reds = [int(frame[..., 0].mean()) for frame in decoded]
    assert all(abs(red - 20 * t) <= 4 for t, red in enumerate(reds)), reds


@pytest.mark.parametrize("length", [1, 5, 7])
def test_video_length_gives_exactly_n_frames(tmp_path: Path, length: int) -> None:
    env = ScheduledRecordVideo(
        scripted(), tmp_path, episode_trigger=lambda i: i == 0, video_length=length
    )
    play(env, 4, seed=0)
    env.close()
    assert decode(tmp_path / "rl-video-episode-0.mp4")[0] == length
    assert sidecar(tmp_path, "rl-video-episode-0.mp4")["end"] == "video_length"


def test_video_is_final_when_the_episode_ends_not_at_reset(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: i == 0)
    env.reset(seed=0)
    env.step(0)
    env.step(0)
    assert env.recording and env.frames_recorded == 3
    assert videos(tmp_path) == []
    env.step(0)  # terminates episode 0
    assert not env.recording
    env.flush()  # the encoder is closed in the background
    assert videos(tmp_path) == ["rl-video-episode-0.mp4"]
    assert env.saved_videos == [tmp_path / "rl-video-episode-0.mp4"]
    assert decode(tmp_path / "rl-video-episode-0.mp4")[0] == 4
    env.close()


@pytest.mark.parametrize(
    ("fps", "metadata", "expected"),
    [(25, {"render_fps": 10}, 25.0), (None, {"render_fps": 10}, 10.0), (None, {}, 30.0)],
    ids=["argument", "metadata", "default"],
)
def test_fps_argument_then_metadata_then_30(
    tmp_path: Path, fps: int | None, metadata: dict[str, Any], expected: float
) -> None:
    env = scripted()
    env.metadata = {"render_modes": ["rgb_array"], **metadata}
    wrapper = ScheduledRecordVideo(env, tmp_path, episode_trigger=lambda i: True, fps=fps)
    play(wrapper, 1)
    wrapper.close()
    assert decode(tmp_path / "rl-video-episode-0.mp4")[2] == expected
    assert sidecar(tmp_path, "rl-video-episode-0.mp4")["fps"] == expected


# -- sidecars ------------------------------------------------------------------------------


def _without_durations(data: dict[str, Any]) -> dict[str, Any]:
    for episode in data["episodes"]:
        assert isinstance(episode.pop("duration_s"), float)
    return data


def test_sidecar_contents_exact(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(
        ScriptedEnv(SCRIPT, truncate=(1,), render_mode="rgb_array"),
        tmp_path,
        episode_trigger=lambda i: i < 2,
    )
    play(env, 2, seed=7)
    env.close()
    common = {"schema": "gymscope-video/2", "run": {"experiment": None, "worker": None}}
    common |= {"format": "mp4", "trigger": "episode", "fps": 10, "width": 48, "height": 32}
    common |= {"frame_width": 48, "frame_height": 32, "end": "episode_end"}
    assert _without_durations(sidecar(tmp_path, "rl-video-episode-0.mp4")) == {
        "video": "rl-video-episode-0.mp4",
        **common,
        "episode": 0,
        "step": 0,
        "frames": 4,
        "return": 6.0,
        "length": 3,
        "terminated": True,
        "truncated": False,
        "seed": 7,
        "episodes": [
            {
                "index": 0,
                "return": 6.0,
                "length": 3,
                "terminated": True,
                "truncated": False,
                "seed": 7,
                "moving_mean": 6.0,
                "nonfinite": False,
            }
        ],
    }
    second = _without_durations(sidecar(tmp_path, "rl-video-episode-1.mp4"))
    assert second == {
        "video": "rl-video-episode-1.mp4",
        **common,
        "episode": 1,
        "step": 3,
        "frames": 6,
        "return": 2.5,
        "length": 5,
        "terminated": False,
        "truncated": True,
        "seed": None,
        "episodes": [
            {
                "index": 1,
                "return": 2.5,
                "length": 5,
                "terminated": False,
                "truncated": True,
                "seed": None,
                "moving_mean": 4.25,
                "nonfinite": False,
            }
        ],
    }


def test_sidecar_of_a_snippet_spanning_episodes(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, step_trigger=lambda t: t == 1, video_length=8)
    play(env, 3, seed=0)
    env.close()
    data = sidecar(tmp_path, "rl-video-step-1.mp4")
    assert (data["trigger"], data["step"], data["episode"], data["frames"]) == ("step", 1, 0, 8)
    # Frames: steps 1-2 of episode 0, reset + 5 steps of episode 1 (its end included).
    assert [e["index"] for e in data["episodes"]] == [0, 1]
    assert (data["return"], data["length"]) == (6.0, 3)  # the episode it started in


def test_video_cut_short_by_close_has_an_open_sidecar(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: i == 1)
    play(env, 1, seed=0)
    env.reset()
    env.step(0)
    env.close()
    data = sidecar(tmp_path, "rl-video-episode-1.mp4")
    assert (data["end"], data["frames"], data["return"], data["episodes"]) == ("close", 2, None, [])
    assert decode(tmp_path / "rl-video-episode-1.mp4")[0] == 2


def test_non_finite_return_is_null_in_valid_json(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(
        ScriptedEnv(((1.0, float("nan")),), render_mode="rgb_array"),
        tmp_path,
        episode_trigger=lambda i: True,
    )
    with pytest.warns(RuntimeWarning, match="non-finite return"):
        play(env, 1)
    env.close()
    data = sidecar(tmp_path, "rl-video-episode-0.mp4")
    assert data["return"] is None and data["episodes"][0]["nonfinite"] is True


@pytest.mark.parametrize("video_inside", [True, False], ids=["video-inner", "video-outer"])
def test_stack_order_does_not_change_the_sidecar(tmp_path: Path, video_inside: bool) -> None:
    trigger = EpisodeCaptureSchedule(every_n_episodes=1).should_capture_episode
    if video_inside:
        env: gym.Env[Any, Any] = EpisodeStatsWrapper(
            ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=trigger)
        )
    else:
        env = ScheduledRecordVideo(
            EpisodeStatsWrapper(scripted()), tmp_path, episode_trigger=trigger
        )
    finals = play(env, 3, seed=3)
    env.close()
    for index, info in enumerate(finals):
        data = sidecar(tmp_path, f"rl-video-episode-{index}.mp4")
        assert data["return"] == info["episode"]["r"]
        assert data["length"] == info["episode"]["l"]
        assert data["episodes"][0]["moving_mean"] == info["episode"]["r_mean"]
    assert sidecar(tmp_path, "rl-video-episode-0.mp4")["seed"] == 3


def test_mp4_and_gif_recorders_stack_like_the_demo(tmp_path: Path) -> None:
    total = 4
    every_other = EpisodeCaptureSchedule(
        every_n_episodes=2, last_n_episodes=1, total_episodes=total
    )
    last = EpisodeCaptureSchedule(last_n_episodes=1, total_episodes=total)
    env = EpisodeStatsWrapper(
        ScheduledRecordVideo(
            ScheduledRecordVideo(scripted(), tmp_path, schedule=every_other),
            tmp_path,
            schedule=last,
            format="gif",
            scale=0.5,
            max_frames=100,
        )
    )
    finals = play(env, total)
    env.close()
    assert videos(tmp_path) == [
        "rl-video-episode-0.mp4",
        "rl-video-episode-2.mp4",
        "rl-video-episode-3.gif",
        "rl-video-episode-3.mp4",
    ]
    gif = sidecar(tmp_path, "rl-video-episode-3.gif")
    assert gif["return"] == sidecar(tmp_path, "rl-video-episode-3.mp4")["return"]
    assert gif["return"] == finals[3]["episode"]["r"]
    assert decode(tmp_path / "rl-video-episode-3.gif")[:2] == (4, (24, 16))


def test_sidecar_can_be_turned_off(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: True, sidecar=False)
    play(env, 1)
    env.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rl-video-episode-0.mp4"]


# -- schedules and RecordState --------------------------------------------------------------


def test_schedule_with_last_n_episodes(tmp_path: Path) -> None:
    schedule = EpisodeCaptureSchedule(
        episode_indices=(1,), every_n_episodes=4, last_n_episodes=2, total_episodes=10
    )
    env = ScheduledRecordVideo(scripted(), tmp_path, schedule=schedule)
    play(env, 10)
    env.close()
    expected = [0, 1, 4, 8, 9]
    assert videos(tmp_path) == sorted(f"rl-video-episode-{i}.mp4" for i in expected)
    assert decode(tmp_path / "rl-video-episode-9.mp4")[0] == len(SCRIPT[9 % 3]) + 1


def test_schedule_of_steps(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(
        scripted(), tmp_path, schedule=EpisodeCaptureSchedule(every_n_steps=6), video_length=3
    )
    play(env, 4)  # 3 + 5 + 2 + 3 = 13 steps
    env.close()
    assert videos(tmp_path) == [f"rl-video-step-{t}.mp4" for t in (0, 12, 6)]
    assert decode(tmp_path / "rl-video-step-12.mp4")[0] == 1  # closed after one frame


@pytest.mark.parametrize("method", ["episode", "step"])
def test_from_state(tmp_path: Path, method: str) -> None:
    if method == "episode":
        state = RecordState(tmp_path, "episode", episode_trigger=lambda i: i == 1)
    else:
        state = RecordState(tmp_path, "step", step_trigger=lambda t: t == 2)
    env = ScheduledRecordVideo.from_state(scripted(), state, name_prefix="velora", format="gif")
    play(env, 2)
    env.close()
    assert videos(tmp_path) == [
        "velora-episode-1.gif" if method == "episode" else "velora-step-2.gif"
    ]


def test_from_state_refuses_arguments_the_state_sets(tmp_path: Path) -> None:
    state = RecordState(tmp_path, "episode")
    with pytest.raises(TypeError, match="from_state\\(\\) takes video_folder"):
        ScheduledRecordVideo.from_state(scripted(), state, video_folder=tmp_path / "other")
    with pytest.raises(TypeError, match="RecordState"):
        ScheduledRecordVideo.from_state(scripted(), {"video_folder": tmp_path})  # type: ignore[arg-type]


def test_gym_make_rebuilds_the_wrapper_from_its_spec(tmp_path: Path) -> None:
    schedule = EpisodeCaptureSchedule(every_n_episodes=5)
    env = ScheduledRecordVideo(
        gym.make("CartPole-v1", render_mode="rgb_array"), tmp_path, schedule=schedule, fps=12
    )
    assert env.spec is not None
    rebuilt = gym.make(env.spec)
    assert isinstance(rebuilt, ScheduledRecordVideo)
    assert (rebuilt.schedule, rebuilt.frames_per_sec) == (schedule, 12)
    env.close()
    rebuilt.close()


# -- GIFs --------------------------------------------------------------------------------


def test_gif_with_scale_and_max_frames(tmp_path: Path) -> None:
    env = FrameEnv(solid(32, 48), length=10)
    wrapper = ScheduledRecordVideo(
        env, tmp_path, episode_trigger=lambda i: True, format="gif", scale=0.5, max_frames=3
    )
    play(wrapper, 1)
    assert env.renders == 3  # frames past max_frames are not even rendered
    wrapper.close()
    frames, size, fps, decoded = decode(tmp_path / "rl-video-episode-0.gif")
    assert (frames, size, fps) == (3, (24, 16), 10.0)
    assert abs(int(decoded[0][..., 0].mean()) - 200) <= 8
    data = sidecar(tmp_path, "rl-video-episode-0.gif")
    assert (data["frames"], data["length"], data["width"], data["height"]) == (3, 10, 24, 16)


def test_gif_of_a_scripted_episode(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: True, format="gif")
    play(env, 2)
    env.close()
    assert decode(tmp_path / "rl-video-episode-1.gif")[:3] == (6, (48, 32), 10.0)


# -- odd frames ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("height", "width", "padded"),
    [(5, 7, (16, 16)), (33, 47, (48, 34)), (1, 1, (16, 16)), (32, 48, (48, 32))],
)
def test_small_and_odd_frames_are_padded_for_h264(
    tmp_path: Path, height: int, width: int, padded: tuple[int, int]
) -> None:
    env = ScheduledRecordVideo(
        FrameEnv(solid(height, width), length=3), tmp_path, episode_trigger=lambda i: True
    )
    play(env, 1)
    env.close()
    frames, size, _, decoded = decode(tmp_path / "rl-video-episode-0.mp4")
    assert (frames, size) == (4, padded)
    # The picture sits at the top left; the padding is black. (A 1x1 picture
    # shares its chroma with three black pixels: its red is diluted.)
    assert decoded[0][0, 0, 0] > (150 if min(width, height) > 1 else 60)
    if padded != (width, height):  # 4:2:0 chroma may bleed one pixel into it
        assert decoded[0][-1, -1].max() < 100
    data = sidecar(tmp_path, "rl-video-episode-0.mp4")
    assert (data["width"], data["height"]) == padded
    assert (data["frame_width"], data["frame_height"]) == (width, height)


def test_gif_keeps_odd_sizes(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(
        FrameEnv(solid(5, 7), length=3), tmp_path, episode_trigger=lambda i: True, format="gif"
    )
    play(env, 1)
    env.close()
    assert decode(tmp_path / "rl-video-episode-0.gif")[:2] == (4, (7, 5))


@pytest.mark.parametrize("channels", [None, 1, 4], ids=["gray-2d", "gray-3d", "rgba"])
def test_gray_and_rgba_frames(tmp_path: Path, channels: int | None) -> None:
    env = ScheduledRecordVideo(
        FrameEnv(solid(16, 16, channels), length=2), tmp_path, episode_trigger=lambda i: True
    )
    play(env, 1)
    env.close()
    frames, size, _, decoded = decode(tmp_path / "rl-video-episode-0.mp4")
    assert (frames, size) == (3, (16, 16))
    assert abs(int(decoded[0][..., 0].mean()) - 200) <= 8


# -- bad frames: clear errors, never a corrupt file ------------------------------------------


@pytest.mark.parametrize(
    ("frame", "error", "match"),
    [
        (lambda t: np.zeros((8, 8, 3), dtype=np.float32), TypeError, "must be uint8"),
        (lambda t: None, TypeError, 'render_mode="rgb_array"'),
        (lambda t: np.zeros((8, 8, 2), dtype=np.uint8), ValueError, "shape"),
        (lambda t: np.zeros((0, 8, 3), dtype=np.uint8), ValueError, "empty"),
    ],
    ids=["float", "none", "two-channels", "empty"],
)
def test_bad_first_frame_is_a_clear_error(
    tmp_path: Path, frame: Any, error: type[Exception], match: str
) -> None:
    env = ScheduledRecordVideo(FrameEnv(frame), tmp_path, episode_trigger=lambda i: True)
    with pytest.raises(error, match=match):
        env.reset()
    assert not env.recording
    env.close()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "frame",
    [
        lambda t: np.zeros((16 + 2 * (t >= 2), 16, 3), dtype=np.uint8),
        lambda t: np.zeros((16, 16, 3), dtype=np.uint8 if t < 2 else np.int16),
    ],
    ids=["size", "dtype"],
)
def test_frame_changing_mid_video_discards_it(tmp_path: Path, frame: Any) -> None:
    env = ScheduledRecordVideo(FrameEnv(frame), tmp_path, episode_trigger=lambda i: True)
    env.reset()
    env.step(0)
    with pytest.raises((ValueError, TypeError), match=r"shape|uint8"):
        env.step(0)
    assert not env.recording
    env.close()
    assert list(tmp_path.iterdir()) == []  # no final name, no temporary file


def test_encoder_dying_is_reported_and_leaves_no_file(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: i == 0)
    env.reset()
    rec = env.video_sink._rec
    assert rec is not None and rec.encoder is not None
    os.kill(rec.encoder.pid, signal.SIGKILL)
    rec.encoder._proc.wait()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _ in range(3):
            env.step(0)  # never raises: the video is lost, the run goes on
        assert not env.recording
        # reported once, by flush() here (or close())
        with pytest.raises(OutputWriteError, match=r"rl-video-episode-0\.mp4: ffmpeg"):
            env.flush()
    assert len([w for w in caught if issubclass(w.category, RuntimeWarning)]) == 1
    env.close()
    assert list(tmp_path.iterdir()) == []


def test_rgb_array_list_mode_records_the_latest_frame(tmp_path: Path) -> None:
    base = RenderCollection(scripted())
    assert base.render_mode == "rgb_array_list"
    env = ScheduledRecordVideo(base, tmp_path, episode_trigger=lambda i: True)
    play(env, 1)
    env.close()
    assert decode(tmp_path / "rl-video-episode-0.mp4")[0] == 4


def test_list_mode_keeps_emptying_the_env_after_max_frames(tmp_path: Path) -> None:
    base = RenderCollection(scripted())
    env = ScheduledRecordVideo(base, tmp_path, episode_trigger=lambda i: i == 1, max_frames=2)
    play(env, 2)
    assert base.frame_list == []  # RenderCollection would otherwise hold the rest
    env.close()
    assert decode(tmp_path / "rl-video-episode-1.mp4")[0] == 2


def _render_counts(env: gym.Env[Any, Any], steps: int) -> list[int]:
    """Frames each render() returns after each step (and reset), for ``steps`` steps."""
    env.reset(seed=0)
    counts = [len(env.render())]
    for _ in range(steps):
        _, _, terminated, truncated, _ = env.step(0)
        counts.append(len(env.render()))
        if terminated or truncated:
            env.reset()
    env.close()
    return counts


@pytest.mark.parametrize("order", ["recorder-outside", "recorder-inside"])
@pytest.mark.parametrize("video_length", [0, 4])
def test_list_mode_frames_reach_render_as_with_record_video(
    tmp_path: Path, order: str, video_length: int
) -> None:
    def build(recorder: Any, folder: Path) -> gym.Env[Any, Any]:
        kwargs = {"episode_trigger": lambda i: i != 1, "video_length": video_length}
        if order == "recorder-outside":
            return recorder(RenderCollection(scripted()), str(folder), **kwargs)
        return RenderCollection(recorder(scripted(), str(folder), **kwargs))

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # moviepy's and RecordVideo's own
        expected = _render_counts(build(RecordVideo, tmp_path / "gym"), 12)
    got = _render_counts(build(ScheduledRecordVideo, tmp_path / "gymscope"), 12)
    assert got == expected
    assert all(got[1:])  # a frame for every step, recorded or not


def test_list_mode_render_returns_the_recorded_frames_themselves(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(RenderCollection(scripted()), tmp_path, episode_trigger=bool)
    env.reset()
    env.step(0)
    frames = env.render()
    assert len(frames) == 2 and all(f.shape == (32, 48, 3) for f in frames)
    assert [int(f[0, 0, 0]) for f in frames] == [0, 20]  # the reset frame, then step 1's
    env.close()


@pytest.mark.parametrize("extra_steps", [1, 3])
def test_a_step_after_the_end_without_reset_warns_once_and_carries_on(
    tmp_path: Path, extra_steps: int
) -> None:
    def cartpole() -> gym.Env[Any, Any]:  # steps on past an episode's end
        return gym.make("CartPole-v1", render_mode="rgb_array", max_episode_steps=3)

    env = ScheduledRecordVideo(cartpole(), tmp_path, episode_trigger=lambda i: True)
    gym_env = RecordVideo(cartpole(), str(tmp_path / "gym"), episode_trigger=lambda i: True)
    for wrapper in (env, gym_env):
        wrapper.reset(seed=0)
        for _ in range(3):
            wrapper.step(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(extra_steps):
            gym_env.step(0)  # gymnasium carries on
        gym_env.close()
    with pytest.warns(UserWarning, match="after episode 0 ended .* without reset") as caught:
        for _ in range(extra_steps):
            env.step(0)
    assert len([w for w in caught if "without reset" in str(w.message)]) == 1
    assert env.tracker.episode_count == 1  # those steps belong to no episode
    play(env, 1)  # a reset starts the next episode as usual
    assert env.tracker.episode_count == 2
    env.close()


def test_a_step_before_reset_is_still_an_error(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path)
    with pytest.raises(RuntimeError, match=r"before reset\(\)"):
        env.step(0)
    env.close()


def test_a_step_after_the_end_raises_when_a_gymscope_wrapper_is_inside(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(EpisodeStatsWrapper(scripted()), tmp_path)
    play(env, 1)
    with pytest.raises(RuntimeError, match="without reset"):
        env.step(0)
    env.close()


@pytest.mark.parametrize("fps", [1001, 10**9, 2**63])
def test_an_fps_no_video_can_have_is_refused(tmp_path: Path, fps: int) -> None:
    with pytest.raises(ValueError, match=f"fps .*{fps}"):
        ScheduledRecordVideo(scripted(), tmp_path, fps=fps)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("render_fps", [10**6, 1000.5])
def test_an_env_render_fps_no_video_can_have_is_refused(tmp_path: Path, render_fps: float) -> None:
    base = scripted()
    base.metadata = {**base.metadata, "render_fps": render_fps}
    with pytest.raises(ValueError, match=re.escape(f"render_fps'] is {render_fps!r}")):
        ScheduledRecordVideo(base, tmp_path)


def test_fps_1000_is_accepted(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, fps=1000, episode_trigger=lambda i: i == 0)
    play(env, 1)
    env.close()
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "rl-video-episode-0.mp4"))
    assert frames == 4


@pytest.mark.parametrize("length", [200, 256, 1000])
def test_a_name_prefix_too_long_for_a_file_name_is_refused(tmp_path: Path, length: int) -> None:
    with pytest.raises(ValueError, match=f"name_prefix is {length} characters long.* at most"):
        ScheduledRecordVideo(scripted(), tmp_path, name_prefix="v" * length)


def test_the_longest_accepted_name_prefix_records(tmp_path: Path) -> None:
    message = ""
    try:
        ScheduledRecordVideo(scripted(), tmp_path, name_prefix="v" * 400)
    except ValueError as exc:
        message = str(exc)
    room = int(re.findall(r"use at most (\d+) characters", message)[0])
    env = ScheduledRecordVideo(scripted(), tmp_path, name_prefix="v" * room, step_trigger=bool)
    play(env, 2)
    env.close()
    assert env.saved_videos and all(
        p.with_name(p.name + ".json").exists() for p in env.saved_videos
    )


def test_a_video_name_too_long_is_refused(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path)
    env.reset()
    with pytest.raises(ValueError, match="video_name is 300 characters long"):
        env.start_recording("v" * 300)
    env.close()


@pytest.mark.parametrize("prefix", [".", "..", ".hidden", "...x", "../escape", "./x"])
def test_a_name_prefix_making_hidden_files_is_refused(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(ValueError, match=f"name_prefix {re.escape(repr(prefix))} starts with '.'"):
        ScheduledRecordVideo(scripted(), tmp_path, name_prefix=prefix)
    env = ScheduledRecordVideo(scripted(), tmp_path)
    env.reset()
    with pytest.raises(ValueError, match=r"video_name .* starts with '\.'"):
        env.start_recording(prefix)
    env.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_child_forked_mid_video_does_not_hold_ffmpeg_open(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: i == 0)
    env.reset()
    release_read, release_write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child keeps its inherited copy of the pipe to ffmpeg until told
        os.read(release_read, 1)
        os._exit(0)
    try:
        for _ in range(3):
            env.step(0)  # the episode ends: ffmpeg must see the end of its input
        finisher = threading.Thread(target=env.flush)
        finisher.start()
        finisher.join(timeout=60)  # a deadlock guard, not a timing check
        assert not finisher.is_alive(), "ffmpeg waited for the forked child"
    finally:
        os.write(release_write, b"x")
        os.waitpid(pid, 0)
        os.close(release_read)
        os.close(release_write)
    env.close()
    assert decode(tmp_path / "rl-video-episode-0.mp4")[0] == 4


# -- bad arguments, at construction -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"video_length": -5}, ValueError, "video_length must be an int >= 0, got -5"),
        ({"video_length": 2.5}, TypeError, "video_length must be an int"),
        ({"video_length": True}, TypeError, "video_length must be an int"),
        ({"fps": 0}, ValueError, "fps must be an int >= 1, got 0"),
        ({"fps": -30}, ValueError, "fps must be an int >= 1"),
        ({"fps": 29.97}, TypeError, "fps must be an int"),
        ({"fps": "30"}, TypeError, "fps must be an int"),
        ({"max_frames": 0}, ValueError, "max_frames must be an int >= 1"),
        ({"max_frames": -1}, ValueError, "max_frames must be an int >= 1"),
        ({"max_frames": 2.0}, TypeError, "max_frames must be an int"),
        ({"max_frames": 5, "video_length": 5}, ValueError, "give one"),
        ({"episode_trigger": 5}, TypeError, "episode_trigger must be a callable"),
        ({"step_trigger": "every 10"}, TypeError, "step_trigger must be a callable"),
        ({"gc_trigger": True}, TypeError, "gc_trigger must be a callable"),
        ({"format": "avi"}, ValueError, "format must be 'mp4' or 'gif'"),
        ({"scale": 0}, ValueError, "scale must be a float in"),
        ({"scale": "half"}, TypeError, "scale must be a float"),
        ({"name_prefix": ""}, ValueError, "name_prefix must be a non-empty str"),
        ({"name_prefix": 3}, TypeError, "name_prefix must be a non-empty str, got 3"),
        ({"schedule": "every:10"}, TypeError, "schedule must be an EpisodeCaptureSchedule"),
        (
            {"schedule": EpisodeCaptureSchedule(), "episode_trigger": None},
            ValueError,
            "captures nothing",
        ),
        (
            {"schedule": EpisodeCaptureSchedule(every_n_episodes=2), "step_trigger": bool},
            ValueError,
            "either schedule= or",
        ),
        ({"disable_logger": "yes"}, TypeError, "disable_logger must be a bool"),
    ],
)
def test_bad_arguments_are_refused_at_construction(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    inner = EpisodeStatsWrapper(scripted())
    listeners = len(inner.tracker._listeners)
    with pytest.raises(error, match=match):
        ScheduledRecordVideo(inner, tmp_path, **kwargs)
    assert len(inner.tracker._listeners) == listeners  # nothing joined the stack


@pytest.mark.parametrize("mode", [None, "human", "ansi", "depth_array"])
def test_env_without_image_render_mode_names_the_fix(tmp_path: Path, mode: str | None) -> None:
    with pytest.raises(ValueError, match='render_mode="rgb_array"') as info:
        ScheduledRecordVideo(ScriptedEnv(SCRIPT, render_mode=mode), tmp_path)
    assert repr(mode) in str(info.value)


def test_bad_render_fps_in_metadata_asks_for_fps(tmp_path: Path) -> None:
    env = scripted()
    env.metadata = {"render_fps": 0}
    with pytest.raises(ValueError, match="pass fps="):
        ScheduledRecordVideo(env, tmp_path)
    ScheduledRecordVideo(env, tmp_path, fps=5).close()


def test_folder_that_cannot_be_created_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(OSError, match=r"video_folder .* cannot hold new files"):
        ScheduledRecordVideo(scripted(), tmp_path / "file" / "videos")
    with pytest.raises(TypeError, match="video_folder must be a str or a path"):
        ScheduledRecordVideo(scripted(), 42)  # type: ignore[arg-type]


@pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root can write anywhere"
)
def test_read_only_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="cannot hold new files"):
            ScheduledRecordVideo(scripted(), folder)
    finally:
        folder.chmod(0o700)


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "safe"),
    [("a/../escape", "a_.._escape"), ("ALE/Pong-v5", "ALE_Pong-v5"), ("/abs\\x\x00", "_abs_x_")],
)
def test_name_prefix_cannot_leave_the_folder(tmp_path: Path, prefix: str, safe: str) -> None:
    folder = tmp_path / "videos"
    with pytest.warns(UserWarning, match="path separators"):
        env = ScheduledRecordVideo(
            scripted(), folder, episode_trigger=lambda i: True, name_prefix=prefix
        )
    assert env.name_prefix == safe
    play(env, 1)
    env.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["videos"]
    assert videos(folder) == [f"{safe}-episode-0.mp4"]


def test_existing_videos_of_the_same_name_are_warned_about(tmp_path: Path) -> None:
    (tmp_path / "rl-video-episode-0.mp4").write_bytes(b"old")
    with pytest.warns(UserWarning, match="already holds 1 video"):
        ScheduledRecordVideo(scripted(), tmp_path).close()
    ScheduledRecordVideo(scripted(), tmp_path, name_prefix="other").close()  # no warning


# -- lifecycle ---------------------------------------------------------------------------------


def test_close_is_idempotent_and_a_context_manager(tmp_path: Path) -> None:
    with ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: True) as env:
        env.reset()
        env.step(0)
    env.close()
    assert decode(tmp_path / "rl-video-episode-0.mp4")[0] == 2


def test_stop_and_start_recording_by_hand(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: False)
    env.reset()
    env.start_recording("by-hand")
    env.step(0)
    env.step(0)
    env.stop_recording()
    with pytest.raises(RuntimeError, match="no video is being recorded"):
        env.stop_recording()
    env.close()
    assert decode(tmp_path / "by-hand.mp4")[0] == 2
    assert sidecar(tmp_path, "by-hand.mp4")["trigger"] == "manual"


def test_gc_trigger_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    collected: list[int] = []
    monkeypatch.setattr("gymscope.wrappers.video.gc.collect", lambda: collected.append(1))
    seen: list[int] = []

    def gc_trigger(episode: int) -> bool:
        seen.append(episode)
        return episode == 1

    env = ScheduledRecordVideo(
        scripted(), tmp_path, episode_trigger=lambda i: True, gc_trigger=gc_trigger
    )
    play(env, 3)
    env.close()
    assert seen == [0, 1, 2] and collected == [1]


def test_pickle_and_deepcopy_drop_the_running_video(tmp_path: Path) -> None:
    schedule = EpisodeCaptureSchedule(every_n_episodes=1)
    env = ScheduledRecordVideo(scripted(), tmp_path, schedule=schedule)
    play(env, 1, seed=0)
    env.reset()  # episode 1 is being recorded
    assert env.recording
    for clone in (pickle.loads(pickle.dumps(env)), copy.deepcopy(env)):
        assert not clone.recording and clone.frames_recorded == 0
        assert clone.episode_id == 1 and clone.schedule == schedule
        clone.close()
    for _ in range(5):
        env.step(0)
    env.close()
    assert videos(tmp_path) == ["rl-video-episode-0.mp4", "rl-video-episode-1.mp4"]
    assert decode(tmp_path / "rl-video-episode-1.mp4")[0] == 6


def test_lambda_triggers_do_not_pickle_as_with_record_video(tmp_path: Path) -> None:
    env = ScheduledRecordVideo(scripted(), tmp_path, episode_trigger=lambda i: True)
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(env)
    env.close()


# -- processes: exit, and a kill mid-video ------------------------------------------------

CHILD = """
import sys
sys.path[:0] = [{tests!r}, {src!r}]
from stubs import ScriptedEnv
from gymscope.wrappers.video import ScheduledRecordVideo

env = ScriptedEnv(((1.0, 2.0, 3.0), (1.0,) * 1_000_000), render_mode="rgb_array")
env = ScheduledRecordVideo(env, {folder!r}, episode_trigger=lambda i: True)
env.reset(seed=0)
for _ in range(3):
    env.step(0)  # episode 0 ends: its video is finished in the background
env.reset()
for _ in range({steps}):
    env.step(0)
print("recording", flush=True)
{then}
"""


def _child(folder: Path, steps: int, then: str) -> subprocess.Popen[str]:
    code = CHILD.format(tests=str(TESTS), src=str(SRC), folder=str(folder), steps=steps, then=then)
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=folder.parent
    )


def _ffmpeg_writing(part: Path) -> list[int]:
    """Pids of processes whose command line names ``part``."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if str(part).encode() in cmdline:
                pids.append(int(entry.name))
    return pids


@pytest.mark.slow
def test_interpreter_exit_saves_the_running_video(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    child = _child(folder, steps=10, then="")  # exits without close()
    out, _ = child.communicate(timeout=60)
    assert child.returncode == 0 and "recording" in out
    assert videos(folder) == ["rl-video-episode-0.mp4", "rl-video-episode-1.mp4"]
    assert decode(folder / "rl-video-episode-1.mp4")[0] == 11
    assert sidecar(folder, "rl-video-episode-1.mp4")["end"] == "close"
    assert sidecar(folder, "rl-video-episode-0.mp4")["return"] == 6.0
    assert not [p for p in folder.iterdir() if p.suffix == ".part"]


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the orphaned ffmpeg via /proc")
def test_killed_process_leaves_no_video_under_a_final_name(tmp_path: Path) -> None:
    folder = tmp_path / "videos"
    child = _child(folder, steps=200, then="while True:\n    env.step(0)")
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "recording"
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=10)
    child.stdout.close()

    parts = [p for p in folder.iterdir() if p.name.endswith(".part")]
    assert [p.name.startswith(".rl-video-episode-1.mp4.") for p in parts] == [True]
    # ffmpeg runs in its own session and outlives the child: it sees the end of
    # its input and completes the temporary file, which must keep its name.
    deadline = time.monotonic() + 20
    while _ffmpeg_writing(parts[0]) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in _ffmpeg_writing(parts[0]):  # pragma: no cover - only if ffmpeg hangs
        os.kill(pid, signal.SIGKILL)
    assert videos(folder) == ["rl-video-episode-0.mp4"]
    assert decode(folder / "rl-video-episode-0.mp4")[0] == 4
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(".")) == [
        "rl-video-episode-0.mp4",
        "rl-video-episode-0.mp4.json",
    ]


# -- the vector-env example ---------------------------------------------------------------------


def _load_example() -> ModuleType:
    path = ROOT / "examples" / "record_video_vector.py"
    spec = importlib.util.spec_from_file_location("example_record_video_vector", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def no_sdl_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")


@pytest.mark.slow
@pytest.mark.usefixtures("no_sdl_window")
@pytest.mark.parametrize("vectorization", ["sync", "async"])
def test_vector_example_records_sub_env_0_only(
    tmp_path: Path, vectorization: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "videos"
    sidecars, returns = _load_example().main(
        str(folder), total_steps=600, num_envs=3, vectorization=vectorization
    )
    assert "video CartPole-v1-episode-0.mp4" in capsys.readouterr().out
    names = videos(folder)
    assert names and all(n.startswith("CartPole-v1-episode-") for n in names)
    assert sorted(s["video"] for s in sidecars) == names
    assert {s["episode"] for s in sidecars} <= {i for i in range(len(returns) + 1) if i % 4 == 0}
    for data in sidecars:
        frames, size, fps, _ = decode(folder / data["video"])
        assert (frames, size, fps) == (data["frames"], (600, 400), 50.0)
        if data["end"] == "episode_end":  # the one cut short by close() has no return
            assert data["return"] == returns[data["episode"]]
            assert data["frames"] == data["length"] + 1


def test_window_size_is_validated_and_used_by_the_sidecar(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="window_size must be an int >= 1, got 0"):
        ScheduledRecordVideo(ScriptedEnv(render_mode="rgb_array"), tmp_path / "v", window_size=0)
    env = ScheduledRecordVideo(
        ScriptedEnv(((1.0,), (3.0,), (8.0,)), render_mode="rgb_array"),
        tmp_path / "v",
        episode_trigger=lambda i: i == 2,
        window_size=2,
    )
    play(env, 3)
    env.close()
    sidecar = json.loads((tmp_path / "v" / "rl-video-episode-2.mp4.json").read_text())
    assert sidecar["episodes"][0]["moving_mean"] == 5.5  # mean of 3 and 8

"""gymscope.vector's CurveRecorderWrapper, TensorBoardWrapper and ScheduledRecordVideo:
each sub-env's files equal those of the single-env wrapper on that sub-env alone,
in NEXT_STEP and SAME_STEP modes; stacked with the vector stats and database
wrappers every episode is delivered once; bad arguments are refused clearly."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path
from typing import Any

import gymnasium as gym
import imageio_ffmpeg
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from gymscope.errors import (
    ArgumentTypeError,
    InvalidArgumentError,
    OutputWriteError,
    UsageError,
)
from gymscope.vector import (
    CurveRecorderWrapper,
    EpisodeStatsWrapper,
    ScheduledRecordVideo,
    SQLiteLoggerWrapper,
    TensorBoardWrapper,
)
from gymscope.vector.video import grid_shape, tile_frames
from gymscope.wrappers.curves import CurveRecorderWrapper as SingleCurves
from gymscope.wrappers.tensorboard import TensorBoardWrapper as SingleTensorBoard
from gymscope.wrappers.video import ScheduledRecordVideo as SingleVideo
from stubs import ScriptedEnv
from stubs_db import read_episodes, sqlite_url

SCRIPTS = (
    [(1.0, 2.0), (0.5, 0.5, 0.5), (4.0,)],
    [(3.0, 3.0, -1.0), (2.0,)],
    [(0.25,), (7.0, 1.0)],
)
MODES = [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP]
STEPS = 25


def scripted(mode: AutoresetMode, render_mode: str | None = None, n: int = 3) -> SyncVectorEnv:
    return SyncVectorEnv(
        [lambda i=i: ScriptedEnv(SCRIPTS[i], render_mode=render_mode) for i in range(n)],
        autoreset_mode=mode,
    )


def singles(make: Any, mode: AutoresetMode, n: int = 3) -> SyncVectorEnv:
    """Each sub-env wrapped in its own single-env wrapper ``make(env, i)``."""
    return SyncVectorEnv(
        [lambda i=i: make(ScriptedEnv(SCRIPTS[i], render_mode="rgb_array"), i) for i in range(n)],
        autoreset_mode=mode,
    )


def run(envs: Any, steps: int = STEPS, seed: int | None = 0) -> list[dict[str, Any]]:
    """Reset, step ``steps`` times with action 0, close; the infos of every step."""
    infos = []
    envs.reset(seed=seed)
    for _ in range(steps):
        infos.append(envs.step(np.zeros(envs.num_envs, dtype=np.int64))[4])
    envs.close()
    return infos


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0})
    acc.Reload()
    return {
        tag: [(e.step, "nan" if math.isnan(e.value) else e.value) for e in acc.Scalars(tag)]
        for tag in acc.Tags()["scalars"]
    }


def frame_count(path: Path) -> int:
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(path))
    return int(frames)


def sidecar(path: Path) -> dict[str, Any]:
    """A video's sidecar without what differs between two runs (times, the run)."""
    data = json.loads(Path(f"{path}.json").read_text())
    del data["run"]
    for episode in data["episodes"]:
        del episode["duration_s"]
    return data


def mp4s(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.mp4"))


# -- curves ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_curve_files_equal_single_env_wrappers_on_each_sub_env(
    tmp_path: Path, mode: AutoresetMode
) -> None:
    envs = CurveRecorderWrapper(
        scripted(mode), tmp_path / "vector", window_size=2, checkpoint_every=2
    )
    run(envs)
    run(
        singles(
            lambda env, i: SingleCurves(
                env, tmp_path / "single", f"training_env{i}", window_size=2, checkpoint_every=2
            ),
            mode,
        )
    )
    names = sorted(p.name for p in (tmp_path / "vector").iterdir())
    assert names == sorted(p.name for p in (tmp_path / "single").iterdir())
    assert "training_env2_history.json" in names
    for i in range(3):
        for suffix in ("history.json", "history_checkpoint.jsonl"):
            got = (tmp_path / "vector" / f"training_env{i}_{suffix}").read_text()
            assert got == (tmp_path / "single" / f"training_env{i}_{suffix}").read_text()
    history = json.loads(envs.history_paths[0].read_text())
    assert history == json.loads((tmp_path / "single/training_env0_history.json").read_text())
    # sub-env 0: (1, 2) then (0.5 x 3) then (4,), cycling
    assert envs.curves[0].returns[:3].tolist() == [3.0, 1.5, 4.0]
    assert envs.episode_counts == tuple(len(c.returns) for c in envs.curves)


def test_curves_of_vector_cartpole_are_its_sub_envs_episodes(tmp_path: Path) -> None:
    envs = gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="vector_entry_point")
    envs = CurveRecorderWrapper(RecordEpisodeStatistics(envs), tmp_path, prefix="cp")
    seen: list[list[tuple[float, int]]] = [[], [], []]
    for info in run(envs, 60):
        if "episode" in info:
            for i in np.flatnonzero(info["_episode"]):
                seen[i].append((float(info["episode"]["r"][i]), int(info["episode"]["l"][i])))
    for i in range(3):
        history = json.loads((tmp_path / f"cp_env{i}_history.json").read_text())
        assert list(zip(history["reward"], history["length"], strict=True)) == seen[i]
        assert len(seen[i]) >= 4


# -- TensorBoard -----------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_tensorboard_scalars_equal_single_env_wrappers_on_each_sub_env(
    tmp_path: Path, mode: AutoresetMode
) -> None:
    envs = TensorBoardWrapper(scripted(mode), tmp_path / "vector", alpha=0.5, window_size=2)
    run(envs)
    run(
        singles(
            lambda env, i: SingleTensorBoard(
                env, tmp_path / "single" / f"env{i}", alpha=0.5, window_size=2
            ),
            mode,
        )
    )
    assert sorted(p.name for p in envs.logdir.iterdir()) == ["env0", "env1", "env2"]
    assert envs.logdirs == tuple(tmp_path / "vector" / f"env{i}" for i in range(3))
    for i in range(3):
        got = scalars(tmp_path / "vector" / f"env{i}")
        assert got == scalars(tmp_path / "single" / f"env{i}")
        assert "episode/return_ema_0.5" in got
    # steps are the sub-env's own total steps: sub-env 0's episodes are 2, 3, 1 steps long
    steps = [s for s, _ in scalars(tmp_path / "vector" / "env0")["episode/return"]]
    assert steps[:3] == [2, 5, 6]
    assert envs.episodes_logged == tuple(len(scalars(p)["episode/return"]) for p in envs.logdirs)


def test_tensorboard_of_vector_cartpole_and_metrics_once(tmp_path: Path) -> None:
    envs = gym.make_vec("CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point")
    envs = TensorBoardWrapper(RecordEpisodeStatistics(envs), tmp_path / "tb")
    envs.reset(seed=3)
    seen: list[list[float]] = [[], []]
    for t in range(40):
        info = envs.step(np.ones(2, dtype=np.int64))[4]
        if "episode" in info:
            for i in np.flatnonzero(info["_episode"]):
                seen[i].append(float(info["episode"]["r"][i]))
        if t % 10 == 9:
            envs.log_metrics(step=2 * (t + 1), loss=1.0 / (t + 1))
    envs.close()
    for i in range(2):
        got = scalars(tmp_path / "tb" / f"env{i}")
        assert [v for _, v in got["episode/return"]] == seen[i]
        assert ("train/loss" in got) == (i == 0)  # the learner's metrics: once, in env0
    assert [s for s, _ in scalars(tmp_path / "tb" / "env0")["train/loss"]] == [20, 40, 60, 80]


def test_tensorboard_default_logdir_is_runs_env_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    first = TensorBoardWrapper(gym.make_vec("CartPole-v1", num_envs=2))
    assert first.logdir.parent == tmp_path / "runs"
    assert first.logdir.name.startswith("CartPole-v1_")
    run(first, 20)
    second = TensorBoardWrapper(gym.make_vec("CartPole-v1", num_envs=2))
    if second.logdir.name[:-2] == first.logdir.name:  # built in the same second
        assert second.logdir.name.endswith("_2")
    assert second.logdir != first.logdir
    second.close()
    assert sorted(p.name for p in first.logdir.iterdir()) == ["env0", "env1"]


def test_nothing_is_created_before_an_episode_ends(tmp_path: Path) -> None:
    envs = TensorBoardWrapper(scripted(AutoresetMode.NEXT_STEP), tmp_path / "tb")
    envs.reset(seed=0)
    envs.close()
    assert not (tmp_path / "tb").exists()


# -- video -----------------------------------------------------------------------------


def single_videos(tmp_path: Path, mode: AutoresetMode, **kwargs: Any) -> Path:
    folder = tmp_path / "single"
    run(
        singles(
            lambda env, i: SingleVideo(env, folder, name_prefix=f"rl-video-env{i}", **kwargs),
            mode,
        )
    )
    return folder


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    "kwargs",
    [
        {"episode_trigger": lambda k: k % 2 == 0},
        {"episode_trigger": lambda k: k in (1, 3), "video_length": 4},
        {"step_trigger": lambda t: t in (2, 7)},
    ],
    ids=["episodes", "video_length", "steps"],
)
def test_videos_equal_single_env_wrappers_on_each_sub_env(
    tmp_path: Path, mode: AutoresetMode, kwargs: dict[str, Any]
) -> None:
    folder = tmp_path / "vector"
    envs = ScheduledRecordVideo(
        scripted(mode, "rgb_array"), folder, sub_envs=[0, 2], format="mp4", **kwargs
    )
    run(envs)
    expected = single_videos(tmp_path, mode, **kwargs)
    names = mp4s(folder)
    # the filmed sub-envs' videos, under the same names
    wanted = [n for n in mp4s(expected) if not n.startswith("rl-video-env1-")]
    if mode is AutoresetMode.SAME_STEP:
        # a step video started at an episode's last step shows only its final
        # frame, which SAME_STEP never renders: there is no such video
        lost = [n for n in wanted if "-step-" in n and sidecar(expected / n)["frames"] == 1]
        assert bool(lost) == ("step_trigger" in kwargs)
        wanted = [n for n in wanted if n not in lost]
    assert names == wanted
    assert any(n.startswith("rl-video-env2-") for n in names)
    whole = not kwargs.get("video_length") and "episode_trigger" in kwargs
    for name in names:
        got, want = sidecar(folder / name), sidecar(expected / name)
        frames = frame_count(folder / name)
        assert frames == got["frames"]
        if mode is AutoresetMode.NEXT_STEP:
            assert frames == frame_count(expected / name)
            assert got == want
        elif got["end"] == "episode_end":
            # SAME_STEP: the final frame of an episode is never rendered
            assert frames == frame_count(expected / name) - 1
            assert frames == got["length"] or not whole
            want["frames"] -= 1
            assert got == want
        elif got["end"] == "video_length":
            # the same length, but (final frames missing) the video spans later frames
            assert frames == want["frames"] == kwargs["video_length"]
        else:
            assert frames <= want["frames"]
        if whole:
            assert got["episodes"] == want["episodes"]
    run_info = json.loads(Path(f"{folder / names[-1]}.json").read_text())["run"]
    assert run_info["worker"] == int(names[-1].split("-env")[1].split("-")[0])
    assert envs.saved_videos and all(p.exists() for p in envs.saved_videos)


def test_tiled_video_shows_every_sub_env_in_a_grid(tmp_path: Path) -> None:
    envs = scripted(AutoresetMode.NEXT_STEP, "rgb_array", n=2)
    envs = ScheduledRecordVideo(
        envs,
        tmp_path,
        episode_trigger=lambda k: k == 1,
        sub_envs="all",
        tile=True,
        video_aspect_ratio=(3, 1),
        format="gif",
    )
    run(envs, 10)
    assert sorted(p.name for p in tmp_path.glob("*.gif")) == ["rl-video-episode-1.gif"]
    data = json.loads((tmp_path / "rl-video-episode-1.gif.json").read_text())
    # sub-env 0's episode 1 (0.5 x 3): 4 frames, two 48x32 frames side by side
    assert (data["frames"], data["frame_width"], data["frame_height"]) == (4, 96, 32)
    assert data["run"]["worker"] == 0 and data["length"] == 3
    assert envs.sub_envs == (0, 1)


def test_video_of_vector_cartpole_records_whole_episodes(tmp_path: Path) -> None:
    envs = gym.make_vec(
        "CartPole-v1", num_envs=2, vectorization_mode="vector_entry_point", render_mode="rgb_array"
    )
    envs = ScheduledRecordVideo(
        EpisodeStatsWrapper(envs), tmp_path, episode_trigger=lambda k: k < 2, sub_envs=[1]
    )
    lengths = []
    for info in run(envs, 30):
        if "episode" in info and info["_episode"][1]:
            lengths.append(int(info["episode"]["l"][1]))
    assert mp4s(tmp_path) == ["rl-video-env1-episode-0.mp4", "rl-video-env1-episode-1.mp4"]
    for k in range(2):
        path = tmp_path / f"rl-video-env1-episode-{k}.mp4"
        assert frame_count(path) == lengths[k] + 1
        assert sidecar(path)["length"] == lengths[k]


def test_grid_and_tiles() -> None:
    assert grid_shape(6, 10, 10, (3, 2)) == (2, 3)
    assert grid_shape(1, 5, 9, (1, 1)) == (1, 1)
    a, b = np.zeros((2, 2, 3), np.uint8), np.full((2, 2, 3), 9, np.uint8)
    grid = tile_frames([a, b, b, a], 2, 2)
    assert grid.shape == (4, 4, 3)
    assert grid[0, 3, 0] == 9 and grid[3, 0, 0] == 9 and grid[0, 0, 0] == 0
    with pytest.raises(InvalidArgumentError, match="one shape"):
        tile_frames([a, np.zeros((3, 2, 3), np.uint8)], 1, 2)


# -- stacking --------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_stack_delivers_each_episode_once_to_each_output(
    tmp_path: Path, mode: AutoresetMode
) -> None:
    url = sqlite_url(tmp_path / "metrics.db")
    envs: Any = scripted(mode, "rgb_array")
    envs = ScheduledRecordVideo(envs, tmp_path / "videos", episode_trigger=lambda k: True)
    envs = TensorBoardWrapper(envs, tmp_path / "tb")
    envs = SQLiteLoggerWrapper(envs, url, "run")
    envs = CurveRecorderWrapper(envs, tmp_path / "curves")
    envs = EpisodeStatsWrapper(envs)
    infos = run(envs)
    ended = sum(int(info["_episode"].sum()) for info in infos if "_episode" in info)
    rows = read_episodes(url, "run")
    assert len(rows) == ended
    for i in range(3):
        mine = [r for r in rows if r["worker"] == i]
        history = json.loads((tmp_path / "curves" / f"training_env{i}_history.json").read_text())
        assert history["reward"] == [r["reward"] for r in mine]
        tb = scalars(tmp_path / "tb" / f"env{i}")["episode/return"]
        assert [(s, v) for s, v in tb] == [(r["total_steps"], r["reward"]) for r in mine]
    # sub-env 0's videos: one per episode started, each with its one record
    videos = mp4s(tmp_path / "videos")
    finished = [r for r in rows if r["worker"] == 0]
    records = [sidecar(tmp_path / "videos" / v)["episodes"] for v in videos]
    assert sum(len(r) for r in records) == len(finished)
    indices = sorted(r[0]["index"] for r in records if r)
    assert indices == [r["episode_num"] for r in finished]


def test_outputs_in_the_same_stack_share_one_tracker(tmp_path: Path) -> None:
    inner = TensorBoardWrapper(scripted(AutoresetMode.NEXT_STEP), tmp_path / "tb")
    outer = CurveRecorderWrapper(inner, tmp_path / "curves")
    assert outer.tracker is inner.tracker
    run(outer)
    assert outer.episode_counts == inner.episodes_logged


# -- bad arguments ---------------------------------------------------------------------


def test_single_envs_are_refused() -> None:
    env = ScriptedEnv(render_mode="rgb_array")
    for wrapper, args in (
        (CurveRecorderWrapper, ("curves",)),
        (TensorBoardWrapper, ("tb",)),
        (ScheduledRecordVideo, ("videos",)),
    ):
        with pytest.raises(ArgumentTypeError, match=r"gymscope\.EpisodeStatsWrapper"):
            wrapper(env, *args)  # type: ignore[operator]


def test_bad_curve_arguments(tmp_path: Path) -> None:
    envs = scripted(AutoresetMode.NEXT_STEP)
    with pytest.raises(InvalidArgumentError, match="plain file-name part"):
        CurveRecorderWrapper(envs, tmp_path, prefix="../up")
    with pytest.raises(ArgumentTypeError, match="prefix"):
        CurveRecorderWrapper(envs, tmp_path, prefix=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="window_size"):
        CurveRecorderWrapper(envs, tmp_path, window_size=0)
    with pytest.raises(ArgumentTypeError, match="output_dir"):
        CurveRecorderWrapper(envs, 7)  # type: ignore[arg-type]
    assert not list(tmp_path.iterdir())


def test_bad_tensorboard_arguments(tmp_path: Path) -> None:
    envs = scripted(AutoresetMode.NEXT_STEP)
    with pytest.raises(InvalidArgumentError, match="folder path"):
        TensorBoardWrapper(envs, " ")
    with pytest.raises(ArgumentTypeError, match="logdir must be a str or path"):
        TensorBoardWrapper(envs, 5)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="alpha"):
        TensorBoardWrapper(envs, tmp_path, alpha=2.0)
    (tmp_path / "file").write_text("")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        TensorBoardWrapper(envs, tmp_path / "file")


def test_bad_video_arguments(tmp_path: Path) -> None:
    envs = scripted(AutoresetMode.NEXT_STEP, "rgb_array")
    with pytest.raises(InvalidArgumentError, match='render_mode="rgb_array"'):
        ScheduledRecordVideo(scripted(AutoresetMode.NEXT_STEP), tmp_path)
    with pytest.raises(InvalidArgumentError, match="sub_envs"):
        ScheduledRecordVideo(envs, tmp_path, sub_envs=[3])
    with pytest.raises(InvalidArgumentError, match="empty"):
        ScheduledRecordVideo(envs, tmp_path, sub_envs=[])
    with pytest.raises(InvalidArgumentError, match="twice"):
        ScheduledRecordVideo(envs, tmp_path, sub_envs=[1, 1])
    with pytest.raises(ArgumentTypeError, match="sub_envs"):
        ScheduledRecordVideo(envs, tmp_path, sub_envs="0")  # type: ignore[arg-type]
    with pytest.raises(ArgumentTypeError, match="tile"):
        ScheduledRecordVideo(envs, tmp_path, tile="yes")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="video_aspect_ratio"):
        ScheduledRecordVideo(envs, tmp_path, video_aspect_ratio=(0, 1))
    with pytest.raises(ArgumentTypeError, match="episode_trigger"):
        ScheduledRecordVideo(envs, tmp_path, episode_trigger=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgumentError, match="video_length"):
        ScheduledRecordVideo(envs, tmp_path, video_length=-1)


def test_a_render_without_one_frame_per_sub_env_is_a_clear_error(tmp_path: Path) -> None:
    class OneFrame(gym.vector.VectorWrapper):
        def render(self) -> Any:
            return np.zeros((4, 4, 3), np.uint8)

    envs = ScheduledRecordVideo(
        OneFrame(scripted(AutoresetMode.NEXT_STEP, "rgb_array")),
        tmp_path,
        episode_trigger=lambda k: True,
    )
    with pytest.raises(UsageError, match="one frame per sub-env"):
        envs.reset(seed=0)
    envs.close()


# -- resuming and AsyncVectorEnv -------------------------------------------------------


def test_a_resumed_run_continues_every_outputs_stream(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "metrics.db")
    counts = []
    for session in range(2):
        envs: Any = scripted(AutoresetMode.NEXT_STEP, "rgb_array", n=2)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            envs = ScheduledRecordVideo(
                envs, tmp_path / "videos", episode_trigger=lambda k: True, sub_envs="all"
            )
        # the second session is warned about the first one's videos (then keeps them)
        assert len(caught) == 2 * session
        assert all("already holds" in str(w.message) for w in caught)
        envs = TensorBoardWrapper(envs, tmp_path / "tb")
        envs = CurveRecorderWrapper(envs, tmp_path / "curves", checkpoint_every=1)
        envs = SQLiteLoggerWrapper(envs, url, "run")
        run(envs, 10)
        counts.append(list(envs.tracker.episode_counts))
    rows = read_episodes(url, "run")
    for i in range(2):
        mine = [r for r in rows if r["worker"] == i]
        assert [r["episode_num"] for r in mine] == list(range(counts[1][i]))
        assert counts[1][i] > counts[0][i] > 0
        # the curves and TensorBoard go on where the first session stopped
        history = json.loads((tmp_path / "curves" / f"training_env{i}_history.json").read_text())
        assert history["reward"] == [r["reward"] for r in mine]
        tb = scalars(tmp_path / "tb" / f"env{i}")["episode/return"]
        # two event files (one per session), read in file-name order: compare sorted
        assert sorted(s for s, _ in tb) == [r["total_steps"] for r in mine]
        # the video names go on from the restored episode index; the episode the
        # first session left unfinished (saved at close) is filmed again, as attempt 2
        names = [n for n in mp4s(tmp_path / "videos") if n.startswith(f"rl-video-env{i}-")]
        again = f"rl-video-env{i}-episode-{counts[0][i]}.attempt-2.mp4"
        assert again in names
        assert sorted(n for n in names if n != again) == sorted(
            f"rl-video-env{i}-episode-{k}.mp4" for k in range(counts[1][i] + 1)
        )


def test_a_resumed_run_continues_in_the_default_tensorboard_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # the default folder is runs/{env id}_{time} here
    url = sqlite_url(tmp_path / "metrics.db")
    logdirs = []
    for _ in range(2):
        tensorboard = TensorBoardWrapper(scripted(AutoresetMode.NEXT_STEP, n=2))
        run(SQLiteLoggerWrapper(tensorboard, url, "run"), 10)
        logdirs.append(tensorboard.logdir)
    # the second attempt planned a folder of its own, and went back to the first's
    (root,) = (tmp_path / "runs").iterdir()
    assert logdirs == [root, root]
    rows = read_episodes(url, "run")
    for i in range(2):
        folder = root / f"env{i}"
        assert len(list(folder.glob("events.out.tfevents.*"))) == 2  # one per attempt
        mine = [r["total_steps"] for r in rows if r["worker"] == i]
        assert sorted(s for s, _ in scalars(folder)["episode/return"]) == mine
        assert json.loads((folder / ".gymscope-run.json").read_text())["worker"] == i


@pytest.mark.parametrize("tile", [False, True])
def test_start_and_stop_recording_by_hand(tmp_path: Path, tile: bool) -> None:
    long = [tuple([1.0] * 10)]  # no episode ends while recording by hand
    envs = ScheduledRecordVideo(
        SyncVectorEnv([lambda: ScriptedEnv(long, render_mode="rgb_array")] * 2),
        tmp_path,
        episode_trigger=lambda k: False,
        sub_envs="all",
        tile=tile,
    )
    envs.reset(seed=0)
    envs.start_recording("by-hand")
    assert envs.recording
    for _ in range(3):
        envs.step(np.zeros(2, dtype=np.int64))
    envs.stop_recording()
    assert not envs.recording
    with pytest.raises(RuntimeError, match="no video is being recorded"):
        envs.stop_recording()
    envs.start_recording("again")
    envs.step(np.zeros(2, dtype=np.int64))
    envs.start_recording("again-2")  # finishes "again" first
    envs.step(np.zeros(2, dtype=np.int64))
    envs.close()  # saves the running one
    names = ["by-hand", "again", "again-2"]
    if not tile:
        names = [f"{name}-env{i}" for name in names for i in range(2)]
    assert mp4s(tmp_path) == sorted(f"{name}.mp4" for name in names)
    # a frame per step taken while recording (3, 1 and 1), none at the start itself
    frames = {name: frame_count(tmp_path / f"{name}.mp4") for name in names}
    assert frames == {n: 3 if n.startswith("by-hand") else 1 for n in names}
    sidecar = json.loads((tmp_path / f"{names[0]}.mp4.json").read_text())
    assert sidecar["trigger"] == "manual" and sidecar["end"] == "stop_recording"


def test_start_recording_checks_the_name(tmp_path: Path) -> None:
    envs = ScheduledRecordVideo(
        scripted(AutoresetMode.NEXT_STEP, "rgb_array", n=2), tmp_path, sub_envs="all"
    )
    envs.reset(seed=0)
    with pytest.raises(ValueError, match="video_name"):
        envs.start_recording("")
    with pytest.raises(ValueError, match="video_name"):
        envs.start_recording("v" * 300)
    envs.close()
    # a refused name leaves the episode trigger's videos running, and saved at close
    assert mp4s(tmp_path) == ["rl-video-env0-episode-0.mp4", "rl-video-env1-episode-0.mp4"]


def test_async_vector_env_frames_come_from_the_workers(tmp_path: Path) -> None:
    envs = gym.vector.AsyncVectorEnv(
        [lambda i=i: ScriptedEnv(SCRIPTS[i], render_mode="rgb_array") for i in range(2)],
        context="fork",
    )
    envs = ScheduledRecordVideo(envs, tmp_path, episode_trigger=lambda k: k < 2, sub_envs="all")
    run(envs, 8)
    assert mp4s(tmp_path) == [
        "rl-video-env0-episode-0.mp4",
        "rl-video-env0-episode-1.mp4",
        "rl-video-env1-episode-0.mp4",
        "rl-video-env1-episode-1.mp4",
    ]
    # sub-env 0: episodes of 2 and 3 steps; sub-env 1: 3 and 1
    frames = [frame_count(tmp_path / n) for n in mp4s(tmp_path)]
    assert frames == [3, 4, 4, 2]


def test_disabled_mode_videos_start_at_the_masked_resets(tmp_path: Path) -> None:
    def play(envs: Any) -> None:
        envs.reset(seed=0)
        for _ in range(12):
            _, _, terminated, truncated, _ = envs.step(np.zeros(3, dtype=np.int64))
            done = terminated | truncated
            if done.any():
                envs.reset(options={"reset_mask": done})
        envs.close()

    mode = AutoresetMode.DISABLED
    kwargs: dict[str, Any] = {"episode_trigger": lambda k: k % 2 == 1}
    play(
        ScheduledRecordVideo(
            scripted(mode, "rgb_array"), tmp_path / "vector", sub_envs=[1], **kwargs
        )
    )
    play(
        singles(
            lambda env, i: SingleVideo(
                env, tmp_path / "single", name_prefix=f"rl-video-env{i}", **kwargs
            ),
            mode,
        )
    )
    names = mp4s(tmp_path / "vector")
    assert names == [n for n in mp4s(tmp_path / "single") if n.startswith("rl-video-env1-")]
    assert len(names) >= 2
    for name in names:
        assert frame_count(tmp_path / "vector" / name) == frame_count(tmp_path / "single" / name)
        assert sidecar(tmp_path / "vector" / name) == sidecar(tmp_path / "single" / name)


def test_max_frames_caps_each_video_and_stops_rendering(tmp_path: Path) -> None:
    class Counting(gym.vector.VectorWrapper):
        renders = 0

        def render(self) -> Any:
            Counting.renders += 1
            return self.env.render()

    envs = ScheduledRecordVideo(
        Counting(scripted(AutoresetMode.NEXT_STEP, "rgb_array")),
        tmp_path,
        episode_trigger=lambda k: k == 1,
        max_frames=2,
    )
    run(envs, 8)
    # sub-env 0's episode 1 has 3 steps (4 frames): 2 kept, and only 2 rendered
    assert mp4s(tmp_path) == ["rl-video-env0-episode-1.mp4"]
    assert frame_count(tmp_path / "rl-video-env0-episode-1.mp4") == 2
    assert Counting.renders == 2


def test_a_sub_env_whose_folder_cannot_be_written_does_not_stop_the_run(tmp_path: Path) -> None:
    (tmp_path / "tb").mkdir()
    (tmp_path / "tb" / "env0").write_text("not a folder")
    envs = TensorBoardWrapper(scripted(AutoresetMode.NEXT_STEP), tmp_path / "tb")
    with pytest.warns(RuntimeWarning, match="env0"):
        envs.reset(seed=0)
        for _ in range(10):
            envs.step(np.zeros(3, dtype=np.int64))  # never raises
    with pytest.raises(OutputWriteError):
        envs.close()
    assert envs.episodes_logged[1] == len(scalars(tmp_path / "tb" / "env1")["episode/return"]) > 0

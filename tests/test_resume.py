"""A worker that rejoins its run continues every output: SIGKILL (or close), then resume.

A child process (``resume_child.py``) runs a full stack — database,
episode statistics, curves, videos, TensorBoard — on a scripted env; it is
killed with SIGKILL mid-episode (mid-video), or closes, and a second child
rejoins the run under the same experiment name. Every output must then
read as one uninterrupted stream: episode numbers and total steps without
gap or repeat, moving statistics equal to those of an uninterrupted
computation over the whole return sequence (exactly), TensorBoard steps
strictly increasing across both attempts' event files in one folder, the
videos of both attempts under distinct names, and a curve history holding
every episode of both.
"""

from __future__ import annotations

import itertools
import json
import math
import multiprocessing
import signal
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import gymscope.metrics  # noqa: F401  (imported here once, not in every forked child)
import resume_child
from gymscope.episode import ResumeState, StatsBank, StatsConfig, history_needed
from gymscope.sinks.base import replay_returns
from gymscope.sinks.curves import CurveSink, load_checkpoint
from gymscope.sinks.stats import EpisodeStatsSink
from gymscope.sinks.tensorboard import RUN_MARK, TensorBoardSink
from gymscope.sinks.video import VideoSink
from stubs_db import read_episodes, sqlite_url
from test_video import decode

FORK = multiprocessing.get_context("fork")


def attempt(url: str, out: Path, report: Path, **kwargs: Any) -> int | None:
    """Run one attempt of the child to its end; its exit code."""
    proc = FORK.Process(
        target=resume_child.run, args=(url, "resumed", str(out), str(report)), kwargs=kwargs
    )
    proc.start()
    proc.join(300)
    return proc.exitcode


def expected_stats(returns: Sequence[float]) -> list[tuple[float, float, float]]:
    """(moving mean, moving std, EMA) after each episode of an uninterrupted stream."""
    bank = StatsBank(StatsConfig(100, 0.1))
    out = []
    for value in returns:
        bank.push(value, 1)
        out.append((bank.mean, bank.std, bank.ema_return))
    return out


def event_steps(logdir: Path) -> list[list[int]]:
    """The ``episode/return`` steps of each event file of ``logdir``, oldest file first."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    files = []
    for path in logdir.glob("events.out.tfevents.*"):
        events = EventAccumulator(str(path))
        events.Reload()
        scalars = events.Scalars("episode/return")
        files.append((scalars[0].wall_time, [s.step for s in scalars]))
    return [steps for _, steps in sorted(files)]


def check_stream(rows: list[dict[str, Any]], reported: list[dict[str, Any]]) -> None:
    """The stored rows are the reported episodes, numbered and stepped without gap,
    with the statistics of an uninterrupted stream; the reports agree."""
    assert [r["episode_num"] for r in rows] == list(range(len(rows)))
    assert [(r["reward"], r["length"]) for r in rows] == [(e["r"], e["l"]) for e in reported]
    assert [e["index"] for e in reported] == list(range(len(reported)))
    steps = np.cumsum([r["length"] for r in rows]).tolist()
    assert [r["total_steps"] for r in rows] == steps
    assert [e["total_steps"] for e in reported] == steps
    want = expected_stats([r["reward"] for r in rows])
    assert [(r["reward_moving_avg"], r["reward_moving_std"]) for r in rows] == [
        (mean, std) for mean, std, _ in want
    ]
    assert [(e["r_mean"], e["r_std"]) for e in reported] == [(m, s) for m, s, _ in want]
    # The EMA is replayed from the last episodes only (older ones weigh
    # < 1e-17): the same to rounding, not always to the last bit
    assert [e["r_ema"] for e in reported] == pytest.approx([e for _, _, e in want], rel=1e-13)
    returns = [r["reward"] for r in rows]
    for i, e in enumerate(reported):  # gymnasium's deques go on too
        window = returns[max(0, i + 1 - 100) : i + 1]
        assert (e["count"], e["queue_len"], e["queue_mean"]) == (
            i + 1,
            len(window),
            float(np.mean(window)),
        )


def sidecars(folder: Path) -> dict[str, dict[str, Any]]:
    return {p.name.removesuffix(".json"): json.loads(p.read_text()) for p in folder.glob("*.json")}


# -- SIGKILL, then resume ------------------------------------------------------------
def test_sigkill_then_resume_continues_every_output(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "metrics.db")
    first, second = tmp_path / "report0.txt", tmp_path / "report1.txt"
    # 600 episodes: more than the 372 a resume replays, so the window is
    # rebuilt from a tail of the stream; killed at the first step of
    # episode 600, whose video (600 % 50 == 0) is being recorded
    assert attempt(url, tmp_path, first, kill_in=600) == -signal.SIGKILL
    killed = resume_child.read_report(first)
    assert len(killed) == 600
    checkpoint = tmp_path / "curves" / "training_history_checkpoint.jsonl"
    killed_checkpoint = checkpoint.read_bytes()
    assert attempt(url, tmp_path, second, episodes=120) == 0
    reported = killed + resume_child.read_report(second)
    rows = read_episodes(url, "resumed")
    assert {r["worker"] for r in rows} == {0}
    check_stream(rows, reported)

    # TensorBoard: one folder (the resumed attempt found the first one's),
    # two event files, steps strictly increasing across both
    (logdir,) = (tmp_path / "runs").iterdir()
    files = event_steps(logdir)
    assert len(files) == 2
    assert files[0] + files[1] == [r["total_steps"] for r in rows]
    merged = files[0] + files[1]
    assert all(a < b for a, b in itertools.pairwise(merged))

    # Videos: both attempts', named by the run's episode indices, none overwritten
    videos = tmp_path / "videos"
    names = sorted(p.name for p in videos.glob("*.mp4"))
    # 600 was being recorded when the first attempt was killed: the second records it
    assert names == sorted(f"rl-video-episode-{i}.mp4" for i in range(0, 720, 50))
    assert len(list(videos.glob(".rl-video-episode-600.mp4.*.part"))) == 1  # killed mid-video
    by_name = sidecars(videos)
    stored = {r["episode_num"]: r for r in rows}
    for name in names:
        frames, _, _, _ = decode(videos / name)
        side = by_name[name]
        index = side["episode"]
        assert side["run"] == {"experiment": "resumed", "worker": 0}
        assert frames == side["frames"] == stored[index]["length"] + 1
        assert [e["index"] for e in side["episodes"]] == [index]  # the report's join key
        assert side["return"] == stored[index]["reward"]

    # Curves: the killed attempt's checkpoint lines are kept as they were
    # (append-only), and the history spans every episode of both attempts
    assert checkpoint.read_bytes().startswith(
        killed_checkpoint[: killed_checkpoint.rfind(b"\n") + 1]
    )
    saved = load_checkpoint(checkpoint)["episodes"]
    assert [e["episode"] for e in saved] == list(range(720))
    assert [(e["reward"], e["length"]) for e in saved] == [(r["reward"], r["length"]) for r in rows]
    history = json.loads((tmp_path / "curves" / "training_history.json").read_text())
    assert history["first_episode"] == 0
    assert history["reward"] == [r["reward"] for r in rows]
    assert history["reward_moving_avg"] == [r["reward_moving_avg"] for r in rows]
    assert history["summary"]["episodes"] == 720


def test_clean_close_then_resume_continues_every_output(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "metrics.db")
    first, second = tmp_path / "report0.txt", tmp_path / "report1.txt"
    assert attempt(url, tmp_path, first, episodes=40, video_every=15) == 0
    closed = (tmp_path / "curves" / "training_history_checkpoint.jsonl").read_bytes()
    assert attempt(url, tmp_path, second, episodes=25, video_every=15) == 0
    reported = resume_child.read_report(first) + resume_child.read_report(second)
    rows = read_episodes(url, "resumed")
    check_stream(rows, reported)
    (logdir,) = (tmp_path / "runs").iterdir()
    files = event_steps(logdir)
    assert [len(f) for f in files] == [40, 25]
    assert files[0] + files[1] == [r["total_steps"] for r in rows]
    names = sorted(p.name for p in (tmp_path / "videos").glob("*.mp4"))
    assert names == sorted(f"rl-video-episode-{i}.mp4" for i in (0, 15, 30, 45, 60))
    checkpoint = (tmp_path / "curves" / "training_history_checkpoint.jsonl").read_bytes()
    assert checkpoint.startswith(closed)
    history = json.loads((tmp_path / "curves" / "training_history.json").read_text())
    assert history["reward"] == [r["reward"] for r in rows]


def test_resume_after_episodes_the_database_lost_keeps_every_file(tmp_path: Path) -> None:
    # flush_every=5 without the journal (as on PostgreSQL): the killed
    # attempt finished 13 episodes, the database holds 10; its videos of
    # episodes 10 and 12 and its checkpoint of episodes 0-11 hold episodes
    # the resumed run numbers again
    url = sqlite_url(tmp_path / "metrics.db")
    first, second = tmp_path / "report0.txt", tmp_path / "report1.txt"
    common = {"video_every": 2, "checkpoint_every": 3, "flush_every": 5, "journal": False}
    assert attempt(url, tmp_path, first, kill_in=13, **common) == -signal.SIGKILL
    checkpoint = tmp_path / "curves" / "training_history_checkpoint.jsonl"
    killed_checkpoint = checkpoint.read_bytes()
    assert attempt(url, tmp_path, second, episodes=6, **common) == 0
    rows = read_episodes(url, "resumed")
    assert [r["episode_num"] for r in rows] == list(range(16))
    videos = tmp_path / "videos"
    by_name = sidecars(videos)
    old = [f"rl-video-episode-{i}.mp4" for i in range(0, 13, 2)]
    new = ["rl-video-episode-10.attempt-2.mp4", "rl-video-episode-12.attempt-2.mp4"]
    new += ["rl-video-episode-14.mp4", "rl-video-episode-16.mp4"]  # 16: started by the last reset
    assert sorted(p.name for p in videos.glob("*.mp4")) == sorted(old + new)
    for name in old + new:
        decode(videos / name)
        assert by_name[name]["video"] == name
    for name in new[:3]:  # the resumed attempt's videos show the stored episodes
        side = by_name[name]
        assert side["return"] == rows[side["episode"]]["reward"]
    # the killed attempt's checkpoint is kept whole under a new name
    assert (checkpoint.parent / (checkpoint.name + ".prev-1")).read_bytes() == killed_checkpoint
    saved = load_checkpoint(checkpoint)["episodes"]
    assert [(e["episode"], e["reward"]) for e in saved] == [
        (r["episode_num"], r["reward"]) for r in rows
    ]


def test_two_workers_resume_into_their_own_slots(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "metrics.db")
    barrier = FORK.Barrier(2)
    procs = []
    for k, kill_in in enumerate((30, 45)):
        report = tmp_path / f"killed{k}.txt"
        proc = FORK.Process(
            target=resume_child.run,
            args=(url, "resumed", str(tmp_path), str(report)),
            kwargs={"kill_in": kill_in, "full": False, "barrier": barrier},
        )
        proc.start()
        procs.append((proc, report))
    for proc, _ in procs:
        proc.join(300)
        assert proc.exitcode == -signal.SIGKILL
    again = []
    barrier = FORK.Barrier(2)
    for k in range(2):
        report = tmp_path / f"resumed{k}.txt"
        proc = FORK.Process(
            target=resume_child.run,
            args=(url, "resumed", str(tmp_path), str(report)),
            kwargs={"episodes": 20, "full": False, "barrier": barrier},
        )
        proc.start()
        again.append((proc, report))
    for proc, _ in again:
        proc.join(300)
        assert proc.exitcode == 0
    reports: dict[int, list[dict[str, Any]]] = {0: [], 1: []}
    for _, report in procs + again:
        lines = resume_child.read_report(report)
        (worker,) = {e["worker"] for e in lines}
        reports[worker] += lines
    rows = read_episodes(url, "resumed")
    for worker in (0, 1):
        mine = [r for r in rows if r["worker"] == worker]
        check_stream(mine, reports[worker])
    # each slot holds one killed worker's episodes and 20 more: the two
    # resumed processes took a slot each (the lowest free: both were dead)
    assert sorted(len([r for r in rows if r["worker"] == w]) for w in (0, 1)) == [50, 65]
    assert {r["worker"] for r in rows} == {0, 1}


# -- the sinks on their own -----------------------------------------------------------
def state_of(returns: Sequence[float], lengths: Sequence[int] | None = None) -> ResumeState:
    lengths = [1] * len(returns) if lengths is None else list(lengths)
    return ResumeState(len(returns), sum(lengths), tuple(returns), tuple(lengths), "test")


def test_episode_stats_sink_refills_its_deques() -> None:
    sink = EpisodeStatsSink(buffer_length=3)
    sink.on_resume(state_of([1.0, 2.0, 3.0, 4.0], [1, 2, 3, 4]))
    assert (list(sink.return_queue), list(sink.length_queue)) == ([2.0, 3.0, 4.0], [2, 3, 4])
    assert sink.episode_count == 4 and not sink.time_queue  # durations are not stored


def test_curve_sink_fills_the_gap_after_its_checkpoint(tmp_path: Path) -> None:
    records = list(replay_returns([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0], window_size=3))
    killed = CurveSink(tmp_path, window_size=3, checkpoint_every=2)
    for record in records[:5]:
        killed.on_episode(record)
    killed._closed = True  # as if killed: nothing saved at the end
    with killed.checkpoint_path.open("ab") as f:
        f.write(b'{"episode":4,"rew')  # an append cut short
    resumed = CurveSink(tmp_path, window_size=3, checkpoint_every=2)
    resumed.on_resume(state_of([r.episode_return for r in records[:5]]))
    assert resumed.returns.tolist() == [1.0, 2.0, 3.0, 4.0, 5.0]
    assert resumed.moving_averages.tolist() == [r.moving_mean for r in records[:5]]
    for record in records[5:]:
        resumed.on_episode(record)
    resumed.close()
    saved = load_checkpoint(resumed.checkpoint_path)["episodes"]
    assert [(e["episode"], e["reward"], e["reward_moving_avg"]) for e in saved] == [
        (r.index, r.episode_return, r.moving_mean) for r in records
    ]


def test_curve_sink_resumes_from_the_database_alone(tmp_path: Path) -> None:
    sink = CurveSink(tmp_path, window_size=2, checkpoint_every=None)
    sink.on_resume(ResumeState(10, 20, (4.0, 6.0, 8.0), (2, 2, 2), "db"))
    assert (sink.first_episode, sink.returns.tolist()) == (7, [4.0, 6.0, 8.0])
    assert sink.moving_averages.tolist() == [4.0, 5.0, 7.0]
    sink.close()


def test_curve_sink_without_a_resume_starts_afresh(tmp_path: Path) -> None:
    old = CurveSink(tmp_path, checkpoint_every=1)
    for record in replay_returns([1.0, 2.0]):
        old.on_episode(record)
    old.close()
    new = CurveSink(tmp_path, checkpoint_every=1)
    for record in replay_returns([5.0]):
        new.on_episode(record)
    new.close()
    assert [e["reward"] for e in load_checkpoint(new.checkpoint_path)["episodes"]] == [5.0]


def test_video_sink_never_replaces_a_file_once_resumed(tmp_path: Path) -> None:
    frame = np.zeros((16, 16, 3), dtype=np.uint8)
    for resumed in (False, True):
        sink = VideoSink(tmp_path, fps=10)
        if resumed:
            sink.on_resume(state_of([1.0]))
        for _ in range(2):
            sink.start("clip")
            sink.add_frame(frame)
            sink.stop()
        sink.close()
    names = sorted(p.name for p in tmp_path.glob("*.mp4"))
    assert names == ["clip.attempt-2.mp4", "clip.attempt-3.mp4", "clip.mp4"]
    side = json.loads((tmp_path / "clip.attempt-3.mp4.json").read_text())
    assert side["video"] == "clip.attempt-3.mp4"


def test_a_long_resume_rebuilds_the_window_exactly() -> None:
    rng = np.random.default_rng(3)
    returns = rng.uniform(-100, 300, 2000).tolist()
    for window, alpha in ((100, 0.1), (10, 0.3), (7, 0.01)):
        config = StatsConfig(window, alpha)
        full = StatsBank(config)
        for n, value in enumerate(returns, start=1):
            full.push(value, 1)
            if n % 37:
                continue
            tail = returns[max(0, n - history_needed(window, alpha)) : n]
            part = StatsBank(config)
            part.replay(tail, [1] * len(tail), n)
            assert (part.mean, part.std) == (full.mean, full.std)
            assert part.ema_return == pytest.approx(full.ema_return, rel=1e-13)
            assert not math.isnan(part.mean)


def test_tensorboard_sink_resumes_into_its_workers_folder(tmp_path: Path) -> None:
    from gymscope.episode import RunInfo

    records = list(replay_returns([1.0, 2.0, 3.0]))
    first = TensorBoardSink(tmp_path / "runs" / "env_1", unique=True)
    first.open(RunInfo("exp", 0))
    first.on_episode(records[0])
    first.close()
    other = TensorBoardSink(tmp_path / "runs" / "env_2", unique=True)
    other.open(RunInfo("exp", 1))  # another worker's folder is not taken
    other.on_episode(records[0])
    other.close()
    resumed = TensorBoardSink(tmp_path / "runs" / "env_3", unique=True)
    resumed.open(RunInfo("exp", 0))
    resumed.on_resume(state_of([1.0]))
    for record in records[1:]:
        resumed.on_episode(record)
    resumed.close()
    assert resumed.logdir == first.logdir
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["env_1", "env_2"]
    assert event_steps(first.logdir) == [[1], [2, 3]]
    # not resumed: a fresh folder, as before
    fresh = TensorBoardSink(tmp_path / "runs" / "env_1", unique=True)
    fresh.open(RunInfo("exp", 0))
    fresh.on_episode(records[0])
    fresh.close()
    assert fresh.logdir.name == "env_1_2"
    # an explicit folder is used as given
    explicit = TensorBoardSink(tmp_path / "mine")
    explicit.open(RunInfo("exp", 0))
    explicit.on_resume(state_of([1.0]))
    explicit.on_episode(records[1])
    explicit.close()
    assert explicit.logdir == tmp_path / "mine" and not (tmp_path / "mine" / RUN_MARK).exists()


def test_video_triggers_see_the_runs_episode_and_step_numbers(tmp_path: Path) -> None:
    from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
    from gymscope.wrappers.video import ScheduledRecordVideo
    from stubs import ScriptedEnv

    url = sqlite_url(tmp_path / "metrics.db")
    asked: list[list[int]] = []
    for attempt_no in range(2):
        seen: list[int] = []
        asked.append(seen)

        def trigger(episode: int, seen: list[int] = seen) -> bool:
            seen.append(episode)
            return episode in (1, 4)

        env: Any = SQLiteLoggerWrapper(
            ScriptedEnv(((1.0, 2.0), (3.0,)), render_mode="rgb_array"), url, "triggers"
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the second attempt is told of the first's videos
            env = ScheduledRecordVideo(
                env, tmp_path / "videos", episode_trigger=trigger, step_trigger=lambda t: t == 6
            )
            env.reset()
            for _ in range(3):
                done = False
                while not done:
                    _, _, terminated, truncated, _ = env.step(0)
                    done = terminated or truncated
                if not attempt_no or env.episode_id < 5:
                    env.reset()
        env.close()
    # RecordVideo's counter: a reset() each; the second attempt goes on at 3
    assert asked == [[0, 1, 2, 3], [3, 4, 5]]
    videos = tmp_path / "videos"
    names = sorted(p.name for p in videos.glob("*.mp4"))
    # episodes 0-2 took steps 0-4 (lengths 2, 1, 2); the second attempt's
    # episode 3 takes steps 5 and 6: the step video starts on its last frame
    assert names == ["rl-video-episode-1.mp4", "rl-video-episode-4.mp4", "rl-video-step-6.mp4"]
    side = json.loads((videos / "rl-video-step-6.mp4.json").read_text())
    assert (side["trigger"], side["step"], side["episodes"][0]["index"]) == ("step", 6, 3)
    assert side["run"] == {"experiment": "triggers", "worker": 0}

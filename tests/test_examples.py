"""Every example's main() runs; the values it reports are the wrapper's."""

from __future__ import annotations

import json
import math
import sqlite3
import statistics
import subprocess
import warnings
from contextlib import closing
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from stubs import load_script


def load(name: str) -> ModuleType:
    return load_script(f"examples/{name}.py")


def test_cleanrl_vector_loop(capsys: pytest.CaptureFixture[str]) -> None:
    episodes = load("cleanrl_vector_loop").main(total_steps=1_200, num_envs=3)
    out = capsys.readouterr().out
    assert len(episodes) == out.count("episodic_return=") > 10
    assert all(ep["l"] == ep["r"] for ep in episodes)  # CartPole: +1 per step
    assert all(ep["r_mean"] > 0 for ep in episodes)


def test_cleanrl_vector_stats(capsys: pytest.CaptureFixture[str]) -> None:
    import gymnasium as gym
    from gymnasium.wrappers.vector import RecordEpisodeStatistics

    episodes = load("cleanrl_vector_stats").main(total_steps=1_200, num_envs=3, seed=4)
    out = capsys.readouterr().out
    assert len(episodes) == out.count("episodic_return=") > 10
    assert all(ep["l"] == ep["r"] for ep in episodes)  # CartPole: +1 per step
    # the same loop with gymnasium's wrapper: the same episodes, in the same order
    envs = RecordEpisodeStatistics(
        gym.make_vec("CartPole-v1", num_envs=3, vectorization_mode="sync")
    )
    envs.action_space.seed(4)
    envs.reset(seed=4)
    theirs = []
    for _ in range(0, 1_200, 3):
        *_, infos = envs.step(envs.action_space.sample())
        if "episode" in infos:
            theirs += [
                (int(i), float(infos["episode"]["r"][i])) for i in np.flatnonzero(infos["_episode"])
            ]
    envs.close()
    assert [(int(ep["sub_env"]), ep["r"]) for ep in episodes] == theirs
    # sub-env 0's moving mean over its first episodes (window 20)
    zero = [ep for ep in episodes if ep["sub_env"] == 0.0]
    assert zero[2]["r_mean"] == statistics.fmean(ep["r"] for ep in zero[:3])


def _mp4_frames(path: Path, width: int, height: int) -> int:
    """Frames in an MP4, counted by decoding it with the ffmpeg gymscope uses."""
    import imageio_ffmpeg

    result = subprocess.run(
        [
            *(imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)),
            *("-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"),
        ],
        capture_output=True,
        check=True,
    )
    frame_bytes = width * height * 3
    assert len(result.stdout) % frame_bytes == 0
    return len(result.stdout) // frame_bytes


@pytest.mark.slow
def test_full_stack_cartpole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    episodes = 12
    result = load("full_stack_cartpole").main(
        tmp_path / "run", episodes=episodes, seed=3, epsilon=0.6
    )
    out = capsys.readouterr().out
    assert "database:" in out and "videos:" in out and "curves:" in out
    returns = result["returns"]
    assert len(returns) == episodes

    # The database: one row per episode, the returns the loop read from info["episode"].
    with closing(sqlite3.connect(result["db"])) as db:
        rows = db.execute(
            "SELECT e.episode_num, e.reward, e.length, e.extra FROM episode e JOIN experiment x "
            "ON x.id = e.experiment_id WHERE x.name = ? ORDER BY e.episode_num",
            (result["experiment"],),
        ).fetchall()
    assert [r[0] for r in rows] == list(range(episodes))
    assert [r[1] for r in rows] == returns
    assert all(r[1] == r[2] for r in rows)  # CartPole: +1 per step
    assert all(json.loads(r[3])["metrics"]["pole_angle"] >= 0 for r in rows)

    # Videos: episodes 0, 10 and the last, complete, each sidecar with the loop's return.
    videos = result["videos"]
    assert [v.name for v in videos] == [
        "cartpole-episode-0.mp4",
        "cartpole-episode-10.mp4",
        "cartpole-episode-11.mp4",
    ]
    for video in videos:
        sidecar = json.loads(video.with_name(video.name + ".json").read_text())
        assert sidecar["return"] == returns[sidecar["episode"]]
        assert sidecar["frames"] == sidecar["length"] + 1  # the reset frame, then one per step
        assert _mp4_frames(video, sidecar["width"], sidecar["height"]) == sidecar["frames"]
    assert not [p for p in videos[0].parent.iterdir() if p.name.startswith(".")]

    # Curves: charts and a history with every return.
    names = {p.name for p in result["curves"]}
    for stem in ("reward", "length", "pole_angle"):
        assert {f"cartpole_{stem}_curve.svg", f"cartpole_{stem}_curve.png"} <= names
    history = json.loads((tmp_path / "run" / "curves" / "cartpole_history.json").read_text())
    assert history["reward"] == returns
    assert history["summary"]["episodes"] == episodes


@pytest.mark.slow
def test_async_vector_db(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    result = load("async_vector_db").main(tmp_path / "metrics.db", total_steps=800, num_envs=4)
    seen, rows = result["seen"], result["rows"]
    assert "rows in" in capsys.readouterr().out
    assert len(rows) == len(seen) > 20  # every finished episode stored exactly once
    workers = sorted({worker for worker, *_ in rows})
    assert workers == [0, 1, 2, 3]
    # Each worker numbers its episodes 0, 1, 2, ... and holds one sub-env's episodes,
    # in order (which sub-env leased which number depends on who wrote first).
    stored = sorted([(r, n) for w, _, r, n in rows if w == worker] for worker in workers)
    played = sorted([(r, n) for i, r, n in seen if i == env] for env in range(4))
    assert stored == played
    for worker in workers:
        nums = [num for w, num, *_ in rows if w == worker]
        assert nums == list(range(len(nums)))


def test_postgres(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    from stubs_db import backend_url  # skips, or fails with GYMSCOPE_REQUIRE_POSTGRES=1

    url = backend_url("postgresql", tmp_path)
    result = load("postgres").main(url, episodes=40)
    assert result["count"] == 40
    assert result["mean"] == pytest.approx(sum(result["returns"]) / 40)
    assert result["best"] == max(result["returns"])
    assert "40 episodes of 'cartpole-postgres'" in capsys.readouterr().out


@pytest.mark.slow
@pytest.mark.integration(tier="sb3")
def test_sb3_ppo(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")  # optional: CI's sb3 integration tier has it
    with warnings.catch_warnings():
        # SB3/torch deprecation chatter is theirs, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        result = load("sb3_ppo").main(
            tmp_path / "run", total_timesteps=1_024, n_envs=2, n_steps=128
        )
    rows, buffer = result["rows"], result["ep_info_buffer"]
    assert len(rows) > 20
    # SB3's episode buffer holds gymscope's info["episode"]: the database's latest returns.
    assert [ep["r"] for ep in buffer] == [row[2] for row in rows][-len(buffer) :]
    assert all(type(ep["r"]) is float and "r_mean" in ep for ep in buffer)
    for worker in (0, 1):
        nums = [num for w, num, *_ in rows if w == worker]
        assert nums == list(range(len(nums)))
    # PPO's losses, reported from the second rollout on, stored as per-episode means.
    assert rows[0][4] is None and rows[-1][4] is not None
    # ... and at SB3's steps by SB3's own logger: dumped at each of the 4 rollouts
    # (2 envs x 128 steps), the losses of the update before it from the second on.
    assert [step for step, _ in result["value_losses"]] == [512, 768, 1024]
    curves = {p.name for p in (tmp_path / "run" / "curves").iterdir()}
    assert {
        "env0_reward_curve.svg",
        "env1_reward_curve.svg",
        "env0_critic_loss_curve.svg",
    } <= curves


@pytest.mark.integration(tier="sb3")
def test_sb3_vecmonitor(tmp_path: Path) -> None:
    pytest.importorskip("stable_baselines3")  # optional: CI's sb3 integration tier has it
    with warnings.catch_warnings():
        # SB3/torch deprecation chatter is theirs, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        result = load("sb3_vecmonitor").main(
            tmp_path / "run", total_timesteps=1_024, n_envs=2, n_steps=128
        )
    rows, buffer = result["rows"], result["ep_info_buffer"]
    assert len(rows) > 20
    # SB3's buffer: the latest rows, in the order the sub-envs ended them, with
    # SB3's Monitor's r/l/t and gymscope's moving statistics (the rows' too)
    assert [(ep["r"], ep["l"], ep["r_mean"]) for ep in buffer] == [
        (row[2], row[3], row[4]) for row in rows[-len(buffer) :]
    ]
    for worker in (0, 1):
        nums = [num for w, num, *_ in rows if w == worker]
        assert nums == list(range(len(nums))) and nums


@pytest.mark.integration(tier="sb3")
def test_cleanrl_ppo(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Every scalar CleanRL's loop logged (read back from the TensorBoard events the
    same writer wrote) is in the database at its global_step, and nothing else."""
    pytest.importorskip("torch")  # optional: CI's sb3 integration tier has it
    pytest.importorskip("tensorboardX")
    import dataclasses

    import numpy as np
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from gymscope.metrics.reader import MetricsReader

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch's, not ours
        result = load("cleanrl_ppo").main(tmp_path, total_timesteps=2_048, seed=1)
    assert capsys.readouterr().out.count("SPS:") == 8  # 2048 steps / (2 envs x 128)
    events = EventAccumulator(str(result["log_dir"]))
    events.Reload()
    logged: dict[tuple[str, int], list[float]] = {}
    for tag in events.Tags()["scalars"]:
        for event in events.Scalars(tag):
            logged.setdefault((tag, event.step), []).append(event.value)
    with closing(sqlite3.connect(result["db"])) as conn:
        rows = conn.execute(
            "SELECT m.name, m.step, m.value FROM gymscope_metric m JOIN experiment x "
            "ON x.id = m.experiment_id WHERE x.name = ?",
            (result["experiment"],),
        ).fetchall()
        rewards = conn.execute(
            "SELECT e.reward FROM episode e JOIN experiment x ON x.id = e.experiment_id "
            "WHERE x.name = ?",
            (result["experiment"],),
        ).fetchall()
    stored: dict[tuple[str, int], list[float]] = {}
    for name, step, value in rows:
        stored.setdefault((name, step), []).append(math.nan if value is None else value)
    assert sorted(stored) == sorted(logged)
    for point, values in logged.items():  # events hold float32: compare as float32
        assert sorted(np.float32(stored[point]).tolist()) == pytest.approx(
            sorted(values), nan_ok=True, rel=0, abs=0
        ), point
    names = {name for name, _ in stored}
    assert {"losses/value_loss", "charts/SPS", "charts/episodic_return"} <= names
    # the episodes the loop logged are the run's episode rows (same run, same returns)
    returns = [
        v for (name, _), vs in stored.items() if name == "charts/episodic_return" for v in vs
    ]
    assert sorted(returns) == sorted(r for (r,) in rewards) and len(returns) > 10
    with MetricsReader(result["db"]) as reader:
        assert [c.value() for c in reader.configs(result["experiment"])] == [
            dataclasses.asdict(result["args"])
        ]
        (run,) = reader.runs()
        assert (run.name, run.env, run.agent) == (result["experiment"], "CartPole-v1", "ppo")


def test_query_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "m.db"
    example = load("query_metrics")
    first = example.main(db_path=db, episodes=6, seed=3)
    second = example.main(db_path=db, episodes=2, seed=4)  # a second run: experiment 2
    out = capsys.readouterr().out
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT experiment_id, episode_num, worker, reward, length, reward_moving_avg "
            "FROM episode ORDER BY id"
        ).fetchall()
        names = dict(conn.execute("SELECT id, name FROM experiment").fetchall())
    ours = [r for r in rows if r[0] == 1]
    assert (first["experiment_id"], second["experiment_id"]) == (1, 2)
    assert names == {1: first["experiment"], 2: second["experiment"]}
    assert [r[1] for r in ours] == list(range(6)) and {r[2] for r in ours} == {0}
    assert all(r[3] == r[4] > 0 for r in rows)  # CartPole: +1 per step
    for i, r in enumerate(ours):  # window_size=3, no zero padding
        assert r[5] == pytest.approx(statistics.fmean(x[3] for x in ours[max(0, i - 2) : i + 1]))

    # 1. velora's query reads experiment 1, both times, and prints its rows
    assert first["velora"] == second["velora"] == [(r[3], r[4]) for r in ours]
    assert out.count("\n".join(f"{r[3]} {r[4]}" for r in ours)) == 2
    # 2. get_current_episode: the last episode of the run, worker 0
    (current,) = first["current"]
    last = ours[-1]
    assert (current["episode_num"], current["worker"], current["reward"]) == last[1:4]
    assert current["reward_moving_avg"] == last[5]
    assert current["created_at"].utcoffset().total_seconds() == 0
    # 3. plain SQL: one summary row per experiment, and the run's last episodes
    for result, exp_id in ((first, 1), (second, 2)):
        exp_rows = [r for r in rows if r[0] == exp_id]
        assert result["summary"][exp_id - 1][:4] == (
            exp_id,
            names[exp_id],
            "CartPole-v1",
            len(exp_rows),
        )
        assert result["summary"][exp_id - 1][4] == pytest.approx(
            statistics.fmean(r[3] for r in exp_rows)
        )
        assert result["summary"][exp_id - 1][5] == max(r[5] for r in exp_rows)
    assert len(second["summary"]) == 2
    assert [(n, r, length) for n, r, length, *_ in first["recent"]] == [
        (r[1], r[3], r[4]) for r in reversed(ours[-3:])
    ]
    mean = statistics.fmean(r[3] for r in ours)
    assert f"experiment 1 {names[1]} (CartPole-v1): 6 episodes, mean reward {mean:.2f}" in out


def test_native_vector(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from PIL import Image

    result = load("native_vector").main(tmp_path, num_envs=4, total_steps=1_600, seed=3)
    out = capsys.readouterr().out
    # every episode of every sub-env is one row of its worker
    assert result["rows_per_worker"] == dict(enumerate(result["ended"]))
    assert sum(result["ended"]) > 20
    assert f"{sum(result['ended'])} episodes by 4 sub-envs" in out
    assert [p.name for p in result["videos"]] == ["rl-video-episode-0.gif"]
    sidecar = json.loads((tmp_path / "videos" / "rl-video-episode-0.gif.json").read_text())
    with Image.open(result["videos"][0]) as gif:  # the 4 sub-envs tiled, half size
        assert gif.n_frames == sidecar["frames"] == sidecar["length"] + 1
        assert gif.size == (sidecar["width"], sidecar["height"])
    # 2 x 2 tiles of 600 x 400 (nearest to 16:9), at half size
    assert (sidecar["width"], sidecar["height"]) == (1200 // 2, 800 // 2)
    assert len(result["curves"]) == 2 * 4  # return and length curve per sub-env

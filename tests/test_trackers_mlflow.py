"""End to end: runs handed to a real tracker, read back with the tracker's own reader.

Every test takes the ``tracker`` fixture: a backend name, the options that
make it write under a temporary folder, and the function reading a run back
(:class:`readback.Readback`). Adding a backend is adding a parameter to
:func:`tracker` (the W&B and Comet readers live in tests/readback_wandb.py
and tests/readback_comet.py).
"""

from __future__ import annotations

import itertools
import math
import sqlite3
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

from readback import Readback
from stubs import ScriptedEnv, play

pytestmark = [
    pytest.mark.integration(tier="trackers"),
    # the trackers' own deprecations (MLflow on SQLAlchemy 2.1, pygame): not ours
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

# Rewards of the scripted episodes: returns 3, 3, 1.5, then the script again.
SCRIPT = ((1.0, 2.0), (3.0,), (0.5, 0.5, 0.5))
RETURNS = [3.0, 3.0, 1.5, 3.0, 3.0, 1.5]
LENGTHS = [2, 1, 3, 2, 1, 3]
STEPS = list(itertools.accumulate(LENGTHS))  # 2, 3, 6, 8, 9, 12
_counter = itertools.count()


@dataclass
class Tracker:
    """One backend as the tests drive it."""

    name: str
    #: keyword arguments of AnalyticsWrapper / push_experiment (uri=, settings=)
    options: dict[str, Any]
    #: gymscope push's arguments for the same target
    push_args: list[str]
    #: reads a run back: run id -> Readback
    read: Callable[[str], Readback]
    #: folder the AnalyticsState points the tracker's files to (None: not used)
    directory: Path | None = None
    projects: list[str] = field(default_factory=list)

    def state(self, **kwargs: Any) -> Any:
        """An AnalyticsState of a project of its own (runs never mix across tests)."""
        from gymscope.state import AnalyticsState

        project = f"test-{next(_counter)}"
        self.projects.append(project)
        return AnalyticsState(project, directory=self.directory, offline=True, **kwargs)


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One MLflow store for the module: creating one costs ~15 s here."""
    pytest.importorskip("mlflow")
    folder = tmp_path_factory.mktemp("mlflow")
    return f"sqlite:///{folder / 'mlflow.db'}"


@pytest.fixture(params=["mlflow", "wandb", "comet"])
def tracker(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Tracker]:
    if request.param == "mlflow":
        from readback_mlflow import read_mlflow

        uri = request.getfixturevalue("mlflow_store")
        yield Tracker(
            "mlflow",
            {"uri": uri},
            ["--uri", uri],
            lambda run_id: read_mlflow(uri, run_id),
        )
    elif request.param == "wandb":
        pytest.importorskip("wandb")
        from readback_wandb import read_wandb

        monkeypatch.setenv("WANDB_MODE", "offline")
        monkeypatch.setenv("WANDB_SILENT", "true")
        monkeypatch.setenv("WANDB_ERROR_REPORTING", "false")  # no reports to W&B's Sentry
        for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
            monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))
        folder = tmp_path / "wandb-files"
        folder.mkdir()
        yield Tracker(
            "wandb",
            {},
            ["--dir", str(folder), "--offline"],
            lambda run_id: read_wandb(folder, run_id),
            directory=folder,
        )
    else:
        pytest.importorskip("comet_ml")
        from readback_comet import read_comet

        monkeypatch.setenv("COMET_ERROR_TRACKING_ENABLE", "false")
        folder = tmp_path / "comet-files"
        folder.mkdir()
        yield Tracker(
            "comet",
            {},
            ["--dir", str(folder), "--offline"],
            lambda run_id: read_comet(folder, run_id),
            directory=folder,
        )


def analytics(env: gym.Env[Any, Any], tracker: Tracker, state: Any, **kwargs: Any) -> Any:
    from gymscope.wrappers.analytics import AnalyticsWrapper

    return AnalyticsWrapper(env, state, tracker.name, **tracker.options, **kwargs)


def logger(env: gym.Env[Any, Any], db: Path, experiment: str, **kwargs: Any) -> Any:
    from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper

    return SQLiteLoggerWrapper(env, db, experiment=experiment, **kwargs)


def points(readback: Readback, key: str) -> list[tuple[int, float]]:
    return readback.metrics.get(key, [])


def stats(returns: list[float], lengths: list[int], window: int, alpha: float) -> dict[str, list]:
    """The moving mean/std and EMAs after each episode, computed by hand."""
    out: dict[str, list[float]] = {"mean": [], "std": [], "ema": [], "ema_len": []}
    ema = ema_len = math.nan
    for i, (r, n) in enumerate(zip(returns, lengths, strict=True)):
        last = returns[max(0, i + 1 - window) : i + 1]
        out["mean"].append(float(np.mean(last)))
        out["std"].append(float(np.std(last)))
        ema = r if i == 0 else alpha * r + (1 - alpha) * ema
        ema_len = n if i == 0 else alpha * n + (1 - alpha) * ema_len
        out["ema"].append(ema)
        out["ema_len"].append(ema_len)
    return out


def expected_episode_points(
    returns: list[float], lengths: list[int], steps: list[int], alpha: float = 0.5
) -> dict[str, list[tuple[int, float]]]:
    """What the tracker must hold: window 2, EMA weight ``alpha``."""
    s = stats(returns, lengths, window=2, alpha=alpha)
    return {
        "episode/return": list(zip(steps, returns, strict=True)),
        "episode/length": [(t, float(n)) for t, n in zip(steps, lengths, strict=True)],
        "episode/return_mean_2": list(zip(steps, s["mean"], strict=True)),
        "episode/return_std_2": list(zip(steps, s["std"], strict=True)),
        f"episode/return_ema_{alpha:g}": list(zip(steps, s["ema"], strict=True)),
        f"episode/length_ema_{alpha:g}": list(zip(steps, s["ema_len"], strict=True)),
    }


def assert_points(got: list[tuple[int, float]], want: list[tuple[int, float]], key: str) -> None:
    assert [t for t, _ in got] == [t for t, _ in want], key
    assert np.allclose([v for _, v in got], [v for _, v in want], rtol=1e-6), key


# -- live, single env ---------------------------------------------------------------------
def test_live_run_sends_every_episode_at_env_steps(tracker: Tracker, tmp_path: Path) -> None:
    env = ScriptedEnv(SCRIPT, final_info={"score": 7})
    state = tracker.state(tags=["ppo", "stub"])
    env = analytics(
        env,
        tracker,
        state,
        config={"lr": 0.25, "net": {"layers": [64, 64]}, "algo": "ppo"},
        agent="PPO",
        episodes=6,
        window_size=2,
        alpha=0.5,
        info_keys=["score"],
        flush_every=4,  # one batch of 4 episodes, then the rest at close()
    )
    env.get_wrapper_attr("log_metrics")(step=0, loss=0.5)
    play(env, 3)
    env.get_wrapper_attr("log_metrics")(step=6, loss=0.25, lr=1e-3)
    for _ in range(3):
        play(env, 1)
    env.close()
    run_id = env.tracker_run_id
    back = tracker.read(run_id)
    assert back.name == "PPO_ScriptedEnv_6ep"
    assert back.tags == ["ppo", "stub"]
    for key, want in expected_episode_points(RETURNS, LENGTHS, STEPS).items():
        assert_points(points(back, key), want, key)
    assert points(back, "info/score") == [(t, 7.0) for t in STEPS]
    assert points(back, "train/loss") == [(0, 0.5), (6, 0.25)]
    assert points(back, "train/lr") == [(6, 1e-3)]
    if tracker.name == "mlflow":
        assert back.config == {"lr": "0.25", "net.layers": "[64, 64]", "algo": "ppo"}
    else:
        assert back.config["lr"] == 0.25


def test_name_and_tags_follow_velora_when_the_state_leaves_them_open(
    tracker: Tracker, tmp_path: Path
) -> None:
    env = logger(gym.make("CartPole-v1"), tmp_path / "m.db", "named", agent="DQN")
    env = analytics(env, tracker, tracker.state(), episodes=2)
    play(env, 2, seed=0)
    env.close()
    run_id = env.tracker_run_id
    back = tracker.read(run_id)
    assert back.name == "DQN_CartPole-v1_2ep"
    assert back.tags == ["CartPole-v1", "DQN"]


# -- the vector wrapper -------------------------------------------------------------------
def test_vector_wrapper_sends_one_run_of_all_sub_envs(tracker: Tracker, tmp_path: Path) -> None:
    from gymscope.vector.analytics import AnalyticsWrapper

    envs = gym.vector.SyncVectorEnv(
        [lambda: ScriptedEnv(((1.0, 1.0),)), lambda: ScriptedEnv(((5.0,),))]
    )
    envs = AnalyticsWrapper(
        envs, tracker.state(), tracker.name, window_size=2, alpha=0.5, **tracker.options
    )
    envs.reset(seed=0)
    for _ in range(5):
        envs.step(np.zeros(2, dtype=np.int64))
    envs.close()
    run_id = envs.tracker_run_id
    back = tracker.read(run_id)
    # NEXT_STEP autoreset: sub-env 1 (return 5, length 1) ends at vector steps 1, 3, 5;
    # sub-env 0 (return 2, length 2) at 2 and 5; the step after an end only resets.
    # An episode's step is the vector env's env steps: 2 per vector step.
    # (a tracker orders the points of one step its own way: compared sorted)
    assert sorted(points(back, "episode/return")) == [
        (2, 5.0), (4, 2.0), (6, 5.0), (10, 2.0), (10, 5.0)
    ]  # fmt: skip
    assert sorted(points(back, "episode/length")) == [
        (2, 1.0), (4, 2.0), (6, 1.0), (10, 1.0), (10, 2.0)
    ]  # fmt: skip
    # run-level: over both sub-envs' episodes, in the order they ended (MLflow keeps
    # one of two equal points at one step and time: compared as sets)
    assert set(points(back, "episode/return_mean_2")) == {(2, 5.0), (4, 3.5), (6, 3.5), (10, 3.5)}
    assert set(points(back, "episode/return_ema_0.5")) == {
        (2, 5.0), (4, 3.5), (6, 4.25), (10, 3.125), (10, 4.0625)
    }  # fmt: skip


# -- resume ---------------------------------------------------------------------------------
def test_a_resumed_run_continues_its_tracker_run(tracker: Tracker, tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    state = tracker.state()
    env = analytics(logger(ScriptedEnv(SCRIPT), db, "resumed"), tracker, state, flush_every=1)
    play(env, 3)
    env.close()
    first = env.tracker_run_id
    env = analytics(logger(ScriptedEnv(SCRIPT), db, "resumed"), tracker, state, flush_every=1)
    play(env, 3)
    env.close()
    second = env.tracker_run_id
    assert first == second
    back = tracker.read(first)
    assert points(back, "episode/return") == list(zip(STEPS, RETURNS, strict=True))
    rows = (
        sqlite3.connect(db)
        .execute("SELECT worker, backend, run_id, episodes, episode_step FROM gymscope_tracker_run")
        .fetchall()
    )
    assert rows == [(0, tracker.name, first, '{"0": 5}', 12)]


# -- push ------------------------------------------------------------------------------------
def recorded(db: Path, experiment: str, episodes: int, **kwargs: Any) -> None:
    env = logger(ScriptedEnv(SCRIPT), db, experiment, **kwargs)
    env.get_wrapper_attr("log_metrics")(step=1, loss=0.5)
    play(env, episodes)
    env.close()


def push(tracker: Tracker, db: Path, experiment: str, state: Any, *extra: str) -> str:
    from gymscope.cli import main

    args = ["push", str(db), experiment, "--to", tracker.name, "--project", state.project_name]
    if tracker.directory is not None:
        args += ["--dir", str(tracker.directory), "--offline"]
    code = main([*args, *tracker.push_args, *extra])
    assert code == 0
    return str(sqlite3.connect(db).execute("SELECT run_id FROM gymscope_tracker_run").fetchone()[0])


def test_push_sends_a_stored_run_once_then_only_what_is_new(
    tracker: Tracker, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "m.db"
    recorded(db, "offline", 4, config={"gamma": 0.5}, agent="A2C", window_size=2)
    state = tracker.state()
    run_id = push(tracker, db, "offline", state)
    assert "4 episode(s), 1 metric point(s), 0 video(s)" in capsys.readouterr().out
    back = tracker.read(run_id)
    want = expected_episode_points(RETURNS[:4], LENGTHS[:4], STEPS[:4], alpha=0.1)
    for key, points_wanted in want.items():
        assert_points(points(back, key), points_wanted, key)
    assert points(back, "train/loss") == [(1, 0.5)]
    assert back.name == "A2C_ScriptedEnv_4ep"
    # again: nothing new
    assert push(tracker, db, "offline", state) == run_id
    assert "0 episode(s), 0 metric point(s), 0 video(s)" in capsys.readouterr().out
    assert tracker.read(run_id).metrics == back.metrics
    # two more episodes stored: only they are sent, stepped on
    recorded(db, "offline", 2)
    assert push(tracker, db, "offline", state) == run_id
    assert "2 episode(s), 0 metric point(s)" in capsys.readouterr().out  # step 1: held
    final = tracker.read(run_id)
    # the resumed worker's env starts its script again: returns 3 and 3, lengths 2 and 1
    returns, lengths = [*RETURNS[:4], 3.0, 3.0], [*LENGTHS[:4], 2, 1]
    steps = list(itertools.accumulate(lengths))
    for key, points_wanted in expected_episode_points(returns, lengths, steps, 0.1).items():
        assert_points(points(final, key), points_wanted, key)
    assert points(final, "train/loss") == [(1, 0.5)]  # the second one, at step 1 too: held
    assert final.config == back.config


# -- failure ---------------------------------------------------------------------------------
def test_a_failing_tracker_is_warned_about_once_and_push_sends_the_episodes_later(
    tracker: Tracker, tmp_path: Path
) -> None:
    from gymscope.trackers.sink import TrackerFailedWarning, make_client

    real = make_client(tracker.name)

    class Unreachable:  # the backend's own client, whose sends fail
        backend = tracker.name

        def start(self, spec: Any) -> str:
            return real.start(spec)

        def log_config(self, config: Any) -> None:
            real.log_config(config)

        def log(self, values: Any, *, step: int) -> None:
            raise ConnectionError("tracker unreachable")

        def log_video(self, path: Any, **kwargs: Any) -> None:
            raise ConnectionError("tracker unreachable")

        def finish(self) -> None:
            raise ConnectionError("tracker unreachable")

    db = tmp_path / "m.db"
    state = tracker.state()
    from gymscope.wrappers.analytics import AnalyticsWrapper

    env = AnalyticsWrapper(
        logger(ScriptedEnv(SCRIPT), db, "failing"),
        state,
        Unreachable(),
        flush_every=1,
        **tracker.options,
    )
    with pytest.warns(TrackerFailedWarning, match="unreachable") as caught:
        play(env, 6)  # step() never raises
        env.close()
    assert len([w for w in caught if issubclass(w.category, TrackerFailedWarning)]) == 1
    # the SDK's run ends as it would when the training process exits (W&B keeps
    # its id "in use" and Comet runs one experiment per process until then)
    real.finish()
    assert sqlite3.connect(db).execute("SELECT count(*) FROM episode").fetchone() == (6,)
    run_id = push(tracker, db, "failing", state)
    back = tracker.read(run_id)
    assert points(back, "episode/return") == list(zip(STEPS, RETURNS, strict=True))


# -- videos ----------------------------------------------------------------------------------
def test_videos_of_the_stack_are_attached_with_their_returns(
    tracker: Tracker, tmp_path: Path
) -> None:
    from gymscope.wrappers.video import ScheduledRecordVideo

    db = tmp_path / "m.db"
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    env = logger(env, db, "filmed")
    env = ScheduledRecordVideo(env, tmp_path / "videos", episode_trigger=lambda i: i in (0, 2))
    env = analytics(env, tracker, tracker.state(), flush_every=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pygame's
        play(env, 4, seed=3)
    env.close()
    run_id = env.tracker_run_id
    back = tracker.read(run_id)
    videos = sorted(p.name for p in (tmp_path / "videos").glob("*.mp4"))
    assert videos == ["rl-video-episode-0.mp4", "rl-video-episode-2.mp4"]
    if tracker.name == "wandb":  # W&B stores media as {key}_{step}_{sha256[:20]}.mp4
        assert len([name for name in back.artifacts if name.endswith(".mp4")]) == 2
    else:
        assert set(videos) <= set(back.artifacts)
    assert len(points(back, "episode/return")) == 4


# -- the example -----------------------------------------------------------------------------
def test_example_mlflow_local(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from stubs import load_script

    pytest.importorskip("mlflow")
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    summary = load_script("examples/mlflow_local.py").main(tmp_path / "demo", episodes=8)
    out = capsys.readouterr().out
    live, pushed = summary["live"], summary["pushed"]
    assert live["name"] == "Random_CartPole-v1_8ep" and pushed["name"] == "Random_CartPole-v1_8ep"
    assert live["points"]["episode/return"] == pushed["points"]["episode/return"] == 8
    assert live["points"] == pushed["points"]  # live and replayed: the same keys and counts
    assert live["artifacts"] == pushed["artifacts"] == [
        "videos/rl-video-episode-0.mp4", "videos/rl-video-episode-0.mp4.json",
        "videos/rl-video-episode-5.mp4", "videos/rl-video-episode-5.mp4.json",
    ]  # fmt: skip
    assert live["params"] == pushed["params"] == {"policy": "random", "seed": "0", "episodes": "8"}
    assert summary["second_push_episodes"] == 0
    assert "episode/return: 8 points" in out


def test_benchmark_tracker_batching_on_a_tiny_size() -> None:
    from stubs import load_script

    pytest.importorskip("mlflow")
    bench = load_script("benchmarks/tracker_batching.py")
    result = bench.run(rounds=1, episodes=5)
    names = [figure.name for figure in result.figures]
    assert names == ["bare env", "flush_every=1", bench.REFERENCE]
    assert all(result.figure(name).median_s > 0 for name in names)

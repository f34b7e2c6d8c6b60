"""gymscope.demo: the cross-entropy agent, the demo's env stack, and run_demo."""

from __future__ import annotations

import io
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from rich.console import Console

from gymscope import EpisodeStatsWrapper
from gymscope.demo import (
    MOVING_WINDOW,
    CrossEntropyAgent,
    DemoError,
    DemoResult,
    LinearPolicy,
    build_env,
    prepare_out_dir,
    render_summary,
    run_demo,
)
from gymscope.demo import run as demo_run

# -- the agent -------------------------------------------------------------------------


def test_agent_ask_samples_population_from_its_gaussian() -> None:
    agent = CrossEntropyAgent(obs_dim=3, n_actions=2, rng=0, population=4000, init_std=0.5)
    candidates = agent.ask()
    assert candidates.shape == (4000, agent.n_params) == (4000, 8)
    assert np.allclose(candidates.mean(axis=0), 0.0, atol=0.05)
    assert np.allclose(candidates.std(axis=0), 0.5, atol=0.05)


def test_agent_tell_refits_to_the_elite_with_a_noise_floor() -> None:
    agent = CrossEntropyAgent(
        obs_dim=1, n_actions=1, rng=0, population=4, elite_frac=0.5, noise_floor=0.1
    )
    candidates = np.array([[0.0, 0.0], [1.0, 1.0], [3.0, 5.0], [5.0, 7.0]])
    agent.tell(candidates, [1.0, 2.0, 3.0, 4.0])
    assert agent.iterations == 1
    assert agent.mean.tolist() == [4.0, 6.0]
    assert np.allclose(agent.std, math.sqrt(1.0 + 0.1**2))
    # the update's losses: the elite's mean NLL per parameter under the refit
    spread = math.sqrt(1.01)
    nll = 0.5 / 1.01 + math.log(spread) + 0.5 * math.log(2 * math.pi)
    assert agent.last_losses == pytest.approx(
        {"cross_entropy": nll, "policy_std": spread, "elite_return": 3.5}
    )


def test_agent_ranks_nan_returns_last() -> None:
    agent = CrossEntropyAgent(obs_dim=1, n_actions=1, rng=0, population=3, elite_frac=0.5)
    candidates = np.array([[9.0, 9.0], [1.0, 1.0], [2.0, 2.0]])
    agent.tell(candidates, [math.nan, 1.0, 2.0])
    assert agent.mean.tolist() == [1.5, 1.5]


def test_agent_is_reproducible_from_its_seed() -> None:
    first, second = (CrossEntropyAgent(4, 2, rng=7) for _ in range(2))
    assert np.array_equal(first.ask(), second.ask())
    assert not np.array_equal(first.ask(), CrossEntropyAgent(4, 2, rng=8).ask())


def test_agent_policy_unpacks_weights_bias_and_action_start() -> None:
    agent = CrossEntropyAgent(obs_dim=2, n_actions=3, rng=0, action_start=-1)
    params = np.array([1.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.5, 0.0])
    policy = agent.policy(params)
    assert policy.weights.tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]
    assert policy.bias.tolist() == [0.0, 0.5, 0.0]
    assert policy(np.array([2.0, 0.0])) == -1
    assert policy(np.array([0.0, 2.0])) == 1
    assert policy(np.zeros(2)) == 0
    assert policy(np.zeros((1, 2))) == 0  # observations are flattened


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"population": 1}, ValueError, "population must be an int >= 2, got 1"),
        ({"population": 2.5}, TypeError, "population"),
        ({"elite_frac": 0.0}, ValueError, "elite_frac"),
        ({"elite_frac": 1.5}, ValueError, "elite_frac"),
        ({"init_std": -1.0}, ValueError, "init_std"),
        ({"noise_floor": -0.1}, ValueError, "noise_floor must be >= 0"),
        ({"action_start": "0"}, TypeError, "action_start"),
    ],
)
def test_agent_validates_its_arguments(
    kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    with pytest.raises(error, match=match):
        CrossEntropyAgent(4, 2, **kwargs)


def test_agent_tell_rejects_mismatched_returns() -> None:
    agent = CrossEntropyAgent(4, 2, rng=0, population=5)
    candidates = agent.ask()
    with pytest.raises(ValueError, match="one return per candidate"):
        agent.tell(candidates, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"shape \(k, 10\)"):
        agent.tell(candidates[:, :3], [1.0] * 5)
    with pytest.raises(ValueError, match="at least 2"):
        agent.tell(candidates[:1], [1.0])


def test_linear_policy_picks_argmax() -> None:
    policy = LinearPolicy(np.eye(3), np.zeros(3), start=0)
    assert [policy(row) for row in np.eye(3)] == [0, 1, 2]


# -- the env stack -----------------------------------------------------------------------


def test_build_env_wraps_in_episode_stats_wrapper(tmp_path: Path) -> None:
    env = build_env("CartPole-v1", tmp_path / "out", seed=0)
    try:
        assert isinstance(env, EpisodeStatsWrapper)
        assert env.stats_key == "episode"
        assert (tmp_path / "out").is_dir()
    finally:
        env.close()


@pytest.mark.parametrize(
    ("env_id", "match"),
    [
        ("NoSuchEnv-v0", "unknown environment 'NoSuchEnv-v0': Environment `NoSuchEnv`"),
        ("CartPole-v99", "unknown environment 'CartPole-v99'"),
        ("no_such_module:Env-v0", "cannot make environment 'no_such_module:Env-v0'"),
        ("Pendulum-v1", r"Discrete action space, but 'Pendulum-v1' has Box\(3,\) obs"),
        ("FrozenLake-v1", r"has Discrete\(16\) observations"),
    ],
)
def test_build_env_rejects_unusable_envs(tmp_path: Path, env_id: str, match: str) -> None:
    with pytest.raises(DemoError, match=match):
        build_env(env_id, tmp_path, seed=0)


def test_prepare_out_dir_errors(tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("x")
    with pytest.raises(DemoError, match="exists and is not a directory"):
        prepare_out_dir(a_file)
    with pytest.raises(DemoError, match=r"cannot write to output directory .*Not a directory"):
        prepare_out_dir(a_file / "sub")
    nested = prepare_out_dir(tmp_path / "a" / "b")
    assert nested.is_dir() and nested.is_absolute()


class EndlessEnv(gym.Env[np.ndarray, np.int64]):
    """Never terminates; 2x2 observations; actions -1, 0, 1 (Discrete start -1)."""

    def __init__(self) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(2, 2), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(3, start=-1)
        self.actions: set[int] = set()

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        return self.observation_space.sample(), {}

    def step(self, action: np.int64) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} outside {self.action_space}")
        self.actions.add(int(action))
        return self.observation_space.sample(), 1.0, False, False, {}


@pytest.fixture
def endless_env_id() -> Iterator[str]:
    env_id = "GymscopeTestEndless-v0"
    gym.register(env_id, entry_point=EndlessEnv)
    yield env_id
    gym.registry.pop(env_id)


def test_envs_without_time_limit_are_capped(tmp_path: Path, endless_env_id: str) -> None:
    result = run_demo(endless_env_id, 2, tmp_path, seed=0)
    assert result.returns == (1000.0, 1000.0)
    assert result.total_steps == 2000


# -- run_demo ----------------------------------------------------------------------------


def test_agent_learns_cartpole(tmp_path: Path) -> None:
    result = run_demo("CartPole-v1", 150, tmp_path, seed=0)
    returns = np.array(result.returns)
    assert result.episodes == returns.size == 150
    first, last = returns[:20].mean(), returns[-20:].mean()
    assert first < 30
    assert last > 3 * first
    assert result.last_moving_mean > 2 * result.moving_means[19]
    assert result.iterations == 5  # 150 episodes, 30 candidates each
    # CartPole pays 1 per step, so the wrapper's returns and lengths agree
    assert result.total_steps == int(returns.sum())


def test_returns_and_moving_mean_come_from_the_stats_wrapper(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[gym.Env[Any, Any]] = []

    def spy(*args: Any, **kwargs: Any) -> gym.Env[Any, Any]:
        env = build_env(*args, **kwargs)
        built.append(env)
        return env

    monkeypatch.setattr(demo_run, "build_env", spy)  # where run_demo looks it up
    result = run_demo("CartPole-v1", 70, tmp_path, seed=1)
    (env,) = built
    assert isinstance(env, EpisodeStatsWrapper)
    assert env.episode_count == 70
    assert list(env.return_queue) == list(result.returns)
    assert result.total_steps == sum(env.length_queue)
    returns = np.array(result.returns)
    expected = [returns[max(0, i + 1 - MOVING_WINDOW) : i + 1].mean() for i in range(70)]
    assert np.allclose(result.moving_means, expected)
    assert result.best_moving_mean == max(result.moving_means)
    assert result.last_moving_mean == result.moving_means[-1]


def test_the_agents_losses_are_logged_by_env_step_and_charted(tmp_path: Path) -> None:
    from gymscope.metrics.queries import MetricsReader

    result = run_demo("CartPole-v1", 70, tmp_path, seed=1)  # 2 updates of 30 candidates
    with MetricsReader(tmp_path / "metrics.db") as reader:
        (run,) = reader.runs()
        metrics = reader.metrics(run.experiment)
        episodes = reader.episodes(run.experiment)
    assert metrics.names == ["cross_entropy", "elite_return", "policy_std"]
    steps = np.cumsum(episodes.lengths)
    for series in metrics:  # after the 30th and the 60th episode, at the env steps so far
        assert series.steps.tolist() == [int(steps[29]), int(steps[59])]
        assert np.isfinite(series.values).all()
    assert metrics["elite_return"].values.tolist() == pytest.approx(
        [np.sort(result.returns[:30])[-8:].mean(), np.sort(result.returns[30:60])[-8:].mean()]
    )
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "Training metrics" in page
    assert 'aria-label="CartPole-v1 · cross_entropy (by step)"' in page


def test_same_seed_same_run(tmp_path: Path) -> None:
    first = run_demo("CartPole-v1", 45, tmp_path, seed=3)
    second = run_demo("CartPole-v1", 45, tmp_path, seed=3)
    other = run_demo("CartPole-v1", 45, tmp_path, seed=4)
    assert first.returns == second.returns
    assert first.moving_means == second.moving_means
    assert first.returns != other.returns


def test_partial_last_iteration_is_played_but_not_learned_from(tmp_path: Path) -> None:
    result = run_demo("CartPole-v1", 45, tmp_path, seed=0)
    assert result.episodes == len(result.returns) == 45
    assert result.iterations == 1
    assert result.agent is not None and result.agent.iterations == 1


def test_runs_other_discrete_envs(tmp_path: Path) -> None:
    result = run_demo("Acrobot-v1", 3, tmp_path, seed=0)
    assert result.episodes == 3
    assert all(-500.0 <= r <= 0.0 for r in result.returns)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"episodes": 0}, ValueError, "episodes must be an int >= 1, got 0"),
        ({"episodes": 2.0}, TypeError, "episodes"),
        ({"seed": -1}, ValueError, "seed must be an int >= 0, got -1"),
    ],
)
def test_run_demo_validates_arguments(
    tmp_path: Path, kwargs: dict[str, Any], error: type[Exception], match: str
) -> None:
    arguments: dict[str, Any] = {"episodes": 5, "seed": 0, **kwargs}
    with pytest.raises(error, match=match):
        run_demo("CartPole-v1", out_dir=tmp_path, **arguments)


def test_progress_bar_on_a_console(tmp_path: Path) -> None:
    console = Console(record=True, width=100, file=io.StringIO())
    run_demo("CartPole-v1", 30, tmp_path, seed=0, console=console)
    text = console.export_text()
    assert "Training a linear policy on CartPole-v1" in text
    assert "30/30 episodes" in text
    assert "moving mean return" in text


def _result(**overrides: Any) -> DemoResult:
    fields: dict[str, Any] = {
        "env_id": "CartPole-v1",
        "seed": 0,
        "episodes": 5,
        "total_steps": 150,
        "iterations": 1,
        "population": 30,
        "window_size": 50,
        "returns": (10.0, 20.0, 30.0, 40.0, 50.0),
        "moving_means": (10.0, 15.0, 20.0, 25.0, 30.0),
        "wall_time_s": 2.0,
        "out_dir": Path("/tmp/out"),
    }
    fields.update(overrides)
    return DemoResult(**fields)


def test_result_milestones() -> None:
    result = _result()
    assert result.moving_mean_milestones() == [10.0, 15.0, 20.0, 25.0, 30.0]
    assert result.moving_mean_milestones(2) == [10.0, 20.0, 30.0]
    assert result.best_moving_mean == 30.0


def test_summary_lists_numbers_and_every_output() -> None:
    result = _result(outputs={"Metrics database": Path("/tmp/out/metrics.db")})
    console = Console(record=True, width=100, file=io.StringIO())
    console.print(render_summary(result, unicode=False), crop=False)
    text = console.export_text()
    assert "gymscope demo: CartPole-v1, seed 0" in text
    assert "5 (1 cross-entropy iteration of 30 candidates)" in text
    assert "best 30.0, last 30.0 (over 50 episodes)" in text
    assert "10 -> 15 -> 20 -> 25 -> 30" in text
    assert "2.0 s (75 steps/s)" in text
    assert "Output folder       /tmp/out\n" in text
    assert "Metrics database    /tmp/out/metrics.db\n" in text


def test_summary_never_wraps_output_paths() -> None:
    long_dir = Path("/tmp") / ("very-long-folder-name-" * 6)
    console = Console(record=True, width=40, file=io.StringIO())
    console.print(render_summary(_result(out_dir=long_dir)), crop=False)
    assert f"Output folder       {long_dir}\n" in console.export_text()


def test_demo_records_database_videos_and_curves(tmp_path: Path) -> None:
    import json
    import sqlite3

    result = run_demo("CartPole-v1", 40, tmp_path, seed=0)
    with sqlite3.connect(tmp_path / "metrics.db") as db:
        rows = db.execute(
            "SELECT episode_num, reward, length, reward_moving_avg FROM episode"
            " ORDER BY episode_num"
        ).fetchall()
        (agent,) = db.execute("SELECT agent FROM experiment").fetchone()
    assert [r[0] for r in rows] == list(range(40))
    assert [r[1] for r in rows] == list(result.returns)
    assert sum(r[2] for r in rows) == result.total_steps
    assert np.allclose([r[3] for r in rows], result.moving_means)
    assert agent == "CrossEntropyAgent"

    videos = tmp_path / "videos"
    # episode 0, every 40 // 5 = 8th, and the last one
    expected = {f"CartPole-v1-episode-{i}.mp4" for i in (0, 8, 16, 24, 32, 39)}
    assert {p.name for p in videos.glob("*.mp4")} == expected
    assert [p.name for p in videos.glob("*.gif")] == ["CartPole-v1-episode-39.gif"]
    sidecar = json.loads((videos / "CartPole-v1-episode-39.mp4.json").read_text())
    assert sidecar["return"] == result.returns[39]
    assert sidecar["episodes"][0]["moving_mean"] == result.moving_means[39]  # one shared window

    history = json.loads((tmp_path / "curves" / "CartPole-v1_history.json").read_text())
    assert history["summary"]["episodes"] == 40
    assert (tmp_path / "curves" / "CartPole-v1_reward_curve.png").stat().st_size > 1000
    assert set(result.outputs) == {
        "Metrics database",
        "Videos (6 MP4)",
        "GIF",
        "Reward curve",
        "Report",
    }
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "CartPole-v1-episode-39.gif" in report and "<svg" in report


def test_rerun_into_the_same_folder_adds_a_run_and_replaces_videos(tmp_path: Path) -> None:
    import sqlite3

    run_demo("CartPole-v1", 6, tmp_path, seed=0)
    run_demo("CartPole-v1", 6, tmp_path, seed=1)  # no warning (filterwarnings=error)
    with sqlite3.connect(tmp_path / "metrics.db") as db:
        assert db.execute("SELECT COUNT(*) FROM experiment").fetchone() == (2,)
        assert db.execute("SELECT COUNT(*) FROM episode").fetchone() == (12,)

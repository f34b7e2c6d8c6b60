"""Stable-Baselines3 reads EpisodeStatsWrapper's info["episode"] unchanged.

Skipped when stable-baselines3 (and torch) are not installed; CI runs these
in its ``sb3`` integration tier (``.ci/integration/sb3.txt``).
"""

from __future__ import annotations

import sqlite3
import warnings
from contextlib import closing
from pathlib import Path
from types import ModuleType

import gymnasium as gym
import pytest

from gymscope import EpisodeStatsWrapper, SQLiteLoggerWrapper

pytestmark = pytest.mark.integration(tier="sb3")


@pytest.fixture(scope="module")
def sb3() -> ModuleType:
    # Not at module level: a module-level skip would hide the integration mark.
    return pytest.importorskip("stable_baselines3")


class _Collect(gym.Wrapper[object, object, object, object]):
    """Notes every info["episode"] the wrapper hands up, in finishing order."""

    def __init__(self, env: gym.Env[object, object], sink: list[dict[str, float]]) -> None:
        super().__init__(env)
        self.sink = sink

    def step(self, action: object) -> tuple[object, float, bool, bool, dict[str, object]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        if "episode" in info:
            self.sink.append(dict(info["episode"]))  # type: ignore[call-overload]
        return obs, float(reward), terminated, truncated, info


def test_sb3_ep_info_buffer_equals_our_stats(sb3: ModuleType) -> None:
    from stable_baselines3.common.vec_env import DummyVecEnv

    ours: list[dict[str, float]] = []
    vec = DummyVecEnv([lambda: _Collect(EpisodeStatsWrapper(gym.make("CartPole-v1")), ours)] * 2)
    with warnings.catch_warnings():
        # SB3/torch deprecation chatter is theirs, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        model = sb3.A2C("MlpPolicy", vec, n_steps=8, seed=0, device="cpu")
        model.learn(total_timesteps=3_000)
    seen = list(model.ep_info_buffer)
    assert len(seen) == min(len(ours), 100) > 30  # buffer maxlen is 100
    assert seen == ours[-len(seen) :]  # same dicts, same order: r, l, t and our extra keys
    assert all(type(ep["r"]) is float and type(ep["l"]) is int for ep in seen)


def test_sb3_episode_rewards_equal_the_database_rows(sb3: ModuleType, tmp_path: Path) -> None:
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv

    db = tmp_path / "metrics.db"
    n_envs = 3

    def make(worker: int) -> Monitor:
        env = SQLiteLoggerWrapper(
            gym.make("CartPole-v1"), db, "sb3-a2c", agent="A2C", worker=worker
        )
        return Monitor(env)  # SB3's own episode records, to compare against

    vec = DummyVecEnv([lambda i=i: make(i) for i in range(n_envs)])
    with warnings.catch_warnings():
        # SB3/torch deprecation chatter is theirs, not ours
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        model = sb3.A2C("MlpPolicy", vec, n_steps=8, seed=0, device="cpu")
        model.learn(total_timesteps=3_000)
    monitors: list[Monitor] = list(vec.envs)  # type: ignore[arg-type]
    vec.close()  # closes the loggers; every row was committed at its episode's end

    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "SELECT e.worker, e.episode_num, e.reward, e.length FROM episode e "
            "JOIN experiment x ON x.id = e.experiment_id "
            "WHERE x.name = 'sb3-a2c' AND x.agent = 'A2C' ORDER BY e.id"
        ).fetchall()
    assert len(rows) > 60
    for worker, monitor in enumerate(monitors):
        mine = [r for r in rows if r[0] == worker]
        assert [r[1] for r in mine] == list(range(len(mine)))
        # Every episode SB3's Monitor saw, exactly, in order (CartPole's +1 rewards are
        # exact in Monitor's 6-decimal rounding).
        assert [r[2] for r in mine] == monitor.get_episode_rewards()
        assert [r[3] for r in mine] == monitor.get_episode_lengths()
    # The episodes SB3 logged (ep_info_buffer: the last 100) are the latest rows, in
    # the order the envs finished them: DummyVecEnv steps env 0, 1, 2 and each row
    # is committed inside its env's step().
    buffer = list(model.ep_info_buffer)
    assert len(buffer) == min(len(rows), 100)
    assert [(ep["r"], ep["l"]) for ep in buffer] == [(r[2], r[3]) for r in rows[-len(buffer) :]]


def test_make_vec_env_with_episode_stats_as_wrapper_class(sb3: ModuleType) -> None:
    """SB3 puts its own Monitor inside wrapper_class: its info["episode"] is merged."""
    from stable_baselines3.common.env_util import make_vec_env

    vec = make_vec_env("CartPole-v1", n_envs=2, seed=0, wrapper_class=EpisodeStatsWrapper)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", UserWarning)
        model = sb3.A2C("MlpPolicy", vec, n_steps=8, seed=0, device="cpu")
        model.learn(total_timesteps=1_000)
    seen = list(model.ep_info_buffer)
    assert len(seen) > 10
    for episode in seen:
        # SB3's keys with SB3's meanings (t: seconds since the monitor started) ...
        assert set(episode) >= {"r", "l", "t", "r_mean", "r_std", "r_ema", "l_ema"}
        # ... and ours computed from the same episode
        assert episode["r"] == episode["l"]  # CartPole: reward 1 per step
    assert seen[-1]["t"] > seen[0]["t"]  # Monitor's clock, not episode durations

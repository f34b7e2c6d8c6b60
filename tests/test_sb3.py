"""Stable-Baselines3 reads EpisodeStatsWrapper's info["episode"] unchanged.

Skipped when stable-baselines3 (and torch) are not installed; CI does not
need them.
"""

from __future__ import annotations

import warnings

import gymnasium as gym
import pytest

sb3 = pytest.importorskip("stable_baselines3")

from stable_baselines3.common.vec_env import DummyVecEnv  # noqa: E402

from gymscope import EpisodeStatsWrapper  # noqa: E402


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


def test_sb3_ep_info_buffer_equals_our_stats() -> None:
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

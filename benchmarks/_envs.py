"""Envs and optional references more than one benchmark uses."""

from __future__ import annotations

import importlib
from typing import Any

import gymnasium as gym
import numpy as np


class NoOpEnv(gym.Env[np.ndarray, Any]):
    """The cheapest env that still behaves like one: fixed obs, reward 1,
    episodes of ``episode_length`` steps.

    A fresh ``info`` dict per step, as real envs return, because the wrappers
    write their statistics into it.
    """

    def __init__(self, episode_length: int = 25) -> None:
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(4,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._obs = np.zeros(4, dtype=np.float32)
        self._episode_length = episode_length
        self._t = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._t = 0
        return self._obs, {}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        self._t += 1
        return self._obs, 1.0, self._t >= self._episode_length, False, {}


def sb3_monitor() -> type[gym.Wrapper[Any, Any, Any, Any]] | None:
    """SB3's ``Monitor`` when stable-baselines3 is importable, else ``None``."""
    try:
        module = importlib.import_module("stable_baselines3.common.monitor")
    except ImportError:
        return None
    monitor: type[gym.Wrapper[Any, Any, Any, Any]] = module.Monitor
    return monitor

"""Scripted environments with exactly known rewards, lengths and infos."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def load_script(relative_path: str) -> ModuleType:
    """Import a script of the repository (``examples/x.py``, ``benchmarks/y.py``).

    It stays registered in ``sys.modules``, so what it defines pickles (e.g.
    the env factories an ``AsyncVectorEnv`` sends to its workers). Its folder
    is put on ``sys.path`` as ``python benchmarks/y.py`` would, so it imports
    its siblings (``benchmarks/_harness.py``).
    """
    path = ROOT / relative_path
    if str(path.parent) not in sys.path:
        sys.path.append(str(path.parent))
    name = f"script_{path.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


class ScriptedEnv(gym.Env[np.ndarray, int]):
    """Plays a fixed script of episodes, cycling through it.

    Each episode is a sequence of rewards; the last step of an episode
    terminates it, unless its index is in ``truncate`` (then it truncates).
    ``final_info`` is merged into the info of each episode's last step.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["rgb_array"], "render_fps": 10}

    def __init__(
        self,
        episodes: Sequence[Sequence[Any]] = ((1.0, 1.0, 1.0),),
        truncate: Sequence[int] = (),
        final_info: dict[str, Any] | None = None,
        render_mode: str | None = None,
    ) -> None:
        self.episodes = [list(e) for e in episodes]
        self.truncate = set(truncate)
        self.final_info = dict(final_info or {})
        self.render_mode = render_mode
        self.observation_space = gym.spaces.Box(-1.0, 1.0, shape=(1,), dtype=np.float32)
        self.action_space = gym.spaces.Discrete(2)
        self._episode = -1
        self._t = 0
        self._obs = np.zeros(1, dtype=np.float32)

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self._episode += 1
        self._t = 0
        return self._obs, {}

    def step(self, action: int) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        script = self.episodes[self._episode % len(self.episodes)]
        reward = script[self._t]
        self._t += 1
        last = self._t == len(script)
        truncated = last and self._episode in self.truncate
        terminated = last and not truncated
        info: dict[str, Any] = {"t": self._t}
        if last:
            info.update(self.final_info)
        return self._obs, reward, terminated, truncated, info

    def render(self) -> np.ndarray:
        frame = np.zeros((32, 48, 3), dtype=np.uint8)
        frame[..., 0] = (self._t * 20) % 256
        return frame


def play(env: gym.Env[Any, Any], episodes: int, seed: int | None = None) -> list[dict[str, Any]]:
    """Run ``episodes`` episodes with action 0; return the final info of each."""
    finals = []
    env.reset(seed=seed)
    done_count = 0
    while done_count < episodes:
        _, _, terminated, truncated, info = env.step(0)
        if terminated or truncated:
            finals.append(info)
            done_count += 1
            if done_count < episodes:
                env.reset()
    return finals

"""A CleanRL-style loop over a vector env: each sub-env wrapped once.

CleanRL builds its envs with ``RecordEpisodeStatistics`` inside ``make_env``
and reads ``infos["episode"]`` (NEXT_STEP autoreset) or
``infos["final_info"]["episode"]`` (SAME_STEP). EpisodeStatsWrapper is a
drop-in there, and adds moving statistics the loop can log as they are.

Run: ``uv run python examples/cleanrl_vector_loop.py``
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from gymscope import EpisodeStatsWrapper


def make_env(env_id: str, seed: int) -> Callable[[], gym.Env[Any, Any]]:
    def thunk() -> gym.Env[Any, Any]:
        env = gym.make(env_id)
        env = EpisodeStatsWrapper(env, window_size=20)  # was: RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return env

    return thunk


def main(total_steps: int = 4_000, num_envs: int = 4, seed: int = 1) -> list[dict[str, float]]:
    envs = gym.vector.SyncVectorEnv([make_env("CartPole-v1", seed + i) for i in range(num_envs)])
    finished: list[dict[str, float]] = []
    envs.reset(seed=seed)
    for global_step in range(0, total_steps, num_envs):
        actions = envs.action_space.sample()  # your policy here
        *_, infos = envs.step(actions)
        if "episode" in infos:  # exactly CleanRL's check
            for i in np.flatnonzero(infos["_episode"]):
                ep = {k: float(v[i]) for k, v in infos["episode"].items() if not k.startswith("_")}
                finished.append(ep)
                print(
                    f"global_step={global_step} env={i} episodic_return={ep['r']:.0f} "
                    f"length={ep['l']:.0f} moving_mean={ep['r_mean']:.1f}"
                )
    envs.close()
    return finished


if __name__ == "__main__":
    main()

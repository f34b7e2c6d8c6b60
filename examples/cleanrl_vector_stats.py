"""CleanRL's gymnasium 1.x loop with gymscope's vector wrapper.

CleanRL's gymnasium 1.x scripts build the vector env with ``gym.make_vec``
and wrap it once with ``gymnasium.wrappers.vector.RecordEpisodeStatistics``,
then read ``infos["episode"]`` where ``infos["_episode"]`` is true.
``gymscope.vector.EpisodeStatsWrapper`` is a drop-in for that wrapper (same
``r``, ``l``, ``t``, same mask) and adds each sub-env's moving statistics,
which the loop can log as they are.

Run: ``uv run python examples/cleanrl_vector_stats.py``
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np

from gymscope.vector import EpisodeStatsWrapper


def main(total_steps: int = 4_000, num_envs: int = 4, seed: int = 1) -> list[dict[str, float]]:
    envs = gym.make_vec("CartPole-v1", num_envs=num_envs, vectorization_mode="sync")
    # was: envs = gym.wrappers.vector.RecordEpisodeStatistics(envs)
    envs = EpisodeStatsWrapper(envs, window_size=20)
    envs.action_space.seed(seed)
    finished: list[dict[str, float]] = []
    envs.reset(seed=seed)
    for global_step in range(0, total_steps, num_envs):
        actions = envs.action_space.sample()  # your policy here
        *_, infos = envs.step(actions)
        if "episode" in infos:  # exactly CleanRL's check
            for i in np.flatnonzero(infos["_episode"]):
                ep = {key: float(values[i]) for key, values in infos["episode"].items()}
                ep["sub_env"] = float(i)
                finished.append(ep)
                print(
                    f"global_step={global_step} env={i} episodic_return={ep['r']:.0f} "
                    f"length={ep['l']:.0f} moving_mean={ep['r_mean']:.1f} ema={ep['r_ema']:.1f}"
                )
    print(f"{envs.episode_count} episodes; last returns: {list(envs.return_queue)[-3:]}")
    envs.close()
    return finished


if __name__ == "__main__":
    main()

"""CleanRL's video pattern: inside a vector env, record sub-env 0 only.

CleanRL's ``make_env`` wraps the first sub-env in ``RecordVideo`` when
``--capture-video`` is set and leaves the others alone (rendering every
sub-env would cost N times as much for N copies of the same policy).
``ScheduledRecordVideo`` is a drop-in there; stacked under
``EpisodeStatsWrapper`` it shares its episode accounting, so every video gets a
JSON sidecar with the return the training loop logged for that episode.

With ``AsyncVectorEnv`` the wrapper lives in the worker process: frames go
from the worker to its own ffmpeg process, and ``envs.close()`` closes the
wrapper in the worker, which finishes any video still being written.

Run: ``uv run python examples/record_video_vector.py``
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal

import gymnasium as gym
import numpy as np

from gymscope import EpisodeCaptureSchedule, EpisodeStatsWrapper
from gymscope.wrappers.video import ScheduledRecordVideo


def make_env(
    env_id: str, idx: int, capture_video: bool, video_folder: str, seed: int
) -> Callable[[], gym.Env[Any, Any]]:
    def thunk() -> gym.Env[Any, Any]:
        if capture_video and idx == 0:
            env = gym.make(env_id, render_mode="rgb_array")
            # was: env = gym.wrappers.RecordVideo(env, f"videos/{run_name}")
            env = ScheduledRecordVideo(
                env,
                video_folder,
                schedule=EpisodeCaptureSchedule(every_n_episodes=4),
                name_prefix=env_id,
            )
        else:
            env = gym.make(env_id)
        env = EpisodeStatsWrapper(env)  # was: gym.wrappers.RecordEpisodeStatistics(env)
        env.action_space.seed(seed)
        return env

    return thunk


def main(
    video_folder: str = "videos/record_video_vector",
    total_steps: int = 2_000,
    num_envs: int = 4,
    seed: int = 1,
    vectorization: Literal["sync", "async"] = "async",
) -> tuple[list[dict[str, Any]], list[float]]:
    """Run a random policy; return the videos' sidecars and sub-env 0's returns."""
    thunks = [make_env("CartPole-v1", i, True, video_folder, seed + i) for i in range(num_envs)]
    envs: gym.vector.VectorEnv[Any, Any, Any]
    if vectorization == "async":
        envs = gym.vector.AsyncVectorEnv(thunks)
    else:
        envs = gym.vector.SyncVectorEnv(thunks)
    returns_env0: list[float] = []
    envs.reset(seed=seed)
    for global_step in range(0, total_steps, num_envs):
        actions = envs.action_space.sample()  # your policy here
        _, _, _, _, infos = envs.step(actions)
        if "episode" in infos:  # exactly CleanRL's check
            for i in np.flatnonzero(infos["_episode"]):
                episodic_return = float(infos["episode"]["r"][i])
                if i == 0:
                    returns_env0.append(episodic_return)
                print(f"global_step={global_step} env={i} episodic_return={episodic_return:.0f}")
    envs.close()  # finishes the video being recorded in sub-env 0, if any

    sidecars = [
        json.loads(path.read_text(encoding="utf-8"))
        for path in sorted(Path(video_folder).glob("*.json"))
    ]
    for sidecar in sorted(sidecars, key=lambda s: s["episode"]):
        print(
            f"video {sidecar['video']}: episode {sidecar['episode']}, "
            f"return {sidecar['return']}, {sidecar['frames']} frames at {sidecar['fps']} fps"
        )
    return sidecars, returns_env0


if __name__ == "__main__":
    main()

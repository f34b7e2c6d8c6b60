"""gymscope on a natively vectorised env: no sub-env objects to wrap.

``gym.make_vec("CartPole-v1", vectorization_mode="vector_entry_point")`` is
CartPole's own vector implementation: one NumPy state for the whole batch,
no ``gym.Env`` per sub-env, so per-sub-env wrappers have nothing to wrap
(EnvPool and JAX-batched envs are the same). ``gymscope.vector``'s wrappers
wrap the batch instead, each sub-env a worker of one run:

- ``EpisodeStatsWrapper``: gymnasium's vector ``infos["episode"]`` plus each
  sub-env's moving statistics;
- ``SQLiteLoggerWrapper``: one row per episode, sub-env ``i`` as worker ``i``;
- ``CurveRecorderWrapper``: each sub-env's training curve (JSON + PNG);
- ``ScheduledRecordVideo``: every sub-env tiled into one GIF of episode 0.

Run: ``uv run python examples/native_vector.py [OUT_DIR]``, then
``uv run gymscope show OUT_DIR/metrics.db native-cartpole``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from gymscope.metrics.reader import MetricsReader
from gymscope.vector import (
    CurveRecorderWrapper,
    EpisodeStatsWrapper,
    ScheduledRecordVideo,
    SQLiteLoggerWrapper,
)


def main(
    out_dir: str | Path = "native-vector-demo",
    num_envs: int = 8,
    total_steps: int = 8_000,
    seed: int = 0,
) -> dict[str, Any]:
    """Random actions on the native vector CartPole; return what was recorded."""
    out = Path(out_dir)
    envs = gym.make_vec(
        "CartPole-v1",
        num_envs=num_envs,
        vectorization_mode="vector_entry_point",
        render_mode="rgb_array",
    )
    envs = ScheduledRecordVideo(
        envs,
        out / "videos",
        episode_trigger=lambda k: k == 0,  # episode 0 of sub-env 0, all sub-envs in the frame
        sub_envs="all",
        tile=True,
        video_aspect_ratio=(16, 9),
        format="gif",
        scale=0.5,
    )
    envs = SQLiteLoggerWrapper(envs, out / "metrics.db", "native-cartpole", agent="random")
    envs = CurveRecorderWrapper(envs, out / "curves", window_size=20)
    envs = EpisodeStatsWrapper(envs, window_size=20)
    envs.action_space.seed(seed)
    envs.reset(seed=seed)
    ended = np.zeros(num_envs, dtype=np.int64)
    for global_step in range(0, total_steps, num_envs):
        *_, infos = envs.step(envs.action_space.sample())
        if "episode" in infos:  # CleanRL's check, unchanged
            mask = infos["_episode"]
            ended += mask
            for i in np.flatnonzero(mask)[:1]:  # one line per step is plenty
                print(
                    f"global_step={global_step} env={i} return={infos['episode']['r'][i]:.0f} "
                    f"moving_mean={infos['episode']['r_mean'][i]:.1f}"
                )
    envs.close()
    with MetricsReader(out / "metrics.db") as reader:
        summary = reader.summary("native-cartpole")
        workers = reader.episodes("native-cartpole").values["worker"]
    rows_per_worker = {w: workers.count(w) for w in sorted(set(workers))}
    print(
        f"{int(ended.sum())} episodes by {num_envs} sub-envs; stored per worker: "
        f"{rows_per_worker}; run-level moving mean {summary.last_moving_avg}"
    )
    print(f"videos: {sorted(p.name for p in (out / 'videos').glob('*.gif'))}")
    print(f"curves: {len(list((out / 'curves').glob('*.png')))} PNGs in {out / 'curves'}")
    return {
        "ended": ended.tolist(),
        "rows_per_worker": rows_per_worker,
        "videos": sorted((out / "videos").glob("*.gif")),
        "curves": sorted((out / "curves").glob("*.png")),
    }


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "native-vector-demo")

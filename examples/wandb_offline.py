"""A CartPole run handed to Weights & Biases, offline: no network, no account.

``gymscope.AnalyticsWrapper`` with ``backend="wandb"`` sends every finished
episode (``episode/return``, ``episode/length``, the moving mean/std and EMA)
to a W&B run, stepped by env steps, named from the ``AnalyticsState``.
``offline=True`` keeps it on disk, under
``{directory}/wandb/offline-run-{time}-{run id}``; upload it later with
``wandb sync`` (the path is printed at the end).

Needs the W&B extra: ``pip install "gymscope[wandb]"``.
Run: ``python examples/wandb_offline.py [OUT_DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gymnasium as gym

import gymscope
from gymscope.state import AnalyticsState


def main(out_dir: Path = Path("runs/wandb_offline"), episodes: int = 5) -> dict[str, Any]:
    """Play ``episodes`` random CartPole episodes into an offline W&B run;
    return the episodes' returns and the W&B run folders written."""
    env = gymscope.AnalyticsWrapper(
        gym.make("CartPole-v1"),
        AnalyticsState("cartpole", tags=["random"], offline=True, directory=out_dir),
        backend="wandb",
    )
    returns: list[float] = []
    with env:
        env.action_space.seed(0)
        env.reset(seed=0)
        total = 0.0
        while len(returns) < episodes:
            _, reward, terminated, truncated, _ = env.step(env.action_space.sample())
            total += float(reward)
            if terminated or truncated:
                returns.append(total)
                total = 0.0
                env.reset()
    run_dirs = sorted(out_dir.glob("wandb/offline-run-*"))
    for run_dir in run_dirs:
        print(f"upload later with: wandb sync {run_dir}")
    return {"returns": returns, "run_dirs": run_dirs}


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("runs/wandb_offline"))

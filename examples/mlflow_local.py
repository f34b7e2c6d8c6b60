"""A CartPole run handed to MLflow, offline, in a local store; then pushed again.

The stack: videos of episodes 0 and 5, one database row per episode, and an
AnalyticsWrapper sending every episode, a training metric and the config to
MLflow (a ``sqlite:///`` store in OUT_DIR: no server, no network). Then the
same run, read back from the database, is pushed to a second MLflow
experiment (what ``gymscope push`` does for a run recorded without a
tracker), and pushed once more to show that nothing is sent twice.

Writes into OUT_DIR: ``metrics.db``, ``videos/``, ``mlflow.db`` and
``mlartifacts/`` (the runs' videos). Needs mlflow: ``pip install ".[mlflow]"``.

Run: ``python examples/mlflow_local.py [OUT_DIR]``, then
``mlflow ui --backend-store-uri sqlite:///OUT_DIR/mlflow.db``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import gymnasium as gym

from gymscope import AnalyticsState, AnalyticsWrapper, ScheduledRecordVideo, SQLiteLoggerWrapper
from gymscope.trackers.push import push_experiment


def main(out_dir: str | Path = "mlflow-demo", episodes: int = 10, seed: int = 0) -> dict[str, Any]:
    """Run the stack, push the run, and return what MLflow holds of both runs."""
    from mlflow import MlflowClient

    out = Path(out_dir).absolute()
    out.mkdir(parents=True, exist_ok=True)
    uri = f"sqlite:///{out / 'mlflow.db'}"
    env = gym.make("CartPole-v1", render_mode="rgb_array")
    env = ScheduledRecordVideo(env, out / "videos", episode_trigger=lambda i: i in (0, 5))
    config = {"policy": "random", "seed": seed, "episodes": episodes}
    # the database keeps the config too, so a push sends it as well
    env = SQLiteLoggerWrapper(
        env, out / "metrics.db", "cartpole-random", agent="Random", config=config
    )
    env = AnalyticsWrapper(
        env,
        AnalyticsState("cartpole-live", tags=["random", "example"]),
        backend="mlflow",
        uri=uri,
        config=config,
        episodes=episodes,
        flush_every=5,
    )
    env.action_space.seed(seed)
    log_metrics = env.get_wrapper_attr("log_metrics")
    env.reset(seed=seed)
    steps = done = 0
    while done < episodes:
        _, _, terminated, truncated, _ = env.step(env.action_space.sample())
        steps += 1
        if steps % 50 == 0:
            log_metrics(step=steps, epsilon=1.0 - steps / 1000)  # train/epsilon
        if terminated or truncated:
            done += 1
            if done < episodes:
                env.reset()
    env.close()
    live = env.tracker_run_id
    pushed = push_experiment(out / "metrics.db", "cartpole-random", "mlflow",
                             AnalyticsState("cartpole-pushed"), uri=uri)  # fmt: skip
    again = push_experiment(out / "metrics.db", "cartpole-random", "mlflow",
                            AnalyticsState("cartpole-pushed"), uri=uri)  # fmt: skip
    client = MlflowClient(tracking_uri=uri)
    summary: dict[str, Any] = {"uri": uri, "second_push_episodes": again.episodes}
    for label, run_id in (("live", live), ("pushed", pushed.run_id)):
        run = client.get_run(run_id)
        counts = {
            key: len(client.get_metric_history(run_id, key)) for key in sorted(run.data.metrics)
        }
        artifacts = sorted(a.path for a in client.list_artifacts(run_id, "videos"))
        summary[label] = {
            "run_id": run_id,
            "name": run.info.run_name,
            "points": counts,
            "params": dict(run.data.params),
            "artifacts": artifacts,
        }
        print(f"{label} run {run.info.run_name} ({run_id}):")
        for key, count in counts.items():
            print(f"  {key}: {count} points")
        print(f"  params: {dict(run.data.params)}")
        print(f"  artifacts: {artifacts}")
    print(
        f"second push sent {again.episodes} episode(s); view: mlflow ui --backend-store-uri {uri}"
    )
    return summary


if __name__ == "__main__":
    main(*sys.argv[1:2])

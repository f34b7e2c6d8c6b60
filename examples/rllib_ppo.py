"""RLlib PPO (new API stack) on CartPole, every env runner writing one gymscope run.

``gymscope.rllib.EnvCreator`` is the env creator registered with RLlib: each
env runner's sub-envs are built inside a SQLiteLoggerWrapper that joins the
run by name, as worker ``worker_index * num_envs_per_env_runner + j``.
``gymscope.rllib.TrainMetrics`` writes each training result (losses, episode
return mean...) into the same run's step-keyed metrics, at RLlib's
``num_env_steps_sampled_lifetime``.

On one machine the database is a SQLite file; on a Ray cluster of several
machines pass a PostgreSQL URL as ``db`` (see the "Many machines" docs page).

Needs RLlib and PyTorch: ``pip install "ray[rllib]" torch``.
Run: ``python examples/rllib_ppo.py [OUT_DIR]``
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import ray
from ray.rllib.algorithms.ppo import PPOConfig
from ray.tune.registry import register_env

import gymscope.rllib


def main(
    out_dir: str | Path = "runs/rllib_ppo",
    iterations: int = 3,
    num_env_runners: int = 2,
    num_envs_per_env_runner: int = 2,
    experiment: str = "rllib-ppo-cartpole",
    db: str | None = None,
) -> dict[str, Any]:
    """Train PPO for ``iterations``; return RLlib's episode counts and the run's rows.

    ``db`` defaults to ``OUT_DIR/metrics.db``. Ray is started on this machine
    unless this process is connected to a cluster already.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    url = db if db is not None else f"sqlite:///{(out / 'metrics.db').resolve()}"
    if not ray.is_initialized():
        ray.init(num_cpus=num_env_runners, include_dashboard=False)

    register_env(
        "gymscope-cartpole",
        gymscope.rllib.EnvCreator(
            "CartPole-v1",
            url,
            experiment,
            num_envs_per_env_runner=num_envs_per_env_runner,
            config={"algo": "PPO", "iterations": iterations},
            flush_every=1,  # every finished episode committed at once
        ),
    )
    train_metrics = gymscope.rllib.TrainMetrics(url, experiment)
    config = (
        PPOConfig()
        .environment("gymscope-cartpole")
        .env_runners(
            num_env_runners=num_env_runners,
            num_envs_per_env_runner=num_envs_per_env_runner,
            num_cpus_per_env_runner=1,
            rollout_fragment_length=100,
        )
        .training(train_batch_size_per_learner=400, minibatch_size=200, num_epochs=2)
        .callbacks(on_train_result=train_metrics)
    )
    algo = config.build_algo()
    episodes_reported = 0
    try:
        for _ in range(iterations):
            result = algo.train()
            episodes_reported += int(result["env_runners"]["num_episodes"])
    finally:
        algo.stop()  # closes every env runner's envs: their episodes are committed
        train_metrics.close()

    rows, losses = read_run(url, experiment)
    print(
        f"RLlib reported {episodes_reported} episodes over {iterations} iterations; "
        f"the run holds {len(rows)} from workers {sorted({r[0] for r in rows})}"
    )
    print(f"{len(losses)} values of learners/default_policy/total_loss in the same run")
    return {
        "episodes_reported": episodes_reported,
        "rows": rows,
        "losses": losses,
    }


def read_run(url: str, experiment: str) -> tuple[list[Any], list[Any]]:
    """The run's episodes (worker, episode_num, reward, length) and its total losses."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as db:
            rows = db.execute(
                sa.text(
                    "SELECT e.worker, e.episode_num, e.reward, e.length FROM episode e "
                    "JOIN experiment x ON x.id = e.experiment_id WHERE x.name = :name "
                    "ORDER BY e.worker, e.episode_num"
                ),
                {"name": experiment},
            ).all()
            losses = db.execute(
                sa.text(
                    "SELECT m.step, m.value FROM gymscope_metric m JOIN experiment x "
                    "ON x.id = m.experiment_id WHERE x.name = :name "
                    "AND m.name = 'learners/default_policy/total_loss' ORDER BY m.step"
                ),
                {"name": experiment},
            ).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in rows], [tuple(r) for r in losses]


if __name__ == "__main__":
    main(*sys.argv[1:2])

"""What an MLflow store holds of a run, read back with MLflow's own client."""

from __future__ import annotations

from typing import Any

from readback import Readback


def read_mlflow(tracking_uri: str, run_id: str) -> Readback:
    """The run ``run_id`` of the store at ``tracking_uri``: its name, tags
    (MLflow's own ``mlflow.*`` and gymscope's ``gymscope.*`` left out),
    params, every metric's history in step order, and its artifacts' names."""
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    run = client.get_run(run_id)
    tags = sorted(key for key in run.data.tags if not key.startswith(("mlflow.", "gymscope.")))
    metrics: dict[str, list[tuple[int, float]]] = {}
    for key in sorted(run.data.metrics):
        history = client.get_metric_history(run_id, key)
        metrics[key] = [(int(m.step), float(m.value)) for m in history]
    artifacts: list[str] = []

    def walk(path: str | None) -> None:
        for entry in client.list_artifacts(run_id, path):
            if entry.is_dir:
                walk(entry.path)
            else:
                artifacts.append(entry.path.rsplit("/", 1)[-1])

    walk(None)
    config: dict[str, Any] = dict(run.data.params)
    return Readback(
        run_id=run_id,
        name=run.info.run_name,
        tags=tags,
        config=config,
        metrics=metrics,
        artifacts=sorted(artifacts),
    )

"""The MLflow backend: a :class:`~gymscope.trackers._client.TrackerClient` over ``MlflowClient``.

MLflow's own client with explicit run ids (no fluent ``mlflow.start_run``
state), so several runs in one process never collide. ``mlflow`` is an
optional dependency (``pip install "gymscope[mlflow]"``), imported when a run
starts, never by importing this module.

How gymscope's run maps onto MLflow:

- the project is the MLflow **experiment** (created if missing; for a
  ``sqlite:///path/mlflow.db`` tracking URI its artifacts go to
  ``path/mlartifacts/`` rather than MLflow's default ``./mlruns`` in the
  working directory; ``settings={"artifact_location": ...}`` chooses);
- the name is the run's ``mlflow.runName``; each tag is an MLflow tag with an
  empty value (MLflow's tags are key/value pairs);
- the config is logged as **params**, nested keys flattened with ``.``
  (``{"ppo": {"lr": 3e-4}}`` -> ``ppo.lr``), values as JSON text (a str as
  is); a value longer than MLflow's 6000 characters is cut to 6000 ending in
  ``...`` and the whole config is attached as the artifact ``config.json``;
  params already set (a continued run) are not logged again, since MLflow
  refuses to change a param;
- scalars go through ``log_batch`` (at most 1000 per call), kept until the
  sink's batch ends (:meth:`MlflowClient.flush`); NaN is stored as NaN,
  an infinity as MLflow stores it (±1.8e308);
- videos and GIFs are artifacts under ``videos/``, each with its sidecar
  (``{name}.json``) when there is one, and the caption as the tag
  ``gymscope.video.{name}``;
- continuing a run (``run_id``) sets its status back to ``RUNNING``;
  :meth:`~MlflowClient.finish` sets ``FINISHED``.

Metric, param and tag names may hold letters, digits, ``_``, ``-``, ``.``,
space and ``/`` (MLflow also takes ``:`` except on Windows; gymscope does not
use it, so a store stays portable), at most 250 characters, and must not
change under ``posixpath.normpath`` (no empty, ``.`` or ``..`` path
segments). :func:`metric_key` replaces every other character by ``_`` and
drops such segments: ``info/x[0]`` -> ``info/x_0_``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from gymscope.trackers._client import TrackerRunSpec

__all__ = ["MAX_PARAM_LENGTH", "MlflowClient", "flatten_config", "import_mlflow", "metric_key"]

logger = logging.getLogger(__name__)

#: MLflow's longest param value.
MAX_PARAM_LENGTH = 6000
#: MLflow's longest metric, param or tag name.
MAX_KEY_LENGTH = 250
_BATCH = 1000  # MLflow's most metrics per log_batch
_PARAM_BATCH = 100  # and params
_BAD = re.compile(r"[^A-Za-z0-9_\-. /]")

_INSTALL = 'pip install "gymscope[mlflow]" (in a clone of gymscope: pip install ".[mlflow]")'


def import_mlflow() -> Any:
    """The ``mlflow`` module, or how to install it.

    Raises:
        gymnasium.error.DependencyNotInstalled: mlflow is missing.
    """
    try:
        import mlflow
    except ImportError as exc:
        import gymnasium as gym

        raise gym.error.DependencyNotInstalled(
            f"MLflow tracking needs mlflow, which is not installed ({exc}): {_INSTALL}"
        ) from exc
    return mlflow


def metric_key(key: str) -> str:
    """``key`` as a name MLflow accepts for metrics, params and tags (see the module docs).

    >>> metric_key("episode/return_ema_0.1"), metric_key("info/x[0]"), metric_key("a//b/./c:d")
    ('episode/return_ema_0.1', 'info/x_0_', 'a/b/c_d')
    """
    cleaned = _BAD.sub("_", key)
    parts = [p for p in cleaned.split("/") if p not in ("", ".", "..")]
    text = "/".join(parts) or "_"
    return text[:MAX_KEY_LENGTH].rstrip("/")


def flatten_config(config: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    """``(key, value)`` of a nested config, keys joined with ``.``.

    >>> list(flatten_config({"ppo": {"lr": 0.1, "clip": {"eps": 0.2}}, "seed": 1}))
    [('ppo.lr', 0.1), ('ppo.clip.eps', 0.2), ('seed', 1)]
    """
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from flatten_config(value, name + ".")
        else:
            yield name, value


def param_value(value: Any, limit: int | None = MAX_PARAM_LENGTH) -> str:
    """A config value as an MLflow param: a str as is, anything else as JSON,
    cut to ``limit`` characters (ending in ``...``)."""
    if isinstance(value, str):
        text = value
    else:
        try:
            text = json.dumps(value, default=str)
        except (TypeError, ValueError):
            text = str(value)
    if limit is not None and len(text) > limit:
        text = text[: limit - 3] + "..."
    return text


def _artifact_location(spec: TrackerRunSpec) -> str | None:
    given = spec.settings.get("artifact_location")
    if given is not None:
        return str(given)
    uri = spec.uri or ""
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:///:memory:"):
        path = Path(uri.removeprefix("sqlite:///")).expanduser()
        return (path.absolute().parent / "mlartifacts").as_uri()
    return None


class MlflowClient:
    """One MLflow run, driven by :class:`~gymscope.trackers.sink.TrackerSink`.

    Constructed with no arguments; everything comes with :meth:`start`'s
    :class:`~gymscope.trackers._client.TrackerRunSpec` (``uri`` is the
    tracking URI, None for MLflow's default; ``offline`` is ignored: the URI
    says where runs go).
    """

    backend = "mlflow"

    def __init__(self) -> None:
        self._client: Any = None
        self._run_id: str | None = None
        self._metrics: list[Any] = []
        self._params: set[str] = set()
        self._finished = False

    @property
    def run_id(self) -> str | None:
        """The MLflow run id (None before :meth:`start`)."""
        return self._run_id

    def start(self, spec: TrackerRunSpec) -> str:
        """Create the run in experiment ``spec.project`` (created if missing),
        or continue ``spec.run_id`` (status back to ``RUNNING``)."""
        mlflow = import_mlflow()
        client = mlflow.MlflowClient(tracking_uri=spec.uri)
        self._client = client
        if spec.run_id is not None:
            run = client.get_run(spec.run_id)
            client.update_run(spec.run_id, status="RUNNING")
            self._params = set(run.data.params)
            self._run_id = run.info.run_id
            self._finished = False
            return str(self._run_id)
        experiment_id = self._experiment(client, spec)
        tags = {metric_key(tag): "" for tag in spec.tags}
        run = client.create_run(experiment_id, run_name=spec.name, tags=tags)
        self._run_id = run.info.run_id
        self._finished = False
        return str(self._run_id)

    def _experiment(self, client: Any, spec: TrackerRunSpec) -> str:
        from mlflow.exceptions import MlflowException

        found = client.get_experiment_by_name(spec.project)
        if found is None:
            try:
                return str(
                    client.create_experiment(
                        spec.project, artifact_location=_artifact_location(spec)
                    )
                )
            except MlflowException:  # another process created it meanwhile
                found = client.get_experiment_by_name(spec.project)
                if found is None:
                    raise
        if found.lifecycle_stage == "deleted":
            client.restore_experiment(found.experiment_id)
        return str(found.experiment_id)

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Log ``config`` as params (see the module docs)."""
        from mlflow.entities import Param

        client, run_id = self._client, self._run_id
        params = []
        cut = False
        for key, value in flatten_config(config):
            name = metric_key(key)
            if name in self._params:
                continue
            text = param_value(value)
            cut = cut or (len(text) == MAX_PARAM_LENGTH and text != param_value(value, None))
            params.append(Param(name, text))
            self._params.add(name)
        for i in range(0, len(params), _PARAM_BATCH):
            client.log_batch(run_id, params=params[i : i + _PARAM_BATCH])
        if cut:
            client.log_dict(run_id, dict(config), "config.json")

    def log(self, values: Mapping[str, float], *, step: int) -> None:
        """Keep the values at ``step`` (sent by :meth:`flush`, or 1000 at a time)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = self._metrics
        for key, value in values.items():
            number = float(value)
            metrics.append(Metric(metric_key(key), number, now, int(step)))
        if len(metrics) >= _BATCH:
            self.flush()

    def flush(self) -> None:
        """Send the kept values with ``log_batch``."""
        metrics, self._metrics = self._metrics, []
        for i in range(0, len(metrics), _BATCH):
            self._client.log_batch(self._run_id, metrics=metrics[i : i + _BATCH])

    def log_video(self, path: Path, *, step: int, key: str, caption: str) -> None:
        """Attach ``path`` (and its sidecar) under ``videos/``, the caption as a tag."""
        client, run_id = self._client, self._run_id
        client.log_artifact(run_id, str(path), artifact_path="videos")
        sidecar = Path(f"{path}.json")
        if sidecar.is_file():
            client.log_artifact(run_id, str(sidecar), artifact_path="videos")
        client.set_tag(run_id, metric_key(f"gymscope.video.{path.name}"), caption)

    def finish(self) -> None:
        """Send what is kept and end the run (``FINISHED``); idempotent."""
        if self._finished or self._client is None:
            return
        self.flush()
        self._client.set_terminated(self._run_id, "FINISHED")
        self._finished = True

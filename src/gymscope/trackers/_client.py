"""The contract between gymscope's tracker sink and one tracker's SDK.

A backend (``gymscope.trackers.wandb``, ``.mlflow``, ``.comet``) is a thin
adapter: a class implementing :class:`TrackerClient` over the tracker's own
client library, imported only when the backend is used. Everything the
trackers have in common (which keys an episode becomes, the step axis, run
ids kept in the metrics database, resuming without going back in steps,
failures warned once) lives in the sink, not in the adapters.

Keys are gymscope's TensorBoard tags (``episode/return``,
``episode/return_mean_100``, ``train/loss``, ``info/<key>``); ``step`` is
always env steps.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["TrackerClient", "TrackerRunSpec"]


@dataclass(frozen=True)
class TrackerRunSpec:
    """Everything a backend needs to create (or resume) one tracker run.

    Attributes:
        project: The tracker's project (W&B project, MLflow experiment,
            Comet project).
        name: The run's display name.
        tags: The run's tags.
        run_id: The tracker's id of a run to resume; None to create one.
        directory: Where the tracker keeps its files (W&B ``dir``, Comet
            ``offline_directory``); None for the tracker's default.
        offline: Write locally only (W&B ``mode="offline"``, Comet
            ``OfflineExperiment``; MLflow ignores it: its tracking URI says
            where runs go).
        entity: W&B entity / Comet workspace; None for the default.
        uri: MLflow tracking URI; None for MLflow's default.
        settings: Backend-specific keyword arguments passed through as given.
    """

    project: str
    name: str
    tags: tuple[str, ...] = ()
    run_id: str | None = None
    directory: Path | None = None
    offline: bool = False
    entity: str | None = None
    uri: str | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class TrackerClient(Protocol):
    """One tracker run, as the tracker sink drives it.

    The sink calls :meth:`start` once, then any number of :meth:`log_config`,
    :meth:`log`, :meth:`log_video`, then :meth:`finish` once. Each method
    may raise: the sink catches, warns once, and keeps the episodes in
    gymscope's database. None of them may block for long on a network (an
    unreachable server is an error, not a wait).
    """

    #: The backend's name: "wandb", "mlflow" or "comet".
    backend: str

    def start(self, spec: TrackerRunSpec) -> str:
        """Create the run, or resume ``spec.run_id``; return the run's id
        (the one to pass as ``run_id`` to resume it later)."""

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Record the run's configuration (W&B config, MLflow params, Comet
        parameters). Values are JSON-able; nested mappings are allowed."""

    def log(self, values: Mapping[str, float], *, step: int) -> None:
        """Record scalars at env step ``step``. Steps of one key arrive in
        non-decreasing order; different keys may interleave (episodes and
        training metrics), so a backend whose own step must be monotonic
        keys the points by a step metric instead (W&B ``define_metric``)."""

    def log_video(self, path: Path, *, step: int, key: str, caption: str) -> None:
        """Attach the finished video or GIF file at ``path`` (``key`` such as
        ``video/episode``; ``caption`` names the episode and its return)."""

    def finish(self) -> None:
        """Flush and end the run (idempotent)."""

"""What a tracker stored, read back with the tracker's own reader.

Each backend's test module has a ``read_<backend>(...) -> Readback`` function
(tests/readback_mlflow.py, tests/readback_wandb.py, tests/readback_comet.py)
that opens what the tracker wrote offline (an MLflow store, a W&B
``offline-run-*`` folder, a Comet offline zip) with the tracker's own
libraries and returns it in this one shape, so the tests of the tracker sink,
the wrapper and ``gymscope push`` compare the same things for every tracker.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Readback:
    """One tracker run as the tracker stored it.

    Attributes:
        run_id: The tracker's id of the run.
        name: The run's display name.
        tags: The run's tags, sorted.
        config: The run's config / params (values as the tracker returns them:
            MLflow params come back as strings).
        metrics: Per key, the (step, value) points in the order stored.
        artifacts: Names (file names, not paths) of the attached files:
            videos, GIFs.
    """

    run_id: str
    name: str
    tags: list[str] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, list[tuple[int, float]]] = field(default_factory=dict)
    artifacts: list[str] = field(default_factory=list)

"""The Comet backend: one Comet experiment through the ``comet_ml`` SDK.

``comet_ml`` is imported when an experiment starts, never when gymscope is
imported (importing it installs Comet's import hooks for ML frameworks); a
missing SDK raises :class:`gymnasium.error.DependencyNotInstalled` with the
install command (``pip install "gymscope[comet]"``).

What the experiment gets:

- every scalar key as a Comet metric at its env step (``log_metrics(values,
  step=step)``: each Comet metric has its own steps, so keys may interleave);
- the config as parameters (``log_parameters``: Comet flattens nested
  mappings to ``outer|inner`` names and shows them nested);
- the spec's name (``set_name``) and tags (``add_tags``);
- videos and GIFs as video assets (``log_video``, which takes both formats)
  named by their file name, at their env step, with ``caption`` and ``key``
  as metadata.

Offline (``spec.offline``) an ``OfflineExperiment`` writes
``{offline_directory}/{experiment key}.zip`` when it ends; resuming writes an
``ExistingOfflineExperiment`` archive ``{key}-{suffix}.zip`` beside it.
``comet upload FILE.zip`` sends them (the original first). Online,
``Experiment`` / ``ExistingExperiment`` find the API key where Comet looks
(``COMET_API_KEY``, ``~/.comet.config``).

Comet's automatic logging is off by default (see :class:`CometClient`): it
would capture the training's stdout, log the script's code, command-line
arguments and git patch, and run system-metric threads in the training
process.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType, ModuleType
from typing import Any

from gymnasium.error import DependencyNotInstalled

from gymscope.errors import GymscopeError, InvalidArgumentError, UsageError
from gymscope.trackers._client import TrackerRunSpec

__all__ = ["DEFAULTS", "CometClient", "CometExperimentError"]

#: Keyword arguments gymscope gives every Comet experiment (each overridable
#: through ``TrackerRunSpec.settings``).
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "auto_output_logging": False,  # no stdout/stderr capture
        "auto_metric_logging": False,  # no framework hooks (they would duplicate train/*)
        "auto_param_logging": False,
        "parse_args": False,  # sys.argv is not the run's config
        "log_code": False,
        "log_graph": False,
        "log_git_metadata": False,
        "log_git_patch": False,
        "log_env_details": False,  # no system-metric threads, no host details
        "display_summary_level": 0,  # no summary table printed at end()
    }
)

# Comet constructor arguments CometClient derives from the spec's own fields.
_FROM_SPEC = {
    "project_name": "project",
    "workspace": "entity",
    "offline_directory": "directory",
    "experiment_key": "run_id",
    "previous_experiment": "run_id",
}


class CometExperimentError(GymscopeError, RuntimeError):
    """Comet did not start the experiment, or ended it: it could not reach
    its server, or another Comet experiment started in this process (Comet
    runs one at a time)."""


def _sdk() -> ModuleType:
    try:
        return importlib.import_module("comet_ml")
    except ImportError as exc:
        raise DependencyNotInstalled(
            "comet_ml is not installed (the Comet backend needs it); "
            'run `pip install "gymscope[comet]"`'
        ) from exc


class CometClient:
    """One Comet experiment (:class:`~gymscope.trackers._client.TrackerClient`).

    ``spec.settings`` are extra keyword arguments of Comet's experiment
    constructor, applied over :data:`DEFAULTS` (``{"log_env_details": True}``
    brings Comet's system metrics back). Arguments the spec has a field for
    (``project_name``, ``workspace``, ``offline_directory``,
    ``experiment_key``) are refused there: set the field.

    Comet runs one experiment per process: starting one while another Comet
    experiment is running would end that one, so :meth:`start` refuses
    instead (:class:`CometExperimentError`).
    """

    backend = "comet"

    def __init__(self) -> None:
        self._experiment: Any = None

    def start(self, spec: TrackerRunSpec) -> str:
        """Create the experiment, or continue ``spec.run_id`` (an experiment
        key); return its key."""
        if self._experiment is not None:
            raise UsageError(
                f"this CometClient already drives experiment {self._experiment.get_key()!r}; "
                "call finish() first, or use one client per run"
            )
        extra = dict(spec.settings)
        taken = sorted(set(extra) & set(_FROM_SPEC))
        if taken:
            fields = ", ".join(f"{key!r} (TrackerRunSpec.{_FROM_SPEC[key]})" for key in taken)
            raise InvalidArgumentError(
                f"settings={spec.settings!r} sets Comet arguments the spec has fields for: "
                f"{fields}; set those fields instead"
            )
        comet = _sdk()
        running = comet.get_running_experiment()
        if running is not None and running.alive:
            raise CometExperimentError(
                f"Comet experiment {running.get_key()!r} is running in this process, and Comet "
                "runs one at a time (a new one would end it): end it first, or log this run "
                "from another process"
            )
        options: dict[str, Any] = {
            **DEFAULTS,
            "project_name": spec.project,
            "workspace": spec.entity,
            **extra,
        }
        if spec.offline:
            options["offline_directory"] = None if spec.directory is None else str(spec.directory)
            if spec.directory is not None:  # Comet refuses a folder that does not exist
                Path(spec.directory).mkdir(parents=True, exist_ok=True)
            kind = "ExistingOfflineExperiment" if spec.run_id else "OfflineExperiment"
        else:
            kind = "ExistingExperiment" if spec.run_id else "Experiment"
        if spec.run_id is not None:
            options["experiment_key"] = spec.run_id
        experiment = getattr(comet, kind)(**options)
        if not experiment.alive:
            experiment.end()
            raise CometExperimentError(
                f"Comet did not start the {kind} (its log above says why: no connection to "
                "its server, no API key); nothing of this run reached Comet"
            )
        self._experiment = experiment
        experiment.set_name(spec.name)
        if spec.tags:
            experiment.add_tags(list(spec.tags))
        return str(experiment.get_key())

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Log ``config`` as parameters (nested mappings as ``outer|inner``)."""
        self._current().log_parameters(dict(config))

    def log(self, values: Mapping[str, float], *, step: int) -> None:
        """Log ``values`` as metrics at ``step``."""
        self._current().log_metrics(dict(values), step=step)

    def log_video(self, path: Path, *, step: int, key: str, caption: str) -> None:
        """Log the MP4 or GIF at ``path`` as a video asset named ``path.name``."""
        self._current().log_video(
            str(path), name=path.name, step=step, metadata={"caption": caption, "key": key}
        )

    def finish(self) -> None:
        """End the experiment (offline: writes its zip); idempotent."""
        experiment, self._experiment = self._experiment, None
        if experiment is not None:
            experiment.end()

    def _current(self) -> Any:
        if self._experiment is None:
            raise UsageError("no Comet experiment: call start() first (or it was finished)")
        if not self._experiment.alive:
            raise CometExperimentError(
                f"Comet ended experiment {self._experiment.get_key()!r} (another Comet "
                "experiment started in this process?); what is logged now is lost"
            )
        return self._experiment

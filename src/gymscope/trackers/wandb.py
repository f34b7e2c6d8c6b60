"""The Weights & Biases backend: one W&B run through the ``wandb`` SDK.

``wandb`` is imported when a run starts, never when gymscope is imported; a
missing SDK raises :class:`gymnasium.error.DependencyNotInstalled` with the
install command (``pip install "gymscope[wandb]"``).

What the run gets:

- every scalar key as a W&B history key, plotted against the step metric
  ``env_step`` (``define_metric("*", step_metric="env_step")``): W&B's own
  ``step`` must only grow and drops lower ones, while episode keys and
  training keys arrive interleaved, each with its own env step;
- the config as ``run.config`` (``allow_val_change``: a resumed run may
  update it);
- videos and GIFs as ``wandb.Video`` (the file is copied into the run's
  ``files/media/videos/``; no re-encoding, so neither moviepy nor ffmpeg is
  needed).

Defaults gymscope chooses (each overridable through
``TrackerRunSpec.settings``, see :class:`WandbClient`): console capture is
off (``console="off"``: W&B does not patch the training's stdout/stderr),
``reinit="create_new"`` (several runs in one process, each its own).
W&B runs one ``wandb-core`` service process per Python process, shared by all
its runs (and a system monitor, ``wandb-symon``, per run); ``finish()`` of the
process's last open W&B run ends the service (``wandb.teardown()``), which is
also what completes the runs' files on disk.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

from gymnasium.error import DependencyNotInstalled

from gymscope.errors import InvalidArgumentError, UsageError
from gymscope.trackers._client import TrackerRunSpec

__all__ = ["STEP_METRIC", "WandbClient"]

#: The history key every point carries its env step in.
STEP_METRIC = "env_step"

# wandb.init arguments WandbClient derives from the spec's own fields.
_FROM_SPEC = {
    "project": "project",
    "name": "name",
    "tags": "tags",
    "id": "run_id",
    "resume": "run_id",
    "dir": "directory",
    "mode": "offline",
    "entity": "entity",
}


def _sdk() -> ModuleType:
    try:
        return importlib.import_module("wandb")
    except ImportError as exc:
        raise DependencyNotInstalled(
            "wandb is not installed (the Weights & Biases backend needs it); "
            'run `pip install "gymscope[wandb]"`'
        ) from exc


class WandbClient:
    """One W&B run (:class:`~gymscope.trackers._client.TrackerClient`).

    ``spec.settings`` are extra keyword arguments of ``wandb.init`` (such as
    ``group``, ``job_type``, ``notes``); its ``"settings"`` entry, a mapping,
    is merged over gymscope's ``wandb.Settings`` defaults (``console="off"``),
    and a ``wandb.Settings`` object is passed as given. Arguments the spec
    has a field for (``project``, ``name``, ``id``, ``dir``, ``mode``…) are
    refused there: set the field.
    """

    backend = "wandb"

    def __init__(self) -> None:
        self._run: Any = None

    def start(self, spec: TrackerRunSpec) -> str:
        """Create the W&B run, or resume ``spec.run_id`` (``resume="allow"``);
        return its id."""
        if self._run is not None:
            raise UsageError(
                f"this WandbClient already drives run {self._run.id!r}; "
                "call finish() first, or use one client per run"
            )
        extra = dict(spec.settings)
        taken = sorted(set(extra) & set(_FROM_SPEC))
        if taken:
            fields = ", ".join(f"{key!r} (TrackerRunSpec.{_FROM_SPEC[key]})" for key in taken)
            raise InvalidArgumentError(
                f"settings={spec.settings!r} sets wandb.init arguments the spec has fields "
                f"for: {fields}; set those fields instead"
            )
        wandb = _sdk()
        settings = extra.pop("settings", None)
        if settings is None or isinstance(settings, Mapping):
            settings = wandb.Settings(**{"console": "off", **(settings or {})})
        init = {
            "project": spec.project,
            "name": spec.name,
            "tags": list(spec.tags),
            "id": spec.run_id,
            "dir": None if spec.directory is None else str(spec.directory),
            "entity": spec.entity,
            # None leaves the choice to W&B (WANDB_MODE, else online).
            "mode": "offline" if spec.offline else None,
            "reinit": "create_new",
            "settings": settings,
            **extra,
        }
        if spec.run_id is not None:
            init["resume"] = "allow"
        run = wandb.init(**init)
        try:
            run.define_metric(STEP_METRIC)
            run.define_metric("*", step_metric=STEP_METRIC)
        except BaseException:
            run.finish(exit_code=1)
            raise
        self._run = run
        return str(run.id)

    def log_config(self, config: Mapping[str, Any]) -> None:
        """Update ``run.config`` (nested mappings stay nested)."""
        self._current().config.update(dict(config), allow_val_change=True)

    def log(self, values: Mapping[str, float], *, step: int) -> None:
        """Log ``values`` with ``env_step=step`` (W&B's own step is left to W&B)."""
        self._current().log({**values, STEP_METRIC: step})

    def log_video(self, path: Path, *, step: int, key: str, caption: str) -> None:
        """Log the MP4 or GIF at ``path`` as a ``wandb.Video`` under ``key``."""
        run = self._current()
        video = _sdk().Video(str(path), caption=caption)
        run.log({key: video, STEP_METRIC: step})

    def finish(self) -> None:
        """Finish the run; when it was the process's last open W&B run, also
        end W&B's service process, which completes the run's files on disk.
        Idempotent."""
        run, self._run = self._run, None
        if run is None:
            return
        run.finish()
        # run.finish() returns before wandb-core has closed the run's stream:
        # the .wandb file may still hold only its header (the log is written
        # in 32 KiB blocks). Ending the service flushes every stream, and
        # leaves no wandb-core behind; it would break other open runs, so it
        # waits for the last one.
        setup = importlib.import_module("wandb.sdk.wandb_setup")
        if setup.singleton().most_recent_active_run is None:
            try:
                _sdk().teardown()
            except SystemExit as exc:  # wandb exits when wandb-core failed
                raise RuntimeError(f"wandb-core ended with exit code {exc.code}") from exc

    def _current(self) -> Any:
        if self._run is None:
            raise UsageError("no W&B run: call start() first (or the run was finished)")
        return self._run

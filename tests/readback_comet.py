"""Read a Comet offline experiment back: its zip archives, with comet_ml's own schemas.

An ``OfflineExperiment`` ends by writing ``{offline_directory}/{key}.zip``:
``experiment.json`` (key as ``offline_id``, project, workspace, tags, start
and stop times, ``resume_strategy``), ``messages.json`` (one JSON message a
line: ``metric_msg``, ``parameter_msg``, ``log_other``, ``file_upload``…)
and one file per uploaded asset (named by the message's ``file_path``).
``comet upload`` reads it with ``comet_ml.offline.OfflineSender``, checking
each part against the JSON schemas of ``comet_ml.schemas`` and rebuilding
``comet_ml.messages`` objects; :func:`archives` does the same.

An ``ExistingOfflineExperiment`` (a resumed run) writes ``{key}-{suffix}.zip``
holding only what it logged (``resume_strategy: "get"``); uploaded after the
original, it is appended to the same experiment. :func:`read_comet` combines
the archives of one key in order of their start time.
"""

from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from readback import Readback

__all__ = ["COMET_OWN_METRICS", "CometArchive", "archives", "read_comet"]

#: Metrics Comet logs by itself (``end()`` logs the run time, except under pytest).
COMET_OWN_METRICS = frozenset({"process duration"})


@dataclass
class CometArchive:
    """One offline zip, parsed."""

    path: Path
    experiment: dict[str, Any]
    metrics: list[Any] = field(default_factory=list)  # comet_ml.messages.MetricMessage
    parameters: list[Any] = field(default_factory=list)  # ParameterMessage
    others: dict[str, Any] = field(default_factory=dict)  # log_other key -> value
    #: (file name, step, metadata, bytes) of each video asset
    videos: list[tuple[str, int | None, dict[str, Any], bytes]] = field(default_factory=list)


def _read_archive(path: Path) -> CometArchive:
    from comet_ml import messages, schemas

    with zipfile.ZipFile(path) as archive:
        experiment = json.loads(archive.read("experiment.json"))
        schemas.get_experiment_file_validator().validate(experiment)
        parsed = CometArchive(path, experiment)
        validators = {
            messages.MetricMessage.type: schemas.get_metric_msg_validator(),
            messages.ParameterMessage.type: schemas.get_parameter_msg_validator(),
            messages.LogOtherMessage.type: schemas.get_log_other_msg_validator(),
            messages.UploadFileMessage.type: schemas.get_upload_msg_validator(),
        }
        for line in archive.read("messages.json").decode("utf-8").splitlines():
            message = json.loads(line)
            kind, payload = message["type"], message["payload"]
            if kind not in validators:
                raise ValueError(f"{path}: a {kind!r} message gymscope does not send: {line}")
            validators[kind].validate(payload)
            if kind == messages.MetricMessage.type:
                parsed.metrics.append(messages.MetricMessage.from_message_dict(payload))
            elif kind == messages.ParameterMessage.type:
                parsed.parameters.append(messages.ParameterMessage.from_message_dict(payload))
            elif kind == messages.LogOtherMessage.type:
                parsed.others[payload["key"]] = payload["value"]
            else:
                extra = payload["additional_params"]
                assert payload["upload_type"] == "video", payload
                parsed.videos.append(
                    (
                        extra["fileName"],
                        extra["step"],
                        payload["metadata"],
                        archive.read(payload["file_path"]),
                    )
                )
    return parsed


def archives(offline_dir: Path, run_id: str) -> list[CometArchive]:
    """The archives of experiment ``run_id`` in ``offline_dir``, by start time."""
    paths = [*Path(offline_dir).glob(f"{run_id}.zip"), *Path(offline_dir).glob(f"{run_id}-*.zip")]
    found = [a for a in map(_read_archive, paths) if a.experiment["offline_id"] == run_id]
    if not found:
        raise FileNotFoundError(f"no Comet offline archive of {run_id!r} in {offline_dir}")
    return sorted(found, key=lambda a: (a.experiment["start_time"], a.path.name))


def read_comet(offline_dir: Path, run_id: str) -> Readback:
    """The experiment as Comet stored it offline; a resumed run's archives combined.

    ``config`` holds the parameters logged by hand (Comet's own, such as
    ``curr_step``, are "auto-logged") under Comet's names (nested keys
    flattened to ``outer|inner``); ``metrics`` every metric but
    :data:`COMET_OWN_METRICS`; ``name`` the last ``set_name``; ``tags`` the
    union of the archives' tags; ``artifacts`` the video assets' names.
    """
    from comet_ml.messages import ParameterMessage

    found = archives(Path(offline_dir), run_id)
    name = ""
    tags: set[str] = set()
    config: dict[str, Any] = {}
    metrics: dict[str, list[tuple[int, float]]] = {}
    artifacts: list[str] = []
    for archive in found:
        name = archive.others.get("Name", name)
        tags.update(archive.experiment["tags"])
        for parameter in archive.parameters:
            if parameter.get_source() == ParameterMessage.source_autologger:
                continue
            entry = parameter.param if parameter.param is not None else parameter.params
            config[entry["paramName"]] = entry["paramValue"]
        for metric in archive.metrics:
            point = metric.metric
            if point["metricName"] not in COMET_OWN_METRICS:
                metrics.setdefault(point["metricName"], []).append(
                    (point["step"], point["metricValue"])
                )
        artifacts.extend(video[0] for video in archive.videos)
    return Readback(
        run_id=run_id,
        name=name,
        tags=sorted(tags),
        config=config,
        metrics=metrics,
        artifacts=artifacts,
    )

"""Read a W&B offline run back: its ``.wandb`` files, with W&B's own protobuf schema.

A W&B offline run is a folder ``wandb/offline-run-{time}-{id}`` holding
``run-{id}.wandb``: a LevelDB-log-format file (W&B's header ``:W&B``, magic
0xBEE1, version 0, then 32 KiB blocks of CRC-32-checked chunks) of
``wandb.proto.wandb_internal_pb2.Record`` messages. wandb 0.31 has no Python
reader any more (``wandb.sdk.internal.datastore`` went with the Python
backend; ``wandb-core`` reads the file in Go), so :func:`records` decodes the
container here and parses each record with wandb's own ``Record`` class.

Resuming a run offline writes a second folder for the same id (suffixed
``-1``, ``-2`` when started in the same second), with W&B's own ``_step``
starting again at 0. ``wandb sync`` uploads the files of one run in order of
their start time (``wandb sync --help``); :func:`read_wandb` combines them the
same way: all files of the run, in the order of their run record's
``start_time``.
"""

from __future__ import annotations

import hashlib
import json
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from readback import Readback

__all__ = ["STEP_METRIC", "WandbFile", "read_wandb", "records", "run_files"]

STEP_METRIC = "env_step"

_HEADER = struct.Struct("<4sHB")  # ident, magic, version
_IDENT, _MAGIC, _VERSION = b":W&B", 0xBEE1, 0
_CHUNK = struct.Struct("<IHB")  # crc32 of type + data, length, type
_BLOCK = 32768
_FULL, _FIRST, _MIDDLE, _LAST = 1, 2, 3, 4


def records(path: Path) -> Iterator[Any]:
    """The ``Record`` messages of one ``.wandb`` file, in the order written."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    ident, magic, version = _HEADER.unpack_from(data, 0)
    if (ident, magic, version) != (_IDENT, _MAGIC, _VERSION):
        raise ValueError(f"{path}: not a W&B log (header {ident!r} {magic:#x} {version})")
    pos, pending = _HEADER.size, b""
    while pos + _CHUNK.size <= len(data):
        if _BLOCK - pos % _BLOCK < _CHUNK.size:  # a block's trailer: zero padding
            pos += _BLOCK - pos % _BLOCK
            continue
        crc, length, kind = _CHUNK.unpack_from(data, pos)
        if kind == 0 and length == 0:  # preallocated, never written
            break
        chunk = data[pos + _CHUNK.size : pos + _CHUNK.size + length]
        if len(chunk) != length or zlib.crc32(chunk, zlib.crc32(bytes([kind]))) != crc:
            raise ValueError(f"{path}: corrupt chunk at byte {pos}")
        pos += _CHUNK.size + length
        if kind == _FIRST:
            pending = chunk
            continue
        if kind == _MIDDLE:
            pending += chunk
            continue
        if kind == _LAST:
            chunk, pending = pending + chunk, b""
        elif kind != _FULL:
            raise ValueError(f"{path}: unknown chunk type {kind} at byte {pos}")
        record = wandb_internal_pb2.Record()
        record.ParseFromString(chunk)
        yield record


class WandbFile:
    """One ``.wandb`` file of a run: its run record, and its records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records = list(records(path))
        runs = [r.run for r in self.records if r.WhichOneof("record_type") == "run"]
        if not runs:
            raise ValueError(f"{path}: no run record")
        self.run = runs[0]

    @property
    def run_id(self) -> str:
        return str(self.run.run_id)

    @property
    def start_time(self) -> tuple[int, int]:
        return (self.run.start_time.seconds, self.run.start_time.nanos)

    @property
    def files_dir(self) -> Path:
        return self.path.parent / "files"

    def of(self, kind: str) -> Iterator[Any]:
        for record in self.records:
            if record.WhichOneof("record_type") == kind:
                yield getattr(record, kind)


def run_files(root: Path, run_id: str) -> list[WandbFile]:
    """Every ``.wandb`` file of run ``run_id`` under ``root`` (a run folder,
    the ``wandb`` folder, or the ``dir`` given to ``wandb.init``), ordered by
    start time as ``wandb sync`` uploads them."""
    root = Path(root)
    paths = {
        path.resolve()  # wandb/latest-run is a symlink to the last run's folder
        for pattern in ("", "*/", "wandb/*/")
        for path in root.glob(f"{pattern}run-{run_id}.wandb")
    }
    mine = [f for f in map(WandbFile, paths) if f.run_id == run_id]
    if not mine:
        raise FileNotFoundError(f"no .wandb file of run {run_id!r} under {root}")
    return sorted(mine, key=lambda f: (f.start_time, f.path.parent.name))


def _key(item: Any) -> str:
    return str(item.key) if item.key else ".".join(item.nested_key)


def _row(history: Any) -> dict[str, Any]:
    """A history record as the dict that was logged: W&B stores a media
    value's fields as items of their own (nested_key ``[key, field]``)."""
    row: dict[str, Any] = {}
    for item in history.item:
        *parents, last = [item.key] if item.key else list(item.nested_key)
        node = row
        for parent in parents:
            node = node.setdefault(parent, {})
        node[last] = json.loads(item.value_json)
    return row


def read_wandb(run_dir_or_root: Path, run_id: str) -> Readback:
    """The run as W&B stored it offline; the files of a resumed run combined.

    ``metrics`` holds every history key but W&B's own (``_step``,
    ``_runtime``, ``_timestamp``) and the step metric, each point at its
    ``env_step``; media values (``wandb.Video``) are ``artifacts``, named as
    W&B stored them under ``files/media/`` (checked present, same sha256 as
    the history entry says).
    """
    files = run_files(Path(run_dir_or_root), run_id)
    config: dict[str, Any] = {}
    metrics: dict[str, list[tuple[int, float]]] = {}
    artifacts: list[str] = []
    for wfile in files:
        for item in wfile.run.config.update:
            config[_key(item)] = json.loads(item.value_json)
        for update in wfile.of("config"):
            for item in update.update:
                config[_key(item)] = json.loads(item.value_json)
            for item in update.remove:
                config.pop(_key(item), None)
        for history in wfile.of("history"):
            row = _row(history)
            step = row.pop(STEP_METRIC)
            for key, value in row.items():
                if key.startswith("_"):
                    continue
                if isinstance(value, dict):
                    artifacts.append(_stored_media(wfile, key, value))
                else:
                    metrics.setdefault(key, []).append((step, value))
    config.pop("_wandb", None)
    last = files[-1].run
    return Readback(
        run_id=run_id,
        name=str(last.display_name),
        tags=sorted(last.tags),
        config=config,
        metrics=metrics,
        artifacts=artifacts,
    )


def _stored_media(wfile: WandbFile, key: str, value: dict[str, Any]) -> str:
    if value.get("_type") != "video-file":
        raise ValueError(f"{wfile.path}: {key!r} holds {value.get('_type')!r}, not a video")
    stored = wfile.files_dir / value["path"]
    digest = hashlib.sha256(stored.read_bytes()).hexdigest()
    if digest != value["sha256"]:
        raise ValueError(f"{stored}: sha256 {digest}, the history says {value['sha256']}")
    return stored.name


def media(root: Path, run_id: str) -> list[tuple[str, int, Path, str]]:
    """Every video of the run: (key, env step, stored file, caption)."""
    found = []
    for wfile in run_files(Path(root), run_id):
        for history in wfile.of("history"):
            row = _row(history)
            for key, value in row.items():
                if isinstance(value, dict) and value.get("_type") == "video-file":
                    found.append(
                        (key, row[STEP_METRIC], wfile.files_dir / value["path"], value["caption"])
                    )
    return found

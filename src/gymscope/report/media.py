"""Finding the videos and animated images to show, with their JSON sidecars.

A sidecar (``{file name}.json`` next to the file, written by
:class:`~gymscope.wrappers.video.ScheduledRecordVideo`) written by gymscope
0.2 or later is a versioned record, ``"schema": "gymscope-video/2"``, that
names its run: ``"run": {"experiment": name or null, "worker": int or null}``.
Older sidecars have no ``schema`` and no ``run``.

Files are searched directly in each folder, and in the folder's subfolder
named after each run (``videos/<run name>/``, the name made safe by
:func:`gymscope._files.safe_name`); a subfolder that leads outside its folder
(a symlink) is skipped, and so is a video, or a sidecar, that is a link to a
file outside its folder (with a warning).
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from gymscope._files import safe_name

__all__ = [
    "IMAGE_SUFFIXES",
    "SIDECAR_SCHEMA",
    "VIDEO_SUFFIXES",
    "MediaItem",
    "find_media",
    "run_folder",
]

logger = logging.getLogger(__name__)

#: Files shown as ``<video>`` and as ``<img>``.
VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".ogv", ".m4v"})
IMAGE_SUFFIXES = frozenset({".gif", ".webp", ".apng"})
#: The ``schema`` of a sidecar that names its run.
SIDECAR_SCHEMA = "gymscope-video/2"


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True)
class MediaItem:
    """A video or animated image, with its JSON sidecar (``{}`` if it has none).

    Attributes:
        path: The file.
        kind: ``"video"`` or ``"image"``.
        sidecar: The parsed ``{file name}.json`` next to it.
    """

    path: Path
    kind: Literal["video", "image"]
    sidecar: dict[str, Any] = field(default_factory=dict, repr=False)

    def number(self, key: str) -> float | None:
        """A numeric sidecar value, or None when missing or not a number."""
        value = self.sidecar.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value)

    def episodes(self) -> list[tuple[int, float]]:
        """``(episode index, return)`` of the episodes the video shows, per its sidecar."""
        out = []
        for entry in self.sidecar.get("episodes") or ():
            if not isinstance(entry, dict):
                continue
            index, value = _integer(entry.get("index")), entry.get("return")
            if index is not None:
                number = value if isinstance(value, (int, float)) else math.nan
                out.append((index, float(number)))
        return out

    @property
    def schema(self) -> str | None:
        """The sidecar's ``schema`` (None for a sidecar written before there was one)."""
        value = self.sidecar.get("schema")
        return value if isinstance(value, str) else None

    @property
    def experiment(self) -> str | None:
        """The name of the run the sidecar says the video belongs to, if any."""
        run = self.sidecar.get("run")
        value = run.get("experiment") if isinstance(run, dict) else None
        return value if isinstance(value, str) else None

    @property
    def worker(self) -> int | None:
        """The worker of that run that recorded the video, if the sidecar says."""
        run = self.sidecar.get("run")
        return _integer(run.get("worker")) if isinstance(run, dict) else None


def run_folder(folder: Path, run_name: str) -> Path | None:
    """The subfolder of ``folder`` holding the videos of run ``run_name``, or None
    when there is none, or when it would lead outside ``folder`` (a symlink)."""
    name = safe_name(run_name, "")
    if not name:
        return None
    candidate = folder / name
    try:
        if not candidate.is_dir() or not candidate.resolve().is_relative_to(folder.resolve()):
            return None
    except OSError:
        return None
    return candidate


def find_media(
    folders: Iterable[str | os.PathLike[str]], *, runs: Iterable[str] = ()
) -> list[MediaItem]:
    """The videos and animated images in ``folders`` (missing ones are skipped),
    each with its sidecar, sorted by folder then file name.

    Args:
        folders: Folders to search (not recursively).
        runs: Run names: each folder's subfolder named after a run (see
            :func:`run_folder`) is searched too, after the folder itself.
    """
    names = list(runs)
    items: list[MediaItem] = []
    seen: set[Path] = set()
    for folder in folders:
        directory = Path(folder).expanduser()
        if not directory.is_dir():
            continue
        subfolders = [run_folder(directory, name) for name in names]
        for place in (directory, *(sub for sub in subfolders if sub is not None)):
            resolved = place.resolve()
            if resolved in seen:
                continue
            seen.add(resolved)
            items.extend(_media_in(place))
    return items


def _inside(path: Path, folder: Path) -> bool:
    """Whether ``path``, its links followed, is a file in ``folder`` (resolved):
    a link to a file elsewhere would put that file's path, and the file, in
    the report."""
    try:
        return path.resolve().is_relative_to(folder)
    except OSError:  # a loop of links
        return False


def _media_in(directory: Path) -> list[MediaItem]:
    items = []
    folder = directory.resolve()
    for path in sorted(directory.iterdir()):
        suffix = path.suffix.lower()
        if path.name.startswith(".") or not path.is_file():
            continue  # hidden: a video being written (.name.part) or a temp file
        if suffix in VIDEO_SUFFIXES | IMAGE_SUFFIXES and not _inside(path, folder):
            logger.warning(
                "skipping %s: it is a link to a file outside %s, and the report only "
                "links files inside its media folders",
                path,
                directory,
            )
            continue
        if suffix in VIDEO_SUFFIXES:
            kind: Literal["video", "image"] = "video"
        elif suffix in IMAGE_SUFFIXES:
            kind = "image"
        else:
            continue
        items.append(MediaItem(path, kind, _read_sidecar(path, folder)))
    return items


def _read_sidecar(path: Path, folder: Path) -> dict[str, Any]:
    sidecar = path.with_name(path.name + ".json")
    if os.path.lexists(sidecar) and not _inside(sidecar, folder):
        logger.warning(
            "ignoring video sidecar %s: it is a link to a file outside %s", sidecar, path.parent
        )
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable video sidecar %s: %s", sidecar, exc)
        return {}
    return data if isinstance(data, dict) else {}

"""The files the commands write: an output path checked, written atomically,
and any trouble with it as a one-line error."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from gymscope.cli._parser import CommandError

__all__ = ["output_file", "write_file"]


def output_file(text: str) -> Path:
    """The file ``-o/--output`` names; a folder there is a mistake."""
    path = Path(text).expanduser()
    if path.is_dir():
        raise CommandError(f"output {str(path)!r} is a directory; give a file name")
    return path


def write_file(path: Path, data: bytes | Iterable[bytes], *, make_folder: bool = False) -> None:
    """Write ``data`` to ``path`` atomically, creating its folder if ``make_folder``."""
    from gymscope._files import atomic_write_bytes

    if not make_folder and not path.parent.is_dir():
        raise CommandError(
            f"cannot write {str(path)!r}: folder {str(path.parent)!r} does not exist"
        )
    try:
        if make_folder:
            path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise CommandError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None

"""Small file helpers shared by the writers: atomic writes and safe names.

A file written with :func:`atomic_write_bytes` appears under its final name
only once it is complete: the data goes to a temporary file in the same
folder, which ``os.replace`` then renames over the target (atomic on POSIX and
Windows). A reader never sees a half-written chart or history, and a crash
leaves at worst a stray ``.*.tmp`` file. There is no ``fsync``: the files are
safe against the process dying, not against the machine losing power.

>>> safe_name("../../etc/passwd")
'etc_passwd'
>>> safe_name("loss/actor (mean)")
'loss_actor_mean'
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "AppendTargetChanged",
    "append_bytes",
    "atomic_write_bytes",
    "atomic_write_text",
    "check_writable_dir",
    "name_max",
    "safe_name",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_NAME = 80
# Names Windows refuses as file stems, whatever the extension.
_RESERVED = frozenset(
    ["con", "prn", "aux", "nul"] + [f"com{i}" for i in range(10)] + [f"lpt{i}" for i in range(10)]
)


def safe_name(name: str, fallback: str = "series") -> str:
    """``name`` reduced to a file-name fragment that cannot leave its folder.

    Runs of characters other than ASCII letters, digits, ``_``, ``.`` and
    ``-`` become ``_``; leading and trailing ``._-`` are stripped (no ``..``,
    no hidden files), the result is at most 80 characters, and an empty or
    reserved result becomes ``fallback``.
    """
    cleaned = _UNSAFE.sub("_", name).strip("._-")[:_MAX_NAME].rstrip("._-")
    if not cleaned or cleaned.lower() in _RESERVED:
        return fallback
    return cleaned


def atomic_write_bytes(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write ``data`` (bytes, or chunks of bytes written one after the other)
    to ``path`` so that ``path`` is never seen half-written."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        # os.open with 0o666 so the final file gets the usual umask-based
        # permissions (tempfile would make it 0o600).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, (bytes, bytearray, memoryview)):
                f.write(data)
            else:
                f.writelines(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_text(path: Path, text: str) -> None:
    """:func:`atomic_write_bytes` for UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


class AppendTargetChanged(OSError):
    """The file :func:`append_bytes` was to extend is missing or shorter than
    what was written to it: someone else replaced or cut it."""


def append_bytes(path: Path, data: bytes, offset: int) -> int:
    """Write ``data`` at ``offset`` of the existing file ``path`` in one
    ``write`` call; returns the new size, ``offset + len(data)``.

    For append-only logs whose every chunk ends with a newline, kept so that
    the file can only ever be cut at its last line: ``offset`` is the size
    after the last chunk that was written whole, and whatever lies beyond it
    (a chunk a failed write left half-written) is cut off before writing; a
    write that stores fewer bytes than given (disk full) is cut back and
    raised. So no partial chunk is ever followed by another one, and a
    chunk retried after a failure is never in the file twice. (A retry's
    ``data`` starts with the failed attempt's: the cut-off tail must be a
    prefix of it, else the file is taken to have been changed by someone else.)

    Raises:
        AppendTargetChanged: ``path`` is missing or shorter than ``offset``
            (write the whole file again).
        OSError: the write failed; the file was cut back to ``offset`` if the
            file system allowed it.
    """
    try:
        fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    except FileNotFoundError as exc:
        raise AppendTargetChanged(exc.errno, f"{str(path)!r} is gone") from exc
    try:
        size = os.fstat(fd).st_size
        if size < offset:
            raise AppendTargetChanged(
                errno.ESTALE, f"{str(path)!r} has {size} bytes, {offset} were written to it"
            )
        if size > offset:
            # Left by a failed write of these same bytes (a retry's data starts
            # with the failed attempt's), or written by someone else.
            os.lseek(fd, offset, os.SEEK_SET)
            tail = os.read(fd, size - offset) if size - offset <= len(data) else b""
            if not tail or not data.startswith(tail):
                raise AppendTargetChanged(
                    errno.ESTALE, f"{str(path)!r} was changed after byte {offset}"
                )
            os.ftruncate(fd, offset)
        try:
            os.lseek(fd, offset, os.SEEK_SET)
            written = os.write(fd, data)
            if written != len(data):
                raise OSError(
                    errno.ENOSPC,
                    f"{os.strerror(errno.ENOSPC)} (only {written} of {len(data)} bytes "
                    f"could be written to {str(path)!r})",
                )
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, offset)
            raise
    finally:
        os.close(fd)
    return offset + len(data)


def name_max(folder: str | os.PathLike[str]) -> int:
    """The longest file name (in bytes) ``folder`` takes; 255 where unknown.

    A folder that does not exist yet is asked of its nearest existing parent
    (where it will be created), so names can be checked before anything is.
    """
    path = Path(os.path.abspath(os.fspath(folder)))
    for candidate in (path, *path.parents):
        try:
            return os.pathconf(candidate, "PC_NAME_MAX")
        except FileNotFoundError:
            continue
        except (OSError, ValueError, AttributeError):  # not known here (e.g. Windows)
            return 255
    return 255


def check_writable_dir(path: Path, argument: str) -> Path:
    """Create ``path`` if needed and check that files can be created in it.

    Raises an ``OSError`` of the original kind (``PermissionError``,
    ``NotADirectoryError``, ...) whose message names the argument and the fix.
    """
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".gymscope-write-test-{os.getpid()}-{os.urandom(4).hex()}"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        os.close(fd)
        probe.unlink()
    except OSError as exc:
        raise type(exc)(
            exc.errno,
            f"{argument} {str(path)!r} is not a writable directory ({exc.strerror or exc}); "
            "pass a directory this process can create files in",
        ) from exc
    return path

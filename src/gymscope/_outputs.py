"""Output files named by the user: what may be written over, checked in one place.

Every file a user names as an output (``export_episodes``, ``write_report``,
the command's ``-o``) goes through :func:`check_output_file` before anything
is computed and again right before it is written. A new path, or with
``overwrite`` an existing regular file, is accepted; anything else is refused
with an error naming the argument, the value and the fix, and nothing is
touched: a device (``/dev/null``, ``/dev/full``), a FIFO, a socket, a
directory, a symbolic link (it is never followed, nor replaced), a SQLite
database (never, even with ``overwrite``: an export must not eat the run it
came from), a path under something that is not a folder, a name the file
system refuses.

>>> import tempfile
>>> from pathlib import Path
>>> folder = Path(tempfile.mkdtemp())
>>> write_output_file(folder / "new" / "out.csv", b"r,l\\n", argument="output")
>>> try:
...     check_output_file(folder / "new" / "out.csv", argument="output", overwrite=False)
... except FileExistsError as exc:
...     print(str(exc).split("; ")[1])
pass overwrite=True to replace it, or choose another file name
>>> import shutil; shutil.rmtree(folder)
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from gymscope.errors import InvalidArgumentError, NotAFolderError, OutputExistsError

__all__ = ["check_output_file", "write_output_file"]

_KINDS = (
    (stat.S_ISDIR, "a directory", "give a file name (e.g. {path}/out)"),
    (stat.S_ISLNK, "a symbolic link", "give the file itself or a new name: links are not replaced"),
    (stat.S_ISCHR, "a character device", "give a regular file name"),
    (stat.S_ISBLK, "a block device", "give a regular file name"),
    (stat.S_ISFIFO, "a FIFO (named pipe)", "give a regular file name"),
    (stat.S_ISSOCK, "a socket", "give a regular file name"),
)


def _named(argument: str, path: Path) -> str:
    return f"{argument} {str(path)!r}"


def check_output_file(
    path: str | os.PathLike[str],
    *,
    argument: str,
    overwrite: bool,
    overwrite_hint: str = "overwrite=True",
) -> Path:
    """``path`` as a Path, once known to be a file gymscope may write.

    Args:
        path: The output the user named.
        argument: How messages name it (``"output"``, ``"-o/--output"``).
        overwrite: Whether an existing regular file (not a database) may be replaced.
        overwrite_hint: How the user says ``overwrite`` (``"--overwrite"`` on the
            command line).

    Raises:
        OutputExistsError: a file is there and ``overwrite`` is false, or it is
            a SQLite database.
        InvalidArgumentError: a directory, a link, a device, a FIFO, a socket, a
            name the file system refuses.
        NotAFolderError: a part of the path's folder is not a folder.
    """
    text = os.fspath(path)
    out = Path(text).expanduser()
    if text.endswith(("/", os.sep)) and not out.is_dir():
        raise InvalidArgumentError(f"{_named(argument, out)} names a folder; give a file name")
    try:
        info = os.lstat(out)
    except FileNotFoundError:
        return out  # a new file; missing folders are created when it is written
    except OSError as exc:
        raise _refused(argument, out, exc) from None
    for test, kind, fix in _KINDS:
        if test(info.st_mode):
            raise InvalidArgumentError(f"{_named(argument, out)} is {kind}; {fix.format(path=out)}")
    if _is_sqlite(out):
        raise OutputExistsError(
            f"{_named(argument, out)} is a SQLite database; gymscope never writes over "
            "one: choose another file name"
        )
    if not overwrite:
        raise OutputExistsError(
            f"{_named(argument, out)} already exists; pass {overwrite_hint} to replace it, "
            "or choose another file name"
        )
    return out


def write_output_file(
    path: Path,
    data: bytes | Iterable[bytes],
    *,
    argument: str,
    overwrite: bool = True,
    overwrite_hint: str = "overwrite=True",
) -> None:
    """Write ``data`` to ``path`` atomically (temp file + ``os.replace``), its
    missing folders created, after checking ``path`` again (:func:`check_output_file`).

    Raises:
        The errors of :func:`check_output_file`, and an ``OSError`` of the
        original kind whose message names the argument and the path.
    """
    from gymscope._files import atomic_write_bytes

    check_output_file(path, argument=argument, overwrite=overwrite, overwrite_hint=overwrite_hint)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise _refused(argument, path, exc) from exc


def _is_sqlite(path: Path) -> bool:
    from gymscope.metrics.source import SQLITE_HEADER

    try:
        # O_NONBLOCK: a file turned into a FIFO since lstat must not hang the check
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_NONBLOCK)
    except OSError:
        return False  # unreadable: writing it fails with its own message
    try:
        return os.read(fd, len(SQLITE_HEADER)) == SQLITE_HEADER
    except OSError:
        return False
    finally:
        os.close(fd)


def _refused(argument: str, path: Path, exc: OSError) -> Exception:
    """``exc`` as an error of its kind that names the argument, the path and the fix."""
    reason = exc.strerror or str(exc)
    if exc.errno == errno.ENAMETOOLONG:
        return InvalidArgumentError(
            f"{_named(argument, path)}: {reason}; choose a shorter file name"
        )
    if exc.errno == errno.ENOTDIR:
        return NotAFolderError(
            f"{_named(argument, path)}: a part of its folder is not a folder; "
            "choose a path whose folders are folders",
        )
    return type(exc)(exc.errno, f"{_named(argument, path)} cannot be written: {reason}")

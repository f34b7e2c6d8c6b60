"""The files the commands write: ``-o/--output`` checked (:mod:`gymscope._outputs`),
written atomically with its missing folders, ``-o -`` for standard output, and
any trouble with it as a one-line error."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path

from gymscope.cli._parser import CommandError

__all__ = ["OUTPUT", "STDOUT", "output_file", "to_stdout", "write_file"]

#: How the messages name the option.
OUTPUT = "-o/--output"
#: The ``-o`` value that means standard output.
STDOUT = "-"


def output_file(text: str, *, overwrite: bool) -> Path:
    """The file ``-o/--output`` names, once known to be one the command may write."""
    from gymscope._outputs import check_output_file

    try:
        return check_output_file(
            text, argument=OUTPUT, overwrite=overwrite, overwrite_hint="--overwrite"
        )
    except OSError as exc:  # the GymscopeErrors among them name the option already
        raise CommandError(exc.strerror or str(exc)) from None


def write_file(path: Path, data: bytes | Iterable[bytes], *, overwrite: bool) -> None:
    """Write ``data`` to ``path`` atomically, creating its missing folders."""
    from gymscope._outputs import write_output_file

    try:
        write_output_file(
            path, data, argument=OUTPUT, overwrite=overwrite, overwrite_hint="--overwrite"
        )
    except OSError as exc:
        raise CommandError(exc.strerror or str(exc)) from None


def to_stdout(chunks: Iterable[bytes]) -> None:
    """Write ``chunks`` to standard output as bytes (UTF-8 data whatever the
    terminal's encoding: this is a data file, not a message)."""
    binary = getattr(sys.stdout, "buffer", None)
    try:
        sys.stdout.flush()
        for chunk in chunks:
            if binary is not None:
                binary.write(chunk)
            else:
                sys.stdout.write(chunk.decode("utf-8"))
        (binary or sys.stdout).flush()
    except BrokenPipeError:  # e.g. piped into head: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())

"""One TensorBoard event file, written by the sink itself, whole records only.

tensorboardX's ``FileWriter`` writes from a background thread that dies on
the first ``OSError`` (a full disk), after which its bounded queue blocks
the training thread for good. :class:`EventFile` keeps the serialised
events in memory and appends them, framed as TFRecords, with
:func:`~gymscope._files.append_bytes`: a failed write is cut back and
retried whole, so a reader never meets a torn record before a good one.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import Any

from gymscope._files import AppendTargetChanged, append_bytes

__all__ = ["EventFile", "tfrecord"]


def tfrecord(data: bytes, masked_crc32c: Any) -> bytes:
    """``data`` framed as one TFRecord: length, its CRC, the data, its CRC."""
    header = struct.pack("<Q", len(data))
    return (
        header
        + struct.pack("<I", masked_crc32c(header))
        + data
        + struct.pack("<I", masked_crc32c(data))
    )


class EventFile:
    """The records of one event file: written ones counted, the others kept.

    Args:
        first: The framed ``file_version`` event every event file starts with.
    """

    def __init__(self, first: bytes) -> None:
        self.path: Path | None = None  # settled at the first write
        self.first = first
        self.size: int | None = None  # bytes written whole; None: not created
        self.pending: list[bytes] = [first]

    def add(self, record: bytes) -> None:
        """Keep a framed record until the next :meth:`write`."""
        self.pending.append(record)

    def write(self) -> None:
        """Append every kept record in one write; keep them if it fails.

        A file someone else removed or cut is started again (with the
        ``file_version`` event): what it held is gone, what is kept is not.

        Raises:
            OSError: the file (or its folder) cannot be written.
        """
        path = self.path
        if path is None or not self.pending:
            return
        if self.size is None:
            path.parent.mkdir(parents=True, exist_ok=True)
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | getattr(os, "O_BINARY", 0), 0o666))
            self.size = 0
        data = b"".join(self.pending)
        try:
            self.size = append_bytes(path, data, self.size)
        except AppendTargetChanged:
            self.size = None
            if self.pending[0] is not self.first:
                self.pending.insert(0, self.first)
            self.write()
            return
        self.pending = []

"""Kill-safe episodes at the cost of one ``write()``: per-writer journals.

A SQLite commit per episode is what made every finished episode survive
SIGKILL, and it was most of what logging cost. The physical floor of that
promise is one ``write()`` into the kernel's page cache, which outlives the
process. So, on SQLite files, each finished episode (and each step-keyed
metric report) is appended as one record to its writer's *journal* before
``step()`` returns: copied into the segment file's shared memory map (its
blocks allocated when it was created, so the copy cannot meet a full disk),
which is the page cache itself and needs no system call (on ext4, XFS and
tmpfs), or, on other filesystems, with a single ``os.write``. A background thread
commits the queued rows to the database in batches: every
:data:`FLUSH_INTERVAL_S`, or as soon as a writer has ``flush_every`` rows
waiting. After each commit the journal segment that held those rows is
deleted.

A journal left behind by a process that died (SIGKILL, a crash, power loss
after the kernel wrote the page) is *ingested* by the next writer that opens
the same database and by the next reader (``gymscope runs``, ``show``...):
its rows are inserted with ``ON CONFLICT DO NOTHING`` on the episode's
unique ``(experiment_id, worker, episode_num)`` (metric rows only where the
same row is not there yet), so a segment that was committed but not yet
deleted when the process died is not inserted twice: each episode is stored
exactly once.

Layout: next to ``runs.db``, the folder ``runs.db.gymscope-journal/``
holds ``{token}.{seq}.journal`` files of *frames*: a ``<II`` header (the
body's length and CRC-32) and the body. A body's first byte says what it is:
``1``, an episode in a fixed binary layout (:data:`_COMPACT`: the usual
episode, with no info, metrics, losses or NaN, packed with one
``struct.pack``; its ``created_at`` text is formatted from its end time when
it is committed, off the training thread); ``2``, an episode row as a JSON
list in ``COLUMNS`` order (every other episode); ``3``, a JSON list of metric
rows ``[experiment_id, worker, name, step, value, wall_time]``. A frame whose
length or CRC does not match (a write torn by power loss) is skipped, and
reading resumes at the next whole frame. Segments written before this
format (``.jsonl``: one JSON line per row) are still ingested.

A live writer holds a POSIX record lock
(``lockf``) on each of its segments: a segment nobody holds is an orphan.
POSIX locks belong to the process (a forked child does not inherit them), so
an AsyncVectorEnv worker that inherited the descriptor cannot keep a dead
parent's journal "alive". A segment is created under a ``.tmp`` name, locked,
then renamed, so an ingester never mistakes a segment being created for an
orphan.

Everything here uses the standard library only (``sqlite3``, ``fcntl``):
readers ingest without importing SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import functools
import heapq
import itertools
import json
import logging
import mmap
import os
import sqlite3
import struct
import threading
import time
import weakref
import zlib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from gymscope._retry import Backoff

try:  # POSIX only; elsewhere the journal is off and every episode is its own commit
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FLUSH_INTERVAL_S",
    "FLUSH_ROWS",
    "JOURNAL_SUFFIX",
    "SEGMENT_SUFFIX",
    "CreatedAt",
    "Journal",
    "Segment",
    "ingest_orphans",
    "journal_folder",
    "journals_supported",
]

logger = logging.getLogger(__name__)

#: Name of the journal folder: ``<database file name>`` + this, beside it.
JOURNAL_SUFFIX = ".gymscope-journal"
#: The background thread commits queued rows at least this often (seconds):
#: readers see an episode this long after it ended, plus the commit's time.
FLUSH_INTERVAL_S = 0.25
#: Default rows a writer queues before the thread is woken to commit them at once.
#: Each commit has a fixed cost that the training thread shares (a new segment,
#: the transaction, the thread's wake-ups and GIL hand-offs): at 256 it was
#: 8-10 us per episode of a fast env; at 4096 a fast env commits a few times a
#: second and slower ones every FLUSH_INTERVAL_S anyway (benchmarks/db_logging.py).
FLUSH_ROWS = 4096
#: Size of a new segment, allocated and mapped at once (a bigger frame gets
#: a segment its size): frames are copied into it, the file holds zeros past them.
#: A writer starts one per batch, so a vector env's sub-envs start a few each
#: per second: 256 KB holds ~2,600 usual episodes, and a full one is replaced.
SEGMENT_BYTES = 256 * 1024
_PAGE = mmap.PAGESIZE
#: Map segments where the filesystem allows it (False: one ``write()`` per frame).
_MAPPED = hasattr(os, "posix_fallocate")
#: A ``.tmp`` segment (created, not yet renamed) this old is a dead process's.
_TMP_STALE_S = 60.0

_EPISODE, _METRIC = "e", "m"  # line kinds of the former .jsonl segments
#: Suffix of a segment; ``.jsonl``: a segment written before frames (still ingested).
SEGMENT_SUFFIX = ".journal"
_LEGACY_SUFFIX = ".jsonl"
#: Frame header: the body's length and its CRC-32.
_FRAME = struct.Struct("<II")
_KIND_COMPACT, _KIND_ROW, _KIND_METRICS = 1, 2, 3
#: Body of the usual episode: kind, experiment_id, episode_num, reward, length,
#: reward_moving_avg, reward_moving_std, ended_at (a Unix time: created_at is
#: its text), worker, duration_s, terminated, truncated, total_steps. Its loss
#: columns and ``extra`` are NULL.
_COMPACT = struct.Struct("<Bqqdqdddqd??q")
_pack_compact = _COMPACT.pack
_pack_frame = _FRAME.pack
_crc32 = zlib.crc32
_UTC = dt.timezone.utc
_fromtimestamp = dt.datetime.fromtimestamp
#: A process-wide count of queued episode rows: each writer's queue holds
#: ``(sequence, row)``, so one commit inserts all writers' rows in the order
#: the episodes ended (``episode.id`` order is end order, as with a commit
#: per episode).
next_sequence = itertools.count().__next__


def _make_dumps() -> Any:
    """``json.dumps(row, separators=(",", ":"))`` for the journal's flat rows.

    ``JSONEncoder.encode`` rebuilds the C encoder on every call (about 0.7 µs of
    the 1.9 µs a 17-field row costs); built once here, where CPython's C
    accelerator is available. Rows are flat lists of numbers, strings and
    ``None``, so the circular-reference check is not needed.
    """
    base = json.JSONEncoder(separators=(",", ":"), allow_nan=True)
    encoder = base.encode
    make = getattr(json.encoder, "c_make_encoder", None)
    ascii_ = getattr(json.encoder, "c_encode_basestring_ascii", None)
    if make is None or ascii_ is None:  # pragma: no cover - PyPy, or no _json
        return encoder
    try:
        chunks = make(None, base.default, ascii_, None, ":", ",", False, False, True)
    except TypeError:  # pragma: no cover - a CPython whose signature changed
        return encoder
    probe = [_EPISODE, 1, -2.5, float("nan"), None, 'x\u00e9"', True]
    join = "".join
    if join(chunks(probe, 0)) != encoder(probe):  # pragma: no cover
        return encoder
    return lambda row: join(chunks(row, 0))


_dumps: Callable[[Any], str] = _make_dumps()
_write = os.write


class CreatedAt:
    """Unix times as SQLAlchemy's text of a SQLite DATETIME, in UTC.

    ``CreatedAt()(t)`` is the text of ``datetime.fromtimestamp(t, utc)``
    (microseconds rounded half to even, as datetime does) at a sixth of its
    cost: the part up to the second is formatted once per second. One
    instance per thread (it caches that part).
    """

    __slots__ = ("_prefix", "_second")

    def __init__(self) -> None:
        self._second = -1  # the second _prefix spells out
        self._prefix = ""

    def __call__(self, timestamp: float) -> str:
        second = int(timestamp)
        micros = round((timestamp - second) * 1e6)
        if second != self._second or micros >= 1_000_000:
            text = _fromtimestamp(timestamp, _UTC).isoformat(" ", "microseconds")[:26]
            if micros < 1_000_000 and timestamp >= 0:
                self._second, self._prefix = second, text[:20]  # "YYYY-MM-DD HH:MM:SS."
            return text
        return self._prefix + str(1_000_000 + micros)[1:]


def compact_episode(
    experiment_id: int,
    episode_num: int,
    reward: float,
    length: int,
    moving_mean: float,
    moving_std: float,
    ended_at: float,
    worker: int,
    duration_s: float,
    terminated: bool,
    truncated: bool,
    total_steps: int,
) -> bytes:
    """The body of the usual episode (see :data:`_COMPACT`).

    Raises:
        struct.error: a value does not fit (an int beyond 64 bits, a non-number).
    """
    return _pack_compact(
        _KIND_COMPACT,
        experiment_id,
        episode_num,
        reward,
        length,
        moving_mean,
        moving_std,
        ended_at,
        worker,
        duration_s,
        terminated,
        truncated,
        total_steps,
    )


def frame(body: bytes) -> bytes:
    """``body`` as one frame of a segment: header, then body."""
    return _pack_frame(len(body), _crc32(body)) + body


def row_body(row: Sequence[Any]) -> bytes:
    """The body of an episode row (``COLUMNS`` order) kept as JSON."""
    return b"\x02" + _dumps(list(row)).encode()


def metrics_body(rows: Iterable[Sequence[Any]]) -> bytes:
    """The body of metric rows ``(experiment_id, worker, name, step, value, wall_time)``."""
    return b"\x03" + _dumps([list(row) for row in rows]).encode()


def episode_rows(items: Sequence[Any], created_at: CreatedAt | None = None) -> list[Any]:
    """Rows (``COLUMNS`` order) of queued items: a compact body is unpacked,
    its ``created_at`` formatted from its end time; a row is kept as it is."""
    text = created_at if created_at is not None else CreatedAt()
    unpack = _COMPACT.unpack
    rows: list[Any] = []
    append = rows.append
    for item in items:
        if type(item) is not bytes:
            append(item)
            continue
        _, xid, num, reward, length, mean, std, ended, worker, duration, term, trunc, steps = (
            unpack(item)
        )
        append(
            (xid, num, reward, length, mean, std, None, None, None, text(ended), worker,
             duration, term, trunc, steps, None)
        )  # fmt: skip
    return rows


def journals_supported() -> bool:
    """True where journals work (POSIX record locks are available)."""
    return fcntl is not None


def journal_folder(database: str | os.PathLike[str]) -> Path:
    """The journal folder of the SQLite file ``database``."""
    path = Path(database)
    return path.with_name(path.name + JOURNAL_SUFFIX)


def _lock(fd: int) -> bool:
    """Take the POSIX write lock of ``fd`` without waiting; False if another process holds it."""
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EACCES, errno.EAGAIN):
            return False
        raise
    return True


#: Paths of the segments this process's journals hold: POSIX locks never
#: conflict within one process, so an ingester must skip them by name (and
#: closing a second descriptor of a held file would drop its lock).
_OWN: set[str] = set()
_OWN_LOCK = threading.Lock()
#: Held by the thread of this process that is ingesting (see ingest_orphans),
#: and the folder descriptor it holds the flock through: a flock belongs to
#: the open file, which a forked child shares, so the child closes its copy
#: (else the lock would outlive the parent's close for as long as the child).
_INGEST_LOCK = threading.Lock()
_INGEST_FDS: set[int] = set()


class Segment:
    """One journal file: its path, the locked descriptor, and, when the file is
    mapped, the map frames are copied into and how much of it is used."""

    __slots__ = ("capacity", "fd", "map", "path", "used")

    def __init__(self, path: Path, fd: int, mapped: mmap.mmap | None = None) -> None:
        self.path = path
        self.fd = fd
        self.map = mapped
        self.capacity = len(mapped) if mapped is not None else 0
        self.used = 0

    def close(self) -> None:
        """Unmap the file and close the descriptor (which drops its lock)."""
        if self.map is not None:
            with contextlib.suppress(BufferError, ValueError):
                self.map.close()
            self.map = None
        os.close(self.fd)


#: Filesystems on which blocks ``posix_fallocate`` reserved are the file's
#: until it is deleted. On others (copy-on-write: btrfs, ZFS; network ones)
#: a copy into a map can still find the disk full, which is SIGBUS: there
#: each frame is a ``write()``, whose failure is an error.
_ALLOCATING_FILESYSTEMS = frozenset({"ext2", "ext3", "ext4", "xfs", "tmpfs"})


@functools.lru_cache(maxsize=64)
def _filesystem(folder: str) -> str:
    """The type of the filesystem ``folder`` is on (Linux), or ""."""
    best, kind = "", ""
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="replace") as lines:
            for line in lines:
                fields = line.split()
                if " - " not in line or len(fields) < 5:
                    continue
                mount = fields[4].replace("\\040", " ")
                inside = folder == mount or folder.startswith(mount.rstrip("/") + "/")
                if inside and len(mount) >= len(best):
                    best, kind = mount, line.split(" - ", 1)[1].split()[0]
    except OSError:
        return ""
    return kind


def _map(fd: int, size: int, folder: Path) -> mmap.mmap | None:
    """``fd``'s file grown to ``size`` bytes, its blocks allocated, and mapped
    shared; None where that fails (then frames are written with ``write()``).

    The blocks are allocated first (``posix_fallocate``) so that copying into
    the map never meets a full disk: that would be SIGBUS, not an error.
    """
    if not _MAPPED or _filesystem(os.path.realpath(folder)) not in _ALLOCATING_FILESYSTEMS:
        return None
    try:
        os.posix_fallocate(fd, 0, size)
        return mmap.mmap(fd, size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
    except (OSError, ValueError, AttributeError) as exc:
        logger.debug("journal segment not mapped (%s): frames are written with write()", exc)
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
        return None


class Journal:
    """The journal of one writer: the current segment, rotated at each batch.

    Args:
        folder: The database's journal folder (created if missing).
        stem: This writer's unique name (its lease token).

    Raises:
        OSError: the folder or the segment cannot be created.
    """

    def __init__(self, folder: Path, stem: str) -> None:
        folder.mkdir(exist_ok=True)
        self.folder = folder
        self.stem = stem
        self._seq = 0
        self.current = self._new_segment()

    def _new_segment(self, size: int = 0) -> Segment:
        self._seq += 1
        path = self.folder / f"{self.stem}.{self._seq}{SEGMENT_SUFFIX}"
        tmp = path.with_suffix(".tmp")
        flags = os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        try:
            fd = os.open(tmp, flags, 0o644)
        except FileNotFoundError:  # the last writer of another process removed the folder
            self.folder.mkdir(exist_ok=True)
            fd = os.open(tmp, flags, 0o644)
        try:
            _lock(fd)  # a fresh file: nobody else can hold it
            mapped = _map(fd, max(SEGMENT_BYTES, -(-size // _PAGE) * _PAGE), self.folder)
            with _OWN_LOCK:
                _OWN.add(str(path))
            os.rename(tmp, path)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            with _OWN_LOCK:
                _OWN.discard(str(path))
            raise
        return Segment(path, fd, mapped)

    def append_episode(self, row: Sequence[Any]) -> Segment | None:
        """Append one episode row in ``COLUMNS`` order (see :meth:`append`)."""
        return self.append(frame(row_body(row)))

    def append_metrics(self, rows: Iterable[Sequence[Any]]) -> Segment | None:
        """Append metric rows ``(experiment_id, worker, name, step, value, wall_time)``."""
        rows = list(rows)
        return self.append(frame(metrics_body(rows))) if rows else None

    def append(self, data: bytes) -> Segment | None:
        """Append whole frames: copied into the mapped segment (no system call:
        the page is the kernel's, and outlives the process), or one ``write()``.

        Returns:
            The segment this one replaced because ``data`` did not fit in it
            (its rows still to be committed), or None.
        """
        segment = self.current
        mapped = segment.map
        if mapped is not None:
            start = segment.used
            end = start + len(data)
            if end <= segment.capacity:
                mapped[start:end] = data
                segment.used = end
                return None
            full = segment
            self.current = segment = self._new_segment(len(data))
            self.append(data)
            return full
        fd = segment.fd
        written = _write(fd, data)
        while written < len(data):  # a short write: the disk is full, or a signal
            data = data[written:]
            written = _write(fd, data)
        return None

    def rotate(self) -> Segment:
        """Start a new segment; return the previous one (still locked: the rows
        in it are not committed yet)."""
        old = self.current
        self.current = self._new_segment()
        return old

    @staticmethod
    def discard(segment: Segment) -> None:
        """Delete a segment whose rows are committed, and unlock it."""
        try:
            os.unlink(segment.path)
        except FileNotFoundError:
            pass
        finally:
            with _OWN_LOCK:
                _OWN.discard(str(segment.path))
            segment.close()

    @staticmethod
    def abandon(segment: Segment) -> None:
        """Unlock a segment and leave it on disk: an orphan, for ingestion."""
        with _OWN_LOCK:
            _OWN.discard(str(segment.path))
        segment.close()

    def close(self) -> None:
        """Delete the current segment (call once its rows are committed), and the
        folder if no other writer uses it."""
        self.discard(self.current)
        with contextlib.suppress(OSError):  # not empty: another writer's segments
            os.rmdir(self.folder)


# -- ingestion -------------------------------------------------------------------------
_METRIC_SQL = (
    "INSERT INTO gymscope_metric (experiment_id, worker, name, step, value, wall_time) "
    "SELECT ?1, ?2, ?3, ?4, ?5, ?6 WHERE NOT EXISTS (SELECT 1 FROM gymscope_metric "
    "WHERE experiment_id = ?1 AND name = ?3 AND step = ?4 AND worker IS ?2 AND wall_time = ?6)"
)


#: Rows per multi-row INSERT (x 17 columns: well under SQLite's 32766 variables).
_CHUNK = 256
_MULTI_SQL_CACHE: dict[tuple[int, int], str] = {}


def _insert_episodes(conn: sqlite3.Connection, rows: Sequence[Sequence[Any]]) -> None:
    """Insert episode rows with one multi-row ``INSERT`` per :data:`_CHUNK` rows.

    ``executemany`` runs one statement per row, and the sqlite3 module
    releases and takes back the GIL around each: from a background thread,
    every one of those hand-offs can make the training thread wait for the
    interpreter's switch interval. One statement per chunk hands off once.
    """
    from gymscope.metrics.codec import COLUMNS

    width = len(COLUMNS)
    for start in range(0, len(rows), _CHUNK):
        chunk = rows[start : start + _CHUNK]
        key = (width, len(chunk))
        sql = _MULTI_SQL_CACHE.get(key)
        if sql is None:
            one = f"({', '.join('?' * width)})"
            sql = _MULTI_SQL_CACHE[key] = (
                f"INSERT INTO episode ({', '.join(COLUMNS)}) VALUES "
                f"{', '.join([one] * len(chunk))} ON CONFLICT DO NOTHING"
            )
        conn.execute(sql, [value for row in chunk for value in row])


def _read(fd: int) -> bytes:
    chunks: list[bytes] = []
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        chunks.append(chunk)
        offset += len(chunk)
    return b"".join(chunks)


def _parse(fd: int, path: Path) -> tuple[list[Any], list[list[Any]]]:
    """The episode and metric rows of a segment; damaged frames (or lines) are skipped.

    Read through ``fd``, the descriptor that holds the segment's lock: closing
    any other descriptor of the file would release the process's POSIX lock.
    """
    data = _read(fd)
    if path.name.endswith(_LEGACY_SUFFIX):
        return _parse_lines(data, path)
    items: list[Any] = []
    metrics: list[list[Any]] = []
    header, unpack = _FRAME.size, _FRAME.unpack_from
    view = memoryview(data)
    offset, end, skipped = 0, len(data), 0
    while offset + header <= end:
        length, crc = unpack(data, offset)
        if length == 0 and crc == 0:
            # zeros: the unused end of a mapped segment, or a page never written
            rest = data[offset:].lstrip(b"\0")
            if not rest:
                end = offset  # the end: nothing after the zeros
                break
            # something follows: back over the zero bytes a length may start with
            following = max(offset + 1, len(data) - len(rest) - 3)
            skipped += following - offset
            offset = following
            continue
        start = offset + header
        # damaged: look for the next whole frame (a length past the end is
        # rejected before anything is copied or summed)
        if length == 0 or start + length > end or _crc32(view[start : start + length]) != crc:
            offset += 1
            skipped += 1
            continue
        body = data[start : start + length]
        offset = start + length
        try:
            kind = body[0]
            if kind == _KIND_COMPACT and length == _COMPACT.size:
                items.append(body)
            elif kind == _KIND_ROW:
                items.append(tuple(json.loads(body[1:])))
            elif kind == _KIND_METRICS:
                metrics.extend(json.loads(body[1:]))
            else:
                raise ValueError(f"unknown frame kind {kind}")
        except ValueError as exc:
            logger.warning("skipping an unreadable frame of the journal segment %s: %s", path, exc)
    if skipped or offset < end:
        logger.warning(
            "skipping %d damaged byte(s) of the journal segment %s (a write torn by a crash)",
            skipped + end - offset,
            path,
        )
    return episode_rows(items), metrics


def _parse_lines(data: bytes, path: Path) -> tuple[list[Any], list[list[Any]]]:
    """The rows of a segment written before frames: one JSON line per row."""
    episodes: list[Any] = []
    metrics: list[list[Any]] = []
    for line in data.split(b"\n"):
        if not line:
            continue
        try:
            item = json.loads(line)
        except ValueError:
            logger.warning("skipping a torn line in the journal segment %s", path)
            continue
        if not isinstance(item, list) or not item:
            continue
        (episodes if item[0] == _EPISODE else metrics).append(item[1:])
    return episodes, metrics


def ingest_orphans(database: str | os.PathLike[str], conn: sqlite3.Connection | None = None) -> int:
    """Insert the rows of journal segments left by dead processes; delete the segments.

    Safe to call from any number of processes at once: one of them ingests
    while the others wait (a lock on the journal folder), so a call returns
    only when no orphan it could see is left uncommitted, and rows already
    in the database are not inserted again. Returns the number of episode rows inserted. Errors (a
    read-only database, a locked file) are logged, never raised: the
    segments stay for the next attempt.

    Args:
        database: The SQLite file.
        conn: A sqlite3 connection to it to use (else one is opened and closed).
    """
    folder = journal_folder(database)
    if fcntl is None or not folder.is_dir():
        return 0
    # One ingester at a time, across processes (flock on the folder) and
    # threads: a segment another ingester holds is locked as a live writer's
    # is, so without this a writer opening beside an ingestion in progress
    # would skip the dead writer's episodes, register, and number its own
    # after what is committed so far, colliding with the rows still coming.
    try:
        folder_fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return 0  # removed since checked: nothing was left in it
    try:
        with _INGEST_LOCK:
            _INGEST_FDS.add(folder_fd)
            try:
                fcntl.flock(folder_fd, fcntl.LOCK_EX)
            except OSError as exc:  # a filesystem without flock: threads only
                logger.debug("cannot lock the journal folder %s: %s", folder, exc)
            try:
                return _ingest(folder, database, conn)
            finally:
                _INGEST_FDS.discard(folder_fd)
    finally:
        os.close(folder_fd)  # releases the flock


def _ingest(folder: Path, database: str | os.PathLike[str], conn: sqlite3.Connection | None) -> int:
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        return 0
    inserted = 0
    own_conn: sqlite3.Connection | None = None
    try:
        for name in names:
            path = folder / name
            if name.endswith(".tmp"):
                _drop_stale_tmp(path)
                continue
            if not name.endswith((SEGMENT_SUFFIX, _LEGACY_SUFFIX)):
                continue
            with _OWN_LOCK:
                if str(path) in _OWN:
                    continue
            try:
                fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # deleted since listed: committed
            try:
                if not _lock(fd):
                    continue  # a live writer's
                if not path.exists():
                    continue  # another ingester finished it
                episodes, metrics = _parse(fd, path)
                if episodes or metrics:
                    if conn is None and own_conn is None:
                        own_conn = _connect(database)
                    inserted += _insert(conn or own_conn, episodes, metrics)  # type: ignore[arg-type]
                os.unlink(path)
                logger.warning(
                    "recovered %d episode(s) and %d metric value(s) from %s, the journal of "
                    "a writer that stopped before committing them",
                    len(episodes),
                    len(metrics),
                    path,
                )
            except (OSError, sqlite3.Error) as exc:
                logger.warning("could not ingest the journal segment %s yet: %s", path, exc)
            finally:
                os.close(fd)
    finally:
        if own_conn is not None:
            own_conn.close()
    return inserted


def _drop_stale_tmp(path: Path) -> None:
    try:
        if time.time() - path.stat().st_mtime < _TMP_STALE_S:
            return
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if _lock(fd):
            os.unlink(path)
    except OSError:
        pass
    finally:
        os.close(fd)


def _connect(database: str | os.PathLike[str]) -> sqlite3.Connection:
    from gymscope.metrics.source import BUSY_TIMEOUT_S

    conn = sqlite3.connect(
        os.fspath(database), timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
    )
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _insert(conn: sqlite3.Connection, episodes: list[Any], metrics: list[list[Any]]) -> int:
    """Insert rows in one transaction; the number of episode rows that were new."""
    before = conn.total_changes
    conn.execute("BEGIN IMMEDIATE")
    try:
        if episodes:
            _insert_episodes(conn, episodes)
        new_episodes = conn.total_changes - before
        if metrics:
            conn.executemany(_METRIC_SQL, metrics)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    return new_episodes


# -- the background committer ----------------------------------------------------------
class Flusher:
    """The thread that commits the queued rows of a process's journaled writers
    of one database file, in one transaction per round, on its own connection.

    Writers register with :func:`join_flusher`; the thread wakes every
    :data:`FLUSH_INTERVAL_S` or when :meth:`wake` is called, asks each writer
    for its queued rows (:meth:`JournaledWriter.take`), commits them all, and
    tells each writer the outcome.
    """

    def __init__(self, database: str) -> None:
        self.database = database
        self._writers: weakref.WeakSet[Any] = weakref.WeakSet()
        self._event = threading.Event()
        self._commit_lock = threading.Lock()
        # Opened now, while the file is where the writer just found it: a
        # SQLite connection follows its file if the folder is moved, and is
        # never dropped (an error leaves it usable).
        self._conn: sqlite3.Connection | None = _connect(database)
        self._backoff = Backoff()
        self._created_at = CreatedAt()  # used under _commit_lock only
        self._stopped = False
        self._thread = threading.Thread(
            target=self._run, name=f"gymscope-flusher {Path(database).name}", daemon=True
        )
        self._thread.start()

    @property
    def stopped(self) -> bool:
        """The last writer left: :func:`flusher_for` makes a new flusher."""
        return self._stopped

    def unregister(self, writer: Any) -> None:
        """Forget ``writer``; the last one stops the thread and closes the
        connection (so a closed database leaves no ``-wal`` file behind)."""
        with _FLUSHERS_LOCK:
            self._writers.discard(writer)
            if self._writers:
                return
            if _FLUSHERS.get(self.database) is self:
                del _FLUSHERS[self.database]
            self._stopped = True
        self._event.set()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        with self._commit_lock:
            self._drop_connection()

    def wake(self) -> None:
        """Commit soon (a writer has ``flush_every`` rows waiting)."""
        self._event.set()

    def _run(self) -> None:
        while not self._stopped:
            self._event.wait(FLUSH_INTERVAL_S)
            self._event.clear()
            if not self._backoff.ready():
                continue
            try:
                self.commit()
            except Exception:  # never let the thread die: the next round retries
                logger.exception("gymscope's journal flusher failed; retrying")

    def commit(self) -> None:
        """Commit every registered writer's queued rows now (one transaction)."""
        with self._commit_lock:
            batches = []
            for writer in list(self._writers):
                batch = writer.take()
                if batch is not None:
                    batches.append((writer, batch))
            if not batches:
                return
            by_writer = [rows for _, (rows, _, _) in batches]
            episodes = episode_rows(
                [item for _, item in heapq.merge(*by_writer, key=_first)], self._created_at
            )
            metrics = [row for _, (_, rows, _) in batches for row in rows]
            try:
                conn = self._connection()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if episodes:
                        _insert_episodes(conn, episodes)
                    if metrics:
                        conn.executemany(_METRIC_SQL, metrics)
                    conn.execute("COMMIT")
                except BaseException:
                    if conn.in_transaction:
                        conn.rollback()
                    raise
            except (sqlite3.Error, OSError) as exc:
                failures = self._backoff.failed()
                for writer, batch in batches:
                    writer.failed(batch, exc, failures)
                return
            failures = self._backoff.succeeded() if self._backoff.failures else 0
            for writer, batch in batches:
                writer.committed(batch, failures)

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            self._conn = _connect(self.database)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None


def _first(item: tuple[int, Any]) -> int:
    return item[0]


_FLUSHERS: dict[str, Flusher] = {}
_FLUSHERS_LOCK = threading.Lock()


def join_flusher(database: str, writer: Any) -> Flusher:
    """Register ``writer`` with this process's flusher of ``database`` (started
    on first use, and again after its last writer left)."""
    key = os.path.realpath(database)
    with _FLUSHERS_LOCK:
        flusher = _FLUSHERS.get(key)
        if flusher is None or flusher.stopped:
            flusher = _FLUSHERS[key] = Flusher(key)
        flusher._writers.add(writer)
        return flusher


def _after_fork_in_child() -> None:
    # The parent's threads do not exist in a forked child, its locks may be
    # held by them, and its journals and record locks are the parent's.
    global _FLUSHERS_LOCK, _OWN_LOCK, _INGEST_LOCK
    _FLUSHERS.clear()
    _FLUSHERS_LOCK = threading.Lock()
    _OWN.clear()
    _OWN_LOCK = threading.Lock()
    for fd in _INGEST_FDS:
        with contextlib.suppress(OSError):
            os.close(fd)
    _INGEST_FDS.clear()
    _INGEST_LOCK = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)

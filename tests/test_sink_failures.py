"""Every sink that writes files survives a full disk, a read-only folder and a
folder replaced by a file: step() never raises, one warning, nothing lost or
doubled once the files can be written again, and close() fails loudly if
they still cannot be.

The disk-full and read-only cases mount a small tmpfs (root only; skipped
otherwise); the folder-is-a-file and ``/dev/full`` cases run anywhere.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import shutil
import sqlite3
import subprocess
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import pytest

from gymscope._files import AppendTargetChanged, append_bytes
from gymscope.errors import EpisodeWriteError, OutputWriteError, StatsKeyClashError, UsageError
from gymscope.metrics import journal as journal_module
from gymscope.metrics.journal import FLUSH_INTERVAL_S
from gymscope.sinks import Sink
from gymscope.wrappers.curves import CurveRecorderWrapper, load_checkpoint
from gymscope.wrappers.sinks import SinkWrapper
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from gymscope.wrappers.tensorboard import TensorBoardWrapper
from gymscope.wrappers.video import ScheduledRecordVideo
from stubs import ScriptedEnv, play

SCRIPT = ((1.0, 2.0), (0.5, 0.5, 0.5), (3.0,))


# -- the sinks under test ----------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    """How to build a stack writing into a folder, and what it must have written."""

    name: str
    build: Callable[[Path], gym.Env[Any, Any]]
    #: After close: check every episode in ``expected`` is in the files exactly once.
    check: Callable[[Path, gym.Env[Any, Any], list[int]], None]
    #: Episodes recorded during a failure are kept and written later (not videos).
    keeps: bool = True


def _curves(folder: Path) -> gym.Env[Any, Any]:
    return CurveRecorderWrapper(ScriptedEnv(SCRIPT), folder, window_size=3, checkpoint_every=2)


def _check_curves(folder: Path, env: gym.Env[Any, Any], expected: list[int]) -> None:
    episodes = load_checkpoint(folder / "training_history_checkpoint.jsonl")["episodes"]
    assert [e["episode"] for e in episodes] == expected
    history = json.loads((folder / "training_history.json").read_text())
    assert history["summary"]["episodes"] == len(expected)
    for stem in ("training_reward_curve", "training_length_curve"):
        assert (folder / f"{stem}.svg").stat().st_size > 0
        assert (folder / f"{stem}.png").stat().st_size > 0


def _tensorboard(folder: Path) -> gym.Env[Any, Any]:
    return TensorBoardWrapper(ScriptedEnv(SCRIPT), folder / "tb", flush_secs=1e-6)


def _check_tensorboard(folder: Path, env: gym.Env[Any, Any], expected: list[int]) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder / "tb"), size_guidance={"scalars": 0})
    events.Reload()
    steps = [e.step for e in events.Scalars("episode/return")]
    assert len(steps) == len(expected)
    assert steps == sorted(set(steps))  # each episode once, in order


def _database(folder: Path) -> gym.Env[Any, Any]:
    folder.mkdir(parents=True, exist_ok=True)
    return SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), folder / "metrics.db", "failures")


def _check_database(folder: Path, env: gym.Env[Any, Any], expected: list[int]) -> None:
    with contextlib.closing(sqlite3.connect(folder / "metrics.db")) as db:
        rows = db.execute("SELECT episode_num FROM episode ORDER BY episode_num").fetchall()
    assert [n for (n,) in rows] == expected


def _video(folder: Path) -> gym.Env[Any, Any]:
    env = ScriptedEnv(SCRIPT, render_mode="rgb_array")
    return ScheduledRecordVideo(env, folder, episode_trigger=lambda i: True)


def _check_video(folder: Path, env: gym.Env[Any, Any], expected: list[int]) -> None:
    names = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))
    videos = [n for n in names if n.endswith(".mp4")]
    assert videos, names
    for name in videos:  # every video under a final name is whole and has its sidecar
        assert (folder / name).stat().st_size > 0
        sidecar = json.loads((folder / f"{name}.json").read_text())
        assert sidecar["video"] == name and sidecar["frames"] > 0
    assert [n for n in names if n.endswith(".json")] == [f"{v}.json" for v in videos]


CASES = [
    Case("curves", _curves, _check_curves),
    Case("tensorboard", _tensorboard, _check_tensorboard),
    Case("database", _database, _check_database),
    Case("video", _video, _check_video, keeps=False),
]


# -- helpers -----------------------------------------------------------------------------
@contextlib.contextmanager
def tmpfs(path: Path, size: str = "2m") -> Iterator[Path]:
    """A small tmpfs mounted at ``path`` (skips the test when that is not possible)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def fill(folder: Path) -> Path:
    """Fill the file system of ``folder`` to the last byte; the filler's path."""
    filler = folder / ".filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o666)
    try:
        for chunk in (1 << 16, 1 << 12, 1 << 9, 1):
            while True:
                try:
                    os.write(fd, b"\0" * chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    finally:
        os.close(fd)
    return filler


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` read-only (a read-only bind mount over it) while inside.

    Files the process already has open for writing stay writable, as on a
    real file system remounted read-only under a running program.
    """
    if os.geteuid() != 0:
        pytest.skip("bind mounts need root")
    bound = subprocess.run(
        ["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True, check=False
    )
    if bound.returncode != 0:
        pytest.skip(f"cannot bind-mount here: {bound.stderr.strip()}")
    try:
        for _ in range(50):  # EBUSY while a file under it is being opened for writing
            made = subprocess.run(
                ["mount", "-o", "remount,bind,ro", str(folder)],
                capture_output=True,
                text=True,
                check=False,
            )
            if made.returncode == 0:
                break
            time.sleep(0.1)
        else:
            pytest.fail(f"cannot make {folder} read-only: {made.stderr.strip()}")
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


@contextlib.contextmanager
def failure_warnings() -> Iterator[list[str]]:
    """The warnings (and WARNING log records) about outputs that could not write."""
    found: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            message = record.getMessage()
            if record.levelno >= logging.WARNING and (
                "could not write" in message
                or "cannot open" in message
                or "could not commit" in message
            ):
                found.append(message)

    handler = Collect()
    root = logging.getLogger("gymscope")
    root.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield found
        found += [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    finally:
        root.removeHandler(handler)


def run(env: gym.Env[Any, Any], episodes: int, done: list[int]) -> None:
    """Play ``episodes`` more episodes, noting their indices in ``done``."""
    play(env, episodes)
    done += range(len(done), len(done) + episodes)


def close_and_check(case: Case, env: gym.Env[Any, Any], folder: Path, done: list[int]) -> None:
    """Close ``env`` once its files can be written again, and check them."""
    if case.keeps:
        env.close()
    else:  # videos are streamed: those of a failure are lost, and said so by close()
        with pytest.raises(OutputWriteError, match="could not write"):
            env.close()
    case.check(folder, env, done)


# -- the failures --------------------------------------------------------------------------
def disk_full_then_space_again(tmp_path: Path, case: Case, *, wait_s: float = 0.0) -> list[str]:
    """Fill the disk under ``case``'s outputs for 150 episodes (then ``wait_s``),
    free it, play 4 more, close and check; the failure warnings seen while full."""
    with tmpfs(tmp_path / "disk") as disk:
        folder = disk / "out"
        env = case.build(folder)
        done: list[int] = []
        run(env, 3, done)
        filler = fill(disk)
        with failure_warnings() as found:
            run(env, 150, done)  # step() never raises
            time.sleep(wait_s)
        filler.unlink()
        run(env, 4, done)
        close_and_check(case, env, folder, done)
    return found


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_disk_full_then_space_again(tmp_path: Path, case: Case) -> None:
    # the journal's segment was allocated before the disk filled: the episodes
    # are safe in it, and the background commit says the disk is full
    wait_s = 4 * FLUSH_INTERVAL_S if case.name == "database" else 0.0
    found = disk_full_then_space_again(tmp_path, case, wait_s=wait_s)
    assert len(found) == 1, found
    assert "No space left on device" in found[0] or "disk is full" in found[0], found


def test_disk_full_when_the_journal_needs_a_new_segment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # segments of a page: the one allocated before the disk filled is soon
    # full, and the next cannot be allocated; the episodes wait in memory
    monkeypatch.setattr(journal_module, "SEGMENT_BYTES", 4096)
    (case,) = [c for c in CASES if c.name == "database"]
    found = disk_full_then_space_again(tmp_path, case)
    assert len(found) == 1, found
    assert "could not write to the journal" in found[0], found
    assert "No space left on device" in found[0], found


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_disk_full_until_close_fails_loudly(tmp_path: Path, case: Case) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        env = case.build(disk / "out")
        done: list[int] = []
        run(env, 3, done)
        fill(disk)
        with failure_warnings():
            run(env, 150, done)
            expected = EpisodeWriteError if case.name == "database" else OutputWriteError
            with pytest.raises(expected) as info:
                env.close()
        assert "could not" in str(info.value)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_read_only_folder_then_writable_again(tmp_path: Path, case: Case) -> None:
    folder = tmp_path / "out"
    env = case.build(folder)
    done: list[int] = []
    run(env, 3, done)
    with read_only(folder), failure_warnings() as found:
        run(env, 10, done)
    # an open SQLite connection writes on through the files it holds open
    assert len(found) == (case.name != "database"), found
    if found:
        assert "Read-only file system" in found[0], found
    run(env, 4, done)
    close_and_check(case, env, folder, done)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_read_only_folder_from_the_first_episode(tmp_path: Path, case: Case) -> None:
    folder = tmp_path / "out"
    env = case.build(folder)  # nothing is written yet: every sink opens its files lazily
    folder.mkdir(exist_ok=True)
    done: list[int] = []
    with read_only(folder), failure_warnings() as found:
        run(env, 6, done)
    assert len(found) == 1, found
    run(env, 2, done)
    close_and_check(case, env, folder, done)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_read_only_folder_until_close_fails_loudly(tmp_path: Path, case: Case) -> None:
    if case.name == "database":
        pytest.skip("an open SQLite connection writes on through the files it holds open")
    folder = tmp_path / "out"
    env = case.build(folder)
    run(env, 3, [])
    with read_only(folder), failure_warnings():
        run(env, 10, [])
        with pytest.raises(OutputWriteError, match="Read-only file system"):
            env.close()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
@pytest.mark.parametrize("restored", [True, False], ids=["restored", "still-a-file"])
def test_folder_replaced_by_a_file(tmp_path: Path, case: Case, restored: bool) -> None:
    folder = tmp_path / "out"
    env = case.build(folder)
    done: list[int] = []
    run(env, 3, done)
    folder.rename(tmp_path / "moved")
    folder.write_text("not a folder")
    with failure_warnings() as found:
        run(env, 10, done)
    if case.name != "database":  # an open SQLite connection follows its moved file
        assert len(found) == 1, found
    if not restored:
        if case.name == "database":
            env.close()  # written into the moved folder: nothing was lost
            case.check(tmp_path / "moved", env, done)
            return
        with pytest.raises(OutputWriteError, match="could not write"):
            env.close()
        return
    folder.unlink()
    (tmp_path / "moved").rename(folder)
    run(env, 4, done)
    close_and_check(case, env, folder, done)


def test_a_checkpoint_replaced_by_a_link_to_dev_full(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    env = _curves(tmp_path)
    done: list[int] = []
    run(env, 4, done)
    path = tmp_path / "training_history_checkpoint.jsonl"
    path.unlink()
    path.symlink_to("/dev/full")
    with failure_warnings() as found:
        run(env, 6, done)
    # not the file it wrote: written whole again, as a file of its own
    assert found == [] and path.is_file() and not path.is_symlink()
    env.close()
    _check_curves(tmp_path, env, done)


def test_an_event_file_pointed_at_dev_full(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    env = _tensorboard(tmp_path)
    done: list[int] = []
    run(env, 2, done)
    (path,) = (tmp_path / "tb").iterdir()
    path.unlink()
    path.symlink_to("/dev/full")
    with failure_warnings() as found:
        run(env, 5, done)
    assert len(found) == 1 and "No space left" in found[0]
    path.unlink()
    run(env, 2, done)
    env.close()
    _check_tensorboard(tmp_path, env, done[2:])  # the removed file's events went with it


def test_an_event_file_on_dev_full_until_close(tmp_path: Path) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    env = _tensorboard(tmp_path)
    run(env, 2, [])
    (path,) = (tmp_path / "tb").iterdir()
    path.unlink()
    path.symlink_to("/dev/full")
    with failure_warnings():
        run(env, 3, [])
        with pytest.raises(OutputWriteError, match="No space left on device"):
            env.close()


# -- append_bytes: a file can only be cut at its last chunk ------------------------------
def test_append_bytes_cuts_back_a_short_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"a\n")
    real_write = os.write

    def half(fd: int, data: bytes) -> int:
        return real_write(fd, bytes(data)[: len(data) // 2])

    monkeypatch.setattr(os, "write", half)
    with pytest.raises(OSError, match="only 3 of 6 bytes"):
        append_bytes(path, b"bbbbb\n", 2)
    monkeypatch.undo()
    assert path.read_bytes() == b"a\n"


def test_short_checkpoint_writes_leave_whole_lines_each_episode_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = CurveRecorderWrapper(ScriptedEnv(SCRIPT), tmp_path, checkpoint_every=1)
    done: list[int] = []
    run(env, 3, done)
    real_write = os.write

    def short(fd: int, data: bytes) -> int:  # a disk that fills mid-batch
        return real_write(fd, bytes(data)[: max(1, len(data) // 3)])

    with failure_warnings() as found:
        monkeypatch.setattr(os, "write", short)
        try:
            run(env, 5, done)
        finally:
            monkeypatch.undo()
    assert len(found) == 1 and "only" in found[0]
    text = env.checkpoint_path.read_bytes()
    assert text.endswith(b"\n")  # cut back: no torn line, not even the last
    run(env, 3, done)
    env.close()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no torn line to skip
        episodes = load_checkpoint(env.checkpoint_path)["episodes"]
    assert [e["episode"] for e in episodes] == done


@pytest.mark.parametrize("left", [b"b", b"bbbbb", b"bbbbb\nc"])
def test_append_bytes_replaces_what_a_failed_attempt_left(tmp_path: Path, left: bytes) -> None:
    path = tmp_path / "log"
    path.write_bytes(b"a\n" + left)
    assert append_bytes(path, b"bbbbb\ncc\n", 2) == 11
    assert path.read_bytes() == b"a\nbbbbb\ncc\n"  # never torn, never twice


@pytest.mark.parametrize(
    ("content", "why"),
    [(None, "gone"), (b"", "has 0 bytes"), (b"a\nzzz", "changed after byte 2")],
)
def test_append_bytes_refuses_a_file_changed_by_someone_else(
    tmp_path: Path, content: bytes | None, why: str
) -> None:
    path = tmp_path / "log"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(AppendTargetChanged, match=why):
        append_bytes(path, b"b\n", 2)


def test_append_bytes_to_dev_full_raises() -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full")
    with pytest.raises(OSError, match="No space left on device") as info:
        append_bytes(Path("/dev/full"), b"x\n", 0)
    assert info.value.errno == errno.ENOSPC


# -- the driver: a sink of one's own -----------------------------------------------------
class Failing(Sink):
    def __init__(self, error: Exception) -> None:
        self.error = error
        self.closed = False

    def on_episode(self, record: Any, info: Any = None) -> None:
        raise self.error

    def close(self) -> None:
        self.closed = True


@pytest.mark.parametrize(
    "error",
    [
        OSError(errno.ENOSPC, "No space left on device"),
        PermissionError(errno.EACCES, "Permission denied"),
        NotADirectoryError(errno.ENOTDIR, "Not a directory"),
    ],
)
def test_a_sink_raising_oserror_warns_once_and_close_raises(error: OSError) -> None:
    sink = Failing(error)
    env = SinkWrapper(ScriptedEnv(SCRIPT), sink)
    with failure_warnings() as found:
        play(env, 5)
    assert len(found) == 1 and "Failing could not write episode 0" in found[0]
    with pytest.raises(OutputWriteError, match=r"Failing lost 5 episode\(s\)"):
        env.close()
    assert sink.closed
    env.close()  # once


@pytest.mark.parametrize(
    "error",
    [StatsKeyClashError("info['episode'] is taken"), UsageError("after close"), KeyError("x")],
)
def test_usage_errors_still_raise_from_step(error: Exception) -> None:
    env = SinkWrapper(ScriptedEnv(SCRIPT), Failing(error))
    with pytest.raises(type(error)):
        play(env, 1)
    env.close()


def test_cleanup_helpers_leave_no_mount(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "disk") as disk:
        assert os.path.ismount(disk)
    assert not os.path.ismount(tmp_path / "disk")
    shutil.rmtree(tmp_path / "disk")

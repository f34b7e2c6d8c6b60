"""The SQLite journal: one write() per episode, batched commits, orphans ingested once.

Kill tests fork a child that logs scripted episodes and reports each finished
one (``db_child``), with the background commit slowed down so that the kill
lands between the journal write and the batch commit; then a reader (or the
next writer) must find exactly the episodes the child knew were finished.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import random
import re
import signal
import sqlite3
import struct
import threading
import time
from pathlib import Path
from typing import Any

import pytest

import db_child
import gymscope.metrics  # noqa: F401  (imported once, not in every forked child)
from gymscope.metrics import journal as journal_module
from gymscope.metrics.codec import COLUMNS
from gymscope.metrics.journal import SEGMENT_SUFFIX, Journal, ingest_orphans, journal_folder
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from stubs import ScriptedEnv
from stubs_db import SCRIPT, query, read_episodes, script_episode

FORK = multiprocessing.get_context("fork")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def segments(db: Path) -> list[Path]:
    folder = journal_folder(db)
    return sorted(folder.glob(f"*{SEGMENT_SUFFIX}")) if folder.is_dir() else []


def journaled_episodes(db: Path) -> int:
    """Episode frames in the journal segments of ``db`` (read without their locks)."""
    count = 0
    for path in segments(db):
        data, offset = path.read_bytes(), 0
        while offset < len(data):
            length, _ = journal_module._FRAME.unpack_from(data, offset)
            if length == 0:  # the unused end of a mapped segment
                break
            kind = data[offset + journal_module._FRAME.size]
            count += kind in (journal_module._KIND_COMPACT, journal_module._KIND_ROW)
            offset += journal_module._FRAME.size + length
    return count


def run_episodes(env: Any, n: int) -> None:
    env.reset()
    done = 0
    while done < n:
        _, _, terminated, truncated, _ = env.step(0)
        if terminated or truncated:
            done += 1
            env.reset()


def _child_without_commits(segments: str = "mapped", **kwargs: Any) -> None:
    # Never committed by the background thread (nor at exit: the child is killed)
    journal_module.FLUSH_INTERVAL_S = 3600.0
    if segments == "small":  # a page each: frames fill segments, which are replaced
        journal_module.SEGMENT_BYTES = 4096
    elif segments == "write":  # where mapping fails: one write() per frame
        journal_module._MAPPED = False
    db_child.run(**kwargs)


def _fork(target: Any, **kwargs: Any) -> Any:
    proc = FORK.Process(target=target, kwargs=kwargs)
    proc.start()
    return proc


def killed_run(
    tmp_path: Path, experiment: str, kill_at: int, target: Any = None, segments: str = "mapped"
) -> tuple[Path, str, list[tuple[float, int]]]:
    """Run ``db_child`` (by default never committing) until SIGKILL at step
    ``kill_at``; the database, its URL and the episodes the child finished."""
    db = tmp_path / "m.db"
    url = sqlite_url(db)
    report = tmp_path / "report.txt"
    kwargs: dict[str, Any] = {"url": url, "experiment": experiment, "report": str(report)}
    kwargs.update(signal_name="KILL", signal_at=kill_at)
    if target is None:
        target, kwargs["flush_every"] = _child_without_commits, 10**6
        kwargs["segments"] = segments
    proc = _fork(target, **kwargs)
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    return db, url, db_child.read_report(report)


# -- kill between the journal write and the batch commit --------------------------------
@pytest.mark.parametrize(
    ("kill_at", "mode"),
    [(7, "mapped"), (60, "mapped"), (233, "mapped"), (233, "small"), (60, "write")],
)
def test_sigkill_before_any_commit_loses_nothing(tmp_path: Path, kill_at: int, mode: str) -> None:
    db, url, reported = killed_run(tmp_path, "k", kill_at, segments=mode)
    assert reported, "the child finished no episode before the kill"
    if mode == "small":  # 4 KB segments: the frames filled several
        assert len(segments(db)) > 1
    sizes = {path.stat().st_size for path in segments(db)}
    if mode == "write":  # not mapped: the file holds the frames only
        assert sizes and 0 not in sizes and all(size % 4096 for size in sizes)
    else:  # mapped: whole pages, zeros past the frames
        assert sizes and all(size % 4096 == 0 for size in sizes)
    # nothing was committed: the episodes are only in the journal
    raw = sqlite3.connect(db)
    try:
        assert raw.execute("SELECT count(*) FROM episode").fetchone() == (0,)
    finally:
        raw.close()
    assert segments(db), "no journal segment was left"
    rows = read_episodes(url, "k")  # a reader ingests the dead writer's journal
    assert [(r["reward"], r["length"]) for r in rows] == reported
    assert [r["episode_num"] for r in rows] == list(range(len(reported)))
    assert segments(db) == []
    # and a second reader finds the same, nothing twice
    assert len(read_episodes(url, "k")) == len(reported)


def test_a_killed_worker_restarts_after_its_journaled_episodes(tmp_path: Path) -> None:
    # the next *writer* ingests first, so the resumed worker numbers after them
    _, url, reported = killed_run(tmp_path, "r", 50)
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "r", worker=0)
    run_episodes(env, 3)
    env.close()
    raw = [(r["episode_num"], r["reward"]) for r in read_episodes(url, "r")]
    n = len(reported)
    assert [num for num, _ in raw] == list(range(n + 3))
    assert [reward for _, reward in raw[:n]] == [reward for reward, _ in reported]
    # the new process's env plays its script from the start, numbered after them
    assert [reward for _, reward in raw[n:]] == [script_episode(i)[0] for i in range(3)]


def test_a_segment_committed_but_not_deleted_is_not_inserted_twice(tmp_path: Path) -> None:
    def child(**kwargs: Any) -> None:
        from gymscope.metrics.writer import JournaledSQLiteWriter

        journal_module.FLUSH_INTERVAL_S = 3600.0
        add = JournaledSQLiteWriter.add

        def add_and_commit(self: JournaledSQLiteWriter, record: Any) -> None:
            add(self, record)
            if self.next_num % 7 == 0:  # commit every 7 episodes...
                self.flush()

        JournaledSQLiteWriter.add = add_and_commit  # type: ignore[method-assign]
        journal_module.Journal.discard = staticmethod(  # type: ignore[method-assign]
            lambda segment: os.close(segment.fd)  # ...and never delete (killed in between)
        )
        db_child.run(**kwargs)

    db, url, reported = killed_run(tmp_path, "d", 300, target=child)
    raw = sqlite3.connect(db)
    try:
        committed = raw.execute("SELECT count(*) FROM episode").fetchone()[0]
    finally:
        raw.close()
    assert 0 < committed <= len(reported)
    assert len(segments(db)) > 1  # committed segments left behind, and the last one
    rows = read_episodes(url, "d")
    assert [(r["reward"], r["length"]) for r in rows] == reported
    assert [r["episode_num"] for r in rows] == list(range(len(reported)))


def test_concurrent_ingesters_insert_each_episode_once(tmp_path: Path) -> None:
    db, url, reported = killed_run(tmp_path, "c", 400)
    barrier = FORK.Barrier(4)

    def ingest() -> None:
        barrier.wait()
        ingest_orphans(db)

    procs = [FORK.Process(target=ingest) for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    rows = read_episodes(url, "c")
    assert [(r["reward"], r["length"]) for r in rows] == reported


def test_a_writer_opening_during_an_ingestion_numbers_after_its_rows(tmp_path: Path) -> None:
    # Another process is ingesting the dead worker's journal (holding its
    # segment's lock, as a live writer would) when a new writer of that worker
    # opens: the new writer must wait for those rows, not number its own
    # episodes from 0 beside them (ON CONFLICT would then drop one of each).
    db, url, reported = killed_run(tmp_path, "w", 120)
    started = tmp_path / "ingesting"

    def slow_ingester() -> None:
        insert = journal_module._insert

        def slow_insert(*args: Any) -> int:
            started.touch()
            time.sleep(2.0)
            return insert(*args)

        journal_module._insert = slow_insert  # type: ignore[assignment]
        ingest_orphans(db)

    # built first (the database opens at the first reset): its imports are done
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "w", worker=0)
    proc = _fork(slow_ingester)
    deadline = time.monotonic() + 60
    while not started.exists() and time.monotonic() < deadline and proc.is_alive():
        time.sleep(0.01)
    assert started.exists()
    run_episodes(env, 3)  # opens while the other process is inserting
    env.close()
    proc.join(60)
    assert proc.exitcode == 0
    rows = read_episodes(url, "w")
    n = len(reported)
    assert [r["episode_num"] for r in rows] == list(range(n + 3))
    assert [(r["reward"], r["length"]) for r in rows[:n]] == reported
    assert [r["reward"] for r in rows[n:]] == [script_episode(i)[0] for i in range(3)]


def test_a_forked_child_does_not_keep_a_dead_parents_journal_alive(tmp_path: Path) -> None:
    # AsyncVectorEnv-style: the child inherits the journal's descriptor by fork;
    # POSIX record locks are not inherited, so the journal is an orphan once
    # the parent is gone even while the child lives
    db = tmp_path / "m.db"
    url = sqlite_url(db)
    ready, release = FORK.Event(), FORK.Event()

    def parent() -> None:
        journal_module.FLUSH_INTERVAL_S = 3600.0
        env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "f", flush_every=10**6)
        run_episodes(env, 5)
        child = FORK.Process(target=release.wait, args=(60,))
        child.start()
        ready.set()
        time.sleep(60)

    proc = FORK.Process(target=parent)
    proc.start()
    assert ready.wait(60)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join(60)
    try:
        rows = read_episodes(url, "f")
        assert [r["episode_num"] for r in rows] == list(range(5))
    finally:
        release.set()


def test_a_child_forked_during_an_ingestion_does_not_hold_its_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the ingesters' flock belongs to the open folder descriptor, which a forked
    # child shares: unless the child closes its copy, every later ingester (and
    # so every writer opening the database) would wait for as long as it lives
    import fcntl

    db = tmp_path / "m.db"
    folder = journal_folder(db)
    folder.mkdir()
    inside, leave = threading.Event(), threading.Event()

    def held_ingestion(*args: Any) -> int:
        inside.set()
        assert leave.wait(30)
        return 0

    monkeypatch.setattr(journal_module, "_ingest", held_ingestion)
    ingester = threading.Thread(target=ingest_orphans, args=(db,))
    ingester.start()
    assert inside.wait(30)
    running, release = FORK.Event(), FORK.Event()

    def child_body() -> None:
        running.set()  # after the fork hooks ran
        release.wait(60)

    child = FORK.Process(target=child_body)  # forked while the lock is held
    child.start()
    assert running.wait(30)
    leave.set()
    ingester.join(30)
    try:
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # BlockingIOError if the child holds it
        finally:
            os.close(fd)
        assert child.is_alive()
    finally:
        release.set()
        child.join(30)


# -- live runs --------------------------------------------------------------------------
def test_a_live_run_is_committed_without_flush(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    url = sqlite_url(db)
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "live")
    run_episodes(env, 4)
    # the live writer's own, locked (two while a commit is between its rotation
    # and the deletion of the committed segment)
    assert 1 <= len(segments(db)) <= 2
    # the background thread commits within FLUSH_INTERVAL_S (polled, no time limit)
    deadline = time.monotonic() + 60
    while len(query(url, "SELECT id FROM episode")) < 4 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(query(url, "SELECT id FROM episode")) == 4
    # a reader does not ingest a live writer's journal
    assert ingest_orphans(db) == 0
    run_episodes(env, 2)
    env.close()
    assert [r["episode_num"] for r in read_episodes(url, "live")] == list(range(6))
    assert segments(db) == []  # a clean close leaves no journal


def test_flush_every_wakes_the_commit(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    url = sqlite_url(db)
    old = journal_module.FLUSH_INTERVAL_S
    journal_module.FLUSH_INTERVAL_S = 3600.0
    try:
        env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "w", flush_every=3)
        run_episodes(env, 3)
        deadline = time.monotonic() + 60
        while len(query(url, "SELECT id FROM episode")) < 3 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(query(url, "SELECT id FROM episode")) == 3
        # the flusher is woken once per batch, when the queue reaches it: again here
        run_episodes(env, 3)
        deadline = time.monotonic() + 60
        while len(query(url, "SELECT id FROM episode")) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(query(url, "SELECT id FROM episode")) == 6
        env.close()
    finally:
        journal_module.FLUSH_INTERVAL_S = old


def test_log_metrics_are_journaled_and_ingested_once(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    url = sqlite_url(db)

    def child() -> None:
        journal_module.FLUSH_INTERVAL_S = 3600.0
        env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "m", flush_every=10**6)
        run_episodes(env, 2)
        env.log_metrics(step=10, loss=0.5, lr=1e-3)
        env.log_metrics(step=20, loss=float("nan"))
        os.kill(os.getpid(), signal.SIGKILL)

    proc = FORK.Process(target=child)
    proc.start()
    proc.join(60)
    assert proc.exitcode == -signal.SIGKILL
    read_episodes(url)  # ingests
    ingest_orphans(db)  # a second time: nothing more
    assert sorted(query(url, "SELECT name, step, value FROM gymscope_metric")) == [
        ("loss", 10, 0.5),
        ("loss", 20, None),
        ("lr", 10, 1e-3),
    ]


def test_journal_false_commits_before_step_returns(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    url = sqlite_url(db)
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "sync", journal=False)
    run_episodes(env, 2)
    assert len(query(url, "SELECT id FROM episode")) == 2
    assert not journal_folder(db).exists()
    env.close()


def test_a_locked_database_keeps_rows_in_the_journal_and_retries(tmp_path: Path) -> None:
    db = tmp_path / "m.db"
    url = sqlite_url(db)
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "busy")
    run_episodes(env, 1)
    env.flush()
    query(url, "ALTER TABLE episode RENAME TO episode_away")
    run_episodes(env, 3)  # commits fail in the background; step() never raises
    assert journaled_episodes(db) >= 3
    query(url, "ALTER TABLE episode_away RENAME TO episode")
    env.close()
    assert [r["episode_num"] for r in read_episodes(url, "busy")] == list(range(4))
    assert segments(db) == []


def _dead_writers_rows(tmp_path: Path) -> tuple[Path, str, list[Any]]:
    """A database with 2 committed episodes; the values of its first row in
    COLUMNS order (for rows a dead writer journaled after it)."""
    from gymscope.metrics.codec import COLUMNS

    db = tmp_path / "m.db"
    url = sqlite_url(db)
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), url, "t")
    run_episodes(env, 2)
    env.close()
    journal_folder(db).mkdir(exist_ok=True)
    rows = query(url, "SELECT * FROM episode ORDER BY episode_num")
    assert len(rows) == 2
    columns = [c[1] for c in query(url, "PRAGMA table_info(episode)")]
    first = dict(zip(columns, rows[0], strict=True))
    return db, url, [first[c] for c in COLUMNS]


def _with_num(row: list[Any], num: int) -> list[Any]:
    from gymscope.metrics.codec import COLUMNS

    row = list(row)
    row[COLUMNS.index("episode_num")] = num
    return row


def test_journal_frames_survive_a_torn_last_frame(tmp_path: Path) -> None:
    db, url, row = _dead_writers_rows(tmp_path)
    journal = Journal(journal_folder(db), "deadbeef")
    journal.append_episode(_with_num(row, 2))
    whole = journal_module.frame(journal_module.row_body(_with_num(row, 3)))
    journal.append(whole[: len(whole) - 5])  # the copy cut short by a crash
    Journal.abandon(journal.current)
    assert ingest_orphans(db) == 1
    assert [r["episode_num"] for r in read_episodes(url, "t")] == [0, 1, 2]


def test_a_damaged_frame_is_skipped_and_the_next_ones_ingested(tmp_path: Path) -> None:
    db, url, row = _dead_writers_rows(tmp_path)
    journal = Journal(journal_folder(db), "deadbeef")
    frames = [journal_module.frame(journal_module.row_body(_with_num(row, n))) for n in (2, 3, 4)]
    damaged = bytearray(frames[1])
    damaged[-3] ^= 0xFF  # a flipped byte: its CRC no longer matches
    zeros = bytes(64)  # a page the disk never wrote, read back as zeros
    journal.append(frames[0] + bytes(damaged) + zeros + frames[2])
    Journal.abandon(journal.current)
    assert ingest_orphans(db) == 2
    assert [r["episode_num"] for r in read_episodes(url, "t")] == [0, 1, 2, 4]


def test_segments_of_the_former_json_lines_format_are_ingested(tmp_path: Path) -> None:
    # a dead writer of an earlier gymscope: one JSON line per row, a torn last line
    db, url, row = _dead_writers_rows(tmp_path)
    legacy = journal_folder(db) / "cafe.1.jsonl"
    metric = [row[0], 0, "loss", 7, 0.5, 1.0]
    lines = [json.dumps(["e", *_with_num(row, 2)]), json.dumps(["m", *metric]), '["e", 1, 3, 1.']
    legacy.write_text("\n".join(lines))
    assert ingest_orphans(db) == 1
    assert [r["episode_num"] for r in read_episodes(url, "t")] == [0, 1, 2]
    assert query(url, "SELECT name, step, value FROM gymscope_metric") == [("loss", 7, 0.5)]
    assert not legacy.exists()


def test_the_flusher_thread_runs_in_the_background(tmp_path: Path) -> None:
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), tmp_path / "m.db", "bg")
    run_episodes(env, 1)
    names = [t.name for t in threading.enumerate()]
    assert any(name.startswith("gymscope-flusher") for name in names)
    env.close()


def _stored(url: str) -> list[tuple[Any, ...]]:
    skip = ("experiment_id", "created_at", "duration_s")  # the run's own, and timings
    columns = ", ".join(c for c in COLUMNS if c not in skip)
    return query(url, f"SELECT {columns} FROM episode ORDER BY episode_num")


@pytest.mark.filterwarnings("ignore::gymscope.episode.NonFiniteRewardWarning")
@pytest.mark.parametrize("info_keys", [(), ("score",)])
def test_journaled_rows_equal_the_rows_of_a_commit_per_episode(
    tmp_path: Path, info_keys: tuple[str, ...]
) -> None:
    # every row kind of the journal: the usual episode (packed), and as JSON
    # rows those with captured info values, metrics or a NaN return
    script = [(1.5,), (2.0, -1.0), (1.0, 2.0, 3.0), (2.0, 0.0), (0.25,)] * 2
    script += [(float("nan"), 1.0), (3.0,)]  # NaN: it and the later moving averages
    urls = {}
    for journal in (True, False):
        db = tmp_path / f"{journal}.db"
        urls[journal] = url = sqlite_url(db)
        env = SQLiteLoggerWrapper(
            ScriptedEnv(script, truncate=[4], final_info={"score": 7}),
            url,
            "same",
            info_keys=info_keys,
            journal=journal,
        )
        env.reset()
        for n, rewards in enumerate(script):
            for _ in rewards:
                if n == 7:
                    env.log_metrics(actor_loss=0.5, other=2.0)
                env.step(0)
            env.reset()
        env.close()
    journaled, committed = _stored(urls[True]), _stored(urls[False])
    assert len(journaled) == 12
    assert repr(journaled) == repr(committed)  # repr: NaN-safe, exact floats
    plain = sum(row[-1] is None and row[5] is None for row in journaled)  # the packed ones
    assert plain == (0 if info_keys else 9)  # all but the metrics' and NaNs' rows
    times = [t for (t,) in query(urls[True], "SELECT created_at FROM episode")]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}", t) for t in times)
    assert times == sorted(times)


def test_a_frame_bigger_than_a_segment_gets_a_segment_its_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(journal_module, "SEGMENT_BYTES", 4096)
    db, url, row = _dead_writers_rows(tmp_path)
    journal = Journal(journal_folder(db), "deadbeef")
    assert journal.current.capacity == 4096
    assert journal.append_episode(_with_num(row, 2)) is None
    big = [(row[0], 0, f"metric_{i:04d}", 7, float(i), 1.0) for i in range(300)]
    first = journal.append_metrics(big)  # ~12 KB: does not fit
    assert first is not None and first.used < 4096 < len(journal_module.metrics_body(big))
    assert journal.current.capacity >= journal.current.used > 4096
    Journal.abandon(first)
    Journal.abandon(journal.current)
    assert ingest_orphans(db) == 1
    assert [r["episode_num"] for r in read_episodes(url, "t")] == [0, 1, 2]
    assert len(query(url, "SELECT name FROM gymscope_metric")) == 300
    assert segments(db) == []


def test_segments_are_mapped_only_where_allocated_blocks_stay_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kind = journal_module._filesystem(os.path.realpath(tmp_path))
    assert kind, "no filesystem found for the test folder in /proc/self/mountinfo"
    mapped = Journal(tmp_path / "a", "w").current
    assert (mapped.map is not None) == (kind in journal_module._ALLOCATING_FILESYSTEMS)
    Journal.discard(mapped)
    # a filesystem gymscope does not trust with a map (btrfs, NFS...): write()
    monkeypatch.setattr(journal_module, "_ALLOCATING_FILESYSTEMS", frozenset())
    journal = Journal(tmp_path / "b", "w")
    assert journal.current.map is None
    assert journal.append(journal_module.frame(b"\x03[]")) is None
    assert journal.current.path.stat().st_size == 11  # the frame, nothing else
    Journal.discard(journal.current)


def test_a_frame_after_a_stretch_of_garbage_is_found(tmp_path: Path) -> None:
    # bytes no writer wrote (a disk's stale block): every offset is tried,
    # and the whole frame after them is ingested
    db, url, row = _dead_writers_rows(tmp_path)
    journal = Journal(journal_folder(db), "deadbeef")
    garbage = random.Random(5).randbytes(200_000)
    journal.append(garbage + journal_module.frame(journal_module.row_body(_with_num(row, 2))))
    Journal.abandon(journal.current)
    assert ingest_orphans(db) == 1
    assert [r["episode_num"] for r in read_episodes(url, "t")] == [0, 1, 2]


def test_an_episode_that_does_not_pack_is_journaled_as_its_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a value beyond the packed layout (an int past 64 bits) takes the JSON row
    from gymscope.metrics import writer as writer_module

    def refuse(*values: Any) -> bytes:
        raise struct.error("int too large to convert")

    monkeypatch.setattr(writer_module, "compact_episode", refuse)
    db = tmp_path / "m.db"
    env = SQLiteLoggerWrapper(ScriptedEnv(SCRIPT), db, "big")
    run_episodes(env, 4)
    assert journaled_episodes(db) == 4
    env.close()
    rows = read_episodes(sqlite_url(db), "big")
    assert [(r["reward"], r["length"]) for r in rows] == [script_episode(i) for i in range(4)]

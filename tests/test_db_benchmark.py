"""benchmarks/db_logging.py on small sizes: its figures, as data.

Timings are never asserted here (STYLE.md: performance claims live in
benchmarks/, not in timed tests).
"""

from __future__ import annotations

import pytest

from stubs import load_script


@pytest.mark.slow
def test_small_run_measures_every_variant_and_the_whole_run() -> None:
    bench = load_script("benchmarks/db_logging.py")
    cost, run = bench.run(rounds=2, episodes=40, run_episodes=40, chunks=2, warmup=2)

    expected = [
        "bare env",
        "(a) SQLiteLoggerWrapper",
        "(b) velora: ORM commit, DELETE journal",
        *["(c) SB3 Monitor, CSV"] * (bench.sb3_monitor() is not None),
        "(d) raw sqlite3 commit, WAL [floor]",
        "(d') (d) with SQLite's defaults",
        "(e) ORM commit, WAL",
        "(a') SQLiteLoggerWrapper(journal=False)",
        "(f) one write() of a packed record",
    ]
    assert cost.names() == expected
    assert (cost.reference, cost.baseline) == ("(d) raw sqlite3 commit, WAL [floor]", "bare env")
    assert cost.figure("(d) raw sqlite3 commit, WAL [floor]").ratio_to_reference == 1.0
    assert all(f.median_s > 0 and f.rounds == 2 for f in cost.figures)
    assert cost.figure("(a) SQLiteLoggerWrapper").units == 2 * 40  # every episode end
    assert cost.figure("(b) velora: ORM commit, DELETE journal").units == 2 * 2  # plays fewer
    assert "(target <= 30 us: " in cost.notes[0]
    assert any(note.startswith("(a') SQLiteLoggerWrapper(journal=False): ") for note in cost.notes)

    assert run.names() == [
        "bare",
        "logged",
        "floor",
        "logged, journal=False",
        "pass-through gym.Wrapper",
        "gymnasium RecordEpisodeStatistics",
    ]
    assert run.figure("bare").ratio_to_reference == 1.0
    assert all(f.units == 40 and f.rounds == 2 and f.total_s > 0 for f in run.figures)
    # all seeded alike: the three played the same episodes
    steps = {run.values[f"{name} steps"] for name in run.names()}
    assert len(steps) == 1
    assert run.values["first write ms"] > 0
    assert any(note.startswith("run time ratio logged/bare: ") for note in run.notes)
    assert any(note.startswith("without the journal (journal=False") for note in run.notes)
    assert any(note.startswith("the least any wrapper costs") for note in run.notes)

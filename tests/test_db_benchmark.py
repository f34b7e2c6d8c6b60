"""Smoke test of benchmarks/db_logging.py: it runs and prints its report.

Only the shape of the output is checked; timings are never asserted here
(STYLE.md: performance claims live in benchmarks/, not in timed tests).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stubs import load_script


@pytest.mark.slow
def test_quick_run_prints_every_variant_and_both_targets(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    load_script("benchmarks/db_logging.py").main(["--quick"])
    lines = capsys.readouterr().out.splitlines()

    header = next(i for i, line in enumerate(lines) if line.startswith("variant "))
    for column in ("median us", "mean us", "p99 us", "median/floor", "mean/floor"):
        assert column in lines[header]
    table = lines[header + 2 : lines.index("", header)]
    variants = {line[:40].strip() for line in table}
    expected = {
        "bare env",
        "(a) SQLiteLoggerWrapper",
        "(b) velora: ORM commit, DELETE journal",
        "(d) raw sqlite3 commit, WAL [floor]",
        "(d') (d) with SQLite's defaults",
        "(e) ORM commit, WAL",
    }
    sb3_skipped = any("(c) SB3 Monitor skipped" in line for line in lines)
    assert variants == (expected if sb3_skipped else expected | {"(c) SB3 Monitor, CSV"})

    ours = next(line for line in lines if line.startswith("(a) SQLiteLoggerWrapper: "))
    assert "us/episode median (target <= 30 us: " in ours and "the floor's median" in ours
    assert any(line.startswith("(b) velora: ") and "ms/episode" in line for line in lines)
    run = next(line for line in lines if line.startswith("CartPole-v1, random policy, 40 "))
    assert "steps each way)" in run  # both played the same episodes
    ratio = next(line for line in lines if line.startswith("run time ratio logged/bare: "))
    assert "(target <= 1.15: " in ratio
    assert any(line.startswith("floor/bare: ") for line in lines)
    assert any(line.startswith("first write ") for line in lines)
    assert list(tmp_path.iterdir()) == []  # the databases lived in a temporary directory

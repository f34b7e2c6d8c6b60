"""Smoke test of benchmarks/curves.py: it runs and prints its report.

Only the shape of the output is checked; timings are never asserted here
(STYLE.md: performance claims live in benchmarks/, not in timed tests).
"""

from __future__ import annotations

import pytest

from stubs import load_script


@pytest.mark.slow
def test_quick_run_prints_every_section(capsys: pytest.CaptureFixture[str]) -> None:
    load_script("benchmarks/curves.py").main(["--quick"])
    lines = capsys.readouterr().out.splitlines()

    header = next(i for i, line in enumerate(lines) if line.startswith("variant "))
    variants = {line[:40].strip() for line in lines[header + 1 : header + 7]}
    assert variants == {
        "raw env",
        "EpisodeStatsWrapper",
        "CurveRecorderWrapper",
        "CurveRecorderWrapper, no checkpoints",
        "naive reference",
        "naive reference, no checkpoints",
    }
    assert any(
        line.startswith("CurveRecorderWrapper adds ") and " ratio " in line for line in lines
    )

    table = lines[next(i for i, line in enumerate(lines) if line.startswith("recorder ")) :]
    ours = [line for line in table if line.startswith("gymscope ")]
    naive = [line for line in table if line.startswith("naive reference ")]
    assert [line.split()[1] for line in ours] == ["1,000", "5,000", "20,000"]
    assert len(naive) == 3 and all(len(line.split()) >= 6 for line in ours)
    assert sum(line.startswith("at ") and "gymscope/naive" in line for line in lines) >= 1
    targets = next(line for line in lines if line.startswith("targets at 20,000 episodes"))
    for part in ("save ", "SVG ", "PNG "):
        assert part in targets

    io_line = next(line for line in lines if line.startswith("checkpoint I/O over 5,000"))
    assert "the final history" in io_line and "full rewrites would write" in io_line
    assert "(target <= 10x: " in io_line


def test_naive_moving_average_is_the_plain_definition() -> None:
    bench = load_script("benchmarks/curves.py")
    assert bench.naive_moving_average([1.0, 3.0, 5.0], 2) == [1.0, 2.0, 4.0]

"""Smoke test of benchmarks/video.py: it runs and prints its report.

Only the shape of the output is checked; timings and memory figures are never
asserted here (STYLE.md: performance claims live in benchmarks/, not in
timed tests).
"""

from __future__ import annotations

import sys

import pytest

from stubs import load_script


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the benchmark reads /proc")
def test_quick_run_prints_time_memory_and_targets(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    load_script("benchmarks/video.py").main(["--quick"])
    lines = capsys.readouterr().out.splitlines()

    header = next(line for line in lines if line.lstrip().startswith("frames  variant"))
    for column in ("ms/episode", "/render only", "stall ms"):
        assert column in header
    for variant in ("render only", "RecordVideo", "ScheduledRecordVideo", "imageio streaming"):
        rows = [line for line in lines if f"  {variant} " in line and "MB" not in line]
        assert len(rows) >= 2, variant  # one per episode length, in the time table

    moviepy_header = next(line for line in lines if line.startswith("writer "))
    assert all(column in moviepy_header for column in ("ms/frame", "stall ms", "frames"))
    assert any(line.startswith("moviepy streaming ") for line in lines)

    memory_header = next(line for line in lines if "Python growth MB" in line)
    assert "encoder peak MB" in memory_header
    for variant in ("ScheduledRecordVideo gif", "Pillow gif (all frames)"):
        assert any(f"  {variant} " in line for line in lines), variant

    targets = [line for line in lines if "(target <=" in line]
    assert [line.split(":")[0].split(" at ")[0].split(" of ")[0] for line in targets] == [
        "Python peak RSS growth",
        "time / render only",
        "finalisation stall",
        "GIF",
    ]
    assert all(line.endswith(("met)", "NOT met)")) for line in targets)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the benchmark reads /proc")
def test_moviepy_comparison_returns_figures_and_decoded_frame_counts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    result = load_script("benchmarks/video.py").compare_moviepy(9, 1)
    assert set(result) == {"ScheduledRecordVideo", "moviepy streaming"}
    for row in result.values():
        assert row["frames"] == row["given"] == 10  # decoded from the files
        assert row["frame_ms"] > 0 and row["stall_ms"] > 0 and row["python_growth_mb"] >= 0


def test_fixed_length_cartpole_truncates_exactly() -> None:
    env = load_script("benchmarks/video.py").FixedLengthCartPole(30)
    env.reset(seed=0)
    ends = [env.step(0)[3] for _ in range(30)]
    assert ends == [False] * 29 + [True]
    frame = env.render()
    assert frame.shape == (400, 600, 3)
    env.close()

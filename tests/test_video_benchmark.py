"""benchmarks/video.py on tiny sizes: its figures, as data.

Timings and memory figures are never asserted here (STYLE.md: performance
claims live in benchmarks/, not in timed tests).
"""

from __future__ import annotations

import sys

import pytest

from stubs import load_script

TIMED = ["render only", "RecordVideo", "ScheduledRecordVideo", "imageio streaming"]


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the benchmark reads /proc")
def test_tiny_run_measures_time_memory_and_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    bench = load_script("benchmarks/video.py")
    results = bench.run(lengths=(10, 20), rounds=1, gif_length=9, moviepy_length=None)
    times, memory, targets = results[:2], results[2:5], results[5]

    for result, length in zip(times, (10, 20), strict=True):
        assert result.names() == TIMED
        assert (result.params["length"], result.params["frames"]) == (length, length + 1)
        assert result.figure("render only").ratio_to_reference == 1.0
        for figure in result.figures:
            assert figure.median_s > 0 and figure.rounds == 1 and figure.per_unit == "episode"
            assert {"Python CPU ms/frame", "encoder CPU ms/frame"} <= set(figure.extra)
        assert "stall ms" not in result.figure("render only").extra
        assert all("stall ms" in result.figure(name).extra for name in TIMED[1:])

    assert [r.names() for r in memory] == [
        ["RecordVideo", "ScheduledRecordVideo", "imageio streaming"],
        ["RecordVideo", "ScheduledRecordVideo", "imageio streaming"],
        ["ScheduledRecordVideo gif", "Pillow gif (all frames)"],
    ]
    assert [r.params["frames"] for r in memory] == [11, 21, 10]
    for result in memory:
        assert all(f.extra["Python growth MB"] >= 0 for f in result.figures)
        assert result.figure(result.reference).ratio_to_reference == 1.0

    assert set(targets.values) == set(bench.TARGETS)
    assert [note.split(":")[0].split(" at ")[0].split(" of ")[0] for note in targets.notes] == [
        "Python peak RSS growth",
        "time / render only",
        "finalisation stall",
        "GIF",
    ]
    assert all(note.endswith(("met)", "NOT met)")) for note in targets.notes)


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the benchmark reads /proc")
def test_moviepy_comparison_measures_per_frame_and_counts_decoded_frames(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")
    result = load_script("benchmarks/video.py").compare_moviepy(9, 1)
    assert result.names() == ["render only", "ScheduledRecordVideo", "moviepy streaming"]
    assert (result.per_unit, result.baseline, result.params["frames"]) == (
        "frame",
        "render only",
        10,
    )
    for name in ("ScheduledRecordVideo", "moviepy streaming"):
        figure = result.figure(name)
        assert figure.added_s is not None and figure.extra["stall ms"] > 0
        assert {"Python CPU ms/frame", "encoder CPU ms/frame"} <= set(figure.extra)
        assert result.values[f"{name} frames"] == result.values["frames given"] == 10  # decoded
        assert result.values[f"{name} Python growth MB"] >= 0
    assert len(result.notes) == 2


def test_fixed_length_cartpole_truncates_exactly() -> None:
    env = load_script("benchmarks/video.py").FixedLengthCartPole(30)
    env.reset(seed=0)
    ends = [env.step(0)[3] for _ in range(30)]
    assert ends == [False] * 29 + [True]
    frame = env.render()
    assert frame.shape == (400, 600, 3)
    env.close()

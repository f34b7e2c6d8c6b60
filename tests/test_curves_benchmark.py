"""benchmarks/curves.py on small sizes: its figures, as data.

Timings are never asserted here (STYLE.md: performance claims live in
benchmarks/, not in timed tests).
"""

from __future__ import annotations

import pytest

from stubs import load_script


@pytest.mark.slow
def test_small_run_measures_every_section() -> None:
    bench = load_script("benchmarks/curves.py")
    results = bench.run(
        sizes=(1_000, 5_000, 20_000), per_episode=2_000, rounds=2, checkpoint_run=5_000, budget=5.0
    )
    per_episode, *saves, checkpoints = results

    assert per_episode.names() == [
        "raw env",
        "EpisodeStatsWrapper",
        "CurveRecorderWrapper",
        "CurveRecorderWrapper, no checkpoints",
        "naive reference",
        "naive reference, no checkpoints",
    ]
    assert (per_episode.reference, per_episode.baseline) == ("naive reference", "raw env")
    assert per_episode.figure("naive reference").ratio_to_reference == 1.0
    assert all(f.median_s > 0 and f.units == 2 * 2_000 for f in per_episode.figures)
    assert per_episode.notes[0].startswith("CurveRecorderWrapper adds ")

    assert [r.params["episodes"] for r in saves] == [1_000, 5_000, 20_000]
    for save in saves:
        ours = save.figure("gymscope")
        assert ours.median_s > 0 and ours.rounds == 1
        assert set(ours.extra) == {"SVG kB", "PNG kB", "history MB"}
        if "naive reference" in save:
            assert save.figure("naive reference").ratio_to_reference == 1.0
        else:
            assert ours.ratio_to_reference is None and "skipped" in save.notes[0]
    assert "naive reference" in saves[0]
    targets = saves[-1].notes[-1]
    assert targets.startswith("targets at 20,000 episodes: ")
    assert all(part in targets for part in ("save ", "SVG ", "PNG "))

    assert checkpoints.params == {"episodes": 5_000, "every": 10}
    assert set(checkpoints.values) == {"ours_bytes", "final_bytes", "naive_bytes"}
    assert 0 < checkpoints.values["final_bytes"] <= checkpoints.values["ours_bytes"]
    assert "(target <= 10x: " in checkpoints.notes[0]


def test_naive_moving_average_is_the_plain_definition() -> None:
    bench = load_script("benchmarks/curves.py")
    assert bench.naive_moving_average([1.0, 3.0, 5.0], 2) == [1.0, 2.0, 4.0]

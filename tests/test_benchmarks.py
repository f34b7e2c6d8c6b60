"""benchmarks/step_overhead.py, cli_startup.py and read_scale.py on tiny sizes, as data.

Only what the figures are is checked, never how fast anything is (STYLE.md:
performance claims live in benchmarks/, not in timed tests).
"""

from __future__ import annotations

import sqlite3
import sys
from pathlib import Path

import pytest

from stubs import load_script

VARIANTS = [
    "raw env",
    "EpisodeStatsWrapper",
    "RecordEpisodeStatistics",
    "EpisodeStatsWrapper x2",
    "RecordEpisodeStatistics x2",
]


@pytest.mark.slow
def test_step_overhead_figures(capsys: pytest.CaptureFixture[str]) -> None:
    bench = load_script("benchmarks/step_overhead.py")
    results = bench.run(rounds=2, repeats=2, noop_steps=100, cartpole_steps=50, import_runs=1)
    assert [r.name for r in results[:3]] == ["no-op env", "no-op no-end", "CartPole-v1"]
    sb3 = bench.sb3_monitor() is not None
    for result, steps in zip(results[:3], (100, 100, 50), strict=True):
        expected = VARIANTS[:3] + ["SB3 Monitor"] * sb3 + VARIANTS[3:]
        assert result.names() == expected
        assert (result.reference, result.baseline) == ("RecordEpisodeStatistics", "raw env")
        assert result.params["steps"] == steps
        for figure in result.figures:
            assert figure.per_unit == "step" and figure.median_s > 0
            assert figure.rounds == 2 and figure.units == 2 * steps
        reference = result.figure("RecordEpisodeStatistics")
        # at these tiny sizes a loaded machine can make the reference's added cost
        # <= 0 (the raw env's rounds were slower): then no ratio can be formed
        assert reference.ratio_to_reference == 1.0 or (
            reference.ratio_to_reference is None
            and reference.added_s is not None
            and reference.added_s <= 0
        )
        assert result.figure("raw env").added_s is None
        assert result.figure("EpisodeStatsWrapper").added_s is not None
    assert "(target <= 1.0: " in results[0].notes[0]
    assert any(note.startswith("split ") and "ns/episode" in note for note in results[1].notes)

    imports = results[3]
    assert imports.names() == [
        "import gymscope",
        "import gymscope; gymscope.EpisodeStatsWrapper",
        "import gymnasium",
    ]
    assert imports.figure("import gymnasium").ratio_to_reference == 1.0
    assert all(f.median_s > 0 and f.rounds == 1 and "wall ms" in f.extra for f in imports.figures)
    assert imports.values["heavy modules"] == 0
    assert any("(target: gymscope <= gymnasium + 50 ms" in note for note in imports.notes)

    for result in results:
        bench.print_table(result)
    out = capsys.readouterr().out
    assert all(f"{name} " in out for name in VARIANTS)


def test_noop_env_ends_episodes_every_25_steps() -> None:
    env = load_script("benchmarks/step_overhead.py").NoOpEnv()
    env.reset(seed=0)
    ends = [env.step(0)[2] for _ in range(25)]
    assert ends == [False] * 24 + [True]


@pytest.mark.slow
def test_cli_startup_figures() -> None:
    bench = load_script("benchmarks/cli_startup.py")
    result = bench.run(rounds=1)
    assert result.names()[:2] == ["python -c pass", "gymscope --help"]
    assert "gymscope demo --help" in result
    assert result.figure("python -c pass").ratio_to_reference == 1.0
    assert all(f.median_s > 0 and f.rounds == 1 and f.per_unit == "start" for f in result.figures)
    assert result.figure("gymscope --help").added_s is not None
    assert "the target < 300 ms" in result.notes[-1]


@pytest.mark.slow
def test_read_scale_figures(tmp_path: Path) -> None:
    bench = load_script("benchmarks/read_scale.py")
    db = tmp_path / "tiny.db"
    assert bench.build(db, 3 * 40, per_run=40) > 0  # 3 runs of 40 episodes, 4 workers
    with sqlite3.connect(db) as conn:
        counts = conn.execute(
            "SELECT experiment_id, count(*), count(DISTINCT worker) FROM episode GROUP BY 1"
        ).fetchall()
    conn.close()
    assert counts == [(1, 40, 4), (2, 40, 4), (3, 40, 4)]
    result = bench.run_size(db, 120, rounds=1, cache=tmp_path)
    assert result.names() == [bench.HELP, "runs", "show", "export", "plot", "report",
                              bench.AGGREGATE, bench.LAST_ROWS]  # fmt: skip
    assert result.figure(bench.HELP).ratio_to_reference == 1.0
    assert all(f.median_s > 0 and f.rounds == 1 for f in result.figures)
    assert all(result.figure(name).extra["peak RSS MB"] > 1 for name in bench.TARGETS_S)
    assert result.values["report HTML MB"] > 0


@pytest.mark.slow
def test_read_scale_makes_the_demo_database_once(tmp_path: Path) -> None:
    bench = load_script("benchmarks/read_scale.py")
    path = bench.demo_database(tmp_path)
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM episode").fetchone() == (500,)
    conn.close()
    made = path.stat().st_mtime_ns
    assert bench.demo_database(tmp_path) == path
    assert path.stat().st_mtime_ns == made  # reused, not made again


@pytest.mark.slow
def test_read_scale_peak_rss_is_the_commands_own() -> None:
    # Linux lends a command the RSS high-water mark of the process it was
    # spawned from: a benchmark holding a big build must not inflate it
    bench = load_script("benchmarks/read_scale.py")
    held = b"x" * (400 * 2**20)  # 400 MB of touched pages in this process
    small = bench.run_command([sys.executable, "-c", "pass"])
    big = bench.run_command([sys.executable, "-c", "b = b'x' * (200 * 2**20)"])
    assert len(held) == 400 * 2**20
    assert small.extra["peak RSS MB"] < 100
    assert 200 < big.extra["peak RSS MB"] < 400
    assert small.extra["CPU s"] > 0 and small.seconds > 0
    with pytest.raises(RuntimeError, match=r"(?s)failed: .*ZeroDivisionError"):
        bench.run_command([sys.executable, "-c", "1 / 0"])

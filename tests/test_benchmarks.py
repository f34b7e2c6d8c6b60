"""Smoke test of benchmarks/step_overhead.py: it runs and prints its report.

Only the shape of the output is checked; timings are never asserted here
(STYLE.md: performance claims live in benchmarks/, not in timed tests).
"""

from __future__ import annotations

import pytest

from stubs import load_script


@pytest.mark.slow
def test_quick_run_prints_table_summaries_and_import_report(
    capsys: pytest.CaptureFixture[str],
) -> None:
    load_script("benchmarks/step_overhead.py").main(["--quick"])
    lines = capsys.readouterr().out.splitlines()

    header = next(line for line in lines if line.startswith("env "))
    for column in ("variant", "ns/step total", "ns/step added", "added/gymnasium"):
        assert column in header
    for env_name in ("no-op env", "no-op no-end", "CartPole-v1"):
        rows = {
            line[len(env_name) :].strip().split("  ")[0]
            for line in lines
            if line.startswith(env_name + " ")
        }
        assert {
            "raw env",
            "EpisodeStatsWrapper",
            "RecordEpisodeStatistics",
            "EpisodeStatsWrapper x2",
            "RecordEpisodeStatistics x2",
        } <= rows
    for env_name in ("no-op env", "CartPole-v1"):
        summary = [line for line in lines if line.startswith(f"{env_name}: EpisodeStatsWrapper")]
        assert len(summary) == 1
        assert "RecordEpisodeStatistics adds" in summary[0]
        assert " ratio " in summary[0]
    assert "(target <= 1.0" in next(line for line in lines if line.startswith("no-op env: Ep"))
    split = next(line for line in lines if line.startswith("split "))
    assert "ns/episode" in split

    sb3_skipped = any("SB3 Monitor skipped" in line for line in lines)
    sb3_rows = any("SB3 Monitor" in line and line.startswith("no-op env ") for line in lines)
    assert sb3_skipped != sb3_rows

    assert any(line.startswith("import gymscope (lazy): ") for line in lines)
    wrapper_line = next(line for line in lines if line.startswith("import gymscope + wrapper: "))
    assert "import gymnasium: " in wrapper_line
    assert "difference: " in wrapper_line
    assert "(target: gymscope <= gymnasium + 50 ms" in wrapper_line
    heavy = next(line for line in lines if line.startswith("heavy modules: "))
    assert heavy.endswith("(ok)"), heavy


def test_noop_env_ends_episodes_every_25_steps() -> None:
    env = load_script("benchmarks/step_overhead.py").NoOpEnv()
    env.reset(seed=0)
    ends = [env.step(0)[2] for _ in range(25)]
    assert ends == [False] * 24 + [True]

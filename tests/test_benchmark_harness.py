"""benchmarks/_harness.py: interleaved rounds, figures as data, the table."""

from __future__ import annotations

import itertools
import json

import pytest

from stubs import load_script

harness = load_script("benchmarks/_harness.py")
Sample = harness.Sample


def test_rounds_interleave_cases_in_a_rotated_order() -> None:
    calls: list[str] = []
    cases = {name: (lambda name=name: calls.append(name) or 1.0) for name in "abc"}
    samples = harness.interleave(cases, rounds=3, warmup_rounds=1, collect=False)
    assert calls == list("cababcbcacab")  # the warm-up round is rotated back by one
    assert {name: len(rounds) for name, rounds in samples.items()} == dict.fromkeys("abc", 3)


def test_repeats_keep_the_fastest_call_of_a_round() -> None:
    times = iter([5.0, 2.0, 9.0, 4.0])
    samples = harness.interleave({"a": lambda: next(times)}, rounds=2, repeats=2, collect=False)
    assert [[s.seconds for s in r] for r in samples["a"]] == [[2.0], [4.0]]


def fixed(values: dict[str, list[float]], units: float = 10) -> dict[str, list[list[object]]]:
    return {name: [[Sample(v * units, units=units)] for v in vs] for name, vs in values.items()}


def test_added_cost_is_paired_per_round_and_ratios_are_of_added_costs() -> None:
    # the machine is twice as slow in round 2: pairing per round cancels it
    samples = fixed({"raw": [1.0, 2.0], "ref": [3.0, 6.0], "ours": [2.0, 4.0]})
    result = harness.summarize("t", samples, reference="ref", baseline="raw", per_unit="step")
    raw, ref, ours = (result.figure(n) for n in ("raw", "ref", "ours"))
    assert (ref.added_s, ours.added_s, raw.added_s) == (3.0, 1.5, None)
    assert (ref.ratio_to_reference, ours.ratio_to_reference) == (1.0, 0.5)
    assert raw.ratio_to_reference is None
    assert ours.round_s == (2.0, 4.0) and ours.median_s == 3.0
    assert (ours.units, ours.total_s, ours.rounds) == (20, 60.0, 2)
    assert (ours.min_s, ours.max_s) == (2.0, 4.0)


def test_without_baseline_ratios_are_of_medians() -> None:
    samples = fixed({"ref": [2.0, 2.0, 2.0], "b": [1.0, 3.0, 5.0]})
    result = harness.summarize("t", samples, reference="ref", per_unit="run")
    assert result.figure("b").ratio_to_reference == 1.5
    assert result.figure("ref").ratio_to_reference == 1.0
    assert result.figure("b").added_s is None
    assert (result.figure("b").q1_s, result.figure("b").q3_s) == (2.0, 4.0)


def test_samples_within_a_round_give_tails_and_extras_give_medians() -> None:
    round_ = [Sample(1.0, extra={"cpu": 1.0}), Sample(1.0), Sample(100.0, extra={"cpu": 3.0})]
    result = harness.summarize("t", {"a": [round_]}, reference="a", per_unit="episode")
    figure = result.figure("a")
    assert figure.median_s == 1.0 and figure.mean_s == 34.0 and figure.p99_s == 100.0
    assert figure.extra == {"cpu": 2.0}


def test_a_missing_reference_leaves_ratios_unknown() -> None:
    result = harness.summarize("t", fixed({"a": [1.0]}), reference="gone", per_unit="save")
    assert result.figure("a").ratio_to_reference is None
    with pytest.raises(KeyError, match="no figure 'gone'"):
        result.figure("gone")


def test_to_dict_is_plain_json() -> None:
    samples = fixed({"raw": [1.0], "ref": [2.0]})
    result = harness.summarize(
        "t", samples, reference="ref", baseline="raw", per_unit="step", params={"steps": 10}
    )
    data = json.loads(json.dumps(result.to_dict()))
    assert [f["name"] for f in data["figures"]] == ["raw", "ref"]
    assert data["params"] == {"steps": 10} and data["figures"][1]["ratio_to_reference"] == 1.0


def test_print_table_shows_every_figure_and_note(capsys: pytest.CaptureFixture[str]) -> None:
    samples = {
        "raw env": [[Sample(100e-9)]],
        "(d) floor [x]": [[Sample(300e-9, extra={"stall ms": 1.5})]],
    }
    result = harness.summarize(
        "overhead",
        samples,
        reference="(d) floor [x]",
        baseline="raw env",
        per_unit="step",
        notes=["verdict: met"],
    )
    harness.print_table(result, tails=True)
    out = capsys.readouterr().out
    assert out.startswith("overhead: medians over 1 round(s), per step; added = minus raw env")
    row = next(line for line in out.splitlines() if line.startswith("(d) floor [x]"))
    assert row.split()[3:6] == ["300.0", "200.0", "200.0..200.0"]  # markup is not parsed
    assert "1.00" in row and "1.50" in row
    assert "ns/step" in out and out.rstrip().endswith("verdict: met")


def test_rotation_covers_every_start() -> None:
    orders = {tuple(harness.rotated("abcd", shift)) for shift in range(4)}
    assert len(orders) == 4
    assert all(sorted(order) == list("abcd") for order in orders)
    assert list(itertools.chain(harness.rotated("ab", 3))) == ["b", "a"]

"""What every benchmark here shares: interleaved rounds, figures as data, one table.

The machine these run on is shared and noisy (3-4x swings in speed within a
minute), so cases never run as AAAA BBBB: every round runs every case once (or
``repeats`` times, keeping the fastest), in an order rotated every round so no
case always runs first or last, and each figure is a median over rounds beside
the reference measured in the same rounds.

- :func:`interleave` runs named cases and returns their :class:`Sample` s,
  round by round.
- :func:`summarize` turns samples into a :class:`Result`: one frozen
  :class:`Figure` per case (median per unit, ratio to the reference, the
  per-round values), plus whatever else the benchmark measured as ``values``
  and its verdicts as ``notes``.
- :func:`print_table` renders a result; tests check the result itself.

A case is a callable taking no argument that returns the seconds it took, as
a float (one unit), a :class:`Sample` (``units`` of work, and any other
measures of that call in ``extra``) or a list of samples (several units
timed one by one, e.g. every episode end of a round).

With a ``baseline`` (the bare env, say), a figure also gets ``added_s``: its
per-round value minus the baseline's in the same round, median over rounds;
its ratio to the reference is then the ratio of added costs. Without one the
ratio is of medians.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "Case",
    "Figure",
    "Result",
    "Sample",
    "Samples",
    "interleave",
    "measure",
    "print_table",
    "require_positive",
    "rotated",
    "summarize",
]


@dataclass(frozen=True)
class Sample:
    """One timed call of a case: ``seconds`` for ``units`` of work, and other measures."""

    seconds: float
    units: float = 1
    extra: Mapping[str, float] = field(default_factory=dict)

    @property
    def per_unit(self) -> float:
        return self.seconds / self.units


Case = Callable[[], "float | Sample | Sequence[Sample]"]
#: Per case, per round, the samples of that round.
Samples = dict[str, list[list[Sample]]]


@dataclass(frozen=True)
class Figure:
    """What one case measured, over every round.

    Attributes:
        name: The case.
        per_unit: What a unit is (``"step"``, ``"episode"``, ``"start"``...).
        median_s: Median seconds per unit over every sample of every round.
        ratio_to_reference: ``added_s`` over the reference's ``added_s`` when
            the result has a baseline other than the reference, else
            ``median_s`` over the reference's; ``None`` for the baseline, or
            when the reference was not run.
        rounds: Rounds that measured this case.
        added_s: Median over rounds of (this case - the baseline) per unit,
            paired per round; ``None`` without a baseline and for the
            baseline itself.
        q1_s, q3_s: Inter-quartile range of the per-round added cost (of the
            per-round value without a baseline): the noise.
        min_s, max_s: Fastest and slowest per-round value.
        mean_s: Mean seconds per unit over every sample (rare slow ones count).
        p99_s: 99th percentile seconds per unit over every sample.
        units: Units of work measured in all.
        total_s: Seconds measured in all.
        round_s: Each round's value (median per unit of that round's samples).
        extra: Per extra measure, the median over rounds of each round's median.
    """

    name: str
    per_unit: str
    median_s: float
    ratio_to_reference: float | None
    rounds: int
    added_s: float | None
    q1_s: float
    q3_s: float
    min_s: float
    max_s: float
    mean_s: float
    p99_s: float
    units: float
    total_s: float
    round_s: tuple[float, ...]
    extra: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["round_s"] = list(self.round_s)
        out["extra"] = dict(self.extra)
        return out


@dataclass(frozen=True)
class Result:
    """One measurement of a benchmark: its figures, sizes, other values, verdicts.

    Attributes:
        name: What was measured (the table's title).
        per_unit: What a unit of ``median_s`` is.
        reference: The case ratios are taken against.
        baseline: The case subtracted for ``added_s`` (``None``: nothing).
        figures: One per case, in the order the cases were given.
        params: The sizes the run used (rounds, steps, episodes...).
        values: Other numbers the benchmark measured (bytes, MB, counts).
        notes: Lines that say what the figures mean (targets met or not).
    """

    name: str
    per_unit: str
    reference: str
    baseline: str | None
    figures: tuple[Figure, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    values: Mapping[str, float] = field(default_factory=dict)
    notes: tuple[str, ...] = ()

    def figure(self, name: str) -> Figure:
        for figure in self.figures:
            if figure.name == name:
                return figure
        raise KeyError(f"no figure {name!r} in {self.name!r}; have {self.names()}")

    def names(self) -> list[str]:
        return [figure.name for figure in self.figures]

    def __contains__(self, name: object) -> bool:
        return any(figure.name == name for figure in self.figures)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "per_unit": self.per_unit,
            "reference": self.reference,
            "baseline": self.baseline,
            "figures": [figure.to_dict() for figure in self.figures],
            "params": dict(self.params),
            "values": dict(self.values),
            "notes": list(self.notes),
        }


# -- running ---------------------------------------------------------------------------


def rotated(names: Sequence[str], shift: int) -> list[str]:
    """``names`` started at ``shift`` (modulo its length): the order of one round."""
    shift %= len(names)
    return [*names[shift:], *names[:shift]]


def _as_samples(out: float | Sample | Sequence[Sample]) -> list[Sample]:
    if isinstance(out, Sample):
        return [out]
    if isinstance(out, (int, float)):
        return [Sample(float(out))]
    return list(out)


def interleave(
    cases: Mapping[str, Case],
    rounds: int,
    *,
    repeats: int = 1,
    warmup_rounds: int = 0,
    collect: bool = True,
) -> Samples:
    """Run every case once per round (ABCABC..., rotated every round).

    Args:
        cases: Name to case, in the order figures are reported.
        rounds: Timed rounds.
        repeats: Calls of every case per round, round-robin; the fastest
            call is kept (on a shared machine a call is only ever slowed down).
        warmup_rounds: Untimed rounds first (imports, caches, first writes).
        collect: ``gc.collect()`` before each call, so that no case pays for
            another's garbage.
    """
    if rounds < 1 or repeats < 1 or warmup_rounds < 0:
        raise ValueError(f"need rounds, repeats >= 1: got {rounds}, {repeats}")
    names = list(cases)
    samples: Samples = {name: [] for name in names}
    for r in range(-warmup_rounds, rounds):
        best: dict[str, list[Sample]] = {}
        for rep in range(repeats):
            for name in rotated(names, r * repeats + rep):
                if collect:
                    gc.collect()
                got = _as_samples(cases[name]())
                if r < 0:
                    continue
                kept = best.get(name)
                if kept is None or _round_value(got) < _round_value(kept):
                    best[name] = got
        if r >= 0:
            for name in names:
                samples[name].append(best[name])
    return samples


def measure(
    name: str,
    cases: Mapping[str, Case],
    *,
    rounds: int,
    reference: str,
    per_unit: str,
    baseline: str | None = None,
    repeats: int = 1,
    warmup_rounds: int = 0,
    params: Mapping[str, Any] | None = None,
) -> Result:
    """:func:`interleave` then :func:`summarize`."""
    samples = interleave(cases, rounds, repeats=repeats, warmup_rounds=warmup_rounds)
    return summarize(
        name,
        samples,
        reference=reference,
        per_unit=per_unit,
        baseline=baseline,
        params={"rounds": rounds, "repeats": repeats, **(params or {})},
    )


def require_positive(
    parser: argparse.ArgumentParser, args: argparse.Namespace, *names: str
) -> None:
    """A command-line error unless every option ``names`` (as attributes) is >= 1."""
    for name in names:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")


# -- summarizing -----------------------------------------------------------------------


def _round_value(samples: Sequence[Sample]) -> float:
    return statistics.median(s.per_unit for s in samples)


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def _quartiles(values: Sequence[float]) -> tuple[float, float]:
    if len(values) < 2:
        return values[0], values[0]
    q = statistics.quantiles(values, n=4, method="inclusive")
    return q[0], q[2]


def summarize(
    name: str,
    samples: Samples,
    *,
    reference: str,
    per_unit: str,
    baseline: str | None = None,
    params: Mapping[str, Any] | None = None,
    values: Mapping[str, float] | None = None,
    notes: Iterable[str] = (),
) -> Result:
    """Figures of ``samples`` (as :func:`interleave` returns them), as a :class:`Result`.

    ``reference`` may be missing from ``samples`` (a reference too slow to run
    at this size): ratios are then ``None``.
    """
    per_round = {case: [_round_value(r) for r in rounds] for case, rounds in samples.items()}
    base = per_round.get(baseline) if baseline is not None else None
    added: dict[str, list[float] | None] = {}
    for case, values_ in per_round.items():
        if base is None or case == baseline:
            added[case] = None
        else:
            added[case] = [v - b for v, b in zip(values_, base, strict=True)]
    medians = {case: statistics.median(v) for case, v in per_round.items()}
    added_medians = {case: None if a is None else statistics.median(a) for case, a in added.items()}
    by_added = baseline is not None and baseline != reference

    def ratio(case: str) -> float | None:
        if reference not in samples:
            return None
        if by_added:
            mine, theirs = added_medians[case], added_medians[reference]
        else:
            mine, theirs = medians[case], medians[reference]
        if mine is None or theirs is None or theirs <= 0:
            return None
        return mine / theirs

    figures = []
    for case, rounds in samples.items():
        flat = [s for r in rounds for s in r]
        each = [s.per_unit for s in flat]
        spread = added[case] or per_round[case]
        q1, q3 = _quartiles(spread)
        keys = list(dict.fromkeys(key for s in flat for key in s.extra))
        extra = {
            key: statistics.median(
                statistics.median(s.extra[key] for s in r if key in s.extra)
                for r in rounds
                if any(key in s.extra for s in r)
            )
            for key in keys
        }
        figures.append(
            Figure(
                name=case,
                per_unit=per_unit,
                median_s=statistics.median(each),
                ratio_to_reference=ratio(case),
                rounds=len(rounds),
                added_s=added_medians[case],
                q1_s=q1,
                q3_s=q3,
                min_s=min(per_round[case]),
                max_s=max(per_round[case]),
                mean_s=statistics.fmean(each),
                p99_s=_percentile(each, 0.99),
                units=sum(s.units for s in flat),
                total_s=sum(s.seconds for s in flat),
                round_s=tuple(per_round[case]),
                extra=extra,
            )
        )
    return Result(
        name=name,
        per_unit=per_unit,
        reference=reference,
        baseline=baseline,
        figures=tuple(figures),
        params=dict(params or {}),
        values=dict(values or {}),
        notes=tuple(notes),
    )


# -- printing --------------------------------------------------------------------------

_SCALES = ((1e-6, "ns", 1e9), (1e-3, "us", 1e6), (1.0, "ms", 1e3))


def _scale(seconds: Iterable[float]) -> tuple[str, float]:
    """The unit that shows the typical magnitude of ``seconds`` with a few digits."""
    typical = statistics.median([abs(s) for s in seconds] or [0.0])
    for limit, unit, factor in _SCALES:
        if typical < limit:
            return unit, factor
    return "s", 1.0


def _number(value: float | None, digits: int | None = None) -> str:
    """``value`` with ``digits`` decimals; by default about three significant digits."""
    if value is None or math.isnan(value):
        return "-"
    if digits is None:
        digits = 2 if abs(value) < 10 else 1 if abs(value) < 1000 else 0
    return f"{value:,.{digits}f}"


def print_table(result: Result, *, tails: bool = False, width: int = 160) -> None:
    """Print ``result``: a title, one row per figure, then its notes.

    Columns: the case, its median per unit, the added cost and its
    inter-quartile range (with a baseline), the ratio to the reference, the
    rounds and units measured, then one column per extra measure. ``tails``
    adds the mean and the 99th percentile over every sample (minus the
    baseline's, with a baseline): where rare slow calls show.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table

    console = Console(width=width, highlight=False, soft_wrap=True, markup=False, emoji=False)
    figures = result.figures
    how = (
        f"added = minus {result.baseline} in the same round; ratio of added costs"
        if result.baseline is not None and result.baseline != result.reference
        else "ratio of medians"
    )
    if not figures:
        console.print(result.name)
    else:
        rounds = "/".join(str(r) for r in sorted({f.rounds for f in figures}))
        console.print(
            f"{result.name}: medians over {rounds} round(s), per {result.per_unit}; {how} "
            f"vs {result.reference}"
        )
    if figures:
        unit, factor = _scale(f.median_s for f in figures)
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        table.add_column("case")
        table.add_column(f"{unit}/{result.per_unit}", justify="right")
        with_added = any(f.added_s is not None for f in figures)
        if with_added:
            added_unit, added_factor = _scale(f.added_s for f in figures if f.added_s is not None)
            table.add_column(f"added {added_unit}", justify="right")
            table.add_column("added IQR", justify="right")
        baseline = None
        if result.baseline is not None and result.baseline in result:
            baseline = result.figure(result.baseline)
        if tails:
            tail_unit, tail_factor = _scale(f.mean_s for f in figures)
            minus = " added" if baseline is not None else ""
            table.add_column(f"mean{minus} {tail_unit}", justify="right")
            table.add_column(f"p99{minus} {tail_unit}", justify="right")
        table.add_column("ratio", justify="right")
        table.add_column("rounds", justify="right")
        table.add_column(f"{result.per_unit}s", justify="right")
        extras = list(dict.fromkeys(key for f in figures for key in f.extra))
        for key in extras:
            table.add_column(key, justify="right")
        for f in figures:
            row = [f.name, _number(f.median_s * factor)]
            if with_added:
                if f.added_s is None:
                    row += ["-", "-"]
                else:
                    row += [
                        _number(f.added_s * added_factor),
                        f"{_number(f.q1_s * added_factor)}..{_number(f.q3_s * added_factor)}",
                    ]
            if tails:
                if baseline is None:
                    row += [_number(f.mean_s * tail_factor), _number(f.p99_s * tail_factor)]
                elif f is baseline:
                    row += ["-", "-"]
                else:
                    row += [
                        _number((f.mean_s - baseline.mean_s) * tail_factor),
                        _number((f.p99_s - baseline.p99_s) * tail_factor),
                    ]
            row.append(_number(f.ratio_to_reference, 2))
            row.append(str(f.rounds))
            row.append(f"{f.units:,.0f}")
            row += [_number(f.extra.get(key), 2) for key in extras]
            table.add_row(*row)
        console.print(table)
    for note in result.notes:
        console.print(note)

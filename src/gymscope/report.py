"""The HTML report: every run of a metrics database on one page to share.

:func:`write_report` writes a single self-contained HTML file: a table of the
runs, a chart comparing them, and per run its statistics, its training curves
(inline SVG, drawn by :mod:`gymscope.charts`), its videos and GIFs with their
returns (read from the JSON sidecars
:class:`~gymscope.wrappers.video.ScheduledRecordVideo` writes) and its
configuration. Styles are inline and nothing is loaded from the network: the
file opens anywhere, offline. Videos are not embedded; they are linked by
paths relative to the report, so keep the report next to the run's folder
(or move both together).

Every string that comes from the user or the database (experiment names,
env ids, config keys and values, file names) is HTML-escaped, and a Content
Security Policy forbids scripts altogether, so a hostile name cannot run
code in a reader's browser.

A video belongs to the run that stored the episode it shows: same episode
number, same return. When several runs match, the one whose name or env id
starts the file name wins, then the one that was running when the file was
written (or ended closest to it), then the latest. Videos that match no run
are shown at the end.

>>> import tempfile, gymnasium as gym
>>> from pathlib import Path
>>> from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
>>> folder = Path(tempfile.mkdtemp())
>>> env = SQLiteLoggerWrapper(gym.make("CartPole-v1"), folder / "metrics.db",
...                           experiment="<b>cartpole</b>")
>>> _ = env.reset(seed=0)
>>> for _ in range(100):
...     _, _, terminated, truncated, _ = env.step(0)
...     if terminated or truncated:
...         _ = env.reset()
>>> env.close()
>>> path = write_report(folder / "metrics.db", folder / "report.html")
>>> page = path.read_text(encoding="utf-8")
>>> "&lt;b&gt;cartpole&lt;/b&gt;" in page, "<b>cartpole" in page, "<svg" in page
(True, False, True)
>>> import shutil; shutil.rmtree(folder)
"""

from __future__ import annotations

import datetime as dt
import html
import json
import logging
import math
import os
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from gymscope._files import atomic_write_text, safe_name
from gymscope._format import format_count, format_duration, format_number, format_time
from gymscope.charts.curves import rolling_mean
from gymscope.charts.experiment import comparison_charts, experiment_charts
from gymscope.charts.layout import LineChart, layout_chart
from gymscope.charts.sparkline import sparkline_svg
from gymscope.charts.svg import render_svg
from gymscope.errors import ArgumentTypeError
from gymscope.metrics.db import DbTarget
from gymscope.metrics.queries import MetricsReader, RunEpisodes, RunSummary

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "MediaItem",
    "find_media",
    "render_report",
    "write_report",
]

logger = logging.getLogger(__name__)

#: Files shown as ``<video>`` and as ``<img>``.
VIDEO_SUFFIXES = frozenset({".mp4", ".webm", ".ogv", ".m4v"})
IMAGE_SUFFIXES = frozenset({".gif", ".webp", ".apng"})
#: Runs drawn on the comparison chart (the palette has 10 colours).
MAX_COMPARED = 10
# A video written this long after its run's last episode still counts as
# written "while the run was running" (files are finalised after the episode).
_MEDIA_SLACK_S = 30.0
_CHART_WIDE = (1040, 390)
_CHART_SMALL = (560, 330)


def _e(text: object) -> str:
    """``text`` safe in HTML content and in double-quoted attributes."""
    return html.escape(str(text), quote=True)


# -- media ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MediaItem:
    """A video or animated image, with its JSON sidecar (``{}`` if it has none).

    Attributes:
        path: The file.
        kind: ``"video"`` or ``"image"``.
        sidecar: The parsed ``{file name}.json`` next to it.
    """

    path: Path
    kind: Literal["video", "image"]
    sidecar: dict[str, Any] = field(default_factory=dict, repr=False)

    def number(self, key: str) -> float | None:
        """A numeric sidecar value, or None when missing or not a number."""
        value = self.sidecar.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None
        return float(value)

    def episodes(self) -> list[tuple[int, float]]:
        """``(episode index, return)`` of the episodes the video shows, per its sidecar."""
        out = []
        for entry in self.sidecar.get("episodes") or ():
            if not isinstance(entry, dict):
                continue
            index, value = entry.get("index"), entry.get("return")
            if isinstance(index, int) and not isinstance(index, bool):
                number = value if isinstance(value, (int, float)) else math.nan
                out.append((index, float(number)))
        return out


def find_media(folders: Iterable[str | os.PathLike[str]]) -> list[MediaItem]:
    """The videos and animated images directly in ``folders`` (missing ones are
    skipped), each with its sidecar, sorted by folder then file name."""
    items: list[MediaItem] = []
    seen: set[Path] = set()
    for folder in folders:
        directory = Path(folder).expanduser()
        if not directory.is_dir():
            continue
        resolved = directory.resolve()
        if resolved in seen:
            continue
        seen.add(resolved)
        for path in sorted(directory.iterdir()):
            suffix = path.suffix.lower()
            if path.name.startswith(".") or not path.is_file():
                continue  # hidden: a video being written (.name.part) or a temp file
            if suffix in VIDEO_SUFFIXES:
                kind: Literal["video", "image"] = "video"
            elif suffix in IMAGE_SUFFIXES:
                kind = "image"
            else:
                continue
            items.append(MediaItem(path, kind, _read_sidecar(path)))
    return items


def _media_order(item: MediaItem) -> tuple[float, float, int, str]:
    """In order of the episode (or step) shown, videos before GIFs of the same one."""
    episode = item.number("episode")
    step = item.number("step")
    return (
        math.inf if episode is None else episode,
        math.inf if step is None else step,
        0 if item.kind == "video" else 1,
        item.path.name,
    )


def _read_sidecar(path: Path) -> dict[str, Any]:
    sidecar = path.with_name(path.name + ".json")
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable video sidecar %s: %s", sidecar, exc)
        return {}
    return data if isinstance(data, dict) else {}


def _same_return(a: float, b: float) -> bool:
    if a != a or b != b:
        return a != a and b != b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-6)


def _match_media(
    reader: MetricsReader, runs: Sequence[RunSummary], media: Sequence[MediaItem]
) -> tuple[dict[int, list[MediaItem]], list[MediaItem]]:
    """Media by the run that stored the episodes they show; and the unmatched."""
    by_id = {run.id: run for run in runs}
    matched: dict[int, list[MediaItem]] = {}
    unmatched: list[MediaItem] = []
    cache: dict[int, list[tuple[int, float]]] = {}
    for item in media:
        candidates: set[int] | None = None
        for index, value in item.episodes():
            if index not in cache:
                cache[index] = reader.returns_of_episode(index)
            ids = {xid for xid, stored in cache[index] if _same_return(stored, value)}
            candidates = ids if candidates is None else candidates & ids
        if not candidates:
            unmatched.append(item)
            continue
        best = max(
            (by_id[i] for i in candidates if i in by_id), key=_preference(item), default=None
        )
        if best is None:
            unmatched.append(item)
        else:
            matched.setdefault(best.id, []).append(item)
    for items in matched.values():
        items.sort(key=_media_order)
    return matched, sorted(unmatched, key=_media_order)


def _preference(item: MediaItem) -> Any:
    """How well a run fits a video: its name or env id starts the file name, then
    the file was written while it ran (or soon after), then closest in time, then latest."""
    try:
        written: float | None = item.path.stat().st_mtime
    except OSError:
        written = None

    def key(run: RunSummary) -> tuple[bool, bool, float, int]:
        prefixes = [safe_name(run.name, ""), run.env.replace("/", "_")]
        named = any(p and item.path.name.startswith(p) for p in prefixes)
        if written is None or run.started is None or run.ended is None:
            return named, False, -math.inf, run.id
        start, end = run.started.timestamp(), run.ended.timestamp()
        during = start - 1.0 <= written <= end + _MEDIA_SLACK_S
        distance = max(start - written, written - end, 0.0)
        return named, during, -distance, run.id

    return key


def _link(target: Path, base: Path) -> str:
    """A URL for ``target`` relative to folder ``base`` (a file URI if there is none)."""
    try:
        relative = os.path.relpath(target.resolve(), base.resolve())
    except ValueError:  # another drive (Windows)
        return target.resolve().as_uri()
    return urllib.parse.quote(Path(relative).as_posix(), safe="/")


# -- pieces of the page --------------------------------------------------------------
def _svg(chart: LineChart) -> str:
    """``chart`` as an inline ``<svg>`` element (no XML declaration)."""
    text = render_svg(layout_chart(chart))
    return text[text.index("<svg") :]


def _name(text: str) -> str:
    """An escaped name that may break after its underscores (generated run names
    are long: ``CartPole-v1_PPO_20250101-120000_a1b2c3``)."""
    return "_<wbr>".join(_e(part) for part in text.split("_"))


def _stat(label: str, value: str, hint: str = "") -> str:
    tip = f' title="{_e(hint)}"' if hint else ""
    return f'<div class="stat"{tip}><dt>{_e(label)}</dt><dd>{_e(value)}</dd></div>'


def _anchor(run_id: int) -> str:
    return f"run-{run_id}"


def _trend(run: RunEpisodes | None, window: int) -> npt.NDArray[np.float64]:
    if run is None or not len(run):
        return np.empty(0)
    stored = run.moving_avg
    return stored if np.isfinite(stored).any() else rolling_mean(run.rewards, window)


def _runs_table(
    summaries: Sequence[RunSummary], episodes: dict[int, RunEpisodes], window: int
) -> str:
    head = (
        '<th class="num" scope="col">#</th><th scope="col">Run</th>'
        '<th class="num" scope="col">Episodes</th><th class="num" scope="col">Steps</th>'
        '<th class="num" scope="col" title="Highest moving-average return">Best avg</th>'
        '<th class="num" scope="col" title="Moving-average return at the last episode">'
        "Last avg</th>"
        '<th scope="col" title="Moving-average return over the run">Trend</th>'
        '<th scope="col" title="Coordinated Universal Time">Started (UTC)</th>'
        '<th class="num" scope="col">Duration</th>'
    )
    rows = []
    for run in summaries:
        trend = _trend(episodes.get(run.id), window)
        spark = sparkline_svg(trend, width=104, label=f"moving-average return of run {run.id}")
        started = format_time(run.started, utc=True).removesuffix(" UTC")
        what = " · ".join(x for x in (run.env, run.agent) if x)
        rows.append(
            "<tr>"
            f'<td class="num muted">{run.id}</td>'
            f'<td class="name"><a href="#{_anchor(run.id)}">{_name(run.experiment.label)}</a>'
            f'<span class="what">{_e(what)}</span></td>'
            f'<td class="num">{format_count(run.episodes)}</td>'
            f'<td class="num">{format_count(run.steps)}</td>'
            f'<td class="num strong">{_e(format_number(run.best_moving_avg))}</td>'
            f'<td class="num">{_e(format_number(run.last_moving_avg))}</td>'
            f'<td class="trend">{spark}</td>'
            f'<td class="nowrap">{_e(started)}</td>'
            f'<td class="num nowrap">{_e(format_duration(run.duration_s))}</td>'
            "</tr>"
        )
    return (
        '<div class="table-scroll"><table class="runs">'
        f"<thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


def _media_html(items: Sequence[MediaItem], base: Path) -> str:
    cards = []
    for item in items:
        url = _e(_link(item.path, base))
        episode = item.number("episode")
        value = item.number("return")
        length = item.number("length")
        frames, fps = item.number("frames"), item.number("fps")
        width, height = item.number("width"), item.number("height")
        size = ""
        if width and height:
            size = f' width="{int(width)}" height="{int(height)}"'
        trigger = item.sidecar.get("trigger")
        if trigger == "step" and item.number("step") is not None:
            heading = f"Step {format_count(int(item.number('step') or 0))}"
        elif episode is not None:
            heading = f"Episode {format_count(int(episode))}"
        else:
            heading = item.path.stem
        facts = []
        if value is not None:
            facts.append(f"return <strong>{_e(format_number(value))}</strong>")
        if length is not None:
            facts.append(f"{_e(format_count(int(length)))} steps")
        detail = []
        if frames is not None and fps:
            detail.append(f"{format_count(int(frames))} frames at {format_number(fps)} fps")
        detail.append(item.path.name)
        alt = f"{heading} of the recorded run" + (
            f", return {format_number(value)}" if value is not None else ""
        )
        if item.kind == "video":
            player = (
                f'<video src="{url}" controls muted loop playsinline preload="metadata"{size}>'
                f'<a href="{url}">{_e(item.path.name)}</a></video>'
            )
        else:
            player = f'<img src="{url}" alt="{_e(alt)}"{size}>'
        kind = "GIF" if item.path.suffix.lower() == ".gif" else item.path.suffix[1:].upper()
        cards.append(
            f'<figure class="media">{player}<figcaption>'
            f'<div class="media-title"><span>{_e(heading)}</span>'
            f'<span class="badge">{_e(kind)}</span></div>'
            f'<div class="media-facts">{" · ".join(facts)}</div>'
            f'<div class="media-file"><a href="{url}">{_e(" · ".join(detail))}</a></div>'
            "</figcaption></figure>"
        )
    return f'<div class="media-grid">{"".join(cards)}</div>'


def _config_html(value: Any) -> str:
    if value in ({}, [], "", None):
        return '<p class="muted">No configuration was stored with this run.</p>'
    if isinstance(value, dict):
        rows = []
        for key, item in value.items():
            if isinstance(item, str):
                shown = f"<code>{_e(item)}</code>" if item else '<span class="muted">""</span>'
            elif isinstance(item, (dict, list)) and item:
                shown = f"<pre>{_e(json.dumps(item, indent=2, ensure_ascii=False))}</pre>"
            else:
                shown = f"<code>{_e(json.dumps(item, ensure_ascii=False))}</code>"
            rows.append(f"<div><dt>{_e(key)}</dt><dd>{shown}</dd></div>")
        return f'<dl class="kv">{"".join(rows)}</dl>'
    if isinstance(value, str):
        return f"<pre>{_e(value)}</pre>"
    return f"<pre>{_e(json.dumps(value, indent=2, ensure_ascii=False))}</pre>"


def _run_section(
    summary: RunSummary,
    run: RunEpisodes,
    media: Sequence[MediaItem],
    base: Path,
    window: int,
) -> str:
    info = summary.experiment
    tags = [f'<span class="tag">{_e(info.env)}</span>'] if info.env else []
    if info.agent:
        tags.append(f'<span class="tag tag-agent">{_e(info.agent)}</span>')
    when = [f"started {format_time(summary.started, utc=True)}"] if summary.started else []
    if summary.workers > 1:
        when.append(f"{summary.workers} workers")
    if info.gymscope_version:
        when.append(f"gymscope {info.gymscope_version}")
    parts = [
        f'<section class="card run" id="{_anchor(info.id)}">',
        '<header class="run-header">',
        f'<h2><span class="run-id">#{info.id}</span> <span class="run-name">'
        f"{_name(info.label)}</span></h2>",
        f'<p class="run-meta">{" ".join(tags)} <span class="muted">{_e(" · ".join(when))}'
        "</span></p>",
        "</header>",
    ]
    rewards = run.rewards
    finite = rewards[np.isfinite(rewards)]
    best_return = float(finite.max()) if finite.size else None
    lengths = run.lengths
    mean_length = float(np.nanmean(lengths)) if len(run) else None
    parts.append('<dl class="stats">')
    parts.append(_stat("Episodes", format_count(summary.episodes)))
    parts.append(_stat("Steps", format_count(summary.steps)))
    parts.append(
        _stat("Best avg", format_number(summary.best_moving_avg), "highest moving-average return")
    )
    parts.append(
        _stat(
            "Last avg", format_number(summary.last_moving_avg), "moving-average return at the end"
        )
    )
    parts.append(_stat("Best return", format_number(best_return)))
    parts.append(_stat("Mean length", format_number(mean_length)))
    parts.append(_stat("Duration", format_duration(summary.duration_s)))
    parts.append("</dl>")
    if len(run):
        charts = experiment_charts(run, window, width=_CHART_SMALL[0], height=_CHART_SMALL[1])
        figures = [f'<figure class="chart">{_svg(chart)}</figure>' for _, chart in charts]
        parts.append(f'<div class="charts">{"".join(figures)}</div>')
    else:
        parts.append('<p class="empty">No episodes recorded yet.</p>')
    if media:
        label = "Video" if len(media) == 1 else "Videos"
        parts.append(f'<h3>{label} <span class="count">{len(media)}</span></h3>')
        parts.append(_media_html(media, base))
    parts.append('<details class="config" open><summary>Configuration</summary>')
    parts.append(_config_html(info.config_value()))
    parts.append("</details></section>")
    return "\n".join(parts)


# -- the page ------------------------------------------------------------------------
_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src * data:; media-src *; "
    "base-uri 'none'; form-action 'none'"
)

_CSS = """
:root {
  --text: #1f2328; --muted: #5b6570; --faint: #8a949e; --border: #dfe3e8;
  --page: #f5f7fa; --card: #ffffff; --soft: #f3f5f8;
  --accent: #2d6aa6; --accent-soft: #e7f0f9; --accent-text: #1f5589;
  --agent-soft: #fdf0e4; --agent-text: #8a4a12;
  --mono: ui-monospace, SFMono-Regular, "SF Mono", Menlo, Consolas, "Liberation Mono",
    "DejaVu Sans Mono", monospace;
}
* { box-sizing: border-box; }
html { color-scheme: light; -webkit-text-size-adjust: 100%; }
body {
  margin: 0; color: var(--text); background: var(--page);
  font: 15px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
    "Noto Sans", "Liberation Sans", "DejaVu Sans", sans-serif;
  -webkit-font-smoothing: antialiased;
}
a { color: var(--accent); text-decoration: none; }
a:hover { text-decoration: underline; }
code, pre { font-family: var(--mono); font-size: 13px; }
.wrap { max-width: 1180px; margin: 0 auto; padding: 0 28px; }
.page-header { background: var(--card); border-bottom: 1px solid var(--border); }
.page-header .wrap { padding-top: 30px; padding-bottom: 24px; }
.brand {
  display: inline-flex; align-items: center; gap: 8px; margin: 0 0 10px;
  font-size: 12.5px; font-weight: 700; letter-spacing: .08em; text-transform: uppercase;
  color: var(--accent);
}
.brand::before {
  content: ""; width: 10px; height: 10px; border-radius: 3px;
  background: linear-gradient(135deg, #4e79a7, #59a14f);
}
h1 { margin: 0 0 6px; font-size: 30px; line-height: 1.2; font-weight: 700;
  letter-spacing: -.015em; overflow-wrap: anywhere; }
.subtitle { margin: 0; color: var(--muted); }
.subtitle code { color: var(--text); background: var(--soft); padding: 1px 6px;
  border-radius: 5px; overflow-wrap: anywhere; }
.overview { display: flex; flex-wrap: wrap; gap: 10px 28px; margin: 18px 0 0; padding: 0; }
.overview div { display: flex; flex-direction: column; }
.overview dt { font-size: 12px; color: var(--muted); text-transform: uppercase;
  letter-spacing: .05em; font-weight: 600; }
.overview dd { margin: 0; font-size: 22px; font-weight: 650;
  font-variant-numeric: tabular-nums; }
main.wrap { padding-top: 30px; padding-bottom: 12px; }
.section-title { margin: 0 0 12px; font-size: 18px; font-weight: 650; }
.block { margin-bottom: 30px; }
.card { background: var(--card); border: 1px solid var(--border); border-radius: 14px;
  padding: 22px 26px 24px; box-shadow: 0 1px 2px rgba(22, 34, 51, .04),
  0 4px 14px rgba(22, 34, 51, .035); }
.table-card { padding: 0; overflow: hidden; }
.table-scroll { overflow-x: auto; }
table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
.runs th, .runs td { padding: 10px 12px; text-align: left; border-bottom: 1px solid var(--border);
  vertical-align: middle; }
.runs thead th { font-size: 11.5px; font-weight: 650; text-transform: uppercase;
  letter-spacing: .05em; color: var(--muted); background: var(--soft); white-space: nowrap; }
.runs tbody tr:last-child td { border-bottom: 0; }
.runs tbody tr:hover { background: #f8fafc; }
.runs .num { text-align: right; }
.runs .name { min-width: 200px; overflow-wrap: anywhere; }
.runs th:first-child, .runs td:first-child { padding-left: 18px; }
.runs th:last-child, .runs td:last-child { padding-right: 18px; }
.runs .name a { font-weight: 650; }
.runs .what { display: block; color: var(--muted); font-size: 13px; margin-top: 1px; }
.runs .trend { padding-top: 4px; padding-bottom: 4px; }
.sparkline { display: block; }
.strong { font-weight: 650; }
.muted { color: var(--muted); }
.nowrap { white-space: nowrap; }
.run { margin-bottom: 26px; scroll-margin-top: 16px; }
.run-header h2 { margin: 0; font-size: 21px; line-height: 1.3; font-weight: 700;
  overflow-wrap: anywhere; }
.run-id { color: var(--faint); font-weight: 600; margin-right: 2px; }
.run-meta { margin: 8px 0 0; font-size: 13.5px; display: flex; flex-wrap: wrap;
  align-items: center; gap: 6px 8px; }
.tag { display: inline-block; padding: 2px 10px; border-radius: 999px; font-size: 12.5px;
  font-weight: 600; background: var(--accent-soft); color: var(--accent-text);
  overflow-wrap: anywhere; }
.tag-agent { background: var(--agent-soft); color: var(--agent-text); }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(128px, 1fr));
  gap: 10px; margin: 18px 0 20px; padding: 0; }
.stat { background: var(--soft); border-radius: 10px; padding: 10px 14px; }
.stat dt { font-size: 11.5px; font-weight: 650; color: var(--muted);
  text-transform: uppercase; letter-spacing: .05em; }
.stat dd { margin: 2px 0 0; font-size: 20px; font-weight: 650;
  font-variant-numeric: tabular-nums; white-space: nowrap; }
.stat .note { font-size: 12px; color: var(--muted); font-weight: 500; margin-left: 6px; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(380px, 100%), 1fr));
  gap: 14px; }
.chart { margin: 0; border: 1px solid var(--border); border-radius: 10px; overflow: hidden;
  background: #fff; }
.chart.solo { border-radius: 14px; box-shadow: 0 1px 2px rgba(22, 34, 51, .04),
  0 4px 14px rgba(22, 34, 51, .035); }
.chart svg { display: block; width: 100%; height: auto; }
h3 { margin: 24px 0 12px; font-size: 15px; font-weight: 650; }
.count { display: inline-block; min-width: 22px; padding: 0 7px; margin-left: 4px;
  border-radius: 999px; background: var(--soft); color: var(--muted); font-size: 12px;
  text-align: center; font-weight: 600; }
.media-grid { display: grid; gap: 14px;
  grid-template-columns: repeat(auto-fill, minmax(min(300px, 100%), 1fr)); }
.media { margin: 0; border: 1px solid var(--border); border-radius: 10px; overflow: hidden;
  background: #fff; display: flex; flex-direction: column; }
.media video, .media img { display: block; width: 100%; height: auto;
  background: #eef1f5; }
.media figcaption { padding: 9px 12px 11px; font-size: 13px; }
.media-title { display: flex; justify-content: space-between; align-items: center;
  font-weight: 650; font-size: 14px; }
.badge { font-size: 10.5px; font-weight: 700; letter-spacing: .06em; color: var(--muted);
  border: 1px solid var(--border); border-radius: 5px; padding: 0 5px; }
.media-facts { color: var(--text); margin-top: 2px; }
.media-file { margin-top: 4px; font-size: 12px; overflow-wrap: anywhere; }
.media-file a { color: var(--muted); }
.config { margin-top: 22px; border-top: 1px solid var(--border); padding-top: 14px; }
.config summary { cursor: pointer; font-weight: 650; font-size: 14px; }
.config summary::marker { color: var(--faint); }
.kv { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(260px, 100%), 1fr));
  gap: 0 24px; margin: 10px 0 0; }
.kv div { display: flex; gap: 12px; align-items: baseline; padding: 6px 0;
  border-bottom: 1px solid #eef1f4; min-width: 0; }
.kv dt { flex: 0 0 auto; max-width: 45%; color: var(--muted); font-size: 13.5px;
  font-weight: 600; overflow-wrap: anywhere; }
.kv dd { margin: 0; flex: 1 1 auto; min-width: 0; text-align: right; overflow-wrap: anywhere; }
.kv dd pre { text-align: left; }
.kv code { font-size: 13px; }
pre { margin: 6px 0 0; padding: 10px 12px; background: var(--soft); border-radius: 8px;
  overflow-x: auto; white-space: pre-wrap; overflow-wrap: anywhere; }
.empty { color: var(--muted); font-style: italic; }
footer { color: var(--muted); font-size: 13px; }
footer .wrap { padding-top: 8px; padding-bottom: 36px; }
@media (max-width: 700px) {
  .wrap { padding: 0 14px; }
  h1 { font-size: 24px; }
  .card { padding: 16px 16px 18px; border-radius: 12px; }
  .card.table-card { padding: 0; }
  .runs th, .runs td { padding: 9px 10px; }
  .overview dd { font-size: 19px; }
  .runs .name { min-width: 150px; }
}
@media print {
  body { background: #fff; }
  .card { box-shadow: none; break-inside: avoid-page; }
  video { display: none; }
}
""".strip()


def _page(title: str, header: str, body: Sequence[str], footer: str) -> str:
    from gymscope._version import __version__

    return "\n".join(
        [
            "<!DOCTYPE html>",
            '<html lang="en">',
            "<head>",
            '<meta charset="utf-8">',
            '<meta name="viewport" content="width=device-width, initial-scale=1">',
            f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">',
            f'<meta name="generator" content="gymscope {_e(__version__)}">',
            f"<title>{_e(title)}</title>",
            f"<style>\n{_CSS}\n</style>",
            "</head>",
            "<body>",
            header,
            '<main class="wrap">',
            *body,
            "</main>",
            footer,
            "</body>",
            "</html>",
            "",
        ]
    )


def render_report(
    reader: MetricsReader,
    base: Path,
    *,
    title: str | None = None,
    media: Sequence[MediaItem] = (),
    window_size: int = 100,
    now: dt.datetime | None = None,
) -> str:
    """The report page for the database behind ``reader`` (see :func:`write_report`).

    ``base`` is the folder the page will be saved in (links are relative to it).
    """
    from gymscope._version import __version__

    summaries = reader.runs()
    episodes = {run.id: reader.episodes(run.experiment) for run in summaries}
    matched, unmatched = _match_media(reader, summaries, media)
    now = now or dt.datetime.now(dt.timezone.utc)
    title = title or "gymscope report"
    source = reader.description if reader.path is None else str(reader.path)
    total_episodes = sum(run.episodes for run in summaries)
    total_steps = sum(run.steps for run in summaries)
    overview = [
        ("Runs", format_count(len(summaries))),
        ("Episodes", format_count(total_episodes)),
        ("Steps", format_count(total_steps)),
        ("Videos", format_count(len(media))),
    ]
    header = (
        '<header class="page-header"><div class="wrap">'
        '<p class="brand">gymscope</p>'
        f"<h1>{_e(title)}</h1>"
        f'<p class="subtitle">Metrics database <code>{_e(source)}</code> '
        f"\u00b7 generated {_e(format_time(now, utc=True))}</p>"
        '<dl class="overview">'
        + "".join(f"<div><dt>{_e(k)}</dt><dd>{_e(v)}</dd></div>" for k, v in overview)
        + "</dl></div></header>"
    )
    body: list[str] = []
    if not summaries:
        body.append(
            '<section class="block"><div class="card"><p class="empty">This database holds '
            "no runs yet.</p></div></section>"
        )
    else:
        body.append(
            '<section class="block" id="runs"><h2 class="section-title">Runs</h2>'
            f'<div class="card table-card">{_runs_table(summaries, episodes, window_size)}'
            "</div></section>"
        )
    compared = [episodes[run.id] for run in summaries if run.episodes][-MAX_COMPARED:]
    if len(compared) >= 2:
        (_, chart), *_ = comparison_charts(
            compared, window_size, width=_CHART_WIDE[0], height=_CHART_WIDE[1]
        )
        note = ""
        if len(compared) < sum(1 for run in summaries if run.episodes):
            note = f' <span class="muted">(the {MAX_COMPARED} latest runs)</span>'
        body.append(
            '<section class="block" id="compare">'
            f'<h2 class="section-title">Comparison{note}</h2>'
            f'<figure class="chart solo">{_svg(chart)}</figure></section>'
        )
    for run in summaries:
        body.append(_run_section(run, episodes[run.id], matched.get(run.id, []), base, window_size))
    if unmatched:
        body.append(
            '<section class="block card" id="other-media">'
            '<h2 class="section-title">Other videos</h2>'
            '<p class="muted">Recordings whose episodes match no run in this database.</p>'
            f"{_media_html(unmatched, base)}</section>"
        )
    footer = (
        '<footer><div class="wrap">'
        f"Generated by gymscope {_e(__version__)} on {_e(format_time(now, utc=True))}. "
        f"Charts are drawn inline; moving averages in charts span {window_size} episodes. "
        "Videos are linked relative to this file."
        "</div></footer>"
    )
    return _page(title, header, body, footer)


def write_report(
    db: DbTarget,
    output: str | os.PathLike[str],
    *,
    title: str | None = None,
    media_dirs: Iterable[str | os.PathLike[str]] = (),
    window_size: int = 100,
) -> Path:
    """Write the HTML report of every run in ``db`` to ``output``, atomically.

    Args:
        db: The metrics database: a SQLite file, a SQLAlchemy URL or an
            Engine; read only.
        output: The HTML file to write; its folder is created if missing.
        title: The page title (default ``"gymscope report"``).
        media_dirs: Folders holding videos and GIFs (and their JSON sidecars)
            to show, besides the ``videos`` folder next to a SQLite database.
        window_size: Episodes in the moving averages the charts draw.

    Returns:
        The path of the report.

    Raises:
        DatabaseNotFoundError, NotAMetricsDatabaseError: see
            :class:`~gymscope.metrics.queries.MetricsReader`.
        OSError: ``output`` cannot be written.
    """
    from gymscope.episode import check_window_size

    window_size = check_window_size(window_size)
    if title is not None and not isinstance(title, str):
        raise ArgumentTypeError(f"title must be a str or None, got {title!r}")
    path = Path(output).expanduser()
    folders = list(media_dirs)
    with MetricsReader(db) as reader:
        if reader.path is not None:
            folders.insert(0, reader.path.parent / "videos")
        page = render_report(
            reader,
            path.absolute().parent,
            title=title,
            media=find_media(folders),
            window_size=window_size,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, page)
    return path

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

Videos are searched in the ``videos`` folder next to a SQLite database and
in the given media folders, and in their subfolders named after a run
(``videos/<run name>/``). A video belongs to the run its sidecar names
(``"schema": "gymscope-video/2"``); one whose sidecar predates that record is
matched to the run that stored the episodes it shows (see
:mod:`gymscope.report.join`). Videos that match no run are shown at the end.

The package: :mod:`~gymscope.report.media` finds the files and reads their
sidecars, :mod:`~gymscope.report.join` joins them to runs,
:mod:`~gymscope.report.sections` builds what the page shows, and
:mod:`~gymscope.report.page` renders it with the Jinja2 template
``templates/report.html.j2`` and the styles ``static/report.css``.

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

from gymscope.report.media import IMAGE_SUFFIXES, VIDEO_SUFFIXES, MediaItem, find_media
from gymscope.report.page import check_media_folders, media_folders, render_report, write_report

__all__ = [
    "IMAGE_SUFFIXES",
    "VIDEO_SUFFIXES",
    "MediaItem",
    "check_media_folders",
    "find_media",
    "media_folders",
    "render_report",
    "write_report",
]

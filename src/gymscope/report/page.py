"""The report page: its data rendered by the Jinja2 template, the CSS inlined.

Jinja2 is imported here only when a page is rendered, with autoescaping on
and undefined names an error. The template (``templates/report.html.j2``)
and the styles (``static/report.css``) are package data; the styles are
inlined so that the page is one self-contained file.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

from gymscope._format import format_count, format_time
from gymscope._outputs import check_output_file, write_output_file
from gymscope.errors import ArgumentTypeError, NotAFolderError
from gymscope.metrics.queries import MetricsReader
from gymscope.report.media import MediaItem, find_media

if TYPE_CHECKING:
    from gymscope.metrics.db import DbTarget

__all__ = [
    "DETAILED_RUNS",
    "TABLE_ROWS",
    "check_media_folders",
    "media_folders",
    "render_report",
    "write_report",
]

_PACKAGE = __name__.rpartition(".")[0]
#: Runs that get a section of their own (charts, stats, config, videos): the
#: latest ones. Every run is a row of the runs table.
DETAILED_RUNS = 20
#: Rows of the runs table shown (the latest runs); older ones are folded
#: under a ``<details>`` element below it.
TABLE_ROWS = 100


# Characters HTML forbids in text (C0 and C1 controls but tab, LF, CR): autoescaping
# leaves them as they are, so a NUL from a run's name or a file's would reach the page.
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


def _printable(value: object) -> object:
    """Every value the template prints, its control characters shown as U+FFFD."""
    if not isinstance(value, str) or not _CONTROL.search(value):
        return value
    from markupsafe import Markup

    cleaned = _CONTROL.sub("\ufffd", value)
    return Markup(cleaned) if isinstance(value, Markup) else cleaned


def media_folders(
    reader: MetricsReader, extra: Iterable[str | os.PathLike[str]] = ()
) -> list[Path]:
    """The folders a report searches for videos: ``videos`` next to a SQLite
    database, then ``extra`` (each also searched for per-run subfolders)."""
    folders = [Path(folder).expanduser() for folder in extra]
    if reader.path is not None:
        folders.insert(0, reader.path.parent / "videos")
    return folders


def check_media_folders(folders: Iterable[str | os.PathLike[str]], *, argument: str) -> list[Path]:
    """``folders`` as Paths, once each is known to be a folder (a media folder
    the user names must be there: a typo is not an empty folder)."""
    checked = []
    for folder in folders:
        path = Path(folder).expanduser()
        try:
            is_dir = path.is_dir()
        except OSError as exc:  # a name too long, a loop of links
            raise NotAFolderError(
                f"{argument} {str(folder)!r} cannot be read: {exc.strerror or exc}"
            ) from None
        if not is_dir:
            what = "does not exist" if not os.path.lexists(path) else "is not a folder"
            raise NotAFolderError(
                f"{argument} {str(folder)!r} {what}; pass a folder of videos and GIFs"
            )
        checked.append(path)
    return checked


def _with_run_folders(
    reader: MetricsReader, names: list[str], media: Sequence[MediaItem]
) -> list[MediaItem]:
    """``media`` plus what the per-run subfolders of the database's ``videos``
    folder hold that ``media`` lacks (callers that found media without run names)."""
    if reader.path is None:
        return list(media)
    known = {item.path.resolve() for item in media}
    found = find_media([reader.path.parent / "videos"], runs=names)
    return [*media, *(item for item in found if item.path.resolve() not in known)]


def render_report(
    reader: MetricsReader,
    base: Path,
    *,
    title: str | None = None,
    media: Sequence[MediaItem] = (),
    window_size: int | None = None,
    now: dt.datetime | None = None,
) -> str:
    """The report page for the database behind ``reader`` (see :func:`write_report`).

    ``base`` is the folder the page will be saved in (links are relative to
    it). Besides ``media``, the videos in the per-run subfolders of the
    ``videos`` folder next to a SQLite database are shown.
    """
    import jinja2
    from markupsafe import Markup

    from gymscope._version import __version__
    from gymscope.report import sections
    from gymscope.report.join import join_media

    # Every run is a row of the table (the listing: a few rows read per run);
    # the latest DETAILED_RUNS runs also get their section, from all their
    # episodes (so the page and the time to make it stay bounded).
    listing = reader.runs()
    detailed = listing[-DETAILED_RUNS:]
    episodes = {run.id: reader.episodes(run.experiment) for run in detailed}
    full = {run.id: reader.summary(run.experiment, episodes[run.id]) for run in detailed}
    summaries = [full.get(run.id, run) for run in listing]
    detailed = summaries[-DETAILED_RUNS:]
    metrics = {run.id: reader.metrics(run.experiment) for run in detailed if run.metrics}
    configs = {run.id: reader.configs(run.experiment) for run in detailed}
    media = _with_run_folders(reader, [run.name for run in summaries], media)
    matched, unmatched = join_media(summaries, episodes, media)
    rows = sections.run_rows(summaries, episodes, window_size)
    now = now or dt.datetime.now(dt.timezone.utc)
    generated = format_time(now, utc=True)
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader(_PACKAGE, "templates"),
        autoescape=True,
        finalize=_printable,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    css = resources.files(_PACKAGE).joinpath("static/report.css").read_text(encoding="utf-8")
    return environment.get_template(
        "report.html.j2"
    ).render(
        title=title or "gymscope report",
        version=__version__,
        css=Markup(css.strip()),  # package data, not user text
        source=reader.description if reader.path is None else str(reader.path),
        generated=generated,
        overview=[
            ("Runs", format_count(len(summaries))),
            ("Episodes", format_count(sum(run.episodes for run in summaries))),
            ("Steps", format_count(sum(run.steps for run in summaries))),
            ("Videos", format_count(len(media))),
        ],
        rows=rows[-TABLE_ROWS:],
        older_rows=rows[:-TABLE_ROWS],
        detailed=len(detailed),
        comparison=sections.comparison(detailed, episodes, window_size),
        sections=[
            sections.run_section(
                run,
                episodes[run.id],
                matched.get(run.id, []),
                base,
                window_size,
                metrics=metrics.get(run.id),
                configs=configs[run.id],
            )
            for run in detailed
        ],
        other_media=sections.media_cards(unmatched, base),
        window=window_size,
    )


def write_report(
    db: DbTarget,
    output: str | os.PathLike[str],
    *,
    title: str | None = None,
    media_dirs: Iterable[str | os.PathLike[str]] = (),
    window_size: int | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the HTML report of every run in ``db`` to ``output``, atomically.

    Args:
        db: The metrics database: a SQLite file, a SQLAlchemy URL or an
            Engine; read only.
        output: The HTML file to write; its folder is created if missing. A
            device, FIFO, socket, directory, symbolic link or SQLite database
            there is refused (see :func:`gymscope._outputs.check_output_file`).
        title: The page title (default ``"gymscope report"``).
        media_dirs: Folders holding videos and GIFs (and their JSON sidecars)
            to show, besides the ``videos`` folder next to a SQLite database;
            in each, the subfolder named after a run is searched too.
        window_size: Episodes in the moving averages the charts draw
            (default: each run's own window, the one its statistics were
            logged with; the runs table and the cards always use it).
        overwrite: Replace an existing file (never a database).

    Returns:
        The path of the report.

    Raises:
        DatabaseNotFoundError, NotAMetricsDatabaseError: see
            :class:`~gymscope.metrics.queries.MetricsReader`.
        NotADirectoryError: a media folder that is not a folder
            (:class:`~gymscope.errors.NotAFolderError`).
        FileExistsError: ``output`` exists and ``overwrite`` is false, or it is a
            database (:class:`~gymscope.errors.OutputExistsError`).
        OSError: ``output`` cannot be written.
    """
    from gymscope.episode import check_window_size

    if window_size is not None:
        window_size = check_window_size(window_size)
    if title is not None and not isinstance(title, str):
        raise ArgumentTypeError(f"title must be a str or None, got {title!r}")
    path = check_output_file(output, argument="output", overwrite=overwrite)
    media_dirs = check_media_folders(media_dirs, argument="media_dirs")
    with MetricsReader(db) as reader:
        names = [info.name for info in reader.experiments()]
        page = render_report(
            reader,
            path.absolute().parent,
            title=title,
            media=find_media(media_folders(reader, media_dirs), runs=names),
            window_size=window_size,
        )
    write_output_file(path, page.encode("utf-8"), argument="output", overwrite=overwrite)
    return path

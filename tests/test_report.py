"""The HTML report: content, escaping, links, and rendering in a real headless Chromium.

The browser test drives Debian's ``/usr/bin/chromium`` through Playwright for
Python (Playwright's own browser download is never used). Without Chromium
or Playwright it skips, unless ``GYMSCOPE_REQUIRE_BROWSER=1`` (set by CI):
then it fails.
"""

from __future__ import annotations

import html.parser
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gymscope.metrics.queries import DatabaseNotFoundError
from gymscope.report import find_media, write_report
from gymscope.wrappers.sqlite_logger import SQLiteLoggerWrapper
from gymscope.wrappers.video import ScheduledRecordVideo
from stubs import ScriptedEnv, load_script, play
from stubs_db import SCRIPT

HOSTILE_NAME = "<script>alert(1)</script>"
HOSTILE_AGENT = '"><img src=x onerror=alert(2)>'
HOSTILE_FILE = '"><img src=x onerror=alert(3)>.gif'
HOSTILE_CONFIG = {"<b>key</b>": "</td><script>alert(4)</script>", "lr": 0.001}


def log(db: Path, name: str, episodes: int, *, videos: Path | None = None, **kwargs: Any) -> None:
    """``episodes`` scripted episodes into run ``name``; with ``videos``, a GIF and an
    MP4 of episode 1 recorded there (with their sidecars)."""
    env: Any = ScriptedEnv(SCRIPT, render_mode="rgb_array" if videos else None)
    if videos is not None:
        env = ScheduledRecordVideo(env, videos, episode_trigger=lambda i: i == 1, name_prefix=name)
        env = ScheduledRecordVideo(
            env, videos, episode_trigger=lambda i: i == 1, name_prefix=name, format="gif"
        )
    env = SQLiteLoggerWrapper(env, db, experiment=name, window_size=2, **kwargs)
    play(env, episodes)
    env.close()


class Page(html.parser.HTMLParser):
    """Every tag with its attributes, and the page's text."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


@pytest.fixture
def hostile(tmp_path: Path) -> Path:
    """A database whose names, agent, config and a video file name are hostile markup."""
    db = tmp_path / "run" / "metrics.db"
    db.parent.mkdir()
    videos = db.parent / "videos"
    log(db, "clean", 4, videos=videos)
    log(db, HOSTILE_NAME, 3, agent=HOSTILE_AGENT, config=HOSTILE_CONFIG)
    shutil.copy(videos / "clean-episode-1.gif", videos / HOSTILE_FILE)
    sidecar = json.loads((videos / "clean-episode-1.gif.json").read_text())
    # It names no run (the clean one's sidecar it is copied from does): left unmatched.
    sidecar.update(video=HOSTILE_FILE, episode=HOSTILE_NAME, episodes=[])
    sidecar.update(run={"experiment": None, "worker": None})
    (videos / f"{HOSTILE_FILE}.json").write_text(json.dumps(sidecar))
    return db


# -- content -------------------------------------------------------------------------


def test_every_user_string_is_escaped(hostile: Path, tmp_path: Path) -> None:
    out = write_report(hostile, tmp_path / "report.html", title="<i>my</i> runs")
    text = out.read_text(encoding="utf-8")
    page = Page(text)
    assert page.all("script") == []
    assert [attrs for _, attrs in page.tags if any(k.startswith("on") for k in attrs)] == []
    assert [img for img in page.all("img") if img.get("src") == "x"] == []
    assert page.all("i") == [] and page.all("b") == []
    shown = "".join(page.text)
    for value in (HOSTILE_NAME, HOSTILE_AGENT, "<b>key</b>", HOSTILE_CONFIG["<b>key</b>"]):
        assert value in shown  # as text, where a reader sees it
    assert HOSTILE_FILE in shown
    assert "<title>&lt;i&gt;my&lt;/i&gt; runs</title>" in text
    (csp,) = [m for m in page.all("meta") if m.get("http-equiv") == "Content-Security-Policy"]
    assert "default-src 'none'" in (csp.get("content") or "")  # no script may run at all


TEMPLATE_TEXT = "{{ 7 * 7 }}{% if true %}X{% endif %}"
INJECTED = f"</script><img src=x onerror=alert(5)>{TEMPLATE_TEXT}"
INJECTED_FILE = f'"><img src=x onerror=alert(6)>{TEMPLATE_TEXT}.gif'  # no "/" in a file name


def test_markup_and_template_syntax_in_user_strings_render_inert(tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    videos = tmp_path / "videos"
    log(db, "source", 2, videos=videos)
    log(db, INJECTED, 2, agent=INJECTED, config={INJECTED: INJECTED, "nested": [INJECTED]})
    shutil.copy(videos / "source-episode-1.gif", videos / INJECTED_FILE)
    sidecar = {"schema": "gymscope-video/2", "run": {"experiment": INJECTED, "worker": None}}
    sidecar.update(video=INJECTED_FILE, trigger=INJECTED, episode=INJECTED)
    sidecar.update(episodes=[{"index": 1, "return": INJECTED}])
    (videos / f"{INJECTED_FILE}.json").write_text(json.dumps(sidecar))
    text = write_report(db, tmp_path / "r.html", title=INJECTED).read_text(encoding="utf-8")
    page = Page(text)
    assert page.all("script") == [] and "</script>" not in text
    assert [attrs for _, attrs in page.tags if any(k.startswith("on") for k in attrs)] == []
    assert [img for img in page.all("img") if img.get("src") == "x"] == []
    shown = "".join(page.text)
    assert shown.count(INJECTED) >= 6  # title x2, table, section, agent, config key and value
    assert INJECTED_FILE in shown  # and the template syntax in every one shown as typed
    hostile_run = text[text.index('id="run-2"') :]
    assert "%22%3E%3Cimg" in hostile_run  # the video joined to its run by the sidecar's key


def test_the_page_is_self_contained(hostile: Path, tmp_path: Path) -> None:
    text = write_report(hostile, tmp_path / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    assert page.all("link") == [] and "@import" not in text and "url(" not in text
    links = [a.get("src") or a.get("href") or "" for _, a in page.tags if "src" in a or "href" in a]
    assert links and not [x for x in links if x.startswith(("http:", "https:", "//"))]
    assert len(page.all("svg")) >= 2 * 2 + 1 + 2  # 2 runs x 2 charts, comparison, sparklines


def test_runs_table_charts_and_config(hostile: Path, tmp_path: Path) -> None:
    text = write_report(hostile, tmp_path / "report.html").read_text(encoding="utf-8")
    page = Page(text)
    runs_table = text[text.index('<table class="runs">') : text.index("</table>")]
    assert runs_table.count("<tr>") == 3  # header + 2 runs
    assert '<a href="#run-1">clean</a>' in runs_table
    assert [s.get("id") for s in page.all("section") if s.get("id", "").startswith("run-")] == [
        "run-1",
        "run-2",
    ]
    assert "Episode return, moving average over 2 episodes" in text  # the runs' window
    assert text.count('aria-label="ScriptedEnv \u00b7 Episode return"') == 2
    assert "No configuration was stored with this run." in text  # clean
    assert "<code>0.001</code>" in text  # lr of the hostile run


def test_videos_go_to_their_run_with_relative_links(hostile: Path, tmp_path: Path) -> None:
    site = tmp_path / "site"
    text = write_report(hostile, site / "index.html").read_text(encoding="utf-8")
    page = Page(text)
    run1 = text[text.index('id="run-1"') : text.index('id="run-2"')]
    assert 'src="../run/videos/clean-episode-1.mp4"' in run1
    assert 'src="../run/videos/clean-episode-1.gif"' in run1
    assert "Episode 1" in run1 and "return <strong>1</strong>" in run1  # SCRIPT[1]: 2 - 1
    other = text[text.index('id="other-media"') :]
    (img,) = [i for i in page.all("img") if "onerror" in (i.get("src") or "")]
    assert img.get("src") == "../run/videos/%22%3E%3Cimg%20src%3Dx%20onerror%3Dalert%283%29%3E.gif"
    assert "%22%3E%3Cimg" in other  # the unmatched file is listed under "Other videos"


def test_media_dirs_add_folders(hostile: Path, tmp_path: Path) -> None:
    extra = tmp_path / "more"
    extra.mkdir()
    shutil.copy(hostile.parent / "videos" / "clean-episode-1.mp4", extra / "extra.mp4")
    (extra / "notes.txt").write_text("ignored")
    (extra / ".hidden.mp4").write_bytes(b"")  # a video being written
    items = find_media([hostile.parent / "videos", extra, tmp_path / "missing"])
    names = [item.path.name for item in items]
    assert names[-1] == "extra.mp4" and ".hidden.mp4" not in names and "notes.txt" not in names
    assert items[-1].sidecar == {} and items[-1].kind == "video"
    text = write_report(hostile, tmp_path / "r.html", media_dirs=[extra]).read_text()
    assert 'src="more/extra.mp4"' in text


def test_report_is_written_atomically_and_replaced(hostile: Path, tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.html"
    target.parent.mkdir()
    target.write_text("old")
    with pytest.raises(FileExistsError, match="pass overwrite=True"):
        write_report(hostile, target)
    assert target.read_text() == "old"
    write_report(hostile, target, overwrite=True)
    assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_a_database_without_runs(tmp_path: Path) -> None:
    from gymscope.metrics import get_db_engine

    get_db_engine(tmp_path / "metrics.db").dispose()
    text = write_report(tmp_path / "metrics.db", tmp_path / "r.html").read_text()
    assert "This database holds no runs yet." in text


def test_a_missing_database_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(DatabaseNotFoundError):
        write_report(tmp_path / "missing.db", tmp_path / "r.html")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(TypeError, match="title must be a str"):
        write_report(tmp_path / "missing.db", tmp_path / "r.html", title=3)  # type: ignore[arg-type]


# -- in a real browser ---------------------------------------------------------------

REQUIRE_ENV = "GYMSCOPE_REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    if os.environ.get(REQUIRE_ENV, "") not in ("", "0"):
        pytest.fail(f"{reason}, and {REQUIRE_ENV}=1 requires the browser test to run")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(chromium).exists():
        _unavailable("Chromium is not installed (Debian package 'chromium')")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright for Python is not installed")
    playwright = sync_playwright().start()
    try:
        launched = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
    finally:
        playwright.stop()


def open_report(browser: Any, path: Path, width: int) -> tuple[Any, dict[str, list[str]]]:
    """The report loaded in a new page, and what went wrong while loading it."""
    page = browser.new_page(viewport={"width": width, "height": 900})
    problems: dict[str, list[str]] = {"console": [], "failed": [], "dialogs": [], "errors": []}
    page.on(
        "console",
        lambda m: problems["console"].append(m.text) if m.type in ("error", "warning") else None,
    )
    page.on("requestfailed", lambda r: problems["failed"].append(f"{r.url}: {r.failure}"))
    page.on("dialog", lambda d: (problems["dialogs"].append(d.message), d.dismiss()))
    page.on("pageerror", lambda e: problems["errors"].append(str(e)))
    page.goto(path.as_uri(), wait_until="load")
    return page, problems


WAIT_FOR_VIDEOS = """async () => {
  const videos = [...document.querySelectorAll('video')];
  await Promise.all(videos.map(v => new Promise(done => {
    if (v.error) return done();
    v.addEventListener('error', done, {once: true});
    v.addEventListener('seeked', done, {once: true});
    const seek = () => { v.currentTime = Math.min(0.1, v.duration / 2); };
    if (v.readyState >= 1) seek(); else v.addEventListener('loadedmetadata', seek, {once: true});
  })));
  return videos.map(v => ({src: v.getAttribute('src'), error: v.error && v.error.code,
                           ready: v.readyState, width: v.videoWidth}));
}"""


def test_report_renders_in_chromium(browser: Any, tmp_path: Path) -> None:
    from gymscope.demo import run_demo

    out = tmp_path / "demo"
    run_demo("CartPole-v1", 40, out, seed=0)  # real videos, a GIF and the report
    log(out / "metrics.db", HOSTILE_NAME, 6, agent=HOSTILE_AGENT, config=HOSTILE_CONFIG)
    report = write_report(out / "metrics.db", out / "report.html", window_size=10, overwrite=True)

    page, problems = open_report(browser, report, 1280)
    rows = page.eval_on_selector_all(
        "table.runs tbody tr", "rows => rows.map(r => r.querySelector('.name a').textContent)"
    )
    assert len(rows) == 2 and rows[0].startswith("CartPole-v1_") and rows[1] == HOSTILE_NAME
    assert page.title() == "gymscope report"
    # at a laptop's width the runs table fits: its last column is not cut off
    scroll = page.eval_on_selector(".table-scroll", "e => [e.scrollWidth, e.clientWidth]")
    assert scroll[0] <= scroll[1], scroll
    charts = page.eval_on_selector_all(
        ".chart svg", "s => s.map(e => e.getBoundingClientRect().width)"
    )
    # comparison + 2 per run + the demo agent's 3 losses by step
    assert len(charts) == 1 + 2 * 2 + 3 and min(charts) > 300
    assert page.locator("h3", has_text="Training metrics").count() == 1
    assert page.eval_on_selector_all(".chart svg polyline", "p => p.length") > 6
    images = page.eval_on_selector_all(
        "img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
    )
    assert images and all(done and width > 0 for _, done, width in images), images
    assert any(src.endswith(".gif") for src, _, _ in images)
    videos = page.evaluate(WAIT_FOR_VIDEOS)
    assert len(videos) == 6 and all(
        v["error"] is None and v["ready"] >= 2 and v["width"] > 0 for v in videos
    ), videos
    assert page.locator("text=" + HOSTILE_AGENT).count() >= 1  # shown as text
    assert page.evaluate("document.querySelectorAll('script').length") == 0
    page.wait_for_timeout(1000)  # let the players' loading indicators fade out
    page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
    assert (tmp_path / "report.png").stat().st_size > 50_000
    page.close()

    phone, phone_problems = open_report(browser, report, 390)
    overflow = phone.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0  # nothing wider than a phone screen (the runs table scrolls alone)
    phone.screenshot(path=str(tmp_path / "report-phone.png"), full_page=True)
    phone.close()
    for found in (problems, phone_problems):
        assert found == {"console": [], "failed": [], "dialogs": [], "errors": []}


# -- what the media folders may lead to ----------------------------------------------
@pytest.mark.parametrize("link", ["absolute", "relative", "to-a-folder-link"])
def test_a_video_linked_from_outside_its_folder_is_skipped_with_a_warning(
    hostile: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture, link: str
) -> None:
    videos = hostile.parent / "videos"
    secret = tmp_path / "secret"
    secret.mkdir()
    shutil.copy(videos / "clean-episode-1.mp4", secret / "secret.mp4")
    if link == "absolute":
        (videos / "leak.mp4").symlink_to(secret / "secret.mp4")
    elif link == "relative":
        (videos / "leak.mp4").symlink_to(Path("..", "..", "secret", "secret.mp4"))
    else:  # a link to a link that leaves the folder
        (videos / "hop.mp4").symlink_to(secret / "secret.mp4")
        (videos / "leak.mp4").symlink_to("hop.mp4")
    (videos / "inside.mp4").symlink_to("clean-episode-1.mp4")  # stays inside: shown
    with caplog.at_level("WARNING", logger="gymscope.report.media"):
        text = write_report(hostile, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "secret" not in text and "leak.mp4" not in text
    assert "inside.mp4" in text
    assert "leak.mp4" in caplog.text and "outside" in caplog.text


def test_a_sidecar_linked_from_outside_is_not_read(
    hostile: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    videos = hostile.parent / "videos"
    outside = tmp_path / "private.json"
    outside.write_text(json.dumps({"episode": 123456789, "video": "private"}))
    shutil.copy(videos / "clean-episode-1.mp4", videos / "other.mp4")
    (videos / "other.mp4.json").symlink_to(outside)
    with caplog.at_level("WARNING", logger="gymscope.report.media"):
        text = write_report(hostile, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "other.mp4" in text and "123,456,789" not in text and "123456789" not in text
    assert "other.mp4.json" in caplog.text


@pytest.mark.parametrize("char", ["\x01", "\x1b", "\x7f", "\x85", "\x0b"])
def test_control_characters_in_file_names_never_reach_the_page(
    hostile: Path, tmp_path: Path, char: str
) -> None:
    videos = hostile.parent / "videos"
    shutil.copy(videos / "clean-episode-1.gif", videos / f"bad{char}name.gif")
    text = write_report(hostile, tmp_path / "r.html").read_text(encoding="utf-8")
    assert char not in text
    assert "bad\ufffdname.gif" in text


@pytest.mark.parametrize("char", ["\x00", "\x01", "\x1f", "\x9f"])
def test_control_characters_in_stored_names_never_reach_the_page(tmp_path: Path, char: str) -> None:
    import sqlite3

    db = tmp_path / "metrics.db"
    log(db, "plain", 3, agent="agent", config={"k": "v"})
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE experiment SET name = ?, agent = ?", (f"a{char}b", f"c{char}d"))
    conn.close()
    text = write_report(db, tmp_path / "r.html", title=f"t{char}t").read_text(encoding="utf-8")
    assert char not in text
    assert "a\ufffdb" in text and "t\ufffdt" in text


def test_the_report_of_a_thousand_runs_is_bounded_and_opens_in_chromium(
    browser: Any, tmp_path: Path
) -> None:
    from gymscope.report.page import DETAILED_RUNS, TABLE_ROWS

    build = load_script("benchmarks/read_scale.py").build
    db = tmp_path / "big.db"
    build(db, 1000 * 40, per_run=40)  # plain inserts: 1,000 runs of 40 episodes, 4 workers
    report = write_report(db, tmp_path / "report.html")
    assert report.stat().st_size < 3_000_000  # ~1 KB per row, the sections of 20 runs
    page, problems = open_report(browser, report, 1280)
    shown = page.eval_on_selector_all("#runs > .card > .table-scroll tbody tr", "r => r.length")
    older = page.locator("details.older-runs tbody tr")
    assert (shown, older.count()) == (TABLE_ROWS, 1000 - TABLE_ROWS)
    assert not older.first.is_visible()  # folded away until asked for
    page.locator("details.older-runs > summary").click()
    assert older.first.is_visible()
    sections = page.eval_on_selector_all(
        "section.run", "s => s.map(e => e.querySelector('.run-name').textContent)"
    )
    assert sections == [f"run-{i}" for i in range(1001 - DETAILED_RUNS, 1001)]
    links = page.eval_on_selector_all("table.runs tbody tr .name a", "a => a.length")
    assert links == DETAILED_RUNS  # the other runs have no section to link to
    page.close()
    assert problems == {"console": [], "failed": [], "dialogs": [], "errors": []}

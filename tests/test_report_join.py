"""Videos joined to runs: by the key of a versioned sidecar, by a guess for older
ones, and found in per-run subfolders of the videos folder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from gymscope.metrics.queries import MetricsReader
from gymscope.report import find_media, render_report, write_report
from gymscope.report.join import join_media
from gymscope.report.media import run_folder
from test_report import log

SCHEMA = "gymscope-video/2"


@pytest.fixture(scope="module")
def gif(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real GIF of episode 1 of the scripted env (return 1.0), recorded once."""
    folder = tmp_path_factory.mktemp("source")
    log(folder / "metrics.db", "source", 2, videos=folder / "videos")
    return folder / "videos" / "source-episode-1.gif"


def clip(gif: Path, path: Path, **sidecar: Any) -> Path:
    """A copy of ``gif`` at ``path`` with a sidecar: the real one updated with ``sidecar``
    (``schema=None`` removes the schema and run: a sidecar from before the key)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(gif, path)
    data = json.loads(gif.with_name(gif.name + ".json").read_text())
    data.update(schema=SCHEMA, run={"experiment": "source", "worker": 0}, video=path.name)
    data.update(sidecar)
    if data["schema"] is None:
        del data["schema"], data["run"]
    path.with_name(path.name + ".json").write_text(json.dumps(data))
    return path


def joined(db: Path, folders: list[Path]) -> tuple[dict[str, list[Any]], list[str]]:
    """File names by the name of the run they joined; and the unmatched ones."""
    with MetricsReader(db) as reader:
        runs = reader.runs()
        episodes = {run.id: reader.episodes(run.experiment) for run in runs}
        media = find_media(folders, runs=[run.name for run in runs])
        matched, unmatched = join_media(runs, episodes, media)
    names = {run.id: run.name for run in runs}
    by_run = {
        names[i]: [(m.item.path.name, m.worker, m.episodes) for m in v] for i, v in matched.items()
    }
    return by_run, [m.item.path.name for m in unmatched]


@pytest.fixture
def two_runs(tmp_path: Path) -> Path:
    """Runs "alpha" then "beta" with the same scripted returns, episode for episode."""
    db = tmp_path / "metrics.db"
    log(db, "alpha", 3)
    log(db, "beta", 3)
    return db


def test_a_keyed_sidecar_joins_its_run_even_where_the_guess_picks_another(
    gif: Path, two_runs: Path
) -> None:
    videos = two_runs.parent / "videos"
    clip(gif, videos / "keyed.gif", run={"experiment": "alpha", "worker": None})
    clip(gif, videos / "legacy.gif", schema=None)  # same returns: the guess takes the latest
    by_run, unmatched = joined(two_runs, [videos])
    assert [name for name, _, _ in by_run["alpha"]] == ["keyed.gif"]
    assert [name for name, _, _ in by_run["beta"]] == ["legacy.gif"]
    assert unmatched == []
    (_, worker, rows), *_ = by_run["alpha"]
    assert worker is None and [(r.episode_num, r.reward) for r in rows] == [(1, 1.0)]


def test_a_keyed_sidecar_of_an_unknown_or_no_run_is_unmatched(gif: Path, two_runs: Path) -> None:
    videos = two_runs.parent / "videos"
    clip(gif, videos / "gone.gif", run={"experiment": "Alpha", "worker": 0})  # exact names only
    clip(gif, videos / "nameless.gif", run={"experiment": None, "worker": None})
    by_run, unmatched = joined(two_runs, [videos])
    assert by_run == {} and unmatched == ["gone.gif", "nameless.gif"]
    text = write_report(two_runs, two_runs.parent / "r.html").read_text()
    assert 'src="videos/gone.gif"' in text[text.index('id="other-media"') :]


def test_legacy_sidecars_are_matched_by_returns_name_and_time(gif: Path, two_runs: Path) -> None:
    videos = two_runs.parent / "videos"
    clip(gif, videos / "alpha-episode-1.gif", schema=None)  # its name picks alpha
    clip(gif, videos / "late.gif", schema=None)  # written after beta ran
    clip(gif, videos / "wrong.gif", schema=None, episodes=[{"index": 1, "return": 7.0}])
    clip(gif, videos / "none.gif", schema=None, episodes=[])
    by_run, unmatched = joined(two_runs, [videos])
    assert [n for n, _, _ in by_run["alpha"]] == ["alpha-episode-1.gif"]
    assert [n for n, _, _ in by_run["beta"]] == ["late.gif"]
    assert unmatched == ["none.gif", "wrong.gif"]


def test_the_worker_picks_the_episodes_a_keyed_video_shows(gif: Path, tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    for worker in (0, 1):
        log(db, "multi", 3, worker=worker)  # both workers: the same returns
    videos = tmp_path / "videos"
    clip(gif, videos / "w1.gif", run={"experiment": "multi", "worker": 1})
    clip(gif, videos / "legacy.gif", schema=None)
    by_run, _ = joined(db, [videos])
    shown = {name: (worker, rows) for name, worker, rows in by_run["multi"]}
    worker, rows = shown["w1.gif"]
    assert worker == 1 and [(r.worker, r.episode_num) for r in rows] == [(1, 1)]
    worker, rows = shown["legacy.gif"]  # both workers fit: no worker shown
    assert worker is None and sorted(r.worker for r in rows) == [0, 1]
    text = write_report(db, tmp_path / "r.html").read_text()
    assert "return <strong>1</strong> · 2 steps · worker 1" in text  # SCRIPT[1]: 2 - 1


def test_videos_in_per_run_subfolders_are_found(gif: Path, two_runs: Path) -> None:
    videos = two_runs.parent / "videos"
    clip(gif, videos / "beta" / "mine.gif", run={"experiment": "beta", "worker": None})
    clip(gif, videos / "alpha" / "old.gif", schema=None)  # its folder picks alpha
    clip(gif, videos / "other" / "stray.gif")  # not a run's folder: not searched
    out = two_runs.parent / "site" / "r.html"
    text = write_report(two_runs, out).read_text()
    alpha, beta = text.index('id="run-1"'), text.index('id="run-2"')
    assert 'src="../videos/alpha/old.gif"' in text[alpha:beta]
    assert 'src="../videos/beta/mine.gif"' in text[beta:]
    assert "stray.gif" not in text
    with MetricsReader(two_runs) as reader:  # the CLI's way: media found without run names
        page = render_report(reader, out.parent, media=find_media([videos]))
    assert page.count("../videos/beta/mine.gif") == 2 and page.count("../videos/alpha/old.gif") == 2


def test_a_run_folder_never_leads_outside(gif: Path, tmp_path: Path) -> None:
    db = tmp_path / "metrics.db"
    log(db, "../outside", 2)
    log(db, "linked", 2)
    videos = tmp_path / "videos"
    videos.mkdir()
    outside = tmp_path / "outside"
    clip(gif, outside / "escaped.gif", run={"experiment": "../outside", "worker": None})
    os.symlink(outside, videos / "linked")
    assert run_folder(videos, "../outside") is None  # "outside": no such subfolder
    assert run_folder(videos, "linked") is None  # a symlink leaving videos/
    (videos / "outside").mkdir()
    assert run_folder(videos, "../outside") == videos / "outside"
    assert run_folder(videos, "...") is None  # nothing left of the name
    assert "escaped.gif" not in write_report(db, tmp_path / "r.html").read_text()


def test_the_report_command_finds_per_run_subfolders_of_media_folders(
    gif: Path, two_runs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from gymscope.cli import main

    media = two_runs.parent / "elsewhere"
    clip(gif, media / "beta" / "kept.gif", run={"experiment": "beta", "worker": None})
    clip(gif, media / "flat.gif", run={"experiment": "alpha", "worker": None})
    out = two_runs.parent / "r.html"
    assert main(["report", str(two_runs), "--media", str(media), "-o", str(out)]) == 0
    text = out.read_text()
    alpha, beta = text.index('id="run-1"'), text.index('id="run-2"')
    assert "elsewhere/flat.gif" in text[alpha:beta]
    assert "elsewhere/beta/kept.gif" in text[beta:]
    assert "(2 videos)" in capsys.readouterr().out

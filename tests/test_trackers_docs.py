"""The tracker pages' code blocks, run with the trackers' own SDKs (tier "trackers").

``tests/test_docs.py`` skips the blocks marked ``# doc: skip (needs <sdk>...)``:
the dev environment has no tracker SDK. Here, where the SDKs are installed,
each page's blocks run in order in a folder of their own, offline; after a
block that builds an ``env``, a few random episodes are played through it and
it is closed, so a later block that reads the run back finds one.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from test_docs import BLOCK, ROOT

NEEDS = re.compile(r"# doc: skip \(needs (wandb|mlflow|comet_ml)\b")
TESTS = Path(__file__).resolve().parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs" / "trackers").glob("*.md"))]


def _pages() -> list[tuple[str, list[tuple[str, str]]]]:
    """Per page, its blocks that need a tracker SDK: (SDK, code)."""
    found = []
    for page in PAGES:
        blocks = []
        for block in BLOCK.findall(page.read_text(encoding="utf-8")):
            needs = NEEDS.search(block)
            if needs is not None:
                blocks.append((needs.group(1), block))
        if blocks:
            found.append((str(page.relative_to(ROOT)), blocks))
    return found


def _play(env: Any, episodes: int = 3) -> None:
    env.action_space.seed(0)
    env.reset(seed=0)
    done = 0
    while done < episodes:
        *_, terminated, truncated, _ = env.step(env.action_space.sample())
        if terminated or truncated:
            done += 1
            env.reset()
    env.close()


def test_every_tracker_page_has_blocks_to_run() -> None:
    pages = dict(_pages())
    assert {"docs/trackers/wandb.md", "docs/trackers/mlflow.md", "docs/trackers/comet.md"} <= set(
        pages
    )


def run_page(page: str) -> None:
    """Run ``page``'s tracker blocks in order, in the current folder (the child's body)."""
    import warnings

    from gymscope.trackers.sink import TrackerFailedWarning

    # MLflow's own use of SQLAlchemy and pydantic warns (as in test_trackers_mlflow)
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)
    # a tracker that fails is only warned about (training goes on): here it fails the page
    warnings.simplefilter("error", TrackerFailedWarning)
    for i, (_, code) in enumerate(dict(_pages())[page]):
        where = f"{page}#{i}"
        namespace: dict[str, Any] = {"__name__": f"doc:{where}"}
        exec(compile(code, where, "exec"), namespace)
        env = namespace.get("env")
        if env is not None:
            _play(env)


@pytest.mark.integration(tier="trackers")
@pytest.mark.parametrize(("page", "blocks"), _pages(), ids=[p for p, _ in _pages()])
def test_tracker_page_blocks_run_offline(
    page: str, blocks: list[tuple[str, str]], tmp_path: Path
) -> None:
    # a process per page: the SDKs keep state per process (MLflow caches its
    # store per URI, so a relative sqlite:/// URL would stay in the first folder)
    for sdk in {sdk for sdk, _ in blocks}:
        pytest.importorskip(sdk)
    env = {n: v for n, v in os.environ.items() if not n.startswith(("WANDB_", "COMET_"))}
    env.update(
        WANDB_MODE="offline",
        WANDB_SILENT="true",
        WANDB_ERROR_REPORTING="false",
        COMET_ERROR_TRACKING_ENABLE="false",
        PYTHONPATH=os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p),
    )
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        env[name] = str(tmp_path / "wandb-home" / name.lower())
    code = "import sys, test_trackers_docs as t; t.run_page(sys.argv[1])"
    done = subprocess.run(
        [sys.executable, "-c", code, page],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]

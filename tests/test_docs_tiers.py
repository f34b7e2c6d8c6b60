"""The documentation's code blocks that need an optional library, run in its tier.

``tests/test_docs.py`` skips the blocks marked ``# doc: skip (needs ...)``:
the dev environment has neither the trackers' SDKs nor SB3. Here, in the
integration tier that has them, each page's blocks of that kind run in order
in one namespace (as a reader would paste them), in a folder and a process of
their own, offline. After a block that builds a new ``env``, a few random
episodes are played through it and it is closed, so a later block that reads
the run back finds one. Training runs are shortened
(``total_timesteps=50_000`` becomes 1,024), nothing else is changed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from test_docs import marked_blocks

TESTS = Path(__file__).resolve().parent
#: tier: (the skip marks of its blocks, the modules they import)
TIERS = {
    "trackers": (re.compile(r"# doc: skip \(needs (wandb|mlflow|comet_ml)\b"), ()),
    "sb3": (
        re.compile(r"# doc: skip \(needs stable-baselines3, an optional package\)"),
        ("stable_baselines3",),
    ),
}
SHORTER = (re.compile(r"total_timesteps=50_000"), "total_timesteps=1_024")


def _pages(tier: str) -> list[tuple[str, list[str]]]:
    """Per page, its blocks of ``tier``."""
    return marked_blocks(TIERS[tier][0])


def _sdks(tier: str, blocks: list[str]) -> set[str]:
    mark, modules = TIERS[tier]
    return {m.group(1) for b in blocks if (m := mark.search(b)) and m.groups()} | set(modules)


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


def run_page(tier: str, page: str) -> None:
    """Run ``page``'s blocks of ``tier`` in order, in the current folder (the child's body)."""
    import warnings

    from gymscope.trackers.sink import TrackerFailedWarning

    # MLflow's own use of SQLAlchemy and pydantic warns (as in test_trackers_mlflow)
    warnings.simplefilter("ignore", DeprecationWarning)
    warnings.simplefilter("ignore", FutureWarning)
    # a tracker that fails is only warned about (training goes on): here it fails the page
    warnings.simplefilter("error", TrackerFailedWarning)
    namespace: dict[str, Any] = {"__name__": "__main__"}
    played: set[int] = set()
    for i, code in enumerate(dict(_pages(tier))[page]):
        where = f"{page}#{i}"
        exec(compile(SHORTER[0].sub(SHORTER[1], code), where, "exec"), namespace)
        env = namespace.get("env")
        if env is not None and id(env) not in played and hasattr(env, "action_space"):
            played.add(id(env))
            _play(env)


def test_the_optional_blocks_are_found() -> None:
    trackers = {page for page, _ in _pages("trackers")}
    pages = {"docs/trackers/wandb.md", "docs/trackers/mlflow.md", "docs/trackers/comet.md"}
    assert pages <= trackers
    assert [page for page, _ in _pages("sb3")] == ["docs/guides/sb3.md"]


def _cases() -> list[Any]:
    return [
        pytest.param(tier, page, blocks, marks=pytest.mark.integration(tier=tier), id=page)
        for tier in TIERS
        for page, blocks in _pages(tier)
    ]


@pytest.mark.parametrize(("tier", "page", "blocks"), _cases())
def test_optional_blocks_run(tier: str, page: str, blocks: list[str], tmp_path: Path) -> None:
    # a process per page: the SDKs keep state per process (MLflow caches its
    # store per URI, so a relative sqlite:/// URL would stay in the first folder)
    # looked up, not imported: importing comet_ml here would install its import
    # hooks and (at random) its Sentry client in this process, for later tests
    missing = [sdk for sdk in sorted(_sdks(tier, blocks)) if importlib.util.find_spec(sdk) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)}")
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
    code = "import sys, test_docs_tiers as t; t.run_page(sys.argv[1], sys.argv[2])"
    done = subprocess.run(
        [sys.executable, "-c", code, tier, page],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    assert "Traceback" not in done.stderr, done.stderr[-4000:]

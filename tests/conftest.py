"""Shared fixtures: every test runs in its own temporary working directory.

Integration tests (``@pytest.mark.integration(tier="sb3")``) drive a real
third-party library. ``uv run pytest`` skips them when the library is not
installed; CI runs each tier in a virtual environment of its own, built from
``.ci/integration/<tier>.txt``, with ``GYMSCOPE_REQUIRE_INTEGRATION=1``: then
a skipped integration test is a failure. Skip inside the test or a fixture
(``pytest.importorskip`` in the body), not at module level: a module that
skips while being imported hides its marks, so this hook could not see them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REQUIRE_INTEGRATION_ENV = "GYMSCOPE_REQUIRE_INTEGRATION"


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files a test forgets to point at tmp_path (metrics.db, runs/) land there."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def read_only_mount(tmp_path: Path) -> Iterator[tuple[Path, Callable[[], None]]]:
    """A tmpfs folder and a function that remounts it read-only (root only)."""
    folder = tmp_path / "mnt"
    folder.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a read-only file system needs root")
    made = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(folder)], capture_output=True
    )
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")

    def freeze() -> None:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)

    try:
        yield folder, freeze
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A tier CI does not know would never run: refuse it at collection.
    for item in items:
        for mark in item.iter_markers("integration"):
            tier = mark.kwargs.get("tier")
            if mark.args or not isinstance(tier, str) or not tier:
                raise pytest.UsageError(
                    f"{item.nodeid}: write the mark as integration(tier='<name>'), got {mark}"
                )
            if not (ROOT / ".ci" / "integration" / f"{tier}.txt").is_file():
                raise pytest.UsageError(
                    f"{item.nodeid}: integration tier {tier!r} has no requirements file "
                    f".ci/integration/{tier}.txt, so CI would not run it"
                )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if (
        report.skipped
        and not hasattr(report, "wasxfail")
        and item.get_closest_marker("integration") is not None
        and os.environ.get(REQUIRE_INTEGRATION_ENV, "") not in ("", "0")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        reason = str(reason).removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = (
            f"{reason}, and {REQUIRE_INTEGRATION_ENV}=1 requires integration tests to run"
        )
    return report

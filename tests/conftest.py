"""Shared fixtures: every test runs in its own temporary working directory."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files a test forgets to point at tmp_path (metrics.db, runs/) land there."""
    monkeypatch.chdir(tmp_path)

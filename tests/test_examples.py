"""Every example's main() runs; the values it reports are the wrapper's."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_cleanrl_vector_loop(capsys: pytest.CaptureFixture[str]) -> None:
    episodes = load("cleanrl_vector_loop").main(total_steps=1_200, num_envs=3)
    out = capsys.readouterr().out
    assert len(episodes) == out.count("episodic_return=") > 10
    assert all(ep["l"] == ep["r"] for ep in episodes)  # CartPole: +1 per step
    assert all(ep["r_mean"] > 0 for ep in episodes)

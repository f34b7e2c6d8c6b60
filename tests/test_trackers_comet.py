"""CometClient against the real comet_ml SDK, offline, read back from its zip archives.

The integration tests (tier "trackers") drive the client through the
TrackerClient protocol as the tracker sink does, then read what Comet stored
with tests/readback_comet.py and compare exactly. No network: every
experiment is an OfflineExperiment, and the fixture points Comet's config at
an empty file in tmp_path.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from gymnasium.error import DependencyNotInstalled

from gymscope.errors import InvalidArgumentError, UsageError
from gymscope.trackers._client import TrackerClient, TrackerRunSpec
from gymscope.trackers.comet import DEFAULTS, CometClient, CometExperimentError
from readback import Readback
from readback_comet import archives, read_comet
from tracker_videos import write_video

integration = pytest.mark.integration(tier="trackers")

CONFIG = {"agent": "PPO", "env": "CartPole-v1", "lr": 0.0003, "net": {"layers": [64, 64]}}


@pytest.fixture
def comet(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # Not at module level: a module-level skip would hide the integration mark.
    for name in list(os.environ):
        if name.startswith("COMET_"):
            monkeypatch.delenv(name)
    config = tmp_path / "comet.config"
    config.write_text("[comet]\n")
    monkeypatch.setenv("COMET_CONFIG", str(config))
    # comet_ml sends its own warnings to Comet's Sentry (decided at import,
    # at random), offline too: not from here.
    monkeypatch.setenv("COMET_ERROR_TRACKING_ENABLE", "false")
    module = pytest.importorskip("comet_ml")
    import sentry_sdk  # a comet_ml dependency

    assert not sentry_sdk.get_client().is_active()
    return module


def _spec(tmp_path: Path, **fields: object) -> TrackerRunSpec:
    values: dict[str, object] = {
        "project": "gymscope-tests",
        "name": "PPO_CartPole-v1_5ep",
        "tags": ("ppo", "cartpole"),
        "directory": tmp_path / "comet",
        "offline": True,
    }
    values.update(fields)
    return TrackerRunSpec(**values)  # type: ignore[arg-type]


@integration
def test_an_experiment_reads_back_exactly(comet: ModuleType, tmp_path: Path) -> None:
    """Parameters (nested ones flattened by Comet), interleaved metrics at
    their env steps, an MP4 and a GIF with their metadata, name and tags:
    all read back from the zip as logged, and nothing Comet logs by itself
    but its step bookkeeping."""
    mp4 = write_video(tmp_path / "rl-video-episode-1.mp4")
    gif = write_video(tmp_path / "rl-video-episode-2.gif", frames=4)
    client = CometClient()
    assert isinstance(client, TrackerClient)
    assert client.backend == "comet"
    run_id = client.start(_spec(tmp_path))
    client.log_config(CONFIG)
    client.log({"episode/return": 10.0, "episode/length": 10.0}, step=10)
    client.log({"train/loss": 0.5}, step=8)
    client.log({"episode/return": 15.0, "episode/length": 15.0}, step=25)
    client.log_video(mp4, step=25, key="video/episode", caption="episode 1, return 15")
    client.log({"train/loss": 0.25, "train/learning_rate": 0.0003}, step=24)
    client.log({"episode/return": 9.5, "episode/length": 9.0}, step=34)
    client.log_video(gif, step=34, key="video/episode", caption="episode 2, return 9.5")
    client.finish()
    client.finish()  # idempotent

    assert read_comet(tmp_path / "comet", run_id) == Readback(
        run_id=run_id,
        name="PPO_CartPole-v1_5ep",
        tags=["cartpole", "ppo"],
        config={"agent": "PPO", "env": "CartPole-v1", "lr": 0.0003, "net|layers": [64, 64]},
        metrics={
            "episode/return": [(10, 10.0), (25, 15.0), (34, 9.5)],
            "episode/length": [(10, 10.0), (25, 15.0), (34, 9.0)],
            "train/loss": [(8, 0.5), (24, 0.25)],
            "train/learning_rate": [(24, 0.0003)],
        },
        artifacts=["rl-video-episode-1.mp4", "rl-video-episode-2.gif"],
    )
    (archive,) = archives(tmp_path / "comet", run_id)
    assert archive.path == tmp_path / "comet" / f"{run_id}.zip"
    assert archive.experiment["project_name"] == "gymscope-tests"
    assert archive.videos == [
        (
            "rl-video-episode-1.mp4",
            25,
            {"caption": "episode 1, return 15", "key": "video/episode"},
            mp4.read_bytes(),
        ),
        (
            "rl-video-episode-2.gif",
            34,
            {"caption": "episode 2, return 9.5", "key": "video/episode"},
            gif.read_bytes(),
        ),
    ]
    # The only parameter Comet adds: the step of the last call.
    auto = {p.get_param_name() for p in archive.parameters if p.get_source() == "auto-logged"}
    assert auto == {"curr_step"}
    # Beside these, "sys.already_imported_modules" when an ML library Comet
    # hooks (tensorboard) was imported first.
    assert {"offline_experiment", "Name", "hasNestedParams"} <= set(archive.others)


@integration
def test_resume_continues_the_experiment(comet: ModuleType, tmp_path: Path) -> None:
    """A second start with the returned key continues the experiment: a
    second archive of the same key, read back as one experiment (the order
    ``comet upload`` must follow), nothing twice."""
    first = CometClient()
    run_id = first.start(_spec(tmp_path))
    first.log_config({"lr": 0.001})
    for step in (5, 10, 15):
        first.log({"episode/return": float(step)}, step=step)
    first.finish()

    second = CometClient()
    assert second.start(_spec(tmp_path, run_id=run_id, tags=("resumed",))) == run_id
    second.log_config({"lr": 0.0005, "resumed": True})
    for step in (20, 25):
        second.log({"episode/return": float(step)}, step=step)
    second.log({"train/loss": 1.0}, step=22)
    second.finish()

    found = archives(tmp_path / "comet", run_id)
    assert [a.experiment["resume_strategy"] for a in found] == ["create", "get"]
    assert found[1].path.name.startswith(f"{run_id}-")
    assert read_comet(tmp_path / "comet", run_id) == Readback(
        run_id=run_id,
        name="PPO_CartPole-v1_5ep",
        tags=["cartpole", "ppo", "resumed"],
        config={"lr": 0.0005, "resumed": True},
        metrics={
            "episode/return": [(5, 5.0), (10, 10.0), (15, 15.0), (20, 20.0), (25, 25.0)],
            "train/loss": [(22, 1.0)],
        },
    )


@integration
def test_one_experiment_at_a_time_and_none_ended_silently(
    comet: ModuleType, tmp_path: Path
) -> None:
    """Comet keeps one experiment alive per process: a second client's start
    is refused (the first one keeps logging); after finish() the next one
    starts; an experiment Comet ended behind the client's back is an error
    on the next call, not points silently dropped."""
    a, b = CometClient(), CometClient()
    id_a = a.start(_spec(tmp_path, name="a"))
    with pytest.raises(CometExperimentError, match=f"{id_a!r} is running in this process"):
        b.start(_spec(tmp_path, name="b"))
    a.log({"episode/return": 1.0}, step=1)
    a.finish()
    id_b = b.start(_spec(tmp_path, name="b"))
    b.log({"episode/return": 2.0}, step=2)
    b.finish()
    assert read_comet(tmp_path / "comet", id_a).metrics == {"episode/return": [(1, 1.0)]}
    assert read_comet(tmp_path / "comet", id_b).metrics == {"episode/return": [(2, 2.0)]}
    assert read_comet(tmp_path / "comet", id_b).name == "b"

    victim = CometClient()
    victim.start(_spec(tmp_path))
    own = comet.OfflineExperiment(offline_directory=str(tmp_path / "own"), **DEFAULTS)
    try:
        with pytest.raises(CometExperimentError, match="another Comet experiment started"):
            victim.log({"episode/return": 3.0}, step=3)
    finally:
        own.end()
        victim.finish()


@integration
def test_misuse_is_a_clear_error(comet: ModuleType, tmp_path: Path) -> None:
    client = CometClient()
    with pytest.raises(UsageError, match=r"call start\(\) first"):
        client.log({"x": 1.0}, step=1)
    with pytest.raises(
        InvalidArgumentError, match=r"'offline_directory' \(TrackerRunSpec.directory\)"
    ):
        client.start(_spec(tmp_path, settings={"offline_directory": "elsewhere"}))
    client.start(_spec(tmp_path))
    with pytest.raises(UsageError, match="already drives experiment"):
        client.start(_spec(tmp_path))
    client.finish()


def test_a_missing_sdk_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "comet_ml", None)  # import comet_ml raises ImportError
    with pytest.raises(DependencyNotInstalled, match=r'pip install "gymscope\[comet\]"'):
        CometClient().start(_spec(tmp_path))


@integration  # also in the tier, where the SDK is there to be imported
def test_importing_the_backend_does_not_import_comet() -> None:
    code = "import sys, gymscope.trackers.comet; print('comet_ml' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

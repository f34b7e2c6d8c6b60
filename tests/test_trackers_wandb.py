"""WandbClient against the real wandb SDK, offline, read back from the ``.wandb`` files.

The integration tests (tier "trackers") drive the client through the
TrackerClient protocol as the tracker sink does, then read what W&B stored
with tests/readback_wandb.py and compare exactly. No network: the fixture
puts W&B in offline mode, silent, without error reports, with its config
and cache folders in tmp_path.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
from gymnasium.error import DependencyNotInstalled

from gymscope.errors import InvalidArgumentError, UsageError
from gymscope.trackers._client import TrackerClient, TrackerRunSpec
from gymscope.trackers.wandb import WandbClient
from readback import Readback
from readback_wandb import media, read_wandb, run_files
from tracker_videos import write_video

integration = pytest.mark.integration(tier="trackers")

CONFIG = {"agent": "PPO", "env": "CartPole-v1", "lr": 0.0003, "net": {"layers": [64, 64]}}


@pytest.fixture
def wandb(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    # Not at module level: a module-level skip would hide the integration mark.
    module = pytest.importorskip("wandb")
    for name in list(os.environ):
        if name.startswith("WANDB_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_ERROR_REPORTING", "false")  # no reports to W&B's Sentry
    for name in ("WANDB_CONFIG_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_ARTIFACT_DIR"):
        monkeypatch.setenv(name, str(tmp_path / "wandb-home" / name.lower()))
    return module


def _spec(tmp_path: Path, **fields: object) -> TrackerRunSpec:
    values: dict[str, object] = {
        "project": "gymscope-tests",
        "name": "PPO_CartPole-v1_5ep",
        "tags": ("ppo", "cartpole"),
        "directory": tmp_path / "tracker",
        "offline": True,
    }
    values.update(fields)
    return TrackerRunSpec(**values)  # type: ignore[arg-type]


def _wandb_processes() -> dict[str, list[str]]:
    """This process's W&B helpers (wandb-core, and wandb-symon under it), by name."""
    listing = subprocess.run(
        ["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True, text=True, check=True
    ).stdout.split("\n")
    rows = [line.split() for line in listing if line.strip()]
    cores = [pid for pid, ppid, comm in rows if comm == "wandb-core" and ppid == str(os.getpid())]
    symons = [pid for pid, ppid, comm in rows if comm == "wandb-symon" and ppid in cores]
    return {"wandb-core": cores, "wandb-symon": symons}


@integration
def test_a_run_reads_back_exactly(wandb: ModuleType, tmp_path: Path) -> None:
    """Config, interleaved keys at their env steps (a key logged at a lower
    step than another key's last), an MP4 and a GIF with captions: all read
    back from the .wandb file as logged."""
    mp4 = write_video(tmp_path / "rl-video-episode-1.mp4")
    gif = write_video(tmp_path / "rl-video-episode-2.gif", frames=4)
    client = WandbClient()
    assert isinstance(client, TrackerClient)
    assert client.backend == "wandb"
    run_id = client.start(_spec(tmp_path))
    client.log_config(CONFIG)
    client.log({"episode/return": 10.0, "episode/length": 10.0}, step=10)
    client.log({"train/loss": 0.5}, step=8)  # lower than the episode's: kept
    client.log({"episode/return": 15.0, "episode/length": 15.0}, step=25)
    client.log_video(mp4, step=25, key="video/episode", caption="episode 1, return 15")
    client.log({"train/loss": 0.25, "train/learning_rate": 0.0003}, step=24)
    client.log({"episode/return": 9.5, "episode/length": 9.0}, step=34)
    client.log_video(gif, step=34, key="video/episode", caption="episode 2, return 9.5")
    client.finish()
    client.finish()  # idempotent

    back = read_wandb(tmp_path / "tracker", run_id)
    assert back == Readback(
        run_id=run_id,
        name="PPO_CartPole-v1_5ep",
        tags=["cartpole", "ppo"],
        config=CONFIG,
        metrics={
            "episode/return": [(10, 10.0), (25, 15.0), (34, 9.5)],
            "episode/length": [(10, 10.0), (25, 15.0), (34, 9.0)],
            "train/loss": [(8, 0.5), (24, 0.25)],
            "train/learning_rate": [(24, 0.0003)],
        },
        artifacts=back.artifacts,
    )
    # W&B names stored media {key}_{its own step}_{sha256[:20]}.{ext}, in files/media/videos/.
    videos = media(tmp_path / "tracker", run_id)
    assert [(key, step, caption) for key, step, _, caption in videos] == [
        ("video/episode", 25, "episode 1, return 15"),
        ("video/episode", 34, "episode 2, return 9.5"),
    ]
    for (_, _, stored, _), source in zip(videos, (mp4, gif), strict=True):
        assert stored.read_bytes() == source.read_bytes()
        digest = hashlib.sha256(source.read_bytes()).hexdigest()[:20]
        assert stored.name.endswith(f"_{digest}{source.suffix}")
        assert stored.parent.parts[-3:] == ("media", "videos", "video")
    assert back.artifacts == [stored.name for _, _, stored, _ in videos]
    (wandb_file,) = run_files(tmp_path / "tracker", run_id)
    assert wandb_file.path.parent.name.startswith("offline-run-")
    assert wandb_file.run.project == "gymscope-tests"


@integration
def test_resume_continues_the_run_without_duplicates(wandb: ModuleType, tmp_path: Path) -> None:
    """A second start with the returned id resumes the run: a second offline
    folder of the same id, read back as one run (in start order, as ``wandb
    sync`` uploads them), nothing twice."""
    first = WandbClient()
    run_id = first.start(_spec(tmp_path))
    first.log_config({"lr": 0.001})
    # Enough points for the .wandb file to span blocks (records cut in pieces).
    for step in range(1, 1501):
        first.log({"episode/return": step / 2}, step=step)
    first.finish()

    second = WandbClient()
    assert second.start(_spec(tmp_path, run_id=run_id, name="renamed")) == run_id
    second.log_config({"lr": 0.0005, "resumed": True})
    for step in (1600, 1700):
        second.log({"episode/return": float(step)}, step=step)
    second.log({"train/loss": 1.0}, step=1650)
    second.finish()

    files = run_files(tmp_path / "tracker", run_id)
    assert len(files) == 2
    assert len({f.path.parent for f in files}) == 2
    assert files[0].path.stat().st_size > 3 * 32768
    back = read_wandb(tmp_path / "tracker", run_id)
    assert back.metrics == {
        "episode/return": [(step, step / 2) for step in range(1, 1501)]
        + [(1600, 1600.0), (1700, 1700.0)],
        "train/loss": [(1650, 1.0)],
    }
    assert back.config == {"lr": 0.0005, "resumed": True}
    assert back.name == "renamed"
    # A folder of another run beside them is not read.
    other = WandbClient()
    other_id = other.start(_spec(tmp_path))
    other.log({"episode/return": -1.0}, step=1)
    other.finish()
    assert other_id != run_id
    assert read_wandb(tmp_path / "tracker", run_id) == back
    assert read_wandb(tmp_path / "tracker", other_id).metrics == {"episode/return": [(1, -1.0)]}


@integration
def test_two_runs_in_one_process_do_not_clash(wandb: ModuleType, tmp_path: Path) -> None:
    """Two clients open at once, logging interleaved: each run holds only its
    own points; one wandb-core serves both, it outlives the first finish()
    (the other run still needs it) and not the last."""
    a, b = WandbClient(), WandbClient()
    id_a = a.start(_spec(tmp_path, name="a"))
    id_b = b.start(_spec(tmp_path, name="b", tags=("b",)))
    assert id_a != id_b
    running = _wandb_processes()
    assert len(running["wandb-core"]) == 1
    for step in range(1, 4):
        a.log({"episode/return": float(step)}, step=step)
        b.log({"episode/return": float(-step)}, step=step * 10)
    a.log_config({"which": "a"})
    b.log_config({"which": "b"})
    a.finish()
    assert _wandb_processes()["wandb-core"] == running["wandb-core"]
    b.log({"train/loss": 2.0}, step=40)
    b.finish()
    assert _wandb_processes() == {"wandb-core": [], "wandb-symon": []}

    back_a = read_wandb(tmp_path / "tracker", id_a)
    back_b = read_wandb(tmp_path / "tracker", id_b)
    assert (back_a.name, back_a.tags, back_a.config) == ("a", ["cartpole", "ppo"], {"which": "a"})
    assert (back_b.name, back_b.tags, back_b.config) == ("b", ["b"], {"which": "b"})
    assert back_a.metrics == {"episode/return": [(1, 1.0), (2, 2.0), (3, 3.0)]}
    assert back_b.metrics == {
        "episode/return": [(10, -1.0), (20, -2.0), (30, -3.0)],
        "train/loss": [(40, 2.0)],
    }


@integration
def test_finish_returns_with_the_run_on_disk(wandb: ModuleType, tmp_path: Path) -> None:
    """run.finish() alone returns before wandb-core has written the run's
    records (often the file holds only its header); the client's finish()
    returns with the file complete, every time, and no W&B process left."""
    for attempt in range(4):
        client = WandbClient()
        run_id = client.start(_spec(tmp_path / str(attempt)))
        client.log({"episode/return": 1.0}, step=1)
        client.finish()
        assert _wandb_processes() == {"wandb-core": [], "wandb-symon": []}
        (wandb_file,) = run_files(tmp_path / str(attempt) / "tracker", run_id)
        assert [r.WhichOneof("record_type") for r in wandb_file.records][-1] == "exit"
        assert read_wandb(wandb_file.path.parent, run_id).metrics == {"episode/return": [(1, 1.0)]}


_CONSOLE_SCRIPT = """
import sys
from pathlib import Path
from gymscope.trackers._client import TrackerRunSpec
from gymscope.trackers.wandb import WandbClient

for name, settings in (("off", {}), ("wrap", {"settings": {"console": "wrap"}, "notes": "n"})):
    client = WandbClient()
    spec = TrackerRunSpec("p", name, directory=Path(sys.argv[1]) / name, offline=True,
                          settings=settings)
    run_id = client.start(spec)
    print("training output of", name, flush=True)
    client.finish()
    print("run", name, run_id, flush=True)
"""


@integration
def test_console_capture_is_off_unless_asked(wandb: ModuleType, tmp_path: Path) -> None:
    """By default W&B leaves the training's stdout alone (no output records,
    no output.log); a ``settings`` mapping in the spec is merged over that
    default. In a subprocess: W&B's capture does not work under pytest's."""
    done = subprocess.run(
        [sys.executable, "-c", _CONSOLE_SCRIPT, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = done.stdout.splitlines()
    assert lines[0::2] == ["training output of off", "training output of wrap"]
    ids = dict(line.split()[1:] for line in lines[1::2])
    (quiet,) = run_files(tmp_path / "off", ids["off"])
    assert not (quiet.files_dir / "output.log").exists()
    assert not [r for r in quiet.records if "output" in r.WhichOneof("record_type")]
    (wrapped,) = run_files(tmp_path / "wrap", ids["wrap"])
    captured = "".join(r.output_raw.line for r in wrapped.records if r.HasField("output_raw"))
    assert "training output of wrap" in captured
    assert (wrapped.files_dir / "output.log").exists()
    assert wrapped.run.notes == "n"


@integration
def test_misuse_is_a_clear_error(wandb: ModuleType, tmp_path: Path) -> None:
    client = WandbClient()
    with pytest.raises(UsageError, match=r"call start\(\) first"):
        client.log({"x": 1.0}, step=1)
    with pytest.raises(InvalidArgumentError, match=r"'dir' \(TrackerRunSpec.directory\)"):
        client.start(_spec(tmp_path, settings={"dir": "elsewhere"}))
    client.start(_spec(tmp_path))
    with pytest.raises(UsageError, match="already drives run"):
        client.start(_spec(tmp_path))
    client.finish()


def test_a_missing_sdk_names_the_install_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "wandb", None)  # import wandb raises ImportError
    with pytest.raises(DependencyNotInstalled, match=r'pip install "gymscope\[wandb\]"'):
        WandbClient().start(_spec(tmp_path))


@integration  # also in the tier, where the SDK is there to be imported
def test_importing_the_backend_does_not_import_wandb() -> None:
    code = "import sys, gymscope.trackers.wandb; print('wandb' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@integration
def test_example_wandb_offline(
    wandb: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from stubs import load_script

    summary = load_script("examples/wandb_offline.py").main(tmp_path / "out", episodes=4)
    (run_dir,) = summary["run_dirs"]  # wandb/offline-run-{time}-{run id}
    assert f"wandb sync {run_dir}" in capsys.readouterr().out
    back = read_wandb(tmp_path / "out", run_dir.name.rsplit("-", 1)[1])
    returns = summary["returns"]
    assert [value for _, value in back.metrics["episode/return"]] == returns
    # CartPole pays 1 per step: an episode's step is the env steps taken so far
    steps = [step for step, _ in back.metrics["episode/return"]]
    assert steps == [sum(returns[: k + 1]) for k in range(len(returns))]
    assert back.tags == ["random"] and back.name == "CartPole-v1"

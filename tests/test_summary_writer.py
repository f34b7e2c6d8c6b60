"""gymscope.SummaryWriter: TensorBoard's SummaryWriter calls stored in the metrics database."""

from __future__ import annotations

import argparse
import math
import warnings
from pathlib import Path

import numpy as np
import pytest

import gymscope
from gymscope import SummaryWriter
from gymscope.errors import ArgumentTypeError, InvalidArgumentError
from gymscope.integrations.summary_writer import parse_hyperparameters
from gymscope.metrics.reader import MetricsReader
from stubs_db import backend_url, query


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "metrics.db"


def _cleanrl_text(args: argparse.Namespace) -> str:
    """CleanRL's exact call, from ppo.py."""
    return "|param|value|\n|-|-|\n%s" % (  # noqa: UP031 (CleanRL's own spelling)
        "\n".join([f"|{key}|{value}|" for key, value in vars(args).items()])
    )


def test_scalars_at_their_steps_with_exact_values(db: Path) -> None:
    with SummaryWriter(db=db, experiment="cleanrl") as writer:
        writer.add_scalar("charts/learning_rate", 2.5e-4, 0)
        writer.add_scalar("losses/value_loss", np.float32(0.125), 512, walltime=1000.0)
        writer.add_scalar("charts/SPS", 3001, 512)
        writer.add_scalar("losses/approx_kl", math.nan, 1024)
        writer.add_scalar("losses/late", 7.0)  # no step: the last one given
        writer.add_scalars("returns", {"train": 1.5, "eval": np.float64(2.0)}, 2048)
    with MetricsReader(db) as reader:
        metrics = reader.metrics("cleanrl")
    assert metrics.names == [
        "charts/SPS",
        "charts/learning_rate",
        "losses/approx_kl",
        "losses/late",
        "losses/value_loss",
        "returns/eval",
        "returns/train",
    ]
    table = {
        name: list(zip(s.steps.tolist(), s.values.tolist(), strict=True))
        for name, s in metrics.series.items()
    }
    assert table["charts/learning_rate"] == [(0, 2.5e-4)]
    assert table["losses/value_loss"] == [(512, 0.125)]
    assert table["charts/SPS"] == [(512, 3001.0)]
    assert table["losses/late"] == [(1024, 7.0)]
    assert table["returns/train"] == [(2048, 1.5)] and table["returns/eval"] == [(2048, 2.0)]
    assert math.isnan(metrics["losses/approx_kl"].values[0])
    assert metrics["losses/value_loss"].wall_time.tolist() == [1000.0]
    assert set(metrics["charts/SPS"].workers.tolist()) == {-1}


def test_cleanrl_hyperparameters_become_the_runs_config(db: Path) -> None:
    args = argparse.Namespace(
        exp_name="ppo",
        seed=1,
        torch_deterministic=True,
        env_id="CartPole-v1",
        learning_rate=2.5e-4,
        wandb_entity=None,
        hidden=[64, 64],
        note="a|b",
    )
    text = _cleanrl_text(args)
    with SummaryWriter(db=db, experiment="hp") as writer:
        writer.add_text("hyperparameters", text)
        writer.add_text("notes", "|a|b|\n|-|-|\n|x|1|")  # another tag: a text only
    with MetricsReader(db) as reader:
        configs = reader.configs("hp")
        texts = reader.texts("hp")
    assert [c.value() for c in configs] == [
        {
            "exp_name": "ppo",
            "seed": 1,
            "torch_deterministic": True,
            "env_id": "CartPole-v1",
            "learning_rate": 2.5e-4,
            "wandb_entity": None,
            "hidden": [64, 64],
            "note": "a|b",
        }
    ]
    assert [(t.tag, t.step, t.text) for t in texts] == [
        ("hyperparameters", 0, text),
        ("notes", 0, "|a|b|\n|-|-|\n|x|1|"),
    ]


@pytest.mark.parametrize(
    "text",
    ["", "no table", "|param|value|", "|param|value|\n|-|-|\n|broken", "|a|\n|-|\n|b|"],
)
def test_other_hyperparameters_texts_are_texts_only(db: Path, text: str) -> None:
    assert parse_hyperparameters(text) is None
    with SummaryWriter(db=db, experiment="hp", config={"given": 1}) as writer:
        writer.add_text("hyperparameters", text)
    with MetricsReader(db) as reader:
        assert [c.value() for c in reader.configs("hp")] == [{"given": 1}]
        assert [t.text for t in reader.texts("hp")] == [text]


def test_hparams_go_to_the_config_and_the_metrics(db: Path) -> None:
    with SummaryWriter(db=db, experiment="hparams") as writer:
        writer.add_scalar("x", 1.0, 50)
        writer.add_hparams({"lr": 0.1, "bs": 32}, {"hparam/return": 200.0})
    with MetricsReader(db) as reader:
        assert [c.value() for c in reader.configs("hparams")] == [{"lr": 0.1, "bs": 32}]
        series = reader.metrics("hparams")["hparam/return"]
        assert (series.steps.tolist(), series.values.tolist()) == ([50], [200.0])


def test_other_methods_warn_once_each_and_store_nothing(db: Path) -> None:
    writer = SummaryWriter(db=db, experiment="ignored")
    with pytest.warns(UserWarning, match=r"is not stored in the metrics database: ignored") as seen:
        writer.add_histogram("w", np.zeros(3), 0)
        writer.add_histogram("w", np.zeros(3), 1)
        writer.add_image("img", np.zeros((3, 2, 2)), 0)
        writer.add_graph(object())
    assert sorted(str(w.message).split("(")[0] for w in seen) == [
        "SummaryWriter.add_graph",
        "SummaryWriter.add_histogram",
        "SummaryWriter.add_image",
    ]
    with pytest.raises(AttributeError, match="no attribute 'add_scaler'"):
        writer.add_scaler("typo", 1.0)  # type: ignore[attr-defined]
    writer.close()
    assert not db.exists()  # nothing was stored: no run was created


def test_bad_values_name_the_tag(db: Path) -> None:
    with SummaryWriter(db=db, experiment="bad") as writer:
        with pytest.raises(ArgumentTypeError, match=r"scalar_value of 'loss' must be a real"):
            writer.add_scalar("loss", "0.5")  # type: ignore[arg-type]
        with pytest.raises(InvalidArgumentError, match=r"global_step must be an int >= 0"):
            writer.add_scalar("loss", 0.5, -1)
        with pytest.raises(ArgumentTypeError, match=r"tag_scalar_dict\['a'\] must be a real"):
            writer.add_scalars("m", {"a": None})  # type: ignore[dict-item]
        with pytest.raises(ArgumentTypeError, match="log_dir must be a folder path"):
            SummaryWriter(3, db=db)  # type: ignore[arg-type]


def test_log_dir_names_the_run_and_gets_the_same_events(tmp_path: Path, db: Path) -> None:
    pytest.importorskip("tensorboardX")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_name = "CartPole-v1__ppo__1__1700000000"
    log_dir = tmp_path / "runs" / run_name
    writer = SummaryWriter(str(log_dir), db=db)  # CleanRL: SummaryWriter(f"runs/{run_name}")
    assert writer.experiment_name == run_name and writer.get_logdir() == str(log_dir)
    writer.add_scalar("losses/value_loss", 0.5, 10)
    writer.add_scalar("losses/value_loss", 0.25, 20)
    writer.add_text("notes", "hello", 20)
    with pytest.warns(UserWarning, match="written to the event file only"):
        writer.add_histogram("weights", np.arange(4.0), 20)
    writer.close()
    writer.close()  # idempotent
    events = EventAccumulator(str(log_dir), size_guidance={"histograms": 0})
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("losses/value_loss")] == [
        (10, 0.5),
        (20, 0.25),
    ]
    assert "weights" in events.Tags()["histograms"]
    with MetricsReader(db) as reader:
        series = reader.metrics(run_name)["losses/value_loss"]
        assert list(zip(series.steps.tolist(), series.values.tolist(), strict=True)) == [
            (10, 0.5),
            (20, 0.25),
        ]


def test_postgresql(tmp_path: Path) -> None:
    url = backend_url("postgresql", tmp_path)
    with SummaryWriter(db=url, experiment="pg") as writer:
        writer.add_scalar("a", 1.5, 3)
        writer.add_text("hyperparameters", "|param|value|\n|-|-|\n|seed|7|")
    assert query(url, "SELECT name, step, value, worker FROM gymscope_metric") == [
        ("a", 3, 1.5, None)
    ]
    assert query(url, "SELECT config FROM experiment") == [('{"seed": 7}',)]


def test_is_exported_lazily() -> None:
    assert gymscope.SummaryWriter is SummaryWriter
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert "SummaryWriter" in gymscope.__all__

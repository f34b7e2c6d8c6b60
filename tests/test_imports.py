"""`import gymscope` stays light: heavy packages load only when used."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("sqlmodel", "sqlalchemy", "moviepy", "imageio", "PIL", "rich", "tensorboardX")


def loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    return set(out.split())


def test_import_gymscope_loads_nothing_heavy() -> None:
    loaded = loaded_after("import gymscope")
    assert not loaded & {*HEAVY, "gymnasium", "numpy"}


def test_stats_wrapper_does_not_pull_database_or_video_packages() -> None:
    loaded = loaded_after("import gymscope\ngymscope.EpisodeStatsWrapper")
    assert "gymnasium" in loaded
    assert not loaded & set(HEAVY)


def test_trainer_side_writers_load_the_database_only_when_used() -> None:
    for name in ("RunLogger", "SummaryWriter", "sb3"):
        loaded = loaded_after(f"import gymscope\ngymscope.{name}")
        assert not loaded & {*HEAVY, "torch", "tensorboard", "stable_baselines3"}, name


def test_sb3_vecmonitor_class_loads_neither_sb3_nor_the_database() -> None:
    # SB3 is imported when a VecMonitor is made, the database code when it has db=
    loaded = loaded_after("import gymscope.sb3\ngymscope.sb3.VecMonitor")
    assert "gymscope" in loaded
    assert not loaded & {*HEAVY, "torch", "stable_baselines3"}


def test_unknown_attribute_is_an_attribute_error() -> None:
    import pytest

    import gymscope

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        gymscope.Nope  # noqa: B018


def test_jinja2_loads_only_when_a_report_is_rendered() -> None:
    for code in ("import gymscope", "import gymscope.cli", "import gymscope.report"):
        assert not loaded_after(code) & {"jinja2", "markupsafe"}, code
    render = (
        "import tempfile, pathlib\nfrom gymscope.metrics import get_db_engine\n"
        "from gymscope.report import write_report\n"
        "d = pathlib.Path(tempfile.mkdtemp())\nget_db_engine(d / 'm.db').dispose()\n"
        "write_report(d / 'm.db', d / 'r.html')"
    )
    assert "jinja2" in loaded_after(render)

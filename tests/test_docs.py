"""The Python code blocks of README.md (and docs/*.md) run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.MULTILINE | re.DOTALL)


def _blocks() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for i, block in enumerate(BLOCK.findall(doc.read_text(encoding="utf-8"))):
            if "# doc: skip" not in block:
                found.append((f"{doc.relative_to(ROOT)}#{i}", block))
    return found


@pytest.mark.parametrize(("where", "code"), _blocks(), ids=[w for w, _ in _blocks()])
def test_code_block_runs(where: str, code: str) -> None:
    namespace: dict[str, object] = {"__name__": f"doc:{where}"}
    exec(compile(code, where, "exec"), namespace)


# -- the blocks that need a PostgreSQL server -----------------------------------------
PG_MARK = re.compile(
    r"# doc: skip \(needs a PostgreSQL server\)|# doc: skip\s+\(needs a running server\)"
)
PG_URL = re.compile(r'"postgresql\+psycopg://[^"]*"')


def marked_blocks(mark: re.Pattern[str]) -> list[tuple[str, list[str]]]:
    """Per page, in order, its code blocks in which ``mark`` is found."""
    found = []
    for doc in DOCS:
        blocks = [b for b in BLOCK.findall(doc.read_text(encoding="utf-8")) if mark.search(b)]
        if blocks:
            found.append((str(doc.relative_to(ROOT)), blocks))
    return found


def _pg_pages() -> list[tuple[str, list[str]]]:
    return marked_blocks(PG_MARK)


@pytest.mark.slow
@pytest.mark.parametrize(("page", "blocks"), _pg_pages(), ids=[p for p, _ in _pg_pages()])
def test_postgresql_blocks_run(
    page: str, blocks: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against the tests' own server: the example URLs (and ``$METRICS_URL``)
    become a fresh database of it; ``sslmode=require`` is dropped (the test
    server has no certificate) and a 10,000-step loop plays 500 steps."""
    from stubs_db import backend_url

    url = backend_url("postgresql", tmp_path)
    monkeypatch.setenv("METRICS_URL", url)
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": f"doc:{page}"}
    for i, code in enumerate(blocks):
        code = PG_URL.sub(repr(url), code)
        code = code.replace('"sslmode": "require", ', "").replace("range(10_000)", "range(500)")
        exec(compile(code, f"{page}#{i}", "exec"), namespace)
        env = namespace.pop("env", None)
        close = getattr(env, "close", None)
        if callable(close):
            close()


def test_the_postgresql_blocks_are_found() -> None:
    pages = dict(_pg_pages())
    assert set(pages) == {"docs/database.md", "docs/guides/postgresql.md", "docs/many-machines.md"}
    assert sum(len(blocks) for blocks in pages.values()) == 6

"""Griffe extension for the docs site: docstrings written for ``help()`` and
doctest, shown well by mkdocstrings. It changes nothing in the source.

Doctests. A ``>>>`` example outside an ``Examples:`` section (in a module
docstring, under ``Example:``, after a method's summary) would be read as
Markdown prose: its output ``[0, 5]`` would become a link. Each run of
doctest lines (up to the next blank line) is put in a ``pycon`` code fence,
without its ``# doctest:`` flags.

Sphinx roles. gymscope's docstrings use Sphinx roles (:class:`EpisodeTracker`,
:meth:`~gymscope.wrappers.curves.CurveRecorderWrapper.save`) so that they read
well in ``help()`` and in any Sphinx build. mkdocstrings does not know those
roles; this extension rewrites each one, before the docstring is parsed, into
an *optional* autorefs cross-reference when the name resolves to a gymscope
object, and into inline code otherwise (gymnasium, SQLAlchemy, ...). Optional
references that point at an object without a page (a private helper) stay
plain code instead of failing the strict build.

Used from ``mkdocs.yml``:
``extensions: [docs/_ext/sphinx_roles.py:SphinxRoles]``.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(
    r":(?:py:)?(?P<role>class|func|meth|attr|mod|data|exc|obj|const|type):"
    r"`(?P<body>[^`]+)`"
)
TITLED = re.compile(r"^(?P<title>.+?)\s*<(?P<target>[^<>]+)>$")
DOCTEST_FLAGS = re.compile(r"\s*#\s*doctest:.+$")


def _resolve(obj: griffe.Object, target: str) -> str | None:
    """Full dotted path of ``target`` as seen from ``obj``, if it is a gymscope name."""
    if target.startswith("gymscope"):
        return target
    head, _, tail = target.partition(".")
    scope: griffe.Object | None = obj
    while scope is not None:
        try:
            path = scope.resolve(head)
        except (griffe.NameResolutionError, AttributeError, KeyError):
            scope = scope.parent
            continue
        full = f"{path}.{tail}" if tail else path
        return full if full.startswith("gymscope") else None
    return None


def _rewrite(obj: griffe.Object, text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        body = match["body"].strip()
        titled = TITLED.match(body)
        if titled:
            title, target = titled["title"], titled["target"].strip()
        else:
            target = body.lstrip("~.")
            title = target.rsplit(".", 1)[-1] if body.startswith("~") else target
        if match["role"] in ("func", "meth") and not title.endswith(")"):
            title += "()"
        path = _resolve(obj, target.lstrip("."))
        code = f"<code>{title}</code>"
        if path is None:
            return code
        return f'<autoref identifier="{path}" optional>{code}</autoref>'

    return ROLE.sub(replace, text)


def _fence_doctests(text: str) -> str:
    """Put every doctest block that is not already in a code fence in a ``pycon`` fence."""
    out: list[str] = []
    lines = text.split("\n")
    in_fence = False
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.lstrip()
        if stripped.startswith("```"):
            in_fence = not in_fence
        if in_fence or not stripped.startswith(">>>"):
            out.append(line)
            i += 1
            continue
        indent = line[: len(line) - len(stripped)]
        out.append(f"{indent}```pycon")
        while i < len(lines) and lines[i].strip():
            out.append(DOCTEST_FLAGS.sub("", lines[i]))
            i += 1
        out.append(f"{indent}```")
    return "\n".join(out)


class SphinxRoles(griffe.Extension):
    """Fences doctests and rewrites Sphinx roles once the package is loaded."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: Any) -> None:
        seen: set[int] = set()
        stack: list[griffe.Object] = [pkg]
        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            if obj.docstring is not None:
                obj.docstring.value = _rewrite(obj, _fence_doctests(obj.docstring.value))
            for member in obj.members.values():
                if not member.is_alias:
                    stack.append(member)  # type: ignore[arg-type]

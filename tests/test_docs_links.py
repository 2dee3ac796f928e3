"""Every internal link of the README and of docs/ resolves: the file exists and,
for ``file#anchor``, the heading does (GitHub's slugs)."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes."""
    text = heading.strip().lower()
    text = "".join(c for c in text if unicodedata.category(c)[0] in "LN" or c in " -_")
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    found: set[str] = set()
    in_code = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            found.add(slug(line.lstrip("#")))
    return found


def links(path: Path) -> list[str]:
    text = re.sub(r"```.*?```", "", path.read_text(encoding="utf-8"), flags=re.S)
    text = re.sub(r"`[^`\n]*`", "", text)
    return [m.group(1) for m in LINK.finditer(text)]


def app_has(page: str) -> bool:
    """Does a route of the application answer GET ``page`` (the user guide links to pages)?"""
    from starlette.routing import Match

    global _APP
    if _APP is None:
        from api.app import create_app
        from graph.settings import Settings

        _APP = create_app(Settings(data_dir=ROOT / "data-never-opened"))
    scope = {"type": "http", "path": page, "method": "GET", "root_path": "", "headers": []}
    return any(route.matches(scope)[0] is Match.FULL for route in _APP.router.routes)


_APP = None


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_internal_link_resolves(document):
    broken = []
    for target in links(document):
        if re.match(r"^[a-z]+:", target):  # https:, mailto:
            continue
        if target.startswith("/"):  # a page of the application (the user guide, served at /aide)
            page = target.split("#")[0].split("?")[0]
            if not app_has(page):
                broken.append(f"{target}: no such page")
            continue
        file, _, anchor = target.partition("#")
        path = (document.parent / file).resolve() if file else document
        if not path.exists():
            broken.append(f"{target}: no such file")
        elif anchor and path.suffix == ".md" and anchor not in anchors(path):
            broken.append(f"{target}: no heading « {anchor} »")
    assert broken == []


def test_the_readme_is_what_a_developer_needs_first():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 400
    for doc in DOCUMENTS[1:]:
        assert f"(docs/{doc.name})" in readme, f"docs/{doc.name} is not in the README's index"

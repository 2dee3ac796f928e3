"""The French user guide inside the application (``/aide``), from ``docs/aide.md``.

Markdown is rendered by markdown-it-py (CommonMark, raw HTML disabled); a
heading ending in ``{#anchor}`` gets that id, so every page links to its own
section (``HELP_ANCHORS``, checked by a test against the guide)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from markdown_it import MarkdownIt

__all__ = ["GUIDE", "GUIDE_CAPTURES", "HELP_ANCHORS", "guide_html", "guide_anchors", "help_anchor"]

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "aide.md"
#: The guide's screenshots, taken by the browser tests (``make screenshots``).
GUIDE_CAPTURES = GUIDE.parent / "screenshots"
_ANCHOR = re.compile(r"\s*\{#([a-z0-9-]+)\}\s*$")

#: Each page (by path prefix, most specific first) → its section of the guide.
HELP_ANCHORS = (
    ("/recherche/fiche", "fiche"),
    ("/recherche", "recherche"),
    ("/couverture/manques", "manques"),
    ("/couverture/simulation", "simulation"),
    ("/couverture", "couverture"),
    ("/transition", "transition"),
    ("/annuaire", "annuaire"),
    ("/situations/a-relancer", "a-relancer"),
    ("/situations", "situations"),
    ("/activite", "activite"),
    ("/savoirs", "savoirs"),
    ("/qualite", "qualite"),
    ("/connexion", "connexion"),
)


def help_anchor(path: str) -> str | None:
    """The guide's section of the page at ``path``, if it has one."""
    return next((anchor for prefix, anchor in HELP_ANCHORS if path.startswith(prefix)), None)


@lru_cache(maxsize=1)
def _rendered() -> tuple[str, tuple[tuple[str, str], ...]]:
    md = MarkdownIt("commonmark", {"html": False})
    tokens = md.parse(GUIDE.read_text(encoding="utf-8"))
    if tokens and tokens[0].type == "heading_open" and tokens[0].tag == "h1":
        tokens = tokens[3:]  # the page has its own title
    sections = []
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and i + 1 < len(tokens):
            inline = tokens[i + 1]
            found = _ANCHOR.search(inline.content)
            if found is None:
                continue
            anchor = found.group(1)
            token.attrSet("id", anchor)
            inline.content = _ANCHOR.sub("", inline.content)
            for child in inline.children or []:
                if child.type == "text":
                    child.content = _ANCHOR.sub("", child.content)
            if token.tag == "h2":
                sections.append((anchor, inline.content))
    return md.renderer.render(tokens, md.options, {}), tuple(sections)


def guide_html() -> str:
    """The guide as HTML (headings with their anchors)."""
    return _rendered()[0]


def guide_anchors() -> tuple[tuple[str, str], ...]:
    """(anchor, title) of every section, in order."""
    return _rendered()[1]

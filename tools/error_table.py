"""Writes the error table of ``graph/errors.py`` into docs/errors.md (between the
``error-table`` markers): ``python -m tools.error_table``."""

from __future__ import annotations

import re
from pathlib import Path

from graph.errors import error_table_markdown

README = Path(__file__).resolve().parents[1] / "docs" / "errors.md"
_SECTION = re.compile(r"(<!-- error-table:start -->\n).*?(<!-- error-table:end -->)", re.S)


def rendered(text: str) -> str:
    return _SECTION.sub(lambda m: m.group(1) + error_table_markdown() + "\n" + m.group(2), text)


if __name__ == "__main__":
    README.write_text(rendered(README.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"error table written to {README}")

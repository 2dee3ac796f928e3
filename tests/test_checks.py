"""Figures and tables the README states are generated from the code, and checked here."""

from __future__ import annotations

from pathlib import Path

from graph.errors import ERROR_TABLE, DihrError
from tools.error_table import README, rendered


def test_readme_error_table_is_the_one_in_the_code():
    text = README.read_text(encoding="utf-8")
    assert rendered(text) == text, "the README's error table is stale: run `python -m tools.error_table`"
    for code in ERROR_TABLE:
        assert f"| `{code}` |" in text


def test_every_error_class_is_in_the_table_once():
    seen: set[type[DihrError]] = set()

    def walk(cls: type[DihrError]) -> None:
        for sub in cls.__subclasses__():
            if not sub.__name__.startswith("_") and sub.__module__ == "graph.errors":
                seen.add(sub)
            walk(sub)

    walk(DihrError)
    assert {cls for _s, _e, cls in ERROR_TABLE.values()} == seen | {DihrError}
    assert len({cls.code for cls in seen}) == len(seen), "two classes share a code"


def test_no_error_class_outside_the_table():
    """Errors raised on purpose are defined in graph/errors.py only (the one table)."""
    import ast

    root = Path(__file__).resolve().parents[1]
    offenders = []
    for path in [
        *root.glob("graph/**/*.py"),
        *root.glob("api/**/*.py"),
        *root.glob("cli/**/*.py"),
        *root.glob("importers/**/*.py"),
        *root.glob("maps/**/*.py"),
    ]:
        if path.name == "errors.py" and path.parent.name == "graph":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and any(
                getattr(b, "id", getattr(b, "attr", "")).endswith(
                    ("DihrError", "InputError", "ServiceError", "ConflictError", "LimitError", "AccessError")
                )
                for b in node.bases
            ):
                offenders.append(f"{path.relative_to(root)}:{node.name}")
    assert offenders == []

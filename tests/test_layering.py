"""graph/ is the pure core: it must not depend on the edges of the house."""

import ast
from pathlib import Path

FORBIDDEN = {"api", "cli", "importers", "maps", "fastapi", "strawberry", "folium", "starlette", "uvicorn", "typer"}
ROOT = Path(__file__).resolve().parents[1]


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_graph_imports_nothing_from_the_edges():
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & FORBIDDEN)
        for path in (ROOT / "graph").rglob("*.py")
        if imported_roots(path) & FORBIDDEN
    }
    assert offenders == {}


def test_layering_check_would_catch_an_offender(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from api.app import create_app\nimport folium\n")
    assert imported_roots(bad) & FORBIDDEN == {"api", "folium"}


def test_the_api_does_not_depend_on_the_cli():
    offenders = {
        str(path.relative_to(ROOT)): sorted(imported_roots(path) & {"cli", "typer"})
        for path in (ROOT / "api").rglob("*.py")
        if imported_roots(path) & {"cli", "typer"}
    }
    assert offenders == {}

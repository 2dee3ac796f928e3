"""graph/ is the pure core: it must not depend on the edges of the house."""

import ast
from pathlib import Path

import pytest

FORBIDDEN = {
    "api",
    "cli",
    "importers",
    "maps",
    "fastapi",
    "strawberry",
    "folium",
    "starlette",
    "uvicorn",
    "typer",
}
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


def api_imports(path: Path) -> set[str]:
    """The api/ modules a module imports, at the top or inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            if parts[0] == "api" and len(parts) > 1:
                found.add(parts[1])
            elif node.module == "api":
                found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[1] for alias in node.names if alias.name.startswith("api.")}
    return found


def test_api_has_no_import_circle():
    """api/ modules import each other in one direction only (no circle kept open
    by an import inside a function): labels and error pages in api/rendering.py,
    form readers in api/forms.py."""
    import networkx as nx

    modules = {path.stem: path for path in (ROOT / "api").glob("*.py") if path.stem != "__init__"}
    graph = nx.DiGraph()
    graph.add_nodes_from(modules)
    for name, path in modules.items():
        graph.add_edges_from((name, other) for other in api_imports(path) if other in modules)
    assert list(nx.simple_cycles(graph)) == []
    assert {"pages", "exports"} & api_imports(modules["security"]) == set()  # the old circle


def test_the_circle_check_would_catch_one(tmp_path):
    inner = tmp_path / "inner.py"
    inner.write_text("def f():\n    from api.pages import error_page\n    return error_page\n")
    assert api_imports(inner) == {"pages"}


@pytest.mark.slow  # a fresh interpreter per module
def test_each_api_module_imports_alone_in_a_fresh_interpreter():
    import subprocess
    import sys

    names = sorted(path.stem for path in (ROOT / "api").glob("*.py") if path.stem != "__init__")
    runs = {
        name: subprocess.Popen(
            [sys.executable, "-c", f"import api.{name}"],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in names
    }
    failed = {}
    for name, run in runs.items():
        _out, err = run.communicate(timeout=120)
        if run.returncode != 0:
            failed[name] = err.strip().splitlines()[-1:]
    assert failed == {}


def test_no_graph_module_outgrows_one_reading():
    """A module of graph/ is read in one sitting: over 800 lines, it holds two
    concepts and is split by concept (as matching → ranking, explanation, teams)."""
    long = {
        str(path.relative_to(ROOT)): n
        for path in (ROOT / "graph").rglob("*.py")
        if (n := len(path.read_text(encoding="utf-8").splitlines())) > 800
    }
    assert long == {}

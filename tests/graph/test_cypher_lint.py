"""Every Cypher statement passes Neo4j's own linter (@neo4j-cypher/language-support)."""

from __future__ import annotations

import ast
import json
import subprocess
from pathlib import Path

import pytest

from graph.stores.cypher import cypher_catalogue

pytestmark = pytest.mark.slow  # Neo4j's linter runs in node

ROOT = Path(__file__).resolve().parents[2]
LINTER = ROOT / "tools" / "lint_cypher.mjs"


def lint(statements: list[dict], tmp_path: Path) -> dict[str, list[dict]]:
    if not (ROOT / "node_modules" / "@neo4j-cypher" / "language-support").is_dir():
        pytest.fail("Neo4j's linter is not installed: run `make test` (it runs `npm ci`).")
    source = tmp_path / "statements.json"
    source.write_text(json.dumps(statements), encoding="utf-8")
    out = subprocess.run(
        ["node", str(LINTER), str(source)], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    return {r["name"]: r["diagnostics"] for r in json.loads(out.stdout)}


def test_every_statement_has_zero_diagnostics(tmp_path):
    catalogue = cypher_catalogue()
    assert len(catalogue) > 60
    results = lint(
        [{"name": n, "cypher": c, "parameters": list(p)} for n, (c, p) in catalogue.items()], tmp_path
    )
    failures = {name: diags for name, diags in results.items() if diags}
    assert failures == {}


def test_linter_fails_on_a_broken_statement_and_an_undefined_variable(tmp_path):
    results = lint(
        [
            {"name": "broken", "cypher": "MATCH (n:DihrNode) RETRN n", "parameters": []},
            {"name": "undefined", "cypher": "MATCH (n:DihrNode) RETURN m", "parameters": []},
            {"name": "undeclared", "cypher": "MATCH (n:DihrNode {uid: $uid}) RETURN n", "parameters": []},
            {"name": "fine", "cypher": "MATCH (n:DihrNode {uid: $uid}) RETURN n", "parameters": ["uid"]},
        ],
        tmp_path,
    )
    assert results["broken"] and "RETRN" in results["broken"][0]["message"]
    assert any("`m` not defined" in d["message"] for d in results["undefined"])
    assert any("$uid" in d["message"] for d in results["undeclared"])
    assert results["fine"] == []


def _cypher_names(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names = set()
    for node in tree.body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        for target in targets:
            if isinstance(target, ast.Name) and (
                target.id.endswith("_CYPHER") or target.id.endswith("_TEMPLATE")
            ):
                names.add(target.id)
    return names


def test_no_cypher_outside_the_catalogue():
    """A statement added anywhere must be in the catalogue the linter reads."""
    catalogued = {name.split("[")[0] for name in cypher_catalogue()}
    templates = {
        "_SCHEMA_KEY_TEMPLATE",
        "_CREATE_NODES_TEMPLATE",
        "_CREATE_EDGES_TEMPLATE",
        "_UPDATE_EDGES_TEMPLATE",
        "_DELETE_EDGES_TEMPLATE",
        "_EDGES_OF_TYPE_TEMPLATE",
    }
    found: dict[str, set[str]] = {}
    for package in ("graph", "api", "importers", "maps"):
        for path in (ROOT / package).rglob("*.py"):
            names = _cypher_names(path)
            if names:
                found[str(path.relative_to(ROOT))] = names
    assert set(found) <= {"graph/stores/cypher.py"}
    stray = found.get("graph/stores/cypher.py", set()) - catalogued - templates
    assert stray == set()
    # every template is reachable through a catalogued generated name
    assert {
        "SCHEMA_KEY_CYPHER",
        "CREATE_NODES_CYPHER",
        "CREATE_EDGES_CYPHER",
        "UPDATE_EDGES_CYPHER",
        "DELETE_EDGES_CYPHER",
        "EDGES_OF_TYPE_CYPHER",
    } <= catalogued

"""A region joining the national instance: `dihr export --to-neo4j` copies the
embedded demo network into a Bolt server, and `dihr match` / `dihr coverage`
then answer exactly as they did on the embedded store (one read model over both
stores, graph/readmodel.py)."""

from __future__ import annotations

import json
import re
import shutil
import uuid
from pathlib import Path

import pytest
from typer.testing import CliRunner

from cli.main import app as cli
from tests.conftest import BOLT, needs_neo4j

pytestmark = [pytest.mark.slow, pytest.mark.neo4j, needs_neo4j]

#: What animators ask: combinations, ages, a skill, a rare condition, a point,
#: a postcode, a small radius that widens, in towns and in the countryside.
SEARCHES = [
    ["DV", "TSA", "--commune", "75056", "--age", "8"],
    ["DA", "DV", "--commune", "86194", "--age", "30"],
    ["EPI", "DI", "--commune", "13055", "--age", "15", "--skill", "CAA"],
    ["--condition", "Usher", "--commune", "35238"],
    ["TSA", "--lat", "45.76", "--lon", "4.84", "--age", "17"],
    ["DV", "--postcode", "86000", "--age", "70"],
    ["DA", "TSA", "--commune", "48095", "--radius-km", "30", "--limit", "5"],
]


@pytest.fixture(scope="module")
def exported(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The demo network, embedded (a copy) and exported to its own Bolt namespace."""
    from graph.stores.neo4j import Neo4jStore

    assert BOLT is not None
    data = tmp_path_factory.mktemp("export") / "data"
    shutil.copytree(demo_dir, data)
    namespace = f"export-{uuid.uuid4().hex[:8]}"
    embedded = {"DIHR_DATA_DIR": str(data), "DIHR_NEO4J_URI": None}
    bolt = {
        "DIHR_DATA_DIR": str(data),
        "DIHR_NEO4J_URI": BOLT.neo4j_uri,
        "DIHR_NEO4J_USER": BOLT.neo4j_user,
        "DIHR_NEO4J_PASSWORD": BOLT.neo4j_password,
        "DIHR_NEO4J_DATABASE": BOLT.neo4j_database,
        "DIHR_NEO4J_NAMESPACE": namespace,
    }
    result = CliRunner().invoke(cli, ["export", "--to-neo4j"], env=bolt)
    yield embedded, bolt, result
    store = Neo4jStore.from_settings(BOLT, namespace=namespace)
    store.drop_namespace()
    store.close()


def _run(env: dict[str, str | None], args: list[str]) -> str:
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_export_copies_everything_and_compares_the_counts(exported):
    _embedded, _bolt, result = exported
    assert result.exit_code == 0, result.output
    rows = re.findall(r"^\s+(\w+)\s+source\s+(\d+)\s+Neo4j\s+(\d+)$", result.output, re.M)
    counted = {name: (int(source), int(target)) for name, source, target in rows}
    assert counted["Commune"][0] > 34_000 and counted["Establishment"][0] > 1000
    assert all(source == target for source, target in counted.values()), counted
    assert "PART_OF" in counted and "HAS_EXPERTISE" in counted


def test_the_bolt_runs_really_read_the_bolt_server(exported):
    """The same command on an empty namespace of the server finds nothing: the
    answers compared below come from the server, not from the embedded file."""
    _embedded, bolt, _result = exported
    empty = {**bolt, "DIHR_NEO4J_NAMESPACE": f"vide-{uuid.uuid4().hex[:8]}"}
    result = CliRunner().invoke(cli, ["match", "DV", "--commune", "86194"], env=empty)
    assert result.exit_code != 0 and "86194" in result.output


def test_a_second_export_changes_nothing(exported):
    _embedded, bolt, _result = exported
    again = _run(bolt, ["export", "--to-neo4j"])
    assert re.search(
        r"Nœuds : 0 créés, 0 mis à jour, \d+ inchangés ; relations : 0 créées, 0 mises à jour", again
    )


@pytest.mark.parametrize(
    "search", SEARCHES, ids=lambda s: "-".join(a for a in s if not a.startswith("--"))[:40]
)
def test_match_answers_the_same_ranked_list_on_both_stores(exported, search):
    embedded, bolt, _result = exported
    here = json.loads(_run(embedded, ["match", *search, "--json"]))
    there = json.loads(_run(bolt, ["match", *search, "--json"]))
    assert here["matches"], "the demo network answers every one of these searches"
    assert [(m["level"], m["key"]) for m in there["matches"]] == [
        (m["level"], m["key"]) for m in here["matches"]
    ]
    assert there == here  # distances, explanations, contacts, teams, notes: all of it


def test_coverage_is_the_same_on_both_stores(exported):
    embedded, bolt, _result = exported
    args = ["coverage", "DV", "TSA", "--level", "erhr", "--json"]
    assert json.loads(_run(bolt, args)) == json.loads(_run(embedded, args))

"""No user data is ever template source (issue #29, blocker).

Names that are Jinja, JavaScript-template or HTML syntax are imported through
every importer that takes free text (FINESS, directory, knowledge) and through
the knowledge form, then read back from every page, map, export, the GraphQL
API and ``dihr map``: each comes back verbatim (as the person reads it), no
expression is evaluated, and nothing answers 500.
"""

from __future__ import annotations

import csv
import html
import io
import re
import shutil
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from api.app import create_app
from cli.main import app as cli
from graph.settings import Settings
from graph.stores.memory import MemoryStore
from importers.directory import import_directory
from importers.finess import import_finess
from importers.network_files import import_knowledge
from tests.conftest import bearer
from tests.importers.test_finess import geoloc, structure, write

pytestmark = pytest.mark.slow

#: Template syntax of every engine on the way (no ';': it is the FINESS separator).
#: ``49`` or a working directory in an answer would mean an expression ran.
PAYLOADS = [
    "SSTI-{{7*7}}-{{ cycler.__init__.__globals__.os.getcwd() }}",
    "RAW-{% raw %}-{# note #}-{%",
    "JS-${7*7}-`x`-\\u0041",
    "TAG-</script><b>gras</b>-'\"",
]
#: What an evaluated payload would print.
EVALUATED = ["SSTI-49", "JS-49", str(Path.cwd()) + "-"]


def _readable(text: str) -> str:
    """What a person reads: JSON escapes of ``tojson`` decoded, then entities."""
    for code, char in (
        ("\\u0026", "&"),
        ("\\u003c", "<"),
        ("\\u003e", ">"),
        ("\\u0027", "'"),
        ("\\u0022", '"'),
    ):
        text = text.replace(code, char)
    return html.unescape(html.unescape(text.replace('\\"', '"').replace("\\/", "/")))


@pytest.fixture(scope="module")
def hostile(reference_dir, tmp_path_factory):
    """The real reference data, plus one FINESS establishment, one pôle ressources
    and one knowledge item per payload, all at Poitiers and competent for DV+TSA."""
    data_dir = tmp_path_factory.mktemp("hostile")
    shutil.copytree(reference_dir, data_dir, dirs_exist_ok=True)
    files = tmp_path_factory.mktemp("hostile-files")
    store = MemoryStore(data_dir)
    try:
        lines: list[str] = []
        for i, name in enumerate(PAYLOADS):
            finess = f"86000090{i}"
            lines += [
                structure(finess, "86", "194", name=name, category="183"),
                geoloc(finess, 46.58 + i / 100, 0.34),
            ]
        report = import_finess(store, write(files, lines))
        assert report.created == len(PAYLOADS), report
        directory = files / "annuaire.csv"
        with directory.open("w", encoding="utf-8", newline="") as f:
            out = csv.writer(f, delimiter=";")
            out.writerow(
                [
                    "type",
                    "identifiant",
                    "profession",
                    "nom_structure",
                    "finess_lieu",
                    "commune_lieu",
                    "expertises",
                    "age_min",
                    "age_max",
                ]
            )
            for i, name in enumerate(PAYLOADS):
                out.writerow(
                    [
                        "pole_ressources",
                        f"PRH-HOSTILE-{i}",
                        "",
                        name,
                        "",
                        "86194",
                        "DV+TSA:3, DV:3, TSA:3",
                        "",
                        "",
                    ]
                )
        report = import_directory(store, directory)
        assert not report.rejected, report.rejected
        knowledge = files / "savoirs.csv"
        with knowledge.open("w", encoding="utf-8", newline="") as f:
            out = csv.writer(f, delimiter=";")
            out.writerow(["type", "titre", "sujets", "resume", "auteur"])
            for name in PAYLOADS:
                out.writerow(["guide", name, "DV,TSA", name, name])
        import_knowledge(store, knowledge)
    finally:
        store.close()
    return data_dir


@pytest.fixture(scope="module")
def client(hostile):
    store = MemoryStore(hostile)
    app = create_app(Settings(data_dir=hostile, rate_limit_per_minute=100_000, map_tiles=""), store=store)
    with TestClient(app, headers=bearer(store), raise_server_exceptions=False) as c:
        yield c
    store.close()


def assert_verbatim(text: str, where: str, payloads: list[str] = PAYLOADS) -> None:
    readable = _readable(text)
    for evaluated in EVALUATED:
        assert evaluated not in readable, f"{where}: an expression ran ({evaluated!r})"
    for payload in payloads:
        assert payload in readable, f"{where}: {payload!r} not shown verbatim"


SEARCH = {"d": ["DV", "TSA"], "lieu": "86194", "rayon": "100"}
PAGES = [
    ("/annuaire", {"q": "SSTI"}, PAYLOADS[:1]),
    ("/annuaire", {"commune": "86194", "rayon": "5"}, PAYLOADS),
    ("/recherche", SEARCH, PAYLOADS),
    ("/recherche/fiche", SEARCH, PAYLOADS),
    ("/savoirs", {}, PAYLOADS),
    ("/maps/coverage", {"deficiencies": ["DV", "TSA"]}, PAYLOADS),
    ("/maps/situation", {"deficiencies": ["DV", "TSA"], "commune": "86194", "radius_km": "100"}, PAYLOADS),
]


@pytest.mark.parametrize(
    ("path", "params", "payloads"), PAGES, ids=[p[0] + str(i) for i, p in enumerate(PAGES)]
)
def test_every_page_and_map_shows_hostile_names_verbatim(client, path, params, payloads):
    response = client.get(path, params=params)
    assert response.status_code == 200, (path, response.status_code, response.text[:500])
    assert_verbatim(response.text, path, payloads)


def test_the_gap_map_and_every_map_kind_render_with_hostile_data(client):
    response = client.get("/maps/gaps")
    assert response.status_code == 200, response.text[:300]
    for evaluated in EVALUATED:
        assert evaluated not in _readable(response.text)


def test_resource_pages_show_their_own_hostile_name(client):
    for i, payload in enumerate(PAYLOADS):
        for path in (f"/annuaire/etablissement/86000090{i}", f"/annuaire/pole-ressources/PRH-HOSTILE-{i}"):
            response = client.get(path)
            assert response.status_code == 200, (path, response.text[:300])
            assert_verbatim(response.text, path, [payload])


@pytest.mark.parametrize("path", ["/recherche/fiche.csv", "/exports/annuaire.csv"])
def test_exports_carry_the_names_as_text(client, path):
    params = SEARCH if path.startswith("/recherche") else {"commune": "86194", "rayon": "5"}
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text[:300]
    cells = {
        cell
        for row in csv.reader(io.StringIO(response.text.removeprefix("\ufeff")), delimiter=";")
        for cell in row
    }
    assert set(PAYLOADS) <= cells


def test_graphql_returns_the_names_verbatim(client):
    query = """query($q: SituationInput!) { findResources(situation: $q) { matches { name } knowledge { title } } }"""
    body = client.post(
        "/graphql",
        json={
            "query": query,
            "variables": {"q": {"deficiencies": ["DV", "TSA"], "commune": "86194", "radiusKm": 100}},
        },
    ).json()
    assert "errors" not in body, body
    names = {m["name"] for m in body["data"]["findResources"]["matches"]}
    titles = {k["title"] for k in body["data"]["findResources"]["knowledge"]}
    assert set(PAYLOADS) <= names and set(PAYLOADS) <= titles


def test_the_knowledge_form_keeps_a_hostile_title_verbatim(hostile):
    store = MemoryStore(hostile)
    from graph.access import create_key

    _info, secret = create_key(store, "gnchr", label="formulaire")
    app = create_app(Settings(data_dir=hostile, rate_limit_per_minute=100_000, map_tiles=""), store=store)
    try:
        with TestClient(app, raise_server_exceptions=False) as c:
            token = re.search(r'name="csrf" value="([^"]+)"', c.get("/connexion").text).group(1)
            c.post("/connexion", data={"cle": secret, "csrf": token, "suite": ""})
            page = c.get("/savoirs")
            token = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
            title = "FORM-{{7*7}}-{% raw %}-${7*7}-</script>"
            response = c.post(
                "/savoirs",
                data={"csrf": token, "type": "guide", "titre": title, "sujets": "DV", "resume": title},
            )
            assert response.status_code == 200 and "Savoir ajouté" in response.text, response.text[:300]
            for path, params in (("/savoirs", {}), ("/recherche", SEARCH)):
                shown = c.get(path, params=params)
                assert shown.status_code == 200, (path, shown.text[:300])
                assert title in _readable(shown.text) and "FORM-49" not in _readable(shown.text), path
    finally:
        store.close()


def test_dihr_map_prints_the_name_verbatim(hostile, tmp_path, monkeypatch):
    monkeypatch.setenv("DIHR_DATA_DIR", str(hostile))
    monkeypatch.setenv("DIHR_MAP_TILES", "")
    for command in (["coverage", "DV", "TSA"], ["situation", "DV", "TSA", "--commune", "86194"], ["gaps"]):
        output = tmp_path / f"{command[0]}.html"
        result = CliRunner().invoke(cli, ["map", *command, "-o", str(output)])
        assert result.exit_code == 0, result.output
        text = output.read_text(encoding="utf-8")
        if command[0] == "gaps":
            assert "SSTI-49" not in _readable(text)
        else:
            assert_verbatim(text, f"dihr map {command[0]}")

"""Activity figures and the network's knowledge: the pôles' ratio against 30 and
its small-count rule, the ERHR's yearly figures, knowledge beside a match, and
their imports — on the demo network (synthetic activity and knowledge)."""

from __future__ import annotations

import pytest

from cli.main import app as cli
from graph import activity as act
from graph import service
from graph.access import Principal, Role
from graph.disclosure import SMALL_CELL
from graph.errors import FileFormatError, Forbidden, InvalidInput
from graph.matching import SituationQuery
from graph.model import NodeKind
from graph.stores.memory import MemoryStore

pytestmark = pytest.mark.slow
GNCHR = Principal("gnchr", Role.GNCHR, None, "test")
NA = Principal("erhr-na", Role.ERHR, "NA", "test")
PARTNER = Principal("partner", Role.PARTNER, None, "test")


@pytest.fixture(scope="module")
def data(demo_copy):
    return demo_copy


@pytest.fixture(scope="module")
def store(demo_copy_store):
    return demo_copy_store


def _pole_in(store, erhr: str) -> str:
    from graph.readmodel import read_model

    table = read_model(store).territories
    return next(
        n.key
        for n in store.nodes(NodeKind.RESOURCE_POLE)
        if table.erhr_of_department.get(str(n.props["department"])) == erhr
    )


def test_the_pole_ratio_is_measured_against_30(store):
    pole = _pole_in(store, "NA")
    row = service.record_pole_report(
        store, NA, pole, "2027", active_file=45, families=40, appointments=120, awareness_actions=6, fte="1,5"
    )
    assert row.per_fte == 30.0 and row.meets_target is True  # 45 children for 1.5 FTE: exactly the target
    row = service.record_pole_report(
        store, NA, pole, "2027", active_file=44, families=40, appointments=120, awareness_actions=6, fte=1.5
    )
    assert row.per_fte == 29.3 and row.meets_target is False  # one child fewer: below
    assert act.POLE_TARGET_PER_FTE == 30
    with pytest.raises(Forbidden):  # an ERHR records its own territory's pôles
        service.record_pole_report(
            store,
            NA,
            _pole_in(store, "ARA"),
            "2027",
            active_file=1,
            families=1,
            appointments=1,
            awareness_actions=0,
            fte=1,
        )
    with pytest.raises(InvalidInput, match="équivalents temps plein"):
        service.record_pole_report(
            store, NA, pole, "2027", active_file=1, families=1, appointments=1, awareness_actions=0, fte=0
        )


def test_a_partner_never_reads_a_small_active_file_nor_rebuilds_it(store):
    pole = _pole_in(store, "NA")
    service.record_pole_report(
        store, NA, pole, "2028", active_file=7, families=6, appointments=30, awareness_actions=2, fte=0.5
    )
    exact = {r.pole: r for r in service.pole_activity(store, GNCHR, "2028")}
    assert exact[pole].active_file == 7 and exact[pole].per_fte == 14.0
    shown = {r.pole: r for r in service.pole_activity(store, PARTNER, "2028")}
    small = shown[pole]
    assert small.active_file is None and small.families is None and small.suppressed
    assert small.per_fte is None and small.meets_target is None  # ratio × FTE would give the 7 back
    assert small.fte == 0.5 and small.appointments == 30  # not counts of persons
    for r in service.pole_activity(store, PARTNER, "2026"):
        assert r.active_file is None or r.active_file >= SMALL_CELL
        assert r.families is None or r.families >= SMALL_CELL


def test_the_demo_network_reports_synthetic_activity_of_every_pole(store):
    rows = service.pole_activity(store, GNCHR, "2026")
    assert len(rows) == sum(1 for _ in store.nodes(NodeKind.RESOURCE_POLE)) and all(r.synthetic for r in rows)
    assert any(r.meets_target for r in rows) and any(r.meets_target is False for r in rows)


def test_the_erhr_yearly_figures_and_their_partner_view(store):
    exact = service.activity(store, NA, 2026, "NA")
    assert exact.active_file > exact.new_persons > 0 and exact.without_solution <= exact.active_file
    assert sum(exact.by_age_band.values()) == exact.active_file == sum(exact.by_department.values())
    assert exact.referrals_by_status and exact.median_days_to_acceptance is not None
    national = service.activity(store, GNCHR, 2026)
    assert national.active_file >= exact.active_file
    shown = service.activity(store, PARTNER, 2026, "NA")
    assert shown.by_criterion == {} and shown.by_department == {} and shown.referrals_by_status == {}
    for name in ("active_file", "new_persons", "without_solution", "with_rare_condition"):
        value = getattr(shown, name)
        assert value is None or (value == getattr(exact, name) and value >= SMALL_CELL)
    with pytest.raises(InvalidInput):
        service.activity(store, GNCHR, 1800)


def test_no_partner_activity_figure_is_derivable_by_difference_within_its_family(store):
    """The oracle: every ERHR total a partner reads, for every territory and year,
    and every difference inside a family (the active file minus a subset of it;
    a territory minus its parts is graph.disclosure's) — none is 1 to 10."""
    from graph.readmodel import read_model

    territories = [None, *sorted(read_model(store).territories.erhr)]
    subsets = ("new_persons", "without_solution", "with_rare_condition")
    read = 0
    for year in (2025, 2026, 2027):
        for territory in territories:
            shown = service.activity(store, PARTNER, year, territory)
            for name in ("active_file", *subsets):
                value = getattr(shown, name)
                assert value is None or not 1 <= value < SMALL_CELL, (year, territory, name, value)
                read += value is not None
            if shown.active_file is None:
                continue
            for name in subsets:
                part = getattr(shown, name)
                if part is not None:
                    assert not 1 <= shown.active_file - part < SMALL_CELL, (year, territory, name)
    assert read > 0  # partners do read figures: the rule is not a blanket refusal


def test_knowledge_is_suggested_beside_a_match(store):
    result = service.find_resources(store, NA, SituationQuery(deficiencies=["DV", "TSA"], commune="86194"))
    titles = [k.title for k in result.knowledge]
    assert (
        titles
        and all("fictif" in t or "fictive" in t for t in titles)
        and all(k.synthetic for k in result.knowledge)
    )
    assert titles[0] in (
        "Guide fictif : déficience visuelle et troubles du spectre de l'autisme",
        "Malle pédagogique fictive : déficience visuelle et autisme",
    )  # the combination itself first
    assert any(
        k.kind == "aide_technique" and k.erhr == "NA" for k in result.knowledge
    )  # the territory's aid on loan
    elsewhere = service.find_resources(
        store, GNCHR, SituationQuery(deficiencies=["DV", "TSA"], commune="69123")
    )
    assert not any(k.erhr == "NA" for k in elsewhere.knowledge)  # another territory's loans are not offered


def test_knowledge_is_managed_by_the_gnchr_and_each_erhr_for_its_territory(store):
    item = service.save_knowledge(
        store, NA, kind="guide", title="Guide local fictif", about=["DI+EPI"], erhr="NA"
    )
    assert item.erhr == "NA" and item.about[0][1] == "DI+EPI"
    with pytest.raises(Forbidden):
        service.save_knowledge(store, NA, kind="guide", title="Guide national", about=["DV"])
    with pytest.raises(InvalidInput, match="sujet"):
        service.save_knowledge(store, GNCHR, kind="guide", title="Sans sujet", about=[])
    with pytest.raises(InvalidInput, match="https"):
        service.save_knowledge(
            store, GNCHR, kind="guide", title="Lien piégé", about=["DV"], link="javascript:alert(1)"
        )
    found = service.list_knowledge(store, PARTNER, about="DI+EPI")
    assert "Guide local fictif" in {k.title for k in found}


def test_the_imports_check_the_whole_file_first(store, data, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    monkeypatch.setenv("DIHR_DATA_DIR", str(data))
    pole = _pole_in(store, "NA")
    good = tmp_path / "activite.csv"
    good.write_text(
        f"pole;periode;file_active;familles;rendez_vous;actions_sensibilisation;etp\n"
        f"{pole};2029;60;55;200;12;2\n",
        encoding="utf-8",
    )
    bad = tmp_path / "activite-fausse.csv"
    bad.write_text(
        f"pole;periode;file_active;familles;rendez_vous;actions_sensibilisation;etp\n"
        f"{pole};2030;60;55;200;12;2\nPOLE-INCONNU;2030;1;1;1;1;1\n",
        encoding="utf-8",
    )
    store.close()
    runner = CliRunner()
    refused = runner.invoke(cli, ["import", "activite", str(bad)])
    assert (
        refused.exit_code == 1 and "ligne 3" in refused.stderr and "pôle ressources inconnu" in refused.stderr
    )
    done = runner.invoke(cli, ["import", "activite", str(good)])
    assert done.exit_code == 0, done.output
    knowledge = tmp_path / "savoirs.csv"
    knowledge.write_text(
        "type;titre;sujets;disponible;erhr\naide_technique;Loupe électronique fictive;DV;oui;NA\n",
        encoding="utf-8",
    )
    assert runner.invoke(cli, ["import", "savoirs", str(knowledge)]).exit_code == 0
    reopened = MemoryStore(data)
    try:
        assert {r.period for r in service.pole_activity(reopened, GNCHR, "2029")} == {"2029"}
        assert service.pole_activity(reopened, GNCHR, "2030") == []  # the refused file wrote nothing
        assert "Loupe électronique fictive" in {
            k.title for k in service.list_knowledge(reopened, GNCHR, kind="aide_technique")
        }
    finally:
        reopened.close()
    with pytest.raises(FileFormatError):
        from importers.network_files import import_knowledge

        empty = tmp_path / "vide.csv"
        empty.write_text("titre;sujets\nx;DV\n", encoding="utf-8")
        import_knowledge(MemoryStore(tmp_path / "autre"), empty)


def _signed_in(client, store, role: str, territory: str | None = None) -> str:
    """A page session for ``role``; returns its CSRF token."""
    import re

    from graph.access import create_key

    _info, secret = create_key(store, role, territory=territory, label=f"pages {role}")
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/connexion").text).group(1)
    client.post("/connexion", data={"cle": secret, "csrf": token, "suite": ""})
    return re.search(r'name="csrf" value="([^"]+)"', client.get("/savoirs").text).group(1)


def test_knowledge_subjects_are_chosen_from_lists(data):
    import html

    from fastapi.testclient import TestClient

    from api.app import create_app
    from graph.settings import Settings

    store = MemoryStore(data)  # its own: a test above closes the module's to run the CLI
    app = create_app(Settings(data_dir=data, rate_limit_per_minute=100_000, map_tiles=""), store=store)
    with TestClient(app) as client:
        token = _signed_in(client, store, "gnchr")
        page = html.unescape(client.get("/savoirs").text)
        assert '<select id="n-sujets" name="sujets" multiple' in page
        assert (
            '<option value="DA+DV">Combinaison Déficience auditive grave + Déficience visuelle grave' in page
        )
        assert '<option value="CAA">' in page and '<select id="n-erhr" name="erhr">' in page
        added = client.post(
            "/savoirs",
            data={
                "csrf": token,
                "type": "guide",
                "titre": "Guide fictif surdicécité",
                "sujets": ["DA+DV", "LSF"],
            },
        )
        assert added.status_code == 200 and "Savoir ajouté : Guide fictif surdicécité" in added.text
        chosen = html.unescape(client.get("/savoirs", params={"sujet": "DA+DV"}).text)
        assert "Guide fictif surdicécité" in chosen
        assert '<option value="DA+DV" selected>' in chosen
    store.close()


def test_the_activity_page_says_why_no_pole_can_be_chosen(reference_dir, tmp_path):
    import shutil

    from fastapi.testclient import TestClient

    from api.app import create_app
    from graph.settings import Settings

    data = tmp_path / "data"
    shutil.copytree(reference_dir, data)
    bare = MemoryStore(data)  # the reference data alone: no pôle ressources anywhere
    try:
        app = create_app(Settings(data_dir=data, rate_limit_per_minute=100_000, map_tiles=""), store=bare)
        with TestClient(app) as client:
            _signed_in(client, bare, "erhr", "NA")
            page = client.get("/activite")
    finally:
        bare.close()
    assert page.status_code == 200
    assert "Aucun pôle ressources handicap n'est encore connu sur votre territoire" in page.text
    assert '<select id="pole"' not in page.text and "dihr import directory" in page.text

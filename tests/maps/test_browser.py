"""A coverage map rendered in headless Chromium (Debian's, installed by make test)."""

from __future__ import annotations

import subprocess

import pytest

from graph.coverage import Level, coverage
from maps import coverage_map
from maps._base import local_vendor_dir
from tests.conftest import CHROMIUM, CHROMIUM_FLAGS
from tests.maps.test_maps import SQUARES

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Chromium is not installed: `make test` installs Debian's chromium"
    ),
]
FLAGS = [
    "--headless",
    *CHROMIUM_FLAGS,
    "--allow-file-access-from-files",
    "--virtual-time-budget=5000",
]


def dump_dom(path, tmp_path) -> str:
    out = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


@pytest.fixture
def embedded(tmp_path):
    """Rendering does not depend on the backend: the embedded store only (no variant to skip)."""
    from graph.model import Node, NodeKind, NodeRef
    from graph.stores.memory import MemoryStore
    from tests.factories import POITIERS, Network

    store = MemoryStore(tmp_path / "store")
    n = Network(store)  # the territory of the `net` fixture, with its one resource
    store.upsert(
        [
            Node(
                NodeKind.ESTABLISHMENT,
                "860000001",
                {"name": "E1", "lat": POITIERS[0], "lon": POITIERS[1], "department": "86"},
            )
        ]
    )
    n._links(NodeRef(NodeKind.ESTABLISHMENT, "860000001"), {}, {"DV": 3, "TSA": 2})
    yield store
    store.close()


def test_coverage_map_draws_every_territory_offline(embedded, tmp_path):
    store = embedded
    vendor = local_vendor_dir()
    assert vendor is not None, "Leaflet is not installed: run `make test` (npm ci)"
    result = coverage(store, ["DV", "TSA"], level=Level.DEPARTMENT)
    m = coverage_map(result, SQUARES, [(46.58, 0.34, "E1")], assets=vendor.as_uri(), tiles="")
    page = tmp_path / "couverture.html"
    m.save(str(page))
    dom = dump_dom(page, tmp_path)
    assert 'class="leaflet-container' in dom or "leaflet-container" in dom
    drawn = dom.count('class="leaflet-interactive"')
    assert drawn >= len(SQUARES), f"{drawn} territories drawn"
    assert "dihr-legend" in dom
    assert "leaflet-control-layers" in dom and "Ressources compétentes</span>" in dom  # the scripts all ran


#: Directory names an attacker with a directory import could store: a
#: template-literal interpolation, a backtick break-out and a script element.
#: (No quotes: HTML escaping alone turns them into entities, which breaks the script before it can run.)
HOSTILE = [
    "${document.title=/PWNED1/.source}",
    "`;document.title=/PWNED2/.source;`",
    "</script><script>document.title=/PWNED3/.source</script>",
    "\\${document.title=/PWNED4/.source}",
]


def test_names_in_a_map_stay_text_in_the_browser(embedded, tmp_path):
    """Names are placed in tooltips (a JavaScript template literal in folium's
    output) and in layer names: none of them may run as code."""
    from graph.matching import SituationQuery, find_resources
    from graph.model import Node, NodeKind
    from maps import situation_map

    store = embedded
    store.upsert([Node(NodeKind.ESTABLISHMENT, "860000001", {"name": HOSTILE[0]})])
    vendor = local_vendor_dir()
    assert vendor is not None, "Leaflet is not installed: run `make test` (npm ci)"
    result = coverage(store, ["DV", "TSA"], level=Level.DEPARTMENT)
    for i, m in enumerate(
        [
            coverage_map(
                result, SQUARES, [(46.58, 0.34, name) for name in HOSTILE], assets=vendor.as_uri(), tiles=""
            ),
            situation_map(
                find_resources(store, SituationQuery(deficiencies=["DV", "TSA"], commune="86194")),
                None,
                assets=vendor.as_uri(),
                tiles="",
            ),
        ]
    ):
        page = tmp_path / f"carte-{i}.html"
        m.save(str(page))
        dom = dump_dom(page, tmp_path)
        assert "leaflet-container" in dom  # the map's scripts ran...
        assert (
            "PWNED" not in dom.split("<title>", 1)[1].split("</title>", 1)[0]
        )  # ...and none of the names did

"""/qualite: the GNCHR's page of where to complete the directory; refused to others."""

from __future__ import annotations

import html

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from graph.settings import Settings
from tests.conftest import bearer

pytestmark = pytest.mark.slow


def test_the_gnchr_reads_the_data_quality_per_department_others_are_refused(demo_dir, demo_store):
    app = create_app(Settings(data_dir=demo_dir, rate_limit_per_minute=100_000), store=demo_store)
    with TestClient(app) as client:
        page = client.get("/qualite", headers=bearer(demo_store, "gnchr"))
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert "Catégorie FINESS seule" in text and "Vienne (86)" in text and "Qualité des données" in text
        for role, territory in (("partner", None), ("erhr", "NA")):
            refused = client.get("/qualite", headers=bearer(demo_store, role, territory))
            assert refused.status_code == 403, role


def test_every_page_route_is_a_page_prefix():
    """A page left out of PAGE_PREFIXES would answer an anonymous browser with a
    JSON 401 instead of the sign-in page."""
    from api import pages
    from api.security import PAGE_PREFIXES

    paths = {route.path for route in pages.router.routes}
    assert paths and all(path.startswith(PAGE_PREFIXES) for path in paths), sorted(
        p for p in paths if not p.startswith(PAGE_PREFIXES)
    )


def test_an_anonymous_browser_is_sent_to_sign_in_from_the_quality_page(demo_dir, demo_store):
    app = create_app(Settings(data_dir=demo_dir), store=demo_store)
    with TestClient(app) as client:
        answer = client.get("/qualite", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/connexion")

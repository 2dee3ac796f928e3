"""/aide: the French user guide inside the application; every page links to its section."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.guide import GUIDE, HELP_ANCHORS, guide_anchors, guide_html, help_anchor
from graph.settings import Settings
from tests.conftest import bearer

pytestmark = pytest.mark.slow


def test_every_page_section_exists_and_every_link_of_the_guide_resolves(demo_dir, demo_store):
    anchors = {anchor for anchor, _title in guide_anchors()}
    assert {anchor for _prefix, anchor in HELP_ANCHORS} <= anchors
    assert all(f'id="{anchor}"' in guide_html() for anchor in anchors)
    links = re.findall(r"\]\((/[^)\s]*)\)", GUIDE.read_text(encoding="utf-8"))
    assert len(links) >= 10
    with TestClient(create_app(Settings(data_dir=demo_dir), store=demo_store)) as client:
        headers = bearer(demo_store, "gnchr")
        for link in links:
            path, _, anchor = link.partition("#")
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200, link
            assert not anchor or anchor in anchors, link


@pytest.mark.parametrize(
    "path",
    [
        "/recherche",
        "/couverture",
        "/couverture/manques",
        "/transition",
        "/annuaire",
        "/situations",
        "/situations/a-relancer",
        "/activite",
        "/savoirs",
        "/qualite",
    ],
)
def test_each_page_links_to_its_section(demo_dir, demo_store, path):
    with TestClient(create_app(Settings(data_dir=demo_dir), store=demo_store)) as client:
        page = client.get(path, headers=bearer(demo_store, "gnchr"))
    assert page.status_code == 200
    anchor = help_anchor(path)
    assert anchor and f'href="/aide#{anchor}">Aide pour cette page' in page.text


def test_the_guide_is_readable_before_signing_in_in_french(demo_dir, demo_store):
    with TestClient(create_app(Settings(data_dir=demo_dir), store=demo_store)) as client:
        page = client.get("/aide")
        login = client.get("/connexion")
    text = html.unescape(page.text)
    assert page.status_code == 200 and "Guide d'utilisation" in text and "Rechercher des ressources" in text
    assert text.count("<h1") == 1 and "{#" not in text
    assert 'href="/aide#connexion"' in login.text

"""/transition, the GraphQL radar and its exports, as each role reads them."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from graph.settings import Settings
from tests.conftest import bearer

pytestmark = pytest.mark.slow

RADAR_QUERY = """query($h: [HypothesisInput!]) { transitionRadar(level: DEPARTMENT, thresholdKm: 60, hypotheses: $h) {
  asOf horizons situationsFollowed synthetic capacitiesKnown
  national { code needing deficit withheld }
  territories { code name needing deficit withheld }
  people { key age yearsLeft combination criterion department nearestKm withinReach synthetic } } }"""


def _client(data_dir, store):
    return TestClient(create_app(Settings(data_dir=data_dir, rate_limit_per_minute=100_000), store=store))


def test_the_demo_radar_for_the_gnchr_an_erhr_and_a_partner(demo_dir, demo_store):
    with _client(demo_dir, demo_store) as client:
        gnchr = client.post(
            "/graphql", json={"query": RADAR_QUERY}, headers=bearer(demo_store, "gnchr")
        ).json()
        radar = gnchr["data"]["transitionRadar"]
        assert radar["synthetic"] and radar["horizons"] == [1, 2, 3] and not radar["capacitiesKnown"]
        people = radar["people"]
        assert people and all(p["yearsLeft"] in (1, 2, 3) and 17 <= p["age"] <= 19 for p in people)
        assert radar["national"]["needing"][2] == len(people)
        assert radar["national"]["deficit"][2] == sum(not p["withinReach"] for p in people)

        erhr = client.post("/graphql", json={"query": RADAR_QUERY}, headers=bearer(demo_store, "erhr", "NA"))
        mine = erhr.json()["data"]["transitionRadar"]
        assert {p["key"] for p in mine["people"]} <= {p["key"] for p in people}
        assert mine["national"]["code"] == "NA"

        partner = client.post("/graphql", json={"query": RADAR_QUERY}, headers=bearer(demo_store, "partner"))
        theirs = partner.json()["data"]["transitionRadar"]
        assert theirs["people"] == []
        published = [
            v for row in theirs["territories"] for v in row["needing"] + row["deficit"] if v is not None
        ]
        assert all(v == 0 or v >= 11 for v in published)
        refused = client.post(
            "/graphql",
            json={
                "query": RADAR_QUERY,
                "variables": {"h": [{"commune": "86194", "deficiencies": ["DA", "DV"]}]},
            },
            headers=bearer(demo_store, "partner"),
        ).json()
        assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
        assert "réservée aux ERHR" in refused["errors"][0]["message"]


def test_the_page_lists_the_young_people_and_simulates_a_service(demo_dir, demo_store):
    with _client(demo_dir, demo_store) as client:
        headers = bearer(demo_store, "gnchr")
        page = client.get("/transition", headers=headers)
        assert page.status_code == 200
        text = html.unescape(page.text)
        assert "Radar de la transition" in text and "Données synthétiques de démonstration" in text
        assert "Jeunes à préparer" in text and "Chercher les services pour adultes" in text
        assert "/maps/transition?" in text and "/exports/transition.csv?" in text
        assert not re.search(r"\b\d{4}-\d{2}-\d{2}\b", re.sub(r"<[^>]+>", " ", text))  # no ISO date shown
        # the prefilled search of the first young person answers
        link = html.unescape(re.search(r'href="(/recherche\?[^"]+)"', page.text).group(1))
        assert client.get(link, headers=headers).status_code == 200
        simulated = client.get(
            "/transition",
            params=[("commune", "Poitiers"), ("d", "DA"), ("d", "DV"), ("places", "5")],
            headers=headers,
        )
        assert simulated.status_code == 200 and "Avec ce service" in html.unescape(simulated.text)
        bad = client.get("/transition", params={"commune": "Poitiers", "places": "beaucoup"}, headers=headers)
        assert bad.status_code == 400 and "cochez les déficiences" in html.unescape(bad.text)
        csv = client.get("/exports/transition.csv", headers=headers)
        assert csv.status_code == 200 and "Jeunes atteignant 20 ans d'ici 3 an(s)" in csv.text
        assert client.get("/exports/transition.xlsx", headers=headers).status_code == 200
        carte = client.get("/maps/transition", headers=headers)
        assert carte.status_code == 200 and "Transition vers l'âge adulte" in html.unescape(carte.text)
        partner = client.get("/transition", headers=bearer(demo_store, "partner"))
        assert partner.status_code == 200 and "Jeunes à préparer" not in html.unescape(partner.text)
        assert "Simuler un service" not in html.unescape(partner.text)


def test_without_situations_the_page_says_how_to_start(reference_dir, reference_store):
    with _client(reference_dir, reference_store) as client:
        page = client.get("/transition", headers=bearer(reference_store, "gnchr"))
    text = html.unescape(page.text)
    assert page.status_code == 200 and "Aucune situation suivie" in text and "dihr import situations" in text
    assert "synthétiques" not in text

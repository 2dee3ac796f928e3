"""Coverage, gaps and what-if on a hand-built geography: exact figures."""

from __future__ import annotations

import pytest

from graph.coverage import Addition, Level, coverage, gaps, what_if
from graph.errors import InvalidInput
from graph.geo import haversine_km
from graph.matching import Basis, MatchLevel, SituationQuery, find_resources
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from tests.factories import POITIERS

K, R = NodeKind, RelType
MIGNE, NIORT, LYON = (46.63, 0.305), (46.32, -0.46), (45.76, 4.83)


def by_code(result):
    return {t.code: t for t in result.territories}


def test_exact_distances_shares_and_population(net, store):
    result = coverage(store, ["DV", "TSA"], level=Level.DEPARTMENT, threshold_km=60)
    d = by_code(result)
    migne = haversine_km(*POITIERS, *MIGNE)
    assert d["86"].mean_km == pytest.approx(60_000 * migne / 150_000, abs=0.01)
    assert d["86"].median_km == pytest.approx(0.0, abs=0.01)  # 90k of 150k live at distance 0
    assert d["86"].share_beyond == {30.0: 0.0, 60.0: 0.0, 100.0: 0.0}
    assert d["79"].mean_km == pytest.approx(haversine_km(*POITIERS, *NIORT), abs=0.01)
    assert d["79"].share_beyond[60.0] == 1.0 and d["79"].share_beyond[100.0] == 0.0
    assert d["69"].share_beyond[100.0] == 1.0 and d["69"].population_beyond == 500_000
    assert (d["86"].resources, d["79"].resources, d["69"].resources) == (1, 0, 0)
    assert d["79"].zone_blanche and not d["86"].zone_blanche
    assert d["86"].resources_per_100k == pytest.approx(1 / 150_000 * 100_000, abs=1e-3)
    assert sum(t.population for t in result.territories) == result.national.population == 750_000
    assert result.national.population_beyond == 600_000


@pytest.mark.parametrize("level", [Level.REGION, Level.ERHR])
def test_population_totals_match_at_every_level(net, store, level):
    result = coverage(store, ["DV", "TSA"], level=level)
    assert sum(t.population for t in result.territories) == result.national.population == 750_000


def test_partial_resources_do_not_count(net, store):
    store.upsert(
        [
            Node(
                K.ESTABLISHMENT,
                "690000001",
                {"name": "Lyon DV", "lat": LYON[0], "lon": LYON[1], "department": "69"},
            )
        ]
    )
    net._links(NodeRef(K.ESTABLISHMENT, "690000001"), {}, {"DV": 3})
    assert by_code(coverage(store, ["DV", "TSA"]))["69"].resources == 0
    assert by_code(coverage(store, ["DV"]))["69"].resources == 1


def test_age_restricts_the_supply(net, store):
    store.upsert([Node(K.ESTABLISHMENT, "860000001", {"age_min": 20})])
    assert coverage(store, ["DV", "TSA"], age=17).national.mean_km is None  # no resource for a 17-year-old
    assert coverage(store, ["DV", "TSA"], age=30).national.mean_km is not None


def test_demand_counts_open_situations_and_those_without_solution(net, store):
    from importers.reference import combination_elements

    elements = list(combination_elements("DV+TSA"))
    nodes = [e for e in elements if isinstance(e, Node)]
    edges = [e for e in elements if isinstance(e, Edge)]
    for key, commune, status in (
        ("S-1", "86194", "open"),
        ("S-2", "69123", "open"),
        ("S-3", "69123", "closed"),
    ):
        ref = NodeRef(K.SITUATION, key)
        nodes.append(Node(K.SITUATION, key, {"status": status, "age": 10}))
        edges += [
            Edge(R.LIVES_IN, ref, NodeRef(K.COMMUNE, commune)),
            Edge(R.PRESENTS, ref, NodeRef(K.COMBINATION, "DV+TSA")),
        ]
    store.upsert(nodes, edges)
    d = by_code(coverage(store, ["DV", "TSA"], threshold_km=60))
    assert (d["86"].open_situations, d["86"].without_solution) == (1, 0)
    assert (d["69"].open_situations, d["69"].without_solution) == (1, 1)


def test_what_if_difference_is_exactly_the_added_resource(net, store):
    before, after, deltas = what_if(
        store, ["DV", "TSA"], [Addition("69123", ["DV", "TSA", "DI"])], threshold_km=60
    )
    assert [d.code for d in deltas] == ["69"]
    lyon = deltas[0]
    assert lyon.before.population_beyond == 500_000 and lyon.after.population_beyond == 0
    assert lyon.after.mean_km == 0.0 and lyon.after.resources == 1 and lyon.population_gained == 500_000
    assert by_code(before)["79"] == by_code(after)["79"]
    assert store.get_node(K.ESTABLISHMENT, "690000001") is None  # nothing written


def test_what_if_ignores_additions_not_competent_for_the_combination(net, store):
    _, _, deltas = what_if(store, ["DV", "TSA"], [Addition("69123", ["DV"])])
    assert deltas == ()


def test_gap_matrix_ranks_territories_and_flags_zones_blanches(net, store):
    net.establishment(
        "860000301", 5, expertise={"DA+DV": 2}
    )  # deafblind competence at Poitiers: criterion 1 has data
    matrix = gaps(store, level=Level.DEPARTMENT, threshold_km=60)
    assert [c[0] for c in matrix.criteria] == ["1", "2", "3", "4", "5a", "5b", "5c", "5d"]
    ranked = [code for code, _, _ in matrix.territories]
    assert ranked[0] == "69"  # 500,000 inhabitants beyond 60 km for every criterion
    cells = dict((code, cells) for code, _, cells in matrix.territories)
    assert cells["86"][0].combination == "DA+DV" and not cells["86"][0].zone_blanche
    assert cells["69"][0].zone_blanche and not cells["69"][0].no_data
    # no local resource in France is competent for the other criteria: « pas de donnée », never « zone blanche »
    assert all(c.no_data and not c.zone_blanche for c in cells["69"][1:])


def test_accepting_each_deficiency_separately_is_not_combination_competence(net, store):
    sensory = net.establishment(
        "860000311", 5, accepts={"DA": (0, 20), "DV": (0, 20)}
    )  # a « sourd/aveugle » institute
    camsp = net.establishment("860000312", 8, accepts={"DA": (0, 6), "DV": (0, 6)})
    store.upsert([Node(K.ESTABLISHMENT, camsp.key, {"generalist": True, "category": "190"})])
    honest = coverage(store, ["DA", "DV"], local_only=True)
    assert honest.no_data and honest.national.resources == 0 and not honest.separately
    switched = coverage(store, ["DA", "DV"], local_only=True, separately=True)
    assert switched.national.resources == 2 and switched.separately and not switched.no_data
    # one deficiency: the specialised institute accepts it, the generalist CAMSP does not count
    deaf = coverage(store, ["DA"], local_only=True)
    assert deaf.national.resources == 1
    # in the search, both stay proposed, said for what they are
    result = find_resources(store, SituationQuery(deficiencies=["DA", "DV"], age=4, commune="86194"))
    bases = {m.key: m.basis for m in result.matches if m.level is MatchLevel.LOCAL}
    assert bases[sensory.key] is Basis.SEPARATELY and bases[camsp.key] is Basis.SEPARATELY


def test_bad_parameters_are_refused_in_french(net, store):
    with pytest.raises(InvalidInput, match="niveau attendu"):
        coverage(store, ["DV"], level="CANTON")
    with pytest.raises(InvalidInput, match="seuil"):
        coverage(store, ["DV"], threshold_km=0)


def test_a_service_covers_the_communes_it_declares_it_works_in(net, store):
    """A service competent for DV+TSA whose intervention zone (FINESS Activités)
    holds Niort comes to Niort: Deux-Sèvres is covered at 0 km, as matching says
    (its seat, and the resources count, stay in Vienne)."""
    before = by_code(coverage(store, ["DV", "TSA"], threshold_km=60))
    assert before["79"].zone_blanche and before["79"].share_beyond[60.0] == 1.0
    store.upsert(
        [
            Node(
                K.ESTABLISHMENT,
                "860000001",
                {
                    "name": "E1",
                    "lat": POITIERS[0],
                    "lon": POITIERS[1],
                    "department": "86",
                    "intervention_communes": ["79191"],
                },
            )
        ]
    )
    after = by_code(coverage(store, ["DV", "TSA"], threshold_km=60))
    assert after["79"].mean_km == 0.0 and after["79"].share_beyond[60.0] == 0.0
    assert (after["86"].resources, after["79"].resources) == (1, 0)
    assert after["69"] == before["69"] and after["86"] == before["86"]
    match = find_resources(store, SituationQuery(deficiencies=["DV", "TSA"], commune="79191", radius_km=30))
    assert [m.distance_km for m in match.matches if m.key == "860000001"] == [0.0]

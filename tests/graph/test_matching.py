"""findResources on small hand-built graphs: exact rankings and explanations.

Runs on every backend through the `store` fixture."""

from __future__ import annotations

import pytest

from graph.errors import InvalidInput, UnknownCode
from graph.matching import Basis, MatchLevel, SituationQuery, find_resources
from graph.model import NodeKind
from tests.factories import Network

K = NodeKind


def local(result):
    return [m for m in result.matches if m.level is MatchLevel.LOCAL]


def keys(matches):
    return [m.key for m in matches]


@pytest.fixture
def net(store):
    return Network(store)


def query(**kwargs):
    base = {"deficiencies": ["DV", "TSA"], "commune": "86194", "age": 17, "radius_km": 100}
    return SituationQuery(**{**base, **kwargs})


def test_combination_first_then_full_coverage_by_level_then_partial(net, store):
    e3 = net.establishment("860000003", 60)
    net.professional("pro-combi", e3, expertise={"DV+TSA": 2})
    net.establishment("860000001", 10, accepts={"DV": (6, 20), "TSA": (6, 20)})
    net.establishment("860000002", 5, expertise={"DV": 3})
    net.establishment("860000005", 40, expertise={"DV": 3, "TSA": 3})
    result = find_resources(store, query())
    ranked = local(result)
    assert keys(ranked) == ["pro-combi", "860000005", "860000001", "860000002"]
    assert [m.basis for m in ranked] == [
        Basis.COMBINATION,
        Basis.ALL_DEFICIENCIES,
        Basis.SEPARATELY,
        Basis.PARTIAL,
    ]
    assert ranked[0].distance_km == pytest.approx(60, abs=0.2)
    assert ranked[3].misses == ("TSA",)


def test_full_coverage_beats_a_nearer_partial_one(net, store):
    net.establishment("860000001", 3, expertise={"DV": 3})
    net.establishment("860000002", 80, expertise={"DV": 1, "TSA": 1})
    assert keys(local(find_resources(store, query())))[:2] == ["860000002", "860000001"]


def test_expertise_level_breaks_ties_before_distance(net, store):
    net.establishment("860000001", 5, expertise={"DV": 1, "TSA": 1})
    net.establishment("860000002", 50, expertise={"DV": 3, "TSA": 2})
    assert keys(local(find_resources(store, query()))) == ["860000002", "860000001"]


def test_age_incompatibility_excludes(net, store):
    net.establishment("860000001", 5, accepts={"DV": (0, 16), "TSA": (0, 16)})
    net.establishment("860000002", 6, age_min=20, expertise={"DV": 3, "TSA": 3})
    net.establishment("860000003", 7, accepts={"DV": (6, 20), "TSA": (6, 20)})
    result = find_resources(store, query(age=17))
    assert keys(m for m in local(result) if m.group == "within") == ["860000003"]
    # at 17 (transition age) the adult service from 20 is shown apart, to prepare the next step
    assert [(m.key, m.group) for m in local(result) if m.group != "within"] == [("860000002", "next")]
    adult = find_resources(store, query(age=25))
    assert keys(local(adult)) == ["860000002"]


def test_radius_boundary_is_inclusive(net, store):
    net.establishment("860000001", 50, expertise={"DV": 3, "TSA": 3})
    inside = find_resources(store, query(radius_km=50.05, limit=1))
    assert keys(local(inside)) == ["860000001"] and local(inside)[0].within_radius
    outside = find_resources(store, query(radius_km=49.95, limit=1))
    assert local(outside)[0].key == "860000001" and not local(outside)[0].within_radius


def test_widening_reports_nearest_competent_resource_beyond_radius(net, store):
    net.establishment("860000001", 10, expertise={"DV": 3})  # partial, inside
    net.establishment("860000002", 240, expertise={"DV+TSA": 3})  # full, beyond
    net.establishment("860000003", 400, expertise={"DV": 2, "TSA": 2})  # full, farther
    result = find_resources(store, query(radius_km=100, limit=3))
    assert result.widening is not None
    assert result.widening.competent_inside == 0
    assert "240 km" in result.widening.message
    ranked = local(result)
    # the partial resource inside the radius stays first; the fully competent ones
    # beyond twice the radius are named in the message, not listed
    assert keys(ranked) == ["860000001"] and ranked[0].within_radius
    assert (
        "Établissement 860000002, à 240 km" in result.widening.message
        and "pas dans le tableau" in result.widening.message
    )


@pytest.mark.parametrize("limit", [2, 4])
def test_widening_takes_the_nearest_beyond_the_radius_however_far(net, store, limit):
    for key, km in (("860000001", 190), ("860000002", 150), ("860000003", 500), ("860000004", 120)):
        net.establishment(key, km, expertise={"DV": 3, "TSA": 3})
    ranked = local(find_resources(store, query(radius_km=100, limit=limit)))
    shown = min(
        limit, 3
    )  # nothing inside the radius: the nearest beyond, however far, at most 3 (BEYOND_ROWS)
    assert keys(ranked) == ["860000004", "860000002", "860000001", "860000003"][:shown]
    assert [round(m.distance_km) for m in ranked] == [120, 150, 190, 500][:shown]
    assert {m.group for m in ranked} == {"beyond"}


def test_a_combination_covered_only_by_a_team_of_two(net, store):
    net.establishment("860000001", 20, expertise={"DA": 3})
    net.establishment("860000002", 25, accepts={"DM": (None, None)})
    net.establishment("860000003", 90, expertise={"DA": 1})
    result = find_resources(store, query(deficiencies=["DA", "DM"]))
    assert result.teams, "a team should be proposed"
    first = result.teams[0]
    assert keys(first.members) == ["860000001", "860000002"]
    assert first.max_distance_km == pytest.approx(25, abs=0.2)
    assert {c.need for m in first.members for c in m.covers} == {"DA", "DM"}


def test_no_team_when_one_resource_covers_everything(net, store):
    net.establishment("860000001", 20, expertise={"DA": 3, "DM": 3})
    net.establishment("860000002", 10, expertise={"DA": 3})
    assert find_resources(store, query(deficiencies=["DA", "DM"])).teams == ()


def test_subsidiarity_local_then_erhr_then_cnrhr(net, store):
    net.establishment("860000001", 10, expertise={"DV": 3, "TSA": 3})
    result = find_resources(store, query())
    assert [(m.level, m.key) for m in result.matches] == [
        (MatchLevel.LOCAL, "860000001"),
        (MatchLevel.ERHR, "NA"),
        (MatchLevel.CNRHR, "PEPINIERE"),
    ]
    assert result.erhr.code == "NA" and result.erhr.email == "contact@example.org"
    assert result.matches[1].in_erhr_territory and not result.matches[2].in_erhr_territory
    assert result.matches[2].distance_km > 300  # national, listed outside the radius


def test_explanations_name_the_right_paths(net, store):
    e = net.establishment("860000001", 10, accepts={"DV": (6, 20)}, expertise={"TSA": 2, "CAA": 3})
    net.professional("pro-1", e, expertise={"DV+TSA": 3})
    result = find_resources(store, query(skills=["CAA"]))
    by_key = {m.key: m for m in local(result)}
    paths = {c.path for c in by_key["860000001"].covers}
    assert "Establishment —ACCEPTS(6-20 ans)→ DV" in paths
    assert "Establishment —HAS_EXPERTISE(level 2)→ TSA" in paths
    assert "Establishment —HAS_EXPERTISE(level 3)→ CAA" in paths
    pro = by_key["pro-1"]
    assert pro.basis is Basis.COMBINATION
    assert pro.covers[0].path == "Professional —HAS_EXPERTISE(level 3)→ DV+TSA"
    assert pro.misses == ("CAA",)
    assert pro.in_erhr_territory and pro.department == "86"
    links = {(c.need, c.link) for c in by_key["860000001"].covers}
    assert links == {("DV", "ACCEPTS"), ("TSA", "HAS_EXPERTISE"), ("CAA", "HAS_EXPERTISE")}
    assert {c.link for c in pro.covers} == {"HAS_EXPERTISE", "INCLUDES"}
    # read by a person: the combination's line says it once, not once more per deficiency
    from graph.explanation import shown_covers

    assert [c.path for c in shown_covers(pro.covers)] == ["Professional —HAS_EXPERTISE(level 3)→ DV+TSA"]
    assert shown_covers(by_key["860000001"].covers) == by_key["860000001"].covers


def test_expertise_on_a_larger_combination_counts(net, store):
    net.establishment("860000001", 30, expertise={"DI+DV+TSA": 2})
    match = local(find_resources(store, query()))[0]
    assert match.basis is Basis.COMBINATION
    assert "(inclut DV+TSA)" in match.covers[0].path


def test_conditions_bring_their_frequent_deficiencies(net, store):
    # CHARGE: hearing impairment, coloboma, intellectual disability, autism, each frequent in its annotations
    net.establishment("860000001", 30, expertise={"ORPHA:138": 3})
    result = find_resources(store, SituationQuery(deficiencies=[], conditions=["138"], commune="86194"))
    assert result.combination == "DA+DI+DV+TSA"
    assert result.qualification.cnrhr == ("CRESAM",)
    match = local(result)[0]
    assert match.basis is Basis.ALL_DEFICIENCIES
    assert "Establishment —HAS_EXPERTISE(level 3)→ ORPHA:138 —TYPICALLY_INVOLVES→ DA" in {
        c.path for c in match.covers
    }
    da = next(i for i in result.inferred if i.deficiency == "DA")
    assert "Hearing impairment (HP:0000365), très fréquent (80-99 %)" in da.phenotypes
    assert "Syndrome CHARGE (ORPHA:138), très fréquent (80-99 %)" in da.text
    given = find_resources(store, SituationQuery(deficiencies=["DV"], conditions=["138"], commune="86194"))
    assert given.combination == "DV" and given.inferred == ()  # the deficiencies ticked by hand win


def test_a_condition_alone_is_a_search_by_name_or_code(net, store):
    net.establishment("670000001", 10, department="67", expertise={"DI": 2, "COMPORT": 2})
    by_code = find_resources(store, SituationQuery(deficiencies=[], conditions=["739"], commune="86194"))
    by_name = find_resources(
        store, SituationQuery(deficiencies=[], conditions=["Prader-Willi"], commune="86194")
    )
    assert by_code.conditions == by_name.conditions == ("ORPHA:739",)
    # challenging behaviour is very frequent; intellectual disability, epilepsy are occasional in the annotations
    assert by_code.combination == by_name.combination == "COMPORT"
    assert {"DI", "EPI"} <= {p.deficiency for p in by_code.possible}
    with pytest.raises(UnknownCode, match="Suggestions : Syndrome de Prader-Willi"):
        find_resources(store, SituationQuery(deficiencies=[], conditions=["prader"], commune="86194"))


def test_resources_outside_the_person_s_erhr_are_flagged(net, store):
    net.establishment("690000001", 20, department="69", expertise={"DV": 3, "TSA": 3})
    assert local(find_resources(store, query()))[0].in_erhr_territory is False


def test_postcode_and_coordinates_locate_the_person(net, store):
    net.establishment("860000001", 10, expertise={"DV": 3, "TSA": 3})
    by_postcode = find_resources(store, query(commune=None, postcode="86440"))
    assert by_postcode.place.commune == "86158" and by_postcode.place.approximate
    by_point = find_resources(store, query(commune=None, lat=46.6, lon=0.33))
    assert by_point.place.commune == "86194"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"radius_km": 0}, InvalidInput, "rayon"),
        ({"radius_km": 1001}, InvalidInput, "rayon"),
        ({"limit": 101}, InvalidInput, "nombre de résultats"),
        ({"deficiencies": []}, InvalidInput, "au moins une déficience"),
        ({"deficiencies": ["XX"]}, UnknownCode, "XX"),
        ({"deficiencies": ["DV", ["TSA"]]}, UnknownCode, "TSA"),  # not a code (nor a cache key)
        ({"deficiencies": ["XX"]}, UnknownCode, "XX"),  # asked again: refused again (errors not kept)
        ({"commune": "99999"}, UnknownCode, "99999"),
        ({"commune": None, "postcode": "00000"}, UnknownCode, "00000"),
        ({"skills": ["FLY"]}, UnknownCode, "FLY"),
        ({"commune": None}, InvalidInput, "lieu de vie"),
    ],
)
def test_bad_input_is_refused_in_french_and_writes_nothing(net, store, kwargs, error, match):
    before = (store.count_nodes(), store.count_edges())
    with pytest.raises(error, match=match):
        find_resources(store, query(**kwargs))
    assert (store.count_nodes(), store.count_edges()) == before


def test_kinds_filter(net, store):
    e = net.establishment("860000001", 10, expertise={"DV": 3, "TSA": 3})
    net.professional("pro-1", e, expertise={"DV": 3, "TSA": 3})
    result = find_resources(store, query(kinds=[K.PROFESSIONAL]))
    assert keys(local(result)) == ["pro-1"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "deficiencies,commune", [(["DI"], "75056"), (["TSA"], "69123"), (["DI", "EPI"], "13055")]
)
def test_a_crowded_radius_is_ranked_by_the_key_tuple(demo_store, deficiencies, commune):
    """Many more candidates than asked (the case a pre-selection shortcut once
    served): each local result inside the radius, fully competent, comes in the
    order (basis, more points, nearer; then kind and key) — exactly, not
    approximately (distances are shown rounded, so ties there are not checked)."""
    tier = {Basis.COMBINATION: 0, Basis.ALL_DEFICIENCIES: 1, Basis.SEPARATELY: 2}
    full = [
        m
        for m in find_resources(
            demo_store, SituationQuery(deficiencies=deficiencies, commune=commune, radius_km=100, limit=4)
        ).matches
        if m.level is MatchLevel.LOCAL and m.within_radius and m.basis in tier
    ]
    wide = [
        m
        for m in find_resources(
            demo_store, SituationQuery(deficiencies=deficiencies, commune=commune, radius_km=100, limit=100)
        ).matches
        if m.level is MatchLevel.LOCAL and m.within_radius and m.basis in tier
    ]
    assert len(wide) > 4 * len(full) >= 4, "the radius must hold many more candidates than asked"
    keys = [(tier[m.basis], -m.score, m.distance_km) for m in wide]
    assert keys == sorted(keys)
    assert [m.key for m in full] == [m.key for m in wide[: len(full)]]  # the first 4 of 100 are the 4

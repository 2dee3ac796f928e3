"""The ranking an ERHR animator expects, as a table of cases.

Each row is a judgement an animator would make on two or three resources
placed north of Poitiers (km), for one person; the test asserts the order of
the local results. Runs on every backend."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from graph.matching import MatchLevel, SituationQuery, find_resources
from tests.factories import Network


@dataclass(frozen=True)
class Resource:
    finess: str
    km: float
    expertise: dict[str, int] = field(default_factory=dict)
    accepts: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    ages: tuple[int | None, int | None] = (None, None)


@dataclass(frozen=True)
class Case:
    judgement: str
    resources: tuple[Resource, ...]
    deficiencies: tuple[str, ...]
    age: int | None
    expected: tuple[str, ...]
    skills: tuple[str, ...] = ()


CHILD_SESSAD = Resource("860000001", 5, accepts={"DI": (0, 20)}, ages=(0, 20))
ADULT_FAM = Resource("860000002", 30, accepts={"DI": (18, None)}, ages=(18, None))

CASES = [
    Case(
        "every need at level 3 nearby outranks a nearer resource covering a single deficiency",
        (
            Resource("860000011", 2, expertise={"DV": 3}),
            Resource("860000012", 20, expertise={"DV": 3, "TSA": 3}),
        ),
        ("DV", "TSA"),
        15,
        ("860000012", "860000011"),
    ),
    Case(
        "expertise on the combination itself comes before separate expertise, even at higher levels",
        (
            Resource("860000021", 10, expertise={"DV": 3, "TSA": 3}),
            Resource("860000022", 60, expertise={"DV+TSA": 2}),
        ),
        ("DV", "TSA"),
        15,
        ("860000022", "860000021"),
    ),
    Case(
        "at 20 years old an adult service outranks a children's SESSAD, though farther",
        (CHILD_SESSAD, ADULT_FAM),
        ("DI",),
        20,
        ("860000002", "860000001"),
    ),
    Case(
        "at 12 years old the adult service is not proposed at all",
        (CHILD_SESSAD, ADULT_FAM),
        ("DI",),
        12,
        ("860000001",),
    ),
    Case(
        "at 25 years old the children's service is not proposed",
        (CHILD_SESSAD, ADULT_FAM),
        ("DI",),
        25,
        ("860000002",),
    ),
    Case(
        "a level-3 expertise from the directory outranks an acceptance inferred from a category, though farther",
        (Resource("860000031", 5, accepts={"DA": (0, 20)}), Resource("860000032", 25, expertise={"DA": 3})),
        ("DA",),
        8,
        ("860000032", "860000031"),
    ),
    Case(
        "between equal competences, the nearer comes first",
        (Resource("860000041", 40, expertise={"DA": 2}), Resource("860000042", 15, expertise={"DA": 2})),
        ("DA",),
        30,
        ("860000042", "860000041"),
    ),
    Case(
        "the resource that also offers the skill asked for comes first",
        (
            Resource("860000051", 5, expertise={"DA": 2, "DV": 2}),
            Resource("860000052", 30, expertise={"DA": 2, "DV": 2, "LSF_TACTILE": 2}),
        ),
        ("DA", "DV"),
        40,
        ("860000052", "860000051"),
        ("LSF_TACTILE",),
    ),
    Case(
        "expertise on each deficiency outranks accepting each separately, though farther and at the same levels",
        (
            Resource("860000063", 5, accepts={"DA": (None, None), "DV": (None, None)}),
            Resource("860000064", 45, expertise={"DA": 1, "DV": 1}),
        ),
        ("DA", "DV"),
        40,
        ("860000064", "860000063"),
    ),
    Case(
        "a resource covering the whole combination, even by acceptance only, outranks a partial expert",
        (
            Resource("860000061", 5, expertise={"DA": 3}),
            Resource("860000062", 50, accepts={"DA": (None, None), "DV": (None, None)}),
        ),
        ("DA", "DV"),
        40,
        ("860000062", "860000061"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.judgement for c in CASES])
def test_ranking_as_an_animator_judges_it(store, case):
    net = Network(store)
    for r in case.resources:
        net.establishment(
            r.finess, r.km, expertise=r.expertise, accepts=r.accepts, age_min=r.ages[0], age_max=r.ages[1]
        )
    result = find_resources(
        store,
        SituationQuery(
            deficiencies=case.deficiencies, skills=case.skills, age=case.age, commune="86194", radius_km=100
        ),
    )
    got = tuple(m.key for m in result.matches if m.level is MatchLevel.LOCAL)
    assert got == case.expected, case.judgement


def test_the_transition_view_tells_adult_and_children_services_apart(store):
    net = Network(store)
    for r in (CHILD_SESSAD, ADULT_FAM, Resource("860000003", 12, accepts={"DI": (None, None)})):
        net.establishment(r.finess, r.km, accepts=r.accepts, age_min=r.ages[0], age_max=r.ages[1])
    result = find_resources(store, SituationQuery(deficiencies=["DI"], age=19, commune="86194"))
    groups = {m.key: m.age_group for m in result.matches if m.level is MatchLevel.LOCAL}
    assert groups == {"860000001": "children", "860000002": "adults", "860000003": "all"}
    assert result.transition


@pytest.mark.parametrize(("km", "listed"), [(150, True), (300, False)])
def test_a_skill_nobody_offers_in_the_radius_is_said_with_the_nearest_that_does(store, km, listed):
    """Within twice the radius, the nearest resource offering it is also in the
    table (beyond the radius); farther, it is named in the note only."""
    net = Network(store)
    net.establishment("860000071", 5, expertise={"DA": 2, "DV": 2})
    net.establishment("860000072", km, expertise={"LSF_TACTILE": 3})
    result = find_resources(
        store,
        SituationQuery(
            deficiencies=["DA", "DV"], skills=["LSF_TACTILE"], age=40, commune="86194", radius_km=100
        ),
    )
    note = next(n for n in result.notes if "ne couvre LSF tactile (LSF_TACTILE)" in n)
    assert f"Établissement 860000072 ({km} km)" in note and ("pas dans le tableau" in note) is not listed
    far = [m for m in result.matches if m.key == "860000072"]
    if listed:
        assert far[0].within_radius is False and [c.need for c in far[0].covers] == ["LSF_TACTILE"]
        assert far[0].group == "beyond"
    else:
        assert far == []
    assert [m.key for m in result.matches if m.level is MatchLevel.LOCAL][0] == "860000071"


def local_rows(result):
    return [(m.key, m.group) for m in result.matches if m.level is MatchLevel.LOCAL]


#: Judgements on rows beyond the radius (radius 100 km; "within", "beyond" are the groups shown).
BEYOND_CASES = [
    Case(
        "a partial resource inside the radius comes before a fully competent one beyond it",
        (
            Resource("860000101", 30, expertise={"DV": 2}),
            Resource("860000102", 150, expertise={"DV": 3, "TSA": 3}),
        ),
        ("DV", "TSA"),
        30,
        (("860000101", "within"), ("860000102", "beyond")),
    ),
    Case(
        "a fully competent resource beyond twice the radius is not listed when a resource inside answers",
        (
            Resource("860000111", 40, expertise={"TSA": 1}),
            Resource("860000112", 250, expertise={"DV+TSA": 3}),
        ),
        ("DV", "TSA"),
        30,
        (("860000111", "within"),),
    ),
    Case(
        "with nothing inside the radius, the three nearest fully competent resources are listed, however far",
        tuple(
            Resource(f"86000012{i}", km, expertise={"DA": 2, "DV": 2})
            for i, km in enumerate((420, 150, 310, 260))
        ),
        ("DA", "DV"),
        50,
        (("860000121", "beyond"), ("860000123", "beyond"), ("860000122", "beyond")),
    ),
    Case(
        "many partial rows inside the radius never push a nearby fully competent one beyond it out",
        tuple(Resource(f"86000013{i}", 10 + i, expertise={"DV": 1}) for i in range(6))
        + (Resource("860000139", 180, expertise={"DV": 2, "TSA": 2}),),
        ("DV", "TSA"),
        30,
        tuple((f"86000013{i}", "within") for i in range(6)) + (("860000139", "beyond"),),
    ),
]


@pytest.mark.parametrize("case", BEYOND_CASES, ids=[c.judgement for c in BEYOND_CASES])
def test_rows_beyond_the_radius_stay_behind_and_near(store, case):
    net = Network(store)
    for r in case.resources:
        net.establishment(
            r.finess, r.km, expertise=r.expertise, accepts=r.accepts, age_min=r.ages[0], age_max=r.ages[1]
        )
    result = find_resources(
        store, SituationQuery(deficiencies=case.deficiencies, age=case.age, commune="86194", radius_km=100)
    )
    assert tuple(local_rows(result)) == case.expected, case.judgement
    inside = [m for m in result.matches if m.level is MatchLevel.LOCAL and m.within_radius]
    if inside:  # the animator's rule: nothing beyond twice the radius among the first five rows
        assert all(m.distance_km <= 200 for m in result.matches[:5] if m.level is MatchLevel.LOCAL)


def test_the_referents_are_their_own_group_after_the_local_rows(store):
    net = Network(store)
    net.establishment("860000141", 5, expertise={"DA": 2, "DV": 2})
    result = find_resources(store, SituationQuery(deficiencies=["DA", "DV"], age=40, commune="86194"))
    groups = [(m.level, m.group) for m in result.matches]
    assert groups == [
        (MatchLevel.LOCAL, "within"),
        (MatchLevel.ERHR, "referent"),
        (MatchLevel.CNRHR, "referent"),
    ]


def test_at_17_with_the_transition_adult_services_come_apart_to_prepare_it(store):
    net = Network(store)
    for r in (
        CHILD_SESSAD,
        ADULT_FAM,
        Resource("860000151", 70, accepts={"DI": (20, None)}, ages=(20, None)),
        Resource("860000152", 15, accepts={"DI": (30, None)}, ages=(30, None)),
    ):
        net.establishment(r.finess, r.km, accepts=r.accepts, age_min=r.ages[0], age_max=r.ages[1])
    result = find_resources(
        store, SituationQuery(deficiencies=["DI"], skills=["TRANSITION"], age=17, commune="86194")
    )
    rows = local_rows(result)
    assert rows == [("860000001", "within"), ("860000002", "next"), ("860000151", "next")], rows
    assert result.transition
    adult = next(m for m in result.matches if m.key == "860000002")
    assert adult.age_group == "adults" and [c.need for c in adult.covers] == [
        "DI"
    ]  # explained at the age it will admit
    at_14 = find_resources(store, SituationQuery(deficiencies=["DI"], age=14, commune="86194"))
    assert [g for _k, g in local_rows(at_14)] == ["within"]  # no transition asked, none shown


def test_a_skill_completes_a_team(store):
    net = Network(store)
    net.establishment("860000081", 5, expertise={"DA": 2, "DV": 2})
    net.establishment("860000082", 20, expertise={"RESPITE": 2})
    result = find_resources(
        store,
        SituationQuery(deficiencies=["DA", "DV"], skills=["RESPITE"], age=40, commune="86194", radius_km=100),
    )
    assert [[m.key for m in t.members] for t in result.teams][:1] == [["860000081", "860000082"]]

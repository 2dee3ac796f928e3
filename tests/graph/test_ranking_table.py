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
    Case("every need at level 3 nearby outranks a nearer resource covering a single deficiency",
         (Resource("860000011", 2, expertise={"DV": 3}), Resource("860000012", 20, expertise={"DV": 3, "TSA": 3})),
         ("DV", "TSA"), 15, ("860000012", "860000011")),
    Case("expertise on the combination itself comes before separate expertise, even at higher levels",
         (Resource("860000021", 10, expertise={"DV": 3, "TSA": 3}), Resource("860000022", 60, expertise={"DV+TSA": 2})),
         ("DV", "TSA"), 15, ("860000022", "860000021")),
    Case("at 20 years old an adult service outranks a children's SESSAD, though farther",
         (CHILD_SESSAD, ADULT_FAM), ("DI",), 20, ("860000002", "860000001")),
    Case("at 12 years old the adult service is not proposed at all",
         (CHILD_SESSAD, ADULT_FAM), ("DI",), 12, ("860000001",)),
    Case("at 25 years old the children's service is not proposed",
         (CHILD_SESSAD, ADULT_FAM), ("DI",), 25, ("860000002",)),
    Case("a level-3 expertise from the directory outranks an acceptance inferred from a category, though farther",
         (Resource("860000031", 5, accepts={"DA": (0, 20)}), Resource("860000032", 25, expertise={"DA": 3})),
         ("DA",), 8, ("860000032", "860000031")),
    Case("between equal competences, the nearer comes first",
         (Resource("860000041", 40, expertise={"DA": 2}), Resource("860000042", 15, expertise={"DA": 2})),
         ("DA",), 30, ("860000042", "860000041")),
    Case("the resource that also offers the skill asked for comes first",
         (Resource("860000051", 5, expertise={"DA": 2, "DV": 2}),
          Resource("860000052", 30, expertise={"DA": 2, "DV": 2, "LSF_TACTILE": 2})),
         ("DA", "DV"), 40, ("860000052", "860000051"), ("LSF_TACTILE",)),
    Case("a resource covering the whole combination, even by acceptance only, outranks a partial expert",
         (Resource("860000061", 5, expertise={"DA": 3}), Resource("860000062", 50, accepts={"DA": (None, None), "DV": (None, None)})),
         ("DA", "DV"), 40, ("860000062", "860000061")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.judgement for c in CASES])
def test_ranking_as_an_animator_judges_it(store, case):
    net = Network(store)
    for r in case.resources:
        net.establishment(r.finess, r.km, expertise=r.expertise, accepts=r.accepts, age_min=r.ages[0], age_max=r.ages[1])
    result = find_resources(store, SituationQuery(deficiencies=case.deficiencies, skills=case.skills, age=case.age,
                                                  commune="86194", radius_km=100))
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


def test_a_skill_nobody_offers_in_the_radius_is_said_with_the_nearest_that_does(store):
    net = Network(store)
    net.establishment("860000071", 5, expertise={"DA": 2, "DV": 2})
    net.establishment("860000072", 300, expertise={"LSF_TACTILE": 3})
    result = find_resources(store, SituationQuery(deficiencies=["DA", "DV"], skills=["LSF_TACTILE"], age=40,
                                                  commune="86194", radius_km=100))
    assert any("ne couvre LSF tactile (LSF_TACTILE)" in n and "Établissement 860000072 (300 km)" in n
               for n in result.notes), result.notes
    far = next(m for m in result.matches if m.key == "860000072")  # in the table too, beyond the radius
    assert far.within_radius is False and [c.need for c in far.covers] == ["LSF_TACTILE"]
    assert [m.key for m in result.matches if m.level is MatchLevel.LOCAL][0] == "860000071"


def test_a_skill_completes_a_team(store):
    net = Network(store)
    net.establishment("860000081", 5, expertise={"DA": 2, "DV": 2})
    net.establishment("860000082", 20, expertise={"RESPITE": 2})
    result = find_resources(store, SituationQuery(deficiencies=["DA", "DV"], skills=["RESPITE"], age=40,
                                                  commune="86194", radius_km=100))
    assert [[m.key for m in t.members] for t in result.teams][:1] == [["860000081", "860000082"]]

"""The transition radar (graph/transition.py): followed young people reaching the
end of children's services, against the adult services competent for their
combination within reach, per territory and year; a what-if; who sees what."""

from __future__ import annotations

import itertools
from datetime import date

import numpy as np
import pytest

from graph import service
from graph.access import Principal, Role
from graph.disclosure import SMALL_CELL
from graph.errors import InvalidInput
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.readmodel import read_model
from graph.transition import HORIZONS, Hypothesis, protect_radar, transition_radar
from importers.reference import combination_elements

K, R = NodeKind, RelType
TODAY = date(2026, 12, 5)


def followed(store, rows) -> None:
    """Situations: (key, combination, age, commune, erhr, opened_on)."""
    nodes, edges = [], []
    for combination in {r[1] for r in rows}:
        for element in combination_elements(combination):
            (nodes if isinstance(element, Node) else edges).append(element)
    for key, combination, age, commune, erhr, opened in rows:
        ref = NodeRef(K.SITUATION, key)
        nodes.append(
            Node(
                K.SITUATION,
                key,
                {"status": "open", "age": age, "opened_on": opened, "department": commune[:2], "erhr": erhr},
            )
        )
        edges += [
            Edge(R.LIVES_IN, ref, NodeRef(K.COMMUNE, commune)),
            Edge(R.PRESENTS, ref, NodeRef(K.COMBINATION, combination)),
        ]
    store.upsert(nodes, edges)


def by_code(radar):
    return {row.code: row for row in radar.territories}


def test_ten_deafblind_17_year_olds_without_an_adult_service_are_a_deficit_in_three_years(net, store):
    followed(store, [(f"S-{i:02d}", "DA+DV", 17, "86194", "NA", "2026-11-01") for i in range(10)])
    followed(store, [("S-LYON", "DA+DV", 19, "69123", "ARA", "2026-11-01")])
    radar = transition_radar(store, threshold_km=60, as_of=TODAY)
    vienne = by_code(radar)["86"]
    assert vienne.needing == (0, 0, 10) and vienne.deficit == (0, 0, 10)  # within 1, 2, 3 years
    assert by_code(radar)["69"].needing == (1, 1, 1)
    assert radar.national.needing == (1, 1, 11) and radar.national.deficit == (1, 1, 11)
    assert by_code(radar)["79"].needing == (0, 0, 0)
    # an adult service competent for the combination within reach: no deficit any more
    after = transition_radar(
        store, threshold_km=60, as_of=TODAY, hypotheses=[Hypothesis("86194", ["DA", "DV"])]
    )
    assert by_code(after)["86"].deficit == (0, 0, 0) and by_code(after)["69"].deficit == (1, 1, 1)
    # ... with 4 places, 6 of the 10 are still without one
    limited = transition_radar(
        store, threshold_km=60, as_of=TODAY, hypotheses=[Hypothesis("86194", ["DA", "DV"], places=4)]
    )
    assert by_code(limited)["86"].deficit == (0, 0, 6)
    # a service for only one of their deficiencies, or too far, changes nothing
    for hypothesis in (Hypothesis("86194", ["DA"]), Hypothesis("69123", ["DA", "DV"])):
        assert by_code(transition_radar(store, threshold_km=60, as_of=TODAY, hypotheses=[hypothesis]))[
            "86"
        ].deficit == (0, 0, 10)


def test_a_real_adult_service_counts_and_a_children_service_does_not(net, store):
    followed(store, [(f"S-{i}", "DA+DV", 18, "86194", "NA", "2026-11-01") for i in range(3)])
    net.establishment("860000090", 20, age_max=20, expertise={"DA+DV": 3})  # children's: not after 20
    assert by_code(transition_radar(store, as_of=TODAY))["86"].deficit == (0, 3, 3)
    net.establishment("860000091", 30, age_min=18, expertise={"DA+DV": 2})  # adults', 30 km away
    radar = transition_radar(store, as_of=TODAY, threshold_km=60)
    assert by_code(radar)["86"].deficit == (0, 0, 0) and by_code(radar)["86"].needing == (0, 3, 3)
    assert all(p.nearest_km == pytest.approx(30, abs=0.5) for p in radar.people)
    assert by_code(transition_radar(store, as_of=TODAY, threshold_km=20))["86"].deficit == (0, 3, 3)


def test_ages_run_on_from_the_opening_and_closed_or_adult_situations_are_left_out(net, store):
    followed(
        store,
        [
            ("S-OLD", "DV+TSA", 15, "86194", "NA", "2024-06-01"),  # 17 now: 3 years left
            ("S-ADULT", "DV+TSA", 20, "86194", "NA", "2026-11-01"),
            ("S-CHILD", "DV+TSA", 8, "86194", "NA", "2026-11-01"),
        ],
    )
    store.upsert([Node(K.SITUATION, "S-CLOSED", {"status": "closed", "age": 18})])
    radar = transition_radar(store, as_of=TODAY)
    assert [(p.key, p.age, p.years_left) for p in radar.people] == [("S-OLD", 17, 3)]
    assert radar.people[0].within_reach  # E1 at Poitiers has expertise on DV and TSA, no age bound
    assert radar.situations_followed == 3


def test_bad_parameters_are_refused_in_french(net, store):
    for kwargs, field in (
        ({"level": "COMMUNE"}, "level"),
        ({"threshold_km": 0}, "thresholdKm"),
        ({"criterion": "9"}, "criterion"),
    ):
        with pytest.raises(InvalidInput) as err:
            transition_radar(store, **kwargs)
        assert err.value.field == field
    with pytest.raises(InvalidInput):
        transition_radar(store, hypotheses=[Hypothesis("86194", ["DA"], places=-1)])


def test_an_erhr_sees_its_own_young_people_and_a_partner_only_published_counts(net, store):
    followed(
        store,
        [(f"S-NA-{i}", "DA+DV", 17, "86194", "NA", "2026-11-01") for i in range(4)]
        + [(f"S-ARA-{i}", "DA+DV", 18, "69123", "ARA", "2026-11-01") for i in range(12)],
    )
    na = service.transition_radar(store, Principal("k1", Role.ERHR, "NA"), as_of=TODAY)
    assert {p.key for p in na.people} == {f"S-NA-{i}" for i in range(4)}
    assert {row.code for row in na.territories} <= {"86", "79"} and na.national.needing == (0, 0, 4)
    ara = service.transition_radar(store, Principal("k2", Role.ERHR, "ARA"), as_of=TODAY)
    assert all(p.key.startswith("S-ARA") for p in ara.people)
    partner = service.transition_radar(store, Principal("k3", Role.PARTNER), as_of=TODAY)
    assert partner.people == ()
    rows = by_code(partner)
    assert rows["86"].needing[2] is None and rows["86"].withheld  # 4: « < 11 »
    assert rows["69"].needing == (0, 12, 12)
    gnchr = service.transition_radar(store, Principal("k4", Role.GNCHR), as_of=TODAY)
    assert len(gnchr.people) == 16 and by_code(gnchr)["86"].needing == (0, 0, 4)


LEVELS = ("DEPARTMENT", "REGION", "ERHR")


def test_no_partner_figure_lets_a_count_of_1_to_10_be_derived(net, store):
    """An attacker holding every figure a partner can read (every level, every
    criterion and all of them, every horizon, everyone and the deficit) computes
    any linear combination of them: no set of cells with 1 to 10 young people
    may be computable."""
    followed(
        store,
        [(f"A{i}", "DA+DV", 17 + i % 2, "86194", "NA", "2026-11-01") for i in range(13)]
        + [(f"B{i}", "DA+DV", 17, "86158", "NA", "2026-11-01") for i in range(3)]
        + [(f"C{i}", "DA+DV", 19, "79191", "NA", "2026-11-01") for i in range(12)]
        + [(f"D{i}", "DV+TSA", 18, "69123", "ARA", "2026-11-01") for i in range(11)],
    )
    table = read_model(store).territories
    everyone = transition_radar(store, as_of=TODAY).people
    criteria = sorted({p.criterion for p in everyone})
    cells = sorted(
        {(p.criterion, p.years_left, p.within_reach, p.department) for p in everyone}
        | {
            (c, y, s, d)
            for c in criteria
            for y in HORIZONS
            for s in (True, False)
            for d in ("86", "79", "69")
        }
    )
    value = {
        cell: sum(1 for p in everyone if (p.criterion, p.years_left, p.within_reach, p.department) == cell)
        for cell in cells
    }
    members = {
        "86": {"86"},
        "79": {"79"},
        "69": {"69"},
        "75": {"86", "79"},
        "84": {"69"},
        "NA": {"86", "79"},
        "ARA": {"69"},
        "FR": {"86", "79", "69"},
    }
    published = []
    for level, selection in itertools.product(LEVELS, [None, *criteria]):
        radar = protect_radar(
            store, transition_radar(store, level=level, criterion=selection, as_of=TODAY), table
        )
        for row in [*radar.territories, radar.national]:
            for i, horizon in enumerate(HORIZONS):
                for unmet, shown in ((False, row.needing[i]), (True, row.deficit[i])):
                    if shown is None:
                        continue
                    vector = [
                        int(
                            (selection is None or c == selection)
                            and y <= horizon
                            and (not unmet or not s)
                            and d in members[row.code]
                        )
                        for c, y, s, d in cells
                    ]
                    assert shown == sum(v * value[cell] for v, cell in zip(vector, cells, strict=True))
                    published.append(vector)
    known_zero = {
        i
        for vector in published
        for i, v in enumerate(vector)
        if v
        if sum(value[cells[j]] for j, w in enumerate(vector) if w) == 0
    }
    unknown = [i for i in range(len(cells)) if i not in known_zero]
    matrix = np.array([[vector[i] for i in unknown] for vector in published], dtype=float)
    rank = np.linalg.matrix_rank(matrix)
    nonzero = [j for j, i in enumerate(unknown) if value[cells[i]]]
    for size in range(1, len(nonzero) + 1):
        for chosen in itertools.combinations(nonzero, size):
            count = sum(value[cells[unknown[j]]] for j in chosen)
            if 1 <= count < SMALL_CELL:
                indicator = np.zeros(len(unknown))
                indicator[list(chosen)] = 1
                assert np.linalg.matrix_rank(np.vstack([matrix, indicator])) > rank, (
                    [cells[unknown[j]] for j in chosen],
                    count,
                )


def test_a_partner_reads_deficits_at_the_publication_threshold_only(net, store):
    """Deficits at 60 and 61 km would difference to the young people living in between."""
    followed(store, [(f"S-{i:02d}", "DA+DV", 18, "69123", "ARA", "2026-11-01") for i in range(12)])
    partner = Principal("k", Role.PARTNER)
    at_60 = by_code(service.transition_radar(store, partner, threshold_km=60, as_of=TODAY))["69"]
    at_80 = by_code(service.transition_radar(store, partner, threshold_km=80, as_of=TODAY))["69"]
    assert at_60.needing == at_80.needing == (0, 12, 12) and at_60.deficit == (0, 12, 12)
    assert at_80.deficit == (None, None, None)

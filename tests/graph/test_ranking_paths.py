"""A search is scored either on a per-needs view of the index or directly on
the index (a set of needs asked once gets no view): both give the same answer."""

from __future__ import annotations

import dataclasses
import functools
import random

import numpy as np
import pytest

from graph import needsview, ranking, widening
from graph.matching import SituationQuery, find_resources
from graph.model import NodeKind
from graph.readmodel import read_model

DEFICIENCIES = ("DV", "DA", "DI", "TSA", "DM", "POLY", "DPSY", "COMPORT", "EPI", "CEREB")
SKILLS = ("CAA", "LSF", "BRAILLE", "BEHAVIOUR", "RESPITE", "TRANSITION")


def varied(store, n: int, seed: int) -> list[SituationQuery]:
    rng = random.Random(seed)
    communes = sorted(
        c.key for c in store.nodes(NodeKind.COMMUNE) if int(c.props.get("population", 0)) > 2000
    )
    return [
        SituationQuery(
            deficiencies=rng.sample(DEFICIENCIES, rng.choice((1, 2, 3))),
            skills=rng.sample(SKILLS, rng.choice((0, 1, 2))),
            age=rng.choice((None, 4, 12, 17, 19, 35, 70)),
            commune=rng.choice(communes),
            radius_km=rng.choice((15, 30, 60, 150)),
            limit=rng.choice((5, 20)),
        )
        for _ in range(n)
    ]


def test_the_direct_scoring_and_the_views_give_the_same_answers(demo_store, monkeypatch):
    queries = varied(demo_store, 60, 7)
    with monkeypatch.context() as patched:
        patched.setattr(ranking, "_view", lambda *args, **kwargs: None)
        first = [find_resources(demo_store, q) for q in queries]  # every band scored directly
    views = read_model(demo_store).competence.cached("views", dict)
    second = [find_resources(demo_store, q) for q in queries]  # asked again: on a view
    assert views, "a set of needs asked twice gets a view"
    assert second == first
    widened = sum(1 for r in first if any(m.group == "beyond" for m in r.matches))
    assert widened >= 5  # the wider bands (beyond the radius) are compared too


@pytest.mark.parametrize("compact", [True, False], ids=["one-byte-ages", "float-ages-and-links"])
def test_views_in_either_encoding_answer_as_the_direct_scoring(demo_store, monkeypatch, compact):
    """A view keeps whole-year age bands in one byte and its ACCEPTS links as
    (deficiency, resource) bands; other bands (a half year, two links of one
    resource to one deficiency) are kept as floats and read link by link: both
    answer as the index scored directly, at every age, the unknown one included."""
    idx = read_model(demo_store).competence
    # ages on the links' bounds (admitted at a bound, not past it), and unknown
    bounds = sorted(
        {
            int(a)
            for link in idx.accepts_links.values()
            for a in (*link.age_min, *link.age_max)
            if 0 <= a <= 120
        }
    )
    assert len(bounds) >= 3
    ages = [*bounds, None]
    queries = [
        dataclasses.replace(q, age=ages[i % len(ages)]) for i, q in enumerate(varied(demo_store, 80, 11))
    ]
    with monkeypatch.context() as patched:
        patched.setattr(ranking, "_view", lambda *args, **kwargs: None)
        direct = [find_resources(demo_store, q) for q in queries]
    for key in ("views", "views asked", "views sizes", "views held"):
        idx.derived.pop(key, None)
    if not compact:
        monkeypatch.setattr(needsview, "_accept_bands", lambda links, size: None)
        monkeypatch.setattr(
            needsview, "_whole_years", lambda low, high: (low.astype(np.float32), high.astype(np.float32))
        )
    for q in queries:
        find_resources(demo_store, q)  # asked once: a view for the next time
    assert [find_resources(demo_store, q) for q in queries] == direct
    views = [view for view, _size in idx.cached("views", dict).values()]
    assert views
    if compact:
        assert all(v.age_min.dtype == np.uint8 and v.accept_bands is not None for v in views)
    else:
        assert all(v.age_min.dtype == np.float32 and v.accept_bands is None for v in views)


def test_age_bands_not_in_whole_years_are_not_kept_in_one_byte():
    nan = float("nan")
    whole = np.array([0, 3, nan, 20], np.float32), np.array([6, nan, 18, 59], np.float32)
    low, high = needsview._whole_years(*whole)
    assert low.dtype == np.uint8 and low.tolist() == [0, 3, 0, 20]
    assert high.tolist() == [6, needsview._BAND_AGES, 18, 59]
    assert (
        needsview._whole_years(np.array([2.5], np.float32), np.array([6], np.float32))[0].dtype == np.float32
    )
    at = np.array([0, 2], np.int32)
    bands = needsview._accept_bands(
        [(at, np.array([nan, 4], np.float32), np.array([20, nan], np.float32))], 3
    )
    assert bands is not None
    assert bands[0].tolist() == [[0, 255, 4]] and bands[1].tolist() == [[20, 0, needsview._BAND_AGES]]
    twice = np.array([1, 1], np.int32)
    assert needsview._accept_bands([(twice, np.zeros(2, np.float32), np.ones(2, np.float32))], 3) is None
    half = np.array([1], np.int32)
    assert (
        needsview._accept_bands([(half, np.array([0.5], np.float32), np.array([6], np.float32))], 3) is None
    )


def test_a_full_cache_keeps_the_most_asked_views(demo_store, monkeypatch):
    monkeypatch.setattr(ranking, "_VIEWS_KEPT", 3)
    idx = read_model(demo_store).competence
    for key in ("views", "views asked", "views sizes", "views held"):
        idx.derived.pop(key, None)
    often = SituationQuery(deficiencies=["DV", "TSA"], commune="86194", radius_km=100)
    for _ in range(6):
        find_resources(demo_store, often)
    others = varied(demo_store, 12, 8)
    answers = [find_resources(demo_store, q) for q in others]
    for _ in range(2):  # a cycle of more sets of needs than views kept
        assert [find_resources(demo_store, q) for q in others] == answers
    views = idx.cached("views", dict)
    assert len(views) <= 3
    assert any(key[0] == frozenset({"DV", "TSA"}) for key in views)  # the most asked one stays


def test_a_cycle_of_more_needs_than_fit_stops_building_views(demo_store, monkeypatch):
    """Bytes, not the number of views, are the limit here: once the cycle has been
    asked a few times, the views kept stay and the others are scored directly —
    no view is built and dropped in turn (each build costs more than a search)."""
    idx = read_model(demo_store).competence
    for key in ("views", "views asked", "views sizes", "views held"):
        idx.derived.pop(key, None)
    queries = varied(demo_store, 40, 9)
    for q in queries * 2:
        find_resources(demo_store, q)
    every = idx.cached("views held", lambda: [0])[0]
    assert every > 0
    for key in ("views", "views asked", "views sizes", "views held"):
        idx.derived.pop(key, None)
    monkeypatch.setattr(ranking, "_VIEWS_BYTES", every // 2)
    built: list[object] = []
    original = ranking._build_view

    def counted(*args):
        built.append(args[1])
        return original(*args)

    monkeypatch.setattr(ranking, "_build_view", counted)
    answers = [find_resources(demo_store, q) for q in queries]
    for _ in range(3):
        assert [find_resources(demo_store, q) for q in queries] == answers
    views = idx.cached("views", dict)
    assert 0 < idx.cached("views held", lambda: [0])[0] <= every // 2
    assert len(views) < len({(frozenset(q.deficiencies), frozenset(q.skills)) for q in queries})
    built.clear()
    for q in queries:
        find_resources(demo_store, q)
    assert built == []


@pytest.mark.parametrize("age", [None, 10, 40])
def test_coverage_positions_are_the_same_on_both_paths(demo_store, age):
    from graph.matching import competent_positions

    idx = read_model(demo_store).competence
    for key in ("views", "views asked", "views sizes", "views held"):
        idx.derived.pop(key, None)
    once = competent_positions(idx, ["DV", "TSA"], age=age, separately=False)
    competent_positions(idx, ["DV", "TSA"], age=age, separately=False)
    on_view = competent_positions(idx, ["DV", "TSA"], age=age, separately=False)
    assert idx.cached("views", dict)
    assert once[0].tolist() == on_view[0].tolist() and once[1].tolist() == on_view[1].tolist()
    assert once[0].size > 0


def test_rows_assembled_once_are_completed_for_each_person(demo_store):
    """Rows (local resources, the ERHR, the CNRHR) are assembled once per needs
    and age and completed per answer: an answer after many others equals the
    same answer computed on a read model that has assembled nothing yet."""
    queries = varied(demo_store, 40, 11)
    towns = sorted(
        (c.props["department"], c.key)
        for c in demo_store.nodes(NodeKind.COMMUNE)
        if int(c.props.get("population", 0)) > 5000 and c.props["department"] in ("86", "37", "29", "2A")
    )
    queries += [  # several places of one department: rows assembled for the first serve the others
        SituationQuery(deficiencies=["DA", "DV"], commune=commune, age=age, radius_km=80)
        for _department, commune in towns
        for age in (12, 40)
    ]
    warm = [find_resources(demo_store, q) for q in queries for _ in range(2)][1::2]
    for q, expected in zip(queries, warm, strict=True):
        model = read_model(demo_store)
        model._views.pop("referent templates", None)
        model.competence.derived.pop("match templates", None)
        model.competence.derived.pop("match templates held", None)
        assert find_resources(demo_store, q) == expected
    referents = [m for r in warm for m in r.matches if m.group == "referent"]
    assert len({(m.key, m.distance_km) for m in referents}) > len({m.key for m in referents})


def test_widening_finds_what_scoring_the_whole_land_finds(demo_store):
    """The nearest fully competent resources beyond the radius, found on the
    widening set (sure ones by expertise, accepted ones scored at the person's
    age), are those of the whole land mass scored at that age."""
    from graph.geo import haversine_km_many
    from graph.landmass import land_mass
    from graph.matching import LOCAL_KINDS, _validate
    from graph.ranking import _score_all, zone_positions
    from graph.widening import _nearest_beyond

    idx = read_model(demo_store).competence
    # varied needs, then a few sets of needs at every age in turn (what is kept
    # per set of needs and age must not answer for another age)
    ages = (None, 4, 12, 17, 19, 35, 70, 4, 70)
    queries = varied(demo_store, 80, 12) + [
        SituationQuery(deficiencies=list(d), age=age, commune=commune, radius_km=30)
        for d in (("DA", "DV"), ("DI", "EPI"), ("TSA", "DV"))
        for age in ages
        for commune in ("86194", "75056")
    ]
    compared = 0
    for q in queries:
        needs = _validate(q)
        commune = demo_store.get_node(NodeKind.COMMUNE, q.commune)
        lat, lon = float(commune.props["lat"]), float(commune.props["lon"])
        land = land_mass(str(commune.props["department"]))
        zone = zone_positions(idx, q.commune)
        every = _score_all(idx, needs, q.age, LOCAL_KINDS, None, None, land, zone, None, use="peek")
        local = np.flatnonzero(every.candidate & (every.tier <= 1))
        at = every.positions[local]
        far = haversine_km_many(lat, lon, idx.lats[at], idx.lons[at]).round(3)
        if every.zone is not None:
            far[every.zone[local]] = 0.0
        outside = np.flatnonzero(far > q.radius_km)
        order = outside[np.lexsort((every.keys_at(local[outside]), far[outside]))[:8]]
        expected = [every.pick(int(local[i]), float(far[i]), False) for i in order]
        found = _nearest_beyond(idx, needs, q.age, LOCAL_KINDS, land, lat, lon, q.radius_km, zone, 8)
        assert found == expected, q
        compared += len(found)
    assert compared > 300


def test_a_need_nobody_covers_nearby_finds_what_scoring_the_whole_land_finds(demo_store):
    """For a need no resource inside the radius covers, the nearest resource that
    covers it at the person's age (from the per-need sets) is the one the whole
    land mass, scored at that age, gives."""
    from graph.geo import haversine_km_many
    from graph.landmass import land_mass
    from graph.matching import LOCAL_KINDS, _place, _validate
    from graph.ranking import _score_all, _within, zone_positions
    from graph.widening import _uncovered

    model = read_model(demo_store)
    idx = model.competence
    compared = 0
    rng = random.Random(13)
    for q in varied(demo_store, 120, 13):
        q = dataclasses.replace(q, radius_km=rng.choice((5, 15, 30)))
        needs = _validate(q)
        place, _notes = _place(demo_store, q, model)
        land = land_mass(place.department)
        zone = zone_positions(idx, place.commune)
        scored = _score_all(idx, needs, q.age, LOCAL_KINDS, place.lat, q.radius_km, land, zone, place.lon)
        inside, _dist = _within(scored, place.lat, place.lon, q.radius_km)
        _notes, picks = _uncovered(idx, scored, needs, q, place, inside, LOCAL_KINDS, land)
        every = _score_all(idx, needs, q.age, LOCAL_KINDS, None, None, land, zone, None, use="peek")
        expected = {}
        for j, _code in enumerate(scored.deficiencies):
            if scored.covers[j, inside].any():
                continue
            rows = np.flatnonzero(every.candidate & every.covers[j])
            if rows.size:
                at = every.positions[rows]
                far = haversine_km_many(place.lat, place.lon, idx.lats[at], idx.lons[at]).round(3)
                best = int(np.lexsort((every.keys_at(rows), far))[0])
                pick = every.pick(int(rows[best]), float(far[best]), False)
                expected.setdefault(pick.position, pick)
        assert sorted(picks) == sorted(expected.values()), q
        compared += len(picks)
    assert compared > 30


def test_a_resource_accepting_a_need_only_for_other_ages_is_not_the_nearest_covering_it(demo_copy_store):
    """A service nearer than any other that accepts deafness only for children
    (0-6 years) does not cover it for an adult: the note names the farther
    service that does."""
    from graph.geo import haversine_km
    from graph.model import Edge, NodeRef, RelType

    store = demo_copy_store
    idx = read_model(store).competence
    deafness = idx.expertise(NodeRef(NodeKind.DEFICIENCY, "DA"))
    accepting = set(idx.accepts(NodeRef(NodeKind.DEFICIENCY, "DA")).ids.tolist())
    adults = [
        i
        for i in range(len(idx))
        if idx.refs[i].kind is NodeKind.ESTABLISHMENT
        and deafness[i] == 0
        and i not in accepting
        and not (idx.age_min[i] > 30 or idx.age_max[i] < 30)
    ]
    towns = sorted(c.key for c in store.nodes(NodeKind.COMMUNE) if int(c.props.get("population", 0)) > 3000)
    for town in towns:
        query = SituationQuery(deficiencies=["DA"], commune=town, age=30, radius_km=1)
        before = find_resources(store, query)
        beyond = [m for m in before.matches if m.group == "beyond" and m.level == "LOCAL"]
        if not beyond:
            continue
        commune = store.get_node(NodeKind.COMMUNE, town)
        lat, lon = float(commune.props["lat"]), float(commune.props["lon"])
        nearby = [
            idx.refs[i]
            for i in adults
            if 1.5 < haversine_km(lat, lon, idx.lats[i], idx.lons[i]) < beyond[0].distance_km - 1
        ]
        if nearby:
            break
    nearer = nearby[0]
    store.upsert(
        edges=[
            Edge(RelType.ACCEPTS, nearer, NodeRef(NodeKind.DEFICIENCY, "DA"), {"age_min": 0, "age_max": 6})
        ]
    )
    after = find_resources(store, query)
    assert [(m.key, m.group) for m in after.matches] == [(m.key, m.group) for m in before.matches]
    assert after.notes == before.notes
    # the same link for adults too: now it is the nearest
    store.upsert(
        edges=[
            Edge(RelType.ACCEPTS, nearer, NodeRef(NodeKind.DEFICIENCY, "DA"), {"age_min": 0, "age_max": 40})
        ]
    )
    adults_too = find_resources(store, query)
    assert [m.key for m in adults_too.matches if m.group == "beyond"][0] == nearer.key


def test_teams_are_the_smallest_non_redundant_sets_a_plain_search_finds(demo_store):
    """Teams against a plain search over the members of the pool: every set of 2,
    then 3 members covering every need with no redundant member, nearest first
    (by the farthest member, the total distance, then the members' keys)."""
    import itertools

    from graph.answers import _MAX_TEAMS, MAX_TEAM_SIZE
    from graph.landmass import land_mass
    from graph.matching import LOCAL_KINDS, _place, _validate
    from graph.ranking import _score_all, _within, zone_positions
    from graph.teams import _team_pool, _teams

    model = read_model(demo_store)
    idx = model.competence
    tried = found = 0
    for q in varied(demo_store, 150, 14):
        needs = _validate(q)
        place, _notes = _place(demo_store, q, model)
        zone = zone_positions(idx, place.commune)
        land = land_mass(place.department)
        scored = _score_all(idx, needs, q.age, LOCAL_KINDS, place.lat, q.radius_km, land, zone, place.lon)
        inside, dist = _within(scored, place.lat, place.lon, q.radius_km)
        if inside.size == 0 or scored.covers[:, inside].all(axis=0).any():
            continue
        pool = _team_pool(scored, inside, dist)
        full = (1 << len(scored.deficiencies)) - 1
        expected: list[list[int]] = []
        for size in range(2, MAX_TEAM_SIZE + 1):
            sets = []
            for team in itertools.combinations(range(len(pool)), size):
                bits = [pool[i].bits for i in team]
                union = 0
                for b in bits:
                    union |= b
                redundant = any(
                    functools.reduce(int.__or__, bits[:k] + bits[k + 1 :], 0) == full for k in range(size)
                )
                if union == full and not redundant:
                    sets.append(team)
            if sets:
                sets.sort(
                    key=lambda t: (
                        max(pool[i].distance_km for i in t),
                        sum(pool[i].distance_km for i in t),
                        [pool[i].key for i in t],
                    )
                )
                expected = [list(t) for t in sets[:_MAX_TEAMS]]
                break
        got = _teams(scored, pool)
        want = [[scored.pick(pool[i].local, pool[i].distance_km, True) for i in t] for t in expected]
        assert got == want, q
        tried += 1
        found += bool(got)
    assert tried > 20 and found > 10


def test_the_sets_kept_for_wide_searches_stay_within_their_bytes(demo_store, monkeypatch):
    """Widening and per-need sets are dropped past their bytes (and built again
    as asked): answers do not change, memory does not grow with every set of needs."""
    queries = [dataclasses.replace(q, radius_km=5) for q in varied(demo_store, 40, 15)]
    answers = [find_resources(demo_store, q) for q in queries]
    idx = read_model(demo_store).competence
    for name in ("may cover all", "may cover each"):  # more than the bytes below, unbounded
        assert idx.cached((name, "bytes"), lambda: [0])[0] > 20_000, name
    monkeypatch.setattr(widening, "_SETS_BYTES", 20_000)
    for name in ("may cover all", "may cover each"):
        idx.derived.pop(name, None)
        idx.derived.pop((name, "bytes"), None)
    assert [find_resources(demo_store, q) for q in queries] == answers
    for name in ("may cover all", "may cover each"):
        kept = idx.cached(name, dict)
        assert kept, name
        assert idx.cached((name, "bytes"), lambda: [0])[0] <= 20_000 or len(kept) == 1, name

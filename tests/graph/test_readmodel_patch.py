"""After a write that touches a few resources, the read model is updated, not
rebuilt: the updated competence index is the one a rebuild gives, and the
answers are the same (graph/readmodel.py, ``patch_competence``)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from graph import readmodel
from graph.competence import CompetenceIndex
from graph.matching import SituationQuery, find_resources
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.ranking import zone_positions
from graph.readmodel import build_competence, read_model

pytestmark = pytest.mark.slow

K, R = NodeKind, RelType


def assert_same_index(mine: CompetenceIndex, rebuilt: CompetenceIndex) -> None:
    assert mine.refs == rebuilt.refs
    for column in ("kinds", "keys", "lats", "lons", "departments", "generalist", "zone_codes", "zone_at"):
        assert np.array_equal(getattr(mine, column), getattr(rebuilt, column)), column
    for column in ("age_min", "age_max"):
        assert np.array_equal(getattr(mine, column), getattr(rebuilt, column), equal_nan=True), column
    assert [dict(p) for p in mine.props] == [dict(p) for p in rebuilt.props]
    assert mine.out == rebuilt.out
    assert mine.position == rebuilt.position
    from graph.ranking import _ranks

    for name in ("keys", "kinds"):  # carried through an edit, or built again: the same order
        dense = np.unique(_ranks(mine, name), return_inverse=True)[1].reshape(-1)  # gaps left by removals
        assert np.array_equal(dense, _ranks(rebuilt, name)), name
    for target in mine.expertise_levels.keys() | rebuilt.expertise_levels.keys():
        assert np.array_equal(mine.expertise(target), rebuilt.expertise(target)), target
    for target in mine.accepts_links.keys() | rebuilt.accepts_links.keys():
        a, b = mine.accepts(target), rebuilt.accepts(target)
        mine_links = sorted(zip(a.ids.tolist(), a.age_min.tolist(), a.age_max.tolist(), strict=True))
        rebuilt_links = sorted(zip(b.ids.tolist(), b.age_min.tolist(), b.age_max.tolist(), strict=True))
        assert np.array_equal(np.array(mine_links), np.array(rebuilt_links), equal_nan=True), target
    assert mine.demand.keys() == rebuilt.demand.keys()
    for combination, (communes, is_open) in mine.demand.items():
        assert (
            communes == rebuilt.demand[combination][0]
            and is_open.tolist() == rebuilt.demand[combination][1].tolist()
        )


QUERIES = [
    SituationQuery(deficiencies=["DV", "TSA"], commune="35238", age=12, radius_km=80),
    SituationQuery(deficiencies=["DA", "DV"], commune="86194", radius_km=150),
    SituationQuery(deficiencies=["DI", "EPI"], skills=["CAA"], commune="69123", age=30, radius_km=60),
]


def check(store, patches, patched: int, rebuilt: int) -> None:
    """The current index is the one a rebuild gives, reached as said, and answers alike."""
    mine = read_model(store).competence
    assert (patches["patched"], patches["rebuilt"]) == (patched, rebuilt)
    assert_same_index(mine, build_competence(store))
    answers = [find_resources(store, q) for q in QUERIES]
    readmodel._MODELS.pop(store)  # a model built from scratch for the same state
    assert [find_resources(store, q) for q in QUERIES] == answers
    patches["rebuilt"] -= 1  # that one


def test_an_expertise_edit_and_a_small_import_update_the_index(demo_copy_store, patches):
    store = demo_copy_store
    find_resources(store, QUERIES[0])  # the index built (and its order of keys) before the writes
    patches.update(patched=0, rebuilt=0)
    professional = next(iter(store.nodes(K.PROFESSIONAL)))
    store.upsert(
        edges=[
            Edge(
                R.HAS_EXPERTISE,
                professional.ref,
                NodeRef(K.DEFICIENCY, "DV"),
                {"level": 3, "source": "saisie"},
            )
        ]
    )
    check(store, patches, patched=1, rebuilt=0)

    # an establishment edited where it stands: now generalist, with an intervention zone
    place = next(n for n in store.nodes(K.ESTABLISHMENT) if not n.props.get("generalist"))
    find_resources(store, QUERIES[1])
    store.upsert(
        [Node(K.ESTABLISHMENT, place.key, {"generalist": True, "intervention_communes": ["86194", "86041"]})]
    )
    check(store, patches, patched=2, rebuilt=0)
    assert place.key in {
        str(read_model(store).competence.keys[p])
        for p in zone_positions(read_model(store).competence, "86194")
    }

    # an import of 100 new establishments (FINESS-like rows), some with long keys and names
    rng = random.Random(7)
    communes = [c for c in store.nodes(K.COMMUNE) if "lat" in c.props][:5000]
    nodes, edges = [], []
    for i in range(100):
        commune = rng.choice(communes)
        kind = K.ESTABLISHMENT if i % 10 else K.RESOURCE_POLE
        key = (
            f"97{i:07d}" if i % 10 else f"pole-ressources-au-nom-de-cle-bien-plus-long-que-les-autres-{i:03d}"
        )
        nodes.append(
            Node(
                kind,
                key,
                {
                    "name": f"ÉTABLISSEMENT SYNTHÉTIQUE {i}",
                    "lat": commune.props["lat"] + rng.uniform(-0.01, 0.01),
                    "lon": commune.props["lon"],
                    "department": commune.props["department"],
                    "synthetic": True,
                    **({"age_min": 0, "age_max": 20} if i % 3 == 0 else {}),
                },
            )
        )
        target = NodeRef(K.DEFICIENCY, rng.choice(["DV", "TSA", "DA"]))
        edges.append(
            Edge(
                R.ACCEPTS,
                NodeRef(kind, key),
                target,
                {
                    "age_min": rng.choice([None, 3, 18]),
                    "age_max": rng.choice([None, 20, 60]),
                    "source": "categorie_finess",
                },
            )
            if kind is K.ESTABLISHMENT
            else Edge(R.HAS_EXPERTISE, NodeRef(kind, key), target, {"level": 2})
        )
    # one at exactly another resource's latitude (the order's tie-break: kind, then key)
    twin = next(iter(store.nodes(K.ESTABLISHMENT)))
    nodes.append(
        Node(
            K.ESTABLISHMENT,
            "000000000",
            {"name": "JUMEAU", "lat": twin.props["lat"], "lon": 2.0, "department": "75", "synthetic": True},
        )
    )
    store.upsert(nodes, edges)
    check(store, patches, patched=3, rebuilt=0)


def test_a_moved_or_closed_place_moves_or_removes_what_stands_there(demo_copy_store, patches):
    store = demo_copy_store
    read_model(store).competence  # noqa: B018 - built before the writes
    patches.update(patched=0, rebuilt=0)
    works = {
        e.target
        for edges in store.edges_from([p.ref for p in store.nodes(K.PROFESSIONAL)], [R.WORKS_AT]).values()
        for e in edges
    }
    place = next(ref for ref in sorted(works, key=lambda r: r.key) if ref.kind is K.ESTABLISHMENT)
    store.upsert([Node(K.ESTABLISHMENT, place.key, {"lat": 43.3, "lon": 5.4, "department": "13"})])
    check(store, patches, patched=1, rebuilt=0)
    store.upsert([Node(K.ESTABLISHMENT, place.key, {"closed": True})])
    check(store, patches, patched=2, rebuilt=0)
    # two writes before the next query, a revision read between them: one update for both
    store.upsert([Node(K.ESTABLISHMENT, place.key, {"closed": None})])
    read_model(store)
    store.upsert(edges=[Edge(R.HAS_EXPERTISE, place, NodeRef(K.SKILL, "CAA"), {"level": 2})])
    check(store, patches, patched=3, rebuilt=0)


def test_a_situation_updates_the_demand_and_a_commune_rebuilds(demo_copy_store, patches):
    store = demo_copy_store
    read_model(store).competence  # noqa: B018 - built before the writes
    patches.update(patched=0, rebuilt=0)
    situation = next(iter(store.nodes(K.SITUATION)))
    store.upsert(
        [
            Node(
                K.SITUATION,
                situation.key,
                {"status": "closed" if situation.props.get("status") == "open" else "open"},
            )
        ]
    )
    check(store, patches, patched=1, rebuilt=0)
    commune = next(iter(store.nodes(K.COMMUNE)))
    store.upsert([Node(K.COMMUNE, commune.key, {"population": int(commune.props.get("population", 0)) + 1})])
    check(store, patches, patched=1, rebuilt=1)
    # a person's place is kept through resource edits, never through a commune's
    assert find_resources(store, QUERIES[0]).place.commune_name != "Rennes (nom changé)"
    store.upsert(
        [Node(K.ESTABLISHMENT, next(iter(store.nodes(K.ESTABLISHMENT))).key, {"phone": "0102030405"})]
    )
    find_resources(store, QUERIES[0])
    store.upsert([Node(K.COMMUNE, "35238", {"name": "Rennes (nom changé)"})])
    assert find_resources(store, QUERIES[0]).place.commune_name == "Rennes (nom changé)"


def test_a_server_answers_from_the_previous_revision_while_a_large_write_is_built(tmp_path, monkeypatch):
    """dihr serve: a write touching thousands of resources (an import by another
    process) is built in the background; requests meanwhile are answered at
    once from the previous revision, then from the new one."""
    import threading
    import time

    from graph import readmodel
    from graph.matching import MatchLevel, SituationQuery, find_resources
    from graph.readmodel import read_model
    from graph.stores.memory import MemoryStore
    from tests.factories import Network

    monkeypatch.setenv("DIHR_BACKGROUND_READ_MODELS", "1")
    monkeypatch.setattr(readmodel, "BACKGROUND_CHANGES", 5)
    store = MemoryStore(tmp_path / "s")
    try:
        net = Network(store)
        net.establishment("860000801", 5, expertise={"DV": 3, "TSA": 3})
        query = SituationQuery(deficiencies=["DV", "TSA"], commune="86194")

        def local_keys():
            return {m.key for m in find_resources(store, query).matches if m.level is MatchLevel.LOCAL}

        assert local_keys() == {"860000801"}
        gate = threading.Event()
        real = readmodel.patch_competence
        monkeypatch.setattr(readmodel, "patch_competence", lambda *a: (gate.wait(30), real(*a))[1])
        for i in range(10):  # the large write
            net.establishment(f"8600008{10 + i}", 10 + i, expertise={"DV": 2, "TSA": 2})
        start = time.monotonic()
        assert local_keys() == {"860000801"}  # the previous revision, at once
        assert time.monotonic() - start < 5 and read_model(store).revision != store.revision()
        gate.set()
        for _ in range(300):
            if read_model(store).revision == store.revision():
                break
            time.sleep(0.05)
        assert len(local_keys()) == 11  # then the new one, swapped in
    finally:
        store.close()


def test_a_referent_s_finess_record_edited_shows_in_its_row_and_nothing_else_rereads_it(
    demo_copy_store, patches
):
    """An ERHR's or a CNRHR's row completes its contact from its FINESS record:
    an edit of that record is shown at once (the row is not carried over), an
    edit of another resource keeps the referents' rows without reading them again."""
    store = demo_copy_store
    tours = SituationQuery(deficiencies=["DA", "DV"], commune="37261", age=30, radius_km=50)

    def cresam_phone() -> str | None:
        row = next(m for m in find_resources(store, tours).matches if m.key == "CRESAM")
        return row.contact.phone if row.contact is not None else None

    finess = store.get_node(K.CNRHR, "CRESAM").props["finess"]
    find_resources(store, tours)  # built before the writes
    patches.update(patched=0, rebuilt=0)
    for phone in ("05 00 00 00 01", "05 00 00 00 02"):
        store.upsert([Node(K.ESTABLISHMENT, str(finess), {"phone": phone, "lat": 46.58, "lon": 0.34})])
        assert cresam_phone() == phone
    assert (patches["patched"], patches["rebuilt"]) == (2, 0)
    readmodel._MODELS.pop(store)
    assert cresam_phone() == "05 00 00 00 02"  # as a model built from scratch says

    reads = []
    get_node = store.get_node
    store.get_node = lambda kind, key: reads.append((kind, key)) or get_node(kind, key)  # type: ignore[method-assign]
    try:
        other = next(n for n in store.nodes(K.ESTABLISHMENT) if n.key != str(finess))
        store.upsert([Node(K.ESTABLISHMENT, other.key, {"phone": "01 02 03 04 05"})])
        assert cresam_phone() == "05 00 00 00 02"
        assert (K.ESTABLISHMENT, str(finess)) not in reads and (K.CNRHR, "CRESAM") not in reads
    finally:
        del store.get_node


def test_the_land_mass_of_a_referent_s_site_is_not_looked_up_again_after_an_edit(demo_copy_store, patches):
    """Which land mass a referent's site stands on depends on the communes only:
    an expertise edit carries it over (the first search after the edit does not
    scan every commune again), and the answer is the one a rebuilt model gives."""
    store = demo_copy_store
    query = SituationQuery(deficiencies=["DA", "DV"], commune="97209", age=30, radius_km=50)
    find_resources(store, query)
    looked_up = {k for k in read_model(store)._views if isinstance(k, tuple) and k[0] == "land at"}
    assert looked_up  # the ERHR's and the CNRHR's sites
    professional = next(iter(store.nodes(K.PROFESSIONAL)))
    store.upsert(edges=[Edge(RelType.HAS_EXPERTISE, professional.ref, NodeRef(K.SKILL, "CAA"), {"level": 2})])
    after = read_model(store)
    assert looked_up <= after._views.keys()
    answer = find_resources(store, query)
    assert patches["patched"] == 1
    readmodel._MODELS.pop(store)
    assert find_resources(store, query) == answer

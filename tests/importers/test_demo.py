"""The synthetic demo network: labelled, deterministic, and routed like real data."""

from __future__ import annotations

import pytest

from graph.matching import MatchLevel, SituationQuery, find_resources
from graph.model import NodeKind
from importers.demo import generate_demo

pytestmark = pytest.mark.slow
K = NodeKind


def test_every_demo_record_is_marked_synthetic(demo_store):
    for kind in (K.ESTABLISHMENT, K.PROFESSIONAL, K.RESOURCE_POLE, K.SITUATION):
        nodes = list(demo_store.nodes(kind))
        assert nodes, kind
        assert all(n.props.get("synthetic") is True for n in nodes), kind
    for node in demo_store.nodes(K.ESTABLISHMENT):
        assert node.key.startswith("00") and "fictif" in node.props["name"]


def test_reference_data_stays_real(demo_store):
    assert demo_store.get_node(K.CNRHR, "CRESAM").props.get("synthetic") is None
    assert all("synthetic" not in n.props for n in demo_store.nodes(K.ERHR_TEAM))


def test_situations_carry_no_identifying_field(demo_store):
    allowed = {"age", "status", "opened_on", "department", "erhr", "synthetic"}
    for node in demo_store.nodes(K.SITUATION):
        assert set(node.props) <= allowed
        assert node.key.startswith("SIT-")


def test_same_seed_same_network(demo_store):
    summary = generate_demo(demo_store)
    assert summary.summary.changed == 0


def test_establishments_follow_population(demo_store):
    by_dep = {}
    for n in demo_store.nodes(K.ESTABLISHMENT):
        by_dep[n.props["department"]] = by_dep.get(n.props["department"], 0) + 1
    # Nord (2.6 M inhabitants) has far more synthetic establishments than Lozère (77 k)
    assert by_dep.get("59", 0) > 5 * by_dep.get("48", 0)


@pytest.mark.parametrize(
    ("codes", "commune", "cnrhr"),
    [
        (["DA", "DV"], "86194", ["CRESAM"]),  # 1°
        (["DV", "TSA"], "59350", ["PEPINIERE"]),  # 2°
        (["DA", "DI"], "69123", ["LAPLANE"]),  # 3°
        (["DYSPH"], "13055", ["LAPLANE"]),  # 4°
        (["DI", "EPI"], "35238", ["FAHRES"]),  # 5° d
        (["DI", "MITO"], "67482", []),  # 5° a: no dedicated CNRHR
    ],
)
def test_each_criterion_routes_to_the_right_cnrhr(demo_store, codes, commune, cnrhr):
    result = find_resources(demo_store, SituationQuery(deficiencies=codes, commune=commune, age=12))
    assert list(result.qualification.cnrhr) == cnrhr
    national = [m.key for m in result.matches if m.level is MatchLevel.CNRHR]
    assert national == cnrhr
    erhr = [m for m in result.matches if m.level is MatchLevel.ERHR]
    assert len(erhr) == 1 and erhr[0].key == result.erhr.code
    assert any(m.level is MatchLevel.LOCAL for m in result.matches)


def test_synthetic_expertise_follows_each_profession(demo_store):
    from graph.model import RelType
    from importers.demo import PROFESSIONS

    trades = {t.name: t for t in PROFESSIONS}
    professionals = list(demo_store.nodes(K.PROFESSIONAL))
    links = demo_store.edges_from([p.ref for p in professionals], [RelType.HAS_EXPERTISE])
    seen_combinations = 0
    for pro in professionals:
        trade = trades[pro.props["profession"]]
        for edge in links[pro.ref]:
            codes = (
                set(edge.target.key.split("+")) if edge.target.kind is K.COMBINATION else {edge.target.key}
            )
            if edge.target.kind is K.COMBINATION:
                seen_combinations += 1
            allowed = set(trade.deficiencies) | set(trade.skills)
            assert codes <= allowed, (trade.name, edge.target.key)  # no braille transcriber expert in DA+DV
        if trade.name == "neuropédiatre":
            assert pro.props["age_max"] == 18  # a paediatric neurologist does not see adults
    assert seen_combinations > 0
    adult = find_resources(
        demo_store, SituationQuery(deficiencies=["EPI"], commune="86194", age=40, radius_km=300, limit=100)
    )
    assert all(m.name.split(" fictif")[0] != "neuropédiatre" for m in adult.matches)

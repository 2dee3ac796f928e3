"""Cooperation network insights on a known small graph."""

import pytest

from graph.errors import UnknownCode
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.network import cooperation_graph, network_insights
from tests.factories import Network

K, R = NodeKind, RelType


@pytest.fixture
def star(store):
    net = Network(store)
    for finess, km, dep in (
        ("860000001", 5, "86"),
        ("860000002", 10, "86"),
        ("860000003", 15, "86"),
        ("690000004", 20, "69"),
        ("860000005", 25, "86"),
    ):
        net.establishment(finess, km, department=dep, expertise={"DV": 2})
    nodes, edges = [], []
    for situation, others in (("S-1", "860000002"), ("S-2", "860000003"), ("S-3", "690000004")):
        ref = NodeRef(K.SITUATION, situation)
        nodes.append(Node(K.SITUATION, situation, {"status": "open"}))
        edges += [
            Edge(R.REFERRED_TO, ref, NodeRef(K.ESTABLISHMENT, "860000001"), {"date": "2026-01-01"}),
            Edge(R.REFERRED_TO, ref, NodeRef(K.ESTABLISHMENT, others), {"date": "2026-01-02"}),
        ]
    store.upsert(nodes, edges)
    return store


def test_cooperation_graph_links_resources_sharing_situations(star):
    graph = cooperation_graph(star)
    hub = NodeRef(K.ESTABLISHMENT, "860000001")
    assert sorted(n.key for n in graph.neighbors(hub)) == ["690000004", "860000002", "860000003"]


def test_hubs_isolated_components_and_bridges(star):
    insights = network_insights(star, "NA")
    # members: 4 establishments of Vienne + the ERHR NA team itself
    assert insights.resources == 5 and insights.links == 2
    top = insights.hubs[0]
    assert top.key == "860000001" and top.degree == 2
    assert top.degree_centrality == pytest.approx(0.5)
    assert top.betweenness == pytest.approx(1 / 6, abs=1e-4)
    assert insights.isolated == ("Establishment:860000005",)
    assert insights.components == 3 and insights.largest_component == 3
    assert [(b.inside, b.outside, b.outside_erhr) for b in insights.bridges] == [
        ("Establishment:860000001", "Establishment:690000004", "ARA")
    ]


def test_unknown_territory(star):
    with pytest.raises(UnknownCode, match="XX"):
        network_insights(star, "XX")

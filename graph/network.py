"""The cooperation network between resources, analysed with networkx.

The cooperation graph is a projection of the property graph (undirected,
weighted by the number of shared links):
- two resources referred the same situation are linked;
- two establishments sharing a professional (``WORKS_AT`` both) are linked;
- an ERHR is linked to every resource a situation it follows was referred to.

Per territory (an ERHR code): hubs (degree and betweenness centrality — experts
at risk of over-solicitation), isolated competent resources (with expertise,
no cooperation link), connected components, and bridges to other ERHR
territories (links whose other end lies elsewhere).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from itertools import combinations

import networkx as nx

from graph.errors import UnknownCode
from graph.model import RESOURCE_KINDS, NodeKind, NodeRef, RelType
from graph.readmodel import read_model
from graph.store import GraphStore
from graph.views import display_name

__all__ = ["Hub", "Bridge", "NetworkInsights", "cooperation_graph", "network_insights"]

K, R = NodeKind, RelType


@dataclass(frozen=True, slots=True)
class Hub:
    kind: NodeKind
    key: str
    name: str
    degree: int
    degree_centrality: float
    betweenness: float


@dataclass(frozen=True, slots=True)
class Bridge:
    inside: str  # "Kind:key" inside the territory
    outside: str
    outside_erhr: str
    weight: int


@dataclass(frozen=True, slots=True)
class NetworkInsights:
    territory: str
    resources: int
    links: int
    components: int
    largest_component: int
    hubs: tuple[Hub, ...]
    isolated: tuple[str, ...]  # "Kind:key" of competent resources with no cooperation link
    bridges: tuple[Bridge, ...]


def cooperation_graph(store: GraphStore) -> nx.Graph:
    """The undirected weighted cooperation graph between resources (see module doc)."""
    graph = nx.Graph()

    def link(a: NodeRef, b: NodeRef) -> None:
        if a == b:
            return
        if graph.has_edge(a, b):
            graph[a][b]["weight"] += 1
        else:
            graph.add_edge(a, b, weight=1)

    referred: dict[NodeRef, set[NodeRef]] = defaultdict(set)
    for edge in store.edges(R.REFERRED_TO):
        referred[edge.source].add(edge.target)
    followed: dict[NodeRef, set[NodeRef]] = defaultdict(set)
    for edge in store.edges(R.FOLLOWED_BY):
        followed[edge.source].add(edge.target)
    for situation, resources in referred.items():
        for a, b in combinations(sorted(resources, key=str), 2):
            link(a, b)
        for team in followed.get(situation, ()):
            for resource in resources:
                link(team, resource)
    workplaces: dict[NodeRef, set[NodeRef]] = defaultdict(set)
    for edge in store.edges(R.WORKS_AT):
        workplaces[edge.source].add(edge.target)
    for sites in workplaces.values():
        for a, b in combinations(sorted(sites, key=str), 2):
            link(a, b)
    return graph


def network_insights(store: GraphStore, territory: str, *, top: int = 10) -> NetworkInsights:
    """Cooperation insights for one ERHR territory (its code, e.g. ``NA``)."""
    table = read_model(store).territories
    code = territory.strip().upper()
    if code not in table.erhr:
        raise UnknownCode("d'ERHR", territory, f"Codes connus : {', '.join(sorted(table.erhr))}.")
    graph = cooperation_graph(store)
    # Which ERHR territory each resource belongs to (ERHR teams: their own).
    erhr_of: dict[NodeRef, str] = {}
    names: dict[NodeRef, str] = {}
    expert: set[NodeRef] = set()
    for kind in RESOURCE_KINDS:
        for node in store.nodes(kind):
            names[node.ref] = display_name(node.props, node.key)
            if kind is K.ERHR_TEAM:
                erhr_of[node.ref] = node.key
            elif kind is K.CNRHR:
                erhr_of[node.ref] = "NATIONAL"
            elif node.props.get("department") in table.erhr_of_department:
                erhr_of[node.ref] = table.erhr_of_department[str(node.props["department"])]
    for prof in [r for r in names if r.kind is K.PROFESSIONAL and r not in erhr_of]:
        for edge in store.edges_from([prof], [R.WORKS_AT])[prof]:
            if edge.target in erhr_of:
                erhr_of[prof] = erhr_of[edge.target]
                break
    for edge in store.edges(R.HAS_EXPERTISE):
        expert.add(edge.source)
    for edge in store.edges(R.ACCEPTS):
        expert.add(edge.source)

    members = {ref for ref, erhr in erhr_of.items() if erhr == code}
    sub = graph.subgraph(n for n in graph.nodes if n in members).copy()
    sub.add_nodes_from(members)
    degree = nx.degree_centrality(sub) if sub.number_of_nodes() > 1 else {n: 0.0 for n in sub}
    betweenness = (
        nx.betweenness_centrality(sub, weight=None) if sub.number_of_nodes() > 2 else {n: 0.0 for n in sub}
    )
    ranked = sorted(sub.nodes, key=lambda n: (-sub.degree(n), -betweenness[n], str(n)))
    hubs = tuple(
        Hub(
            n.kind,
            n.key,
            names.get(n, n.key),
            int(sub.degree(n)),
            round(degree[n], 4),
            round(betweenness[n], 4),
        )
        for n in ranked[:top]
        if sub.degree(n) > 0
    )
    isolated = tuple(
        sorted(str(n) for n in members if n in expert and (n not in graph or graph.degree(n) == 0))
    )
    bridges_count: Counter[tuple[NodeRef, NodeRef]] = Counter()
    for a in members:
        if a not in graph:
            continue
        for b in graph.neighbors(a):
            if b not in members and erhr_of.get(b):
                bridges_count[(a, b)] += graph[a][b]["weight"]
    bridges = tuple(
        Bridge(str(a), str(b), erhr_of[b], w)
        for (a, b), w in sorted(
            bridges_count.items(), key=lambda item: (-item[1], str(item[0][0]), str(item[0][1]))
        )
    )
    components = list(nx.connected_components(sub)) if sub.number_of_nodes() else []
    return NetworkInsights(
        territory=code,
        resources=len(members),
        links=sub.number_of_edges(),
        components=len(components),
        largest_component=max((len(c) for c in components), default=0),
        hubs=hubs,
        isolated=isolated,
        bridges=bridges,
    )

"""Small hand-built graphs for exact assertions.

Geography: a person in Poitiers (86194, Vienne, region 75 → ERHR NA); Lyon
(69123, region 84 → ERHR ARA) is far away. Resources are placed due north of
Poitiers at a chosen great-circle distance.
"""

from __future__ import annotations

from graph.geo import EARTH_RADIUS_KM
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.store import GraphStore
from graph.vocabulary import CONDITIONS
from importers.reference import combination_elements, need_nodes

K, R = NodeKind, RelType
POITIERS = (46.58, 0.34)
KM_PER_DEGREE = EARTH_RADIUS_KM * 3.141592653589793 / 180


def north_of_poitiers(km: float) -> tuple[float, float]:
    return POITIERS[0] + km / KM_PER_DEGREE, POITIERS[1]


def build_territory(store: GraphStore) -> None:
    nodes: list[Node] = [
        Node(K.REGION, "75", {"name": "Nouvelle-Aquitaine", "population": 250_000}),
        Node(K.REGION, "84", {"name": "Auvergne-Rhône-Alpes", "population": 500_000}),
        Node(K.DEPARTMENT, "86", {"name": "Vienne", "region": "75", "population": 150_000}),
        Node(K.DEPARTMENT, "79", {"name": "Deux-Sèvres", "region": "75", "population": 100_000}),
        Node(K.DEPARTMENT, "69", {"name": "Rhône", "region": "84", "population": 500_000}),
        Node(
            K.COMMUNE,
            "86194",
            {
                "name": "Poitiers",
                "department": "86",
                "population": 90_000,
                "lat": POITIERS[0],
                "lon": POITIERS[1],
                "postcodes": ["86000"],
            },
        ),
        Node(
            K.COMMUNE,
            "86158",
            {
                "name": "Migné-Auxances",
                "department": "86",
                "population": 60_000,
                "lat": 46.63,
                "lon": 0.305,
                "postcodes": ["86440"],
            },
        ),
        Node(
            K.COMMUNE,
            "79191",
            {
                "name": "Niort",
                "department": "79",
                "population": 100_000,
                "lat": 46.32,
                "lon": -0.46,
                "postcodes": ["79000"],
            },
        ),
        Node(
            K.COMMUNE,
            "69123",
            {
                "name": "Lyon",
                "department": "69",
                "population": 500_000,
                "lat": 45.76,
                "lon": 4.83,
                "postcodes": ["69001"],
            },
        ),
        Node(
            K.ERHR_TEAM,
            "NA",
            {
                "name": "ERHR Nouvelle-Aquitaine",
                "regions": ["75"],
                "seat": "Poitiers",
                "lat": 46.59,
                "lon": 0.35,
                "email": "contact@example.org",
            },
        ),
        Node(
            K.ERHR_TEAM,
            "ARA",
            {"name": "ERHR Auvergne-Rhône-Alpes", "regions": ["84"], "lat": 45.77, "lon": 4.88},
        ),
        Node(K.CNRHR, "PEPINIERE", {"name": "La Pépinière", "lat": 50.61, "lon": 3.01}),
        Node(K.CNRHR, "CRESAM", {"name": "CRESAM", "lat": 46.63, "lon": 0.305}),
        Node(K.CNRHR, "LAPLANE", {"name": "Centre Robert Laplane", "lat": 48.83, "lon": 2.36}),
        Node(K.CNRHR, "FAHRES", {"name": "FAHRES", "lat": 48.67, "lon": 5.89}),
    ]
    edges = (
        [
            Edge(R.PART_OF, NodeRef(K.DEPARTMENT, d), NodeRef(K.REGION, r))
            for d, r in (("86", "75"), ("79", "75"), ("69", "84"))
        ]
        + [
            Edge(R.PART_OF, NodeRef(K.COMMUNE, c), NodeRef(K.DEPARTMENT, c[:2]))
            for c in ("86194", "86158", "79191", "69123")
        ]
        + [
            Edge(R.COVERS, NodeRef(K.ERHR_TEAM, "NA"), NodeRef(K.REGION, "75")),
            Edge(R.COVERS, NodeRef(K.ERHR_TEAM, "ARA"), NodeRef(K.REGION, "84")),
        ]
    )
    # Deficiencies and skills; a Condition node is added when a resource gets expertise
    # on it (the 4,000 conditions would make every small graph slow to build).
    store.upsert(nodes + list(need_nodes()), edges)


class Network:
    """Adds resources to a store, each placed north of Poitiers."""

    def __init__(self, store: GraphStore) -> None:
        self.store = store
        build_territory(store)

    def establishment(
        self,
        finess: str,
        km: float,
        *,
        department: str = "86",
        age_min: int | None = None,
        age_max: int | None = None,
        accepts: dict[str, tuple[int | None, int | None]] | None = None,
        expertise: dict[str, int] | None = None,
    ) -> NodeRef:
        lat, lon = north_of_poitiers(km)
        props: dict[str, object] = {
            "name": f"Établissement {finess}",
            "lat": lat,
            "lon": lon,
            "department": department,
        }
        if age_min is not None:
            props["age_min"] = age_min
        if age_max is not None:
            props["age_max"] = age_max
        ref = NodeRef(K.ESTABLISHMENT, finess)
        self.store.upsert([Node(K.ESTABLISHMENT, finess, props)])
        self._links(ref, accepts or {}, expertise or {})
        return ref

    def professional(self, key: str, workplace: NodeRef, *, expertise: dict[str, int]) -> NodeRef:
        ref = NodeRef(K.PROFESSIONAL, key)
        self.store.upsert(
            [Node(K.PROFESSIONAL, key, {"profession": "psychomotricien"})], [Edge(R.WORKS_AT, ref, workplace)]
        )
        self._links(ref, {}, expertise)
        return ref

    def _links(
        self, ref: NodeRef, accepts: dict[str, tuple[int | None, int | None]], expertise: dict[str, int]
    ) -> None:
        nodes: list[Node] = []
        edges: list[Edge] = []
        for code, (lo, hi) in accepts.items():
            edges.append(Edge(R.ACCEPTS, ref, NodeRef(K.DEFICIENCY, code), {"age_min": lo, "age_max": hi}))
        for code, level in expertise.items():
            if "+" in code:
                for element in combination_elements(code):
                    (nodes if isinstance(element, Node) else edges).append(element)  # type: ignore[arg-type]
                target = NodeRef(K.COMBINATION, code)
            elif code.startswith("ORPHA:"):
                target = NodeRef(K.CONDITION, code)
                nodes.append(Node(K.CONDITION, code, {"label": CONDITIONS[code].label}))
            elif code in {"CAA", "LSF", "LSF_TACTILE", "RESPITE", "BRAILLE", "LOCOMOTION"}:
                target = NodeRef(K.SKILL, code)
            else:
                target = NodeRef(K.DEFICIENCY, code)
            edges.append(Edge(R.HAS_EXPERTISE, ref, target, {"level": level}))
        self.store.upsert(nodes, edges)


def within(part: object, whole: object) -> bool:
    """Every field of ``part`` (a GraphQL answer) is in ``whole`` with the same
    value — lists item by item: the CLI's JSON carries at least what the API gives."""
    if isinstance(part, dict):
        return isinstance(whole, dict) and all(k in whole and within(v, whole[k]) for k, v in part.items())
    if isinstance(part, list):
        return (
            isinstance(whole, list)
            and len(part) == len(whole)
            and all(within(a, b) for a, b in zip(part, whole, strict=True))
        )
    return part == whole

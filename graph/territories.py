"""Territories: regions, departments, communes and the ERHR that covers each.

The territory tables are small (18 regions, 101 departments, 13 ERHR). The
current one is ``graph.readmodel.read_model(store).territories``, rebuilt when
the store's revision changes, so an edited ERHR file takes effect as soon as it
is re-imported.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from graph.errors import NotFound, UnknownCode
from graph.model import Node, NodeKind, NodeRef, RelType
from graph.store import GraphStore

__all__ = [
    "TerritoryKind",
    "Territory",
    "CommuneInfo",
    "ErhrInfo",
    "TerritoryTable",
    "territories",
    "commune_info",
    "erhr_info",
    "resolve_commune",
    "search_communes",
    "fold_name",
]


class TerritoryKind(enum.StrEnum):
    REGION = "REGION"
    DEPARTMENT = "DEPARTMENT"
    ERHR = "ERHR"


@dataclass(frozen=True, slots=True)
class Territory:
    kind: TerritoryKind
    code: str
    name: str
    population: int


@dataclass(frozen=True, slots=True)
class ErhrInfo:
    code: str
    name: str
    regions: tuple[Territory, ...]
    departments: tuple[Territory, ...]
    population: int
    seat: str | None
    confidence: str


@dataclass(frozen=True, slots=True)
class CommuneInfo:
    code: str
    name: str
    population: int
    lat: float
    lon: float
    postcodes: tuple[str, ...]
    department: Territory
    region: Territory
    erhr_code: str


class TerritoryTable:
    """Regions, departments and ERHR coverage, read once from a store."""

    def __init__(self, store: GraphStore) -> None:
        self.regions = {n.key: n for n in store.nodes(NodeKind.REGION)}
        self.departments = {n.key: n for n in store.nodes(NodeKind.DEPARTMENT)}
        self.erhr = {n.key: n for n in store.nodes(NodeKind.ERHR_TEAM)}
        self.erhr_of_region: dict[str, str] = {}
        self.erhr_of_department: dict[str, str] = {}
        covers = store.edges_from([n.ref for n in self.erhr.values()], [RelType.COVERS])
        for ref, edges in covers.items():
            for edge in edges:
                if edge.target.kind is NodeKind.REGION:
                    self.erhr_of_region[edge.target.key] = ref.key
                else:
                    self.erhr_of_department[edge.target.key] = ref.key
        for code, dep in self.departments.items():
            region_erhr = self.erhr_of_region.get(dep.props.get("region", ""))
            if region_erhr is not None:
                self.erhr_of_department.setdefault(code, region_erhr)

    def territory(self, kind: TerritoryKind, code: str) -> Territory:
        table = {
            TerritoryKind.REGION: self.regions,
            TerritoryKind.DEPARTMENT: self.departments,
            TerritoryKind.ERHR: self.erhr,
        }[kind]
        node = table.get(code)
        if node is None:
            raise UnknownCode(_KIND_LABEL[kind], code)
        return _territory(kind, node)

    def departments_of_erhr(self, code: str) -> list[str]:
        return sorted(d for d, e in self.erhr_of_department.items() if e == code)


_KIND_LABEL = {
    TerritoryKind.REGION: "de région",
    TerritoryKind.DEPARTMENT: "de département",
    TerritoryKind.ERHR: "d'ERHR",
}


def _territory(kind: TerritoryKind, node: Node) -> Territory:
    return Territory(
        kind, node.key, str(node.props.get("name", node.key)), int(node.props.get("population", 0))
    )


def territories(store: GraphStore, kind: TerritoryKind) -> list[Territory]:
    """Every territory of a kind, by code."""
    table = TerritoryTable(store)
    nodes = {
        TerritoryKind.REGION: table.regions,
        TerritoryKind.DEPARTMENT: table.departments,
        TerritoryKind.ERHR: table.erhr,
    }[kind]
    return [_territory(kind, nodes[code]) for code in sorted(nodes)]


def erhr_info(store: GraphStore, code: str, table: TerritoryTable | None = None) -> ErhrInfo:
    table = table or TerritoryTable(store)
    node = table.erhr.get(code.strip().upper())
    if node is None:
        raise UnknownCode("d'ERHR", code, f"Codes connus : {', '.join(sorted(table.erhr))}.")
    regions = tuple(table.territory(TerritoryKind.REGION, r) for r in sorted(node.props.get("regions", [])))
    departments = tuple(
        table.territory(TerritoryKind.DEPARTMENT, d) for d in table.departments_of_erhr(node.key)
    )
    return ErhrInfo(
        code=node.key,
        name=str(node.props.get("name", node.key)),
        regions=regions,
        departments=departments,
        population=sum(d.population for d in departments),
        seat=node.props.get("seat"),
        confidence=str(node.props.get("confidence", "")),
    )


def resolve_commune(store: GraphStore, code: str) -> Node:
    """The current commune of an INSEE code; arrondissements and former communes
    resolve to the commune they belong to. Raises UnknownCode."""
    text = code.strip().upper()
    node = store.get_node(NodeKind.COMMUNE, text)
    if node is not None:
        return node
    department = text[:3] if text.startswith("97") else text[:2]
    for candidate in _communes_of_department(store, department):
        if text in candidate.props.get("aliases", []):
            return candidate
    raise UnknownCode("de commune INSEE", code, "Indiquez un code commune à 5 caractères (ex. 86194).")


def _communes_of_department(store: GraphStore, department: str) -> list[Node]:
    dep = NodeRef(NodeKind.DEPARTMENT, department)
    refs = [
        e.source for e in store.edges_to([dep], [RelType.PART_OF])[dep] if e.source.kind is NodeKind.COMMUNE
    ]
    return list(store.get_nodes(NodeKind.COMMUNE, [r.key for r in refs]).values())


def fold_name(text: str) -> str:
    """A commune name as compared: lower case, no accents, hyphens and
    apostrophes as spaces (« Saint-Denis » = « saint denis »)."""
    import unicodedata

    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return " ".join(plain.replace("-", " ").replace("'", " ").split())


def search_communes(store: GraphStore, text: str, *, limit: int = 10) -> list[Node]:
    """Communes matching a name (accents and case ignored), a postcode or an
    INSEE code; exact matches first, then by population."""
    query = text.strip()
    if not query:
        return []
    if query.isdigit() and len(query) == 5:
        found = store.communes_by_postcode(query)
        exact = store.get_node(NodeKind.COMMUNE, query)
        return ([exact] if exact else []) + [c for c in found if exact is None or c.key != exact.key]
    if len(query) == 5 and query[:2].upper() in ("2A", "2B"):
        exact = store.get_node(NodeKind.COMMUNE, query.upper())
        return [exact] if exact else []
    folded = fold_name(query)
    scored = []
    for commune in store.nodes(NodeKind.COMMUNE):
        name = fold_name(str(commune.props.get("name", "")))
        if name.startswith(folded) or (" " + folded) in (" " + name):
            scored.append((name != folded, -int(commune.props.get("population", 0)), commune.key, commune))
    scored.sort(key=lambda item: item[:3])
    return [item[3] for item in scored[:limit]]


def commune_info(store: GraphStore, code: str, table: TerritoryTable | None = None) -> CommuneInfo:
    node = resolve_commune(store, code)
    table = table or TerritoryTable(store)
    dep_code = str(node.props["department"])
    department = table.territory(TerritoryKind.DEPARTMENT, dep_code)
    region = table.territory(TerritoryKind.REGION, str(table.departments[dep_code].props["region"]))
    erhr_code = table.erhr_of_department.get(dep_code)
    if erhr_code is None:
        raise NotFound(f"Aucune ERHR ne couvre le département {dep_code}.")
    return CommuneInfo(
        code=node.key,
        name=str(node.props["name"]),
        population=int(node.props.get("population", 0)),
        lat=float(node.props["lat"]),
        lon=float(node.props["lon"]),
        postcodes=tuple(node.props.get("postcodes", [])),
        department=department,
        region=region,
        erhr_code=erhr_code,
    )

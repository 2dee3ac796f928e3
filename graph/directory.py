"""The directory of resources: filtered, paged with cursors, for partners and pages.

Establishments (FINESS), professionals (directory imports) and *pôles
ressources*, and on request the ERHR teams and national centres. Filters
combine (all must hold): kinds, a territory (department, region or ERHR; a
professional counts where their workplace is), deficiencies and skills (an
expertise or an ACCEPTS link on each), rare conditions (expertise on it, or
competent by the rules of matching for every deficiency it typically involves),
a commune and a radius (great-circle, on the commune's own land mass), open
establishments only, and a name (accents and case ignored). Never a situation.

Pages are Relay-style: ``first`` entries after an opaque ``after`` cursor; the
cursor is the position in the ordered result (by distance when ``near`` is
given, else by name), so a page is stable while the register does not change.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from graph.errors import InvalidInput, UnknownCode
from graph.geo import haversine_km_many
from graph.landmass import land_mass
from graph.matching import Contact, competent_resources, contact_of, source_of
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.readmodel import read_model
from graph.store import GraphStore
from graph.territories import TerritoryKind, TerritoryTable, fold_name, resolve_commune
from graph.views import LinkFacts, ResourceFacts
from graph.vocabulary import (
    CONDITIONS,
    code_label,
    normalise_conditions,
    normalise_deficiencies,
    normalise_skills,
)

__all__ = [
    "DIRECTORY_KINDS",
    "ALL_KINDS",
    "MAX_PAGE",
    "Near",
    "DirectoryFilter",
    "Competence",
    "DirectoryEntry",
    "DirectoryPage",
    "search_directory",
]

K, R = NodeKind, RelType
DIRECTORY_KINDS = (K.ESTABLISHMENT, K.PROFESSIONAL, K.RESOURCE_POLE)
ALL_KINDS = (*DIRECTORY_KINDS, K.ERHR_TEAM, K.CNRHR)
MAX_PAGE = 100
_CURSOR_PREFIX = "dihr-annuaire:"


@dataclass(frozen=True, slots=True)
class Near:
    commune: str
    radius_km: float = 50.0


@dataclass(frozen=True, slots=True)
class DirectoryFilter:
    kinds: Sequence[NodeKind] = DIRECTORY_KINDS
    territory: tuple[TerritoryKind, str] | None = None
    deficiencies: Sequence[str] = ()
    skills: Sequence[str] = ()
    conditions: Sequence[str] = ()
    near: Near | None = None
    open_only: bool = True
    text: str = ""


@dataclass(frozen=True, slots=True)
class Competence:
    """One competence link: what (kind and code), at which level, from where."""

    target_kind: str  # Deficiency, Skill, Combination, Condition
    code: str
    level: int
    link: str  # HAS_EXPERTISE or ACCEPTS
    source: str  # categorie_finess, finess-equipements, annuaire, …
    source_label: str
    label: str  # the code as a person reads it (graph.vocabulary.code_label)
    age_band: str | None = None  # ACCEPTS: the ages admitted


@dataclass(frozen=True, slots=True)
class DirectoryEntry:
    kind: str
    key: str
    name: str
    synthetic: bool
    closed: bool
    commune: str | None
    department: str | None
    region: str | None
    erhr: str | None
    lat: float | None
    lon: float | None
    distance_km: float | None
    contact: Contact | None
    competences: tuple[Competence, ...] = field(default=())
    #: what it is, as FINESS names its category (« Institut médico-éducatif (I.M.E.) »)
    category: str | None = None
    #: the name of its town (FINESS's address, else its commune's name)
    town: str | None = None


@dataclass(frozen=True, slots=True)
class DirectoryPage:
    total: int
    entries: tuple[DirectoryEntry, ...]
    cursors: tuple[str, ...]
    has_next: bool
    has_previous: bool


def cursor_of(position: int) -> str:
    return base64.urlsafe_b64encode(f"{_CURSOR_PREFIX}{position}".encode()).decode()


def _position(cursor: str | None) -> int:
    """The position after which a page starts (-1: from the start)."""
    if not cursor:
        return -1
    try:
        text = base64.urlsafe_b64decode(cursor.encode()).decode()
        if text.startswith(_CURSOR_PREFIX) and (value := int(text[len(_CURSOR_PREFIX) :])) >= 0:
            return value
    except (ValueError, UnicodeDecodeError):
        pass
    raise InvalidInput("after", "curseur inconnu : reprenez la pagination depuis le début (sans « after »).")


def _targets(kinds_codes: Iterable[tuple[NodeKind, str]]) -> list[NodeRef]:
    return [NodeRef(kind, code) for kind, code in kinds_codes]


def _competent(store: GraphStore, target: NodeRef, rels: Sequence[RelType]) -> set[NodeRef]:
    return {e.source for e in store.edges_to([target], list(rels))[target]}


def _sort_name(name: str) -> str:
    """The name as the directory orders it: accents and case ignored, and the
    quotes and dashes some FINESS names begin with (« "LA GUIDANCE" … »)."""
    return fold_name(name).lstrip(" \"'«»-.,;:()")


class _Recent:
    """The last few ordered results, per read-model state (paging a result
    does not filter the whole register again for each page); bounded."""

    def __init__(self, size: int = 32) -> None:
        self.size = size
        self.items: OrderedDict[Any, Any] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: Any, build: Callable[[], Any]) -> Any:
        with self.lock:
            if key in self.items:
                self.items.move_to_end(key)
                return self.items[key]
        value = build()
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)
        return value


def _key(query: DirectoryFilter) -> tuple[Any, ...]:
    return (
        tuple(query.kinds),
        query.territory,
        tuple(sorted(query.deficiencies)),
        tuple(sorted(query.skills)),
        tuple(sorted(query.conditions)),
        query.near,
        query.open_only,
        query.text.strip(),
    )


def search_directory(
    store: GraphStore, query: DirectoryFilter, *, first: int = 20, after: str | None = None
) -> DirectoryPage:
    """One page of the directory (see the module doc)."""
    if not 1 <= first <= MAX_PAGE:
        raise InvalidInput("first", f"taille de page entre 1 et {MAX_PAGE}.")
    start = _position(after) + 1
    model = read_model(store)
    recent: _Recent = model.cached("directory results", _Recent)
    rows, order, distances = recent.get(_key(query), lambda: _ordered(store, query))
    total = len(order)
    page = order[start : start + first]
    table = model.territories
    links = store.edges_from([rows[i][0].ref for i in page], [R.HAS_EXPERTISE, R.ACCEPTS]) if page else {}
    codes = sorted({str(rows[i][0].props["commune"]) for i in page if rows[i][0].props.get("commune")})
    names = {key: str(n.props.get("name") or "") for key, n in store.get_nodes(K.COMMUNE, codes).items()}
    entries = tuple(
        _entry(rows[i][0], rows[i][1], rows[i][2], distances[i], links.get(rows[i][0].ref, []), table, names)
        for i in page
    )
    return DirectoryPage(
        total=total,
        entries=entries,
        cursors=tuple(cursor_of(start + n) for n in range(len(page))),
        has_next=start + len(page) < total,
        has_previous=start > 0,
    )


_Row = tuple[Node, str | None, tuple[float, float] | None]


def _ordered(store: GraphStore, query: DirectoryFilter) -> tuple[list[_Row], list[int], list[float | None]]:
    """Every resource the filter keeps, in the directory's order, and distances."""
    kinds = tuple(query.kinds) or DIRECTORY_KINDS
    if any(k not in ALL_KINDS for k in kinds):
        raise InvalidInput(
            "kinds", "types attendus : Establishment, Professional, ResourcePole, ErhrTeam, Cnrhr."
        )
    model = read_model(store)
    table, idx = model.territories, model.competence

    allowed: set[NodeRef] | None = None

    def narrow(found: set[NodeRef]) -> None:
        nonlocal allowed
        allowed = found if allowed is None else allowed & found

    for code in sorted(normalise_deficiencies(query.deficiencies)) if query.deficiencies else ():
        narrow(_competent(store, NodeRef(K.DEFICIENCY, code), [R.HAS_EXPERTISE, R.ACCEPTS]))
    for code in sorted(normalise_skills(query.skills)) if query.skills else ():
        narrow(_competent(store, NodeRef(K.SKILL, code), [R.HAS_EXPERTISE]))
    for orpha in sorted(normalise_conditions(list(query.conditions))) if query.conditions else ():
        # expertise on the condition, or competent (by the rules of matching) for
        # every deficiency its phenotypes involve
        found = _competent(store, NodeRef(K.CONDITION, orpha), [R.HAS_EXPERTISE])
        involved = CONDITIONS[orpha].involves
        if involved:
            found |= set(competent_resources(store, involved))
        narrow(found)

    wanted_departments = _departments_of(table, query.territory) if query.territory else None
    origin: tuple[float, float, str | None] | None = None
    if query.near is not None:
        if not 1 <= query.near.radius_km <= 1000:
            raise InvalidInput("radiusKm", "le rayon doit être compris entre 1 et 1000 km.")
        commune = resolve_commune(store, query.near.commune)
        origin = (
            float(commune.props["lat"]),
            float(commune.props["lon"]),
            land_mass(str(commune.props.get("department", ""))),
        )
    needle = fold_name(query.text.strip()[:100]) if query.text.strip() else ""

    rows: list[_Row] = []
    for kind in kinds:
        for node in store.nodes(kind):
            if allowed is not None and node.ref not in allowed:
                continue
            facts = ResourceFacts.of(node)
            if query.open_only and facts.closed:
                continue
            if needle and needle not in fold_name(facts.name):
                continue
            department = idx.department_of(node.ref) or facts.department
            if wanted_departments is not None and department not in wanted_departments:
                continue
            position = idx.position.get(node.ref)
            point = (
                (float(idx.lats[position]), float(idx.lons[position]))
                if position is not None
                else (
                    (float(node.props["lat"]), float(node.props["lon"]))
                    if "lat" in node.props and "lon" in node.props
                    else None
                )
            )
            rows.append((node, department, point))

    distances: list[float | None] = [None] * len(rows)
    if origin is not None:
        lat, lon, mass = origin
        located = [i for i, (_n, dep, p) in enumerate(rows) if p is not None and land_mass(dep) == mass]
        if located:
            far = haversine_km_many(
                lat,
                lon,
                np.array([rows[i][2][0] for i in located]),  # type: ignore[index]
                np.array([rows[i][2][1] for i in located]),  # type: ignore[index]
            )
            for i, km in zip(located, far.tolist(), strict=True):
                distances[i] = km
        keep = [i for i, d in enumerate(distances) if d is not None and d <= query.near.radius_km]  # type: ignore[union-attr]
        order = sorted(
            keep, key=lambda i: (distances[i], _sort_name(ResourceFacts.of(rows[i][0]).name), rows[i][0].key)
        )
    else:
        order = sorted(
            range(len(rows)), key=lambda i: (_sort_name(ResourceFacts.of(rows[i][0]).name), rows[i][0].key)
        )
    return rows, order, distances


def _departments_of(table: TerritoryTable, territory: tuple[TerritoryKind, str]) -> set[str]:
    kind, code = territory
    code = code.strip().upper()
    if kind is TerritoryKind.DEPARTMENT:
        if code not in table.departments:
            raise UnknownCode("de département", code)
        return {code}
    if kind is TerritoryKind.REGION:
        if code not in table.regions:
            raise UnknownCode("de région", code)
        return {d for d, n in table.departments.items() if str(n.props.get("region")) == code}
    if code not in table.erhr:
        raise UnknownCode("d'ERHR", code)
    return {d for d, e in table.erhr_of_department.items() if e == code}


def _entry(
    node: Node,
    department: str | None,
    point: tuple[float, float] | None,
    distance: float | None,
    edges: list[Edge],
    table: TerritoryTable,
    commune_names: Mapping[str, str] | None = None,
) -> DirectoryEntry:
    facts = ResourceFacts.of(node)
    fallback = "synthetique" if facts.synthetic else "annuaire"
    competences = []
    for e in sorted(edges, key=lambda e: (e.type.value, e.target.kind.value, e.target.key)):
        link = LinkFacts.of(e.props)
        origin, origin_text = source_of(e.props, fallback)
        competences.append(
            Competence(
                target_kind=e.target.kind.value,
                code=e.target.key,
                level=int(link.level or 1),
                link=e.type.value,
                source=origin,
                source_label=origin_text,
                label=code_label(e.target.kind.value, e.target.key),
                age_band=link.age_band() if e.type is R.ACCEPTS else None,
            )
        )
    region = (
        str(table.departments[department].props.get("region")) if department in table.departments else None
    )
    return DirectoryEntry(
        kind=node.kind.value,
        key=node.key,
        name=facts.name,
        synthetic=facts.synthetic,
        closed=facts.closed,
        commune=facts.commune,
        department=department,
        region=region,
        erhr=table.erhr_of_department.get(department) if department else None,
        lat=point[0] if point else None,
        lon=point[1] if point else None,
        distance_km=None if distance is None else round(distance, 1),
        contact=contact_of(node.kind, node.props),
        competences=tuple(competences),
        category=_text(node.props.get("category_label")),
        town=(commune_names or {}).get(str(facts.commune)) or _town(node.props.get("city")),
    )


def _text(value: Any) -> str | None:
    return None if value is None or str(value).strip() == "" else str(value).strip()


def _town(city: Any) -> str | None:
    """FINESS's « POITIERS CEDEX » as a town's name."""
    text = _text(city)
    return None if text is None else text.removesuffix(" CEDEX").strip().title()

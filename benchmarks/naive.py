"""The naive way, for comparison: what a spreadsheet of resources with
distances would do — a plain-Python haversine over every resource (or every
commune × resource pair), then filtering and sorting. It implements the same
competence and ranking rules as ``graph.matching`` so answers can be compared
one to one."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from graph.geo import EARTH_RADIUS_KM
from graph.matching import ADULT_AGE, LOCAL_KINDS
from graph.model import Edge, NodeKind, RelType, codes_of_combination, combination_key
from graph.store import GraphStore
from graph.vocabulary import CONDITIONS

__all__ = ["Spreadsheet", "naive_ranking", "naive_beyond", "naive_nearest_km"]

K, R = NodeKind, RelType


@dataclass(slots=True)
class Row:
    kind: str
    key: str
    lat: float
    lon: float
    props: dict[str, object]
    department: str = ""  # its own, else its workplace's (a professional)
    expertise: dict[tuple[str, str], int] = field(default_factory=dict)  # (target kind, code) → level
    accepts: list[tuple[str, int | None, int | None]] = field(default_factory=list)


class Spreadsheet:
    """Every local resource as one row, read once from the store."""

    def __init__(self, store: GraphStore) -> None:
        self.rows: list[Row] = []
        nodes = {n.ref: n for kind in LOCAL_KINDS for n in store.nodes(kind)}
        out = store.edges_from(list(nodes), [R.HAS_EXPERTISE, R.ACCEPTS, R.WORKS_AT])
        for ref, node in nodes.items():
            spot = _where(store, node.props, out[ref])
            if spot is None:
                continue
            lat, lon, department = spot
            if nodes[ref].props.get("closed"):
                continue  # never matched
            row = Row(ref.kind.value, ref.key, lat, lon, dict(nodes[ref].props), department)
            for e in out[ref]:
                if e.type is R.WORKS_AT:
                    continue
                if e.type is R.HAS_EXPERTISE:
                    row.expertise[(e.target.kind.value, e.target.key)] = int(e.props["level"])
                else:
                    row.accepts.append((e.target.key, e.props.get("age_min"), e.props.get("age_max")))
            self.rows.append(row)


def _where(store: GraphStore, props: dict[str, object], out: list[Edge]) -> tuple[float, float, str] | None:
    """Its own coordinates, else (a professional) those of its workplace of
    smallest key; its own department, else that of its first workplace that has one."""
    sites = [
        store.get_node(t.kind, t.key)
        for t in sorted((e.target for e in out if e.type is R.WORKS_AT), key=lambda t: t.key)
    ]
    department = str(
        props.get("department")
        or next((s.props["department"] for s in sites if s is not None and "department" in s.props), "")
    )
    if "lat" in props and "lon" in props:
        return float(props["lat"]), float(props["lon"]), department  # type: ignore[arg-type]
    for found in sites:
        if found is not None and "lat" in found.props and "lon" in found.props:
            return float(found.props["lat"]), float(found.props["lon"]), department
    return None


def _haversine(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    a = (
        math.sin((p2 - p1) / 2) ** 2
        + math.cos(p1) * math.cos(p2) * math.sin(math.radians(lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _admits(lo: object, hi: object, age: int | None) -> bool:
    return age is None or ((lo is None or age >= int(lo)) and (hi is None or age <= int(hi)))  # type: ignore[call-overload]


def _levels(
    row: Row, deficiencies: frozenset[str], age: int | None, accepts: bool = True
) -> tuple[dict[str, int], int]:
    """(level per covered deficiency, level of expertise on a combination including them);
    ``accepts`` False: by expertise only."""
    combo = combination_key(list(deficiencies))
    levels: dict[str, int] = {}
    combination_level = 0
    for (kind, code), level in row.expertise.items():
        if kind == "Deficiency" and code in deficiencies:
            levels[code] = max(levels.get(code, 0), level)
        elif kind == "Combination" and deficiencies <= codes_of_combination(code):
            combination_level = max(combination_level, level)
        elif kind == "Condition":
            for d in CONDITIONS[code].involves:
                if d in deficiencies:
                    levels[d] = max(levels.get(d, 0), level)
    for code, lo, hi in row.accepts if accepts else ():
        if code in deficiencies and _admits(lo, hi, age):
            levels[code] = max(levels.get(code, 0), 1)
    if combination_level:
        for d in codes_of_combination(combo):
            levels[d] = max(levels.get(d, 0), combination_level)
    return levels, combination_level


def naive_beyond(
    sheet: Spreadsheet,
    lat: float,
    lon: float,
    deficiencies: frozenset[str],
    age: int | None,
    radius_km: float,
    count: int,
) -> list[tuple[str, str]]:
    """The ``count`` nearest resources beyond the radius competent for the whole combination (widening)."""
    found = []
    for row in sheet.rows:
        distance = round(_haversine(lat, lon, row.lat, row.lon), 3)
        if distance <= radius_km or not _admits(row.props.get("age_min"), row.props.get("age_max"), age):
            continue
        levels, combination_level = _levels(row, deficiencies, age)
        if combination_level or deficiencies <= levels.keys():
            found.append((distance, row.key, row.kind))
    found.sort()
    return [(kind, key) for _d, key, kind in found[:count]]


def naive_ranking(
    sheet: Spreadsheet,
    lat: float,
    lon: float,
    deficiencies: frozenset[str],
    skills: frozenset[str],
    age: int | None,
    radius_km: float,
    limit: int,
) -> list[tuple[str, str]]:
    """Ranked (kind, key) of the local resources inside the radius, as findResources ranks them."""
    ranked = []
    for row in sheet.rows:
        distance = _haversine(lat, lon, row.lat, row.lon)
        if distance > radius_km:
            continue
        if not _admits(row.props.get("age_min"), row.props.get("age_max"), age):
            continue
        levels, combination_level = _levels(row, deficiencies, age)
        skill_levels = {s: lvl for (kind, s), lvl in row.expertise.items() if kind == "Skill" and s in skills}
        if not levels and not skill_levels:
            continue
        tier = 0 if combination_level else (1 if deficiencies <= levels.keys() else 2)
        # accepted each separately (several deficiencies, not all by expertise): after expertise on each
        declared = _levels(row, deficiencies, age, accepts=False)[0]
        separate = int(tier == 1 and len(deficiencies) > 1 and not deficiencies <= declared.keys())
        score = round(
            (sum(levels.values()) + sum(skill_levels.values())) / (3 * (len(deficiencies) + len(skills))), 4
        )
        age_max = row.props.get("age_max")
        late = int(age is not None and age >= ADULT_AGE and age_max is not None and int(age_max) <= 20)  # type: ignore[call-overload]
        ranked.append(
            ((tier, separate, late, -score, round(distance, 3), row.kind, row.key), (row.kind, row.key))
        )
    ranked.sort()
    full = [k for key, k in ranked if key[0] < 2]
    partial = [k for key, k in ranked if key[0] == 2]
    return (full + partial)[:limit]


def naive_nearest_km(
    result_communes: list[tuple[float, float]], resources: list[tuple[float, float]]
) -> np.ndarray:
    """For every commune, the distance to the nearest resource, pair by pair."""
    lats = np.radians([r[0] for r in resources])
    lons = np.radians([r[1] for r in resources])
    out = np.empty(len(result_communes))
    for i, (lat, lon) in enumerate(result_communes):
        p1, l1 = math.radians(lat), math.radians(lon)
        a = np.sin((lats - p1) / 2) ** 2 + math.cos(p1) * np.cos(lats) * np.sin((lons - l1) / 2) ** 2
        out[i] = (
            (2 * EARTH_RADIUS_KM * np.arcsin(np.minimum(1.0, np.sqrt(a)))).min() if len(resources) else np.inf
        )
    return out

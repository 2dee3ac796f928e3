"""A columnar index of local resources and their competence links, so that
matching scores every resource with array operations instead of walking the
graph per query.

Built from the store's plain reads by :mod:`graph.readmodel` (the same for
every backend), kept while the store's revision stays the same. For every need target (a Deficiency, Skill, Combination
or Condition node) it holds, over every resource position, the highest
``HAS_EXPERTISE`` level (a dense small-integer column), and the ``ACCEPTS``
links with their age bands (level 1 when the band admits the person). For
every resource it keeps its competence links themselves, so that the few
resources returned are explained without walking the graph again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from graph.landmass import land_mass
from graph.model import NodeKind, NodeRef, RelType

__all__ = [
    "Accepts",
    "CompetenceIndex",
    "Link",
    "build_competence_index",
    "patch_competence_index",
    "admits",
    "bound",
    "link_order",
]

#: One competence link of a resource: (type, target, the edge's properties).
Link = tuple[RelType, NodeRef, Mapping[str, Any]]


@dataclass(frozen=True, slots=True)
class Accepts:
    """The ACCEPTS links to one target: resource positions and age bands."""

    ids: NDArray[np.int64]
    age_min: NDArray[np.float64]  # nan: no bound
    age_max: NDArray[np.float64]


def link_order(link: Link) -> tuple[bool, str, str]:
    """One order of a resource's links whatever the store: expertise first, then
    by target (explanations keep the first of equal levels)."""
    return (link[0] is not RelType.HAS_EXPERTISE, link[1].kind.value, link[1].key)


#: Up to this many rows read again, a patch finds them by comparing the key column.
_FEW = 64

_NO_ACCEPTS = Accepts(np.zeros(0, np.int64), np.zeros(0), np.zeros(0))


@dataclass(frozen=True, slots=True)
class CompetenceIndex:
    refs: list[NodeRef]
    kinds: NDArray[np.str_]
    keys: NDArray[np.str_]
    lats: NDArray[np.float64]
    lons: NDArray[np.float64]
    age_min: NDArray[np.float64]
    age_max: NDArray[np.float64]
    departments: NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, dtype=str))
    #: target → highest HAS_EXPERTISE level of every resource (0: none), int8 over positions.
    expertise_levels: dict[NodeRef, NDArray[np.int8]] = field(default_factory=dict)
    accepts_links: dict[NodeRef, Accepts] = field(default_factory=dict)
    #: position → the resource's properties (the store's own mapping: read, never write).
    props: list[Mapping[str, Any]] = field(default_factory=list)
    #: position → that resource's HAS_EXPERTISE / ACCEPTS links (for explanations).
    out: list[tuple[Link, ...]] = field(default_factory=list)
    #: combination key → (commune keys, open flags) of the situations presenting it (demand side).
    demand: dict[str, tuple[list[str], NDArray[np.bool_]]] = field(default_factory=dict)
    #: cached boolean columns: per set of kinds, per age.
    masks: dict[Any, NDArray[np.bool_]] = field(default_factory=dict)
    #: Values derived from this index alone (built on first use, see ``cached``).
    derived: dict[Any, Any] = field(default_factory=dict)
    #: a generalist resource (CAMSP: ``generalist`` set from its FINESS category)
    generalist: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, bool))
    #: declared intervention zones (FINESS Activités flow): commune codes (sorted)
    #: and, aligned, the position of the resource serving each
    zone_codes: NDArray[np.str_] = field(default_factory=lambda: np.zeros(0, dtype=str))
    zone_at: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))

    @property
    def position(self) -> dict[NodeRef, int]:
        """Each resource's position (built on first use: an update of the index does not pay for it)."""
        return self.cached("position", lambda: dict(zip(self.refs, range(len(self.refs)), strict=True)))  # type: ignore[no-any-return]

    def cached(self, key: Any, build: Callable[[], Any]) -> Any:
        """A value derived from this index state, built on first use."""
        value = self.derived.get(key)
        if value is None:
            value = self.derived[key] = build()
        return value

    def kind_mask(self, kinds: frozenset[str]) -> NDArray[np.bool_]:
        """Which positions hold a resource of these kinds (cached per set of kinds)."""
        cached = self.masks.get(kinds)
        if cached is None:
            cached = self.masks[kinds] = (
                np.isin(self.kinds, sorted(kinds)) if len(self.refs) else np.zeros(0, bool)
            )
        return cached

    def department_of(self, ref: NodeRef) -> str | None:
        """The resource's department (a professional: its workplace's), if indexed and known."""
        position = self.position.get(ref)
        return None if position is None else (str(self.departments[position]) or None)

    def expertise(self, target: NodeRef) -> NDArray[np.int8]:
        """Every resource's highest HAS_EXPERTISE level on ``target`` (0: none; read-only)."""
        column = self.expertise_levels.get(target)
        return column if column is not None else self.cached("no expertise", self._no_expertise)

    def _no_expertise(self) -> NDArray[np.int8]:
        column = np.zeros(len(self.refs), np.int8)
        column.flags.writeable = False
        return column

    def accepts(self, target: NodeRef) -> Accepts:
        return self.accepts_links.get(target, _NO_ACCEPTS)

    def targets(self, kind: NodeKind) -> list[str]:
        """Keys of the ``kind`` nodes some indexed resource has expertise on."""
        return self.cached(  # type: ignore[no-any-return]
            ("targets", kind), lambda: [t.key for t in self.expertise_levels if t.kind is kind]
        )

    def land_mask(self, land: str | None) -> NDArray[np.bool_]:
        """Which resources stand on the land mass ``land`` (``graph.landmass``;
        None: all of them). A resource whose department is unknown is on none."""
        if land is None:
            return np.ones(len(self.refs), dtype=bool)
        key = ("land", land)
        cached = self.masks.get(key)
        if cached is None:
            cached = self.masks[key] = np.array(
                [land_mass(str(d)) == land for d in self.departments], dtype=bool
            )
        return cached

    def __len__(self) -> int:
        return len(self.refs)


def _zones(
    pairs: Iterable[tuple[int, Mapping[str, Any]]],
) -> tuple[NDArray[np.str_], NDArray[np.int64]]:
    """(commune codes, positions) of the declared intervention zones of these
    (position, properties), sorted by commune then position."""
    codes: list[str] = []
    at: list[int] = []
    for position, props in pairs:
        for code in props.get("intervention_communes") or ():
            codes.append(str(code))
            at.append(position)
    return _sorted_zones(np.array(codes, dtype=str), np.array(at, np.int64))


def _sorted_zones(
    codes: NDArray[np.str_], at: NDArray[np.int64]
) -> tuple[NDArray[np.str_], NDArray[np.int64]]:
    order = np.lexsort((at, codes)) if codes.size else np.zeros(0, np.int64)
    return codes[order], at[order]


def bound(value: Any) -> float:
    """An age bound as the index stores it (nan: no bound)."""
    return float("nan") if value is None else float(value)


def build_competence_index(
    resources: Iterable[tuple[NodeRef, float, float, Mapping[str, Any]]],
    links: Iterable[tuple[NodeRef, RelType, NodeRef, Mapping[str, Any]]],
    *,
    departments: dict[NodeRef, str] | None = None,
    situations: Iterable[tuple[str, str, bool]] = (),
) -> CompetenceIndex:
    """``resources``: located local resources (ref, lat, lon, props);
    ``links``: their HAS_EXPERTISE / ACCEPTS edges (source, type, target, props);
    ``departments``: each resource's department (a professional: that of its
    workplace with the smallest key);
    ``situations``: (combination key, commune key, open) of every situation."""
    # Positions in latitude order: the resources near a point lie in one slice (``band``).
    # A closed establishment (FINESS) is never matched nor counted: it is not indexed.
    rows = sorted(
        (r for r in resources if not r[3].get("closed")), key=lambda r: (r[1], r[0].kind.value, r[0].key)
    )
    position = {ref: i for i, (ref, *_rest) in enumerate(rows)}
    lats = np.array([r[1] for r in rows], dtype=np.float64)
    lons = np.array([r[2] for r in rows], dtype=np.float64)
    n = len(rows)
    expertise: dict[NodeRef, NDArray[np.int8]] = {}
    accepts: dict[NodeRef, list[tuple[int, float, float]]] = defaultdict(list)
    out: list[list[Link]] = [[] for _ in range(n)]
    for source, rel, target, props in links:
        i = position.get(source)
        if i is None:
            continue
        if rel is RelType.ACCEPTS:
            accepts[target].append((i, bound(props.get("age_min")), bound(props.get("age_max"))))
        elif rel is RelType.HAS_EXPERTISE:
            column = expertise.get(target)
            if column is None:
                column = expertise[target] = np.zeros(n, np.int8)
            column[i] = max(column[i], int(props["level"]))
        else:
            continue
        out[i].append((rel, target, props))
    for column in expertise.values():
        column.flags.writeable = False
    for links_of in out:
        links_of.sort(key=link_order)
    accepts_columns = {
        target: Accepts(
            np.array([e[0] for e in entries], np.int64),
            np.array([e[1] for e in entries], np.float64),
            np.array([e[2] for e in entries], np.float64),
        )
        for target, entries in accepts.items()
    }
    grouped_demand: dict[str, tuple[list[str], list[bool]]] = defaultdict(lambda: ([], []))
    for combination, commune, is_open in situations:
        grouped_demand[combination][0].append(commune)
        grouped_demand[combination][1].append(is_open)
    deps = departments or {}
    zone_codes, zone_at = _zones((i, r[3]) for i, r in enumerate(rows))
    return CompetenceIndex(
        departments=np.array([deps.get(r[0], str(r[3].get("department", ""))) for r in rows], dtype=str),
        demand={k: (v[0], np.array(v[1], bool)) for k, v in grouped_demand.items()},
        refs=[r[0] for r in rows],
        kinds=np.array([r[0].kind.value for r in rows], dtype=str),
        keys=np.array([r[0].key for r in rows], dtype=str),
        lats=lats,
        lons=lons,
        age_min=np.array([bound(r[3].get("age_min")) for r in rows], np.float64),
        age_max=np.array([bound(r[3].get("age_max")) for r in rows], np.float64),
        derived={"position": position},
        generalist=np.array([bool(r[3].get("generalist")) for r in rows], dtype=bool),
        zone_codes=zone_codes,
        zone_at=zone_at,
        props=[r[3] for r in rows],
        expertise_levels=expertise,
        accepts_links=accepts_columns,
        out=[tuple(o) for o in out],
    )


def admits(
    age_min: NDArray[np.floating[Any]], age_max: NDArray[np.floating[Any]], age: int | None
) -> NDArray[np.bool_]:
    """Element-wise: does an age band admit ``age`` (nan bounds admit everything)?"""
    if age is None:
        return np.ones(len(age_min), dtype=bool)
    return ~((age_min > age) | (age_max < age))


def _insert(column: NDArray[Any], at: NDArray[np.int64], values: Any) -> NDArray[Any]:
    """``column`` with ``values`` inserted before the positions ``at`` (a text
    column widened to the longest value first: numpy would truncate)."""
    values = np.asarray(values, dtype=column.dtype if column.dtype.kind not in "US" else None)
    if column.dtype.kind in "US" and values.size:
        column = column.astype(np.result_type(column.dtype, values.dtype), copy=False)
    return np.insert(column, at, values.astype(column.dtype, copy=False))


def _replace_at(column: NDArray[Any], places: list[int], values: Any) -> NDArray[Any]:
    """``column`` with ``values`` at ``places`` (``column`` itself when they are
    already there: the columns are never written once built)."""
    values = np.asarray(values, dtype=column.dtype if column.dtype.kind not in "US" else None)
    if column.dtype.kind in "US" and values.size:
        wider = np.result_type(column.dtype, values.dtype)
        if wider != column.dtype:
            column = column.astype(wider)
    current = column[places]
    if np.array_equal(current, values.astype(column.dtype, copy=False)):
        return column
    replaced = column.copy()
    replaced[places] = values
    replaced.flags.writeable = column.flags.writeable
    return replaced


def patch_competence_index(
    old: CompetenceIndex,
    removed: Iterable[NodeRef],
    resources: Iterable[tuple[NodeRef, float, float, Mapping[str, Any]]],
    links: Iterable[tuple[NodeRef, RelType, NodeRef, Mapping[str, Any]]],
    *,
    departments: dict[NodeRef, str] | None = None,
    demand: dict[str, tuple[list[str], NDArray[np.bool_]]] | None = None,
) -> CompetenceIndex:
    """The index ``build_competence_index`` would build from ``old``'s rows
    without ``removed``, plus ``resources`` and their ``links`` (the rows of
    the resources a write touched, read again), at the cost of copying its
    columns instead of building them: a write of a few resources is seen at
    once. ``old`` is left as it is (queries may still be reading it)."""
    rows = sorted(
        (r for r in resources if not r[3].get("closed")), key=lambda r: (r[1], r[0].kind.value, r[0].key)
    )
    n_old = len(old)
    gone = np.zeros(n_old, dtype=bool)
    removed = list(removed)
    was_at: dict[NodeRef, int] = {}
    if len(removed) <= _FEW and "position" not in old.derived:
        # a few rows read again: found by comparing the key column (no map of every position built)
        for ref in removed:
            for position in np.flatnonzero(old.keys == ref.key).tolist():
                if old.refs[position] == ref:
                    was_at[ref] = position
    else:
        was_at = {ref: p for ref in removed if (p := old.position.get(ref)) is not None}
    for position in was_at.values():
        gone[position] = True
    keep = np.flatnonzero(~gone)
    kept_lats = old.lats[keep]
    at = np.empty(len(rows), np.int64)
    for j, (ref, lat, _lon, _props) in enumerate(rows):
        pos = int(np.searchsorted(kept_lats, lat, "left"))
        tie_end = int(np.searchsorted(kept_lats, lat, "right"))
        while pos < tie_end and (str(old.kinds[keep[pos]]), str(old.keys[keep[pos]])) < (
            ref.kind.value,
            ref.key,
        ):
            pos += 1
        at[j] = pos
    kept_count = keep.size
    new_of_kept = np.arange(kept_count) + np.searchsorted(at, np.arange(kept_count), "right")
    new_of_added = at + np.arange(len(rows))
    old_to_new = np.full(n_old, -1, np.int64)
    old_to_new[keep] = new_of_kept

    removed_at = np.flatnonzero(gone).tolist()
    new_places = new_of_added.tolist()
    # An edit of resources that stay where they stood (same latitude, same order):
    # each row read again takes the place of its old one, every column is kept
    # or copied once instead of being cut and joined again.
    in_place = len(rows) == len(removed_at) and removed_at == sorted(new_places)

    def placed(column: NDArray[Any], values: Any) -> NDArray[Any]:
        return _replace_at(column, new_places, values) if in_place else _insert(column[keep], at, values)

    added = {r[0]: j for j, r in enumerate(rows)}
    levels: dict[NodeRef, dict[int, int]] = defaultdict(dict)
    accepts: dict[NodeRef, list[tuple[int, float, float]]] = defaultdict(list)
    out: list[list[Link]] = [[] for _ in rows]
    for source, rel, target, props in links:
        row = added.get(source)
        if row is None:
            continue
        if rel is RelType.ACCEPTS:
            accepts[target].append(
                (int(new_of_added[row]), bound(props.get("age_min")), bound(props.get("age_max")))
            )
        elif rel is RelType.HAS_EXPERTISE:
            levels[target][row] = max(levels[target].get(row, 0), int(props["level"]))
        else:
            continue
        out[row].append((rel, target, props))
    for links_of in out:
        links_of.sort(key=link_order)

    expertise: dict[NodeRef, NDArray[np.int8]] = {}
    for target in old.expertise_levels.keys() | levels.keys():
        base = old.expertise_levels.get(target)
        values = np.zeros(len(rows), np.int8)
        for j, level in levels.get(target, {}).items():
            values[j] = level
        column = (
            placed(base, values) if base is not None else _insert(np.zeros(kept_count, np.int8), at, values)
        )
        column.flags.writeable = False
        expertise[target] = column
    accepts_columns: dict[NodeRef, Accepts] = {}
    for target in old.accepts_links.keys() | accepts.keys():
        before = old.accepts_links.get(target, _NO_ACCEPTS)
        moved = old_to_new[before.ids]
        still = moved >= 0
        extra = accepts.get(target, [])
        accepts_columns[target] = Accepts(
            np.concatenate([moved[still], np.array([e[0] for e in extra], np.int64)]),
            np.concatenate([before.age_min[still], np.array([e[1] for e in extra], np.float64)]),
            np.concatenate([before.age_max[still], np.array([e[2] for e in extra], np.float64)]),
        )
    deps = departments or {}
    keep_all = not gone.any()
    added_at = at.tolist()

    def merged(column: list[Any], values: list[Any]) -> list[Any]:
        """The kept items of ``column`` with ``values`` inserted (slices: no per-item Python work)."""
        if in_place:
            replaced = column.copy()
            for position, value in zip(new_places, values, strict=True):
                replaced[position] = value
            return replaced
        kept = column
        if not keep_all:  # without the rows read again (few): by slices too
            kept = []
            start = 0
            for position in removed_at:
                kept += column[start:position]
                start = position + 1
            kept += column[start:]
        out_list: list[Any] = []
        start = 0
        for position, value in zip(added_at, values, strict=True):
            out_list += kept[start:position]
            out_list.append(value)
            start = position
        out_list += kept[start:]
        return out_list

    refs = merged(old.refs, [r[0] for r in rows])
    props_of = merged(old.props, [r[3] for r in rows])
    links_of_all = merged(old.out, [tuple(o) for o in out])
    # masks that do not depend on the query (the land masses): kept, with the new rows'
    kinds = placed(old.kinds, [r[0].kind.value for r in rows])
    masks: dict[Any, NDArray[np.bool_]] = {}
    for key, mask in old.masks.items():
        if isinstance(key, tuple) and key[0] == "land":
            masks[key] = placed(
                mask, [land_mass(deps.get(r[0], str(r[3].get("department", "")))) == key[1] for r in rows]
            )
        elif kinds is old.kinds:  # the same kind at every place: the same masks of kinds
            masks[key] = mask
    moved_zones = old_to_new[old.zone_at]
    still_zoned = moved_zones >= 0
    added_codes, added_positions = _zones((int(new_of_added[j]), r[3]) for j, r in enumerate(rows))
    zone_codes, zone_at = _sorted_zones(
        np.concatenate([old.zone_codes[still_zoned], added_codes]).astype(str),
        np.concatenate([moved_zones[still_zoned], added_positions]),
    )
    # The order of keys and kinds (``graph.ranking``): carried when the rows read
    # again are resources the index held (an edit), built again on use otherwise.
    derived: dict[Any, Any] = {}
    if all(r[0] in was_at for r in rows):
        for name in (("ranks", "keys"), ("ranks", "kinds")):
            ranks = old.derived.get(name)
            if ranks is not None:
                derived[name] = placed(ranks, [int(ranks[was_at[r[0]]]) for r in rows])
    return CompetenceIndex(
        derived=derived,
        generalist=placed(old.generalist, [bool(r[3].get("generalist")) for r in rows]),
        zone_codes=zone_codes,
        zone_at=zone_at,
        refs=refs,
        kinds=kinds,
        keys=placed(old.keys, [r[0].key for r in rows]),
        lats=placed(old.lats, [r[1] for r in rows]),
        lons=placed(old.lons, [r[2] for r in rows]),
        age_min=placed(old.age_min, [bound(r[3].get("age_min")) for r in rows]),
        age_max=placed(old.age_max, [bound(r[3].get("age_max")) for r in rows]),
        masks=masks,
        departments=placed(old.departments, [deps.get(r[0], str(r[3].get("department", ""))) for r in rows]),
        expertise_levels=expertise,
        accepts_links=accepts_columns,
        props=props_of,
        out=links_of_all,
        demand=old.demand if demand is None else demand,
    )

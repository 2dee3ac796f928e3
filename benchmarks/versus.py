"""The project against its peers, interleaved in one process.

Every round runs each query through every method, in an order that rotates
from one query to the next (so that no method always runs on a cache the
previous one warmed), and checks that every peer's answer is the project's.
The naive loop (``benchmarks/naive.py``) is the correctness oracle, run once;
the peers (``benchmarks/peers.py``) are timed beside the project.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from benchmarks.naive import Spreadsheet, naive_beyond, naive_nearest_km, naive_ranking
from benchmarks.peers import (
    PeerColumns,
    coverage_floor,
    find_floor,
    kdtree_coverage,
    kdtree_find,
    needs_kdtree_find,
    numpy_coverage,
    numpy_find,
)
from graph.coverage import _supply, coverage
from graph.geo import to_unit_xyz
from graph.landmass import land_mass
from graph.matching import MatchLevel, MatchResult, SituationQuery, find_resources
from graph.model import NodeKind
from graph.nearest import commune_lands, nearest_km
from graph.readmodel import read_model
from graph.store import GraphStore
from graph.vocabulary import normalise_deficiencies

__all__ = ["find_versus_peers", "coverage_versus_peers", "project_answer", "interleaved"]

_FULL = ("COMBINATION", "ALL_DEFICIENCIES", "SEPARATELY")


def pct(values: Sequence[float], q: float) -> float:
    return float(np.percentile(values, q)) if len(values) else float("nan")


def project_answer(
    result: MatchResult,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]], list[tuple[str, str]]]:
    """(fully competent inside the radius, fully competent beyond it, partial
    inside it) of a findResources answer, as (kind, key) in rank order."""
    local = [m for m in result.matches if m.level is MatchLevel.LOCAL]
    within = [
        m for m in local if m.group == "within"
    ]  # not the transition's group (« pour préparer la suite »)
    return (
        [(m.kind.value, m.key) for m in within if m.basis.value in _FULL],
        [(m.kind.value, m.key) for m in local if m.group == "beyond" and m.basis.value in _FULL],
        [(m.kind.value, m.key) for m in within if m.basis.value == "PARTIAL"],
    )


def interleaved(
    methods: dict[str, Callable[[Any], Any]],
    items: Sequence[Any],
    rounds: int,
    check: Callable[[str, Any, Any, Any], None],
) -> dict[str, list[float]]:
    """Milliseconds of every method on every item, ``rounds`` times, interleaved:
    item i of round r runs the methods from the ((i + r) mod n)-th on.
    ``check(method, item, project answer, its answer)`` is called for every
    method after the first (the project), outside the timing."""
    names = list(methods)
    times: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        for i, item in enumerate(items):
            answers: dict[str, Any] = {}
            shift = (i + r) % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.perf_counter()
                answers[name] = methods[name](item)
                times[name].append((time.perf_counter() - start) * 1000)
            for name in names[1:]:
                check(name, item, answers[names[0]], answers[name])
    return times


def find_versus_peers(
    store: GraphStore,
    qs: list[SituationQuery],
    rounds: int,
    figures: dict[str, float],
    checks: list[str],
    oracle: bool = True,
) -> list[MatchResult]:
    """findResources against the naive oracle (once, unless not ``oracle``) and the
    numpy and cKDTree peers (interleaved, ``rounds`` times); the project's answers."""
    sheet = Spreadsheet(store)
    cols = PeerColumns.load(sheet)
    results = [find_resources(store, q) for q in qs]  # every view built, as a server that has answered before
    widened = 0
    for q, result in zip(qs if oracle else [], results, strict=False):
        defs = normalise_deficiencies(q.deficiencies)
        naive = naive_ranking(
            sheet, result.place.lat, result.place.lon, defs, frozenset(q.skills), q.age, q.radius_km, q.limit
        )
        mine = [
            (m.kind.value, m.key)
            for m in result.matches
            if m.level is MatchLevel.LOCAL and m.group == "within"
        ]
        if naive[: len(mine)] != mine:
            raise AssertionError(
                f"findResources and the naive scan differ for {q}: {mine[:5]} vs {naive[:5]}"
            )
        beyond = project_answer(result)[1]
        if beyond:
            widened += 1
            if (
                naive_beyond(sheet, result.place.lat, result.place.lon, defs, q.age, q.radius_km, len(beyond))
                != beyond
            ):
                raise AssertionError(f"widening differs from the naive scan for {q}")
    places = {id(q): r.place for q, r in zip(qs, results, strict=True)}

    def peer_args(q: SituationQuery) -> tuple[Any, ...]:
        place = places[id(q)]
        return (
            place.lat,
            place.lon,
            tuple(sorted(normalise_deficiencies(q.deficiencies))),
            tuple(sorted(q.skills)),
            q.age,
            q.radius_km,
            q.limit,
            land_mass(place.department),
        )

    arguments = {id(q): peer_args(q) for q in qs}
    methods: dict[str, Callable[[Any], Any]] = {
        # the project's full answer (ranking, explanations, teams, referents); read as
        # the peers' (kind, key) lists by ``check``, outside the timing
        "project": lambda q: find_resources(store, q),
        "numpy": lambda q: numpy_find(cols, *arguments[id(q)]),
        "cKDTree": lambda q: kdtree_find(cols, *arguments[id(q)]),
        "cKDTree per needs": lambda q: needs_kdtree_find(cols, *arguments[id(q)]),
        "floor": lambda q: find_floor(cols, places[id(q)].lat, places[id(q)].lon, q.radius_km),
    }

    def check(name: str, q: SituationQuery, mine: Any, theirs: Any) -> None:
        if name == "floor":
            return
        full, beyond, partial = project_answer(mine)
        if theirs[0] != full or theirs[1] != beyond or theirs[2][: len(partial)] != partial:
            raise AssertionError(f"the {name} peer answers {q} differently: {theirs[0][:3]} vs {full[:3]}")

    times = interleaved(methods, qs, rounds, check)
    for name, label in (
        ("project", "findResources in-process"),
        ("numpy", "peer numpy findResources"),
        ("cKDTree", "peer cKDTree findResources"),
        ("cKDTree per needs", "peer cKDTree per needs findResources"),
        ("floor", "floor findResources"),
    ):
        figures[f"{label} median (ms)"] = statistics.median(times[name])
        figures[f"{label} p95 (ms)"] = pct(times[name], 95)
    best = min(("numpy", "cKDTree", "cKDTree per needs"), key=lambda n: statistics.median(times[n]))
    figures["findResources / best peer, median (×)"] = statistics.median(
        times["project"]
    ) / statistics.median(times[best])
    figures["findResources / best peer, p95 (×)"] = pct(times["project"], 95) / pct(times[best], 95)
    figures["findResources / floor, median (×)"] = statistics.median(times["project"]) / statistics.median(
        times["floor"]
    )
    if not oracle:
        checks.append(
            f"findResources: {len(qs)} answers identical, over {rounds} interleaved rounds, to the numpy and "
            f"cKDTree peers (best peer: {best})"
        )
        return results
    naive_times = []
    for q, result in zip(qs[:50], results[:50], strict=True):
        start = time.perf_counter()
        naive_ranking(
            sheet,
            result.place.lat,
            result.place.lon,
            normalise_deficiencies(q.deficiencies),
            frozenset(q.skills),
            q.age,
            q.radius_km,
            q.limit,
        )
        naive_times.append((time.perf_counter() - start) * 1000)
    figures["naive findResources median (ms)"] = statistics.median(naive_times)
    checks.append(
        f"findResources: {len(qs)} answers identical to the naive scan ({widened} widened beyond the radius, also "
        f"identical) and, over {rounds} interleaved rounds, to the numpy and cKDTree peers (best peer: {best})"
    )
    return results


def coverage_versus_peers(
    store: GraphStore,
    combination: list[str],
    rounds: int,
    figures: dict[str, float],
    checks: list[str],
    oracle: bool = True,
) -> None:
    """Coverage of one combination against the cKDTree and numpy peers (interleaved)
    and the naive commune × resource loop (once): the same distances everywhere."""
    model = read_model(store)
    grid, table = model.communes, model.territories
    codes = normalise_deficiencies(combination)
    defs = tuple(sorted(codes))
    # the peers' own commune columns and national centres (read once, as a server loads)
    communes = [c for c in store.nodes(NodeKind.COMMUNE) if "lat" in c.props and "lon" in c.props]
    c_lats = np.array([float(c.props["lat"]) for c in communes])
    c_lons = np.array([float(c.props["lon"]) for c in communes])
    c_lands = np.array([land_mass(str(c.props["department"])) or "" for c in communes], str)
    c_xyz = to_unit_xyz(c_lats, c_lons)
    supply = _supply(store, codes, None, table)
    centres = []
    for code, _name, department in supply.national:
        node = store.get_node(NodeKind.CNRHR, code)
        assert node is not None
        centres.append((float(node.props["lat"]), float(node.props["lon"]), land_mass(department) or ""))
    cols = PeerColumns.load(Spreadsheet(store))
    mine = nearest_km(grid, supply.points, supply.departments, commune_lands(grid))
    order = [grid.position[c.key] for c in communes]
    tree_of_all = tree_of(supply.points)

    def same(name: str, theirs: np.ndarray) -> None:
        if not np.allclose(mine[order], theirs, atol=1e-6):
            raise AssertionError(f"the {name} coverage distances differ from the project's")

    methods: dict[str, Callable[[Any], Any]] = {
        "project": lambda _: coverage(store, combination),
        "cKDTree": lambda _: kdtree_coverage(cols, defs, c_xyz, c_lands, centres),
        "floor": lambda _: coverage_floor(tree_of_all, c_xyz),
    }

    def check(name: str, _item: Any, _mine: Any, theirs: Any) -> None:
        if name == "cKDTree":
            same(name, theirs)

    times = interleaved(methods, [None] * 15, rounds, check)
    figures["coverage, all communes, median (ms)"] = statistics.median(times["project"])
    figures["coverage, all communes, p95 (ms)"] = pct(times["project"], 95)
    figures["peer cKDTree coverage median (ms)"] = statistics.median(times["cKDTree"])
    figures["floor coverage median (ms)"] = statistics.median(times["floor"])
    figures["coverage / cKDTree peer, median (×)"] = statistics.median(times["project"]) / statistics.median(
        times["cKDTree"]
    )
    if not oracle:
        checks.append(
            f"coverage: {len(mine)} commune distances identical to the cKDTree peer's "
            f"({len(supply.points)} resources; {rounds} interleaved rounds)"
        )
        return
    start = time.perf_counter()
    same("numpy", numpy_coverage(cols, defs, c_lats, c_lons, c_lands, centres))
    figures["peer numpy coverage (ms)"] = (time.perf_counter() - start) * 1000
    lands = commune_lands(grid)
    points = list(zip(grid.lats.tolist(), grid.lons.tolist(), strict=True))
    point_lands = [land_mass(d) for d in supply.departments]
    start = time.perf_counter()
    naive_d = np.full(len(points), np.inf)  # on each land mass, its own resources only
    for land in {x for x in point_lands if x is not None}:
        here = np.flatnonzero(lands == land)
        naive_d[here] = naive_nearest_km(
            [points[i] for i in here],
            [p for p, x in zip(supply.points, point_lands, strict=True) if x == land],
        )
    figures["naive coverage (s)"] = time.perf_counter() - start
    if not np.allclose(naive_d, mine, atol=1e-6):
        raise AssertionError("coverage distances differ from the naive commune × resource scan")
    checks.append(
        f"coverage: {len(points)} commune distances identical to the naive scan and to the cKDTree and "
        f"numpy peers ({len(supply.points)} resources; {rounds} interleaved rounds)"
    )


def tree_of(points: Sequence[tuple[float, float]]) -> Any:
    """The floor's tree: every competent point at once, built before timing."""
    from scipy.spatial import cKDTree

    return cKDTree(to_unit_xyz(np.array([p[0] for p in points]), np.array([p[1] for p in points])))

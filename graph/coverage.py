"""Territorial coverage of a combination, gaps and what-if scenarios.

For every commune: the great-circle distance (km) to the nearest local
resource competent for the *whole* combination (same competence rules as
matching; optionally for a given age), and the estimated travel time of the
matching model. Aggregated per department, region or ERHR territory:
population, competent resources located there, resources per 100,000
inhabitants, population-weighted mean and median distance, the share of the
population beyond each threshold, and the demand side (open situations that
present the combination, and those beyond the threshold: "sans solution").
Every commune belongs to exactly one territory of a level, so populations add
up to the national population.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from graph.errors import InvalidInput
from graph.geo import estimated_minutes
from graph.matching import LOCAL_KINDS, competent_positions
from graph.model import Node, NodeKind, RelType, codes_of_combination, combination_key
from graph.nearest import (
    LandGroups,
    commune_lands,
    land_groups,
    nearest_km,
    stable_argsort,
    weighted_median,
    weighted_medians,
)
from graph.population import age_group, age_share
from graph.rare import CRITERIA, criterion_combinations, qualify
from graph.readmodel import CommuneGrid, ReadModel, read_model
from graph.store import GraphStore
from graph.territories import TerritoryKind, TerritoryTable, resolve_commune
from graph.views import display_name
from graph.vocabulary import normalise_deficiencies

__all__ = [
    "Level",
    "TerritoryCoverage",
    "CoverageResult",
    "GapCell",
    "GapMatrix",
    "Addition",
    "TerritoryDelta",
    "CommuneGrid",
    "coverage",
    "gaps",
    "what_if",
    "DEFAULT_THRESHOLDS_KM",
    "protect_counts",
    "hide_counts",
    "count_label",
    "DISCLOSURE_THRESHOLD_KM",
    "PARTNER_THRESHOLDS_KM",
]

K, R = NodeKind, RelType
DEFAULT_THRESHOLDS_KM = (30.0, 60.0, 100.0)
#: The only thresholds a partner may ask (see graph.service): with free ones,
#: "sans solution" at 25 and at 30 km differ by the few persons in between.
PARTNER_THRESHOLDS_KM = DEFAULT_THRESHOLDS_KM
#: The one threshold at which partners see "sans solution" counts. Counts at
#: 30, 60 and 100 km side by side would publish the bands between them (and
#: open minus "sans solution" the band within); with one threshold there are
#: two bands per territory, served and not, each checked by graph.disclosure.
DISCLOSURE_THRESHOLD_KM = 60.0


#: The levels of aggregation are the territory kinds.
Level = TerritoryKind


@dataclass(frozen=True, slots=True)
class TerritoryCoverage:
    code: str
    name: str
    population: int
    resources: int
    resources_per_100k: float
    mean_km: float | None  # None when no competent resource exists anywhere
    median_km: float | None
    mean_minutes: float | None
    share_beyond: dict[float, float]  # threshold km → share of the population (0..1)
    population_beyond: int  # beyond the main threshold
    open_situations: int | None  # None: suppressed (fewer than 11, or derivable by differencing)
    without_solution: int | None  # open situations beyond the main threshold ("sans solution")
    suppressed: bool = False
    #: False: the count is not published at all to this caller (a partner's one-age
    #: coverage or what-if; "sans solution" at another threshold than 60 km), as
    #: opposed to withheld because small ("< 11").
    open_published: bool = True
    unmet_published: bool = True
    #: inhabitants of communes whose land mass (an island, an overseas department)
    #: has no competent resource: beyond every threshold, left out of the distances
    population_unreachable: int = 0
    #: no source establishes local competence for the combination anywhere (not one
    #: local resource in France): « pas de donnée », never « zone blanche »
    no_data: bool = False

    @property
    def zone_blanche(self) -> bool:
        """No competent resource located in the territory, where some source could say one."""
        return self.resources == 0 and not self.no_data


@dataclass(frozen=True, slots=True)
class CoverageResult:
    combination: str
    level: Level
    threshold_km: float
    thresholds_km: tuple[float, ...]
    age: int | None
    national: TerritoryCoverage
    territories: tuple[TerritoryCoverage, ...]
    #: Situations counted are those whose combination is exactly this one (partners:
    #: overlapping combinations, DI and DI+EPI, would publish the few in between);
    #: otherwise those whose combination includes it.
    exact_counts: bool = False
    #: department → (open situations, without solution at the threshold, without
    #: solution at DISCLOSURE_THRESHOLD_KM): the finest demand counts, for small-cell
    #: suppression; never published as such.
    demand_by_department: dict[str, tuple[int, int, int]] = field(
        default_factory=dict, repr=False, compare=False
    )
    #: only local resources (no national centre) were counted
    local_only: bool = False
    #: the national centres counted where they stand: (code, name, department)
    national_centres: tuple[tuple[str, str, str], ...] = ()
    #: resources accepting each deficiency separately, and generalist ones (CAMSP),
    #: were counted as competent (the switch; by default they are not)
    separately: bool = False
    #: no local resource in France is competent for the combination by any source:
    #: the territories say « pas de donnée » (``TerritoryCoverage.no_data``)
    no_data: bool = False
    #: the age group whose inhabitants are counted when an age is given (« 0-17 ans »);
    #: None: all inhabitants
    population_group: str | None = None


def _age_weights(model: ReadModel, age: int | None) -> tuple[NDArray[np.float64] | None, str | None]:
    """Each commune's inhabitants of the age group of ``age`` (its population × its
    department's INSEE share), and the group's label; (None, None) without an age."""
    if age is None:
        return None, None
    first, last, label = age_group(age)
    grid = model.communes

    def build() -> NDArray[np.float64]:
        shares = {d: age_share(d, first, last) for d in set(grid.department)}
        weights = grid.population * np.array([shares[d] for d in grid.department], np.float64)
        weights.flags.writeable = False
        return weights

    return model.cached(("age weights", first, last), build), label


def _lands(model: ReadModel) -> tuple[NDArray[np.object_], LandGroups]:
    """Every commune's land mass, and the communes of each (kept per read-model state)."""
    grid = model.communes
    lands: NDArray[np.object_] = model.cached("commune lands", lambda: commune_lands(grid))
    return lands, model.cached("commune land groups", lambda: land_groups(grid, lands))


def _validate(
    level: Level | str, threshold_km: float, thresholds_km: Iterable[float] | None, age: int | None
) -> tuple[Level, tuple[float, ...]]:
    try:
        lvl = Level(str(level).upper())
    except ValueError:
        raise InvalidInput("level", "niveau attendu : DEPARTMENT, REGION ou ERHR.") from None
    if not 1 <= threshold_km <= 1000:
        raise InvalidInput("thresholdKm", "le seuil doit être compris entre 1 et 1000 km.")
    thresholds = tuple(
        sorted({float(t) for t in (thresholds_km or DEFAULT_THRESHOLDS_KM)} | {float(threshold_km)})
    )
    if any(not 1 <= t <= 1000 for t in thresholds) or len(thresholds) > 10:
        raise InvalidInput("thresholds", "jusqu'à 10 seuils, chacun entre 1 et 1000 km.")
    if age is not None and not 0 <= age <= 120:
        raise InvalidInput("age", "l'âge doit être compris entre 0 et 120 ans.")
    return lvl, thresholds


@dataclass(slots=True)
class _Supply:
    points: list[tuple[float, float]]
    departments: list[str]
    #: the national centres (CNRHR) counted where they stand: (code, name, department)
    national: list[tuple[str, str, str]] = field(default_factory=list)
    #: the communes (grid positions) some competent service declares it works in
    #: (its intervention zone, FINESS Activités): at 0 km of it, as in matching
    served: NDArray[np.int64] = field(default_factory=lambda: np.zeros(0, np.int64))


def _served(distances: NDArray[np.float64], supply: _Supply) -> NDArray[np.float64]:
    """The distances with the communes of competent services' intervention zones
    at 0 km: a SESSAD or a mobile team comes there, wherever its seat stands."""
    if supply.served.size == 0:
        return distances
    distances = distances.copy()
    distances[supply.served] = 0.0
    return distances


def _department_of_seat(store: GraphStore, centre: Node, lat: float, lon: float) -> str:
    """A national centre's department: its commune (LOCATED_IN), else the
    commune its position lies in (the nearest commune centre within 20 km)."""
    model = read_model(store)
    grid = model.communes
    located = [e.target.key for e in store.edges_from([centre.ref], [R.LOCATED_IN])[centre.ref]]
    commune = located[0] if located else None
    if commune is None:
        nearest = model.commune_of(lat, lon)
        commune = nearest[0] if nearest and nearest[1] <= 20 else None
    if commune is None or commune not in grid.position:
        return ""
    return str(grid.department[grid.position[commune]])


def _supply(
    store: GraphStore,
    codes: frozenset[str],
    age: int | None,
    table: TerritoryTable,
    local_only: bool = False,
    separately: bool = False,
) -> _Supply:
    """The competent local resources, and (unless ``local_only``) the national
    centres competent for the combination by their D312-194 criteria, each at
    its seat (CRESAM in Vienne serves Vienne for deafblindness as a resource).
    Rare-combination competence only, unless ``separately`` (see
    ``graph.matching.competent_positions``)."""
    model = read_model(store)
    idx = model.competence
    positions, _tiers = competent_positions(idx, codes, age=age, kinds=LOCAL_KINDS, separately=separately)
    grid = model.communes
    zones = idx.zone_codes[np.isin(idx.zone_at, positions)] if idx.zone_at.size else idx.zone_codes[:0]
    supply = _Supply(
        list(zip(idx.lats[positions].tolist(), idx.lons[positions].tolist(), strict=True)),
        idx.departments[positions].tolist(),
        served=np.array(
            sorted({grid.position[c] for c in zones.tolist() if c in grid.position}), dtype=np.int64
        ),
    )
    if local_only:
        return supply
    for code in qualify(codes).cnrhr:
        centre = store.get_node(K.CNRHR, code)
        if centre is None or "lat" not in centre.props or "lon" not in centre.props:
            continue
        lat, lon = float(centre.props["lat"]), float(centre.props["lon"])
        department = _department_of_seat(store, centre, lat, lon)
        if not department:
            continue  # where it stands is unknown: not counted rather than guessed
        supply.points.append((lat, lon))
        supply.departments.append(department)
        supply.national.append((code, display_name(centre.props, code), department))
    return supply


def _demand(
    store: GraphStore, codes: frozenset[str], grid: CommuneGrid, exact: bool = False
) -> NDArray[np.int64]:
    """Commune positions of the open situations whose combination includes
    ``codes`` (with ``exact``: is exactly ``codes``); kept per read-model state."""

    def build() -> NDArray[np.int64]:
        result: list[int] = []
        for combination, (communes, is_open) in sorted(read_model(store).competence.demand.items()):
            present = codes_of_combination(combination)
            if present == codes if exact else codes <= present:
                result += [
                    grid.position[c]
                    for c, o in zip(communes, is_open, strict=True)
                    if o and c in grid.position
                ]
        found = np.array(result, dtype=np.int64)
        found.flags.writeable = False
        return found

    return read_model(store).cached(("demand", codes, exact), build)  # type: ignore[no-any-return]


def _owners(grid: CommuneGrid, level: Level, table: TerritoryTable) -> dict[str, int]:
    """Department code → the index of its territory of ``level`` in ``grid.territory_codes``."""
    lookup = {c: i for i, c in enumerate(grid.territory_codes[level])}
    owners = {}
    for dep, node in table.departments.items():
        owner = {
            Level.DEPARTMENT: dep,
            Level.REGION: str(node.props["region"]),
            Level.ERHR: table.erhr_of_department.get(dep, ""),
        }[level]
        if owner in lookup:
            owners[dep] = lookup[owner]
    return owners


def _aggregate(
    grid: CommuneGrid,
    level: Level,
    distances: NDArray[np.float64],
    supply_departments: list[str],
    demand: NDArray[np.int64],
    threshold_km: float,
    thresholds: tuple[float, ...],
    table: TerritoryTable,
    owners: dict[str, int] | None = None,
    weights: NDArray[np.float64] | None = None,
) -> tuple[TerritoryCoverage, list[TerritoryCoverage]]:
    """``weights``: each commune's inhabitants of the age group asked (default: all)."""
    codes, names = grid.territory_codes[level], grid.territory_names[level]
    of = grid.territory_of[level]
    m = len(codes)
    owners = owners if owners is not None else _owners(grid, level, table)
    located = [owners[d] for d in supply_departments if d in owners]
    resources = np.bincount(np.array(located, dtype=np.int64), minlength=m)
    demand = np.asarray(demand, dtype=np.int64)
    unmet = demand[distances[demand] > threshold_km]
    demand_of = np.bincount(of[demand], minlength=m)
    unmet_of = np.bincount(of[unmet], minlength=m)
    # Every territory at once: population-weighted sums by territory index.
    population = grid.population if weights is None else weights
    total = np.bincount(of, weights=population, minlength=m)
    # Distances are means and medians over the communes that have a competent
    # resource on their land mass; the others are counted apart (unreachable).
    reachable = np.isfinite(distances)
    reach_pop = np.bincount(of, weights=population * reachable, minlength=m)
    weighted = np.bincount(of, weights=np.where(reachable, distances, 0.0) * population, minlength=m)
    beyond = {t: np.bincount(of, weights=population * (distances > t), minlength=m) for t in thresholds}
    values, weights = distances[reachable], population[reachable]
    by_value = stable_argsort(values)  # one sort for the national and every territory's median
    medians = (
        weighted_medians(of[reachable], values, weights, m, by_value)
        if reachable.any()
        else np.full(m, np.nan)
    )
    rows = []
    for i, code in enumerate(codes):
        pop, reached = float(total[i]), float(reach_pop[i])
        mean = float(weighted[i] / reached) if reached > 0 else None
        median = float(medians[i]) if reached > 0 and np.isfinite(medians[i]) else None
        rows.append(
            _row(
                code,
                names[i],
                pop,
                mean,
                median,
                {t: float(beyond[t][i]) for t in thresholds},
                int(resources[i]),
                int(demand_of[i]),
                int(unmet_of[i]),
                threshold_km,
                int(round(pop - reached)),
            )
        )
    national = _summary(
        "FR",
        "France",
        population,
        distances,
        len(supply_departments),
        len(demand),
        len(unmet),
        threshold_km,
        thresholds,
        by_value,
    )
    return national, rows


def _row(
    code: str,
    name: str,
    total: float,
    mean: float | None,
    median: float | None,
    beyond: dict[float, float],
    resources: int,
    open_situations: int,
    without_solution: int,
    threshold_km: float,
    unreachable: int = 0,
) -> TerritoryCoverage:
    return TerritoryCoverage(
        code=code,
        name=name,
        population=int(total),
        resources=resources,
        resources_per_100k=round(resources / total * 100_000, 3) if total > 0 else 0.0,
        mean_km=None if mean is None else round(mean, 2),
        median_km=None if median is None else round(median, 2),
        mean_minutes=None if mean is None else estimated_minutes(mean),
        share_beyond={t: round(b / total, 6) if total > 0 else 0.0 for t, b in beyond.items()},
        population_beyond=int(beyond[threshold_km]),
        open_situations=open_situations,
        without_solution=without_solution,
        population_unreachable=unreachable,
    )


def _summary(
    code: str,
    name: str,
    population: NDArray[np.float64],
    distances: NDArray[np.float64],
    resources: int,
    open_situations: int,
    without_solution: int,
    threshold_km: float,
    thresholds: tuple[float, ...],
    by_value: NDArray[np.int64] | None = None,
) -> TerritoryCoverage:
    """One territory from its communes' populations and distances (the national
    row). ``by_value``: the stable argsort of its reachable distances, if known."""
    total = float(population.sum())
    mean: float | None = None
    median: float | None = None
    reachable = np.isfinite(distances)
    reached = float(population[reachable].sum())
    if reached > 0:  # else: no competent resource at all
        mean = float((distances[reachable] * population[reachable]).sum() / reached)
        median = weighted_median(distances[reachable], population[reachable], by_value)
    beyond = {t: float(population[distances > t].sum()) for t in thresholds}
    return _row(
        code,
        name,
        total,
        mean,
        median,
        beyond,
        resources,
        open_situations,
        without_solution,
        threshold_km,
        int(round(total - reached)),
    )


def coverage(
    store: GraphStore,
    deficiencies: Iterable[str],
    *,
    level: Level | str = Level.DEPARTMENT,
    threshold_km: float = 60.0,
    thresholds_km: Iterable[float] | None = None,
    age: int | None = None,
    exact_counts: bool = False,
    local_only: bool = False,
    separately: bool = False,
) -> CoverageResult:
    """Coverage of one combination over every commune, aggregated per territory.
    Situations are counted when their combination includes this one, or with
    ``exact_counts`` when it is exactly this one (what partners see).
    Competent means rare-combination competence (``separately``: also the
    resources accepting each deficiency separately, and generalist ones)."""
    codes = normalise_deficiencies(deficiencies)
    lvl, thresholds = _validate(level, threshold_km, thresholds_km, age)
    model = read_model(store)
    table, grid = model.territories, model.communes
    supply = _supply(store, codes, age, table, local_only, separately)
    distances = _served(nearest_km(grid, supply.points, supply.departments, *_lands(model)), supply)
    demand = _demand(store, codes, grid, exact_counts)
    weights, group = _age_weights(model, age)
    national, rows = _aggregate(
        grid,
        lvl,
        distances,
        supply.departments,
        demand,
        threshold_km,
        thresholds,
        table,
        model.cached(("owners", lvl), lambda: _owners(grid, lvl, table)),
        weights,
    )
    no_data = len(supply.points) == len(supply.national)  # no local resource anywhere
    if no_data:
        from dataclasses import replace

        rows = [replace(r, no_data=True) for r in rows]
        national = replace(national, no_data=True)
    return CoverageResult(
        combination_key(list(codes)),
        lvl,
        threshold_km,
        thresholds,
        age,
        national,
        tuple(rows),
        exact_counts,
        _demand_by_department(grid, demand, distances, threshold_km),
        local_only=local_only,
        national_centres=tuple(supply.national),
        separately=separately,
        no_data=no_data,
        population_group=group,
    )


def _demand_by_department(
    grid: CommuneGrid, demand: NDArray[np.int64], distances: NDArray[np.float64], threshold_km: float
) -> dict[str, tuple[int, int, int]]:
    """Department → (open situations, beyond the threshold, beyond DISCLOSURE_THRESHOLD_KM)."""
    of = grid.territory_of[Level.DEPARTMENT][demand]
    m = len(grid.territory_codes[Level.DEPARTMENT])
    cells = np.stack(
        [
            np.bincount(of, minlength=m),
            np.bincount(of[distances[demand] > threshold_km], minlength=m),
            np.bincount(of[distances[demand] > DISCLOSURE_THRESHOLD_KM], minlength=m),
        ],
        axis=1,
    )
    codes = grid.territory_codes[Level.DEPARTMENT]
    return {
        codes[i]: (c[0], c[1], c[2])
        for i, c in zip(np.flatnonzero(cells[:, 0]).tolist(), cells[cells[:, 0] > 0].tolist(), strict=True)
    }


# -- gaps -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class GapCell:
    criterion: str
    combination: str
    share_beyond: float
    population_beyond: int
    resources: int
    zone_blanche: bool
    without_solution: int | None
    unmet_published: bool = True
    #: no source establishes local competence for this criterion anywhere: « pas de donnée »
    no_data: bool = False


def count_label(value: int | None, published: bool = True) -> str:
    """A situation count as read by a person: the number, « < 11 » when withheld
    as small (or derivable), « non publié » when not published to this caller."""
    if not published:
        return "non publié"
    return "< 11" if value is None else str(value)


@dataclass(frozen=True, slots=True)
class GapMatrix:
    level: Level
    threshold_km: float
    criteria: tuple[tuple[str, str, str], ...]  # (criterion code, label, typical combination)
    territories: tuple[tuple[str, str, tuple[GapCell, ...]], ...]  # (code, name, one cell per criterion)


def gaps(
    store: GraphStore,
    *,
    level: Level | str = Level.DEPARTMENT,
    threshold_km: float = 60.0,
    protect: Callable[[CoverageResult], CoverageResult] | None = None,
    exact_counts: bool = False,
    separately: bool = False,
) -> GapMatrix:
    """Territory × D312-194 criterion (each criterion's typical combination),
    territories ranked by total population beyond the threshold. A criterion
    no source establishes anywhere is « pas de donnée », not « zone blanche »."""
    lvl, _ = _validate(level, threshold_km, None, None)
    model = read_model(store)
    grid = model.communes
    criteria = tuple((c, CRITERIA[c].label, criterion_combinations(c)[0]) for c in CRITERIA)
    columns = [
        coverage(
            store,
            combo.split("+"),
            level=lvl,
            threshold_km=threshold_km,
            thresholds_km=[threshold_km],
            exact_counts=exact_counts,
            separately=separately,
        )
        for _, _, combo in criteria
    ]
    if protect is not None:
        columns = [protect(column) for column in columns]
    rows = []
    for i, code in enumerate(grid.territory_codes[lvl]):
        cells = tuple(
            GapCell(
                criterion=criteria[j][0],
                combination=criteria[j][2],
                share_beyond=col.territories[i].share_beyond[threshold_km],
                population_beyond=col.territories[i].population_beyond,
                resources=col.territories[i].resources,
                zone_blanche=col.territories[i].zone_blanche,
                without_solution=col.territories[i].without_solution,
                unmet_published=col.territories[i].unmet_published,
                no_data=col.territories[i].no_data,
            )
            for j, col in enumerate(columns)
        )
        rows.append((code, grid.territory_names[lvl][i], cells))
    rows.sort(key=lambda r: (-sum(c.population_beyond for c in r[2]), r[0]))
    return GapMatrix(lvl, threshold_km, criteria, tuple(rows))


# -- what-if ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Addition:
    """A hypothetical resource competent for ``deficiencies``, placed at a commune."""

    commune: str
    deficiencies: Iterable[str]


@dataclass(frozen=True, slots=True)
class TerritoryDelta:
    code: str
    name: str
    before: TerritoryCoverage
    after: TerritoryCoverage

    @property
    def population_gained(self) -> int:
        """Inhabitants brought within the threshold by the additions."""
        return self.before.population_beyond - self.after.population_beyond


def what_if(
    store: GraphStore,
    deficiencies: Iterable[str],
    additions: Sequence[Addition],
    *,
    level: Level | str = Level.DEPARTMENT,
    threshold_km: float = 60.0,
    age: int | None = None,
) -> tuple[CoverageResult, CoverageResult, tuple[TerritoryDelta, ...]]:
    """Coverage before and after adding hypothetical resources (nothing is written).
    An addition counts when its deficiencies include the whole combination."""
    codes = normalise_deficiencies(deficiencies)
    if not additions or len(additions) > 20:
        raise InvalidInput("additions", "indiquez de 1 à 20 ressources hypothétiques.")
    lvl, thresholds = _validate(level, threshold_km, None, age)
    model = read_model(store)
    table, grid = model.territories, model.communes
    supply = _supply(store, codes, age, table)
    extra_points, extra_departments = [], []
    for addition in additions:
        added = normalise_deficiencies(addition.deficiencies)
        commune = resolve_commune(store, addition.commune)
        if codes <= added:
            extra_points.append((float(commune.props["lat"]), float(commune.props["lon"])))
            extra_departments.append(str(commune.props["department"]))
    demand = _demand(store, codes, grid)
    key = combination_key(list(codes))
    results = []
    for points, departments in (
        (supply.points, supply.departments),
        (supply.points + extra_points, supply.departments + extra_departments),
    ):
        distances = _served(nearest_km(grid, points, departments, *_lands(model)), supply)
        weights, group = _age_weights(model, age)
        national, rows = _aggregate(
            grid, lvl, distances, departments, demand, threshold_km, thresholds, table, weights=weights
        )
        results.append(
            CoverageResult(
                key,
                lvl,
                threshold_km,
                thresholds,
                age,
                national,
                tuple(rows),
                False,
                _demand_by_department(grid, demand, distances, threshold_km),
                national_centres=tuple(supply.national),
                population_group=group,
            )
        )
    before, after = results
    deltas = tuple(
        TerritoryDelta(b.code, b.name, b, a)
        for b, a in zip(before.territories, after.territories, strict=True)
        if b != a
    )
    return before, after, tuple(sorted(deltas, key=lambda d: (-d.population_gained, d.code)))


def hide_counts(result: CoverageResult) -> CoverageResult:
    """The same result with every situation count withheld (what-if answers and
    age-specific coverage for partners: see ``graph.service``)."""
    from dataclasses import replace

    def hidden(row: TerritoryCoverage) -> TerritoryCoverage:
        return replace(
            row,
            open_situations=None,
            without_solution=None,
            suppressed=True,
            open_published=False,
            unmet_published=False,
        )

    return replace(
        result,
        national=hidden(result.national),
        territories=tuple(hidden(t) for t in result.territories),
        demand_by_department={},
    )


def protect_counts(result: CoverageResult, table: TerritoryTable) -> CoverageResult:
    """The same result with situation counts suppressed for partners
    (:mod:`graph.disclosure`): "< 11" and anything derivable by differencing
    territories, or open situations against "sans solution". The counts are
    those of the exact combination (``exact_counts``: the combinations' classes
    are disjoint, so no two combinations can be differenced), and "sans
    solution" is published at :data:`DISCLOSURE_THRESHOLD_KM` only. What is
    withheld does not depend on the threshold asked."""
    from dataclasses import replace

    from graph.disclosure import Tree, suppressed_tails

    tree = Tree(
        region_of={d: str(n.props["region"]) for d, n in table.departments.items()},
        erhr_of={
            r: table.erhr_of_department[d]
            for d, n in table.departments.items()
            for r in [str(n.props["region"])]
        },
    )
    cells = {d: result.demand_by_department.get(d, (0, 0, 0)) for d in table.departments}
    served = {d: total - unmet for d, (total, _, unmet) in cells.items()}
    unmet_at = {d: unmet for d, (_, _, unmet) in cells.items()}
    hidden = suppressed_tails([served, unmet_at], tree)  # [open situations, "sans solution"]
    shown_unmet = result.threshold_km == DISCLOSURE_THRESHOLD_KM

    def masked(row: TerritoryCoverage, level: str) -> TerritoryCoverage:
        open_hidden = row.code in hidden[0][level]
        unmet_hidden = not shown_unmet or row.code in hidden[1][level]
        return replace(
            row,
            open_situations=None if open_hidden else row.open_situations,
            without_solution=None if unmet_hidden else row.without_solution,
            suppressed=open_hidden or unmet_hidden,
            unmet_published=shown_unmet,
        )

    return replace(
        result,
        national=masked(result.national, "NATIONAL"),
        territories=tuple(masked(t, result.level.value) for t in result.territories),
        demand_by_department={},
    )

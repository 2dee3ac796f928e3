"""The transition radar: which followed young people will need an adult place, where, and when.

Children's medico-social services take young people up to 20 (CASF annexes
XXIV; the « amendement Creton » keeps some longer while they wait, the break
the radar exists to prevent). From the situations the ERHR follow
(pseudonymous, open, with an age and a combination), the radar counts the
young people who reach ``CHILD_SERVICES_END`` within 1, 2 and 3 years — their
age now is the age recorded plus the years since the situation was opened —
per territory and per D312-194 criterion, and, of those, how many have **no
adult service competent for their combination** within the travel threshold:
the expected deficit of each territory for each year.

What is an adult service competent for the combination is what coverage reads
(``graph.matching.competent_positions`` at age ``CHILD_SERVICES_END``: expertise
on the combination or on each deficiency, never a category that only accepts
each deficiency separately), on the person's land mass, that is not itself a
children's service (an age band ending by 20). Capacities are not
counted: no source the project imports declares them yet (the 2026 FINESS
flows will), and the radar says so.

Who sees what: the GNCHR every figure and every young person; an ERHR its own
territory's young people (pseudonyms, with their situation page) and its own
territory's figures only; a partner every territory's figures with the
small-count rule applied over the whole family of published figures (years,
territories, criteria; :func:`protect_radar`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np

from graph.coverage import DISCLOSURE_THRESHOLD_KM
from graph.disclosure import SMALL_CELL, Tree, suppressed_cells
from graph.errors import InvalidInput
from graph.geo import haversine_km_many
from graph.landmass import land_mass
from graph.matching import LOCAL_KINDS, competent_positions
from graph.model import NodeKind, RelType, codes_of_combination
from graph.rare import CRITERIA, qualify
from graph.readmodel import read_model
from graph.store import GraphStore
from graph.territories import TerritoryKind, TerritoryTable, resolve_commune
from graph.views import SituationFacts
from graph.vocabulary import normalise_deficiencies

__all__ = [
    "CHILD_SERVICES_END",
    "HORIZONS",
    "OTHER",
    "YoungPerson",
    "RadarRow",
    "Radar",
    "Hypothesis",
    "transition_radar",
    "protect_radar",
    "restrict_to_territory",
    "criterion_of",
]

K, R = NodeKind, RelType

#: The age at which children's services end (CASF annexes XXIV: « jusqu'à 20 ans »).
CHILD_SERVICES_END = 20
#: Within how many years the radar looks ahead.
HORIZONS = (1, 2, 3)
#: The criterion of a combination that matches none of D312-194 (still followed by an ERHR).
OTHER = "autre"
_LEVELS = {"DEPARTMENT": TerritoryKind.DEPARTMENT, "REGION": TerritoryKind.REGION, "ERHR": TerritoryKind.ERHR}


@dataclass(frozen=True, slots=True)
class YoungPerson:
    """One followed young person reaching the end of children's services (pseudonym only)."""

    key: str
    age: int  # now
    years_left: int  # 1..3: before CHILD_SERVICES_END
    combination: str
    criterion: str  # the first D312-194 criterion of the combination, or OTHER
    department: str
    erhr: str | None
    commune: str
    #: the nearest adult service competent for the combination (km, great circle), None: none on this land
    nearest_km: float | None
    within_reach: bool
    synthetic: bool


@dataclass(frozen=True, slots=True)
class RadarRow:
    """One territory's figures, within 1, 2 and 3 years (cumulative). None: withheld (« < 11 »)."""

    code: str
    name: str
    needing: tuple[int | None, ...]
    deficit: tuple[int | None, ...]
    withheld: bool = False


@dataclass(frozen=True, slots=True)
class Radar:
    level: TerritoryKind
    threshold_km: float
    criterion: str | None  # None: every criterion
    as_of: str  # ISO date the ages are computed at
    national: RadarRow
    territories: tuple[RadarRow, ...]
    people: tuple[YoungPerson, ...]  # empty for a partner
    #: open situations with an age, in what the caller may see (None: withheld, « < 11 »)
    situations_followed: int | None
    synthetic: bool  # built from the demo's synthetic situations
    capacities_known: bool = False
    #: open situations with an age per ERHR (for an ERHR's own radar; empty for a partner)
    followed_by_erhr: tuple[tuple[str, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Hypothesis:
    """A hypothetical adult service: where, for which deficiencies, how many places (None: not limited)."""

    commune: str
    deficiencies: Iterable[str]
    places: int | None = None


@dataclass(slots=True)
class _Added:
    """A hypothesis placed: where, what it covers, the places left (None: not limited)."""

    lat: float
    lon: float
    codes: frozenset[str]
    land: str | None
    places: int | None


def criterion_of(codes: frozenset[str]) -> str:
    """The first D312-194 criterion a combination matches (the radar's partition), or OTHER."""
    try:
        found = qualify(codes).criteria
    except InvalidInput:
        return OTHER
    return found[0].code if found else OTHER


def _age_now(facts: SituationFacts, as_of: date) -> int | None:
    if facts.age is None:
        return None
    if not facts.opened_on:
        return facts.age
    try:
        opened = date.fromisoformat(facts.opened_on[:10])
    except ValueError:
        return facts.age
    years = as_of.year - opened.year - ((as_of.month, as_of.day) < (opened.month, opened.day))
    return facts.age + max(0, years)


def _validate(level: str, threshold_km: float, criterion: str | None) -> tuple[TerritoryKind, str | None]:
    found = _LEVELS.get(str(level).upper())
    if found is None:
        raise InvalidInput("level", "niveau attendu : DEPARTMENT, REGION ou ERHR.")
    if not 1 <= threshold_km <= 1000:
        raise InvalidInput("thresholdKm", "le seuil doit être compris entre 1 et 1000 km.")
    if criterion is not None and criterion not in CRITERIA and criterion != OTHER:
        raise InvalidInput(
            "criterion", f"critère inconnu : « {criterion[:10]} » (1, 2, 3, 4, 5a-5d ou autre)."
        )
    return found, criterion


def _people(
    store: GraphStore, as_of: date, threshold_km: float, hypotheses: Sequence[Hypothesis]
) -> tuple[list[YoungPerson], dict[str, int], bool]:
    """Every followed young person within the horizon, the open situations with
    an age, and whether any of them is synthetic."""
    model = read_model(store)
    idx = model.competence
    situations = [s for s in store.nodes(K.SITUATION) if SituationFacts.of(s).status == "open"]
    out = store.edges_from([s.ref for s in situations], [R.PRESENTS, R.LIVES_IN])
    communes = store.get_nodes(
        K.COMMUNE, sorted({e.target.key for edges in out.values() for e in edges if e.type is R.LIVES_IN})
    )
    added = []
    for hypothesis in hypotheses:
        seat = resolve_commune(store, hypothesis.commune)
        added.append(
            _Added(
                float(seat.props["lat"]),
                float(seat.props["lon"]),
                normalise_deficiencies(hypothesis.deficiencies),
                land_mass(str(seat.props.get("department", ""))),
                hypothesis.places,
            )
        )
    supply: dict[tuple[frozenset[str], str | None], tuple[np.ndarray, np.ndarray]] = {}
    followed: dict[str, int] = {}
    synthetic = False
    found: list[YoungPerson] = []
    candidates = []
    for situation in situations:
        facts = SituationFacts.of(situation)
        age = _age_now(facts, as_of)
        if age is None:
            continue
        followed[facts.erhr or ""] = followed.get(facts.erhr or "", 0) + 1
        synthetic = synthetic or facts.synthetic
        years_left = CHILD_SERVICES_END - age
        if years_left not in HORIZONS:
            continue
        combination = next((e.target.key for e in out[situation.ref] if e.type is R.PRESENTS), None)
        place = next((e.target.key for e in out[situation.ref] if e.type is R.LIVES_IN), None)
        commune = communes.get(place or "")
        if combination is None or commune is None or "lat" not in commune.props:
            continue
        candidates.append((situation.key, facts, age, years_left, combination, commune))
    # the most urgent first: they are the first a hypothetical service's places go to
    candidates.sort(key=lambda c: (c[3], c[0]))
    for key, facts, age, years_left, combination, commune in candidates:
        codes = codes_of_combination(combination)
        department = str(commune.props.get("department") or facts.department)
        land = land_mass(department)
        lat, lon = float(commune.props["lat"]), float(commune.props["lon"])
        if (codes, land) not in supply:
            positions, _tiers = competent_positions(idx, codes, age=CHILD_SERVICES_END, kinds=LOCAL_KINDS)
            positions = positions[idx.land_mask(land)[positions]] if land is not None else positions
            positions = positions[~(idx.age_max[positions] <= CHILD_SERVICES_END)]  # not a children's service
            supply[(codes, land)] = (idx.lats[positions], idx.lons[positions])
        lats, lons = supply[(codes, land)]
        nearest = float(haversine_km_many(lat, lon, lats, lons).min()) if lats.size else math.inf
        if nearest > threshold_km:
            for extra in added:
                if codes <= extra.codes and extra.land == land and extra.places != 0:
                    distance = float(
                        haversine_km_many(lat, lon, np.array([extra.lat]), np.array([extra.lon]))[0]
                    )
                    if distance <= threshold_km:
                        nearest = min(nearest, distance)
                        if extra.places is not None:
                            extra.places -= 1
                        break
        found.append(
            YoungPerson(
                key,
                age,
                years_left,
                combination,
                criterion_of(codes),
                department,
                facts.erhr,
                commune.key,
                None if math.isinf(nearest) else round(nearest, 1),
                nearest <= threshold_km,
                facts.synthetic,
            )
        )
    return found, followed, synthetic


def _counts(people: Iterable[YoungPerson]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    needing = [0] * len(HORIZONS)
    deficit = [0] * len(HORIZONS)
    for person in people:
        for i, horizon in enumerate(HORIZONS):
            if person.years_left <= horizon:
                needing[i] += 1
                deficit[i] += not person.within_reach
    return tuple(needing), tuple(deficit)


def _territory_of(table: TerritoryTable, level: TerritoryKind, department: str) -> str | None:
    if level is TerritoryKind.DEPARTMENT:
        return department if department in table.departments else None
    node = table.departments.get(department)
    if node is None:
        return None
    region = str(node.props.get("region", ""))
    return region if level is TerritoryKind.REGION else table.erhr_of_department.get(department)


def transition_radar(
    store: GraphStore,
    *,
    level: str = "DEPARTMENT",
    threshold_km: float = 60.0,
    criterion: str | None = None,
    as_of: date | None = None,
    hypotheses: Sequence[Hypothesis] = (),
) -> Radar:
    """The radar's exact figures and young people (see module doc); ``hypotheses``:
    adult services added for a what-if (nothing is written)."""
    lvl, wanted = _validate(level, threshold_km, criterion)
    if len(hypotheses) > 20:
        raise InvalidInput("hypotheses", "indiquez au plus 20 services hypothétiques.")
    for hypothesis in hypotheses:
        if hypothesis.places is not None and not 0 <= hypothesis.places <= 10_000:
            raise InvalidInput("places", "le nombre de places doit être compris entre 0 et 10 000.")
    day = as_of or date.today()
    table = read_model(store).territories
    people, followed, synthetic = _people(store, day, threshold_km, hypotheses)
    chosen = [p for p in people if wanted is None or p.criterion == wanted]
    by_territory: dict[str, list[YoungPerson]] = {}
    for person in chosen:
        code = _territory_of(table, lvl, person.department)
        if code is not None:
            by_territory.setdefault(code, []).append(person)
    names = {
        TerritoryKind.DEPARTMENT: table.departments,
        TerritoryKind.REGION: table.regions,
        TerritoryKind.ERHR: table.erhr,
    }[lvl]
    rows = []
    for code in sorted(names):
        needing, deficit = _counts(by_territory.get(code, ()))
        rows.append(RadarRow(code, str(names[code].props.get("name", code)), needing, deficit))
    needing, deficit = _counts(chosen)
    return Radar(
        lvl,
        threshold_km,
        wanted,
        day.isoformat(),
        RadarRow("FR", "France", needing, deficit),
        tuple(rows),
        tuple(sorted(chosen, key=lambda p: (p.within_reach, p.years_left, p.key))),
        sum(followed.values()),
        synthetic,
        followed_by_erhr=tuple(sorted(followed.items())),
    )


def restrict_to_territory(radar: Radar, table: TerritoryTable, erhr: str) -> Radar:
    """An ERHR's radar: its own young people, and the figures of its own territory only."""
    own_departments = {d for d, e in table.erhr_of_department.items() if e == erhr}
    people = tuple(p for p in radar.people if p.department in own_departments or p.erhr == erhr)

    def own(row: RadarRow) -> bool:
        if radar.level is TerritoryKind.ERHR:
            return row.code == erhr
        if radar.level is TerritoryKind.DEPARTMENT:
            return row.code in own_departments
        return any(
            str(table.departments[d].props.get("region", "")) == row.code
            for d in own_departments
            if d in table.departments
        )

    needing, deficit = _counts(people)
    territory = table.erhr.get(erhr)
    name = str(territory.props.get("name", erhr)) if territory is not None else erhr
    rows = []
    for row in radar.territories:
        if own(row):
            members = [p for p in people if _territory_of(table, radar.level, p.department) == row.code]
            n, d = _counts(members)
            rows.append(replace(row, needing=n, deficit=d))
    return replace(
        radar,
        national=RadarRow(erhr, name, needing, deficit),
        territories=tuple(rows),
        people=people,
        situations_followed=dict(radar.followed_by_erhr).get(erhr, 0),
        followed_by_erhr=(),
    )


def protect_radar(store: GraphStore, radar: Radar, table: TerritoryTable) -> Radar:
    """A partner's radar: no young person, and every count that is below 11 or
    derivable by differencing the family of published figures withheld.

    The family's cells are (criterion, year, within reach or not) per department:
    a partition of the young people (each has one criterion, one year left, one
    status). Each cell band is checked on the territory tree
    (:func:`graph.disclosure.suppressed_cells`, an empty cell isolating nobody),
    and a figure — a sum of cells: a criterion or all of them, the years up to
    a horizon, everyone or those without an adult service — is published only
    where each of its cells is publishable and it is 0 or at least 11. Every
    published figure is then a sum of safe, disjoint cells, so no combination
    of published figures (across years, territories and criteria, whatever the
    threshold asked) isolates 1 to 10 persons. Deficits are published at
    ``DISCLOSURE_THRESHOLD_KM`` only (at two thresholds they would difference
    to the persons in between), as coverage's « sans solution »."""
    # The cells at the one threshold partners read deficits at: deficits at two
    # thresholds would difference to the persons in between.
    everyone = transition_radar(
        store,
        level=radar.level.value,
        threshold_km=DISCLOSURE_THRESHOLD_KM,
        as_of=date.fromisoformat(radar.as_of),
    ).people
    tree = Tree(
        region_of={d: str(n.props["region"]) for d, n in table.departments.items()},
        erhr_of={
            str(n.props["region"]): table.erhr_of_department[d]
            for d, n in table.departments.items()
            if d in table.erhr_of_department
        },
    )
    criteria = sorted({p.criterion for p in everyone} | set(CRITERIA) | {OTHER})
    bands: dict[tuple[str, int, bool], dict[str, int]] = {
        (c, y, s): {} for c in criteria for y in HORIZONS for s in (True, False)
    }
    for person in everyone:
        band = bands[(person.criterion, person.years_left, person.within_reach)]
        band[person.department] = band.get(person.department, 0) + 1
    hidden = {cell: suppressed_cells(band, tree, zero_is_safe=True) for cell, band in bands.items()}
    level = radar.level.value
    wanted = [radar.criterion] if radar.criterion is not None else criteria

    def figure(value: int | None, code: str, at: str, horizon: int, unmet_only: bool) -> int | None:
        cells = [
            (c, y, s)
            for c in wanted
            for y in HORIZONS
            if y <= horizon
            for s in ((False,) if unmet_only else (True, False))
        ]
        if any(code in hidden[cell][at] for cell in cells):
            return None
        if value is None or 0 < value < SMALL_CELL:
            return None
        return value

    def masked(row: RadarRow, at: str) -> RadarRow:
        needing = tuple(figure(v, row.code, at, h, False) for v, h in zip(row.needing, HORIZONS, strict=True))
        deficit = tuple(
            figure(v, row.code, at, h, True) if radar.threshold_km == DISCLOSURE_THRESHOLD_KM else None
            for v, h in zip(row.deficit, HORIZONS, strict=True)
        )
        return replace(row, needing=needing, deficit=deficit, withheld=None in needing + deficit)

    return replace(
        radar,
        national=masked(radar.national, "NATIONAL"),
        territories=tuple(masked(row, level) for row in radar.territories),
        people=(),
        situations_followed=(
            radar.situations_followed
            if radar.situations_followed is not None and not 0 < radar.situations_followed < SMALL_CELL
            else None
        ),
        followed_by_erhr=(),
    )


def by_department(people: Iterable[YoungPerson]) -> Mapping[str, int]:
    """Young people per department (the map's points are never persons)."""
    counts: dict[str, int] = {}
    for person in people:
        counts[person.department] = counts.get(person.department, 0) + 1
    return counts

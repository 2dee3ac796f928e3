"""Yearly activity figures: the ERHR's active file, and the pôles ressources'
activity against the Cnaf's target.

- **ERHR** (per territory and national, for a year): persons in the active
  file (a situation opened by the end of the year and still open, or closed
  during it), new persons (opened that year), *sans solution* (open, with no
  referral accepted or followed), by D312-194 criterion, combination, age band
  and department; referrals by status and the median days from proposal to
  acceptance.
- **Pôles ressources handicap** (circulaire Cnaf 2019-003; ``../shared/DOMAIN.md``):
  an activity report per pôle and period (active file, families accompanied,
  appointments, awareness actions, FTE), and the active file per FTE against
  the target of **30 children per FTE per year**.

Partners see these figures under the small-count rule (``graph.disclosure``):
a count of persons below 11 is never published, nor one derivable by
differencing territories; breakdowns (criterion, combination, age, department)
are not published to partners (their cells, set against the total, would
isolate a few persons).
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import date

from graph.disclosure import SMALL_CELL, Tree, suppressed_cells, suppressed_tails
from graph.errors import InvalidInput, NotFound
from graph.model import Edge, Node, NodeKind, NodeRef, RelType, codes_of_combination
from graph.rare import qualify
from graph.readmodel import read_model
from graph.referrals import ReferralFacts, Status
from graph.store import GraphStore
from graph.views import SituationFacts, display_name

__all__ = [
    "POLE_TARGET_PER_FTE",
    "AGE_BANDS",
    "ErhrActivity",
    "PoleActivity",
    "erhr_activity",
    "pole_activity",
    "report_node",
    "protect_erhr",
    "protect_poles",
]

K, R = NodeKind, RelType
#: Children in the active file per full-time equivalent and per year (Cnaf).
POLE_TARGET_PER_FTE = 30
AGE_BANDS = (
    (0, 5, "0-5 ans"),
    (6, 15, "6-15 ans"),
    (16, 25, "16-25 ans"),
    (26, 59, "26-59 ans"),
    (60, 200, "60 ans et plus"),
)


def age_band(age: int | None) -> str:
    if age is None:
        return "âge inconnu"
    return next((label for lo, hi, label in AGE_BANDS if lo <= age <= hi), "âge inconnu")


@dataclass(frozen=True, slots=True)
class ErhrActivity:
    territory: str  # an ERHR code, or FR
    year: int
    active_file: int | None
    new_persons: int | None
    without_solution: int | None
    with_rare_condition: int | None
    by_criterion: dict[str, int] = field(default_factory=dict)
    by_combination: dict[str, int] = field(default_factory=dict)
    by_age_band: dict[str, int] = field(default_factory=dict)
    by_department: dict[str, int] = field(default_factory=dict)
    referrals_by_status: dict[str, int] = field(default_factory=dict)
    median_days_to_acceptance: float | None = None
    suppressed: bool = False  # counts withheld for partners (small-count rule)
    #: indicator → department → persons: the finest counts, for the small-count
    #: rule; never published as such.
    cells: dict[str, dict[str, int]] = field(default_factory=dict, repr=False, compare=False)


def _year(value: int) -> int:
    if not 2000 <= value <= 2100:
        raise InvalidInput("year", "une année entre 2000 et 2100.")
    return value


def _days(a: str, b: str) -> int | None:
    try:
        return (date.fromisoformat(b) - date.fromisoformat(a)).days
    except ValueError:
        return None


def erhr_activity(store: GraphStore, year: int, erhr: str | None = None) -> ErhrActivity:
    """The year's figures of one ERHR territory (``erhr``), or national (None)."""
    _year(year)
    start, end = f"{year}-01-01", f"{year}-12-31"
    table = read_model(store).territories
    if erhr is not None and erhr not in table.erhr:
        raise NotFound(f"Territoire ERHR inconnu : {erhr}.")
    nodes = [n for n in store.nodes(K.SITUATION) if erhr is None or SituationFacts.of(n).erhr == erhr]
    out = store.edges_from([n.ref for n in nodes]) if nodes else {}
    criteria: Counter[str] = Counter()
    combinations: Counter[str] = Counter()
    ages: Counter[str] = Counter()
    statuses: Counter[str] = Counter()
    delays: list[int] = []
    cells: dict[str, Counter[str]] = {name: Counter() for name in _TOTALS}
    for node in nodes:
        facts = SituationFacts.of(node)
        opened = facts.opened_on or ""
        closed_on = str(node.props.get("closed_on") or "")
        if not opened or opened > end or (facts.status != "open" and (closed_on or opened) < start):
            continue
        edges = out.get(node.ref, [])
        referrals = [ReferralFacts.of(e.key, e.props) for e in edges if e.type is R.REFERRED_TO]
        for r in referrals:
            if r.proposed_on <= end and r.updated_on >= start:
                statuses[r.status.value] += 1
            accepted = next((d for d, s in r.history if s is Status.ACCEPTED), None)
            if accepted and start <= accepted <= end and (days := _days(r.proposed_on, accepted)) is not None:
                delays.append(days)
        solved = any(r.status in (Status.ACCEPTED, Status.FOLLOWED) for r in referrals)
        combination = next((e.target.key for e in edges if e.type is R.PRESENTS), None)
        if combination:
            combinations[combination] += 1
            for criterion in qualify(sorted(codes_of_combination(combination))).criteria:
                criteria[criterion.code] += 1
        ages[age_band(facts.age)] += 1
        # Each total is counted per department (the small-count rule needs those),
        # and is their sum.
        here = facts.department or "?"
        cells["active_file"][here] += 1
        cells["new_persons"][here] += start <= opened <= end
        cells["without_solution"][here] += facts.status == "open" and not solved
        cells["with_rare_condition"][here] += any(e.type is R.HAS_CONDITION for e in edges)
    total = {name: sum(c.values()) for name, c in cells.items()}
    return ErhrActivity(
        territory=erhr or "FR",
        year=year,
        active_file=total["active_file"],
        new_persons=total["new_persons"],
        without_solution=total["without_solution"],
        with_rare_condition=total["with_rare_condition"],
        by_criterion=dict(sorted(criteria.items())),
        by_combination=dict(sorted(combinations.items())),
        by_age_band=dict(ages),
        by_department=dict(sorted(cells["active_file"].items())),
        referrals_by_status=dict(sorted(statuses.items())),
        median_days_to_acceptance=float(statistics.median(delays)) if delays else None,
        cells={name: dict(c) for name, c in cells.items()},
    )


_TOTALS = ("active_file", "new_persons", "without_solution", "with_rare_condition")


def protect_erhr(store: GraphStore, result: ErhrActivity) -> ErhrActivity:
    """A partner's view: each total under the small-count rule on the territory
    tree (departments ⊂ regions ⊂ ERHR ⊂ France: below 11, or derivable by
    differencing territories, is withheld) and within its family (the active
    file minus any subset of it — new, sans solution, with a rare condition —
    is never 1 to 10); no breakdown, no referral figure."""
    table = read_model(store).territories
    tree = Tree(
        region_of={d: str(n.props["region"]) for d, n in table.departments.items()},
        erhr_of={
            str(n.props["region"]): table.erhr_of_department[d]
            for d, n in table.departments.items()
            if d in table.erhr_of_department
        },
    )
    national = result if result.territory == "FR" else erhr_activity(store, result.year, None)
    level = "NATIONAL" if result.territory == "FR" else "ERHR"
    masked: dict[str, int | None] = {}
    # A family: the active file and each of its subsets (new persons, sans
    # solution, with a rare condition). A subset and the rest of the active file
    # are two disjoint bands, each checked on the territory tree: a subset is
    # published only where "active file − subset" isolates nobody either.
    total = {d: national.cells.get("active_file", {}).get(d, 0) for d in table.departments}
    total_withheld = result.territory in suppressed_cells(total, tree)[level]
    for name in _TOTALS[1:]:
        part = {d: national.cells.get(name, {}).get(d, 0) for d in table.departments}
        rest = {d: total[d] - part[d] for d in table.departments}
        whole, subset = suppressed_tails([rest, part], tree)
        total_withheld |= result.territory in whole[level]
        masked[name] = (
            None
            if result.territory in subset[level] or result.territory in whole[level]
            else getattr(result, name)
        )
    masked["active_file"] = None if total_withheld else result.active_file
    return replace(
        result,
        active_file=masked["active_file"],
        new_persons=masked["new_persons"],
        without_solution=masked["without_solution"],
        with_rare_condition=masked["with_rare_condition"],
        by_criterion={},
        by_combination={},
        by_age_band={},
        by_department={},
        referrals_by_status={},
        median_days_to_acceptance=None,
        cells={},
        suppressed=any(v is None for v in masked.values()),
    )


# -- pôles ressources ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PoleActivity:
    pole: str
    name: str
    department: str | None
    erhr: str | None
    period: str
    active_file: int | None
    families: int | None
    appointments: int
    awareness_actions: int
    fte: float
    per_fte: float | None  # active file per FTE
    meets_target: bool | None  # per_fte ≥ POLE_TARGET_PER_FTE
    synthetic: bool
    suppressed: bool = False


def _count(value: object, name: str) -> int:
    try:
        number = int(str(value).strip())
    except ValueError:
        raise InvalidInput(name, "un nombre entier positif.") from None
    if number < 0:
        raise InvalidInput(name, "un nombre entier positif.")
    return number


def report_node(
    pole: str,
    period: str,
    *,
    active_file: object,
    families: object,
    appointments: object,
    awareness_actions: object,
    fte: object,
    synthetic: bool = False,
) -> tuple[Node, Edge]:
    """One activity report of a pôle for a period (« 2026 », « 2026-S1 »), checked."""
    text = period.strip()
    if not (len(text) == 4 and text.isdigit()) and not (
        len(text) == 7 and text[:4].isdigit() and text[4:] in ("-S1", "-S2")
    ):
        raise InvalidInput("periode", "une année (2026) ou un semestre (2026-S1, 2026-S2).")
    try:
        etp = float(str(fte).replace(",", "."))
    except ValueError:
        raise InvalidInput("etp", "un nombre d'équivalents temps plein (ex. 1,5).") from None
    if not 0 < etp <= 100:
        raise InvalidInput("etp", "entre 0 (exclu) et 100 équivalents temps plein.")
    props: dict[str, object] = {
        "pole": pole,
        "period": text,
        "active_file": _count(active_file, "file_active"),
        "families": _count(families, "familles"),
        "appointments": _count(appointments, "rendez_vous"),
        "awareness_actions": _count(awareness_actions, "actions_sensibilisation"),
        "fte": etp,
        "synthetic": synthetic,
    }
    node = Node(K.ACTIVITY_REPORT, f"{pole}:{text}", props)
    return node, Edge(R.REPORTS_ON, node.ref, NodeRef(K.RESOURCE_POLE, pole))


def pole_activity(store: GraphStore, period: str, erhr: str | None = None) -> list[PoleActivity]:
    """Every pôle's report for a period, with its active file per FTE against the target."""
    table = read_model(store).territories
    reports = [n for n in store.nodes(K.ACTIVITY_REPORT) if n.props.get("period") == period.strip()]
    poles = store.get_nodes(K.RESOURCE_POLE, sorted({str(n.props["pole"]) for n in reports}))
    rows = []
    for report in reports:
        p = report.props
        pole = poles.get(str(p["pole"]))
        department = (
            str(pole.props.get("department")) if pole is not None and pole.props.get("department") else None
        )
        territory = table.erhr_of_department.get(department) if department else None
        if erhr is not None and territory != erhr:
            continue
        active, fte = int(p["active_file"]), float(p["fte"])
        per_fte = round(active / fte, 1)
        rows.append(
            PoleActivity(
                pole=str(p["pole"]),
                name=display_name(pole.props, pole.key) if pole is not None else str(p["pole"]),
                department=department,
                erhr=territory,
                period=str(p["period"]),
                active_file=active,
                families=int(p["families"]),
                appointments=int(p["appointments"]),
                awareness_actions=int(p["awareness_actions"]),
                fte=fte,
                per_fte=per_fte,
                meets_target=per_fte >= POLE_TARGET_PER_FTE,
                synthetic=bool(p.get("synthetic")),
            )
        )
    return sorted(rows, key=lambda r: (r.erhr or "", r.name.lower(), r.pole))


def protect_poles(rows: list[PoleActivity]) -> list[PoleActivity]:
    """A partner's view of the pôles: an active file or a number of families
    below 11 is withheld, and so are the ratio and the target flag of a pôle
    whose active file is (active file = ratio × FTE)."""
    out = []
    for r in rows:
        small_file = r.active_file is not None and r.active_file < SMALL_CELL
        small_families = r.families is not None and r.families < SMALL_CELL
        out.append(
            replace(
                r,
                active_file=None if small_file else r.active_file,
                families=None if small_families else r.families,
                per_fte=None if small_file else r.per_fte,
                meets_target=None if small_file else r.meets_target,
                suppressed=small_file or small_families,
            )
        )
    return out

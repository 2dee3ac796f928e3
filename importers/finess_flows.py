"""``dihr import finess FILE`` given a 2026 FINESS JSON flow: the *Activités* flow
that the ANS publishes daily on data.gouv.fr (schemas and specification in
``../shared/data/finess/ans-2026/``; published examples in the public repository
``ansforge/finess`` under ``flux/out/data.gouv/activite/``).

What each establishment *declares* replaces what its category or name implied
(``importers/finess_competence.py``):

- every active medico-social activity (nature ``ASMR``, spelt ``AMSR`` in the
  OpenAPI schema) of an establishment (``pmej[].ege[].activitesExercees``; an
  activity of the legal entity, ``pmej[].activitesAutorisees``, counts for the
  establishment its ``egeId`` names) gives, through its **public** (successor of
  the CSV's *code clientèle*, ANS TRE_R279, ``importers/data/finess_clienteles.csv``),
  ACCEPTS links with ``source: finess_activites``, the declared ages
  (installed, else authorised) and the installed places (else authorised);
- its **mode** (ANS TRE_R209 *Type d'activité*, ``importers/data/finess_modes.csv``)
  says whether it offers temporary care (skill RESPITE) and whether it works where
  the person lives (a SESSAD, a mobile team): then the communes of its
  **intervention zone** are kept on the establishment (``intervention_communes``)
  and matching puts it at 0 km from a person living in one of them.

Same guarantees as the CSV importer: the whole file is read and checked before
any write (a cut or malformed JSON changes nothing), a second import of the same
file changes nothing, establishments unknown to the store are reported, never
created (their names and places come from the establishments' extraction).
"""

from __future__ import annotations

import csv
import gzip
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import IO, Any

import ijson

from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.store import GraphStore
from importers._files import FileFormatError, ImportReport, RowError
from importers.equipements import clientele_table
from importers.finess_competence import INFERRED_SOURCES, STRONGER_SOURCES
from importers.reference import combination_elements

__all__ = ["SOURCE_ACTIVITIES", "flow_kind", "import_activities", "read_activities", "FlowActivities"]

K, R = NodeKind, RelType
SOURCE_ACTIVITIES = "finess_activites"
#: Natures of a medico-social activity (the published examples spell it ASMR,
#: the OpenAPI schema AMSR).
_MEDICO_SOCIAL = ("ASMR", "AMSR")
#: Capacity status codes of the flow: installed, authorised.
_INSTALLED, _AUTHORISED = "08", "09"
#: An age above this is "no upper bound" (the flow carries 999 and the like).
_MAX_AGE = 120
_HEAD = 64 * 1024


@dataclass(frozen=True, slots=True)
class Mode:
    code: str
    label: str
    respite: bool  # temporary care: the carers' respite
    on_site: bool  # works where the person lives: its intervention zone is its reach


@lru_cache(maxsize=1)
def mode_table() -> dict[str, Mode]:
    """TRE_R209 *Type d'activité* code → what matching reads of it (data, cited in the file)."""
    text = (files("importers") / "data" / "finess_modes.csv").read_text(encoding="utf-8")
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {
        row["code"]: Mode(row["code"], row["label"], row["respite"] == "1", row["on_site"] == "1")
        for row in rows
    }


def _open(path: Path) -> IO[bytes]:
    handle: IO[bytes] = path.open("rb")
    if handle.read(2) == b"\x1f\x8b":
        handle.close()
        return gzip.open(path, "rb")  # type: ignore[return-value]
    handle.seek(0)
    return handle


def flow_kind(path: Path) -> str | None:
    """« activites » or « structures » for a 2026 JSON flow, None for anything
    else (the CSV extraction), from the file's first bytes."""
    try:
        with _open(path) as handle:
            head = handle.read(_HEAD)
    except (OSError, EOFError, zlib.error):
        return None
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text.startswith(b"{"):
        return None
    if b'"activitesAutorisees"' in head or b'"activitesExercees"' in head:
        return "activites"
    if b'"informationsGeneralesPmej"' in head or b'"informationsGeneralesEGE"' in head:
        return "structures"
    return "json"


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _age(value: Any) -> int | None:
    text = _text(value)
    if not text:
        return None
    number = int(float(text))
    return None if number > _MAX_AGE or number < 0 else number


@dataclass(slots=True)
class _Declared:
    """What the flow declares of one establishment for one deficiency."""

    age_min: int | None = None
    age_max: int | None = None
    bounded_min: bool = True  # False once an activity without a lower bound is seen
    bounded_max: bool = True
    capacity: int = 0
    publics: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    activities: list[str] = field(default_factory=list)

    def add(self, age_min: int | None, age_max: int | None) -> None:
        if age_min is None:
            self.bounded_min = False
        elif self.bounded_min:
            self.age_min = age_min if self.age_min is None else min(self.age_min, age_min)
        if age_max is None:
            self.bounded_max = False
        elif self.bounded_max:
            self.age_max = age_max if self.age_max is None else max(self.age_max, age_max)


@dataclass(slots=True)
class FlowActivities:
    """An *Activités* flow read and checked in full (nothing written yet)."""

    path: Path
    generated_at: str
    #: establishments with a medico-social activity (active or not) in the flow
    described: set[str] = field(default_factory=set)
    accepts: dict[tuple[str, str], _Declared] = field(default_factory=dict)
    combinations: set[tuple[str, str]] = field(default_factory=set)
    rare: set[str] = field(default_factory=set)
    respite: dict[str, list[str]] = field(default_factory=dict)  # finess → activity ids
    zones: dict[str, set[str]] = field(default_factory=dict)  # finess → commune codes
    where: dict[str, str] = field(default_factory=dict)  # finess → its place in the file
    read: int = 0
    skipped: int = 0
    rejected: list[RowError] = field(default_factory=list)


def _nature(activity: Mapping[str, Any]) -> tuple[str, Mapping[str, Any], Mapping[str, Any]]:
    """(nature code, generic characteristics, the nature's type block) of an
    activity in either published shape: ``nature: {codeNature, caracteristiquesSpecifiques}``
    (the examples) or one ``nature<Name>`` object per nature (schema v1)."""
    generic = activity.get("caracteristiquesGeneriques") or {}
    nature = activity.get("nature")
    if isinstance(nature, Mapping):
        code = _text(nature.get("codeNature")).upper()
        specific = nature.get("caracteristiquesSpecifiques") or {}
    else:
        code, specific = "", {}
        for key, value in activity.items():
            if key.startswith("nature") and isinstance(value, Mapping) and value:
                code = key.removeprefix("nature").upper()
                generic = value.get("caracteristiquesGeneriques") or generic
                specific = (
                    next((v for k, v in value.items() if k.startswith("caracteristiquesSpecifiques")), {})
                    or {}
                )
                break
    block = next(
        (v for k, v in specific.items() if k.startswith("typeActivite") and isinstance(v, Mapping)), {}
    )
    return code, generic, {**specific, **block}


def _active(generic: Mapping[str, Any], today: str) -> bool:
    if _text(generic.get("etatObjet")).upper() not in ("A", ""):
        return False
    ended = _text(generic.get("dateFinEffectiveActivite"))
    return not ended or ended[:10] > today


def _capacity(activity: Mapping[str, Any]) -> int:
    counts: dict[str, int] = {}
    for entry in activity.get("capacite") or []:
        status = _text(entry.get("statutCapacite"))
        try:
            number = int(float(_text(entry.get("nombre")) or 0))
        except ValueError:
            continue
        if entry.get("habilitation") not in (None, ""):
            # the same places counted again with their financial approval: not more places
            counts[status] = max(counts.get(status, 0), number)
        else:
            counts[status] = counts.get(status, 0) + number
    return counts.get(_INSTALLED) or counts.get(_AUTHORISED) or 0


def read_activities(path: Path, today: date | None = None) -> FlowActivities:
    """Read and check a whole *Activités* flow; raise FileFormatError (nothing
    written) if it is not one, is cut or is malformed."""
    when = (today or date.today()).isoformat()
    clienteles = clientele_table()
    modes = mode_table()
    try:
        with _open(path) as handle:
            # one pass over the document: the header fields, then each legal entity in turn
            return _walk(
                path, ijson.parse(handle, use_float=True), FlowActivities(path, ""), clienteles, modes, when
            )
    except ijson.JSONError as err:
        raise FileFormatError(
            path,
            0,
            f"JSON incomplet ou mal formé ({err}) : le fichier est probablement coupé ; "
            "téléchargez à nouveau le flux Activités. Rien n'a été importé.",
        ) from err
    except (OSError, EOFError, zlib.error) as err:
        raise FileFormatError(
            path, 0, f"lecture impossible ({err}) : téléchargez à nouveau le fichier."
        ) from err


def _walk(
    path: Path,
    parser: Iterator[tuple[str, str, Any]],
    flow: FlowActivities,
    clienteles: Mapping[str, Any],
    modes: Mapping[str, Mode],
    today: str,
) -> FlowActivities:
    builder: ijson.ObjectBuilder | None = None
    found_pmej = False
    number = 0
    for prefix, event, value in parser:
        if prefix == "generatedAt" and event == "string":
            flow.generated_at = value
        elif prefix == "pmej" and event == "start_array":
            found_pmej = True
        elif prefix == "pmej.item" and event == "start_map":
            builder = ijson.ObjectBuilder()
            builder.event(event, value)
        elif builder is not None:
            builder.event(event, value)
            if prefix == "pmej.item" and event == "end_map":
                number += 1
                _legal_entity(flow, builder.value, number, clienteles, modes, today)
                builder = None
    if not found_pmej:
        raise FileFormatError(path, 0, "aucune liste « pmej » : ce n'est pas un flux Activités FINESS.")
    return flow


def _legal_entity(
    flow: FlowActivities,
    pmej: Mapping[str, Any],
    number: int,
    clienteles: Mapping[str, Any],
    modes: Mapping[str, Mode],
    today: str,
) -> None:
    establishments = [e for e in pmej.get("ege") or [] if isinstance(e, Mapping)]
    by_ege = {_text(e.get("egeId")): _text(e.get("numFinessEge")) for e in establishments}
    exercised: set[str] = set()
    for i, ege in enumerate(establishments):
        finess = _text(ege.get("numFinessEge"))
        for activity in ege.get("activitesExercees") or []:
            if _activity(
                flow, finess, activity, f"pmej n° {number}, ege n° {i + 1}", clienteles, modes, today
            ):
                exercised.add(finess)
    for activity in pmej.get("activitesAutorisees") or []:
        code, generic, _block = _nature(activity)
        finess = by_ege.get(_text(generic.get("egeId")), "")
        if code not in _MEDICO_SOCIAL:
            continue
        if not finess or finess in exercised:
            # an authorisation of the legal entity alone, or one its establishment
            # already declares as exercised (counted once)
            flow.read += 1
            flow.skipped += 1
            continue
        _activity(flow, finess, activity, f"pmej n° {number} (entité juridique)", clienteles, modes, today)


def _activity(
    flow: FlowActivities,
    finess: str,
    activity: Mapping[str, Any],
    where: str,
    clienteles: Mapping[str, Any],
    modes: Mapping[str, Mode],
    today: str,
) -> bool:
    """Record one activity; True when it is a medico-social one of ``finess``."""
    code, generic, block = _nature(activity)
    if code not in _MEDICO_SOCIAL:
        return False
    flow.read += 1
    if len(finess) != 9 or not finess.isalnum():
        flow.rejected.append(RowError(0, "numFinessEge", f"numéro FINESS invalide ({where})", finess))
        return False
    flow.described.add(finess)
    flow.where.setdefault(finess, where)
    activity_id = _text(generic.get("activiteAeId"))
    if not _active(generic, today):
        flow.skipped += 1  # closed or inactive: what it declared is withdrawn
        return True
    public = _text(block.get("public"))
    mapping = clienteles.get(public)
    mode = modes.get(_text(block.get("modeFonctionnement")))
    try:
        age_min = _age(block.get("ageMinInstalle")) if _text(block.get("ageMinInstalle")) else None
        age_max = _age(block.get("ageMaxInstalle")) if _text(block.get("ageMaxInstalle")) else None
        if age_min is None and age_max is None:
            age_min, age_max = _age(block.get("ageMinAutorise")), _age(block.get("ageMaxAutorise"))
    except ValueError:
        flow.rejected.append(
            RowError(0, "ageMinAutorise", f"âge non numérique (activité {activity_id}, {where})", finess)
        )
        return True
    if mode is not None and mode.respite and mapping is not None and mapping.deficiencies:
        flow.respite.setdefault(finess, []).append(activity_id)
    zone = activity.get("zoneIntervention") or {}
    if mode is not None and mode.on_site and isinstance(zone, Mapping):
        communes = {_text(c.get("commune")) for c in zone.get("communeZI") or [] if isinstance(c, Mapping)}
        if communes - {""}:
            flow.zones.setdefault(finess, set()).update(communes - {""})
    if mapping is None or not mapping.deficiencies:
        flow.skipped += 1  # a public outside disability, or « all deficiencies » without detail
        return True
    places = _capacity(activity)
    for deficiency in mapping.deficiencies:
        if deficiency == "RARE":
            flow.rare.add(finess)
            continue
        declared = flow.accepts.setdefault((finess, deficiency), _Declared())
        declared.add(age_min, age_max)
        declared.capacity += places
        for values, item in (
            (declared.publics, public),
            (declared.modes, mode.code if mode else ""),
            (declared.activities, activity_id),
        ):
            if item and item not in values:
                values.append(item)
    if mapping.combination:
        flow.combinations.add((finess, mapping.combination))
    return True


def import_activities(
    store: GraphStore,
    path: Path,
    *,
    dry_run: bool = False,
    progress: Callable[[int], None] | None = None,
    today: date | None = None,
) -> ImportReport:
    """Import an *Activités* flow (see the module doc); the file is read in full first."""
    flow = read_activities(path, today)
    report = ImportReport(path, "flux FINESS Activités (2026)", "utf-8", dry_run)
    report.read, report.skipped = flow.read, flow.skipped
    report.rejected.extend(flow.rejected)
    if not flow.read:
        raise FileFormatError(
            path,
            0,
            "aucune activité médico-sociale (nature ASMR) dans ce flux : rien à importer.",
        )
    declaring = {f for f, _ in flow.accepts} | {f for f, _ in flow.combinations} | flow.rare
    wanted_keys = flow.described | set(flow.zones) | set(flow.respite)
    known = store.get_nodes(K.ESTABLISHMENT, wanted_keys)
    for finess in sorted(wanted_keys - known.keys()):
        report.rejected.append(
            RowError(
                0,
                "numFinessEge",
                "établissement inconnu : importez d'abord l'extraction FINESS des établissements "
                f"({flow.where.get(finess, 'flux')})",
                finess,
            )
        )
    nodes: list[Node] = []
    for finess in sorted(known):
        props: dict[str, Any] = {"rare_disability": True} if finess in flow.rare else {}
        zone = sorted(flow.zones.get(finess, ()))
        # the flow is the establishment's declaration: a zone it no longer declares is withdrawn
        if zone or known[finess].props.get("intervention_communes"):
            props["intervention_communes"] = zone or None
        if props:
            nodes.append(Node(K.ESTABLISHMENT, finess, props))
    edges: list[Edge] = []
    for (finess, code), declared in sorted(flow.accepts.items()):
        if finess not in known:
            continue
        props = {
            "age_min": declared.age_min if declared.bounded_min else None,
            "age_max": declared.age_max if declared.bounded_max else None,
            "capacity": declared.capacity or None,
            "publics": declared.publics,
            "modes": declared.modes,
            "activities": declared.activities,
            "source": SOURCE_ACTIVITIES,
            # what an inferred link of the same identity carried: removed on merge
            "category": None,
            "category_label": None,
            "keyword": None,
        }
        edges.append(Edge(R.ACCEPTS, NodeRef(K.ESTABLISHMENT, finess), NodeRef(K.DEFICIENCY, code), props))
    for finess, key in sorted(flow.combinations):
        if finess in known:
            for element in combination_elements(key):
                (nodes if isinstance(element, Node) else edges).append(element)  # type: ignore[arg-type]
            edges.append(
                Edge(
                    R.HAS_EXPERTISE,
                    NodeRef(K.ESTABLISHMENT, finess),
                    NodeRef(K.COMBINATION, key),
                    {"level": 2, "source": SOURCE_ACTIVITIES},
                )
            )
    for finess, activities in sorted(flow.respite.items()):
        if finess in known:
            edges.append(
                Edge(
                    R.HAS_EXPERTISE,
                    NodeRef(K.ESTABLISHMENT, finess),
                    NodeRef(K.SKILL, "RESPITE"),
                    {"level": 1, "source": SOURCE_ACTIVITIES, "activities": sorted(set(activities))},
                )
            )
    # What the flow declares replaces what the category or the name implied, and
    # what an earlier flow declared for the same establishments; never what a
    # stronger source says of the same link (precedence: directory expertise,
    # then a national directory's declaration, then these activities).
    replaced = sorted(flow.described & known.keys())
    existing = store.edges_from(
        [NodeRef(K.ESTABLISHMENT, f) for f in sorted(known)], [R.ACCEPTS, R.HAS_EXPERTISE]
    )
    stronger = {
        (e.type, e.source.key, e.target)
        for found in existing.values()
        for e in found
        if e.props.get("source") in STRONGER_SOURCES
    }
    edges = [e for e in edges if (e.type, e.source.key, e.target) not in stronger]
    kept = {(e.type, e.source.key, e.target) for e in edges}
    stale = [
        e
        for key in replaced
        for e in existing.get(NodeRef(K.ESTABLISHMENT, key), [])
        if (e.type, e.source.key, e.target) not in kept
        and (
            e.props.get("source") == SOURCE_ACTIVITIES
            or (
                e.type is R.ACCEPTS
                and e.props.get("source") in INFERRED_SOURCES
                and e.source.key in declaring
            )
        )
    ]
    inferred_replaced = sum(1 for e in stale if e.props.get("source") in INFERRED_SOURCES)
    report.notes.append(
        f"Flux généré le {flow.generated_at or 'date inconnue'} : {len(replaced)} établissement(s) décrit(s), "
        f"{len(edges)} relation(s) déclarée(s) (source finess_activites), "
        f"{sum(1 for f in flow.zones if f in known)} service(s) avec une zone d'intervention, "
        f"{sum(1 for f in flow.respite if f in known)} avec un accueil temporaire."
    )
    agree, differ = _agreement(store, flow, known.keys())
    report.notes.append(
        f"{agree + differ} établissement(s) : catégorie/nom et déclaration concordent pour {agree}, "
        f"divergent pour {differ} (la déclaration l'emporte)."
    )
    if dry_run:
        report.created = len(edges)
        return report
    store.delete_edges(stale)
    if inferred_replaced:
        report.notes.append(
            f"{inferred_replaced} relation(s) « accueille » déduite(s) de la catégorie ou du nom FINESS "
            "remplacée(s) par les activités déclarées."
        )
    summary = store.upsert(nodes, edges)
    report.created, report.updated, report.unchanged = (
        summary.edges_created,
        summary.edges_updated,
        summary.edges_unchanged,
    )
    if stale:
        report.updated += len(stale) - inferred_replaced
    if progress:
        progress(len(edges))
    report.notes.append("Comptes en relations (établissement → déficience, combinaison, répit).")
    return report


def _agreement(store: GraphStore, flow: FlowActivities, known: Any) -> tuple[int, int]:
    """Of the establishments the flow gives deficiencies to, how many the
    category / name inference (the links it is about to replace, or the
    inference of the stored category and name) agrees with."""
    from importers.finess_competence import infer

    declared: dict[str, set[str]] = {}
    for finess, code in flow.accepts:
        if finess in known:
            declared.setdefault(finess, set()).add(code)
    agree = differ = 0
    nodes = store.get_nodes(K.ESTABLISHMENT, set(declared))
    for finess, codes in declared.items():
        node = nodes.get(finess)
        if node is None:
            continue
        guessed = infer(
            str(node.props.get("category") or ""),
            str(node.props.get("name") or ""),
            str(node.props.get("department") or ""),
        )
        if guessed is not None and set(guessed.accepts) == codes:
            agree += 1
        else:
            differ += 1
    return agree, differ

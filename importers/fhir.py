"""The directory in FHIR R4 (``dihr export fhir`` / ``dihr import fhir``), in the
shape of the national directories (Annuaire Santé / ROR): one ``Organization``,
one ``Location`` and one ``HealthcareService`` per establishment, in a Bundle.

- ``Organization``: identifiers FINESS (``http://finess.sante.gouv.fr``, type
  FINEG) and national structure id (IDNST, ``urn:oid:1.2.250.1.71.4.2.2``, value
  « 1 » + FINESS), as the Annuaire Santé writes them; the FINESS category
  (ANS TRE_R66); name, phone, address (with the commune's INSEE code).
- ``Location``: the position (WGS 84), the address, where the position comes from.
- ``HealthcareService``: the publics it accepts as ``eligibility`` — the ANS
  clientèle code (TRE_R279, as the Annuaire Santé's
  *AS-HealthcareService-SocialEquipment* profile binds it) and the deficiency
  of dihr-graph's vocabulary, with the ages and the source of the claim —; the
  expertise (deficiency, combination, skill, rare condition: Orphanet) as
  ``specialty`` with its level; a mobile service's intervention communes.

Codes: ANS nomenclatures (https://mos.esante.gouv.fr/NOS/…), Orphanet
(``http://www.orpha.net``), and for what no national code system says (levels,
ages, dihr-graph's vocabulary) the project's own extensions and code systems
under ``https://dihr-graph.fr/fhir/`` — named so that a reader knows whose they are.
Every Bundle written is parsed back by ``fhir.resources`` (R4B models) before
it is kept; an imported Bundle is validated the same way, and its declared
publics and specialisations become competence with ``source: ror``, preferred
over what the FINESS category or name implied.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.store import GraphStore
from graph.vocabulary import CONDITIONS, DEFICIENCIES, SKILLS, code_label
from importers._files import FileFormatError, ImportReport, RowError, read_text
from importers.equipements import clientele_table
from importers.finess_competence import INFERRED_SOURCES
from importers.reference import combination_elements

__all__ = ["SOURCE_ROR", "export_bundle", "write_bundle", "import_fhir"]

K, R = NodeKind, RelType
SOURCE_ROR = "ror"

FINESS_SYSTEM = "http://finess.sante.gouv.fr"
IDNST_SYSTEM = "urn:oid:1.2.250.1.71.4.2.2"
IDENTIFIER_TYPES = "https://hl7.fr/ig/fhir/core/CodeSystem/fr-core-cs-v2-0203"  # FINEG, IDNST
CLIENTELE_SYSTEM = "https://mos.esante.gouv.fr/NOS/TRE_R279-Clientele/FHIR/TRE-R279-Clientele"
CATEGORY_SYSTEM = (
    "https://mos.esante.gouv.fr/NOS/TRE_R66-CategorieEtablissement/FHIR/TRE-R66-CategorieEtablissement"
)
ORPHA_SYSTEM = "http://www.orpha.net"
DIHR = "https://dihr-graph.fr/fhir"
DEFICIENCY_SYSTEM = f"{DIHR}/CodeSystem/deficience"
COMBINATION_SYSTEM = f"{DIHR}/CodeSystem/combinaison"
SKILL_SYSTEM = f"{DIHR}/CodeSystem/competence"
TAG_SYSTEM = f"{DIHR}/CodeSystem/etiquette"
EXT_AGES = f"{DIHR}/StructureDefinition/ages"
EXT_SOURCE = f"{DIHR}/StructureDefinition/source"
EXT_LEVEL = f"{DIHR}/StructureDefinition/niveau"
EXT_COMMUNE = f"{DIHR}/StructureDefinition/commune-insee"
EXT_POSITION = f"{DIHR}/StructureDefinition/origine-position"
EXT_ZONE = f"{DIHR}/StructureDefinition/commune-intervention"
EXT_GENERALIST = f"{DIHR}/StructureDefinition/generaliste"

_TARGETS = {
    DEFICIENCY_SYSTEM: K.DEFICIENCY,
    COMBINATION_SYSTEM: K.COMBINATION,
    SKILL_SYSTEM: K.SKILL,
    ORPHA_SYSTEM: K.CONDITION,
}


def _canonical_clienteles() -> dict[str, tuple[str, str]]:
    """Deficiency or combination → (its first TRE_R279 clientèle code, label)."""
    found: dict[str, tuple[str, str]] = {}
    for code, row in sorted(clientele_table().items()):
        key = row.combination or (row.deficiencies[0] if len(row.deficiencies) == 1 else "")
        if key and key not in found:
            found[key] = (code, row.label)
    return found


def _years(value: Any) -> dict[str, Any]:
    return {"value": int(value), "unit": "an", "system": "http://unitsofmeasure.org", "code": "a"}


def _address(props: Mapping[str, Any]) -> dict[str, Any]:
    address: dict[str, Any] = {"use": "work", "country": "FR"}
    if props.get("address"):
        address["line"] = [str(props["address"])]
    if props.get("postcode"):
        address["postalCode"] = str(props["postcode"])
    if props.get("city"):
        address["city"] = str(props["city"])
    if props.get("commune"):
        address["extension"] = [{"url": EXT_COMMUNE, "valueCode": str(props["commune"])}]
    return address


def _organization(node: Node) -> dict[str, Any]:
    p = node.props
    org: dict[str, Any] = {
        "resourceType": "Organization",
        "id": node.key,
        "identifier": [
            {
                "use": "official",
                "type": {"coding": [{"system": IDENTIFIER_TYPES, "code": "FINEG"}]},
                "system": FINESS_SYSTEM,
                "value": node.key,
            },
            {
                "use": "official",
                "type": {"coding": [{"system": IDENTIFIER_TYPES, "code": "IDNST"}]},
                "system": IDNST_SYSTEM,
                "value": f"1{node.key}",
            },
        ],
        "active": True,
        "name": str(p.get("name") or node.key),
        "address": [_address(p)],
    }
    if p.get("long_name") and p.get("long_name") != p.get("name"):
        org["alias"] = [str(p["long_name"])]
    if p.get("category"):
        coding = {"system": CATEGORY_SYSTEM, "code": str(p["category"])}
        if p.get("category_label"):
            coding["display"] = str(p["category_label"])
        org["type"] = [{"coding": [coding]}]
    telecom = [
        {"system": system, "value": str(p[field]), "use": "work"}
        for system, field in (("phone", "phone"), ("email", "email"), ("url", "website"))
        if p.get(field)
    ]
    if telecom:
        org["telecom"] = telecom
    if p.get("generalist"):
        org["extension"] = [{"url": EXT_GENERALIST, "valueBoolean": True}]
    return org


def _location(node: Node) -> dict[str, Any] | None:
    p = node.props
    if p.get("lat") is None or p.get("lon") is None:
        return None
    return {
        "resourceType": "Location",
        "id": node.key,
        "status": "active",
        "name": str(p.get("name") or node.key),
        "address": _address(p),
        "position": {"latitude": float(p["lat"]), "longitude": float(p["lon"])},
        "managingOrganization": {"reference": f"Organization/{node.key}"},
        "extension": [{"url": EXT_POSITION, "valueCode": str(p.get("location_source") or "finess")}],
    }


def _source_ext(props: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"url": EXT_SOURCE, "valueCode": str(props["source"])}] if props.get("source") else []


def _service(node: Node, links: Iterable[Edge], clienteles: Mapping[str, tuple[str, str]]) -> dict[str, Any]:
    p = node.props
    service: dict[str, Any] = {
        "resourceType": "HealthcareService",
        "id": node.key,
        "active": True,
        "providedBy": {"reference": f"Organization/{node.key}"},
        "name": str(p.get("name") or node.key),
    }
    if p.get("lat") is not None and p.get("lon") is not None:
        service["location"] = [{"reference": f"Location/{node.key}"}]
    eligibility, specialty = [], []
    for edge in sorted(links, key=lambda e: (e.type.value, e.target.kind.value, e.target.key)):
        code = edge.target.key
        if edge.type is R.ACCEPTS and edge.target.kind is K.DEFICIENCY:
            codings = []
            if code in clienteles:
                codings.append(
                    {"system": CLIENTELE_SYSTEM, "code": clienteles[code][0], "display": clienteles[code][1]}
                )
            codings.append(
                {"system": DEFICIENCY_SYSTEM, "code": code, "display": code_label("Deficiency", code)}
            )
            extension = _source_ext(edge.props)
            ages = {
                k: _years(edge.props[f])
                for k, f in (("low", "age_min"), ("high", "age_max"))
                if edge.props.get(f) is not None
            }
            if ages:
                extension.append({"url": EXT_AGES, "valueRange": ages})
            entry: dict[str, Any] = {"code": {"coding": codings}}
            if extension:
                entry["extension"] = extension
            eligibility.append(entry)
        elif edge.type is R.HAS_EXPERTISE:
            system = next((s for s, kind in _TARGETS.items() if kind is edge.target.kind), None)
            if system is None:
                continue
            value = code.removeprefix("ORPHA:") if system == ORPHA_SYSTEM else code
            codings = [{"system": system, "code": value, "display": code_label(edge.target.kind.value, code)}]
            if edge.target.kind is K.COMBINATION and code in clienteles:
                codings.insert(
                    0,
                    {"system": CLIENTELE_SYSTEM, "code": clienteles[code][0], "display": clienteles[code][1]},
                )
            specialty.append(
                {
                    "coding": codings,
                    "extension": [{"url": EXT_LEVEL, "valueInteger": int(edge.props.get("level") or 1)}]
                    + _source_ext(edge.props),
                }
            )
    if specialty:
        service["specialty"] = specialty
    if eligibility:
        service["eligibility"] = eligibility
    zone = p.get("intervention_communes") or []
    if zone:
        service["extension"] = [{"url": EXT_ZONE, "valueCode": str(c)} for c in zone]
    if p.get("synthetic"):
        service["meta"] = {
            "tag": [{"system": TAG_SYSTEM, "code": "synthetique", "display": "donnée synthétique"}]
        }
    return service


def export_bundle(store: GraphStore) -> dict[str, Any]:
    """Every open establishment of the store as a FHIR R4 Bundle (a JSON-ready dict)."""
    establishments = sorted(
        (n for n in store.nodes(K.ESTABLISHMENT) if not n.props.get("closed")), key=lambda n: n.key
    )
    links = store.edges_from([n.ref for n in establishments], [R.ACCEPTS, R.HAS_EXPERTISE])
    clienteles = _canonical_clienteles()
    entries: list[dict[str, Any]] = []
    for node in establishments:
        for resource in (
            _organization(node),
            _location(node),
            _service(node, links.get(node.ref, []), clienteles),
        ):
            if resource is not None:
                if node.props.get("synthetic"):
                    resource.setdefault(
                        "meta",
                        {
                            "tag": [
                                {"system": TAG_SYSTEM, "code": "synthetique", "display": "donnée synthétique"}
                            ]
                        },
                    )
                entries.append(
                    {"fullUrl": f"{DIHR}/{resource['resourceType']}/{resource['id']}", "resource": resource}
                )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
        "meta": {"source": "dihr-graph"},
        "entry": entries,
    }


def _validated(document: Mapping[str, Any], path: Path) -> Any:
    from fhir.resources.R4B.bundle import Bundle

    try:
        return Bundle.model_validate(document)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise FileFormatError(
            path,
            0,
            f"Bundle FHIR invalide ({err.error_count()} erreur(s)) ; la première : {where} — {first.get('msg')}.",
        ) from None


def write_bundle(store: GraphStore, path: Path) -> dict[str, int]:
    """Write the directory's Bundle to ``path`` once ``fhir.resources`` parsed it
    back; the number of resources of each type."""
    document = export_bundle(store)
    _validated(document, path)
    path.write_text(json.dumps(document, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
    counts: dict[str, int] = {}
    for entry in document["entry"]:
        kind = entry["resource"]["resourceType"]
        counts[kind] = counts.get(kind, 0) + 1
    return counts


def _ext(element: Any, url: str) -> list[Any]:
    return [e for e in (getattr(element, "extension", None) or []) if e.url == url]


def _reference_id(reference: Any, kind: str) -> str | None:
    text = getattr(reference, "reference", None) or ""
    prefix = f"{kind}/"
    return text.split(prefix, 1)[1] if prefix in text else None


def _finess(org: Any) -> str | None:
    for identifier in org.identifier or []:
        if identifier.system == FINESS_SYSTEM and identifier.value:
            return str(identifier.value).strip()
    for identifier in org.identifier or []:  # the national structure id of a FINESS structure: « 1 » + FINESS
        if identifier.system == IDNST_SYSTEM and str(identifier.value or "").startswith("1"):
            return str(identifier.value)[1:]
    return None


def _codes(concept: Any) -> list[tuple[str, str]]:
    return [(c.system or "", str(c.code or "")) for c in (getattr(concept, "coding", None) or [])]


def import_fhir(
    store: GraphStore, path: Path, *, dry_run: bool = False, progress: Callable[[int], None] | None = None
) -> ImportReport:
    """Establishments, their publics and specialisations from a FHIR Bundle (see
    module doc); the whole Bundle is validated before any write."""
    text, encoding = read_text(path)
    try:
        document = json.loads(text)
    except json.JSONDecodeError as err:
        raise FileFormatError(path, err.lineno, f"JSON illisible ({err.msg}, colonne {err.colno}).") from None
    if not isinstance(document, dict) or document.get("resourceType") != "Bundle":
        raise FileFormatError(path, 1, "un Bundle FHIR est attendu (« resourceType » : « Bundle »).")
    bundle = _validated(document, path)
    report = ImportReport(path, "Bundle FHIR (annuaire)", encoding, dry_run)
    resources: dict[tuple[str, str], Any] = {}
    for entry in bundle.entry or []:
        resource = entry.resource
        if resource is not None and resource.id:
            resources[(resource.get_resource_type(), resource.id)] = resource
    clienteles = clientele_table()
    services = [r for (kind, _id), r in sorted(resources.items()) if kind == "HealthcareService"]
    wanted_communes: dict[str, str] = {}
    rows: list[tuple[int, str, Any, Any, Any]] = []
    for number, service in enumerate(services, start=1):
        report.read += 1
        org = resources.get(("Organization", _reference_id(service.providedBy, "Organization") or ""))
        if org is None:
            report.rejected.append(
                RowError(
                    number, "providedBy", "HealthcareService sans Organization dans le Bundle", service.id
                )
            )
            continue
        finess = _finess(org)
        if not finess or len(finess) != 9 or not finess.isalnum():
            report.rejected.append(
                RowError(number, "Organization.identifier", "numéro FINESS absent ou invalide", org.id)
            )
            continue
        location = next(
            (
                resources.get(("Location", _reference_id(ref, "Location") or ""))
                for ref in service.location or []
            ),
            None,
        )
        address = (location.address if location is not None else None) or ((org.address or [None])[0])
        commune = (
            next((e.valueCode for e in _ext(address, EXT_COMMUNE)), None) if address is not None else None
        )
        if not commune:
            report.rejected.append(RowError(number, "address", "code INSEE de la commune absent", finess))
            continue
        wanted_communes[finess] = str(commune)
        rows.append((number, finess, service, org, location))
    known_communes = store.get_nodes(K.COMMUNE, set(wanted_communes.values()))
    existing = store.get_nodes(K.ESTABLISHMENT, set(wanted_communes))
    nodes: list[Node] = []
    edges: list[Edge] = []
    described: set[str] = set()
    for number, finess, service, org, location in rows:
        commune = known_communes.get(wanted_communes[finess])
        if commune is None:
            report.rejected.append(
                RowError(
                    number,
                    "address",
                    f"commune {wanted_communes[finess]} inconnue : lancez d'abord dihr init",
                    finess,
                )
            )
            continue
        node, links = _establishment(finess, service, org, location, commune, clienteles, number, report)
        if node is None:
            continue
        if finess in existing:  # already in the register (FINESS): its provenance stays
            node = Node(node.kind, node.key, {k: v for k, v in node.props.items() if k != "source"})
        nodes.append(node)
        edges.append(Edge(R.LOCATED_IN, node.ref, commune.ref))
        for edge in links:
            if edge.target.kind is K.COMBINATION:
                for element in combination_elements(edge.target.key):
                    (nodes if isinstance(element, Node) else edges).append(element)  # type: ignore[arg-type]
            edges.append(edge)
        if any(e.type is R.ACCEPTS for e in links):
            described.add(finess)
    # Links to what the reference data does not hold (a rare condition before `dihr init`) are reported.
    targets = {e.target for e in edges if e.target.kind in (K.DEFICIENCY, K.SKILL, K.CONDITION, K.COMMUNE)}
    present = {
        NodeRef(kind, key)
        for kind in {t.kind for t in targets}
        for key in store.get_nodes(kind, {t.key for t in targets if t.kind is kind})
    }
    for edge in [e for e in edges if e.target in targets and e.target not in present]:
        report.rejected.append(
            RowError(
                0,
                "specialty",
                f"{edge.target.key} absent du référentiel : lancez d'abord dihr init",
                edge.source.key,
            )
        )
    edges = [e for e in edges if e.target not in targets or e.target in present]
    kept = {(e.type, e.source.key, e.target) for e in edges}
    stale = [
        e
        for found in store.edges_from(
            [NodeRef(K.ESTABLISHMENT, f) for f in sorted(described)], [R.ACCEPTS]
        ).values()
        for e in found
        if e.props.get("source") in INFERRED_SOURCES and (e.type, e.source.key, e.target) not in kept
    ]
    report.notes.append(
        f"{sum(1 for n in nodes if n.kind is K.ESTABLISHMENT)} établissement(s) ; publics et spécialisations déclarés : source « {SOURCE_ROR} », "
        "préférée à ce que la catégorie ou le nom FINESS laissaient supposer."
    )
    if dry_run:
        report.created = len(nodes)
        return report
    store.delete_edges(stale)
    summary = store.upsert(nodes, edges)
    new = {n.key for n in nodes if n.kind is K.ESTABLISHMENT and n.key not in existing}
    links_of_new = sum(1 for e in edges if e.source.key in new)
    report.created = len(new)
    report.updated = (
        summary.nodes_updated + summary.edges_updated + max(0, summary.edges_created - links_of_new)
    )
    report.unchanged = summary.nodes_unchanged + summary.edges_unchanged
    if progress:
        progress(len(nodes))
    report.notes.append(
        "Créés : établissements nouveaux ; mis à jour et inchangés : établissements et relations."
    )
    return report


def _establishment(
    finess: str,
    service: Any,
    org: Any,
    location: Any,
    commune: Node,
    clienteles: Mapping[str, Any],
    number: int,
    report: ImportReport,
) -> tuple[Node | None, list[Edge]]:
    """The establishment node and its competence links of one HealthcareService."""
    address = (org.address or [None])[0]
    phone = next((t.value for t in org.telecom or [] if t.system == "phone"), None)
    email = next((t.value for t in org.telecom or [] if t.system == "email"), None)
    website = next((t.value for t in org.telecom or [] if t.system == "url"), None)
    category = next(
        (c.code for t in org.type or [] for c in t.coding or [] if c.system == CATEGORY_SYSTEM), None
    )
    label = next(
        (c.display for t in org.type or [] for c in t.coding or [] if c.system == CATEGORY_SYSTEM), None
    )
    position = location.position if location is not None else None
    lat = float(position.latitude) if position is not None else float(commune.props["lat"])
    lon = float(position.longitude) if position is not None else float(commune.props["lon"])
    origin = next((e.valueCode for e in _ext(location, EXT_POSITION)), None) if location is not None else None
    synthetic = any(t.code == "synthetique" for t in ((service.meta.tag or []) if service.meta else []))
    props: dict[str, Any] = {
        "name": org.name or service.name or finess,
        "long_name": (org.alias or [None])[0],
        "category": category,
        "category_label": label,
        "address": (address.line or [None])[0] if address is not None and address.line else None,
        "postcode": address.postalCode if address is not None else None,
        "city": address.city if address is not None else None,
        "phone": phone,
        "email": email,
        "website": website,
        "commune": commune.key,
        "department": commune.props.get("department"),
        "lat": lat,
        "lon": lon,
        "location_source": origin or ("finess" if position is not None else "centroide_commune"),
        "source": "fhir",
        "generalist": True if _ext(org, EXT_GENERALIST) else None,
        "intervention_communes": sorted(e.valueCode for e in _ext(service, EXT_ZONE)) or None,
        "synthetic": True if synthetic else None,
    }
    ref = NodeRef(K.ESTABLISHMENT, finess)
    links: list[Edge] = []
    for eligibility in service.eligibility or []:
        codes = _codes(eligibility.code)
        deficiencies = [c for s, c in codes if s == DEFICIENCY_SYSTEM and c in DEFICIENCIES]
        if not deficiencies:  # a national directory's Bundle: the clientèle code says it
            deficiencies = [
                d
                for s, c in codes
                if s == CLIENTELE_SYSTEM and c in clienteles
                for d in clienteles[c].deficiencies
            ]
        deficiencies = [d for d in deficiencies if d in DEFICIENCIES]
        if not deficiencies:
            report.skipped += 1  # a public outside disability, or « all deficiencies » without detail
            continue
        ages = next((e.valueRange for e in _ext(eligibility, EXT_AGES)), None)
        band = {
            "age_min": int(ages.low.value) if ages is not None and ages.low is not None else None,
            "age_max": int(ages.high.value) if ages is not None and ages.high is not None else None,
        }
        for code in deficiencies:
            links.append(
                Edge(
                    R.ACCEPTS,
                    ref,
                    NodeRef(K.DEFICIENCY, code),
                    {**band, "source": SOURCE_ROR, "category": None, "keyword": None},
                )
            )
    for specialty in service.specialty or []:
        level = next((int(e.valueInteger) for e in _ext(specialty, EXT_LEVEL)), 1)
        for system, code in _codes(specialty):
            kind = _TARGETS.get(system)
            key = f"ORPHA:{code}" if kind is K.CONDITION else code
            valid = (
                (kind is K.DEFICIENCY and key in DEFICIENCIES)
                or (kind is K.SKILL and key in SKILLS)
                or (kind is K.CONDITION and key in CONDITIONS)
                or (kind is K.COMBINATION and all(p in DEFICIENCIES for p in key.split("+")))
            )
            if kind is None:
                continue
            if not valid:
                report.rejected.append(RowError(number, "specialty", f"code inconnu {system}|{code}", finess))
                continue
            links.append(
                Edge(
                    R.HAS_EXPERTISE,
                    ref,
                    NodeRef(kind, key),
                    {"level": max(1, min(3, level)), "source": SOURCE_ROR},
                )
            )
    return Node(K.ESTABLISHMENT, finess, props), links

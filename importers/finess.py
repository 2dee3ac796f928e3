"""``dihr import finess FILE``: the official FINESS extraction of establishments.

File layout (``etalab-cs1100507-stock-*.csv``, shared FINESS.md §1, after the
DREES format description): a metadata line ``finess;etalab;<version>;<date>``,
then ``structureet`` lines (32 fields, 31 in older files) and
``geolocalisation`` lines (6 fields) joined on ``nofinesset``.

read → :func:`parse_finess` (pure: records and row errors) → :func:`load_finess`
(resolve communes, convert coordinates, upsert in batches, close what
disappeared). Nothing touches the store before the header is valid.
"""

from __future__ import annotations

import csv
import io
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from graph.geo import haversine_km
from graph.model import Edge, Node, NodeKind, NodeRef, RelType, combination_elements
from graph.store import GraphStore
from graph.vocabulary import CONDITIONS
from importers._files import FileFormatError, ImportRefused, ImportReport, RowError, read_text
from importers.finess_competence import INFERRED_SOURCES, category_rules, infer
from importers.reference import need_nodes

__all__ = [
    "DISABILITY_CATEGORIES",
    "FinessRecord",
    "FinessParse",
    "parse_finess",
    "load_finess",
    "import_finess",
    "insee_code",
]

K, R = NodeKind, RelType

# Disability-relevant categories (categetab): the rows of
# importers/data/finess_categories.csv (DREES nomenclature of establishment
# categories, shared FINESS.md §2), with the competence each implies.
DISABILITY_CATEGORIES: dict[str, str] = {code: rule.label for code, rule in category_rules().items()}

STRUCTURE_FIELDS = [
    "structureet",
    "nofinesset",
    "nofinessej",
    "rs",
    "rslongue",
    "complrs",
    "compldistrib",
    "numvoie",
    "typvoie",
    "voie",
    "compvoie",
    "lieuditbp",
    "commune",
    "departement",
    "libdepartement",
    "ligneacheminement",
    "telephone",
    "telecopie",
    "categetab",
    "libcategetab",
    "categagretab",
    "libcategagretab",
    "siret",
    "codeape",
    "codemft",
    "libmft",
    "codesph",
    "libsph",
    "dateouv",
    "dateautor",
    "datemaj",
    "numuai",
]
GEO_FIELDS = ["geolocalisation", "nofinesset", "coordxet", "coordyet", "sourcecoordet", "datemaj"]

# Overseas department codes of FINESS (shared FINESS.md §1).
OVERSEAS = {"9A": "971", "9B": "972", "9C": "973", "9D": "974", "9E": "975", "9F": "976", "9J": "986"}
# Default projection of each territory when sourcecoordet names none (FINESS.md §1).
DEFAULT_EPSG = {"9A": 5490, "9B": 5490, "9C": 2972, "9D": 2975, "9E": 4467, "9F": 4471}
METROPOLE_EPSG = 2154
# Projection names used by older extractions in sourcecoordet.
NAMED_PROJECTIONS = {
    "LAMBERT_93": 2154,
    "UTM_N20": 5490,
    "UTM_N22": 2972,
    "UTM_S40": 2975,
    "UTM_S38": 4471,
    "UTM_N21": 4467,
}
FAR_FROM_COMMUNE_KM = 20.0
#: ``location_source`` of an establishment placed at its commune's centre.
CENTROID = "centroide_commune"
#: A file that would close more than this share of the open establishments in
#: scope stops and asks for ``--accept-closures N``.
MAX_CLOSED_SHARE = 0.02
_FINESS = re.compile(r"^[0-9][0-9AB][0-9]{7}$")
_EPSG = re.compile(r"EPSG:(\d{4,5})")
_DATE_FR = re.compile(r"^(\d{2})/(\d{2})/(\d{4})$")


@dataclass(slots=True)
class FinessRecord:
    line: int
    finess: str
    fields: dict[str, str]
    insee: str
    department: str
    x: float | None = None
    y: float | None = None
    epsg: int | None = None
    geo_line: int | None = None


@dataclass(slots=True)
class FinessParse:
    path: Path
    encoding: str
    version: str
    extraction_date: str
    records: dict[str, FinessRecord] = field(default_factory=dict)
    all_numbers: set[str] = field(default_factory=set)
    errors: list[RowError] = field(default_factory=list)
    lines: int = 0
    malformed: int = 0
    structure_lines: int = 0
    overseas_lines: int = 0  # structureet lines of overseas departments (9A…9J)
    geo_lines: int = 0
    #: the first malformed line (a cut file): its number and what was wrong
    first_malformed: tuple[int, str] | None = None


def insee_code(departement: str, commune: str) -> str:
    """INSEE commune code from FINESS ``departement`` + 3-digit ``commune``
    (overseas: ``97`` + commune, whose first digit is the department's)."""
    if departement in OVERSEAS:
        return "97" + commune
    return departement + commune


def _iso_date(value: str) -> str | None:
    value = value.strip()
    if not value:
        return None
    match = _DATE_FR.match(value)
    return f"{match.group(3)}-{match.group(2)}-{match.group(1)}" if match else value


_QUOTE_RUN = re.compile(r'"{2,}')


def _unquote(value: str) -> str:
    """A field as the register meant it. The etalab extraction quotes some values
    twice: once parsed as CSV, such a name is still quoted, its inner quotes doubled
    (the CSV quoting of « RESIDENCE "MARIE GALANTE" »), and some addresses carry runs
    of quotes. The outer quoting is undone, then each run of quotes stands for one
    quote. A field without quotes is returned as it is."""
    if '"' not in value:
        return value
    inner = value.strip()
    if len(inner) >= 2 and inner[0] == inner[-1] == '"' and '"' not in inner[1:-1].replace('""', ""):
        inner = inner[1:-1].replace('""', '"')
    return _QUOTE_RUN.sub('"', inner)


def parse_finess(path: Path) -> FinessParse:
    """Parse the file (pure: no store). Raises FileFormatError when the file is
    not a FINESS establishment extraction; bad rows become RowErrors."""
    text, encoding = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"')
    try:
        header = next(reader)
    except StopIteration:
        raise FileFormatError(path, 1, "fichier vide ; attendu « finess;etalab;<version>;<date> ».") from None
    if len(header) < 4 or header[0] != "finess" or header[1] != "etalab":
        raise FileFormatError(
            path,
            1,
            f"en-tête « {';'.join(header)[:60]} » ; attendu « finess;etalab;<version>;<AAAA-MM-JJ> ».",
        )
    parsed = FinessParse(path, encoding, header[2], _iso_date(header[3]) or "")
    geo: dict[str, tuple[int, list[str]]] = {}
    seen_kind: set[str] = set()
    for row in reader:
        line = reader.line_num
        if not row or row == [""]:
            continue
        parsed.lines += 1
        kind = row[0]
        if kind == "structureet":
            expected: tuple[int, ...] = (31, 32)
        elif kind == "geolocalisation":
            expected = (6,)
        else:
            reason = f"type de ligne inconnu : « {kind[:30]} »"
            parsed.errors.append(RowError(line, "type de ligne", reason))
            parsed.malformed += 1
            parsed.first_malformed = parsed.first_malformed or (line, reason)
            continue
        if len(row) not in expected:
            if kind not in seen_kind:
                raise FileFormatError(
                    path,
                    line,
                    f"ligne « {kind} » de {len(row)} champs ; attendu {' ou '.join(map(str, expected))} "
                    "(extraction FINESS etalab-cs1100507).",
                )
            reason = f"ligne tronquée ou mal formée : {len(row)} champs au lieu de {expected[-1]}"
            parsed.errors.append(RowError(line, "nombre de champs", reason))
            parsed.malformed += 1
            parsed.first_malformed = parsed.first_malformed or (line, reason)
            continue
        seen_kind.add(kind)
        if kind == "structureet":
            parsed.structure_lines += 1
            parsed.overseas_lines += row[13].strip().startswith("9")
        else:
            parsed.geo_lines += 1
        number = row[1].strip()
        if not _FINESS.match(number):
            parsed.errors.append(
                RowError(line, "nofinesset", f"numéro FINESS invalide : « {number} »", number)
            )
            continue
        if kind == "geolocalisation":
            if number in geo:
                parsed.errors.append(
                    RowError(
                        line, "nofinesset", f"géolocalisation en double (ligne {geo[number][0]})", number
                    )
                )
            else:
                geo[number] = (line, row)
            continue
        parsed.all_numbers.add(number)
        if number in parsed.records:
            first = parsed.records[number].line
            parsed.errors.append(
                RowError(line, "nofinesset", f"établissement en double : déjà ligne {first}", number)
            )
            continue
        fields = dict(zip(STRUCTURE_FIELDS, map(_unquote, row), strict=False))
        dep, commune = fields["departement"].strip(), fields["commune"].strip()
        if not re.match(r"^(\d{2}|2A|2B|9[A-FJ])$", dep) or not re.match(r"^\d{3}$", commune):
            parsed.errors.append(
                RowError(
                    line, "commune", f"code département/commune invalide : « {dep} » / « {commune} »", number
                )
            )
            continue
        parsed.records[number] = FinessRecord(line, number, fields, insee_code(dep, commune), dep)
    _refuse_incomplete(parsed)
    for number, (line, row) in geo.items():
        record = parsed.records.get(number)
        if record is None:
            continue  # geolocation of an establishment that was rejected or is absent
        x, y, source = row[2].strip(), row[3].strip(), row[4]
        if not x or not y:
            continue  # empty coordinates: placed at the commune's centroid, flagged at load
        try:
            record.x, record.y = float(x.replace(",", ".")), float(y.replace(",", "."))
        except ValueError:
            parsed.errors.append(
                RowError(line, "coordxet", f"coordonnées non numériques : « {x} », « {y} »", number)
            )
            continue
        record.epsg = _projection(source, record.department)
        record.geo_line = line
    return parsed


#: A complete extraction geolocates nearly every establishment (98 % in the
#: national file of 2021: only overseas lines lack one); fewer than this share
#: of geolocalisation lines means the file was cut inside that section.
MIN_GEOLOCATED_SHARE = 0.5
#: …checked on files of at least this many establishments (a handful of lines
#: is a hand-made extract, where a share means nothing).
MIN_LINES_FOR_SHARE = 100


def _refuse_incomplete(parsed: FinessParse) -> None:
    """An import is complete or changes nothing: a cut or section-less file is
    refused before any write (FileFormatError, with the file and the line)."""
    path = parsed.path
    if parsed.first_malformed is not None:
        line, reason = parsed.first_malformed
        raise FileFormatError(
            path,
            line,
            f"{reason} : le fichier semble coupé ou abîmé ; "
            "récupérez l'extraction complète (rien n'est importé d'un fichier partiel).",
        )
    if parsed.structure_lines == 0:
        raise FileFormatError(
            path,
            parsed.lines + 1,
            "aucune ligne « structureet » : le fichier ne contient "
            "que son en-tête. Récupérez l'extraction complète.",
        )
    # Overseas lines may lack geolocation in a complete file (shared finess
    # README): the share is over the metropolitan establishments.
    metro = parsed.structure_lines - parsed.overseas_lines
    if metro >= MIN_LINES_FOR_SHARE and parsed.geo_lines < MIN_GEOLOCATED_SHARE * metro:
        missing = "absente" if parsed.geo_lines == 0 else f"incomplète ({parsed.geo_lines} lignes)"
        raise FileFormatError(
            path,
            parsed.lines + 1,
            f"section « geolocalisation » {missing} pour "
            f"{metro} établissements de métropole : le fichier semble coupé. "
            "Récupérez l'extraction complète.",
        )


def _projection(source: str, department: str) -> int:
    match = _EPSG.search(source)
    if match:
        return int(match.group(1))
    for name, epsg in NAMED_PROJECTIONS.items():
        if name in source:
            return epsg
    return DEFAULT_EPSG.get(department, METROPOLE_EPSG)


@lru_cache(maxsize=16)
def _transformer(epsg: int) -> Any:
    from pyproj import Transformer

    return Transformer.from_crs(f"EPSG:{epsg}", "EPSG:4326", always_xy=True)


def _to_wgs84(records: list[FinessRecord]) -> dict[str, tuple[float, float]]:
    """(lat, lon) of every located record, converted per projection in bulk."""
    by_epsg: dict[int, list[FinessRecord]] = defaultdict(list)
    for r in records:
        if r.x is not None and r.epsg is not None:
            by_epsg[r.epsg].append(r)
    points: dict[str, tuple[float, float]] = {}
    for epsg, group in by_epsg.items():
        lons, lats = _transformer(epsg).transform([r.x for r in group], [r.y for r in group])
        for r, lon, lat in zip(group, lons, lats, strict=True):
            points[r.finess] = (round(float(lat), 6), round(float(lon), 6))
    return points


def _address(f: dict[str, str]) -> str:
    street = " ".join(p for p in (f["numvoie"], f["typvoie"], f["voie"], f["compvoie"]) if p.strip())
    parts = [street.strip(), f["lieuditbp"].strip(), f["ligneacheminement"].strip()]
    return ", ".join(p for p in parts if p)


def _phone(value: str) -> str | None:
    """A French phone number as FINESS writes it (10 digits), spaced by pairs."""
    digits = re.sub(r"\D", "", value)
    if len(digits) == 10:
        return " ".join(digits[i : i + 2] for i in range(0, 10, 2))
    return value.strip() or None


def _props(
    r: FinessRecord, commune: Node, point: tuple[float, float] | None, extraction: str
) -> dict[str, Any]:
    f = r.fields
    lat, lon = point if point else (commune.props["lat"], commune.props["lon"])
    acheminement = f["ligneacheminement"].strip()
    props: dict[str, Any] = {
        "name": f["rs"].strip() or f["rslongue"].strip(),
        "long_name": f["rslongue"].strip() or None,
        "finess_ej": f["nofinessej"].strip() or None,
        "category": f["categetab"].strip(),
        "category_label": f["libcategetab"].strip() or DISABILITY_CATEGORIES.get(f["categetab"].strip()),
        "address": _address(f) or None,
        "postcode": acheminement[:5] if acheminement[:5].isdigit() else None,
        "city": (acheminement[5:].strip() if acheminement[:5].isdigit() else acheminement) or None,
        "phone": _phone(f["telephone"]),
        "siret": f["siret"].strip() or None,
        "opened_on": _iso_date(f["dateouv"]),
        "updated_on": _iso_date(f["datemaj"]),
        "commune": commune.key,
        "department": commune.props["department"],
        "lat": lat,
        "lon": lon,
        "location_source": "finess" if point else CENTROID,
        "source": "finess",
        "extraction_date": extraction,
        "closed": None,
        "closed_since": None,
    }
    rule = category_rules().get(props["category"])
    if rule is not None:  # the public of the category (importers/data/finess_categories.csv)
        props["age_min"], props["age_max"] = rule.age_min, rule.age_max
        props["generalist"] = True if rule.generalist else None  # CAMSP: not rare-combination competence
    return props


_VOLATILE = frozenset({"extraction_date"})


def _stable(props: dict[str, Any] | None) -> dict[str, Any] | None:
    if props is None:
        return None
    return {k: v for k, v in props.items() if k not in _VOLATILE and v is not None}


def load_finess(
    store: GraphStore,
    parsed: FinessParse,
    *,
    all_categories: bool = False,
    dry_run: bool = False,
    accept_closures: int | None = None,
    batch_size: int = 2000,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Resolve, convert, compare and (unless ``dry_run``) upsert; then mark as
    closed the FINESS establishments of the store absent from this extraction."""
    advance = progress or (lambda _n: None)
    report = ImportReport(parsed.path, "FINESS établissements", parsed.encoding, dry_run, read=parsed.lines)
    report.rejected += parsed.errors
    report.notes.append(f"Extraction FINESS du {parsed.extraction_date} (version {parsed.version}).")
    communes = {n.key: n for n in store.nodes(K.COMMUNE)}
    if not communes:
        from graph.errors import ReferenceDataError

        raise ReferenceDataError("Le référentiel géographique est vide : lancez d'abord `dihr init`.")
    alias = {a: key for key, n in communes.items() for a in n.props.get("aliases", [])}

    kept = []
    out_of_scope: Counter[tuple[str, str]] = Counter()
    for r in parsed.records.values():
        if all_categories or r.fields["categetab"].strip() in DISABILITY_CATEGORIES:
            kept.append(r)
        else:
            report.skipped += 1
            out_of_scope[(r.fields["categetab"].strip(), r.fields["libcategetab"].strip())] += 1
    if out_of_scope:
        top = ", ".join(f"{code} {label} : {n}" for (code, label), n in out_of_scope.most_common(8))
        report.notes.append(
            f"Hors champ (catégories hors handicap), par catégorie : {top}"
            + (f" et {len(out_of_scope) - 8} autres catégories." if len(out_of_scope) > 8 else ".")
        )
        report.by_category = dict(out_of_scope)
    stored = store.get_nodes(K.ESTABLISHMENT, [r.finess for r in kept])
    points = _to_wgs84(kept)
    nodes: list[Node] = []
    edges: list[Edge] = []
    for r in kept:
        code = r.insee if r.insee in communes else alias.get(r.insee)
        if code is None and r.department in ("9E", "9J"):
            report.rejected.append(
                RowError(
                    r.line,
                    "commune",
                    f"collectivité d'outre-mer hors du référentiel géographique : code INSEE « {r.insee} »",
                    r.finess,
                )
            )
            continue
        if code is None:
            report.rejected.append(
                RowError(
                    r.line,
                    "commune",
                    f"commune inconnue : code INSEE « {r.insee} » (département {r.department})",
                    r.finess,
                )
            )
            continue
        commune = communes[code]
        point = points.get(r.finess)
        raw: tuple[float, float] | None = None
        if point is not None:
            distance = haversine_km(
                point[0], point[1], float(commune.props["lat"]), float(commune.props["lon"])
            )
            if distance > FAR_FROM_COMMUNE_KM:  # cannot be right: the commune's centre, the raw point kept
                report.flagged.append(
                    RowError(
                        r.geo_line or r.line,
                        "coordxet",
                        f"point à plus de {FAR_FROM_COMMUNE_KM:.0f} km de sa commune : {distance:.0f} km de "
                        f"{commune.props['name']} ({code}), placé au centre de la commune — erreur de projection ?",
                        r.finess,
                    )
                )
                raw, point = point, None
        props = _props(r, commune, point, parsed.extraction_date)
        if raw is not None:
            props.update(raw_lat=raw[0], raw_lon=raw[1])
        else:
            props.update(raw_lat=None, raw_lon=None)
        old = stored.get(r.finess)
        if point is None and raw is None:
            if (
                old is not None
                and old.props.get("location_source") == "finess"
                and old.props.get("commune") == commune.key
            ):
                # this file lacks its geolocation: the stored FINESS point stays, never a centroid
                props.update(lat=old.props["lat"], lon=old.props["lon"], location_source="finess")
                report.flagged.append(
                    RowError(
                        r.line,
                        "coordxet",
                        "sans coordonnées dans ce fichier : position précédente conservée",
                        r.finess,
                    )
                )
            else:
                report.flagged.append(
                    RowError(r.line, "coordxet", "sans coordonnées : placé au centre de sa commune", r.finess)
                )
        nodes.append(Node(K.ESTABLISHMENT, r.finess, props))
        edges.append(Edge(R.LOCATED_IN, NodeRef(K.ESTABLISHMENT, r.finess), commune.ref))
    inferred_edges, stale = _inferred_links(store, parsed, nodes, report)

    moved: list[Edge] = []
    for node in nodes:
        old = stored.get(node.key)
        if old is None:
            report.created += 1
        elif _stable(dict(old.props)) == _stable(dict(node.props)):
            report.unchanged += 1
        else:
            report.updated += 1
            previous = old.props.get("commune")
            if previous and previous != node.props["commune"]:
                moved.append(Edge(R.LOCATED_IN, node.ref, NodeRef(K.COMMUNE, str(previous))))

    closing = []
    open_in_scope = 0
    for node in store.nodes(K.ESTABLISHMENT):
        if node.props.get("source") != "finess" or node.props.get("closed"):
            continue
        if not all_categories and str(node.props.get("category")) not in DISABILITY_CATEGORIES:
            continue
        open_in_scope += 1
        if node.key not in parsed.all_numbers:
            closing.append(
                Node(K.ESTABLISHMENT, node.key, {"closed": True, "closed_since": parsed.extraction_date})
            )
    report.closed = len(closing)
    if len(closing) > MAX_CLOSED_SHARE * open_in_scope and accept_closures != len(closing):
        raise ImportRefused(
            parsed.path,
            f"{len(closing)} établissements ouverts sur {open_in_scope} ({len(closing) / max(1, open_in_scope):.0%}) "
            f"seraient marqués fermés, plus que le seuil de {MAX_CLOSED_SHARE:.0%} : le fichier est-il complet "
            f"et national ? Si ces fermetures sont voulues, relancez avec --accept-closures {len(closing)}.",
        )

    if dry_run:
        return report
    store.delete_edges(moved + stale)
    for start in range(0, len(nodes), batch_size):
        store.upsert(nodes[start : start + batch_size], edges[start : start + batch_size])
        advance(len(nodes[start : start + batch_size]))
    if inferred_edges:
        store.upsert(list(need_nodes()))  # the targets of the links (idempotent)
        combinations = sorted({e.target.key for e in inferred_edges if e.target.kind is K.COMBINATION})
        elements = [element for key in combinations for element in combination_elements(key)]
        elements += [
            Node(K.CONDITION, key, {"label": CONDITIONS[key].label})
            for key in sorted({e.target.key for e in inferred_edges if e.target.kind is K.CONDITION})
        ]
        store.upsert(
            [e for e in elements if isinstance(e, Node)], [e for e in elements if isinstance(e, Edge)]
        )
    for start in range(0, len(inferred_edges), batch_size):
        store.upsert((), inferred_edges[start : start + batch_size])
    for start in range(0, len(closing), batch_size):
        store.upsert(closing[start : start + batch_size])
    return report


def _inferred_links(
    store: GraphStore, parsed: FinessParse, nodes: list[Node], report: ImportReport
) -> tuple[list[Edge], list[Edge]]:
    """The ACCEPTS / HAS_EXPERTISE links that each establishment's category and
    name imply (:mod:`importers.finess_competence`), and the stored inferred
    links that no longer hold (category or name changed).

    An establishment whose ACCEPTS come from a stronger source (an équipements
    clientèle, a directory) keeps them: no inferred ACCEPTS is added to it."""
    existing = store.edges_from([n.ref for n in nodes], [R.ACCEPTS, R.HAS_EXPERTISE])
    wanted: list[Edge] = []
    stale: list[Edge] = []
    without = 0
    # The FINESS records of the CNRHR and ERHR: their contact completes the
    # referent's; they make no local resource of their own (one resource, not two).
    referents = {
        str(n.props["finess"])
        for kind in (K.CNRHR, K.ERHR_TEAM)
        for n in store.nodes(kind)
        if n.props.get("finess")
    }
    for node in nodes:
        record = parsed.records[node.key].fields
        if node.key in referents:
            stale += [e for e in existing.get(node.ref, []) if e.props.get("source") in INFERRED_SOURCES]
            continue
        inferred = infer(
            str(node.props["category"]),
            " ".join((record["rs"], record["rslongue"], record["complrs"])),
            str(node.props.get("department") or ""),
        )
        old = existing.get(node.ref, [])
        stronger = any(e.type is R.ACCEPTS and e.props.get("source") not in INFERRED_SOURCES for e in old)
        new: dict[tuple[RelType, NodeRef], Edge] = {}
        if inferred is not None:
            if not stronger:
                for code, props in inferred.accepts.items():
                    target = NodeRef(K.DEFICIENCY, code)
                    new[(R.ACCEPTS, target)] = Edge(R.ACCEPTS, node.ref, target, dict(props))
            for code, props in inferred.skills.items():
                target = NodeRef(K.SKILL, code)
                new[(R.HAS_EXPERTISE, target)] = Edge(R.HAS_EXPERTISE, node.ref, target, dict(props))
            for key, props in inferred.expertise.items():  # a combination or a condition the name says
                target = NodeRef(K.CONDITION if key.startswith("ORPHA:") else K.COMBINATION, key)
                new[(R.HAS_EXPERTISE, target)] = Edge(R.HAS_EXPERTISE, node.ref, target, dict(props))
            if not inferred.accepts and not stronger:
                without += 1
        for edge in old:
            if edge.props.get("source") in INFERRED_SOURCES and (edge.type, edge.target) not in new:
                stale.append(edge)
        wanted.extend(new.values())
    accepts = sum(1 for e in wanted if e.type is R.ACCEPTS)
    report.notes.append(
        f"Compétences déduites de la catégorie ou du nom FINESS : {accepts} relations « accueille » "
        f"(source categorie_finess / nom_finess), remplacées par les clientèles d'un fichier équipements s'il est importé."
    )
    if without:
        report.notes.append(
            f"{without} établissement(s) dont ni la catégorie ni le nom n'indiquent de public "
            "(établissements expérimentaux, centres de ressources) : importez le fichier équipements "
            "ou complétez l'annuaire pour qu'ils soient proposés."
        )
    return wanted, stale


def import_finess(
    store: GraphStore,
    path: Path,
    *,
    all_categories: bool = False,
    dry_run: bool = False,
    accept_closures: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    from importers.finess_flows import flow_kind
    from importers.finess_structures import parse_structures

    parsed = parse_structures(path) if flow_kind(path) == "structures" else parse_finess(path)
    return load_finess(
        store,
        parsed,
        all_categories=all_categories,
        dry_run=dry_run,
        accept_closures=accept_closures,
        progress=progress,
    )

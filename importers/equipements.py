"""``dihr import finess-equipements FILE``: which deficiencies each establishment
accepts, from the FINESS *équipements sociaux et médico-sociaux* extraction
(``etalab-cs1100505-stock-*.csv``, shared FINESS.md §3).

Fields 1-16 of an ``equipementsocial`` line are read by position (extra fields
are tolerated); a line whose ``indsupinst`` is ``O`` is a deleted equipment and
is ignored. Clientèle codes map to the deficiency vocabulary through
``importers/data/finess_clienteles.csv`` (data, editable). Several lines of one
establishment for one deficiency merge: widest age band, summed capacity.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.store import GraphStore
from importers._files import FileFormatError, ImportReport, RowError, read_text
from importers.finess_competence import INFERRED_SOURCES, STRONGER_SOURCES
from importers.reference import combination_elements

__all__ = ["Clientele", "clientele_table", "import_equipements"]

K, R = NodeKind, RelType
_MIN_FIELDS = 16


@dataclass(frozen=True, slots=True)
class Clientele:
    code: str
    label: str
    deficiencies: tuple[str, ...]  # may contain RARE (handicap rare)
    combination: str | None


def clientele_table() -> dict[str, Clientele]:
    """Clientèle code → mapping, ranges (``110-128``) expanded."""
    text = (files("importers") / "data" / "finess_clienteles.csv").read_text(encoding="utf-8")
    table: dict[str, Clientele] = {}
    for rec in csv.DictReader(text.splitlines()):
        first, _, last = rec["code"].partition("-")
        for number in range(int(first), int(last or first) + 1):
            code = f"{number:03d}"
            table[code] = Clientele(
                code, rec["label"], tuple(rec["deficiencies"].split()), rec["combination"] or None
            )
    return table


def _int(value: str) -> int | None:
    value = value.strip()
    if not value:
        return None
    return int(float(value.replace(",", ".")))


def import_equipements(
    store: GraphStore, path: Path, *, dry_run: bool = False, progress: Callable[[int], None] | None = None
) -> ImportReport:
    text, encoding = read_text(path)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";", quotechar='"')
    header = next(reader, [])
    if len(header) < 4 or header[:2] != ["finess", "etalab"]:
        raise FileFormatError(path, 1, "en-tête attendu « finess;etalab;<version>;<AAAA-MM-JJ> ».")
    report = ImportReport(path, "FINESS équipements (clientèles)", encoding, dry_run)
    table = clientele_table()
    accepts: dict[tuple[str, str], dict[str, Any]] = {}
    combos: dict[tuple[str, str], int] = {}
    rare: set[str] = set()
    lines: dict[str, int] = {}
    seen_equipment = False
    for row in reader:
        line = reader.line_num
        if not row or row[0] != "equipementsocial":
            continue  # structureet lines of this extraction are read by `import finess`
        report.read += 1
        if len(row) < _MIN_FIELDS:
            if not seen_equipment:
                raise FileFormatError(
                    path,
                    line,
                    f"ligne « equipementsocial » de {len(row)} champs ; attendu au moins {_MIN_FIELDS}.",
                )
            report.rejected.append(
                RowError(
                    line,
                    "nombre de champs",
                    f"ligne tronquée : {len(row)} champs",
                    row[1] if len(row) > 1 else "",
                )
            )
            continue
        seen_equipment = True
        finess, client = row[1].strip(), row[6].strip()
        if row[15].strip().upper() == "O":
            report.skipped += 1  # deleted equipment
            continue
        mapping = table.get(client)
        if mapping is None or not mapping.deficiencies:
            report.skipped += 1  # out of scope (elderly, social) or no specific deficiency
            continue
        try:
            capacity, age_min, age_max = _int(row[9]), _int(row[13]), _int(row[14])
        except ValueError:
            report.rejected.append(RowError(line, "capinstot", "capacité ou âge non numérique", finess))
            continue
        lines.setdefault(finess, line)
        for code in mapping.deficiencies:
            if code == "RARE":
                rare.add(finess)
                continue
            band = accepts.setdefault(
                (finess, code), {"age_min": age_min, "age_max": age_max, "capacity": 0, "clienteles": []}
            )
            band["age_min"] = _widen(band["age_min"], age_min, min)
            band["age_max"] = _widen(band["age_max"], age_max, max)
            band["capacity"] += capacity or 0
            if client not in band["clienteles"]:
                band["clienteles"].append(client)
        if mapping.combination:
            combos[(finess, mapping.combination)] = 2

    known = store.get_nodes(K.ESTABLISHMENT, {f for f, _ in accepts} | {f for f, _ in combos} | rare)
    unknown = sorted(({f for f, _ in accepts} | {f for f, _ in combos} | rare) - known.keys())
    for finess in unknown:
        report.rejected.append(
            RowError(
                lines.get(finess, 0),
                "nofinesset",
                "établissement inconnu : importez d'abord l'extraction FINESS des établissements",
                finess,
            )
        )
    nodes: list[Node] = [
        Node(K.ESTABLISHMENT, f, {"rare_disability": True}) for f in sorted(rare & known.keys())
    ]
    edges: list[Edge] = []
    for (finess, code), band in sorted(accepts.items()):
        if finess in known:
            props = {
                **band,
                "capacity": band["capacity"] or None,
                "source": "finess-equipements",
                # what an inferred link of the same identity carried: removed on merge
                "category": None,
                "category_label": None,
                "keyword": None,
            }
            edges.append(
                Edge(R.ACCEPTS, NodeRef(K.ESTABLISHMENT, finess), NodeRef(K.DEFICIENCY, code), props)
            )
    for (finess, key), level in sorted(combos.items()):
        if finess in known:
            for element in combination_elements(key):
                (nodes if isinstance(element, Node) else edges).append(element)  # type: ignore[arg-type]
            edges.append(
                Edge(
                    R.HAS_EXPERTISE,
                    NodeRef(K.ESTABLISHMENT, finess),
                    NodeRef(K.COMBINATION, key),
                    {"level": level},
                )
            )
    # Never over what a stronger source holds (directory expertise, a national directory).
    held = store.edges_from(
        [NodeRef(K.ESTABLISHMENT, f) for f in sorted(known)], [R.ACCEPTS, R.HAS_EXPERTISE]
    )
    stronger = {
        (e.type, e.source.key, e.target)
        for found in held.values()
        for e in found
        if e.props.get("source") in STRONGER_SOURCES
    }
    edges = [e for e in edges if (e.type, e.source.key, e.target) not in stronger]
    # The clientèles replace what the category or the name of an establishment implied.
    described = sorted({f for f, _ in accepts} & known.keys())
    kept = {(e.source.key, e.target.key) for e in edges if e.type is R.ACCEPTS}
    stale = [
        e
        for found in store.edges_from([NodeRef(K.ESTABLISHMENT, f) for f in described], [R.ACCEPTS]).values()
        for e in found
        if e.props.get("source") in INFERRED_SOURCES and (e.source.key, e.target.key) not in kept
    ]
    if dry_run:
        report.created = len(edges)
        return report
    store.delete_edges(stale)
    if stale:
        report.notes.append(
            f"{len(stale)} relation(s) « accueille » déduite(s) de la catégorie ou du nom FINESS remplacée(s) "
            "par les clientèles du fichier."
        )
    summary = store.upsert(nodes, edges)
    report.created, report.updated, report.unchanged = (
        summary.edges_created,
        summary.edges_updated,
        summary.edges_unchanged,
    )
    if progress:
        progress(len(edges))
    report.notes.append("Comptes en relations « accueille » (établissement → déficience).")
    return report


def _widen(current: int | None, new: int | None, pick: Callable[[int, int], int]) -> int | None:
    """An absent bound means 'no bound': it stays absent once seen."""
    if current is None or new is None:
        return None
    return pick(current, new)

"""``dihr import directory FILE``: professionals and pôles ressources handicap
from the CSV or XLSX files ERHR teams already keep.

Template (French column names; ``dihr template directory`` writes an empty one):

=================== ============================================================
colonne             contenu
=================== ============================================================
type                ``professionnel`` ou ``pole_ressources``
identifiant         identifiant stable (pas de nom de personne) ; généré si vide
profession          ex. orthophoniste, instructeur de locomotion (professionnel)
nom_structure       nom du pôle ressources (pole_ressources)
finess_lieu         numéro FINESS du lieu d'exercice (déjà importé), ou…
commune_lieu        …code commune INSEE du lieu d'exercice
expertises          codes et niveaux 1-3 séparés par « , » : ``DV:3, TSA:2, CAA:3,
                    DV+TSA:3, ORPHA:739:2`` (déficience, combinaison, compétence,
                    maladie rare ; « ; » est aussi accepté dans un XLSX)
age_min, age_max    âges accompagnés (optionnels)
=================== ============================================================
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graph.errors import DihrError
from graph.model import Edge, Node, NodeKind, NodeRef, RelType, combination_key
from graph.store import GraphStore
from graph.territories import resolve_commune
from graph.vocabulary import CONDITIONS, DEFICIENCIES, SKILLS
from importers._files import FileFormatError, ImportReport, RowError, classify_and_write, read_table
from importers.reference import combination_elements

__all__ = ["DIRECTORY_COLUMNS", "import_directory", "write_directory_template", "parse_expertise"]

K, R = NodeKind, RelType
DIRECTORY_COLUMNS = (
    "type",
    "identifiant",
    "profession",
    "nom_structure",
    "finess_lieu",
    "commune_lieu",
    "expertises",
    "age_min",
    "age_max",
)
_REQUIRED = {"type", "expertises"}
_TYPES = {"professionnel": K.PROFESSIONAL, "pole_ressources": K.RESOURCE_POLE}


def parse_expertise(text: str) -> list[tuple[NodeRef, int]]:
    """``DV:3; DV+TSA:2; CAA:1; ORPHA:739:3`` → targets with levels. Raises ValueError (French)."""
    result = []
    for item in (p.strip() for p in text.replace(",", ";").split(";")):
        if not item:
            continue
        code, _, level_text = item.upper().rpartition(":")
        if not code or not level_text.isdigit() or not 1 <= int(level_text) <= 3:
            raise ValueError(f"« {item} » : attendu CODE:NIVEAU avec un niveau de 1 à 3")
        level = int(level_text)
        if code.startswith("ORPHA:"):
            if code not in CONDITIONS:
                raise ValueError(f"maladie rare inconnue « {code} »")
            result.append((NodeRef(K.CONDITION, code), level))
        elif "+" in code:
            parts = code.split("+")
            unknown = [p for p in parts if p not in DEFICIENCIES]
            if unknown:
                raise ValueError(f"déficience inconnue dans la combinaison « {code} » : {', '.join(unknown)}")
            result.append((NodeRef(K.COMBINATION, combination_key(parts)), level))
        elif code in DEFICIENCIES:
            result.append((NodeRef(K.DEFICIENCY, code), level))
        elif code in SKILLS:
            result.append((NodeRef(K.SKILL, code), level))
        else:
            raise ValueError(f"code inconnu « {code} » (ni déficience, ni compétence, ni ORPHA)")
    if not result:
        raise ValueError("aucune expertise indiquée")
    return result


def write_directory_template(path: Path) -> Path:
    """An empty template (CSV with ``;``, or XLSX by extension)."""
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        sheet.title = "annuaire"
        sheet.append(list(DIRECTORY_COLUMNS))
        book.save(path)
    else:
        with path.open("w", encoding="utf-8", newline="") as handle:
            csv.writer(handle, delimiter=";").writerow(DIRECTORY_COLUMNS)
    return path


def _age(value: str, column: str) -> int | None:
    if not value:
        return None
    if not value.isdigit() or int(value) > 120:
        raise ValueError(f"{column} : âge en années attendu (0 à 120), pas « {value} »")
    return int(value)


def import_directory(
    store: GraphStore, path: Path, *, dry_run: bool = False, progress: Callable[[int], None] | None = None
) -> ImportReport:
    header, rows, encoding = read_table(path)
    missing = sorted(_REQUIRED - set(header))
    if missing:
        raise FileFormatError(
            path,
            1,
            f"colonne(s) manquante(s) : {', '.join(missing)} ; colonnes attendues : {', '.join(DIRECTORY_COLUMNS)}.",
        )
    report = ImportReport(path, "annuaire", encoding, dry_run, read=len(rows))
    workplaces = store.get_nodes(K.ESTABLISHMENT, {r.get("finess_lieu", "") for _, r in rows} - {""})
    nodes: list[Node] = []
    edges: list[Edge] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        try:
            node, links = _row(store, row, workplaces, path.name, line)
        except ValueError as err:
            field, _, reason = str(err).partition(" | ")
            report.rejected.append(RowError(line, field, reason, row.get("identifiant", "")))
            continue
        if node.key in seen:
            report.rejected.append(
                RowError(
                    line, "identifiant", f"identifiant en double : déjà ligne {seen[node.key]}", node.key
                )
            )
            continue
        seen[node.key] = line
        nodes.append(node)
        edges += links
    combos = [e.target.key for e in edges if e.target.kind is K.COMBINATION]
    for key in sorted(set(combos)):
        for element in combination_elements(key):
            (nodes if isinstance(element, Node) else edges).append(element)  # type: ignore[arg-type]
    for orpha in sorted({e.target.key for e in edges if e.target.kind is K.CONDITION}):
        nodes.append(Node(K.CONDITION, orpha, {"label": CONDITIONS[orpha].label}))
    classify_and_write(
        store,
        report,
        nodes,
        edges,
        frozenset({K.PROFESSIONAL, K.RESOURCE_POLE}),
        dry_run=dry_run,
        progress=progress,
    )
    return report


def _row(
    store: GraphStore, row: dict[str, str], workplaces: dict[str, Node], source: str, line: int
) -> tuple[Node, list[Edge]]:
    kind = _TYPES.get(row.get("type", "").strip().lower())
    if kind is None:
        raise ValueError("type | attendu « professionnel » ou « pole_ressources »")
    try:
        expertise = parse_expertise(row.get("expertises", ""))
    except ValueError as err:
        raise ValueError(f"expertises | {err}") from None
    try:
        age_min, age_max = _age(row.get("age_min", ""), "age_min"), _age(row.get("age_max", ""), "age_max")
    except ValueError as err:
        raise ValueError(f"age | {err}") from None
    key = row.get("identifiant", "").strip() or _generated_id(kind, row)
    if not key.replace("-", "").replace("_", "").replace(".", "").isalnum() or len(key) > 64:
        raise ValueError("identifiant | lettres, chiffres, - _ . seulement (64 caractères au plus)")
    ref = NodeRef(kind, key)
    props: dict[str, Any] = {"source": f"annuaire:{source}", "age_min": age_min, "age_max": age_max}
    links: list[Edge] = []
    finess, commune_code = row.get("finess_lieu", "").strip(), row.get("commune_lieu", "").strip()
    if kind is K.PROFESSIONAL:
        props["profession"] = row.get("profession", "").strip() or None
        if not props["profession"]:
            raise ValueError("profession | la profession est obligatoire pour un professionnel")
    else:
        props["name"] = row.get("nom_structure", "").strip() or None
        if not props["name"]:
            raise ValueError("nom_structure | le nom du pôle ressources est obligatoire")
    if finess and kind is K.PROFESSIONAL:
        site = workplaces.get(finess)
        if site is None:
            raise ValueError(
                f"finess_lieu | établissement {finess} inconnu : importez d'abord le fichier FINESS"
            )
        links.append(Edge(R.WORKS_AT, ref, site.ref))
        props["department"] = site.props.get("department")
    elif commune_code:
        try:
            commune = resolve_commune(store, commune_code)
        except DihrError:
            raise ValueError(f"commune_lieu | commune INSEE inconnue « {commune_code} »") from None
        props.update(
            commune=commune.key,
            department=commune.props["department"],
            lat=commune.props["lat"],
            lon=commune.props["lon"],
        )
        if kind is K.RESOURCE_POLE:
            links.append(Edge(R.LOCATED_IN, ref, commune.ref))
    else:
        raise ValueError("finess_lieu | indiquez un numéro FINESS ou une commune (commune_lieu)")
    links += [Edge(R.HAS_EXPERTISE, ref, target, {"level": level}) for target, level in expertise]
    return Node(kind, key, props), links


def _generated_id(kind: NodeKind, row: dict[str, str]) -> str:
    """Stable across re-imports of the same row content (no personal data in it)."""
    basis = "|".join(
        row.get(c, "")
        for c in ("type", "profession", "nom_structure", "finess_lieu", "commune_lieu", "expertises")
    )
    prefix = "PRO" if kind is K.PROFESSIONAL else "PRH"
    return f"{prefix}-{hashlib.sha256(basis.encode()).hexdigest()[:12]}"

"""``dihr import situations FILE``: pseudonymised situations (GDPR art. 9).

Columns: ``identifiant_situation``, ``age``, ``commune`` (INSEE), ``deficiences``
(codes separated by spaces, ``,`` or ``+``), ``maladies_rares`` (ORPHA codes),
``besoins`` (skill codes), ``erhr`` (optional: checked against the commune),
``statut`` (``ouverte``/``close``), ``date`` (opening date).

A column that looks like a direct identifier (name, first name, birth date,
NIR, e-mail, phone, address) — or a cell that looks like an e-mail or a NIR —
refuses the whole file: such data must never enter the graph.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from graph.errors import DihrError
from graph.model import Edge, Node, NodeKind, NodeRef, RelType, combination_key
from graph.store import GraphStore
from graph.territories import TerritoryTable, resolve_commune
from graph.vocabulary import CONDITIONS, normalise_conditions, normalise_deficiencies, normalise_skills
from importers._files import FileFormatError, ImportReport, RowError, classify_and_write, read_table
from importers.reference import combination_elements

__all__ = ["SITUATION_COLUMNS", "IDENTIFYING_COLUMNS", "import_situations", "IdentifyingDataError"]

K, R = NodeKind, RelType
SITUATION_COLUMNS = (
    "identifiant_situation",
    "age",
    "commune",
    "deficiences",
    "maladies_rares",
    "besoins",
    "erhr",
    "statut",
    "date",
)
# Normalised header fragments that name a direct identifier.
IDENTIFYING_COLUMNS = {
    "nom": "nom",
    "prenom": "prénom",
    "nom_de_naissance": "nom de naissance",
    "nom_usage": "nom d'usage",
    "naissance": "date de naissance",
    "date_de_naissance": "date de naissance",
    "ddn": "date de naissance",
    "nir": "NIR",
    "secu": "numéro de sécurité sociale",
    "securite_sociale": "numéro de sécurité sociale",
    "email": "e-mail",
    "e_mail": "e-mail",
    "mail": "e-mail",
    "courriel": "e-mail",
    "telephone": "téléphone",
    "tel": "téléphone",
    "portable": "téléphone",
    "mobile": "téléphone",
    "adresse": "adresse",
    "rue": "adresse",
    "name": "nom",
    "first_name": "prénom",
    "birth": "date de naissance",
}
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[a-z]{2,}", re.IGNORECASE)
_NIR = re.compile(r"^[12]\s?\d{2}\s?\d{2}\s?(\d{2}|2A|2B)\s?\d{3}\s?\d{3}(\s?\d{2})?$")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")
_STATUS = {
    "ouverte": "open",
    "ouvert": "open",
    "open": "open",
    "close": "closed",
    "fermee": "closed",
    "closed": "closed",
}


class IdentifyingDataError(FileFormatError):
    code = "IDENTIFYING_DATA"


def _identifying_column(name: str) -> str | None:
    parts = name.split("_")
    for fragment, label in sorted(IDENTIFYING_COLUMNS.items(), key=lambda item: -len(item[0])):
        pieces = fragment.split("_")
        if any(parts[i : i + len(pieces)] == pieces for i in range(len(parts))):
            return label
    return None


def _split(text: str) -> list[str]:
    return [p for p in re.split(r"[\s,;+]+", text.strip()) if p]


def _date(text: str) -> str | None:
    text = text.strip()
    if not text:
        return None
    if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
        return text
    match = re.match(r"^(\d{2})/(\d{2})/(\d{4})$", text)
    if match:
        return f"{match.group(3)}-{match.group(2)}-{match.group(1)}"
    raise ValueError(f"date | date attendue AAAA-MM-JJ ou JJ/MM/AAAA, pas « {text} »")


def import_situations(
    store: GraphStore, path: Path, *, dry_run: bool = False, progress: Callable[[int], None] | None = None
) -> ImportReport:
    header, rows, encoding = read_table(path)
    for column in header:
        label = _identifying_column(column)
        if label is not None:
            raise IdentifyingDataError(
                path,
                1,
                f"la colonne « {column} » ressemble à une donnée directement identifiante ({label}). "
                "Le fichier entier est refusé : les situations doivent être pseudonymisées "
                "(identifiant de situation, âge, commune, besoins) — retirez cette colonne.",
            )
    for line, row in rows:
        for column, value in row.items():
            if _EMAIL.search(value) or _NIR.match(value):
                raise IdentifyingDataError(
                    path,
                    line,
                    f"la colonne « {column} » contient une adresse e-mail ou un numéro de sécurité sociale. "
                    "Le fichier entier est refusé : retirez toute donnée directement identifiante.",
                )
    missing = [c for c in ("identifiant_situation", "age", "commune", "deficiences") if c not in header]
    if missing:
        raise FileFormatError(
            path,
            1,
            f"colonne(s) manquante(s) : {', '.join(missing)} ; colonnes attendues : {', '.join(SITUATION_COLUMNS)}.",
        )
    report = ImportReport(path, "situations", encoding, dry_run, read=len(rows))
    table = TerritoryTable(store)
    nodes: list[Node] = []
    edges: list[Edge] = []
    seen: dict[str, int] = {}
    for line, row in rows:
        try:
            row_nodes, links = _situation(store, table, row)
        except ValueError as err:
            field, _, reason = str(err).partition(" | ")
            report.rejected.append(RowError(line, field, reason, row.get("identifiant_situation", "")))
            continue
        except DihrError as err:
            report.rejected.append(RowError(line, "codes", err.message, row.get("identifiant_situation", "")))
            continue
        key = row_nodes[0].key
        if key in seen:
            report.rejected.append(
                RowError(line, "identifiant_situation", f"en double : déjà ligne {seen[key]}", key)
            )
            continue
        seen[key] = line
        nodes += row_nodes
        edges += links
    classify_and_write(
        store, report, nodes, edges, frozenset({K.SITUATION}), dry_run=dry_run, progress=progress
    )
    return report


def _situation(
    store: GraphStore, table: TerritoryTable, row: dict[str, str]
) -> tuple[list[Node], list[Edge]]:
    key = row.get("identifiant_situation", "").strip()
    if not _ID.match(key):
        raise ValueError(
            "identifiant_situation | identifiant pseudonyme attendu (lettres, chiffres, - _ . :)"
        )
    age_text = row.get("age", "").strip()
    if not age_text.isdigit() or int(age_text) > 120:
        raise ValueError(f"age | âge en années attendu (0 à 120), pas « {age_text} »")
    try:
        commune = resolve_commune(store, row.get("commune", ""))
    except DihrError:
        raise ValueError(f"commune | commune INSEE inconnue « {row.get('commune', '')} »") from None
    department = str(commune.props["department"])
    erhr = table.erhr_of_department.get(department, "")
    given_erhr = row.get("erhr", "").strip().upper()
    if given_erhr and given_erhr != erhr:
        raise ValueError(f"erhr | la commune {commune.key} relève de l'ERHR {erhr}, pas {given_erhr}")
    deficiencies = normalise_deficiencies(_split(row.get("deficiences", "")))
    conditions = normalise_conditions(_split(row.get("maladies_rares", "")))
    skills = normalise_skills(_split(row.get("besoins", "")))
    status_text = row.get("statut", "").strip().lower().replace("é", "e") or "ouverte"
    status = _STATUS.get(status_text)
    if status is None:
        raise ValueError(f"statut | attendu « ouverte » ou « close », pas « {row.get('statut')} »")
    ref = NodeRef(K.SITUATION, key)
    props: dict[str, Any] = {
        "age": int(age_text),
        "status": status,
        "opened_on": _date(row.get("date", "")),
        "department": department,
        "erhr": erhr,
    }
    combo = combination_key(list(deficiencies))
    elements = list(combination_elements(combo))
    combination_nodes = [e for e in elements if isinstance(e, Node)]
    links: list[Edge] = [e for e in elements if isinstance(e, Edge)]
    links += [
        Edge(R.LIVES_IN, ref, commune.ref),
        Edge(R.PRESENTS, ref, NodeRef(K.COMBINATION, combo)),
        Edge(R.FOLLOWED_BY, ref, NodeRef(K.ERHR_TEAM, erhr)),
    ]
    links += [Edge(R.HAS_CONDITION, ref, NodeRef(K.CONDITION, c)) for c in sorted(conditions)]
    links += [Edge(R.NEEDS, ref, NodeRef(K.SKILL, s)) for s in sorted(skills)]
    # the conditions' nodes too (a store may hold only those matching needs)
    condition_nodes = [Node(K.CONDITION, c, {"label": CONDITIONS[c].label}) for c in sorted(conditions)]
    return [Node(K.SITUATION, key, props), *combination_nodes, *condition_nodes], links

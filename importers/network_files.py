"""Files of the network's own work: knowledge items and pôles' activity reports
(CSV or XLSX, French headers). Each file is checked whole before anything is
written: a bad row is reported with its line, field and reason, and nothing of
the file is stored."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from graph.activity import report_node
from graph.errors import DihrError, FileFormatError, InvalidInput
from graph.knowledge import knowledge_node
from graph.model import Edge, Node, NodeKind
from graph.store import GraphStore
from importers._files import ImportReport, read_table

__all__ = ["import_knowledge", "import_pole_reports", "KNOWLEDGE_COLUMNS", "POLE_COLUMNS"]

KNOWLEDGE_COLUMNS = ("type", "titre", "sujets")
POLE_COLUMNS = ("pole", "periode", "file_active", "familles", "rendez_vous", "actions_sensibilisation", "etp")


def _load(
    path: Path,
    required: tuple[str, ...],
    build: Callable[[dict[str, str]], tuple[list[Node], list[Edge]]],
    store: GraphStore,
    dry_run: bool,
    kind: str,
) -> ImportReport:
    header, rows, encoding = read_table(path)
    if not rows:
        raise FileFormatError(path, 0, "le fichier ne contient aucune ligne.")
    missing = [c for c in required if c not in header]
    if missing:
        raise FileFormatError(
            path, 1, f"colonne(s) manquante(s) : {', '.join(missing)} (attendues : {', '.join(required)})."
        )
    nodes: list[Node] = []
    edges: list[Edge] = []
    for line, row in rows:
        try:
            n, e = build(row)
        except DihrError as err:
            raise FileFormatError(path, line, err.message) from None
        nodes += n
        edges += e
    report = ImportReport(source=path, kind=kind, encoding=encoding, dry_run=dry_run, read=len(rows))
    if dry_run:
        report.created = len(nodes)
        return report
    summary = store.upsert(nodes, edges)
    report.created, report.updated, report.unchanged = (
        summary.nodes_created,
        summary.nodes_updated,
        summary.nodes_unchanged,
    )
    return report


def import_knowledge(
    store: GraphStore, path: Path, *, dry_run: bool = False, progress: object = None
) -> ImportReport:
    """Columns: type (guide, formation, outil, aide_technique, malle), titre, sujets
    (codes separated by commas), and optionally identifiant, resume, lien, auteur,
    erhr, disponible (oui/non)."""

    def build(row: dict[str, str]) -> tuple[list[Node], list[Edge]]:
        available = row.get("disponible", "").strip().lower()
        node, about = knowledge_node(
            kind=row["type"],
            title=row["titre"],
            summary=row.get("resume", ""),
            link=row.get("lien") or None,
            author=row.get("auteur", ""),
            erhr=row.get("erhr") or None,
            available=None if not available else available in ("oui", "1", "vrai", "true"),
            about=row["sujets"].split(","),
            key=row.get("identifiant") or None,
        )
        return [node], about

    return _load(path, KNOWLEDGE_COLUMNS, build, store, dry_run, "savoirs")


def import_pole_reports(
    store: GraphStore, path: Path, *, dry_run: bool = False, progress: object = None
) -> ImportReport:
    """One row per pôle ressources and period: pole (its identifier), periode
    (2026, 2026-S1), file_active, familles, rendez_vous, actions_sensibilisation, etp."""
    known = {n.key for n in store.nodes(NodeKind.RESOURCE_POLE)}

    def build(row: dict[str, str]) -> tuple[list[Node], list[Edge]]:
        pole = row["pole"].strip()
        if pole not in known:
            raise InvalidInput("pole", f"pôle ressources inconnu « {pole[:40]} ».")
        node, edge = report_node(
            pole,
            row["periode"],
            active_file=row["file_active"],
            families=row["familles"],
            appointments=row["rendez_vous"],
            awareness_actions=row["actions_sensibilisation"],
            fte=row["etp"],
        )
        return [node], [edge]

    return _load(path, POLE_COLUMNS, build, store, dry_run, "activité des pôles ressources")

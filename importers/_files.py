"""Plumbing shared by the importers: reading files, row errors, reports."""

from __future__ import annotations

import csv
import gzip
import io
import re
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from graph.errors import FileFormatError, ImportRefused, ServiceError

if TYPE_CHECKING:
    from graph.model import Edge, Node, NodeKind
    from graph.store import GraphStore

__all__ = [
    "FileFormatError",
    "ImportRefused",
    "RowError",
    "ImportReport",
    "read_text",
    "read_table",
    "normalise_header",
    "write_report",
    "classify_and_write",
]


@dataclass(frozen=True, slots=True)
class RowError:
    """One rejected or flagged row: where, which field, why (in French)."""

    line: int
    field: str
    reason: str
    key: str = ""


@dataclass(slots=True)
class ImportReport:
    """What an import did. ``rejected`` rows were not imported; ``flagged`` rows
    were imported with a warning (e.g. placed at their commune's centroid)."""

    source: Path
    kind: str
    encoding: str = "utf-8"
    dry_run: bool = False
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0  # out of scope (e.g. a FINESS category outside disability)
    closed: int = 0
    rejected: list[RowError] = field(default_factory=list)
    flagged: list[RowError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    report_path: Path | None = None
    #: rows out of scope by (category code, label)
    by_category: dict[tuple[str, str], int] = field(default_factory=dict)

    def rejected_by_reason(self) -> Counter[str]:
        return Counter(e.reason.split(" :")[0] for e in self.rejected)

    def summary_lines(self) -> list[str]:
        verb = "seraient" if self.dry_run else "ont été"
        lines = [
            f"{self.source.name} ({self.kind}, encodage {self.encoding}) : {self.read} lignes lues.",
            f"Créés : {self.created} ; mis à jour : {self.updated} ; inchangés : {self.unchanged} ; "
            f"hors champ : {self.skipped} ; fermés : {self.closed} ; rejetés : {len(self.rejected)} ; "
            f"signalés : {len(self.flagged)}.",
        ]
        if self.dry_run:
            lines.append(f"Simulation (--dry-run) : rien n'a été écrit ; ces changements {verb} appliqués.")
        for reason, count in sorted(self.rejected_by_reason().items()):
            lines.append(f"  rejet — {reason} : {count}")
        flagged = Counter(e.reason.split(" :")[0] for e in self.flagged)
        for reason, count in sorted(flagged.items()):
            lines.append(f"  signalement — {reason} : {count}")
        lines += [f"Note : {n}" for n in self.notes]
        if self.report_path is not None:
            lines.append(f"Rapport détaillé : {self.report_path}")
        return lines


#: A two-byte UTF-8 sequence of a Latin accented letter (é = C3 A9…): its presence says the file is UTF-8.
_UTF8_ACCENT = re.compile(rb"[\xc2-\xc5][\x80-\xbf]")
#: The longest cell accepted in a table (a name, an address, a summary: never 10 MB).
MAX_FIELD = 10_000


def read_text(path: Path) -> tuple[str, str]:
    """The file's text and the encoding used: UTF-8 when the bytes are valid
    UTF-8, else ISO-8859-1 (historic FINESS files). Gzip is opened transparently."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise FileFormatError(path, 0, f"lecture impossible ({err.strerror}).") from err
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (EOFError, OSError, zlib.error) as err:
            raise FileFormatError(
                path, 0, f"archive .gz tronquée ou abîmée ({err}) : téléchargez à nouveau « {path.name} »."
            ) from err
    bom = raw.startswith(b"\xef\xbb\xbf")
    body = raw[3:] if bom else raw
    try:
        return body.decode("utf-8"), "utf-8 (BOM)" if bom else "utf-8"
    except UnicodeDecodeError as err:
        # A UTF-8 file with a stray byte (its accents are UTF-8 sequences) would
        # become mojibake if read as ISO-8859-1: refused, naming the line.
        if bom or _UTF8_ACCENT.search(body[: err.start]) or _UTF8_ACCENT.search(body[err.end :]):
            newline = b"\n"
            line = body[: err.start].count(newline) + 1
            column = err.start - body.rfind(newline, 0, err.start)
            raise FileFormatError(
                path,
                line,
                f"octet invalide en UTF-8 (0x{body[err.start]:02x}, caractère n° {column} de la ligne) "
                "dans un fichier par ailleurs en UTF-8 : corrigez ce caractère ou enregistrez le fichier "
                "entièrement en UTF-8.",
            ) from None
        return body.decode("iso-8859-1"), "iso-8859-1"


def write_report(report: ImportReport, folder: Path) -> Path:
    """Write every rejected and flagged row as CSV in ``folder`` (the data
    directory's ``rapports/``), never next to the input: that folder may be
    read-only or shared."""
    name = f"{report.source.name.removesuffix('.gz')}.rapport.csv"
    target = folder / name
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with target.open("w", encoding="utf-8", newline="") as handle:
            writer = csv.writer(handle, delimiter=";")
            writer.writerow(["fichier", "ligne", "champ", "identifiant", "gravite", "motif"])
            for gravity, rows in (("rejet", report.rejected), ("signalement", report.flagged)):
                for e in rows:
                    writer.writerow([report.source.name, e.line, e.field, e.key, gravity, e.reason])
            for (code, label), count in sorted(report.by_category.items()):
                writer.writerow(
                    [
                        report.source.name,
                        "",
                        "categetab",
                        code,
                        "hors champ",
                        f"{count} établissement(s) : {label}",
                    ]
                )
        report.report_path = target
        return target
    except OSError:
        raise ServiceError(
            f"Impossible d'écrire le rapport {name} dans {folder} (dossier en lecture seule ?)."
        ) from None


def normalise_header(name: str) -> str:
    """Lower case, no accents, underscores: « Date de naissance » → date_de_naissance."""
    import unicodedata

    text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return "_".join(text.strip().lower().replace("-", " ").replace("'", " ").split())


def read_table(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]], str]:
    """A CSV (``;`` or ``,``, UTF-8 or ISO-8859-1) or XLSX table: normalised
    header, rows as (line number, {column: text}), and the encoding/format."""
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        return _read_xlsx(path)
    text, encoding = read_text(path)
    first = text.split("\n", 1)[0]
    delimiter = ";" if first.count(";") >= first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows = []
    last: list[str] = []
    try:
        header = [normalise_header(h) for h in next(reader, [])]
        if not any(header):
            raise FileFormatError(path, 1, "aucune ligne d'en-tête (noms de colonnes) n'a été trouvée.")
        _check_header(path, header)
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            last = row
            _check_cells(path, reader.line_num, header, row)
            rows.append(
                (reader.line_num, {h: (row[i].strip() if i < len(row) else "") for i, h in enumerate(header)})
            )
    except csv.Error as err:
        raise FileFormatError(path, reader.line_num, f"ligne illisible en CSV ({err}).") from None
    # A file cut mid-line (no final newline, a short last row) is refused whole:
    # an import is complete or changes nothing.
    if rows and not text.endswith(("\n", "\r")) and len(last) < len(header):
        raise FileFormatError(
            path,
            rows[-1][0],
            f"dernière ligne coupée ({len(last)} colonnes sur {len(header)}) : "
            "le fichier semble tronqué ; enregistrez-le à nouveau en entier.",
        )
    return header, rows, encoding


def _check_header(path: Path, header: list[str]) -> None:
    """Two columns of one name would let one silently win (a situation moved to
    another commune): refused, naming them."""
    twice = sorted({h for h in header if h and header.count(h) > 1})
    if twice:
        where = ", ".join(
            f"« {h} » (colonnes {', '.join(str(i + 1) for i, x in enumerate(header) if x == h)})"
            for h in twice
        )
        raise FileFormatError(
            path, 1, f"colonne(s) en double dans l'en-tête : {where} ; gardez-en une seule."
        )


def _check_cells(path: Path, line: int, header: list[str], cells: list[str]) -> None:
    """A cell longer than MAX_FIELD refuses the file, naming its line and column."""
    for i, cell in enumerate(cells):
        if len(cell) > MAX_FIELD:
            column = header[i] if i < len(header) else f"n° {i + 1}"
            raise FileFormatError(
                path,
                line,
                f"colonne « {column} » : {len(cell)} caractères, au plus {MAX_FIELD} sont acceptés.",
            )


def _read_xlsx(path: Path) -> tuple[list[str], list[tuple[int, dict[str, str]]], str]:
    from openpyxl import load_workbook

    try:
        sheet = load_workbook(path, read_only=True, data_only=True).worksheets[0]
    except Exception as err:  # openpyxl raises many types for a file that is not XLSX
        raise FileFormatError(path, 0, f"classeur XLSX illisible ({type(err).__name__}).") from err
    values = list(sheet.iter_rows(values_only=True))
    if not values:
        raise FileFormatError(path, 1, "la première feuille est vide.")
    header = [normalise_header(str(h or "")) for h in values[0]]
    _check_header(path, header)
    rows = []
    for number, row in enumerate(values[1:], start=2):
        cells = [
            "" if v is None else (v.isoformat()[:10] if hasattr(v, "isoformat") else str(v)) for v in row
        ]
        if not any(c.strip() for c in cells):
            continue
        _check_cells(path, number, header, cells)
        rows.append((number, {h: (cells[i].strip() if i < len(cells) else "") for i, h in enumerate(header)}))
    return header, rows, "xlsx"


def classify_and_write(
    store: GraphStore,
    report: ImportReport,
    nodes: list[Node],
    edges: list[Edge],
    counted: frozenset[NodeKind],
    *,
    dry_run: bool,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Count the nodes of the ``counted`` kinds as created / updated /
    unchanged against the store, then (unless ``dry_run``) write the batch."""
    from graph.store import merge_props

    existing = {}
    for kind in counted:
        existing.update(
            {(kind, k): n for k, n in store.get_nodes(kind, [n.key for n in nodes if n.kind is kind]).items()}
        )
    for node in nodes:
        if node.kind not in counted:
            continue
        old = existing.get((node.kind, node.key))
        if old is None:
            report.created += 1
        elif merge_props(old.props, node.props) == dict(old.props):
            report.unchanged += 1
        else:
            report.updated += 1
    if not dry_run and nodes:
        store.upsert(nodes, edges)
        if progress:
            progress(len(nodes))

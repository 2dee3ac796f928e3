"""``dihr check``: the graph's own invariants, on any backend, and the portable
dump that restores into either backend.

Invariants (each broken one is a French line naming what to do):
- every relationship's two ends exist;
- every establishment is located in the commune its ``commune`` says;
- every commune is part of a department, every department of a region, and
  the ERHR cover every region exactly once;
- every territory's population adds up (a department's is the sum of its
  communes', a region's the sum of its departments').

The portable dump is JSON lines: a header line (format, schema version,
counts), then one node or edge a line (nodes first, every kind, then edges).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from graph.errors import DumpError
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.store import GraphStore

__all__ = [
    "CheckReport",
    "check_graph",
    "dump",
    "load_dump",
    "DUMP_FORMAT",
    "DUMP_SCHEMA_VERSION",
    "DumpError",
]

K, R = NodeKind, RelType
DUMP_FORMAT = "dihr-graph-dump"
DUMP_SCHEMA_VERSION = 1
_MAX_LISTED = 10


@dataclass(slots=True)
class CheckReport:
    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_MAX_LISTED])
    return shown + (f" … (+{len(items) - _MAX_LISTED})" if len(items) > _MAX_LISTED else "")


def check_graph(store: GraphStore) -> CheckReport:
    """Every invariant of the module doc, read through the store protocol."""
    report = CheckReport()
    keys: dict[NodeKind, set[str]] = {kind: {n.key for n in store.nodes(kind)} for kind in NodeKind}
    report.checked["nœuds"] = sum(len(v) for v in keys.values())
    dangling: list[str] = []
    edges = 0
    for rel in RelType:
        for e in store.edges(rel):
            edges += 1
            for end in (e.source, e.target):
                if end.key not in keys[end.kind]:
                    dangling.append(f"{rel.value} {e.source} → {e.target}")
    report.checked["relations"] = edges
    if dangling:
        report.problems.append(f"{len(dangling)} relation(s) vers un nœud absent : {_listed(dangling)}.")

    located = store.edges_from([NodeRef(K.ESTABLISHMENT, k) for k in keys[K.ESTABLISHMENT]], [R.LOCATED_IN])
    establishments = store.get_nodes(K.ESTABLISHMENT, keys[K.ESTABLISHMENT])
    unlocated = [
        key
        for key, node in establishments.items()
        if node.props.get("commune") not in {e.target.key for e in located.get(node.ref, [])}
    ]
    if unlocated:
        report.problems.append(
            f"{len(unlocated)} établissement(s) sans leur commune (LOCATED_IN) : "
            f"{_listed(sorted(unlocated))} ; réimportez le fichier FINESS."
        )

    parents = {e.source: e.target for e in store.edges(R.PART_OF)}
    orphans = sorted(c for c in keys[K.COMMUNE] if NodeRef(K.COMMUNE, c) not in parents)
    if orphans:
        report.problems.append(
            f"{len(orphans)} commune(s) rattachée(s) à aucun département : {_listed(orphans)} ; "
            "relancez `dihr init`."
        )
    loose = sorted(d for d in keys[K.DEPARTMENT] if NodeRef(K.DEPARTMENT, d) not in parents)
    if loose:
        report.problems.append(
            f"Département(s) rattaché(s) à aucune région : {_listed(loose)} ; relancez `dihr init`."
        )
    covered = Counter(e.target.key for e in store.edges(R.COVERS) if e.target.kind is K.REGION)
    wrong = sorted(r for r in keys[K.REGION] if covered.get(r, 0) != 1)
    if keys[K.REGION] and wrong:
        report.problems.append(
            f"Région(s) couverte(s) par zéro ou plusieurs ERHR : {_listed(wrong)} ; "
            "corrigez le fichier des ERHR puis relancez `dihr init`."
        )
    report.problems += _population_sums(store, parents)
    return report


def _population_sums(store: GraphStore, parents: dict[NodeRef, NodeRef]) -> list[str]:
    """A department's population is its communes' sum, a region's its departments'."""
    problems = []
    for child_kind, parent_kind in ((K.COMMUNE, K.DEPARTMENT), (K.DEPARTMENT, K.REGION)):
        sums: dict[str, int] = defaultdict(int)
        for node in store.nodes(child_kind):
            parent = parents.get(node.ref)
            if parent is not None and parent.kind is parent_kind:
                sums[parent.key] += int(node.props.get("population") or 0)
        off = [
            f"{n.key} ({n.props.get('population')} ≠ {sums[n.key]})"
            for n in store.nodes(parent_kind)
            if n.props.get("population") is not None
            and n.key in sums
            and int(n.props["population"]) != sums[n.key]
        ]
        if off:
            problems.append(
                f"Population de {len(off)} {parent_kind.value} différente de la somme de ses "
                f"{child_kind.value} : {_listed(off)} ; relancez `dihr init`."
            )
    return problems


# -- portable dump ------------------------------------------------------------------------
def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def dump(store: GraphStore, out: IO[str], *, progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Write the whole store as JSON lines; returns the counts written."""
    advance = progress or (lambda _n: None)
    nodes, edges = store.count_nodes(), store.count_edges()
    out.write(
        _json(
            {
                "format": DUMP_FORMAT,
                "schema_version": DUMP_SCHEMA_VERSION,
                "nodes": {k.value: v for k, v in nodes.items()},
                "edges": {t.value: v for t, v in edges.items()},
            }
        )
        + "\n"
    )
    written = {"nodes": 0, "edges": 0}
    for kind in NodeKind:
        for node in store.nodes(kind):
            out.write(_json({"n": kind.value, "k": node.key, "p": dict(node.props)}) + "\n")
            written["nodes"] += 1
        advance(nodes.get(kind, 0))
    for rel in RelType:
        for e in store.edges(rel):
            out.write(
                _json(
                    {
                        "e": rel.value,
                        "s": [e.source.kind.value, e.source.key],
                        "t": [e.target.kind.value, e.target.key],
                        "p": dict(e.props),
                        "k": e.key,
                    }
                )
                + "\n"
            )
            written["edges"] += 1
        advance(edges.get(rel, 0))
    return written


def _read_dump(path: Path, lines: Iterable[str]) -> Iterator[Node | Edge]:
    it = iter(enumerate(lines, start=1))
    try:
        _n, first = next(it)
        header = json.loads(first)
    except (StopIteration, ValueError):
        raise DumpError(
            f"{path.name} : ce n'est pas une sauvegarde dihr-graph (première ligne illisible)."
        ) from None
    if header.get("format") != DUMP_FORMAT:
        raise DumpError(
            f"{path.name} : ce n'est pas une sauvegarde dihr-graph (format « {header.get('format')} »)."
        )
    if header.get("schema_version") != DUMP_SCHEMA_VERSION:
        raise DumpError(
            f"{path.name} : version de schéma {header.get('schema_version')} inconnue "
            f"(attendu {DUMP_SCHEMA_VERSION})."
        )
    for number, line in it:
        try:
            row = json.loads(line)
            if "n" in row:
                yield Node(NodeKind(row["n"]), row["k"], row["p"])
            else:
                yield Edge(
                    RelType(row["e"]),
                    NodeRef(NodeKind(row["s"][0]), row["s"][1]),
                    NodeRef(NodeKind(row["t"][0]), row["t"][1]),
                    row["p"],
                    row.get("k", ""),
                )
        except (ValueError, KeyError, TypeError, IndexError):
            raise DumpError(
                f"{path.name}, ligne {number} : ligne illisible ; la sauvegarde est abîmée."
            ) from None


def load_dump(
    store: GraphStore, path: Path, *, batch_size: int = 5000, progress: Callable[[int], None] | None = None
) -> dict[str, int]:
    """Read the whole dump first (a damaged dump writes nothing), then upsert
    its nodes and edges in batches; returns the counts read."""
    advance = progress or (lambda _n: None)
    with path.open(encoding="utf-8") as handle:
        elements = list(_read_dump(path, handle))
    nodes = [e for e in elements if isinstance(e, Node)]
    edges = [e for e in elements if isinstance(e, Edge)]
    for start in range(0, len(nodes), batch_size):
        store.upsert(nodes[start : start + batch_size])
        advance(len(nodes[start : start + batch_size]))
    for start in range(0, len(edges), batch_size):
        store.upsert((), edges[start : start + batch_size])
        advance(len(edges[start : start + batch_size]))
    return {"nodes": len(nodes), "edges": len(edges)}

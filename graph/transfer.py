"""Copy a whole store into another (``dihr export --to-neo4j``): the path a
region takes when it joins the national instance.

Idempotent: nodes and edges are upserted by identity, so copying twice
changes nothing. Nodes go first (every kind), then edges, in batches.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice

from graph.model import Edge, Node, NodeKind, RelType
from graph.store import GraphStore, WriteSummary

__all__ = ["TransferReport", "copy_store"]


@dataclass(frozen=True, slots=True)
class TransferReport:
    summary: WriteSummary
    source_nodes: dict[NodeKind, int]
    target_nodes: dict[NodeKind, int]
    source_edges: dict[RelType, int]
    target_edges: dict[RelType, int]

    @property
    def identical_counts(self) -> bool:
        """True when the target holds at least every element of the source (a
        target may hold more: other regions)."""
        return all(self.target_nodes.get(k, 0) >= n for k, n in self.source_nodes.items()) and all(
            self.target_edges.get(t, 0) >= n for t, n in self.source_edges.items()
        )


def _batches(items: Iterator[Node] | Iterator[Edge], size: int) -> Iterator[list]:  # type: ignore[type-arg]
    while batch := list(islice(items, size)):
        yield batch


def copy_store(
    source: GraphStore,
    target: GraphStore,
    *,
    batch_size: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> TransferReport:
    """Upsert every node then every edge of ``source`` into ``target``;
    ``progress`` is called with the number of elements of each batch written."""
    advance = progress or (lambda _n: None)
    summary = WriteSummary()
    for kind in NodeKind:
        for batch in _batches(source.nodes(kind), batch_size):
            summary += target.upsert(nodes=batch)
            advance(len(batch))
    for rel in RelType:
        for batch in _batches(source.edges(rel), batch_size):
            summary += target.upsert(edges=batch)
            advance(len(batch))
    return TransferReport(
        summary,
        source.count_nodes(),
        target.count_nodes(),
        source.count_edges(),
        target.count_edges(),
    )

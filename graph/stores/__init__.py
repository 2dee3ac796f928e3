"""Graph store backends and the one factory that chooses between them."""

from __future__ import annotations

from graph.settings import Settings
from graph.store import GraphStore

__all__ = ["open_store"]


def open_store(settings: Settings, *, server_workers: int = 1) -> GraphStore:
    """The configured store: Neo4j when ``DIHR_NEO4J_URI`` is set, else the
    embedded store in ``DIHR_DATA_DIR``; ``server_workers``: how many web
    processes of one server open it (the graph is held in memory by a single
    process only, unless ``DIHR_GRAPH_IN_MEMORY`` says otherwise: ``Settings.holds_graph``)."""
    if settings.neo4j_uri:
        from graph.stores.neo4j import Neo4jStore

        return Neo4jStore.from_settings(settings, namespace=settings.neo4j_namespace)
    from graph.stores.memory import MemoryStore
    from graph.stores.sqlite import SQLiteStore

    if settings.holds_graph(server_workers):
        return MemoryStore(settings.data_dir)
    return SQLiteStore(settings.data_dir)  # several server workers: each reads SQLite and the column snapshot

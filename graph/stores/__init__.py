"""Graph store backends and the one factory that chooses between them."""

from __future__ import annotations

from graph.settings import Settings
from graph.store import GraphStore

__all__ = ["open_store"]


def open_store(settings: Settings) -> GraphStore:
    """The configured store: Neo4j when ``DIHR_NEO4J_URI`` is set, else the
    embedded store in ``DIHR_DATA_DIR``."""
    if settings.neo4j_uri:
        from graph.stores.neo4j import Neo4jStore

        return Neo4jStore.from_settings(settings, namespace=settings.neo4j_namespace)
    from graph.stores.memory import MemoryStore

    return MemoryStore(settings.data_dir)

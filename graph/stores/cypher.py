"""Every Cypher statement of the Bolt store (``graph/stores/neo4j.py``), as
named constants or templates whose label or relationship type comes from the
:class:`NodeKind` / :class:`RelType` allow-lists; values are always parameters.
:func:`cypher_catalogue` lists every statement with the parameters it is given,
for Neo4j's linter (``make test``)."""

from __future__ import annotations

from graph.model import NodeKind, RelType

__all__ = [
    "BUMP_REVISION_CYPHER",
    "CHANGES_SINCE_CYPHER",
    "COMMUNES_BY_POSTCODE_CYPHER",
    "COUNTER_ADD_CYPHER",
    "COUNTER_SUM_CYPHER",
    "COUNTER_SWEEP_CYPHER",
    "COUNT_EDGES_CYPHER",
    "COUNT_NODES_CYPHER",
    "DROP_CHANGES_CYPHER",
    "DROP_NAMESPACE_CYPHER",
    "DROP_REVISION_CYPHER",
    "DROP_SHARED_CYPHER",
    "EDGES_FROM_CYPHER",
    "EDGES_TO_CYPHER",
    "INDEX_TYPES_CYPHER",
    "LOCK_NAMESPACE_CYPHER",
    "NODES_OF_KIND_CYPHER",
    "READ_EDGES_CYPHER",
    "READ_NODES_CYPHER",
    "RECORD_CHANGE_CYPHER",
    "REVISION_CYPHER",
    "SCHEMA_CHANGE_CYPHER",
    "SCHEMA_COUNTER_CYPHER",
    "SCHEMA_KIND_CYPHER",
    "SCHEMA_LOCATION_CYPHER",
    "SCHEMA_REVISION_CYPHER",
    "SCHEMA_SHARED_CYPHER",
    "SCHEMA_UID_CYPHER",
    "SHARED_DELETE_CYPHER",
    "SHARED_GET_CYPHER",
    "SHARED_PUT_CYPHER",
    "SHARED_SWEEP_CYPHER",
    "TRIM_CHANGES_CYPHER",
    "UPDATE_NODES_CYPHER",
    "_create_edges_cypher",
    "_create_nodes_cypher",
    "_delete_edges_cypher",
    "_edges_of_type_cypher",
    "_schema_key_cypher",
    "_update_edges_cypher",
    "cypher_catalogue",
]

# -- statements -------------------------------------------------------------------
SCHEMA_UID_CYPHER = "CREATE CONSTRAINT dihr_uid IF NOT EXISTS FOR (n:DihrNode) REQUIRE n.uid IS UNIQUE"
SCHEMA_LOCATION_CYPHER = "CREATE POINT INDEX dihr_location IF NOT EXISTS FOR (n:DihrNode) ON (n.location)"
SCHEMA_KIND_CYPHER = "CREATE INDEX dihr_ns_kind IF NOT EXISTS FOR (n:DihrNode) ON (n.ns, n.kind)"
#: What the server made of the schema: detected at `dihr migrate`, never assumed
#: (ArcadeDB accepts CREATE POINT INDEX and builds a range index).
INDEX_TYPES_CYPHER = "SHOW INDEXES YIELD name, type RETURN name, type"
_SCHEMA_KEY_TEMPLATE = (
    "CREATE CONSTRAINT dihr_{label}_key IF NOT EXISTS FOR (n:{label}) REQUIRE (n.ns, n.key) IS UNIQUE"
)

READ_NODES_CYPHER = """
MATCH (n:DihrNode) WHERE n.uid IN $uids
RETURN n.uid AS uid, n._json AS json
"""
# A batch knows which of its nodes exist (it read them under the namespace
# lock, see BUMP_REVISION_CYPHER): new ones are CREATEd with both labels, stored
# ones are found by uid. (MERGE on two labels is refused by neither server, but
# ArcadeDB then scans the kind instead of using the uid index: an import slowed
# down with every node already stored; ArcadeDB refuses adding a label with SET.)
_CREATE_NODES_TEMPLATE = """
UNWIND $rows AS row
CREATE (n:{label}:DihrNode)
SET n = row.fields
RETURN count(n) AS written
"""
UPDATE_NODES_CYPHER = """
UNWIND $rows AS row
MATCH (n:DihrNode {uid: row.uid})
SET n = row.fields
RETURN count(n) AS written
"""
READ_EDGES_CYPHER = """
UNWIND $rows AS row
MATCH (s:DihrNode {uid: row.source})-[r]->(t:DihrNode {uid: row.target})
WHERE type(r) = row.type AND r.ekey = row.ekey
RETURN row.id AS id, r._json AS json
"""
_CREATE_EDGES_TEMPLATE = """
UNWIND $rows AS row
MATCH (s:DihrNode {{uid: row.source}})
MATCH (t:DihrNode {{uid: row.target}})
CREATE (s)-[r:{type}]->(t)
SET r = row.fields
RETURN count(r) AS written
"""
_UPDATE_EDGES_TEMPLATE = """
UNWIND $rows AS row
MATCH (s:DihrNode {{uid: row.source}})-[r:{type} {{ekey: row.ekey}}]->(t:DihrNode {{uid: row.target}})
SET r = row.fields
RETURN count(r) AS written
"""
_DELETE_EDGES_TEMPLATE = """
UNWIND $rows AS row
MATCH (s:DihrNode {{uid: row.source}})-[r:{type} {{ekey: row.ekey}}]->(t:DihrNode {{uid: row.target}})
DELETE r
RETURN count(*) AS deleted
"""
NODES_OF_KIND_CYPHER = """
MATCH (n:DihrNode {ns: $ns, kind: $kind})
RETURN n.key AS key, n._json AS json
ORDER BY key
"""
EDGES_FROM_CYPHER = """
UNWIND $uids AS uid
MATCH (s:DihrNode {uid: uid})-[r]->(t:DihrNode)
WHERE $types IS NULL OR type(r) IN $types
RETURN s.uid AS source, type(r) AS type, t.uid AS target, r.ekey AS ekey, r._json AS json
"""
EDGES_TO_CYPHER = """
UNWIND $uids AS uid
MATCH (s:DihrNode)-[r]->(t:DihrNode {uid: uid})
WHERE $types IS NULL OR type(r) IN $types
RETURN s.uid AS source, type(r) AS type, t.uid AS target, r.ekey AS ekey, r._json AS json
"""
_EDGES_OF_TYPE_TEMPLATE = """
MATCH (s:DihrNode {{ns: $ns}})-[r:{type}]->(t:DihrNode)
RETURN s.uid AS source, type(r) AS type, t.uid AS target, r.ekey AS ekey, r._json AS json
"""
COMMUNES_BY_POSTCODE_CYPHER = """
MATCH (n:Commune {ns: $ns})
WHERE $postcode IN n.postcodes
RETURN n.key AS key, n._json AS json
ORDER BY key
"""
COUNT_NODES_CYPHER = """
MATCH (n:DihrNode {ns: $ns})
RETURN n.kind AS kind, count(*) AS total
"""
COUNT_EDGES_CYPHER = """
MATCH (:DihrNode {ns: $ns})-[r]->()
RETURN type(r) AS type, count(*) AS total
"""
DROP_NAMESPACE_CYPHER = """
MATCH (n:DihrNode {ns: $ns})
DETACH DELETE n
"""

#: The namespace's revision: bumped by every write that is not revision-neutral
#: (``graph.store.REVISION_NEUTRAL_KINDS``), so that every process (web workers,
#: other app servers) knows when its read models are out of date. Written first
#: in every batch (revision-neutral ones touch it with LOCK_NAMESPACE_CYPHER), it
#: also serialises the namespace's writers: a batch reads what exists after the
#: batch before it committed (Neo4j holds the node's write lock until commit;
#: ArcadeDB's optimistic transactions retry on the conflict).
BUMP_REVISION_CYPHER = """
MERGE (r:DihrRevision {ns: $ns})
SET r.value = coalesce(r.value, 0) + 1
RETURN r.value AS revision
"""
LOCK_NAMESPACE_CYPHER = """
MERGE (r:DihrRevision {ns: $ns})
SET r.writes = coalesce(r.writes, 0) + 1
"""

REVISION_CYPHER = """
OPTIONAL MATCH (r:DihrRevision {ns: $ns})
RETURN coalesce(r.value, 0) AS revision
"""

DROP_REVISION_CYPHER = """
MATCH (r:DihrRevision {ns: $ns})
DELETE r
"""

#: The change feed (see module doc): one node per revision, under an index.
SCHEMA_CHANGE_CYPHER = "CREATE INDEX dihr_change IF NOT EXISTS FOR (c:DihrChange) ON (c.ns, c.revision)"
RECORD_CHANGE_CYPHER = """
CREATE (c:DihrChange {ns: $ns, revision: $revision, nodes: $nodes, sources: $sources, complete: $complete})
"""
TRIM_CHANGES_CYPHER = """
MATCH (c:DihrChange {ns: $ns})
WHERE c.revision <= $oldest
DELETE c
"""
#: The revision and, in the same round trip, the change feed's entries after
#: the revision this app server last saw (most often none): the first search
#: after another server's write patches its read model without another read.
REVISION_AND_CHANGES_CYPHER = """
OPTIONAL MATCH (r:DihrRevision {ns: $ns})
WITH coalesce(r.value, 0) AS revision
OPTIONAL MATCH (c:DihrChange {ns: $ns})
WHERE c.revision > $known AND c.revision <= revision
RETURN revision, c.revision AS change, c.nodes AS nodes, c.sources AS sources, c.complete AS complete
ORDER BY change
"""
CHANGES_SINCE_CYPHER = """
MATCH (c:DihrChange {ns: $ns})
WHERE c.revision > $since AND c.revision <= $until
RETURN c.revision AS revision, c.nodes AS nodes, c.sources AS sources, c.complete AS complete
ORDER BY revision
"""
DROP_CHANGES_CYPHER = """
MATCH (c:DihrChange {ns: $ns})
DELETE c
"""
#: Shared state of the app servers (graph/shared.py): sessions and other small
#: values with an expiry, and fixed-window counters sharded per process (each
#: process writes its own row, a read sums them: no two writers contend).
SCHEMA_SHARED_CYPHER = (
    "CREATE CONSTRAINT dihr_shared IF NOT EXISTS FOR (s:DihrShared) REQUIRE (s.ns, s.scope, s.key) IS UNIQUE"
)
SCHEMA_COUNTER_CYPHER = (
    "CREATE INDEX dihr_counter IF NOT EXISTS FOR (c:DihrCounter) ON (c.ns, c.scope, c.key, c.window)"
)
#: The namespace's revision node, one per namespace.
SCHEMA_REVISION_CYPHER = (
    "CREATE CONSTRAINT dihr_revision IF NOT EXISTS FOR (r:DihrRevision) REQUIRE r.ns IS UNIQUE"
)
SHARED_PUT_CYPHER = """
MERGE (s:DihrShared {ns: $ns, scope: $scope, key: $key})
SET s.value = $value, s.expires = $expires
"""
SHARED_GET_CYPHER = """
MATCH (s:DihrShared {ns: $ns, scope: $scope, key: $key})
WHERE s.expires >= $now
RETURN s.value AS value
"""
SHARED_DELETE_CYPHER = """
MATCH (s:DihrShared {ns: $ns, scope: $scope, key: $key})
DELETE s
"""
SHARED_SWEEP_CYPHER = """
MATCH (s:DihrShared {ns: $ns})
WHERE s.expires < $now
DELETE s
"""
COUNTER_ADD_CYPHER = """
MERGE (c:DihrCounter {ns: $ns, scope: $scope, key: $key, window: $window, shard: $shard})
ON CREATE SET c.n = 0, c.expires = $expires
SET c.n = c.n + $add
"""
COUNTER_SUM_CYPHER = """
MATCH (c:DihrCounter {ns: $ns, scope: $scope, key: $key, window: $window})
RETURN sum(c.n) AS n
"""
COUNTER_SWEEP_CYPHER = """
MATCH (c:DihrCounter {ns: $ns})
WHERE c.expires < $now
DELETE c
"""
DROP_SHARED_CYPHER = """
MATCH (s)
WHERE (s:DihrShared OR s:DihrCounter) AND s.ns = $ns
DELETE s
"""


def _schema_key_cypher(kind: NodeKind) -> str:
    return _SCHEMA_KEY_TEMPLATE.format(label=NodeKind(kind).value)


def _create_nodes_cypher(kind: NodeKind) -> str:
    return _CREATE_NODES_TEMPLATE.format(label=NodeKind(kind).value)


def _create_edges_cypher(rel: RelType) -> str:
    return _CREATE_EDGES_TEMPLATE.format(type=RelType(rel).value)


def _update_edges_cypher(rel: RelType) -> str:
    return _UPDATE_EDGES_TEMPLATE.format(type=RelType(rel).value)


def _delete_edges_cypher(rel: RelType) -> str:
    return _DELETE_EDGES_TEMPLATE.format(type=RelType(rel).value)


def _edges_of_type_cypher(rel: RelType) -> str:
    return _EDGES_OF_TYPE_TEMPLATE.format(type=RelType(rel).value)


def cypher_catalogue() -> dict[str, tuple[str, tuple[str, ...]]]:
    """Every statement this store can run: name → (statement, parameter names)."""
    catalogue: dict[str, tuple[str, tuple[str, ...]]] = {
        "SCHEMA_UID_CYPHER": (SCHEMA_UID_CYPHER, ()),
        "SCHEMA_LOCATION_CYPHER": (SCHEMA_LOCATION_CYPHER, ()),
        "SCHEMA_KIND_CYPHER": (SCHEMA_KIND_CYPHER, ()),
        "INDEX_TYPES_CYPHER": (INDEX_TYPES_CYPHER, ()),
        "READ_NODES_CYPHER": (READ_NODES_CYPHER, ("uids",)),
        "READ_EDGES_CYPHER": (READ_EDGES_CYPHER, ("rows",)),
        "UPDATE_NODES_CYPHER": (UPDATE_NODES_CYPHER, ("rows",)),
        "NODES_OF_KIND_CYPHER": (NODES_OF_KIND_CYPHER, ("ns", "kind")),
        "EDGES_FROM_CYPHER": (EDGES_FROM_CYPHER, ("uids", "types")),
        "EDGES_TO_CYPHER": (EDGES_TO_CYPHER, ("uids", "types")),
        "COMMUNES_BY_POSTCODE_CYPHER": (COMMUNES_BY_POSTCODE_CYPHER, ("ns", "postcode")),
        "COUNT_NODES_CYPHER": (COUNT_NODES_CYPHER, ("ns",)),
        "COUNT_EDGES_CYPHER": (COUNT_EDGES_CYPHER, ("ns",)),
        "DROP_NAMESPACE_CYPHER": (DROP_NAMESPACE_CYPHER, ("ns",)),
        "BUMP_REVISION_CYPHER": (BUMP_REVISION_CYPHER, ("ns",)),
        "LOCK_NAMESPACE_CYPHER": (LOCK_NAMESPACE_CYPHER, ("ns",)),
        "REVISION_CYPHER": (REVISION_CYPHER, ("ns",)),
        "DROP_REVISION_CYPHER": (DROP_REVISION_CYPHER, ("ns",)),
        "SCHEMA_CHANGE_CYPHER": (SCHEMA_CHANGE_CYPHER, ()),
        "RECORD_CHANGE_CYPHER": (RECORD_CHANGE_CYPHER, ("ns", "revision", "nodes", "sources", "complete")),
        "TRIM_CHANGES_CYPHER": (TRIM_CHANGES_CYPHER, ("ns", "oldest")),
        "CHANGES_SINCE_CYPHER": (CHANGES_SINCE_CYPHER, ("ns", "since", "until")),
        "REVISION_AND_CHANGES_CYPHER": (REVISION_AND_CHANGES_CYPHER, ("ns", "known")),
        "DROP_CHANGES_CYPHER": (DROP_CHANGES_CYPHER, ("ns",)),
        "SCHEMA_SHARED_CYPHER": (SCHEMA_SHARED_CYPHER, ()),
        "SCHEMA_COUNTER_CYPHER": (SCHEMA_COUNTER_CYPHER, ()),
        "SCHEMA_REVISION_CYPHER": (SCHEMA_REVISION_CYPHER, ()),
        "SHARED_PUT_CYPHER": (SHARED_PUT_CYPHER, ("ns", "scope", "key", "value", "expires")),
        "SHARED_GET_CYPHER": (SHARED_GET_CYPHER, ("ns", "scope", "key", "now")),
        "SHARED_DELETE_CYPHER": (SHARED_DELETE_CYPHER, ("ns", "scope", "key")),
        "SHARED_SWEEP_CYPHER": (SHARED_SWEEP_CYPHER, ("ns", "now")),
        "COUNTER_ADD_CYPHER": (
            COUNTER_ADD_CYPHER,
            ("ns", "scope", "key", "window", "shard", "expires", "add"),
        ),
        "COUNTER_SUM_CYPHER": (COUNTER_SUM_CYPHER, ("ns", "scope", "key", "window")),
        "COUNTER_SWEEP_CYPHER": (COUNTER_SWEEP_CYPHER, ("ns", "now")),
        "DROP_SHARED_CYPHER": (DROP_SHARED_CYPHER, ("ns",)),
    }
    for kind in NodeKind:
        catalogue[f"SCHEMA_KEY_CYPHER[{kind.value}]"] = (_schema_key_cypher(kind), ())
        catalogue[f"CREATE_NODES_CYPHER[{kind.value}]"] = (_create_nodes_cypher(kind), ("rows",))
    for rel in RelType:
        catalogue[f"CREATE_EDGES_CYPHER[{rel.value}]"] = (_create_edges_cypher(rel), ("rows",))
        catalogue[f"UPDATE_EDGES_CYPHER[{rel.value}]"] = (_update_edges_cypher(rel), ("rows",))
        catalogue[f"DELETE_EDGES_CYPHER[{rel.value}]"] = (_delete_edges_cypher(rel), ("rows",))
        catalogue[f"EDGES_OF_TYPE_CYPHER[{rel.value}]"] = (_edges_of_type_cypher(rel), ("ns",))
    return catalogue

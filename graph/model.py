"""The graph schema of dihr-graph: node kinds, relationship types, natural keys.

This module is the one place that documents the whole model. Every store
(embedded networkx + SQLite, Neo4j) holds exactly these kinds and types, and
validates every edge against :data:`EDGE_ENDPOINTS` before writing it.

Nodes
-----
=============== ====================== ==============================================
kind            natural key            main properties
=============== ====================== ==============================================
Region          INSEE region code      name
Department      INSEE department code  name, region
Commune         INSEE commune code     name (with its article), population, lat, lon,
                                       department, postcodes
Gnchr           ``GNCHR``              name
Cnrhr           CNRHR code (CRESAM…)   name, finess, address, lat, lon
ErhrTeam        ERHR code (NE, ARA…)   name, regions, seat, confidence
Establishment   FINESS number (9)      name, category, lat, lon, synthetic, closed
Professional    generated id           profession, synthetic (never a person's name)
ResourcePole    generated id           name, department, synthetic
Deficiency      vocabulary code (DV…)  label, family, ror_r245
Combination     canonical key (DA+DV)  codes (sorted list of deficiency codes)
Condition       ORPHAcode (ORPHA:739)  label
Skill           vocabulary code (CAA…) label, ror_r243_label
Situation       generated pseudonym    age, status, opened_on, department, erhr, synthetic
ApiKey          generated key id       role, territory, label, hash (never the key)
AuditEntry      time-ordered id        at, key_id, role, territory, operation, situations
ImportRun       time-ordered id        source, file, sha256, extraction_date, status, counts
Knowledge       id (SAV-…)             type, title, summary, link, author, erhr, available, synthetic
ActivityReport  pole id + period       pole, period, active_file, families, appointments,
                                       awareness_actions, fte, synthetic
=============== ====================== ==============================================

Relationships (source kinds → target kinds, properties)
-------------------------------------------------------
See :data:`EDGE_ENDPOINTS`; properties are documented on :class:`RelType`.
"""

from __future__ import annotations

import enum
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from graph.errors import SchemaError

__all__ = [
    "NodeKind",
    "RelType",
    "Node",
    "Edge",
    "NodeRef",
    "RESOURCE_KINDS",
    "EDGE_ENDPOINTS",
    "combination_key",
    "codes_of_combination",
    "combination_elements",
    "validate_node",
    "validate_edge",
    "SchemaError",
]


class NodeKind(enum.StrEnum):
    """Node labels. The value is the label used in every backend."""

    REGION = "Region"
    DEPARTMENT = "Department"
    COMMUNE = "Commune"
    GNCHR = "Gnchr"
    CNRHR = "Cnrhr"
    ERHR_TEAM = "ErhrTeam"
    ESTABLISHMENT = "Establishment"
    PROFESSIONAL = "Professional"
    RESOURCE_POLE = "ResourcePole"
    DEFICIENCY = "Deficiency"
    COMBINATION = "Combination"
    CONDITION = "Condition"
    SKILL = "Skill"
    SITUATION = "Situation"
    API_KEY = "ApiKey"
    AUDIT_ENTRY = "AuditEntry"
    IMPORT_RUN = "ImportRun"
    KNOWLEDGE = "Knowledge"
    ACTIVITY_REPORT = "ActivityReport"


class RelType(enum.StrEnum):
    """Relationship types. The value is the type used in every backend.

    Properties:
    - ``HAS_EXPERTISE``: ``level`` 1 (knows) to 3 (reference expert).
    - ``ACCEPTS``: ``age_min``, ``age_max`` (years, inclusive, either may be
      absent), ``capacity`` (places, optional).
    - ``REFERRED_TO``: keyed by the referral id; ``status``, ``proposed_on``,
      ``updated_on``, ``history``, ``next_action_on``, ``reason``, ``note``
      (``graph.referrals``; older links: ``date``, ``outcome``).
    - ``ABOUT``: a knowledge item (guide, training, tool, aid on loan) is about
      a deficiency, combination, rare condition or skill.
    - ``REPORTS_ON``: a pôle ressources' activity report for a period.
    """

    LOCATED_IN = "LOCATED_IN"
    PART_OF = "PART_OF"
    COVERS = "COVERS"
    WORKS_AT = "WORKS_AT"
    HAS_EXPERTISE = "HAS_EXPERTISE"
    ACCEPTS = "ACCEPTS"
    INCLUDES = "INCLUDES"
    TYPICALLY_INVOLVES = "TYPICALLY_INVOLVES"
    PRESENTS = "PRESENTS"
    HAS_CONDITION = "HAS_CONDITION"
    NEEDS = "NEEDS"
    LIVES_IN = "LIVES_IN"
    FOLLOWED_BY = "FOLLOWED_BY"
    REFERRED_TO = "REFERRED_TO"
    ABOUT = "ABOUT"
    REPORTS_ON = "REPORTS_ON"


N = NodeKind

#: Kinds that can accompany a person: what matching returns.
RESOURCE_KINDS: frozenset[NodeKind] = frozenset(
    {N.ESTABLISHMENT, N.PROFESSIONAL, N.RESOURCE_POLE, N.ERHR_TEAM, N.CNRHR}
)

_SITES = frozenset({N.ESTABLISHMENT, N.RESOURCE_POLE, N.ERHR_TEAM, N.CNRHR, N.GNCHR})
_EXPERTISE_TARGETS = frozenset({N.DEFICIENCY, N.COMBINATION, N.CONDITION, N.SKILL})

#: For each relationship type, the allowed (source kinds, target kinds).
EDGE_ENDPOINTS: Mapping[RelType, tuple[frozenset[NodeKind], frozenset[NodeKind]]] = {
    RelType.LOCATED_IN: (_SITES, frozenset({N.COMMUNE})),
    RelType.PART_OF: (frozenset({N.COMMUNE, N.DEPARTMENT}), frozenset({N.DEPARTMENT, N.REGION})),
    RelType.COVERS: (frozenset({N.ERHR_TEAM}), frozenset({N.REGION, N.DEPARTMENT})),
    RelType.WORKS_AT: (frozenset({N.PROFESSIONAL}), _SITES - {N.GNCHR}),
    RelType.HAS_EXPERTISE: (RESOURCE_KINDS, _EXPERTISE_TARGETS),
    RelType.ACCEPTS: (frozenset({N.ESTABLISHMENT}), frozenset({N.DEFICIENCY})),
    RelType.INCLUDES: (frozenset({N.COMBINATION}), frozenset({N.DEFICIENCY})),
    RelType.TYPICALLY_INVOLVES: (frozenset({N.CONDITION}), frozenset({N.DEFICIENCY})),
    RelType.PRESENTS: (frozenset({N.SITUATION}), frozenset({N.COMBINATION})),
    RelType.HAS_CONDITION: (frozenset({N.SITUATION}), frozenset({N.CONDITION})),
    RelType.NEEDS: (frozenset({N.SITUATION}), frozenset({N.SKILL})),
    RelType.LIVES_IN: (frozenset({N.SITUATION}), frozenset({N.COMMUNE})),
    RelType.FOLLOWED_BY: (frozenset({N.SITUATION}), frozenset({N.ERHR_TEAM, N.CNRHR})),
    RelType.REFERRED_TO: (frozenset({N.SITUATION}), RESOURCE_KINDS),
    RelType.ABOUT: (frozenset({N.KNOWLEDGE}), _EXPERTISE_TARGETS),
    RelType.REPORTS_ON: (frozenset({N.ACTIVITY_REPORT}), frozenset({N.RESOURCE_POLE})),
}

# Natural-key formats: a wrong key is refused before it reaches any store.
_KEY_PATTERNS: Mapping[NodeKind, re.Pattern[str]] = {
    N.REGION: re.compile(r"^\d{2}$"),
    N.DEPARTMENT: re.compile(r"^(\d{2}|2A|2B|97\d)$"),
    N.COMMUNE: re.compile(r"^(\d{5}|2[AB]\d{3})$"),
    N.ESTABLISHMENT: re.compile(r"^[0-9][0-9AB][0-9]{7}$"),
    N.CONDITION: re.compile(r"^ORPHA:\d+$"),
    N.COMBINATION: re.compile(r"^[A-Z_]+(\+[A-Z_]+)*$"),
    N.DEFICIENCY: re.compile(r"^[A-Z_]+$"),
    N.SKILL: re.compile(r"^[A-Z_]+$"),
}
_GENERIC_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$")


class NodeRef(NamedTuple):
    """The identity of a node: its kind and natural key. A tuple, so that
    hashing and comparing (done millions of times) stay in C."""

    kind: NodeKind
    key: str

    def __str__(self) -> str:
        return f"{self.kind.value}:{self.key}"


@dataclass(frozen=True, slots=True)
class Node:
    """A node with its properties (JSON-serialisable scalars and lists)."""

    kind: NodeKind
    key: str
    props: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> NodeRef:
        return NodeRef(self.kind, self.key)


@dataclass(frozen=True, slots=True)
class Edge:
    """A relationship. Identity is (type, source, target, ``key``); ``key`` lets
    two relationships of one type join the same nodes (two referrals)."""

    type: RelType
    source: NodeRef
    target: NodeRef
    props: Mapping[str, Any] = field(default_factory=dict)
    key: str = ""


def combination_key(codes: frozenset[str] | set[str] | list[str] | tuple[str, ...]) -> str:
    """Canonical key of a combination: its distinct codes, sorted, joined by ``+``.

    >>> combination_key({"DV", "DA"})
    'DA+DV'
    """
    distinct = sorted({c.strip().upper() for c in codes if c.strip()})
    if not distinct:
        raise SchemaError("a combination needs at least one deficiency code")
    return "+".join(distinct)


def combination_elements(key: str) -> Iterator[Node | Edge]:
    """A Combination node (canonical key) and its INCLUDES edges to each deficiency."""
    codes = key.split("+")
    yield Node(NodeKind.COMBINATION, key, {"codes": codes})
    for code in codes:
        yield Edge(RelType.INCLUDES, NodeRef(NodeKind.COMBINATION, key), NodeRef(NodeKind.DEFICIENCY, code))


@functools.lru_cache(maxsize=4096)
def codes_of_combination(key: str) -> frozenset[str]:
    """The deficiency codes of a canonical combination key."""
    return frozenset(key.split("+"))


def validate_node(node: Node) -> None:
    """Raise :class:`SchemaError` when the node's kind or key is not valid."""
    if not isinstance(node.kind, NodeKind):
        raise SchemaError(f"unknown node kind {node.kind!r}")
    pattern = _KEY_PATTERNS.get(node.kind, _GENERIC_KEY)
    if not isinstance(node.key, str) or not pattern.match(node.key):
        raise SchemaError(f"invalid key {node.key!r} for a {node.kind.value} node")
    if node.kind is NodeKind.COMBINATION and node.key != combination_key(node.key.split("+")):
        raise SchemaError(f"combination key {node.key!r} is not canonical")


def validate_edge(edge: Edge) -> None:
    """Raise :class:`SchemaError` when the edge's endpoints do not fit its type."""
    try:
        sources, targets = EDGE_ENDPOINTS[edge.type]
    except KeyError:
        raise SchemaError(f"unknown relationship type {edge.type!r}") from None
    if edge.source.kind not in sources or edge.target.kind not in targets:
        raise SchemaError(
            f"{edge.type.value} cannot join {edge.source.kind.value} to {edge.target.kind.value}"
        )
    if edge.type is RelType.HAS_EXPERTISE:
        level = edge.props.get("level")
        if not isinstance(level, int) or not 1 <= level <= 3:
            raise SchemaError(f"HAS_EXPERTISE level must be 1, 2 or 3, not {level!r}")

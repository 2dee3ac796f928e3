"""Who may see what: roles, territories, API keys and the audit trail.

Roles
    ``partner`` — the directory of resources and aggregated statistics only
    (situation counts under 11 suppressed), never a situation;
    ``erhr`` — bound to one ERHR territory: its situations, matching, writes
    to its situations; ``gnchr`` — national, administration.

Every rule lives here and in :mod:`graph.service`; the API only turns a key
into a :class:`Principal`. A situation outside the caller's territory is
indistinguishable from a missing one (the same NotFound).

Keys are random secrets (``dihr_<id>_<secret>``) shown once and stored as a
SHA-256 hash. Every read or write of situation data appends an AuditEntry
node (append-only: entries are only ever created).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import uuid
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graph.errors import Forbidden, InvalidInput, NotFound, Unauthenticated, UnknownCode
from graph.model import Node, NodeKind
from graph.store import GraphStore

__all__ = [
    "Role",
    "Permission",
    "Principal",
    "Forbidden",
    "Unauthenticated",
    "ApiKeyInfo",
    "AuditRecord",
    "create_key",
    "list_keys",
    "revoke_key",
    "authenticate",
    "audit",
    "audit_entries",
    "SYSTEM",
]

log = logging.getLogger("dihr.security")
K = NodeKind


class Role(enum.StrEnum):
    PARTNER = "partner"
    ERHR = "erhr"
    GNCHR = "gnchr"


class Permission(enum.StrEnum):
    DIRECTORY = "directory"  # resources, territories, vocabularies
    AGGREGATES = "aggregates"  # coverage, gaps, what-if (suppressed for partners)
    MATCH = "match"  # findResources
    NETWORK = "network"  # cooperation insights (built from referrals)
    SITUATIONS_READ = "situations:read"
    SITUATIONS_WRITE = "situations:write"
    ADMIN = "admin"


_GRANTS: dict[Role, frozenset[Permission]] = {
    Role.PARTNER: frozenset({Permission.DIRECTORY, Permission.AGGREGATES}),
    Role.ERHR: frozenset(Permission) - {Permission.ADMIN},
    Role.GNCHR: frozenset(Permission),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: an API key's id, role and (for ``erhr``) territory."""

    key_id: str
    role: Role
    territory: str | None = None
    origin: str = ""

    def can(self, permission: Permission) -> bool:
        return permission in _GRANTS[self.role]

    def require(self, permission: Permission) -> None:
        if not self.can(permission):
            raise Forbidden(f"Le rôle « {self.role.value} » ne permet pas cette opération ({permission.value}).")

    def sees_territory(self, erhr_code: str | None) -> bool:
        """True when situation data of that ERHR territory is visible."""
        if self.role is Role.GNCHR:
            return True
        return self.role is Role.ERHR and erhr_code is not None and erhr_code == self.territory

    @property
    def suppresses_small_counts(self) -> bool:
        return self.role is Role.PARTNER


#: The local administrator (CLI on the server itself).
SYSTEM = Principal("cli", Role.GNCHR, None, "cli")


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key_id: str
    role: Role
    territory: str | None
    label: str
    created_at: str
    revoked_at: str | None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_key(store: GraphStore, role: Role | str, *, territory: str | None = None, label: str = "") -> tuple[ApiKeyInfo, str]:
    """A new key; the secret is returned once and only its hash is stored."""
    try:
        role = Role(str(role).lower())
    except ValueError:
        raise InvalidInput("role", "rôle attendu : partner, erhr ou gnchr.") from None
    if role is Role.ERHR:
        if not territory:
            raise InvalidInput("territory", "une clé « erhr » est liée à un territoire ERHR (ex. --territory NE).")
        territory = territory.strip().upper()
        if store.get_node(K.ERHR_TEAM, territory) is None:
            raise UnknownCode("d'ERHR", territory)
    elif territory:
        raise InvalidInput("territory", f"une clé « {role.value} » n'est pas liée à un territoire.")
    key_id = uuid.uuid4().hex[:12]
    secret = f"dihr_{key_id}_{secrets.token_urlsafe(32)}"
    info = ApiKeyInfo(key_id, role, territory, label.strip()[:200], _now(), None)
    store.upsert([Node(K.API_KEY, key_id, {
        "role": role.value, "territory": territory, "label": info.label, "hash": _hash(secret), "created_at": info.created_at,
    })])
    return info, secret


def _info(node: Node) -> ApiKeyInfo:
    p = node.props
    return ApiKeyInfo(node.key, Role(p["role"]), p.get("territory"), p.get("label", ""), p["created_at"], p.get("revoked_at"))


def list_keys(store: GraphStore) -> list[ApiKeyInfo]:
    return [_info(n) for n in store.nodes(K.API_KEY)]


def revoke_key(store: GraphStore, key_id: str) -> ApiKeyInfo:
    node = store.get_node(K.API_KEY, key_id)
    if node is None:
        raise NotFound(f"Clé inconnue : {key_id}.")
    if not node.props.get("revoked_at"):
        store.upsert([Node(K.API_KEY, key_id, {"revoked_at": _now()})])
    return _info(store.get_node(K.API_KEY, key_id))  # type: ignore[arg-type]


def authenticate(store: GraphStore, secret: str, *, origin: str = "") -> Principal:
    """The principal of a key, or Unauthenticated (unknown, malformed or revoked)."""
    parts = secret.strip().split("_", 2)
    if len(parts) != 3 or parts[0] != "dihr" or not parts[1].isalnum():
        raise Unauthenticated("Clé d'API invalide.")
    node = store.get_node(K.API_KEY, parts[1])
    if node is None or not hmac.compare_digest(str(node.props.get("hash", "")), _hash(secret.strip())):
        raise Unauthenticated("Clé d'API invalide.")
    if node.props.get("revoked_at"):
        # The same answer as a wrong key (whether a key once existed is not told);
        # the administrator's log says which it was.
        log.warning("sign-in refused: key %s was revoked on %s (origin %s)", node.key, node.props["revoked_at"], origin or "?")
        raise Unauthenticated("Clé d'API invalide.")
    return Principal(node.key, Role(node.props["role"]), node.props.get("territory"), origin)


# -- audit ------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class AuditRecord:
    entry_id: str
    at: str
    key_id: str
    role: str
    territory: str | None
    operation: str
    situations: tuple[str, ...]
    origin: str
    count: int
    params: tuple[tuple[str, str], ...] = ()  # what was asked (combination, level, thresholds…), as text


#: Tamper evidence. Each process appends to its own chain (web workers write at
#: once; one chain per process needs no lock across them): an entry carries its
#: chain, its position and the hash of the entry before it, and its own hash
#: covers all of that. ``verify_audit`` finds an entry edited, removed from the
#: middle of a chain or inserted; removing a chain's last entries is what it
#: cannot see (the administrator's backups are the answer to that).
_CHAIN_FIELDS = ("at", "key_id", "role", "territory", "operation", "situations", "origin", "count", "params",
                 "chain", "seq", "prev")


class _Chain:
    def __init__(self) -> None:
        self.id, self.seq, self.last = uuid.uuid4().hex[:12], 0, ""


#: One chain per store opened by this process (a forked worker starts afresh).
_CHAINS: weakref.WeakKeyDictionary[Any, _Chain] = weakref.WeakKeyDictionary()
_CHAINS_LOCK = threading.Lock()
os.register_at_fork(after_in_child=_CHAINS.clear)


def _entry_hash(props: Mapping[str, Any]) -> str:
    canonical = json.dumps({f: props.get(f) for f in _CHAIN_FIELDS}, sort_keys=True, ensure_ascii=False,
                           separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def audit(store: GraphStore, principal: Principal, operation: str, situations: Iterable[str] = (), *,
          count: int | None = None, params: Mapping[str, object] | None = None) -> None:
    """Append one entry: who, what (operation, situation ids, the parameters
    asked), when, from where; chained to this process's previous entry."""
    ids = sorted(set(situations))
    asked = {str(k): str(v)[:200] for k, v in sorted((params or {}).items()) if v is not None}
    with _CHAINS_LOCK:
        chain = _CHAINS.get(store)
        if chain is None:
            chain = _CHAINS[store] = _Chain()
        at = datetime.now(UTC).isoformat(timespec="microseconds")
        entry_id = f"{at[:26].replace(':', '').replace('-', '').replace('.', '')}-{uuid.uuid4().hex[:8]}"
        props: dict[str, Any] = {
            "at": at, "key_id": principal.key_id, "role": principal.role.value, "territory": principal.territory,
            "operation": operation, "situations": ids, "origin": principal.origin,
            "count": len(ids) if count is None else count, "params": asked,
            "chain": chain.id, "seq": chain.seq, "prev": chain.last,
        }
        props["hash"] = _entry_hash(props)
        store.upsert([Node(K.AUDIT_ENTRY, entry_id, props)])
        chain.seq, chain.last = chain.seq + 1, props["hash"]


@dataclass(frozen=True, slots=True)
class AuditCheck:
    entries: int
    chains: int
    unchained: int  # written before entries were chained: counted, not checkable
    problems: list[str] = field(default_factory=list)


def verify_audit(store: GraphStore) -> AuditCheck:
    """Every chain of the audit trail checked (``problems`` empty: each is whole)."""
    chains: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
    problems: list[str] = []
    unchained = 0
    for node in store.nodes(K.AUDIT_ENTRY):
        p = dict(node.props)
        if "chain" not in p:
            unchained += 1
            continue
        chains.setdefault(str(p["chain"]), []).append((int(p.get("seq", -1)), node.key, p))
        if p.get("hash") != _entry_hash(p):
            problems.append(f"entrée {node.key} modifiée (son empreinte ne correspond plus à son contenu)")
    for chain, entries in sorted(chains.items()):
        entries.sort(key=lambda e: e[0])
        previous = ""
        for expected, (seq, key, p) in enumerate(entries):
            if seq != expected:
                problems.append(f"chaîne {chain} : entrée n° {expected} absente (avant {key})")
                break
            if p.get("prev") != previous:
                problems.append(f"chaîne {chain} : l'entrée {key} ne suit pas l'entrée précédente")
                break
            previous = str(p.get("hash"))
    total = sum(len(e) for e in chains.values()) + unchained
    return AuditCheck(total, len(chains), unchained, problems)


def audit_entries(
    store: GraphStore, *, situation: str | None = None, key_id: str | None = None, since: str | None = None
) -> list[AuditRecord]:
    """Entries in time order, filtered; ``since`` is an ISO date (AAAA-MM-JJ)."""
    records = []
    for node in store.nodes(K.AUDIT_ENTRY):
        p = node.props
        if situation is not None and situation not in p.get("situations", []):
            continue
        if key_id is not None and p.get("key_id") != key_id:
            continue
        if since is not None and str(p.get("at", "")) < since:
            continue
        records.append(AuditRecord(node.key, p["at"], p["key_id"], p["role"], p.get("territory"), p["operation"],
                                   tuple(p.get("situations", [])), p.get("origin", ""), int(p.get("count", 0)),
                                   tuple(sorted((p.get("params") or {}).items()))))
    return sorted(records, key=lambda r: (r.at, r.entry_id))

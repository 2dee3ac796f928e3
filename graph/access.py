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
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from graph.errors import Forbidden, InvalidInput, NotFound, Unauthenticated, UnknownCode, WriteConflict
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


#: What a person reads of a role and a permission (errors never show the codes).
ROLE_LABELS = {Role.PARTNER: "partenaire", Role.ERHR: "équipe relais (ERHR)", Role.GNCHR: "GNCHR"}
PERMISSION_LABELS = {
    Permission.DIRECTORY: "consulter l'annuaire",
    Permission.AGGREGATES: "consulter la couverture et les chiffres",
    Permission.MATCH: "rechercher des ressources pour une situation",
    Permission.NETWORK: "consulter les coopérations du réseau",
    Permission.SITUATIONS_READ: "consulter les situations",
    Permission.SITUATIONS_WRITE: "enregistrer des situations et des orientations",
    Permission.ADMIN: "administrer le service",
}

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
            raise Forbidden(
                f"Le rôle « {ROLE_LABELS[self.role]} » ne permet pas de {PERMISSION_LABELS[permission]}."
            )

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


def create_key(
    store: GraphStore, role: Role | str, *, territory: str | None = None, label: str = ""
) -> tuple[ApiKeyInfo, str]:
    """A new key; the secret is returned once and only its hash is stored."""
    try:
        role = Role(str(role).lower())
    except ValueError:
        raise InvalidInput("role", "rôle attendu : partner, erhr ou gnchr.") from None
    if role is Role.ERHR:
        if not territory:
            raise InvalidInput(
                "territory", "une clé « erhr » est liée à un territoire ERHR (ex. --territory NE)."
            )
        territory = territory.strip().upper()
        if store.get_node(K.ERHR_TEAM, territory) is None:
            raise UnknownCode("d'ERHR", territory)
    elif territory:
        raise InvalidInput("territory", f"une clé « {role.value} » n'est pas liée à un territoire.")
    key_id = uuid.uuid4().hex[:12]
    secret = f"dihr_{key_id}_{secrets.token_urlsafe(32)}"
    info = ApiKeyInfo(key_id, role, territory, label.strip()[:200], _now(), None)
    store.upsert(
        [
            Node(
                K.API_KEY,
                key_id,
                {
                    "role": role.value,
                    "territory": territory,
                    "label": info.label,
                    "hash": _hash(secret),
                    "created_at": info.created_at,
                },
            )
        ]
    )
    return info, secret


def _info(node: Node) -> ApiKeyInfo:
    p = node.props
    return ApiKeyInfo(
        node.key,
        Role(p["role"]),
        p.get("territory"),
        p.get("label", ""),
        p["created_at"],
        p.get("revoked_at"),
    )


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
        log.warning(
            "sign-in refused: key %s was revoked on %s (origin %s)",
            node.key,
            node.props["revoked_at"],
            origin or "?",
        )
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


#: Tamper evidence: one journal for every process and server, each entry chained
#: to the one before it (``seq``, ``prev``) and sealed with a keyed MAC
#: (HMAC-SHA256) whose key lives outside the store (``DIHR_AUDIT_KEY``, or the
#: file ``DIHR_AUDIT_KEY_FILE``, by default ``~/.config/dihr-graph/audit.key``,
#: created on first use, readable by its owner only). The journal's head — the
#: last entry's number and hash, sealed too — is written in the same atomic
#: batch as each entry, by compare-and-set (two writers: the second reads the new
#: head and tries again). ``verify_audit`` finds an entry edited (even re-hashed:
#: the MAC needs the key), removed from the middle or the end, the whole journal
#: removed, and an entry inserted without its seal. Entries of the former
#: per-process chains are still checked by their hashes, and said apart.
_CHAIN_FIELDS = (
    "at",
    "key_id",
    "role",
    "territory",
    "operation",
    "situations",
    "origin",
    "count",
    "params",
    "chain",
    "seq",
    "prev",
)
JOURNAL = "journal"
#: The key of the journal's head (never a time-ordered entry id: those start with a digit).
HEAD_KEY = "TETE-JOURNAL"
_HEAD_RETRIES = 200
_AUDIT_LOCK = threading.Lock()


def _entry_hash(props: Mapping[str, Any]) -> str:
    canonical = json.dumps(
        {f: props.get(f) for f in _CHAIN_FIELDS}, sort_keys=True, ensure_ascii=False, separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


_KEYS: dict[str, bytes] = {}


def audit_key() -> bytes:
    """The journal's MAC key, from outside the store (see above)."""
    given = os.environ.get("DIHR_AUDIT_KEY", "").strip()
    if given:
        return given.encode("utf-8")
    configured = os.environ.get("DIHR_AUDIT_KEY_FILE", "").strip()
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    path = configured or os.path.join(base, "dihr-graph", "audit.key")
    found = _KEYS.get(path)
    if found is not None:
        return found
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read().strip()
    except FileNotFoundError:
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        text = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            with open(path, encoding="utf-8") as f:
                text = f.read().strip()
        else:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text + "\n")
    _KEYS[path] = text.encode("utf-8")
    return _KEYS[path]


def _mac(text: str) -> str:
    return hmac.new(audit_key(), text.encode("utf-8"), hashlib.sha256).hexdigest()


def audit(
    store: GraphStore,
    principal: Principal,
    operation: str,
    situations: Iterable[str] = (),
    *,
    count: int | None = None,
    params: Mapping[str, object] | None = None,
) -> None:
    """Append one entry: who, what (operation, situation ids, the parameters
    asked), when, from where; chained to the journal's previous entry and sealed."""
    ids = sorted(set(situations))
    asked = {str(k): str(v)[:200] for k, v in sorted((params or {}).items()) if v is not None}
    head_ref = Node(K.AUDIT_ENTRY, HEAD_KEY)
    with _AUDIT_LOCK:  # this process's writers one at a time; other processes by compare-and-set
        for attempt in range(_HEAD_RETRIES):
            head = store.get_node(K.AUDIT_ENTRY, HEAD_KEY)
            seq = int(head.props["seq"]) + 1 if head is not None else 0
            prev = str(head.props["last"]) if head is not None else ""
            at = datetime.now(UTC).isoformat(timespec="microseconds")
            entry_id = f"{at[:26].replace(':', '').replace('-', '').replace('.', '')}-{uuid.uuid4().hex[:8]}"
            props: dict[str, Any] = {
                "at": at,
                "key_id": principal.key_id,
                "role": principal.role.value,
                "territory": principal.territory,
                "operation": operation,
                "situations": ids,
                "origin": principal.origin,
                "count": len(ids) if count is None else count,
                "params": asked,
                "chain": JOURNAL,
                "seq": seq,
                "prev": prev,
            }
            props["hash"] = _entry_hash(props)
            props["mac"] = _mac(props["hash"])
            new_head = {
                "head": True,
                "seq": seq,
                "last": props["hash"],
                "mac": _mac(f"{seq}|{props['hash']}"),
            }
            try:
                store.upsert(
                    [Node(K.AUDIT_ENTRY, entry_id, props), Node(K.AUDIT_ENTRY, HEAD_KEY, new_head)],
                    expect=[
                        (
                            head_ref,
                            {
                                "seq": None if head is None else head.props["seq"],
                                "last": None if head is None else head.props["last"],
                            },
                        )
                    ],
                )
                return
            except WriteConflict:
                time.sleep(0.001 * min(attempt + 1, 20) * (1 + secrets.randbelow(5)))
        raise WriteConflict(
            "Journal d'audit trop sollicité : l'opération n'a pas été journalisée, réessayez."
        )


@dataclass(frozen=True, slots=True)
class AuditCheck:
    entries: int
    chains: int
    unchained: int  # entries without chain fields: each one is a problem (inserted outside the journal)
    problems: list[str] = field(default_factory=list)


def verify_audit(store: GraphStore) -> AuditCheck:
    """The journal checked (``problems`` empty: whole, unedited, sealed). Each
    problem is one French line naming the chain and the entry."""
    chains: dict[str, list[tuple[int, str, dict[str, Any]]]] = {}
    problems: list[str] = []
    unchained = 0
    head = None
    for node in store.nodes(K.AUDIT_ENTRY):
        p = dict(node.props)
        if node.key == HEAD_KEY:
            head = p
            continue
        if "chain" not in p:
            unchained += 1
            problems.append(f"chaîne {JOURNAL} : entrée {node.key} sans chaînage, insérée hors du journal")
            continue
        chains.setdefault(str(p["chain"]), []).append((int(p.get("seq", -1)), node.key, p))
        if p.get("hash") != _entry_hash(p):
            problems.append(
                f"chaîne {p['chain']} : entrée {node.key} modifiée (son empreinte ne correspond plus à son contenu)"
            )
        elif p["chain"] == JOURNAL and not hmac.compare_digest(str(p.get("mac", "")), _mac(str(p["hash"]))):
            problems.append(
                f"chaîne {JOURNAL} : entrée {node.key} au sceau invalide (modifiée puis recalculée, "
                "ou écrite sans la clé du journal)"
            )
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
    journal = sorted(chains.get(JOURNAL, []), key=lambda e: e[0])
    if head is None:
        if journal:
            problems.append(f"chaîne {JOURNAL} : tête du journal absente (supprimée ?)")
    elif not hmac.compare_digest(str(head.get("mac", "")), _mac(f"{head.get('seq')}|{head.get('last')}")):
        problems.append(f"chaîne {JOURNAL} : tête du journal au sceau invalide")
    elif not journal:
        problems.append(
            f"chaîne {JOURNAL} : journal supprimé (la tête annonce {int(head['seq']) + 1} entrées, "
            "aucune n'est présente)"
        )
    elif (journal[-1][0], journal[-1][2].get("hash")) != (head.get("seq"), head.get("last")):
        problems.append(
            f"chaîne {JOURNAL} : fin du journal supprimée (la tête annonce {int(head['seq']) + 1} "
            f"entrées, la dernière présente est la n° {journal[-1][0] + 1})"
        )
    total = sum(len(e) for e in chains.values()) + unchained
    return AuditCheck(total, len(chains), unchained, problems)


def audit_entries(
    store: GraphStore, *, situation: str | None = None, key_id: str | None = None, since: str | None = None
) -> list[AuditRecord]:
    """Entries in time order, filtered; ``since`` is an ISO date (AAAA-MM-JJ)."""
    records = []
    for node in store.nodes(K.AUDIT_ENTRY):
        p = node.props
        if node.key == HEAD_KEY:
            continue
        if situation is not None and situation not in p.get("situations", []):
            continue
        if key_id is not None and p.get("key_id") != key_id:
            continue
        if since is not None and str(p.get("at", "")) < since:
            continue
        records.append(
            AuditRecord(
                node.key,
                p["at"],
                p["key_id"],
                p["role"],
                p.get("territory"),
                p["operation"],
                tuple(p.get("situations", [])),
                p.get("origin", ""),
                int(p.get("count", 0)),
                tuple(sorted((p.get("params") or {}).items())),
            )
        )
    return sorted(records, key=lambda r: (r.at, r.entry_id))

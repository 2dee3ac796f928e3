"""The import journal: every import of a file into the register, kept in the
store as an ``ImportRun`` node (file name, SHA-256, extraction date, counts,
status), so that anyone can tell what the register was last fed with.

An import is journalled « en cours » before its first write and « complet »,
« refusé » or « simulation » after; a process killed in between leaves « en
cours » behind, which the next start (an import, ``dihr imports``, ``dihr
check``, ``dihr serve``) turns into « interrompu » once that process is gone.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graph.model import Node, NodeKind
from graph.store import GraphStore

__all__ = [
    "ImportRun",
    "RUNNING",
    "COMPLETE",
    "REFUSED",
    "INTERRUPTED",
    "DRY_RUN",
    "begin",
    "finish",
    "runs",
    "last_by_source",
    "mark_interrupted",
    "sha256_of",
]

K = NodeKind
RUNNING, COMPLETE, REFUSED, INTERRUPTED, DRY_RUN = "en cours", "complet", "refusé", "interrompu", "simulation"


@dataclass(frozen=True, slots=True)
class ImportRun:
    key: str
    source: str  # finess, finess-equipements, annuaire, situations
    file: str  # the file's name (never its folder: it may name a person's home)
    sha256: str
    extraction_date: str | None
    status: str
    started_at: str
    ended_at: str | None
    counts: Mapping[str, int]
    message: str | None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def begin(
    store: GraphStore, source: str, path: Path, *, sha256: str, extraction_date: str | None = None
) -> str:
    """Journal an import as « en cours » (before its first write); returns its key."""
    mark_interrupted(store)
    now = datetime.now(UTC)
    started = now.isoformat(timespec="seconds")
    # to the microsecond: two imports started in the same second keep their order (runs())
    key = f"{now.strftime('%Y%m%dT%H%M%S%f')}-{uuid.uuid4().hex[:8]}"
    store.upsert(
        [
            Node(
                K.IMPORT_RUN,
                key,
                {
                    "source": source,
                    "file": path.name,
                    "sha256": sha256,
                    "extraction_date": extraction_date,
                    "status": RUNNING,
                    "started_at": started,
                    "host": socket.gethostname(),
                    "pid": os.getpid(),
                },
            )
        ]
    )
    return key


def finish(
    store: GraphStore,
    key: str,
    status: str,
    *,
    counts: Mapping[str, int] | None = None,
    message: str | None = None,
    extraction_date: str | None = None,
) -> None:
    props: dict[str, Any] = {
        "status": status,
        "ended_at": _now(),
        "counts": dict(counts or {}),
        "message": message,
    }
    if extraction_date:
        props["extraction_date"] = extraction_date
    store.upsert([Node(K.IMPORT_RUN, key, props)])


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def mark_interrupted(store: GraphStore) -> int:
    """Turn the « en cours » entries of processes of this host that are gone
    into « interrompu »; returns how many."""
    host = socket.gethostname()
    stale = [
        n
        for n in store.nodes(K.IMPORT_RUN)
        if n.props.get("status") == RUNNING
        and n.props.get("host") == host
        and not (int(n.props.get("pid", 0)) == os.getpid() or _alive(int(n.props.get("pid", 0))))
    ]
    for node in stale:
        finish(
            store,
            node.key,
            INTERRUPTED,
            message="Processus arrêté avant la fin de l'import : rien n'est garanti "
            "de ce qu'il a écrit ; relancez l'import du même fichier (il est idempotent).",
        )
    return len(stale)


def runs(store: GraphStore) -> list[ImportRun]:
    """Every journalled import, newest first."""
    found = [
        ImportRun(
            n.key,
            str(p.get("source", "")),
            str(p.get("file", "")),
            str(p.get("sha256", "")),
            p.get("extraction_date"),
            str(p.get("status", "")),
            str(p.get("started_at", "")),
            p.get("ended_at"),
            dict(p.get("counts") or {}),
            p.get("message"),
        )
        for n in store.nodes(K.IMPORT_RUN)
        for p in (n.props,)
    ]
    return sorted(found, key=lambda r: (r.started_at, r.key), reverse=True)


def last_by_source(store: GraphStore) -> dict[str, ImportRun]:
    """The newest import of each source (whatever its status)."""
    last: dict[str, ImportRun] = {}
    for run in runs(store):
        last.setdefault(run.source, run)
    return last

"""State the app servers share: page sessions, rate limits, failed sign-ins.

Every process that answers requests — each web worker, each app server behind
a load balancer — must see the same sessions (a user signed in on one is signed
in on all) and count against the same limits (a limit of N a minute is N for
the whole service). That state lives where the store lives:

- beside an embedded store, in a small SQLite file of the data directory
  (``sessions.sqlite``: its frequent small writes never wait for an import's
  transaction on the graph's own file) — :class:`SqliteShared`;
- with the Bolt backend, in the Bolt database itself, under the store's
  namespace (``graph/stores/neo4j.py``): several app servers over one database
  share it with nothing more to run.

Values are small JSON documents with an expiry; counters are fixed windows
(``window_s`` seconds aligned on the epoch) of per-process shards summed on
read, so that writers never contend for one row.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

__all__ = ["SharedState", "SqliteShared", "SHARED_FILENAME", "window_of", "shard_id"]

SHARED_FILENAME = "sessions.sqlite"


def window_of(now: float, window_s: float) -> int:
    """The fixed window ``now`` falls in (windows of ``window_s`` seconds from the epoch)."""
    return int(now // window_s)


def shard_id() -> str:
    """This process's counter shard: host and process id (its own row, no contention)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@runtime_checkable
class SharedState(Protocol):
    """Small shared values with an expiry, and shared counters."""

    def shared_put(self, scope: str, key: str, value: Mapping[str, Any], ttl_s: float) -> None:
        """Store ``value`` under (scope, key) for ``ttl_s`` seconds (replacing any)."""
        ...

    def shared_get(self, scope: str, key: str) -> dict[str, Any] | None:
        """The value under (scope, key), None if absent or expired."""
        ...

    def shared_delete(self, scope: str, key: str) -> None: ...

    def shared_hit(self, scope: str, key: str, window_s: float, add: int = 1) -> int:
        """Add ``add`` to the counter (scope, key) of the current window and
        return its total over every process (``add=0``: read only)."""
        ...


class SqliteShared:
    """:class:`SharedState` in a SQLite file every worker of one machine opens
    (WAL: readers never wait; each write is one short autocommit statement)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS shared (scope TEXT NOT NULL, key TEXT NOT NULL, value TEXT NOT NULL, "
            "expires REAL NOT NULL, PRIMARY KEY (scope, key))"
        )
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS counters (scope TEXT NOT NULL, key TEXT NOT NULL, window INTEGER NOT NULL, "
            "n INTEGER NOT NULL, expires REAL NOT NULL, PRIMARY KEY (scope, key, window))"
        )
        self._lock = threading.Lock()
        self._swept = 0.0

    def _sweep(self, now: float) -> None:
        """Expired values and past windows removed, at most once a minute per process."""
        if now - self._swept < 60.0:
            return
        self._swept = now
        self._db.execute("DELETE FROM shared WHERE expires < ?", (now,))
        self._db.execute("DELETE FROM counters WHERE expires < ?", (now,))

    def shared_put(self, scope: str, key: str, value: Mapping[str, Any], ttl_s: float) -> None:
        now = time.time()
        with self._lock:
            self._sweep(now)
            self._db.execute(
                "INSERT OR REPLACE INTO shared VALUES (?, ?, ?, ?)",
                (scope, key, json.dumps(dict(value), separators=(",", ":")), now + ttl_s),
            )

    def shared_get(self, scope: str, key: str) -> dict[str, Any] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT value FROM shared WHERE scope = ? AND key = ? AND expires >= ?",
                (scope, key, time.time()),
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def shared_delete(self, scope: str, key: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM shared WHERE scope = ? AND key = ?", (scope, key))

    def shared_hit(self, scope: str, key: str, window_s: float, add: int = 1) -> int:
        now = time.time()
        window = window_of(now, window_s)
        with self._lock:
            if add:
                self._sweep(now)
                row = self._db.execute(
                    "INSERT INTO counters VALUES (?, ?, ?, ?, ?) ON CONFLICT (scope, key, window) "
                    "DO UPDATE SET n = n + excluded.n RETURNING n",
                    (scope, key, window, add, (window + 1) * window_s),
                ).fetchone()
            else:
                row = self._db.execute(
                    "SELECT n FROM counters WHERE scope = ? AND key = ? AND window = ?", (scope, key, window)
                ).fetchone()
        return int(row[0]) if row else 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

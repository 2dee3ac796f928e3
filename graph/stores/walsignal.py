"""Whether another connection may have committed to a SQLite file in WAL mode,
read from the WAL index's header in well under a microsecond.

``PRAGMA data_version`` is SQLite's own answer, but it takes and releases the
WAL index's read locks (several ``fcntl`` calls): 4 µs in a tight loop, 35-50 µs
for a process that has been doing something else meanwhile — a web worker
between two requests. The WAL index (the ``-shm`` file) begins with a header
that every commit rewrites: its ``iChange`` counter is incremented with each
transaction (https://www.sqlite.org/walformat.html, "The WAL-Index Header").
While that header has not changed, no transaction has been committed; when it
has, the caller asks ``PRAGMA data_version`` as before.

The header is read through a read-only memory map of the file's first bytes,
as SQLite itself maps the whole file in every connection. Two rules keep that
safe. A process's POSIX locks on a file are all released when *any* of its
descriptors of that file is closed, and SQLite holds its WAL locks on this one:
so the descriptor is closed only when the last store of the process on that
database has closed its connections (one mapping per file and process, counted).
And SQLite truncates the file only when it opens it with no other connection
holding it, which ours do while the map lives. The caller still asks SQLite at
least every ``FULL_PROBE_EVERY_S``; if SQLite then reports a commit the header
had not shown (the ``-shm`` file replaced, another journal mode), the file is
mapped again, so a missed signal costs at most that delay once.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import threading
from pathlib import Path

__all__ = ["FULL_PROBE_EVERY_S", "WalSignal"]

#: The WAL index header: its first copy (iVersion, unused, iChange, isInit,
#: bigEndCksum, szPage, mxFrame, nPage, aFrameCksum, aSalt, aCksum).
_HEADER_BYTES = 48

#: SQLite is asked at least this often, whatever the header says (seconds).
FULL_PROBE_EVERY_S = 1.0


class _Mapped:
    """One ``-shm`` file mapped in this process: the descriptors opened on it
    (all kept until no store uses it: see the module doc), the current map."""

    def __init__(self) -> None:
        self.users = 0
        self.fds: list[int] = []
        self.maps: list[mmap.mmap] = []
        self.current: mmap.mmap | None = None
        self.fd: int | None = None  # the descriptor the next map is made from (opened once per path)


_MAPPED: dict[str, _Mapped] = {}
_LOCK = threading.Lock()


class WalSignal:
    """The WAL index header of one database file, read on demand; ``None`` when
    there is none to read (no ``-shm`` file: another journal mode, or a VFS
    keeping the index in memory). ``close`` once the store's connections are closed."""

    def __init__(self, database: Path) -> None:
        self._path = f"{database}-shm"
        with _LOCK:
            self._mapped = _MAPPED.setdefault(self._path, _Mapped())
            self._mapped.users += 1
        self._closed = False

    def header(self) -> bytes | None:
        found = self._mapped.current
        if found is None:
            found = self._map()
            if found is None:
                return None
        return found[:_HEADER_BYTES]

    def _map(self) -> mmap.mmap | None:
        with _LOCK:
            mapped = self._mapped
            if mapped.current is not None:
                return mapped.current
            fd = mapped.fd
            if fd is None:
                try:
                    fd = mapped.fd = os.open(self._path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                except OSError:
                    return None
                mapped.fds.append(fd)  # never closed before the last user's close (module doc)
            try:
                if os.fstat(fd).st_size < _HEADER_BYTES:
                    return None  # not initialised yet: SQLite is asked
                mapped.current = mmap.mmap(fd, _HEADER_BYTES, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                return None
            mapped.maps.append(mapped.current)
            return mapped.current

    def reopen(self) -> None:
        """Map the file from its path again on the next read (the old map and
        descriptor are kept until the last user's close)."""
        with _LOCK:
            self._mapped.current = None
            self._mapped.fd = None

    def close(self) -> None:
        with _LOCK:
            if self._closed:
                return
            self._closed = True
            mapped = self._mapped
            mapped.users -= 1
            if mapped.users > 0:
                return
            if _MAPPED.get(self._path) is mapped:
                del _MAPPED[self._path]
            mapped.current = mapped.fd = None
            for one in mapped.maps:
                with contextlib.suppress(BufferError, OSError):
                    one.close()
            for fd in mapped.fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
            mapped.maps.clear()
            mapped.fds.clear()

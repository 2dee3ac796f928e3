"""Whether another connection may have committed to a SQLite file in WAL mode,
read from the WAL index's header in a few hundred nanoseconds.

``PRAGMA data_version`` is SQLite's own answer, but it takes and releases the
WAL index's read locks (several ``fcntl`` calls): 4 µs in a tight loop, 35-50 µs
for a process that has been doing something else meanwhile — a web worker
between two requests. The WAL index (the ``-shm`` file) begins with a header
that every commit rewrites: its ``iChange`` counter is incremented with each
transaction (https://www.sqlite.org/walformat.html, "The WAL-Index Header").
While that header has not changed, no transaction has been committed; when it
has, the caller asks ``PRAGMA data_version`` as before.

The header is read with ``os.pread`` (no memory map: a file truncated meanwhile
cannot fault the process). The caller still asks SQLite at least every
``FULL_PROBE_EVERY_S``; if SQLite then reports a commit the header had not
shown (the ``-shm`` file replaced, another journal mode), the file is opened
again, so a missed signal costs at most that delay once.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

__all__ = ["FULL_PROBE_EVERY_S", "WalSignal"]

#: The WAL index header: its first copy (iVersion, unused, iChange, isInit,
#: bigEndCksum, szPage, mxFrame, nPage, aFrameCksum, aSalt, aCksum).
_HEADER_BYTES = 48

#: SQLite is asked at least this often, whatever the header says (seconds).
FULL_PROBE_EVERY_S = 1.0


class WalSignal:
    """The WAL index header of one database file, read on demand; ``None`` when
    there is none to read (no ``-shm`` file: another journal mode, or a VFS
    keeping the index in memory)."""

    def __init__(self, database: Path) -> None:
        self._path = Path(f"{database}-shm")
        self._fd: int | None = None

    def header(self) -> bytes | None:
        if self._fd is None:
            try:
                self._fd = os.open(self._path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
            except OSError:
                return None
        try:
            data = os.pread(self._fd, _HEADER_BYTES, 0)
        except OSError:
            self.reopen()
            return None
        return data if len(data) == _HEADER_BYTES else None

    def reopen(self) -> None:
        """Forget the open file (read from the path again next time)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)

    close = reopen

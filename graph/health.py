"""What this process knows of its storage's health, for ``/health``: the last
storage fault (disk full, read-only, I/O error) until a write succeeds again."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

__all__ = ["record_fault", "record_write", "storage_problem", "MIN_FREE_BYTES"]

#: Below this much free space on the data directory's disk, writes are about to fail.
MIN_FREE_BYTES = 16 * 2**20
_LOCK = threading.Lock()
_FAULT: list[tuple[float, str]] = []


def record_fault(message: str) -> None:
    with _LOCK:
        _FAULT[:] = [(time.time(), message)]


def record_write() -> None:
    """A write went through: the storage works again."""
    if _FAULT:
        with _LOCK:
            _FAULT.clear()


def storage_problem(data_dir: Path | None) -> str | None:
    """A French sentence saying what is wrong with the storage, or None."""
    with _LOCK:
        if _FAULT:
            at, message = _FAULT[0]
            return f"{message} (depuis {time.strftime('%H:%M:%S', time.localtime(at))})"
    if data_dir is not None and data_dir.is_dir():
        free = shutil.disk_usage(data_dir).free
        if free < MIN_FREE_BYTES:
            return f"Disque presque plein : {free // 2**20} Mo libres sur le disque de {data_dir}."
    return None

"""The column snapshot of the competence index, kept next to the embedded store.

A server worker that does not hold the graph in memory (``SQLiteStore``) would otherwise build the competence index from SQLite at
every start (a national register: ~2 s and every row parsed). Instead, the
process that builds an index writes it here, with the position in the store's
change log it was built at; a process starting later loads it and applies what
the log says changed since (``graph.readmodel.patch_competence``), or builds
again when the log no longer reaches that far.

The file is a pickle of the index's columns: it is written by this program into
its own data directory, which already holds the database, and read only from
there (no file received from outside is ever unpickled). A snapshot of another
database (a restored backup: the log entry at its position differs), of another
version of the code (``fingerprint``), or a damaged one, is ignored.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import pickle
from pathlib import Path
from typing import Any

from graph.competence import CompetenceIndex, Link
from graph.store import LogPosition

__all__ = ["SNAPSHOT_FILENAME", "LogPosition", "save_competence", "load_competence", "fingerprint"]

log = logging.getLogger("dihr.snapshot")

SNAPSHOT_FILENAME = "read-model.pickle"
_FORMAT = 1
#: The modules whose code decides what the index holds: a change to any of them
#: makes older snapshots unusable.
_SOURCES = ("competence.py", "readmodel.py", "model.py", "snapshot.py")


def fingerprint() -> str:
    digest = hashlib.sha256(str(_FORMAT).encode())
    for name in _SOURCES:
        digest.update((Path(__file__).with_name(name)).read_bytes())
    return digest.hexdigest()


def save_competence(path: Path, position: LogPosition, index: CompetenceIndex) -> None:
    """Write ``index`` (built at ``position``) to ``path``, whole or not at all
    (a new file renamed over the old one). A failure is logged, not raised: the
    snapshot only saves time."""
    columns = dataclasses.replace(
        index, masks={}, derived={}, out=_shared_links(index.out)
    )  # caches rebuilt on use
    partial = path.with_name(f"{path.name}.{os.getpid()}.partiel")
    try:
        with partial.open("wb") as out:
            pickle.dump(
                {"fingerprint": fingerprint(), "position": position, "index": columns},
                out,
                protocol=pickle.HIGHEST_PROTOCOL,
            )
        partial.replace(path)
    except OSError as err:
        log.warning("column snapshot not written (%s): %s", path, err)
        partial.unlink(missing_ok=True)


def _shared_links(out: list[tuple[Link, ...]]) -> list[tuple[Link, ...]]:
    """The same links, every equal target and equal property mapping one object
    (pickle keeps the sharing): a third of the index's memory otherwise. The
    index only reads them."""
    targets: dict[Any, Any] = {}
    props: dict[Any, Any] = {}
    shared: dict[Any, Link] = {}

    def one(link: Link) -> Link:
        rel, target, values = link
        try:
            key = (rel, target, tuple(sorted(values.items())))
            hash(key)
        except TypeError:  # a list among the values: kept as it is
            return (rel, targets.setdefault(target, target), values)
        found = shared.get(key)
        if found is None:
            found = shared[key] = (rel, targets.setdefault(target, target), props.setdefault(key[2], values))
        return found

    return [tuple(one(link) for link in links) for links in out]


def load_competence(path: Path) -> tuple[LogPosition, CompetenceIndex] | None:
    """The snapshot at ``path`` and its position; None when there is none that
    this code can use."""
    try:
        with path.open("rb") as source:
            found: Any = pickle.load(source)  # our own file, in our own data directory (module doc)
    except FileNotFoundError:
        return None
    except Exception as err:  # noqa: BLE001 - damaged or foreign: built again
        log.warning("column snapshot ignored (%s): %s", path, err)
        return None
    if not isinstance(found, dict) or found.get("fingerprint") != fingerprint():
        return None
    index, position = found.get("index"), found.get("position")
    if not isinstance(index, CompetenceIndex) or not isinstance(position, tuple):
        return None
    return position, index

"""Shared fixtures: stores over every backend, and one real reference graph per session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from graph.settings import Settings
from graph.store import GraphStore
from graph.stores.memory import MemoryStore
from graph.stores.sqlite import SQLiteStore

ROOT = Path(__file__).resolve().parents[1]

#: Debian's Chromium (installed by `make test`) and the flags every browser test runs it with.
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _bolt_settings() -> Settings | None:
    """The Bolt server of the Neo4j variants: ``DIHR_NEO4J_URI`` (a real Neo4j 5)
    when set, else an ArcadeDB started for this test run (tools/arcadedb.py),
    stopped at exit. Only the variants use it: the environment is not changed,
    so every other test keeps the embedded store."""
    if os.environ.get("DIHR_NEO4J_URI"):
        return Settings()
    from tools import arcadedb

    if not arcadedb.available() or os.environ.get("DIHR_TEST_NO_BOLT"):
        return None
    import atexit
    import tempfile

    server = arcadedb.start(Path(tempfile.mkdtemp(prefix="dihr-arcadedb-")))
    atexit.register(server.discard)
    return Settings(
        neo4j_uri=server.uri,
        neo4j_user=server.user,
        neo4j_password=server.password,
        neo4j_database=server.database,
    )


BOLT = _bolt_settings()
needs_neo4j = pytest.mark.skipif(
    BOLT is None,
    reason="Neo4j contract variant: no Bolt server (install the test extras for ArcadeDB, "
    "or set DIHR_NEO4J_URI to a Neo4j 5 server)",
)


def _open_backend(name: str, tmp_path: Path) -> GraphStore:
    if name == "memory":
        return MemoryStore(tmp_path / "store")
    if name == "sqlite":  # the embedded store as a server worker opens it: no graph in memory
        return SQLiteStore(tmp_path / "store")
    from graph.stores.neo4j import Neo4jStore  # only reached when a Bolt server is there

    assert BOLT is not None
    return Neo4jStore.for_tests(BOLT, namespace=tmp_path.name)


@pytest.fixture(params=["memory", "sqlite", pytest.param("neo4j", marks=[needs_neo4j, pytest.mark.neo4j])])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: Path) -> Iterator[GraphStore]:
    """An empty store of each backend; what a test writes is removed with it."""
    s = _open_backend(backend, tmp_path)
    yield s
    if hasattr(s, "drop_namespace"):
        s.drop_namespace()
    s.close()


@pytest.fixture(scope="session")
def reference_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory initialised once per session with the real reference data."""
    from importers.reference import init_reference

    data_dir = tmp_path_factory.mktemp("reference")
    settings = Settings(data_dir=data_dir)
    s = MemoryStore(data_dir)
    try:
        init_reference(s, settings)
    finally:
        s.close()
    return data_dir


@pytest.fixture(scope="session")
def reference_store(reference_dir: Path) -> Iterator[MemoryStore]:
    """The real reference graph, opened once, read-only by convention."""
    s = MemoryStore(reference_dir)
    yield s
    s.close()


@pytest.fixture(scope="session")
def demo_dir(reference_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real reference graph plus the synthetic demo network (default seed)."""
    import shutil

    from importers.demo import generate_demo

    data_dir = tmp_path_factory.mktemp("demo")
    shutil.copytree(reference_dir, data_dir, dirs_exist_ok=True)
    s = MemoryStore(data_dir)
    try:
        generate_demo(s)
    finally:
        s.close()
    return data_dir


@pytest.fixture(scope="session")
def demo_store(demo_dir: Path) -> Iterator[MemoryStore]:
    s = MemoryStore(demo_dir)
    yield s
    s.close()


@pytest.fixture(scope="module")
def demo_copy(demo_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the demo data directory for one test module that writes (referrals, reports…)."""
    import shutil

    copy = tmp_path_factory.mktemp("demo-copy")
    shutil.copytree(demo_dir, copy, dirs_exist_ok=True)
    return copy


@pytest.fixture(scope="module")
def demo_copy_store(demo_copy: Path) -> Iterator[MemoryStore]:
    s = MemoryStore(demo_copy)
    yield s
    s.close()


def bearer(store: GraphStore, role: str = "gnchr", territory: str | None = None) -> dict[str, str]:
    """Authorization headers of a new API key of that role."""
    from graph.access import create_key

    _, secret = create_key(store, role, territory=territory, label=f"tests {role}")
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def net(store: GraphStore):
    """The small test territory with one resource competent for DV+TSA at Poitiers."""
    from graph.model import Node, NodeKind, NodeRef
    from tests.factories import POITIERS, Network

    n = Network(store)
    store.upsert(
        [
            Node(
                NodeKind.ESTABLISHMENT,
                "860000001",
                {"name": "E1", "lat": POITIERS[0], "lon": POITIERS[1], "department": "86"},
            )
        ]
    )
    n._links(NodeRef(NodeKind.ESTABLISHMENT, "860000001"), {}, {"DV": 3, "TSA": 2})
    return n


@contextmanager
def served(data_dir: Path, *args: str, **env: str) -> Iterator[str]:
    """``dihr serve`` on a free port over ``data_dir``, in a subprocess; yields
    its URL once it answers (``env``: extra DIHR_* variables)."""
    import socket
    import subprocess
    import sys
    import time

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    environment = {
        **os.environ,
        "DIHR_DATA_DIR": str(data_dir),
        "DIHR_PORT": str(port),
        "DIHR_MAP_TILES": "",
        **env,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", *args],
        cwd=ROOT,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)

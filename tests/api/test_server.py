"""`dihr serve` as a user starts it: a real process answering over HTTP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dihr_serve_answers_health_and_graphql(reference_dir):
    from graph.stores.memory import MemoryStore
    from tests.conftest import bearer

    keys = MemoryStore(reference_dir)
    headers = bearer(keys, "partner")
    keys.close()
    port = free_port()
    env = {**os.environ, "DIHR_DATA_DIR": str(reference_dir), "DIHR_PORT": str(port)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stdout.read()
                assert time.monotonic() < deadline, "server did not start within 60 s"
                time.sleep(0.3)
        assert health.json()["status"] == "ok"
        anonymous = httpx.post(f"{url}/graphql", json={"query": "{ skills { code } }"}, timeout=10)
        assert anonymous.status_code == 401 and anonymous.json()["code"] == "UNAUTHENTICATED"
        answer = httpx.post(
            f"{url}/graphql",
            headers=headers,
            json={"query": '{ qualify(deficiencies: ["EPI", "DI"]) { cnrhr } erhr(code: "ARA") { seat } }'},
            timeout=10,
        ).json()
        assert answer["data"] == {"qualify": {"cnrhr": ["FAHRES"]}, "erhr": {"seat": "Villeurbanne"}}
        graphiql = httpx.get(f"{url}/graphql", headers={"Accept": "text/html", **headers}, timeout=10)
        assert graphiql.status_code == 200 and "graphiql" in graphiql.text.lower()
    finally:
        proc.terminate()
        proc.wait(timeout=20)

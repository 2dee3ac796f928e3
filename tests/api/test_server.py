"""`dihr serve` as a user starts it: a real process answering over HTTP."""

from __future__ import annotations

import os
import re
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


def own_copy(reference_dir, tmp_path):
    """The session's reference data copied for one server (never served in place:
    other tests hold it open)."""
    import shutil

    copy = tmp_path / "data"
    shutil.copytree(reference_dir, copy)
    return copy


def test_dihr_serve_answers_health_and_graphql(reference_dir, tmp_path):
    from graph.stores.memory import MemoryStore
    from tests.conftest import bearer

    reference_dir = own_copy(reference_dir, tmp_path)  # servers write beside their store

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
        httpx.get(f"{url}/situations/S-PSEUDO-42", headers=headers, timeout=10)  # a pseudonym in a path
        metrics = httpx.get(f"{url}/metrics", timeout=10)  # several workers: their figures added up
        assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
        assert 'dihr_requests_total{method="POST",route="/graphql",status="401"} 1.0' in metrics.text
        assert 'dihr_request_duration_seconds_bucket{le="0.1",route="/graphql"}' in metrics.text
        assert 'route="/situations/{key}"' in metrics.text and "S-PSEUDO-42" not in metrics.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    output = proc.stdout.read()
    access = [line for line in output.splitlines() if " dihr.access " in line]
    assert any(
        re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO dihr.access POST /graphql 401 ", a)
        for a in access
    ), output[-2000:]
    assert any("GET /situations/{key} " in a for a in access)
    assert "S-PSEUDO-42" not in output and "Bearer" not in output  # no pseudonym, no secret in the log


def test_metrics_are_for_the_allowed_scrapers_only(reference_dir, tmp_path):
    reference_dir = own_copy(reference_dir, tmp_path)
    port = free_port()
    env = {
        **os.environ,
        "DIHR_DATA_DIR": str(reference_dir),
        "DIHR_PORT": str(port),
        "DIHR_WORKERS": "1",
        "DIHR_METRICS_ALLOW": "10.0.0.0/8",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{url}/health", timeout=2)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "server did not start within 60 s"
                time.sleep(0.3)
        refused = httpx.get(f"{url}/metrics", timeout=10)
        assert refused.status_code == 404 and "dihr_requests_total" not in refused.text
    finally:
        proc.terminate()
        proc.wait(timeout=20)

"""Where a search runs (api/deps.py ``run_search``): on the event loop when the
read model is built and the radius regional — about a millisecond, less than a
worker thread's hand-off —, in a worker thread within the query timeout when it
must build first (the first search, the first after a write) or reads far."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api import deps
from api.app import create_app
from api.queries import FIND_RESOURCES_QUERY
from graph.model import Node, NodeKind
from graph.settings import Settings
from tests.conftest import bearer


@pytest.fixture
def threaded(monkeypatch):
    """The searches handed to a worker thread, by radius."""
    calls: list[float] = []
    handed = deps.run_blocking

    async def recording(fn, *args, **kwargs):
        if getattr(fn, "__name__", "") == "find_resources":
            calls.append(args[-1].radius_km)
        return await handed(fn, *args, **kwargs)

    monkeypatch.setattr(deps, "run_blocking", recording)
    return calls


def test_a_search_runs_in_a_thread_only_when_it_must_build_or_reads_far(demo_copy, demo_copy_store, threaded):
    app = create_app(Settings(data_dir=demo_copy, rate_limit_per_minute=100_000), store=demo_copy_store)
    headers = bearer(demo_copy_store)

    def search(radius_km: float) -> dict:
        situation = {"deficiencies": ["DV", "TSA"], "commune": "86194", "age": 12, "radiusKm": radius_km}
        body = {"query": FIND_RESOURCES_QUERY, "variables": {"situation": situation, "limit": 10}}
        answer = c.post("/graphql", json=body, headers=headers).json()
        assert "errors" not in answer, answer
        return answer["data"]["findResources"]

    with TestClient(app) as c:
        first = search(100)  # nothing built yet (or built for another revision): in a thread
        assert threaded == [100]
        assert search(100) == first and threaded == [100]  # built: on the loop, the same answer
        assert search(deps.LOOP_RADIUS_KM + 300)["matches"] and threaded == [100, deps.LOOP_RADIUS_KM + 300]
        demo_copy_store.upsert(nodes=[Node(NodeKind.KNOWLEDGE, "loop-test", {"title": "Guide (test)"})])
        search(100)  # the write's revision not built yet: in a thread again
        assert threaded == [100, deps.LOOP_RADIUS_KM + 300, 100]
        search(100)  # built again: on the loop
        assert len(threaded) == 3

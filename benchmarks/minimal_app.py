"""The HTTP peer: the smallest FastAPI route a competent engineer would write
to serve the same findResources answer, without GraphQL.

``POST /graphql`` takes the same body as the served API (the findResources
document's variables; the document itself is not read), calls the same
service function on the same embedded store, builds the very JSON the served
API returns for ``api.queries.FIND_RESOURCES_QUERY`` by hand, and encodes it
with orjson. No authentication, no limits, no middleware: a floor for the
served API's own overheads. ``make bench`` checks that both answer the same
bytes' worth of data for every query.

Run by the benchmark with ``DIHR_DATA_DIR`` set, by ``dihr serve``'s own
worker supervisor (``api.workers.serve_workers``: one SO_REUSEPORT socket per
worker, as many workers as the served API's), so that both are served alike.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response

from graph import matching, service
from graph.access import SYSTEM
from graph.stores.memory import MemoryStore
from graph.stores.sqlite import SQLiteStore

__all__ = ["app", "answer_json"]


def _cover(c: matching.NeedCoverage) -> dict[str, Any]:
    return {
        "need": c.need,
        "needKind": c.need_kind,
        "level": c.level,
        "path": c.path,
        "source": c.source,
        "explanation": c.text or c.path,
        "link": c.link,
    }


def _contact(c: matching.Contact | None) -> dict[str, Any] | None:
    if c is None:
        return None
    return {
        "address": c.address,
        "postcode": c.postcode,
        "city": c.city,
        "phone": c.phone,
        "email": c.email,
        "website": c.website,
        "source": c.source,
        "missing": c.missing,
    }


def _match(m: matching.Match) -> dict[str, Any]:
    return {
        "rank": m.rank,
        "kind": m.kind.value,
        "key": m.key,
        "name": m.name,
        "level": m.level.value,
        "basis": m.basis.value,
        "score": m.score,
        "distanceKm": m.distance_km,
        "minutes": m.minutes,
        "withinRadius": m.within_radius,
        "inErhrTerritory": m.in_erhr_territory,
        "department": m.department,
        "synthetic": m.synthetic,
        "lat": m.lat,
        "lon": m.lon,
        "misses": list(m.misses),
        "ageGroup": m.age_group,
        "locationSource": m.location_source,
        "group": m.group,
        "covers": [_cover(c) for c in m.covers],
        "contact": _contact(m.contact),
    }


def _inferred(i: matching.InferredNeed) -> dict[str, Any]:
    return {
        "deficiency": i.deficiency,
        "condition": i.condition,
        "conditionLabel": i.condition_label,
        "phenotypes": i.phenotypes,
        "explanation": i.text,
        "frequency": i.frequency,
        "core": i.core,
    }


def answer_json(r: matching.MatchResult) -> dict[str, Any]:
    """``data.findResources`` of FIND_RESOURCES_QUERY, by hand."""
    q = r.qualification
    return {
        "combination": r.combination,
        "deficiencies": list(r.deficiencies),
        "skills": list(r.skills),
        "conditions": list(r.conditions),
        "radiusKm": r.radius_km,
        "notes": list(r.notes),
        "transition": r.transition,
        "qualification": {
            "combination": q.combination,
            "matched": q.matched,
            "summary": q.summary,
            "cnrhr": list(q.cnrhr),
            "superseded": list(q.superseded),
            "criteria": [{"code": c.code, "label": c.label, "cnrhr": c.cnrhr} for c in q.criteria],
        },
        "place": {
            "commune": r.place.commune,
            "communeName": r.place.commune_name,
            "department": r.place.department,
            "lat": r.place.lat,
            "lon": r.place.lon,
            "approximate": r.place.approximate,
        },
        "erhr": {
            "code": r.erhr.code,
            "name": r.erhr.name,
            "seat": r.erhr.seat,
            "email": r.erhr.email,
            "phone": r.erhr.phone,
            "website": r.erhr.website,
            "regions": list(r.erhr.regions),
            "missing": r.erhr.missing,
        },
        "inferred": [_inferred(i) for i in r.inferred],
        "possible": [_inferred(i) for i in r.possible],
        "matches": [_match(m) for m in r.matches],
        "teams": [
            {"maxDistanceKm": t.max_distance_km, "members": [_match(m) for m in t.members]} for t in r.teams
        ],
        "widening": None
        if r.widening is None
        else {"competentInside": r.widening.competent_inside, "message": r.widening.message},
        "knowledge": [
            {
                "key": k.key,
                "kind": k.kind,
                "kindLabel": k.kind_label,
                "title": k.title,
                "summary": k.summary,
                "link": k.link,
                "author": k.author,
                "erhr": k.erhr,
                "available": k.available,
                "synthetic": k.synthetic,
                "about": [{"kind": a, "code": c, "label": label} for a, c, label in k.about],
            }
            for k in r.knowledge
        ],
    }


def situation(variables: dict[str, Any]) -> matching.SituationQuery:
    s = variables["situation"]
    return matching.SituationQuery(
        deficiencies=s.get("deficiencies") or (),
        conditions=s.get("conditions") or (),
        skills=s.get("skills") or (),
        age=s.get("age"),
        commune=s.get("commune"),
        postcode=s.get("postcode"),
        lat=s.get("lat"),
        lon=s.get("lon"),
        radius_km=s.get("radiusKm", 100.0),
        limit=variables.get("limit", 20),
    )


_STORE: list[MemoryStore] = []


@asynccontextmanager
async def _lifespan(_app: FastAPI) -> AsyncIterator[None]:
    # Opened as the served API's workers open it (several workers: no graph, the column snapshot).
    workers = int(os.environ.get("DIHR_WORKERS", "1"))
    hold_graph = workers == 1 or os.environ.get("DIHR_GRAPH_IN_MEMORY", "").lower() == "true"
    _STORE.append((MemoryStore if hold_graph else SQLiteStore)(Path(os.environ["DIHR_DATA_DIR"])))
    yield
    _STORE.pop().close()


app = FastAPI(lifespan=_lifespan)


@app.post("/graphql")
async def find_resources(request: Request) -> Response:
    variables = orjson.loads(await request.body())["variables"]
    result = service.find_resources(_STORE[0], SYSTEM, situation(variables))
    return Response(
        orjson.dumps({"data": {"findResources": answer_json(result)}}), media_type="application/json"
    )


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok"}

"""``/maps/...``: self-contained HTML maps (Leaflet served by the app itself)."""

from __future__ import annotations

import secrets

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse

from api.deps import Service, current_key
from api.exports import _codes
from api.maps_service import coverage_map_html, gaps_map_html, radar_map_html, situation_map_html
from api.security import map_csp, with_nonce
from graph.matching import SituationQuery

__all__ = ["router"]

router = APIRouter(prefix="/maps", tags=["cartes"], dependencies=[Depends(current_key)])


def _map_response(text: str) -> HTMLResponse:
    """The map with a per-response nonce on its own scripts, and the policy that
    runs those and nothing else."""
    nonce = secrets.token_urlsafe(16)
    return HTMLResponse(with_nonce(text, nonce), headers={"Content-Security-Policy": map_csp(nonce)})


@router.get("/coverage", response_class=HTMLResponse, summary="Carte de couverture d'une combinaison")
async def coverage_page(
    service: Service,
    deficiencies: list[str] = Query(..., description="Codes de déficience."),
    level: str = Query("DEPARTMENT"),
    threshold_km: float = Query(60.0),
    age: int | None = Query(None),
    local_only: bool = Query(False),
    separately: bool = Query(False),
) -> HTMLResponse:
    text = await service.run(
        coverage_map_html,
        service.store,
        service.settings,
        service.principal,
        _codes(deficiencies),
        level=level,
        threshold_km=threshold_km,
        age=age,
        served=True,
        local_only=local_only,
        separately=separately,
    )
    return _map_response(text)


@router.get("/gaps", response_class=HTMLResponse, summary="Carte des zones blanches")
async def gaps_page(
    service: Service,
    level: str = Query("DEPARTMENT"),
    threshold_km: float = Query(60.0),
    criterion: str | None = Query(None, description="Critère D312-194 (1 … 5d) ; tous si absent."),
) -> HTMLResponse:
    text = await service.run(
        gaps_map_html,
        service.store,
        service.settings,
        service.principal,
        level=level,
        threshold_km=threshold_km,
        criterion=criterion,
        served=True,
    )
    return _map_response(text)


@router.get("/situation", response_class=HTMLResponse, summary="Carte d'une recherche de ressources")
async def situation_page(
    service: Service,
    deficiencies: list[str] = Query(
        [], description="Codes de déficience (facultatifs avec une maladie rare)."
    ),
    commune: str = Query(..., description="Code commune INSEE."),
    age: int | None = Query(None),
    radius_km: float = Query(100.0),
    skills: list[str] = Query([], description="Compétences demandées."),
    conditions: list[str] = Query([], description="Maladies rares (codes ORPHA)."),
    limit: int = Query(20, description="Nombre de ressources locales, comme le tableau des résultats."),
) -> HTMLResponse:
    query = SituationQuery(
        deficiencies=_codes(deficiencies),
        commune=commune,
        age=age,
        radius_km=radius_km,
        skills=_codes(skills),
        conditions=conditions,
        limit=limit,
    )
    text = await service.run(
        situation_map_html, service.store, service.settings, service.principal, query, served=True
    )
    return _map_response(text)


@router.get("/transition", response_class=HTMLResponse, summary="Carte du radar de la transition")
async def transition_page(
    service: Service,
    level: str = Query("DEPARTMENT"),
    threshold_km: float = Query(60.0),
    criterion: str | None = Query(None, description="Critère D312-194 (1 … 5d, autre) ; tous si absent."),
    horizon: int = Query(3, description="Dans combien d'années (1, 2 ou 3)."),
) -> HTMLResponse:
    text = await service.run(
        radar_map_html,
        service.store,
        service.settings,
        service.principal,
        level=level,
        threshold_km=threshold_km,
        criterion=criterion or None,
        horizon=horizon,
        served=True,
    )
    return _map_response(text)

"""Computes what a map needs (through the domain) and hands it to ``maps/``.
Used by the ``/maps/...`` routes and by ``dihr map ...``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import maps  # its functions load folium and shapely on first use (a worker that draws no map holds neither)
from graph import coverage as cov
from graph import service
from graph.access import Principal
from graph.errors import InvalidInput
from graph.matching import SituationQuery, competent_resources
from graph.readmodel import read_model
from graph.settings import Settings
from graph.store import GraphStore
from graph.territories import TerritoryTable
from graph.transition import HORIZONS
from graph.views import display_name
from maps.vendor import local_vendor_dir

__all__ = ["assets_for", "coverage_map_html", "gaps_map_html", "situation_map_html", "VENDOR_PREFIX"]

VENDOR_PREFIX = "/static/vendor"


def assets_for(settings: Settings, *, served: bool) -> str | None:
    """Where a map loads Leaflet from: the configured base URL; else the app's own
    copy (served pages) or the local files (written files); else the CDN."""
    if settings.map_assets:
        return settings.map_assets
    vendor = local_vendor_dir()
    if vendor is None:
        return None
    return VENDOR_PREFIX if served else vendor.as_uri()


def _outlines(settings: Settings, table: TerritoryTable, level: cov.Level) -> dict[str, Any]:
    departments = maps.load_outlines(settings.data_dir)
    if level is cov.Level.DEPARTMENT:
        return departments
    owner = {
        d: (str(n.props["region"]) if level is cov.Level.REGION else table.erhr_of_department[d])
        for d, n in table.departments.items()
    }
    cache = settings.data_dir / "outlines" / f"{level.value.lower()}.json"
    return maps.outlines_by_level(departments, owner, cache)


def coverage_map_html(
    store: GraphStore,
    settings: Settings,
    principal: Principal,
    deficiencies: Iterable[str],
    *,
    level: str,
    threshold_km: float,
    age: int | None,
    served: bool,
    local_only: bool = False,
    separately: bool = False,
) -> str:
    table = read_model(store).territories
    result = service.coverage(
        store,
        principal,
        deficiencies,
        level=level,
        threshold_km=threshold_km,
        age=age,
        local_only=local_only,
        separately=separately,
    )
    competent = competent_resources(store, result.combination.split("+"), age=age, separately=separately)
    located = read_model(store).locations(competent)
    names: dict[Any, str] = {}
    for kind in {ref.kind for ref in located}:
        for key, node in store.get_nodes(kind, [r.key for r in located if r.kind is kind]).items():
            label = display_name(node.props, key)
            names[node.ref] = label + (" (synthétique)" if node.props.get("synthetic") else "")
    resources = [(lat, lon, names.get(ref, ref.key)) for ref, (lat, lon) in located.items()]
    m = maps.coverage_map(
        result,
        _outlines(settings, table, result.level),
        resources,
        assets=assets_for(settings, served=served),
        tiles=settings.map_tiles,
    )
    return maps.render_html(m)


def gaps_map_html(
    store: GraphStore,
    settings: Settings,
    principal: Principal,
    *,
    level: str,
    threshold_km: float,
    criterion: str | None,
    served: bool,
) -> str:
    table = read_model(store).territories
    matrix = service.gaps(store, principal, level=level, threshold_km=threshold_km)
    if criterion is not None and criterion not in [c[0] for c in matrix.criteria]:
        from graph.errors import InvalidInput

        raise InvalidInput("criterion", "critère attendu : 1, 2, 3, 4, 5a, 5b, 5c ou 5d.")
    m = maps.gap_map(
        matrix,
        _outlines(settings, table, matrix.level),
        criterion=criterion,
        assets=assets_for(settings, served=served),
        tiles=settings.map_tiles,
    )
    return maps.render_html(m)


def situation_map_html(
    store: GraphStore, settings: Settings, principal: Principal, query: SituationQuery, *, served: bool
) -> str:
    table = read_model(store).territories
    result = service.find_resources(store, principal, query)
    erhr_outlines = _outlines(settings, table, cov.Level.ERHR)
    m = maps.situation_map(
        result,
        erhr_outlines.get(result.erhr.code),
        assets=assets_for(settings, served=served),
        tiles=settings.map_tiles,
    )
    return maps.render_html(m)


def radar_map_html(
    store: GraphStore,
    settings: Settings,
    principal: Principal,
    *,
    level: str,
    threshold_km: float,
    criterion: str | None,
    horizon: int,
    served: bool,
) -> str:
    """The transition radar's map as the caller may read it (counts per territory only)."""
    table = read_model(store).territories
    radar = service.transition_radar(
        store, principal, level=level, threshold_km=threshold_km, criterion=criterion
    )
    if horizon not in HORIZONS:
        raise InvalidInput("horizon", "horizon attendu : 1, 2 ou 3 ans.")
    m = maps.radar_map(
        radar,
        _outlines(settings, table, cov.Level(radar.level.value)),
        horizon=horizon,
        assets=assets_for(settings, served=served),
        tiles=settings.map_tiles,
    )
    return maps.render_html(m)

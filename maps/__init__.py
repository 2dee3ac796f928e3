"""Folium maps. Each function takes computed data and returns a ``folium.Map``;
none queries a store. folium is imported on first use of a map function (a
server worker that draws no map does not hold it)."""

from __future__ import annotations

from typing import Any

__all__ = [
    "coverage_map",
    "gap_map",
    "situation_map",
    "radar_map",
    "render_html",
    "load_outlines",
    "outlines_by_level",
]

_WHERE = {
    "coverage_map": "maps.coverage",
    "gap_map": "maps.coverage",
    "situation_map": "maps.coverage",
    "radar_map": "maps.transition",
    "render_html": "maps._base",
    "load_outlines": "maps._base",
    "outlines_by_level": "maps._base",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'maps' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(where), name)

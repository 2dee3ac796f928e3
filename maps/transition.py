"""The transition radar's map: per territory, the young people reaching 20
within the horizon and those without a competent adult service within reach.
Counts per territory only, never a person's place; withheld counts shown as
« < 11 » (partners)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import folium

from graph.coverage import count_label
from graph.transition import HORIZONS, Radar
from maps._base import add_legend, colour_for, new_map, safe_text
from maps.coverage import _features

__all__ = ["radar_map"]

_LEVEL_LABEL = {"DEPARTMENT": "département", "REGION": "région", "ERHR": "territoire ERHR"}
_BOUNDS = (2, 5, 10, 20)  # young people without an adult service (none: white; withheld: grey)
_LABELS = ("1 à 2", "3 à 5", "6 à 10", "11 à 20", "plus de 20")


def radar_map(
    radar: Radar,
    outlines: Mapping[str, Any],
    *,
    horizon: int = HORIZONS[-1],
    assets: str | None = None,
    tiles: str = "OpenStreetMap",
) -> folium.Map:
    """Choropleth of the expected deficit within ``horizon`` years, per territory."""
    i = HORIZONS.index(horizon)
    title = (
        f"Transition vers l'âge adulte : déficit dans {horizon} an(s) par {_LEVEL_LABEL[radar.level.value]}"
    )
    m = new_map(assets=assets, tiles=tiles, title=title)
    rows = {}
    for row in radar.territories:
        deficit, needing = row.deficit[i], row.needing[i]
        rows[row.code] = {
            "territoire": safe_text(row.name),
            "a_preparer": count_label(needing),
            "sans_service": count_label(deficit),
            "_colour": "#bdbdbd"
            if deficit is None
            else colour_for(float(deficit), _BOUNDS)
            if deficit
            else "#ffffff",
        }
    folium.GeoJson(
        _features(outlines, rows),
        name="Déficit attendu",
        style_function=lambda f: {
            "fillColor": f["properties"]["_colour"],
            "color": "#333",
            "weight": 1,
            "fillOpacity": 0.7,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["territoire", "a_preparer", "sans_service"],
            aliases=[
                "Territoire",
                f"Jeunes atteignant 20 ans d'ici {horizon} an(s)",
                "Sans service pour adultes compétent à portée",
            ],
        ),
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    add_legend(
        m,
        "Jeunes sans service pour adultes compétent à portée",
        _LABELS,
        [("#ffffff", "aucun"), ("#bdbdbd", "masqué (« < 11 »)")],
    )
    return m

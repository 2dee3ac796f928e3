"""The three maps: coverage choropleth, gaps, and a situation's matches.

Tooltips and legends are in French. Territories are GeoJSON features (one per
territory, with its figures as properties), so the map also carries its data;
the pages show the same figures as a table (the textual alternative).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import folium

from graph.coverage import CoverageResult, GapMatrix, count_label
from graph.matching import Basis, MatchLevel, MatchResult
from maps._base import PALETTE, add_legend, cluster, colour_for, new_map, safe_text

__all__ = ["coverage_map", "gap_map", "situation_map"]

_SHARE_BOUNDS = (0.05, 0.15, 0.30, 0.50)
_SHARE_LABELS = ("≤ 5 %", "5 – 15 %", "15 – 30 %", "30 – 50 %", "> 50 %")
_LEVEL_LABEL = {"DEPARTMENT": "département", "REGION": "région", "ERHR": "territoire ERHR"}


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")


def _km(value: float | None) -> str:
    return "—" if value is None else f"{value:.0f} km"


def _features(outlines: Mapping[str, Any], rows: dict[str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "id": code, "properties": {"code": code, **props}, "geometry": outlines[code]}
            for code, props in rows.items()
            if code in outlines
        ],
    }


def coverage_map(
    result: CoverageResult,
    outlines: Mapping[str, Any],
    resources: Sequence[tuple[float, float, str]] = (),
    *,
    assets: str | None = None,
    tiles: str = "OpenStreetMap",
) -> folium.Map:
    """Choropleth of the population share beyond each threshold (one layer per
    threshold, the main one shown), competent resources clustered."""
    level = _LEVEL_LABEL[result.level.value]
    m = new_map(assets=assets, tiles=tiles, title=f"Couverture {result.combination} par {level}")
    for threshold in result.thresholds_km:
        rows = {
            t.code: {
                "territoire": safe_text(t.name),
                "population": f"{t.population:,}".replace(",", " "),
                "part_au_dela": _pct(t.share_beyond[threshold]),
                "distance_moyenne": _km(t.mean_km),
                "ressources": t.resources,
                "situations_sans_solution": count_label(t.without_solution, t.unmet_published),
                "_colour": colour_for(t.share_beyond[threshold], _SHARE_BOUNDS),
            }
            for t in result.territories
        }
        layer = folium.FeatureGroup(
            name=f"Part de la population à plus de {threshold:g} km",
            overlay=False,
            show=threshold == result.threshold_km,
        )
        folium.GeoJson(
            _features(outlines, rows),
            style_function=lambda f: {
                "fillColor": f["properties"]["_colour"],
                "color": "#333",
                "weight": 1,
                "fillOpacity": 0.7,
            },
            highlight_function=lambda _f: {"weight": 3},
            tooltip=folium.GeoJsonTooltip(
                fields=[
                    "territoire",
                    "population",
                    "part_au_dela",
                    "distance_moyenne",
                    "ressources",
                    "situations_sans_solution",
                ],
                aliases=[
                    "Territoire",
                    "Population",
                    f"Part au-delà de {threshold:g} km",
                    "Distance moyenne",
                    "Ressources compétentes",
                    "Situations sans solution",
                ],
            ),
        ).add_to(layer)
        layer.add_to(m)
    markers = cluster(m, "Ressources compétentes")
    for lat, lon, name in resources:
        folium.CircleMarker(
            [lat, lon], radius=5, color="#08519c", fill=True, fill_opacity=0.9, tooltip=safe_text(name)
        ).add_to(markers)
    folium.LayerControl(collapsed=False).add_to(m)
    add_legend(
        m,
        f"Part de la population à plus de {result.threshold_km:g} km d'une ressource compétente ({result.combination})",
        _SHARE_LABELS,
        [("#bdbdbd", "aucune donnée")],
    )
    return m


def gap_map(
    matrix: GapMatrix,
    outlines: Mapping[str, Any],
    *,
    criterion: str | None = None,
    assets: str | None = None,
    tiles: str = "OpenStreetMap",
) -> folium.Map:
    """Zones blanches (no competent resource in the territory) for one
    criterion, or for how many criteria when ``criterion`` is None; "sans
    solution" situations as counts per territory, never as points."""
    codes = [c[0] for c in matrix.criteria]
    index = codes.index(criterion) if criterion is not None else None
    title = "Zones blanches" + (f" — critère {criterion}" if criterion else " — tous critères D312-194")
    m = new_map(assets=assets, tiles=tiles, title=title)
    rows = {}
    for code, name, cells in matrix.territories:
        chosen = [cells[index]] if index is not None else list(cells)
        blank = sum(1 for c in chosen if c.zone_blanche)
        unknown = sum(1 for c in chosen if c.no_data)
        rows[code] = {
            "territoire": safe_text(name),
            "zones_blanches": f"{blank} critère(s) sur {len(chosen)}"
            + (f" ; pas de donnée pour {unknown}" if unknown else ""),
            "sans_solution": (
                count_label(None, False)
                if not all(c.unmet_published for c in chosen)
                else count_label(None)
                if any(c.without_solution is None for c in chosen)
                else sum(c.without_solution or 0 for c in chosen)
            ),
            "_colour": (
                PALETTE[min(4, round(blank / len(chosen) * 4))]
                if blank
                else "#bdbdbd"
                if unknown == len(chosen)
                else "#ffffff"
            ),
        }
    folium.GeoJson(
        _features(outlines, rows),
        name="Zones blanches",
        style_function=lambda f: {
            "fillColor": f["properties"]["_colour"],
            "color": "#333",
            "weight": 1,
            "fillOpacity": 0.75,
        },
        tooltip=folium.GeoJsonTooltip(
            fields=["territoire", "zones_blanches", "sans_solution"],
            aliases=["Territoire", "Zone blanche pour", "Situations sans solution (nombre)"],
        ),
    ).add_to(m)
    folium.LayerControl(collapsed=False).add_to(m)
    add_legend(m, title, ("aucun critère", "peu de critères", "plusieurs critères", "la plupart", "tous"))
    return m


_BASIS_COLOUR = {
    Basis.COMBINATION: "#006d2c",
    Basis.ALL_DEFICIENCIES: "#31a354",
    Basis.SEPARATELY: "#a1d99b",
    Basis.PARTIAL: "#fd8d3c",
    Basis.TERRITORIAL: "#3182bd",
    Basis.NATIONAL: "#756bb1",
}
_BASIS_LABEL = {
    Basis.COMBINATION: "expertise sur la combinaison",
    Basis.ALL_DEFICIENCIES: "expertise sur chaque déficience",
    Basis.SEPARATELY: "accueille chaque déficience séparément",
    Basis.PARTIAL: "couverture partielle",
    Basis.TERRITORIAL: "ERHR du territoire",
    Basis.NATIONAL: "CNRHR (national)",
}


def situation_map(
    result: MatchResult,
    erhr_outline: Any | None,
    *,
    assets: str | None = None,
    tiles: str = "OpenStreetMap",
) -> folium.Map:
    """The person's commune (approximate: its centroid, never an address), the
    search radius, the ERHR territory and the matches coloured by coverage."""
    place = result.place
    m = new_map(
        assets=assets,
        tiles=tiles,
        title=f"Ressources pour {result.combination} — {place.commune_name}",
        location=(place.lat, place.lon),
        zoom=8,
    )
    if erhr_outline is not None:
        folium.GeoJson(
            {
                "type": "Feature",
                "properties": {"territoire": safe_text(result.erhr.name)},
                "geometry": erhr_outline,
            },
            name=f"Territoire de l'{safe_text(result.erhr.name)}",
            style_function=lambda _f: {
                "fillOpacity": 0.05,
                "color": "#3182bd",
                "weight": 2,
                "dashArray": "6",
            },
            tooltip=folium.GeoJsonTooltip(fields=["territoire"], aliases=["Territoire"]),
        ).add_to(m)
    folium.Circle(
        [place.lat, place.lon],
        radius=result.radius_km * 1000,
        color="#555",
        fill=False,
        weight=1,
        tooltip=f"Rayon de recherche : {result.radius_km:g} km",
    ).add_to(m)
    folium.CircleMarker(
        [place.lat, place.lon],
        radius=8,
        color="#000",
        fill=True,
        fill_color="#fff",
        tooltip=f"Lieu de vie (commune, approximatif) : {safe_text(place.commune_name)}",
    ).add_to(m)
    group = folium.FeatureGroup(name="Ressources proposées").add_to(m)
    for match in result.matches:
        if match.lat is None or match.lon is None:
            continue
        label = f"{match.rank}. {match.name} — {_BASIS_LABEL[match.basis]}"
        if match.distance_km is not None:
            label += f" — {match.distance_km:.0f} km"
        if match.synthetic:
            label += " (donnée synthétique)"
        if match.location_source == "centroide_commune":
            label += " (position : centre de la commune)"
        folium.CircleMarker(
            [match.lat, match.lon],
            radius=7 if match.level is MatchLevel.LOCAL else 9,
            color=_BASIS_COLOUR[match.basis],
            fill=True,
            fill_opacity=0.9,
            tooltip=safe_text(label),
        ).add_to(group)
    folium.LayerControl(collapsed=False).add_to(m)
    add_legend(
        m,
        "Compétence des ressources",
        [],
        [(colour, _BASIS_LABEL[basis]) for basis, colour in _BASIS_COLOUR.items()],
    )
    return m

"""Maps: layers, legend, one GeoJSON feature per territory, offline assets."""

from __future__ import annotations

import json
import re

from graph.coverage import Level, coverage, gaps
from graph.matching import SituationQuery, find_resources
from maps import coverage_map, gap_map, situation_map

SQUARES = {  # simple outlines around the test departments
    "86": {
        "type": "Polygon",
        "coordinates": [[[0.0, 46.3], [0.8, 46.3], [0.8, 46.9], [0.0, 46.9], [0.0, 46.3]]],
    },
    "79": {
        "type": "Polygon",
        "coordinates": [[[-0.9, 46.0], [0.0, 46.0], [0.0, 46.6], [-0.9, 46.6], [-0.9, 46.0]]],
    },
    "69": {
        "type": "Polygon",
        "coordinates": [[[4.3, 45.5], [5.2, 45.5], [5.2, 46.1], [4.3, 46.1], [4.3, 45.5]]],
    },
}


def geojson_layers(text: str) -> list[dict]:
    layers = [
        json.loads(m)
        for m in re.findall(r"\((\{\"features\": .*?\"type\": \"FeatureCollection\"\})\);", text)
    ]
    return [layer for layer in layers if layer.get("type") == "FeatureCollection"]


def render(m) -> str:
    return m.get_root().render()


def test_coverage_map_has_a_layer_per_threshold_a_legend_and_one_feature_per_territory(net, store):
    result = coverage(store, ["DV", "TSA"], level=Level.DEPARTMENT, threshold_km=60)
    text = render(coverage_map(result, SQUARES, [(46.58, 0.34, "E1")], assets="/static/vendor", tiles=""))
    for threshold in ("30", "60", "100"):
        assert json.dumps(f"Part de la population à plus de {threshold} km")[1:-1] in text  # layer control
    assert json.dumps("Ressources compétentes")[1:-1] in text and "dihr-legend" in text
    assert "Part de la population à plus de 60 km d&#x27;une ressource compétente (DV+TSA)" in text
    layers = geojson_layers(text)
    assert len(layers) == 3 and all(len(layer["features"]) == 3 for layer in layers)
    props = {f["properties"]["code"]: f["properties"] for f in layers[1]["features"]}
    assert props["69"]["part_au_dela"] == "100,0 %" and props["86"]["part_au_dela"] == "0,0 %"
    assert "Territoire" in text and "Situations sans solution" in text


def test_assets_are_local_when_configured_and_no_cdn_is_needed(net, store):
    result = coverage(store, ["DV", "TSA"])
    text = render(coverage_map(result, SQUARES, [(46.58, 0.34, "E1")], assets="/static/vendor", tiles=""))
    scripts = re.findall(r'<script src="([^"]+)"', text) + re.findall(
        r'<link rel="stylesheet" href="([^"]+)"', text
    )
    assert scripts and all(url.startswith("/static/vendor/") for url in scripts), scripts
    assert "tile.openstreetmap" not in text


def test_gap_map_counts_never_points(net, store):
    matrix = gaps(store, level=Level.DEPARTMENT)
    text = render(gap_map(matrix, SQUARES, assets="/static/vendor", tiles=""))
    [layer] = geojson_layers(text)
    assert len(layer["features"]) == 3
    props = {f["properties"]["code"]: f["properties"] for f in layer["features"]}
    # E1 (DV+TSA) is competent for no criterion's combination: no source anywhere, « pas de donnée »
    assert props["69"]["zones_blanches"] == "0 critère(s) sur 8 ; pas de donnée pour 8"
    net.establishment("860000501", 5, expertise={"DA+DV": 2})
    [layer] = geojson_layers(
        render(gap_map(gaps(store, level=Level.DEPARTMENT), SQUARES, assets="/static/vendor", tiles=""))
    )
    props = {f["properties"]["code"]: f["properties"] for f in layer["features"]}
    assert props["69"]["zones_blanches"] == "1 critère(s) sur 8 ; pas de donnée pour 7"
    assert "Zone blanche pour" in text and "circleMarker" not in text


def test_situation_map_shows_commune_radius_and_matches(net, store):
    result = find_resources(store, SituationQuery(deficiencies=["DV", "TSA"], commune="86194", radius_km=80))
    text = render(situation_map(result, SQUARES["86"], assets="/static/vendor", tiles=""))
    assert "Lieu de vie (commune, approximatif) : Poitiers" in text
    assert "Rayon de recherche : 80 km" in text and "80000" in text
    assert "expertise sur la combinaison" in text or "toutes les déficiences, séparément" in text
    assert "Territoire de l" in text


def test_situation_map_shows_every_row_of_the_table_professionals_at_their_workplace(net, store):
    site = net.establishment("860000091", 30)
    net.professional("pro-map", site, expertise={"DV": 3, "TSA": 2})
    net.establishment("860000092", 10, expertise={"DV": 2})
    result = find_resources(store, SituationQuery(deficiencies=["DV", "TSA"], commune="86194", radius_km=80))
    pro = next(m for m in result.matches if m.key == "pro-map")
    assert (pro.lat, pro.lon, pro.location_source) != (
        None,
        None,
        None,
    ) and pro.location_source == "workplace"
    text = render(situation_map(result, SQUARES["86"], assets="/static/vendor", tiles=""))
    for match in result.matches:
        if match.lat is not None:
            assert f"{match.rank}. " in text, match.name
    assert text.count("circleMarker") >= sum(1 for m in result.matches if m.lat is not None)


def test_the_scale_is_in_kilometres_and_the_base_layer_named_in_french():
    import folium

    from maps._base import new_map

    m = new_map(assets=None, tiles="OpenStreetMap", title="Carte")
    folium.LayerControl().add_to(m)
    text = m.get_root().render()
    assert "imperial: false" in text and "L.control.scale({metric: true" in text
    assert '"Fond de carte OpenStreetMap"' in text and '"openstreetmap" :' not in text

"""Map plumbing: Leaflet assets (local or CDN), tiles, colour classes, legend,
and territory outlines derived from the cached department outlines."""

from __future__ import annotations

import html
import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import folium
import shapely
from branca.element import MacroElement
from folium.plugins import MarkerCluster
from folium.template import Template

from maps.vendor import local_vendor_dir

__all__ = [
    "safe_text",
    "render_html",
    "new_map",
    "local_vendor_dir",
    "cluster",
    "add_legend",
    "colour_for",
    "PALETTE",
    "load_outlines",
    "outlines_by_level",
]

# Colour-blind-safe sequential palette (ColorBrewer YlOrRd, 5 classes), light → dark.
PALETTE = ("#ffffb2", "#fecc5c", "#fd8d3c", "#f03b20", "#bd0026")
NO_DATA = "#bdbdbd"
FRANCE_CENTRE = (46.6, 2.4)


#: Characters turned into HTML entities beyond ``html.escape``'s five: the three a
#: JavaScript template literal interprets (folium wraps tooltips in one) and the
#: braces every Jinja delimiter starts with (``{{``, ``{%``, ``{#``). branca renders
#: each element's script, then wraps that output in a new ``Element`` — whose text
#: is compiled as a Jinja template (unsandboxed) when the page is rendered. A
#: name reaching a map with a brace left in it would be template source run on
#: the server; with none, no delimiter can form, whatever the name.
_INERT = str.maketrans({"`": "&#96;", "$": "&#36;", "\\": "&#92;", "{": "&#123;", "}": "&#125;"})


def safe_text(text: object) -> str:
    """Text shown in a tooltip, a popup, a layer name, a legend, the title or a
    feature property: HTML-escaped, with no character a template literal or a
    Jinja template interprets. Leaflet puts it into the page as HTML, so the
    entities display as the original characters: ``{{7*7}}``, ``{% raw %}``,
    ``${alert(1)}`` and ``</script>`` are shown verbatim and run nowhere."""
    return html.escape(str(text)).translate(_INERT)


def render_html(m: folium.Map) -> str:
    """The map's whole page (what ``dihr map`` writes and ``/maps/…`` serves)."""
    return str(m.get_root().render())


def _asset_urls(assets: str | None) -> dict[str, str] | None:
    if not assets:
        return None
    base = assets.rstrip("/")
    return {
        "leaflet_js": f"{base}/leaflet/dist/leaflet.js",
        "leaflet_css": f"{base}/leaflet/dist/leaflet.css",
        "cluster_js": f"{base}/leaflet.markercluster/dist/leaflet.markercluster.js",
        "cluster_css": f"{base}/leaflet.markercluster/dist/MarkerCluster.css",
        "cluster_default_css": f"{base}/leaflet.markercluster/dist/MarkerCluster.Default.css",
    }


class _MetricScale(MacroElement):
    """Leaflet's scale bar in kilometres only (folium's shows miles too)."""

    _template = Template(
        "{% macro script(this, kwargs) %}"
        "L.control.scale({metric: true, imperial: false}).addTo({{ this._parent.get_name() }});"
        "{% endmacro %}"
    )


def new_map(
    *,
    assets: str | None,
    tiles: str,
    title: str,
    location: tuple[float, float] = FRANCE_CENTRE,
    zoom: int = 6,
) -> folium.Map:
    """A map whose Leaflet assets come from ``assets`` (a base URL) when given,
    else from folium's CDN; ``tiles`` empty means no base layer (offline)."""
    # maxZoom must be set even without tiles: marker clustering needs it.
    m = folium.Map(location=list(location), zoom_start=zoom, tiles=None, max_zoom=18)
    m.options["maxZoom"] = 18
    if tiles:  # named in French in the layer control
        label = "Fond de carte OpenStreetMap" if tiles.lower() == "openstreetmap" else "Fond de carte"
        folium.TileLayer(tiles, name=label).add_to(m)
    _MetricScale().add_to(m)
    urls = _asset_urls(assets)
    if urls is not None:
        # Only Leaflet is needed: the maps use no jQuery/Bootstrap/awesome-markers.
        m.default_js = [("leaflet", urls["leaflet_js"])]
        m.default_css = [("leaflet_css", urls["leaflet_css"])]
    m._dihr_assets = urls
    m.get_root().header.add_child(folium.Element(f"<title>{safe_text(title)}</title>"))
    m.get_root().html.add_child(folium.Element('<script>document.documentElement.lang = "fr";</script>'))
    return m


def cluster(m: folium.Map, name: str) -> MarkerCluster:
    group = MarkerCluster(name=name)
    urls = getattr(m, "_dihr_assets", None)
    if urls is not None:
        group.default_js = [("markerclusterjs", urls["cluster_js"])]
        group.default_css = [
            ("markerclustercss", urls["cluster_css"]),
            ("markerclusterdefaultcss", urls["cluster_default_css"]),
        ]
    group.add_to(m)
    return group


def colour_for(value: float | None, bounds: Sequence[float]) -> str:
    """The palette colour of a value, with ``bounds`` the 4 inner class limits."""
    if value is None:
        return NO_DATA
    for i, bound in enumerate(bounds):
        if value <= bound:
            return PALETTE[i]
    return PALETTE[-1]


def add_legend(
    m: folium.Map, title: str, labels: Sequence[str], extra: Sequence[tuple[str, str]] = ()
) -> None:
    """A plain HTML legend (French), readable without JavaScript libraries."""
    items = "".join(
        f'<li><span style="background:{colour};display:inline-block;width:1.2em;height:1em;'
        f'border:1px solid #555;margin-right:.4em"></span>{safe_text(label)}</li>'
        for colour, label in [*zip(PALETTE, labels, strict=False), *extra]
    )
    box = (
        '<div class="dihr-legend" role="region" aria-label="Légende" style="position:fixed;bottom:24px;right:12px;max-width:22em;'
        'z-index:1000;background:#fff;color:#111;padding:.6em .8em;border:1px solid #333;font:14px sans-serif">'
        f'<strong>{safe_text(title)}</strong><ul style="list-style:none;margin:.3em 0 0;padding:0">{items}</ul></div>'
    )
    m.get_root().html.add_child(folium.Element(box))


def load_outlines(data_dir: Path) -> dict[str, Any]:
    """Department outlines (code → GeoJSON geometry) cached by ``dihr init``."""
    path = data_dir / "outlines" / "departments.geojson"
    if not path.is_file():
        from graph.errors import ReferenceDataError

        raise ReferenceDataError("Contours des départements absents : lancez `dihr init`.")
    collection = json.loads(path.read_text(encoding="utf-8"))
    return {f["properties"]["code"]: f["geometry"] for f in collection["features"]}


def outlines_by_level(
    departments: Mapping[str, Any], owner: Mapping[str, str], cache: Path | None = None
) -> dict[str, Any]:
    """Outlines of larger territories (regions, ERHR) as unions of department
    outlines; ``owner`` maps each department to its territory."""
    if cache is not None and cache.is_file():
        return dict(json.loads(cache.read_text(encoding="utf-8")))
    parts: dict[str, list[Any]] = defaultdict(list)
    for dep, geometry in departments.items():
        if dep in owner:
            parts[owner[dep]].append(shapely.from_geojson(json.dumps(geometry)))
    result = {
        code: json.loads(
            shapely.to_geojson(shapely.simplify(shapely.union_all(shapes, grid_size=1e-4), 0.002))
        )
        for code, shapes in sorted(parts.items())
    }
    if cache is not None:
        cache.write_text(json.dumps(result), encoding="utf-8")
    return result

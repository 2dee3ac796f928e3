"""Where the local copy of Leaflet lives (no folium import: a server worker
asks for it at start, maps are drawn only when a map is asked for)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["local_vendor_dir"]


def local_vendor_dir() -> Path | None:
    """``node_modules`` holding leaflet and leaflet.markercluster, if installed."""
    for base in (Path.cwd(), Path(__file__).resolve().parents[1]):
        if (base / "node_modules" / "leaflet" / "dist" / "leaflet.js").is_file():
            return base / "node_modules"
    return None

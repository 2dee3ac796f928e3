"""Folium maps. Each function takes computed data and returns a ``folium.Map``;
none queries a store."""

from maps.coverage import coverage_map, gap_map, situation_map
from maps.transition import radar_map

__all__ = ["coverage_map", "gap_map", "situation_map", "radar_map"]

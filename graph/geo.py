"""Great-circle distances and the road-time estimate.

Travel-time model (documented in the README): road distance is estimated as
the great-circle distance times a detour factor of 1.3; its first 50 km are
driven at 60 km/h (local roads) and the rest at 80 km/h (main roads and
motorways), plus 5 minutes to set off and park. It is an order of magnitude
for planning, not a route: the same model is used by matching and coverage.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "EARTH_RADIUS_KM",
    "haversine_km",
    "haversine_km_many",
    "to_unit_xyz",
    "unit_xyz",
    "great_circle_km_xyz",
    "chord2_xyz",
    "km_from_chord2",
    "chord_for_km",
    "estimated_minutes",
]

EARTH_RADIUS_KM = 6371.0088  # IUGG mean Earth radius
DETOUR_FACTOR = 1.3
FIXED_MINUTES = 5.0


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km between two WGS84 points (degrees)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def haversine_km_many(
    lat: float, lon: float, lats: NDArray[np.float64], lons: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Great-circle distances in km from one point to many (vectorised)."""
    # The haversine formula computed in place (few temporary arrays over a band of resources).
    p1 = math.radians(lat)
    p2 = np.radians(lats)
    a = p2 - p1
    a /= 2
    np.sin(a, out=a)
    a *= a
    b = np.radians(lons - lon)
    b /= 2
    np.sin(b, out=b)
    b *= b
    np.cos(p2, out=p2)
    p2 *= math.cos(p1)
    p2 *= b
    a += p2
    np.sqrt(a, out=a)
    np.minimum(a, 1.0, out=a)
    np.arcsin(a, out=a)
    a *= 2 * EARTH_RADIUS_KM
    return a


def to_unit_xyz(lats: NDArray[np.float64], lons: NDArray[np.float64]) -> NDArray[np.float64]:
    """Points on the unit sphere, for a k-d tree whose chord order is great-circle order."""
    la, lo = np.radians(lats), np.radians(lons)
    return np.column_stack((np.cos(la) * np.cos(lo), np.cos(la) * np.sin(lo), np.sin(la)))


def unit_xyz(lat: float, lon: float) -> tuple[float, float, float]:
    """One point on the unit sphere (as ``to_unit_xyz``)."""
    la, lo = math.radians(lat), math.radians(lon)
    return (math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la))


def great_circle_km_xyz(centre: tuple[float, float, float], xyz: NDArray[np.float64]) -> NDArray[np.float64]:
    """Great-circle distances in km from ``centre`` to the points ``xyz`` (rows
    x, y, z on the unit sphere: ``to_unit_xyz(...).T``), from their chords — the
    same distances as ``haversine_km_many`` (within 1e-12 km: the chord's half
    is the square root of the haversine formula's term) with one transcendental
    function instead of three, for columns that keep their points' ``xyz``."""
    return km_from_chord2(chord2_xyz(centre, xyz))


def chord2_xyz(centre: tuple[float, float, float], xyz: NDArray[np.float64]) -> NDArray[np.float64]:
    """The squared chords from ``centre`` to the points ``xyz`` (see ``great_circle_km_xyz``)."""
    d: NDArray[np.float64] = xyz[0] - centre[0]
    d *= d
    e = xyz[1] - centre[1]
    e *= e
    d += e
    e = np.subtract(xyz[2], centre[2], out=e)
    e *= e
    d += e
    return d


def km_from_chord2(chord2: NDArray[np.float64]) -> NDArray[np.float64]:
    """Great-circle distances in km for squared chords on the unit sphere (a new array)."""
    d: NDArray[np.float64] = np.sqrt(chord2)
    d *= 0.5
    np.minimum(d, 1.0, out=d)
    np.arcsin(d, out=d)
    d *= 2 * EARTH_RADIUS_KM
    return d


def chord_for_km(km: float) -> float:
    """Chord length on the unit sphere for a great-circle distance in km."""
    return 2 * math.sin(min(math.pi, km / EARTH_RADIUS_KM) / 2)


def estimated_minutes(distance_km: float) -> float:
    """Estimated road travel time in minutes for a great-circle distance (see module doc)."""
    road_km = distance_km * DETOUR_FACTOR
    local_km = min(road_km, 50.0)
    main_km = road_km - local_km
    return round(FIXED_MINUTES + local_km / 60.0 * 60.0 + main_km / 80.0 * 60.0, 1)

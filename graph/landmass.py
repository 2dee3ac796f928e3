"""Land masses: travel by road never crosses the sea.

Mainland France, Corsica and each overseas department are separate land
masses. A person is served by resources on their own land mass only (a
commune of La Réunion is not 9,000 km from a resource in Quimper: it has no
competent resource on its island). Decided from the department code (INSEE /
FINESS), never from coordinates. Islands a bridge or a short ferry links to
the mainland (Ré, Oléron, Noirmoutier, Belle-Île, Ouessant…) count as mainland,
and each overseas department as one mass (Marie-Galante with Guadeloupe).
"""

from __future__ import annotations

import functools

__all__ = ["MAINLAND", "CORSICA", "land_mass"]

MAINLAND = "METROPOLE"
CORSICA = "CORSE"


@functools.lru_cache(maxsize=1024)
def land_mass(department: str | None) -> str | None:
    """The land mass of a department code; None when the code is unknown."""
    if not department:
        return None
    code = department.strip().upper()
    if code in ("2A", "2B", "20"):
        return CORSICA
    if code.startswith(("97", "98")) and len(code) == 3:
        return code  # each overseas department or collectivity on its own
    return MAINLAND

"""Where the directory needs completing: a data-quality view per department,
for the GNCHR (issue #28).

For each department, of its open establishments: how many the register says
nothing about beyond their FINESS category (every competence link inferred
from the category: what they can do for a rare combination is unknown), how
many have no competence link at all (experimental establishments, resource
centres), how many have no phone, how many are placed at their commune's
centre (no FINESS coordinates); and the closed establishments still
referenced (a referral not closed, a professional working there). The imports
journal says when each source was last read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from graph.model import NodeKind, RelType
from graph.readmodel import read_model
from graph.referrals import OPEN_STATUSES
from graph.store import GraphStore

__all__ = ["DepartmentQuality", "DataQuality", "data_quality", "CATEGORY_SOURCE"]

K, R = NodeKind, RelType
#: The source of a competence link inferred from the FINESS category alone.
CATEGORY_SOURCE = "categorie_finess"


@dataclass(frozen=True, slots=True)
class DepartmentQuality:
    code: str
    name: str
    establishments: int  # open establishments
    category_only: int  # every competence link inferred from the FINESS category
    no_competence: int  # no competence link at all
    without_phone: int
    at_commune_centre: int  # placed at their commune's centre: no FINESS coordinates
    closed_referenced: int  # closed, still referenced by an open referral or a professional

    @property
    def category_only_share(self) -> float:
        return self.category_only / self.establishments if self.establishments else 0.0


@dataclass(frozen=True, slots=True)
class DataQuality:
    departments: tuple[DepartmentQuality, ...]  # the departments most in need of completing first
    national: DepartmentQuality


def _sum(code: str, name: str, rows: Iterable[DepartmentQuality]) -> DepartmentQuality:
    rows = list(rows)
    return DepartmentQuality(
        code,
        name,
        *(
            sum(getattr(r, f) for r in rows)
            for f in (
                "establishments",
                "category_only",
                "no_competence",
                "without_phone",
                "at_commune_centre",
                "closed_referenced",
            )
        ),
    )


def data_quality(store: GraphStore) -> DataQuality:
    """The view over every establishment of the store (a few seconds at national scale)."""
    table = read_model(store).territories
    establishments = list(store.nodes(K.ESTABLISHMENT))
    links = store.edges_from([n.ref for n in establishments], [R.ACCEPTS, R.HAS_EXPERTISE])
    closed = [n for n in establishments if n.props.get("closed")]
    incoming = store.edges_to([n.ref for n in closed], [R.REFERRED_TO, R.WORKS_AT]) if closed else {}
    counts: dict[str, list[int]] = defaultdict(lambda: [0] * 6)
    for node in establishments:
        cell = counts[str(node.props.get("department") or "")]
        if node.props.get("closed"):
            still = [
                e
                for e in incoming.get(node.ref, [])
                if e.type is R.WORKS_AT or str(e.props.get("status") or "") in OPEN_STATUSES
            ]
            cell[5] += bool(still)
            continue
        cell[0] += 1
        sources = {str(e.props.get("source") or "") for e in links.get(node.ref, [])}
        cell[1] += sources == {CATEGORY_SOURCE}
        cell[2] += not sources
        cell[3] += not node.props.get("phone")
        cell[4] += str(node.props.get("location_source") or "") in ("centroide_commune", "commune_centroid")
    rows = [
        DepartmentQuality(code, str(dep.props.get("name", code)), *counts.get(code, [0] * 6))
        for code, dep in sorted(table.departments.items())
    ]
    rows.sort(key=lambda r: (-(r.category_only + r.no_competence + r.closed_referenced), r.code))
    return DataQuality(tuple(rows), _sum("FR", "France", rows))

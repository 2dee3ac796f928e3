"""CSV exports (REST) of coverage and gaps; the CLI writes the same CSV."""

from __future__ import annotations

import csv
import io

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.deps import Service, current_key
from graph import coverage as cov
from graph import service

__all__ = ["router", "coverage_csv", "gaps_csv", "csv_text"]

router = APIRouter(prefix="/exports", tags=["exports"], dependencies=[Depends(current_key)])


#: What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula (a directory name
    ``=HYPERLINK(…)``) is written with a leading apostrophe: shown, never run."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_text(rows: list[list[object]]) -> str:
    """Every CSV the app writes: semicolons, one line per row, no formula."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerows([[_cell(v) for v in row] for row in rows])
    return out.getvalue()


def _num(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _count(value: int | None, published: bool = True) -> object:
    """A situation count; suppressed ones read "< 11" (statistical secrecy),
    unpublished ones "non publié"."""
    return value if value is not None and published else cov.count_label(value, published)


def coverage_csv(result: cov.CoverageResult) -> str:
    """One row per territory, then the national row."""
    thresholds = list(result.thresholds_km)
    header = [
        "code", "territoire", "population", "ressources_competentes", "ressources_pour_100000_hab",
        "distance_moyenne_km", "distance_mediane_km", "temps_moyen_min",
        *[f"part_population_au_dela_{t:g}_km" for t in thresholds],
        f"population_au_dela_{result.threshold_km:g}_km", "situations_ouvertes", "situations_sans_solution", "zone_blanche",
    ]
    rows: list[list[object]] = [header]
    for t in (*result.territories, result.national):
        rows.append([
            t.code, t.name, t.population, t.resources, _num(t.resources_per_100k), _num(t.mean_km), _num(t.median_km),
            _num(t.mean_minutes), *[_num(t.share_beyond[x]) for x in thresholds], t.population_beyond,
            _count(t.open_situations, t.open_published), _count(t.without_solution, t.unmet_published), "oui" if t.zone_blanche else "non",
        ])
    return csv_text(rows)


def gaps_csv(matrix: cov.GapMatrix) -> str:
    """One row per territory (ranked), one group of columns per D312-194 criterion."""
    header: list[object] = ["rang", "code", "territoire"]
    for code, _label, combination in matrix.criteria:
        header += [f"critere_{code}_{combination}_part_au_dela", f"critere_{code}_ressources", f"critere_{code}_zone_blanche"]
    rows: list[list[object]] = [header]
    for rank, (code, name, cells) in enumerate(matrix.territories, start=1):
        row: list[object] = [rank, code, name]
        for c in cells:
            row += [_num(c.share_beyond), c.resources, "oui" if c.zone_blanche else "non"]
        rows.append(row)
    return csv_text(rows)


def _codes(values: list[str]) -> list[str]:
    return [code for value in values for code in value.replace("+", ",").split(",") if code.strip()]


def _attachment(text: str, name: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/coverage.csv", summary="Couverture d'une combinaison par territoire (CSV)")
async def coverage_export(
    service_: Service,
    deficiencies: list[str] = Query(..., description="Codes de déficience (répétés ou séparés par des virgules)."),
    level: str = Query("DEPARTMENT", description="DEPARTMENT, REGION ou ERHR."),
    threshold_km: float = Query(60.0, description="Seuil de distance (km)."),
    age: int | None = Query(None, description="Âge (années)."),
) -> Response:
    result = await service_(service.coverage, _codes(deficiencies), level=level, threshold_km=threshold_km, age=age)
    return _attachment(await service_.run(coverage_csv, result), f"couverture-{result.combination}-{result.level.value.lower()}.csv")


@router.get("/gaps.csv", summary="Matrice des manques territoire × critère D312-194 (CSV)")
async def gaps_export(
    service_: Service,
    level: str = Query("DEPARTMENT", description="DEPARTMENT, REGION ou ERHR."),
    threshold_km: float = Query(60.0, description="Seuil de distance (km)."),
) -> Response:
    matrix = await service_(service.gaps, level=level, threshold_km=threshold_km)
    return _attachment(await service_.run(gaps_csv, matrix), f"manques-{matrix.level.value.lower()}.csv")

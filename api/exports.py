"""Exports (REST) of coverage, gaps and the directory, as CSV for French
spreadsheets and as Excel workbooks; the CLI writes the same CSV."""

from __future__ import annotations

import csv
import enum
import io
import re

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from api.deps import Service, current_key
from api.forms import directory_filter_of_form
from api.rendering import KIND_LABEL, RELATION_LABEL, radar_rows
from graph import coverage as cov
from graph import directory as dir_
from graph import service

__all__ = [
    "router",
    "coverage_csv",
    "coverage_rows",
    "gaps_csv",
    "gaps_rows",
    "directory_rows",
    "csv_text",
    "xlsx_bytes",
    "table_response",
    "KIND_LABEL",
    "RELATION_LABEL",
]

router = APIRouter(prefix="/exports", tags=["exports"], dependencies=[Depends(current_key)])


class Format(enum.StrEnum):
    csv = "csv"
    xlsx = "xlsx"


#: What a spreadsheet reads as the start of a formula (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_ISO_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
BOM = "\ufeff"


def _cell(value: object) -> object:
    """A text cell that a spreadsheet would run as a formula (a directory name
    ``=HYPERLINK(…)``) is written with a leading apostrophe: shown, never run.
    An ISO date reads JJ/MM/AAAA."""
    if isinstance(value, str):
        if value.startswith(_FORMULA_START):
            return "'" + value
        if (m := _ISO_DATE.match(value)) is not None:
            return f"{m.group(3)}/{m.group(2)}/{m.group(1)}"
    return value


def _french(value: object) -> object:
    """A CSV cell as French spreadsheets read it: decimal comma, no exponent."""
    if isinstance(value, bool):
        return "oui" if value else "non"
    if isinstance(value, float):
        text = f"{value:.6f}".rstrip("0").rstrip(".") if value == value else ""
        return text.replace(".", ",")
    return "" if value is None else _cell(value)


def csv_text(rows: list[list[object]]) -> str:
    """Every CSV the app writes, for French spreadsheets: UTF-8 with BOM, ``;``
    separator, decimal comma, dates JJ/MM/AAAA, no formula."""
    out = io.StringIO()
    out.write(BOM)
    writer = csv.writer(out, delimiter=";", lineterminator="\n")
    writer.writerows([[_french(v) for v in row] for row in rows])
    return out.getvalue()


def xlsx_bytes(rows: list[list[object]], title: str) -> bytes:
    """The same table as an Excel workbook: numbers stay numbers, text is text
    (never a formula), the header row frozen."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet(title=title[:31])
    sheet.freeze_panes = "A2"
    for row in rows:
        cells = []
        for value in row:
            if isinstance(value, bool):
                value = "oui" if value else "non"
            elif isinstance(value, float) and value != value:
                value = None
            elif isinstance(value, str):
                value = _cell(value)
            cells.append(value)
        sheet.append(cells)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _count(value: int | None, published: bool = True) -> object:
    """A situation count; suppressed ones read "< 11" (statistical secrecy),
    unpublished ones "non publié"."""
    return value if value is not None and published else cov.count_label(value, published)


def _blank(zone_blanche: bool, no_data: bool) -> object:
    """« pas de donnée » where no source establishes competence, else the boolean."""
    return "pas de donnée" if no_data else zone_blanche


def coverage_rows(result: cov.CoverageResult) -> list[list[object]]:
    """One row per territory, then the national row."""
    thresholds = list(result.thresholds_km)
    header: list[object] = [
        "code",
        "territoire",
        "population",
        "ressources_competentes",
        "ressources_pour_100000_hab",
        "distance_moyenne_km",
        "distance_mediane_km",
        "temps_moyen_min",
        *[f"part_population_au_dela_{t:g}_km" for t in thresholds],
        f"population_au_dela_{result.threshold_km:g}_km",
        "situations_ouvertes",
        "situations_sans_solution",
        "zone_blanche",
    ]
    rows: list[list[object]] = [header]
    for t in (*result.territories, result.national):
        rows.append(
            [
                t.code,
                t.name,
                t.population,
                t.resources,
                t.resources_per_100k,
                t.mean_km,
                t.median_km,
                t.mean_minutes,
                *[t.share_beyond[x] for x in thresholds],
                t.population_beyond,
                _count(t.open_situations, t.open_published),
                _count(t.without_solution, t.unmet_published),
                _blank(t.zone_blanche, t.no_data),
            ]
        )
    return rows


def coverage_csv(result: cov.CoverageResult) -> str:
    return csv_text(coverage_rows(result))


def gaps_rows(matrix: cov.GapMatrix) -> list[list[object]]:
    """One row per territory (ranked), one group of columns per D312-194 criterion."""
    header: list[object] = ["rang", "code", "territoire"]
    for code, _label, combination in matrix.criteria:
        header += [
            f"critere_{code}_{combination}_part_au_dela",
            f"critere_{code}_ressources",
            f"critere_{code}_zone_blanche",
        ]
    rows: list[list[object]] = [header]
    for rank, (code, name, cells) in enumerate(matrix.territories, start=1):
        row: list[object] = [rank, code, name]
        for c in cells:
            row += [None if c.no_data else c.share_beyond, c.resources, _blank(c.zone_blanche, c.no_data)]
        rows.append(row)
    return rows


def gaps_csv(matrix: cov.GapMatrix) -> str:
    return csv_text(gaps_rows(matrix))


def directory_rows(page: dir_.DirectoryPage) -> list[list[object]]:
    """The directory as a table: one row per resource, its contact and competences."""
    rows: list[list[object]] = [
        [
            "type",
            "identifiant",
            "nom",
            "departement",
            "region",
            "erhr",
            "distance_km",
            "adresse",
            "code_postal",
            "localite",
            "telephone",
            "courriel",
            "site",
            "origine_coordonnees",
            "competences",
            "synthetique",
            "ferme",
        ]
    ]
    for e in page.entries:
        c = e.contact
        contact = [c.address, c.postcode, c.city, c.phone, c.email, c.website, c.source] if c else [None] * 7
        competences = " ; ".join(
            f"{x.label} ({'accueil ' + x.age_band if x.age_band else 'niveau ' + str(x.level)}, "
            f"{x.source_label})"
            for x in e.competences
        )
        rows.append(
            [
                KIND_LABEL.get(e.kind, e.kind),
                e.key,
                e.name,
                e.department,
                e.region,
                e.erhr,
                e.distance_km,
                *contact,
                competences,
                e.synthetic,
                e.closed,
            ]
        )
    return rows


def _codes(values: list[str]) -> list[str]:
    return [code for value in values for code in value.replace("+", ",").split(",") if code.strip()]


def _attachment(text: str, name: str) -> Response:
    return Response(
        text.encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
#: What the API docs say an export answers: a CSV or a workbook, never JSON.
_TABLE_RESPONSES: dict[int | str, dict[str, object]] = {
    200: {
        "description": "Le tableau (CSV pour tableur français, ou classeur Excel).",
        "content": {"text/csv": {}, XLSX_TYPE: {}},
    },
}


def _workbook(data: bytes, name: str) -> Response:
    return Response(
        data, media_type=XLSX_TYPE, headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


def table_response(rows: list[list[object]], name: str, fmt: str, title: str) -> Response:
    """``name.csv`` or ``name.xlsx`` of the same table."""
    if fmt == "xlsx":
        return _workbook(xlsx_bytes(rows, title), f"{name}.xlsx")
    return _attachment(csv_text(rows), f"{name}.csv")


@router.get(
    "/coverage.{fmt}",
    response_class=Response,
    responses=_TABLE_RESPONSES,
    summary="Couverture d'une combinaison par territoire (CSV ou Excel)",
)
async def coverage_export(
    service_: Service,
    fmt: Format,
    deficiencies: list[str] = Query(
        ..., description="Codes de déficience (répétés ou séparés par des virgules)."
    ),
    level: str = Query("DEPARTMENT", description="DEPARTMENT, REGION ou ERHR."),
    threshold_km: float = Query(60.0, description="Seuil de distance (km)."),
    age: int | None = Query(None, description="Âge (années)."),
    local_only: bool = Query(False, description="Ressources locales seulement (sans les centres nationaux)."),
    separately: bool = Query(
        False,
        description="Compter aussi l'accueil de chaque déficience séparément et les "
        "structures généralistes (CAMSP).",
    ),
) -> Response:
    result = await service_(
        service.coverage,
        _codes(deficiencies),
        level=level,
        threshold_km=threshold_km,
        age=age,
        local_only=local_only,
        separately=separately,
    )
    rows = await service_.run(coverage_rows, result)
    return await service_.run(
        table_response,
        rows,
        f"couverture-{result.combination}-{result.level.value.lower()}",
        fmt,
        "Couverture",
    )


@router.get(
    "/gaps.{fmt}",
    response_class=Response,
    responses=_TABLE_RESPONSES,
    summary="Matrice des manques territoire × critère D312-194 (CSV ou Excel)",
)
async def gaps_export(
    service_: Service,
    fmt: Format,
    level: str = Query("DEPARTMENT", description="DEPARTMENT, REGION ou ERHR."),
    threshold_km: float = Query(60.0, description="Seuil de distance (km)."),
    separately: bool = Query(
        False,
        description="Compter aussi l'accueil de chaque déficience séparément et les "
        "structures généralistes (CAMSP).",
    ),
) -> Response:
    matrix = await service_(service.gaps, level=level, threshold_km=threshold_km, separately=separately)
    rows = await service_.run(gaps_rows, matrix)
    return await service_.run(table_response, rows, f"manques-{matrix.level.value.lower()}", fmt, "Manques")


@router.get(
    "/annuaire.{fmt}",
    response_class=Response,
    responses=_TABLE_RESPONSES,
    summary="L'annuaire filtré (CSV ou Excel), les mêmes filtres que la page /annuaire",
)
async def directory_export(
    service_: Service,
    fmt: Format,
    type: str = "",
    erhr: str = "",
    deficience: str = "",
    competence: str = "",
    maladie: str = "",
    nom: str = "",
    commune: str = "",
    rayon: str = "50",
    fermes: str = "",
) -> Response:

    form = {
        "type": type,
        "erhr": erhr,
        "deficience": deficience,
        "competence": competence,
        "maladie": maladie,
        "nom": nom,
        "commune": commune,
        "rayon": rayon,
        "fermes": fermes,
    }
    query = await service_.run(directory_filter_of_form, service_.store, form)
    rows: list[list[object]] = []
    after = None
    while True:  # every page of the filtered directory (at most EXPORT_ROWS rows)
        page = await service_(service.directory, query, first=dir_.MAX_PAGE, after=after)
        part = directory_rows(page)
        rows = rows or part[:1]
        rows += part[1:]
        if not page.has_next or len(rows) > EXPORT_ROWS:
            break
        after = page.cursors[-1]
    return await service_.run(table_response, rows, "annuaire", fmt, "Annuaire")


#: The largest directory export (the national register is about 30,000 rows of
#: the medico-social field; more is asked by filtering).
EXPORT_ROWS = 50_000


def pole_rows(rows: list[object]) -> list[list[object]]:
    """The pôles ressources' activity of a period, with the active file per FTE against the target."""
    table: list[list[object]] = [
        [
            "pole",
            "nom",
            "departement",
            "erhr",
            "periode",
            "file_active",
            "familles",
            "rendez_vous",
            "actions_sensibilisation",
            "etp",
            "file_active_par_etp",
            "cible_30_atteinte",
            "synthetique",
        ]
    ]
    for r in rows:
        table.append(
            [
                r.pole,
                r.name,
                r.department,
                r.erhr,
                r.period,
                _count(r.active_file),
                _count(r.families),  # type: ignore[attr-defined]
                r.appointments,
                r.awareness_actions,
                r.fte,
                r.per_fte if r.per_fte is not None else "< 11",  # type: ignore[attr-defined]
                "—" if r.meets_target is None else r.meets_target,
                r.synthetic,
            ]
        )  # type: ignore[attr-defined]
    return table


@router.get(
    "/activite.{fmt}",
    response_class=Response,
    responses=_TABLE_RESPONSES,
    summary="L'activité des pôles ressources d'une année (CSV ou Excel)",
)
async def activity_export(
    service_: Service,
    fmt: Format,
    annee: int = Query(..., description="Année."),
    erhr: str = Query("", description="Territoire ERHR (vide : France)."),
) -> Response:
    rows = await service_(service.pole_activity, str(annee), erhr or None)
    return await service_.run(
        table_response, pole_rows(list(rows)), f"activite-poles-{annee}", fmt, "Pôles ressources"
    )


def erhr_activity_rows(a: object) -> list[list[object]]:
    """A year's figures as rows (indicator, key, value): totals, then each breakdown."""
    rows: list[list[object]] = [["territoire", "annee", "indicateur", "cle", "valeur"]]
    where, year = a.territory, a.year  # type: ignore[attr-defined]
    for name, label in (
        ("active_file", "file_active"),
        ("new_persons", "nouvelles_personnes"),
        ("without_solution", "sans_solution"),
        ("with_rare_condition", "avec_maladie_rare"),
    ):
        rows.append([where, year, label, "", _count(getattr(a, name))])
    if a.median_days_to_acceptance is not None:  # type: ignore[attr-defined]
        rows.append([where, year, "delai_median_acceptation_jours", "", a.median_days_to_acceptance])  # type: ignore[attr-defined]
    for attribute, label in (
        ("by_criterion", "par_critere"),
        ("by_combination", "par_combinaison"),
        ("by_age_band", "par_tranche_age"),
        ("by_department", "par_departement"),
        ("referrals_by_status", "orientations_par_statut"),
    ):
        for key, value in getattr(a, attribute).items():
            rows.append([where, year, label, key, value])
    return rows


@router.get(
    "/activite-erhr.{fmt}",
    response_class=Response,
    responses=_TABLE_RESPONSES,
    summary="Les chiffres d'une année d'une ERHR ou nationaux (CSV ou Excel)",
)
async def erhr_activity_export(
    service_: Service,
    fmt: Format,
    annee: int = Query(..., description="Année."),
    erhr: str = Query("", description="Territoire ERHR (vide : France)."),
) -> Response:
    result = await service_(service.activity, annee, erhr or None)
    return await service_.run(
        table_response, erhr_activity_rows(result), f"activite-{erhr or 'FR'}-{annee}", fmt, "Activité"
    )


@router.get(
    "/transition.{fmt}",
    response_class=Response,
    responses=_TABLE_RESPONSES,
    summary="Radar de la transition vers l'âge adulte par territoire (CSV ou Excel)",
)
async def transition_export(
    service_: Service,
    fmt: Format,
    level: str = Query("DEPARTMENT", description="DEPARTMENT, REGION ou ERHR."),
    threshold_km: float = Query(60.0, description="Seuil de distance (km)."),
    criterion: str | None = Query(None, description="Critère D312-194 (1 … 5d, autre) ; tous si absent."),
) -> Response:
    found = await service_(
        service.transition_radar, level=level, threshold_km=threshold_km, criterion=criterion or None
    )
    return await service_.run(
        table_response, radar_rows(found), "radar-transition", fmt, "Radar de la transition"
    )

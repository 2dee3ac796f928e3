"""What every page shares: the templates, the labels a person reads instead of
codes, and the French error page. Imported by the pages, the exports and the
security middleware (which answers a page's unexpected error with the error
page): it imports nothing else from ``api/``, so no import circle goes through it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from api.guide import help_anchor
from graph import coverage as cov
from graph import transition as radar_
from graph.access import Permission, Principal
from graph.errors import AccessError, DihrError, NotFound, ServiceError
from graph.explanation import shown_covers
from graph.matching import BASIS_LABELS, LEVEL_LABELS, NeedCoverage
from graph.referrals import STATUS_LABELS
from graph.views import french_day
from graph.vocabulary import DEFICIENCIES, SKILLS, code_label
from importers.demo import demo_is_loaded

__all__ = [
    "templates",
    "render",
    "error_page",
    "need_labels",
    "explain",
    "KIND_LABEL",
    "RELATION_LABEL",
    "GROUP_LABEL",
    "LEVEL_LABEL",
    "BASIS_LABEL",
    "LEVELS",
    "AGE_GROUP_LABEL",
    "KIND_SLUG",
    "SLUG_KIND",
    "resource_url",
    "fr_date",
]

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


KIND_LABEL = {
    "Establishment": "Établissement",
    "Professional": "Professionnel",
    "ResourcePole": "Pôle ressources handicap",
    "ErhrTeam": "Équipe relais",
    "Cnrhr": "Centre national de ressources",
    "Commune": "commune",
    "Department": "département",
    "Region": "région",
    "Deficiency": "déficience",
    "Skill": "compétence",
    "Combination": "combinaison",
    "Condition": "maladie rare",
}
#: Relationship types in French, as the directory's pages show a resource's links.
RELATION_LABEL = {
    "LOCATED_IN": "Située dans la commune",
    "WORKS_AT": "Exerce à",
    "WORKS_AT (entrant)": "Y exerce",
    "HAS_EXPERTISE": "Expertise",
    "ACCEPTS": "Accueille",
    "COVERS": "Couvre",
    "PART_OF": "Fait partie de",
    "REFERRED_TO": "Orientation vers",
}

#: The directory's address of each kind of resource (``/annuaire/etablissement/…``),
#: readable in a link, a bookmark or a shared message; the kinds' own names still lead there.
KIND_SLUG = {
    "Establishment": "etablissement",
    "Professional": "professionnel",
    "ResourcePole": "pole-ressources",
    "ErhrTeam": "erhr",
    "Cnrhr": "cnrhr",
}
SLUG_KIND = {slug: kind for kind, slug in KIND_SLUG.items()}


def resource_url(kind: Any, key: str) -> str:
    """The directory page of a resource: ``/annuaire/<kind in French>/<key>``."""
    name = getattr(kind, "value", kind)
    return f"/annuaire/{KIND_SLUG.get(str(name), str(name))}/{quote(str(key), safe='')}"


AGE_GROUP_LABEL = {"children": "Enfants (jusqu'à 20 ans)", "adults": "Adultes", "all": "Tous âges"}


def need_labels(codes: Iterable[str]) -> str:
    """Needs as a person reads them (« déficience visuelle grave, CAA ») — never bare codes."""
    labels = [
        DEFICIENCIES[c].label.lower() if c in DEFICIENCIES else SKILLS[c].label if c in SKILLS else c
        for c in codes
    ]
    return ", ".join(labels)


GROUP_LABEL = {
    "within": "dans le rayon",
    "beyond": "au-delà du rayon",
    "next": "pour préparer la suite",
    "referent": "référent du territoire",
}
LEVEL_LABEL, BASIS_LABEL = LEVEL_LABELS, BASIS_LABELS  # French, from graph.matching (the CLI says the same)
LEVELS = [("DEPARTMENT", "Département"), ("REGION", "Région"), ("ERHR", "Territoire ERHR")]


def _families() -> list[tuple[str, list[Any]]]:
    families: dict[str, list[Any]] = {}
    for d in DEFICIENCIES.values():
        families.setdefault(d.family, []).append(d)
    return list(families.items())


_label = code_label


def explain(cover: NeedCoverage) -> str:
    """The link's explanation in French, with where it comes from (domain or wire coverage)."""
    return getattr(cover, "explanation", None) or getattr(cover, "text", None) or cover.path


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f} %".replace(".", ",")


def _km(value: float | None) -> str:
    """A distance as a person reads it (« 12 km », « 0,4 km » under one kilometre)."""
    if value is None:
        return "—"
    return f"{value:.1f} km".replace(".", ",") if value < 1 else f"{value:.0f} km"


_ISO_DAY = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ][0-9:.+-]*Z?)?$")


def fr_date(value: Any) -> Any:
    """An ISO day (``2026-01-08``, or a timestamp) as a person reads it: ``08/01/2026``;
    anything else as it is."""
    text = str(value).strip() if isinstance(value, str | date) else ""
    return french_day(text) if _ISO_DAY.match(text) else value


def _count(value: int | None, published: bool = True) -> str:
    return cov.count_label(value, published)


def render(request: Request, name: str, title: str, status: int = 200, **context: Any) -> HTMLResponse:
    principal: Principal | None = getattr(request.state, "principal", None)
    session = getattr(request.state, "session", None)
    base = {
        "title": title,
        "principal": principal,
        "csrf": session.csrf if session else "",
        "can_match": principal is not None and principal.can(Permission.MATCH),
        "can_situations": principal is not None and principal.can(Permission.SITUATIONS_READ),
        "can_admin": principal is not None and principal.can(Permission.ADMIN),
        "explain": explain,
        "shown_covers": shown_covers,
        "need_labels": need_labels,
        "pct": _pct,
        "count": _count,
        "level_label": LEVEL_LABEL,
        "status_label": {s.value: label for s, label in STATUS_LABELS.items()},
        "basis_label": BASIS_LABEL,
        "kind_label": KIND_LABEL,
        "relation_label": RELATION_LABEL,
        "age_group_label": AGE_GROUP_LABEL,
        "label_of": _label,
        "resource_url": resource_url,
        "km": _km,
    }
    store = getattr(request.app.state, "store", None)
    base["demo_loaded"] = store is not None and _demo_loaded(store)
    base["help_anchor"] = help_anchor(request.url.path)
    base["role_label"] = ROLE_LABELS
    return templates.TemplateResponse(request, name, {**base, **context}, status_code=status)


#: The roles as a person reads them (« Connecté : équipe relais (NA) »).
ROLE_LABELS = {"erhr": "équipe relais", "gnchr": "GNCHR", "partner": "partenaire"}


def _demo_loaded(store: Any) -> bool:
    """Whether the synthetic demonstration network is in the store (the footer says so only then)."""
    try:
        return demo_is_loaded(store)
    except DihrError:  # the store is unavailable: the page says so itself
        return False


def error_page(request: Request, err: DihrError) -> HTMLResponse:
    """The French error page of a DihrError (also for parameters FastAPI refused)."""
    return _error_page(request, err)


def _error_page(request: Request, err: DihrError) -> HTMLResponse:
    """The error's status (from the table in ``graph.errors``) and French message."""
    title = (
        "Accès impossible"
        if isinstance(err, AccessError)
        else "Page introuvable"
        if isinstance(err, NotFound)
        else "Service indisponible"
        if isinstance(err, ServiceError)
        else "Erreur"
    )
    page = render(request, "error.html", title, err.status, message=err.message)
    page.headers.update(err.headers())
    return page


def radar_rows(found: radar_.Radar) -> list[list[object]]:
    """The radar's table, as the page shows it and as CSV/Excel give it."""
    header: list[object] = ["Territoire", "Code"]
    for h in radar_.HORIZONS:
        header += [
            f"Jeunes atteignant 20 ans d'ici {h} an(s)",
            f"Dont sans service pour adultes à portée ({h} an(s))",
        ]
    rows: list[list[object]] = [header]
    for row in [found.national, *found.territories]:
        line: list[object] = [row.name, row.code]
        for needing, deficit in zip(row.needing, row.deficit, strict=True):
            line += [cov.count_label(needing), cov.count_label(deficit)]
        rows.append(line)
    return rows


templates.env.filters["fr_date"] = fr_date
templates.env.globals["shown_covers"] = shown_covers  # every page, whatever its context

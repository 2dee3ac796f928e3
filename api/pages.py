"""Server-rendered pages in French (Jinja templates in ``api/templates``).

They call the same services as the GraphQL API (``graph/service.py``), so the
same access rules hold. Sessions: a login with an API key opens a server-side
session (cookie HttpOnly, SameSite=Strict, Secure over HTTPS); every form that
changes something carries the session's CSRF token.
"""

from __future__ import annotations

import re
import secrets
from datetime import date
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response

from api.deps import AppSessions, BoundService, Service, SignIns, Store, current_key, origin_of, run_blocking
from api.exports import table_response
from api.family import family_view
from api.forms import DIRECTORY_KINDS_SHOWN as _DIRECTORY_KINDS
from api.forms import commune_code, directory_filter_of_form
from api.forms import km as _km
from api.guide import GUIDE_CAPTURES, guide_anchors, guide_html
from api.rendering import (
    AGE_GROUP_LABEL,
    GROUP_LABEL,
    KIND_SLUG,
    LEVEL_LABEL,
    LEVELS,
    SLUG_KIND,
    _error_page,
    _families,
    error_page,
    explain,
    need_labels,
    render,
    resource_url,
    templates,
)
from api.security import SESSION_COOKIE, SESSION_HOURS
from graph import coverage as cov
from graph import directory as dir_
from graph import journal, service
from graph import transition as radar_
from graph.access import Forbidden, Permission, Principal, Role, authenticate
from graph.activity import AGE_BANDS, POLE_TARGET_PER_FTE
from graph.errors import (
    AccessError,
    DihrError,
    InvalidInput,
    NotFound,
    ServiceError,
    TooManySignIns,
    UnknownCode,
)
from graph.explanation import shown_covers
from graph.knowledge import KIND_LABELS as KNOWLEDGE_KINDS
from graph.matching import MatchResult, SituationQuery
from graph.model import NodeKind, NodeRef, combination_key
from graph.rare import CNRHR_NAMES, CRITERIA, criterion_combinations
from graph.readmodel import read_model
from graph.referrals import STATUS_LABELS, Status
from graph.store import GraphStore
from graph.territories import TerritoryKind, fold_name, resolve_commune, search_communes, territories
from graph.views import display_name
from graph.vocabulary import CONDITIONS, DEFICIENCIES, SKILLS, code_label

__all__ = ["error_page", "router", "public_router", "STATIC_DIR"]

#: Pages for signed-in callers (a visitor is sent to the sign-in page), and the sign-in page itself.
router = APIRouter(include_in_schema=False, dependencies=[Depends(current_key)])
public_router = APIRouter(include_in_schema=False)
STATIC_DIR = Path(__file__).parent / "static"
LOGIN_CSRF = "dihr_login_csrf"
_FIELDS = [
    ("category_label", "Catégorie"),
    ("profession", "Profession"),
    ("address", "Adresse"),
    ("postcode", "Code postal"),
    ("city", "Localité"),
    ("commune", "Commune (code INSEE)"),
    ("finess", "FINESS"),
    ("phone", "Téléphone"),
    ("email", "Courriel"),
    ("website", "Site"),
    ("seat", "Siège"),
    ("extraction_date", "Extraction FINESS"),
    ("location_source", "Origine de la position"),
]

IMPORT_LABELS = {
    "finess": "FINESS établissements",
    "finess-equipements": "FINESS équipements",
    "annuaire": "Annuaire",
    "situations": "Situations",
    "savoirs": "Savoirs",
    "activite-poles": "Activité des pôles ressources",
}


def _check_csrf(request: Request, token: str) -> None:
    session = getattr(request.state, "session", None)
    if session is None or not secrets.compare_digest(session.csrf, token or ""):
        raise Forbidden("Formulaire expiré ou invalide (jeton CSRF) : rechargez la page et recommencez.")


# -- login ---------------------------------------------------------------------------
def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else ""


@public_router.get("/connexion", response_class=HTMLResponse)
async def login_page(request: Request, suite: str = "") -> HTMLResponse:
    token = secrets.token_urlsafe(24)
    response = render(
        request, "login.html", "Connexion", login_csrf=token, suite=_safe_next(suite), error=None
    )
    response.set_cookie(
        LOGIN_CSRF, token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
    )
    return response


@public_router.post("/connexion", response_class=HTMLResponse)
async def login(
    request: Request,
    store: Store,
    sessions: AppSessions,
    sign_ins: SignIns,
    cle: str = Form(""),
    csrf: str = Form(""),
    suite: str = Form(""),
) -> Response:
    expected = request.cookies.get(LOGIN_CSRF, "")
    error = None
    principal = None
    origin = origin_of(request)
    status = 401
    if not expected or not secrets.compare_digest(expected, csrf):
        error = "Formulaire expiré : rechargez la page de connexion."
    else:
        try:  # a valid key first: never refused because of others' failures from this address
            principal = await run_blocking(authenticate, store, cle, origin=origin)
        except ServiceError:
            raise  # the site's 503 page (api.security.Guard)
        except DihrError as err:
            key_id = sign_ins.key_id_of(cle)

            def count() -> float:
                sign_ins.failed(origin, "formulaire", key_id)
                return sign_ins.refused(origin, key_id)

            wait = await run_blocking(count)
            error, status = (TooManySignIns(wait).message, 429) if wait > 0 else (err.message, 401)
    if principal is None:
        token = secrets.token_urlsafe(24)
        response = render(
            request, "login.html", "Connexion", status, login_csrf=token, suite=_safe_next(suite), error=error
        )
        response.set_cookie(
            LOGIN_CSRF, token, httponly=True, samesite="strict", secure=request.url.scheme == "https"
        )
        return response
    token, _session = await run_blocking(sessions.open, principal)
    default = "/recherche" if principal.can(Permission.MATCH) else "/couverture"
    response = RedirectResponse(_safe_next(suite) or default, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=SESSION_HOURS * 3600,
    )
    response.delete_cookie(LOGIN_CSRF)
    return response


@router.post("/deconnexion")
async def logout(request: Request, sessions: AppSessions, csrf: str = Form("")) -> Response:
    try:
        _check_csrf(request, csrf)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return _error_page(request, err)
    await run_blocking(sessions.close, request.cookies.get(SESSION_COOKIE))
    response = RedirectResponse("/connexion", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# -- search ---------------------------------------------------------------------------
_FIELD_OF_ERROR = {"radiusKm": "rayon", "deficiencies": "deficiences", "age": "age", "lieu de vie": "lieu"}


def _search_form(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "d": set(q.getlist("d")),
        "c": set(q.getlist("c")),
        "maladie": q.get("maladie", ""),
        "age": q.get("age", ""),
        "lieu": q.get("lieu", ""),
        "rayon": q.get("rayon", "100"),
    }


def _situation_query(store: Any, form: dict[str, Any], limit: int = 20) -> SituationQuery:
    errors: dict[str, str] = {}
    age = None
    if form["age"]:
        if not str(form["age"]).isdigit():
            errors["age"] = "L'âge est un nombre d'années."
        else:
            age = int(form["age"])
    try:
        radius = float(form["rayon"] or 100)
    except ValueError:
        errors["rayon"] = "Le rayon est un nombre de kilomètres."
        radius = 100.0
    place = str(form["lieu"]).strip()
    commune = postcode = None
    if not place:
        errors["lieu"] = "Indiquez la commune du lieu de vie."
    else:
        wanted_department = None
        if (m := re.match(r"^(.*\S)\s*\((\d[0-9AB]\d?)\)$", place)) is not None:  # « Saint-Denis (93) »
            place, wanted_department = m.group(1), m.group(2).upper()
        found = search_communes(store, place, limit=50)
        if wanted_department:
            found = [c for c in found if str(c.props.get("department")) == wanted_department]
        same_name = [c for c in found if fold_name(str(c.props.get("name", ""))) == fold_name(place)]
        if not found:
            errors["lieu"] = f"Commune introuvable : « {place} »."
        elif place.isdigit() and len(place) == 5 and found[0].key != place:
            postcode = place
        elif len(same_name) > 1:
            choices = " ; ".join(
                f"{c.props['name']} ({c.props['department']}, code {c.key})" for c in same_name[:12]
            )
            errors["lieu"] = (
                f"Plusieurs communes s'appellent « {place} » : précisez le département, "
                f"par exemple « {place} ({same_name[0].props['department']}) », ou le code INSEE. "
                f"Communes : {choices}."
            )
        else:
            commune = found[0].key
    if errors:
        raise _FormErrors(errors)
    return SituationQuery(
        deficiencies=sorted(form["d"]),
        conditions=[form["maladie"].strip()] if form["maladie"].strip() else [],
        skills=sorted(form["c"]),
        age=age,
        commune=commune,
        postcode=postcode,
        radius_km=radius,
        limit=limit,
    )


class _FormErrors(Exception):
    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors


async def _search(
    request: Request, svc: BoundService, limit: int = 20
) -> tuple[dict[str, Any], Any, dict[str, str]]:
    form = _search_form(request)
    if "lieu" not in request.query_params:
        return form, None, {}
    try:
        query = await svc.run(_situation_query, svc.store, form, limit)
        return form, await svc.search(service.find_resources, query), {}
    except _FormErrors as err:
        return form, None, err.errors
    except (InvalidInput, UnknownCode) as err:
        field = _FIELD_OF_ERROR.get(
            getattr(err, "field", ""),
            "deficiences" if isinstance(err, UnknownCode) and "déficience" in err.message else "lieu",
        )
        if isinstance(err, InvalidInput) and err.field == "deficiencies":
            field = "deficiences"
        if isinstance(err, UnknownCode) and "maladie" in err.message:
            field = "maladie"
        return form, None, {field: err.message}


@router.get("/recherche", response_class=HTMLResponse)
async def search_page(request: Request, svc: Service) -> HTMLResponse:
    if not svc.principal.can(Permission.MATCH):
        return _error_page(
            request, Forbidden("La recherche de ressources est réservée aux ERHR et au GNCHR.")
        )
    form, result, errors = await _search(request, svc)
    query_string = urlencode(list(request.query_params.multi_items()))
    map_query = ""
    if result is not None:
        # The map draws exactly the rows of the table: same needs, same place, same limit.
        map_query = urlencode(
            [
                ("deficiencies", ",".join(result.deficiencies)),
                ("commune", result.place.commune),
                ("radius_km", result.radius_km),
            ]
            + ([("age", form["age"])] if form["age"] else [])
            + [("skills", s) for s in result.skills]
            + [("conditions", c) for c in result.conditions]
        )
    if result is not None and result.inferred and not form["d"]:
        form["d"] = set(
            result.deficiencies
        )  # the inferred deficiencies shown ticked: the animator may untick them
    title = (
        "Rechercher des ressources"
        if result is None
        else f"Ressources pour {need_labels(result.deficiencies)} — {result.place.commune_name}"
    )
    status = 400 if errors else 200
    situation = request.query_params.get("situation", "")[:64]
    can_refer = bool(situation) and svc.principal.can(Permission.SITUATIONS_WRITE)
    return render(
        request,
        "search.html",
        title,
        status,
        form=form,
        result=result,
        errors=errors,
        situation=situation if can_refer else "",
        today=date.today().isoformat(),
        families=_families(),
        conditions=[c for c in CONDITIONS.values() if c.aliases],
        skills=list(SKILLS.values()),
        query_string=query_string,
        map_query=map_query,
        cnrhr_names=", ".join(CNRHR_NAMES[c] for c in (result.qualification.cnrhr if result else ())),
        same_reason=_same_reasons(result),
        needs_text=need_labels(result.deficiencies) if result else "",
    )


def _commune_names(store: GraphStore, codes: list[str]) -> dict[str, str]:
    """« Poitiers (86) » for each commune code (one read for a page)."""
    found = store.get_nodes(NodeKind.COMMUNE, codes) if codes else {}
    return {key: f"{n.props.get('name', key)} ({n.props.get('department', '')})" for key, n in found.items()}


def _same_reasons(result: MatchResult | None) -> dict[int, int]:
    """Rank → the first rank with the very same explanation: the table says it
    once (« comme le rang 2 ») instead of repeating it on every row."""
    first: dict[tuple[str, ...], int] = {}
    same: dict[int, int] = {}
    for m in result.matches if result is not None else ():
        reasons = tuple(explain(c) for c in shown_covers(m.covers))
        if m.group == "referent" or not reasons:
            continue
        if reasons in first:
            same[m.rank] = first[reasons]
        else:
            first[reasons] = m.rank
    return same


@router.get("/recherche/communes")
async def commune_suggestions(request: Request, svc: Service, q: str = "") -> JSONResponse:
    found = await svc.read(search_communes, q[:80], limit=10)
    return JSONResponse(
        [{"code": c.key, "label": f"{c.props['name']} ({c.props['department']}) — {c.key}"} for c in found]
    )


@router.get("/recherche/fiche", response_class=HTMLResponse)
async def orientation_sheet(request: Request, svc: Service) -> HTMLResponse:
    if not svc.principal.can(Permission.MATCH):
        return _error_page(
            request, Forbidden("La recherche de ressources est réservée aux ERHR et au GNCHR.")
        )
    _form, result, errors = await _search(request, svc)
    if result is None:
        return _error_page(
            request, InvalidInput("recherche", "; ".join(errors.values()) or "paramètres manquants.")
        )
    return templates.TemplateResponse(
        request,
        "sheet.html",
        {
            "result": result,
            "explain": explain,
            "shown_covers": shown_covers,
            "need_labels": need_labels,
            "today": date.today().strftime("%d/%m/%Y"),
        },
    )


@router.get("/recherche/fiche-famille", response_class=HTMLResponse)
async def family_sheet(request: Request, svc: Service) -> HTMLResponse:
    """The sheet a family takes home (api/family.py): plain French, no code."""
    if not svc.principal.can(Permission.MATCH):
        return _error_page(
            request, Forbidden("La recherche de ressources est réservée aux ERHR et au GNCHR.")
        )
    _form, result, errors = await _search(request, svc)
    if result is None:
        return _error_page(
            request, InvalidInput("recherche", "; ".join(errors.values()) or "paramètres manquants.")
        )
    return templates.TemplateResponse(
        request, "family_sheet.html", {**family_view(result), "today": date.today().strftime("%d/%m/%Y")}
    )


@router.get("/recherche/fiche.{fmt}")
async def orientation_table(request: Request, svc: Service, fmt: str) -> Response:
    if fmt not in ("csv", "xlsx"):
        return _error_page(request, NotFound("Format inconnu : fiche.csv ou fiche.xlsx."))
    if not svc.principal.can(Permission.MATCH):
        return _error_page(
            request, Forbidden("La recherche de ressources est réservée aux ERHR et au GNCHR.")
        )
    _form, result, errors = await _search(request, svc)
    if result is None:
        return _error_page(
            request, InvalidInput("recherche", "; ".join(errors.values()) or "paramètres manquants.")
        )
    rows: list[list[object]] = [
        [
            "rang",
            "niveau",
            "ressource",
            "identifiant",
            "adresse",
            "code_postal",
            "localite",
            "telephone",
            "courriel",
            "site",
            "public",
            "position",
            "distance_km",
            "temps_estime_min",
            "dans_le_rayon",
            "groupe",
            "pourquoi",
            "manque",
            "synthetique",
        ]
    ]
    for m in result.matches:
        c = m.contact
        contact = [c.address, c.postcode, c.city, c.phone, c.email, c.website] if c else [None] * 6
        rows.append(
            [
                m.rank,
                LEVEL_LABEL[m.level.value],
                m.name,
                m.key,
                *(v or "" for v in contact),
                AGE_GROUP_LABEL[m.age_group],
                "centre de la commune"
                if m.location_source == "centroide_commune"
                else "zone d'intervention (se déplace dans la commune)"
                if m.location_source == "zone_intervention"
                else "hors du continent : contact à distance"
                if m.location_source == "hors_continent"
                else (m.location_source or ""),
                "" if m.distance_km is None else m.distance_km,
                "" if m.minutes is None else m.minutes,
                "oui" if m.within_radius else "non",
                GROUP_LABEL[m.group],
                " ; ".join(explain(c) for c in shown_covers(m.covers)),
                need_labels(m.misses),
                "oui" if m.synthetic else "non",
            ]
        )
    name = f"fiche-orientation-{result.combination}-{result.place.commune}"
    return await svc.run(table_response, rows, name, fmt, "Fiche d'orientation")


# -- coverage ---------------------------------------------------------------------------
def _coverage_form(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "d": set(q.getlist("d")),
        "critere": q.get("critere", ""),
        "niveau": q.get("niveau", "DEPARTMENT"),
        "seuil": q.get("seuil", "60"),
        "age": q.get("age", "").strip(),
        "locales": q.get("locales", ""),
        "separement": q.get("separement", ""),
    }


def _age(text: str) -> int | None:
    """An age typed in a form (« 17 »), or None when left empty."""
    if not text:
        return None
    if not text.isdigit():
        raise InvalidInput("age", f"« {text[:10]} » n'est pas un âge en années.")
    return int(text)


@router.get("/couverture", response_class=HTMLResponse)
async def coverage_page(request: Request, svc: Service) -> HTMLResponse:
    form = _coverage_form(request)
    criteria = [(c, CRITERIA[c].label, criterion_combinations(c)[0]) for c in CRITERIA]
    codes = sorted(form["d"]) or (
        criterion_combinations(form["critere"])[0].split("+") if form["critere"] in CRITERIA else []
    )
    result = error = None
    if codes:
        try:
            result = await svc(
                service.coverage,
                codes,
                level=form["niveau"],
                threshold_km=_km(form["seuil"], "seuil"),
                age=_age(form["age"]),
                local_only=bool(form["locales"]),
                separately=bool(form["separement"]),
            )
        except ServiceError:
            raise  # the site's 503 page (api.security.Guard)
        except DihrError as err:
            error = err.message
    ranked = (
        sorted(result.territories, key=lambda t: (-t.share_beyond[result.threshold_km], t.code))
        if result
        else []
    )
    export_query = (
        urlencode(
            [
                ("deficiencies", result.combination.replace("+", ",")),
                ("level", result.level.value),
                ("threshold_km", result.threshold_km),
            ]
            + ([("age", result.age)] if result.age is not None else [])
            + ([("local_only", "true")] if result.local_only else [])
            + ([("separately", "true")] if result.separately else [])
        )
        if result
        else ""
    )
    title = "Couverture territoriale" if result is None else f"Couverture territoriale — {result.combination}"
    imports = await svc.read(journal.last_by_source)
    return render(
        request,
        "coverage.html",
        title,
        400 if error else 200,
        form=form,
        result=result,
        ranked=ranked,
        error=error,
        criteria=criteria,
        levels=LEVELS,
        families=_families(),
        export_query=export_query,
        whatif=None,
        imports=imports,
        import_labels=IMPORT_LABELS,
    )


@router.get("/couverture/simulation", response_class=HTMLResponse)
async def what_if_page(request: Request, svc: Service) -> HTMLResponse:
    form = _coverage_form(request)
    codes = sorted(form["d"])
    commune = request.query_params.get("commune", "")
    try:
        # a name (« Poitiers », « Saint-Denis (93) »), a postcode or an INSEE code, as in the search
        code = await svc.read(commune_code, commune, "commune")
        place = await svc.read(resolve_commune, code)
        before, after, deltas = await svc(
            service.what_if,
            codes,
            [cov.Addition(place.key, codes)],
            level=form["niveau"],
            threshold_km=_km(form["seuil"], "seuil"),
        )
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        # back to the simulation form, the commune typed kept, the error beside it
        return render(
            request,
            "coverage.html",
            "Simulation — commune à préciser",
            400,
            form=form,
            result=None,
            ranked=[],
            error=None,
            criteria=[],
            levels=LEVELS,
            families=_families(),
            export_query="",
            whatif=None,
            whatif_retry={"codes": codes, "commune": commune, "error": err.message},
        )
    # Only what changed for a person: inhabitants brought within the threshold.
    changed = [d for d in deltas if d.population_gained > 0]
    added = f"{place.props.get('name', place.key)} ({place.props.get('department', '')}, code {place.key})"
    return render(
        request,
        "coverage.html",
        f"Simulation — {before.combination}",
        form=form,
        result=None,
        ranked=[],
        error=None,
        criteria=[],
        levels=LEVELS,
        families=_families(),
        export_query="",
        whatif=changed,
        whatif_commune=added,
        whatif_before=before,
        whatif_after=after,
    )


@router.get("/couverture/manques", response_class=HTMLResponse)
async def gaps_page(
    request: Request, svc: Service, niveau: str = "DEPARTMENT", seuil: float = 60.0, separement: str = ""
) -> HTMLResponse:
    try:
        matrix = await svc(service.gaps, level=niveau, threshold_km=seuil, separately=bool(separement))
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return _error_page(request, err)
    return render(
        request,
        "gaps.html",
        "Matrice des manques par critère D312-194",
        matrix=matrix,
        level=matrix.level.value,
        seuil=f"{seuil:g}",
        separately=bool(separement),
    )


# -- directory ---------------------------------------------------------------------------


@router.get("/annuaire", response_class=HTMLResponse)
async def directory_page(
    request: Request,
    svc: Service,
    type: str = "",
    erhr: str = "",
    deficience: str = "",
    competence: str = "",
    maladie: str = "",
    nom: str = "",
    commune: str = "",
    rayon: str = "50",
    fermes: str = "",
    page: int = 1,
) -> HTMLResponse:
    page = max(1, page)
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
    try:
        query = await svc.run(directory_filter_of_form, svc.store, form)
        found = await svc(
            service.directory,
            query,
            first=DIRECTORY_PAGE,
            after=dir_.cursor_of((page - 1) * DIRECTORY_PAGE - 1) if page > 1 else None,
        )
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return _error_page(request, err)
    erhr_list = await svc.read(territories, TerritoryKind.ERHR)
    query_string = urlencode({k: v for k, v in form.items() if v})
    seen: dict[tuple[str, str | None], int] = {}
    for entry in found.entries:
        seen[(entry.name, entry.town)] = seen.get((entry.name, entry.town), 0) + 1
    return render(
        request,
        "directory.html",
        "Annuaire des ressources",
        total=found.total,
        rows=found.entries,
        repeated={name for name, count in seen.items() if count > 1},  # told apart by their number
        page=page,
        page_size=DIRECTORY_PAGE,
        query=query_string,
        kinds=_DIRECTORY_KINDS,
        erhr_list=erhr_list,
        deficiencies=list(DEFICIENCIES.values()),
        skills=list(SKILLS.values()),
        conditions=[c for c in CONDITIONS.values() if c.aliases],
        form=form,
        near=bool(query.near),
    )


DIRECTORY_PAGE = 50


def _can_edit(principal: Principal, resource: service.ResourceView) -> bool:
    if not principal.can(Permission.SITUATIONS_WRITE):
        return False
    return principal.territory is None or resource.erhr == principal.territory


async def _resource_page(
    request: Request,
    svc: BoundService,
    kind: str,
    key: str,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    try:
        resource = await svc(service.get_resource, NodeKind(kind), key)
    except (DihrError, ValueError):
        return _error_page(request, NotFound("Ressource introuvable."))
    return render(
        request,
        "resource.html",
        resource.name,
        status,
        r=resource,
        fields=_FIELDS,
        message=message,
        error=error,
        can_edit=_can_edit(svc.principal, resource),
        linkable={"Establishment", "Professional", "ResourcePole", "ErhrTeam", "Cnrhr"},
    )


@router.get("/annuaire/{kind}/{key}", response_class=HTMLResponse)
async def resource_page(request: Request, svc: Service, kind: str, key: str) -> Response:
    if kind in KIND_SLUG:  # an older address (/annuaire/Establishment/…): kept working
        return RedirectResponse(resource_url(kind, key), status_code=301)
    return await _resource_page(request, svc, SLUG_KIND.get(kind, kind), key)


def _expertise_target(code: str) -> NodeRef:
    text = code.strip().upper()
    if text.startswith("ORPHA:") or text.isdigit():
        orpha = text if text.startswith("ORPHA:") else f"ORPHA:{text}"
        return NodeRef(NodeKind.CONDITION, orpha)
    if "+" in text:
        return NodeRef(NodeKind.COMBINATION, combination_key(text.split("+")))
    if text in SKILLS:
        return NodeRef(NodeKind.SKILL, text)
    return NodeRef(NodeKind.DEFICIENCY, text)


@router.post("/annuaire/{kind}/{key}/expertise", response_class=HTMLResponse)
async def set_expertise(
    request: Request,
    svc: Service,
    kind: str,
    key: str,
    code: str = Form(""),
    niveau: int = Form(1),
    csrf: str = Form(""),
) -> HTMLResponse:
    kind = SLUG_KIND.get(kind, kind)
    try:
        _check_csrf(request, csrf)
        target = _expertise_target(code)
        await svc(service.set_expertise, NodeKind(kind), key, target, niveau or None)
    except Forbidden as err:
        return _error_page(request, err)
    except (DihrError, ValueError) as err:
        message = getattr(err, "message", "Code invalide.")
        return await _resource_page(request, svc, kind, key, error=message, status=400)
    return await _resource_page(request, svc, kind, key, message="Expertise enregistrée.")


# -- situations ---------------------------------------------------------------------------
_REFERRAL_KINDS = _DIRECTORY_KINDS + [
    ("ErhrTeam", "Équipe relais (ERHR)"),
    ("Cnrhr", "Centre national (CNRHR)"),
]


@router.get("/situations", response_class=HTMLResponse)
async def situations_page(
    request: Request,
    svc: Service,
    page: int = 1,
    statut: str = "",
    combinaison: str = "",
    tranche: str = "",
    commune: str = "",
) -> HTMLResponse:
    return await _situations_page(
        request,
        svc,
        page,
        {"statut": statut, "combinaison": combinaison, "tranche": tranche, "commune": commune},
    )


async def _situations_page(
    request: Request,
    svc: BoundService,
    page: int,
    form: dict[str, str],
    *,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    page = max(1, page)
    try:
        total, items = await svc(
            service.list_situations,
            limit=50,
            offset=(page - 1) * 50,
            status={"ouverte": "open", "close": "closed"}.get(form["statut"]),
            combination=form["combinaison"].strip().upper() or None,
            age_band=form["tranche"] or None,
            commune=form["commune"].strip() or None,
        )
    except AccessError as err:
        return _error_page(request, err)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        total, items, error, status = 0, [], err.message, 400
    query = urlencode({k: v for k, v in form.items() if v})
    places = await svc.read(_commune_names, sorted({s.commune for s in items if s.commune}))
    return render(
        request,
        "situations.html",
        "Situations du territoire",
        status,
        total=total,
        items=items,
        places=places,
        page=page,
        form=form,
        query=query,
        bands=[label for _lo, _hi, label in AGE_BANDS],
        error=error,
        families=_families(),
        can_write=svc.principal.can(Permission.SITUATIONS_WRITE),
        skills=list(SKILLS.values()),
        today=date.today().isoformat(),
    )


@router.post("/situations", response_class=HTMLResponse)
async def create_situation(
    request: Request,
    svc: Service,
    csrf: str = Form(""),
    age: str = Form(""),
    commune: str = Form(""),
    maladie: str = Form(""),
    date_: str = Form("", alias="date"),
) -> Response:
    form_data = await request.form()
    empty = {"statut": "", "combinaison": "", "tranche": "", "commune": ""}
    try:
        _check_csrf(request, csrf)
        found = await svc.read(search_communes, commune.strip()[:80], limit=1) if commune.strip() else []
        if not found:
            raise InvalidInput("commune", f"commune introuvable : « {commune.strip()[:40]} ».")
        view = await svc(
            service.create_situation,
            age=_age(age) if age.strip() else -1,
            commune=found[0].key,
            deficiencies=[str(v) for v in form_data.getlist("d")],
            conditions=[maladie.strip()[:100]] if maladie.strip() else [],
            needs=[str(v) for v in form_data.getlist("c")],
            opened_on=date_ or date.today().isoformat(),
        )
    except Forbidden as err:
        return _error_page(request, err)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return await _situations_page(request, svc, 1, empty, error=err.message, status=400)
    return RedirectResponse(f"/situations/{view.key}", status_code=303)


@router.post("/situations/{key}/modifier", response_class=HTMLResponse)
async def edit_situation(
    request: Request,
    svc: Service,
    key: str,
    csrf: str = Form(""),
    statut: str = Form(""),
    age: str = Form(""),
    cloture: str = Form(""),
) -> HTMLResponse:
    form_data = await request.form()
    try:
        _check_csrf(request, csrf)
        await svc(
            service.update_situation,
            key,
            status={"ouverte": "open", "close": "closed"}.get(statut),
            age=_age(age) if age.strip() else None,
            closed_on=cloture or date.today().isoformat(),
            needs=[str(v) for v in form_data.getlist("c")],
        )
    except (Forbidden, NotFound) as err:
        return _error_page(request, err)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return await _situation_page(request, svc, key, error=err.message, status=400)
    return await _situation_page(request, svc, key, message="Situation mise à jour.")


async def _situation_page(
    request: Request,
    svc: BoundService,
    key: str,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    try:
        situation = await svc(service.get_situation, key)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return _error_page(request, err)
    search = [("d", c) for c in (situation.combination or "").split("+") if c] + [
        ("c", n) for n in situation.needs
    ]
    search += [("lieu", situation.commune or ""), ("rayon", "100"), ("situation", situation.key)]
    if situation.age is not None:
        search.append(("age", str(situation.age)))
    if situation.conditions:
        search.append(("maladie", situation.conditions[0]))
    places = await svc.read(_commune_names, [situation.commune] if situation.commune else [])
    erhr_names = {t.code: t.name for t in await svc.read(territories, TerritoryKind.ERHR)}
    return render(
        request,
        "situation.html",
        f"Situation {situation.key}",
        status,
        s=situation,
        places=places,
        erhr_name=erhr_names.get(situation.erhr or "", situation.erhr),
        search_query=urlencode(search),
        kinds=_REFERRAL_KINDS,
        today=date.today().isoformat(),
        skills=list(SKILLS.values()),
        message=message,
        error=error,
    )


# -- home dashboard ---------------------------------------------------------------------
async def dashboard(svc: BoundService) -> dict[str, Any]:
    """What each role finds on the home page: an ERHR, its open situations, the
    referrals to follow up and its territory's coverage gaps; the GNCHR, the
    national figures and the last imports; a partner, the published figures."""
    year = date.today().year
    found: dict[str, Any] = {"role": svc.principal.role.value, "year": year}
    try:
        found["activity"] = await svc(service.activity, year, svc.principal.territory)
        if svc.principal.can(Permission.SITUATIONS_READ):
            found["open_situations"] = (await svc(service.list_situations, status="open", limit=1))[0]
            found["follow_ups"] = len(await svc(service.referrals_to_follow_up, date.today().isoformat()))
        if svc.principal.territory:
            matrix = await svc(service.gaps, level="ERHR")
            row = next(
                (cells for code, _name, cells in matrix.territories if code == svc.principal.territory), ()
            )
            found["gaps"] = [
                (c.criterion, CRITERIA[c.criterion].label, c.share_beyond, c.zone_blanche, c.no_data)
                for c in row
                if c.zone_blanche or c.no_data or c.share_beyond > 0.2
            ]
        if svc.principal.can(Permission.ADMIN):
            found["imports"] = await svc.read(journal.last_by_source)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        found["error"] = err.message
    return found


# -- activity ---------------------------------------------------------------------------
async def _activity_page(
    request: Request,
    svc: BoundService,
    year: int,
    erhr: str,
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    try:
        report = await svc(service.activity, year, erhr or None)
        poles = await svc(service.pole_activity, str(year), erhr or None)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return _error_page(request, err)
    erhr_list = await svc.read(territories, TerritoryKind.ERHR)
    names = {t.code: t.name for t in erhr_list}
    breakdowns = [
        (
            "Par critère D312-194",
            [
                (f"{c} — {CRITERIA[c].label}" if c in CRITERIA else c, n)
                for c, n in report.by_criterion.items()
            ],
        ),
        ("Par combinaison", [(code_label("Combination", c), n) for c, n in report.by_combination.items()]),
        ("Par tranche d'âge", list(report.by_age_band.items())),
        ("Par département", list(report.by_department.items())),
        (
            "Orientations par statut",
            [
                (STATUS_LABELS.get(Status(k), k) if k in set(Status) else k, n)
                for k, n in report.referrals_by_status.items()
            ],
        ),
    ]
    can_record = svc.principal.can(Permission.SITUATIONS_WRITE)
    pole_choices = []
    if can_record:
        known = await svc.read(
            lambda st: [
                (n.key, display_name(n.props, n.key), str(n.props.get("department", "")))
                for n in st.nodes(NodeKind.RESOURCE_POLE)
            ]
        )
        table = await svc.read(lambda st: read_model(st).territories)
        pole_choices = sorted(
            (k, name)
            for k, name, dep in known
            if svc.principal.territory is None or table.erhr_of_department.get(dep) == svc.principal.territory
        )
    return render(
        request,
        "activity.html",
        "Activité de l'année",
        status,
        report=report,
        poles=poles,
        year=year,
        erhr=erhr,
        territory_name=names.get(erhr, "France entière"),
        erhr_list=erhr_list,
        breakdowns=breakdowns,
        target=POLE_TARGET_PER_FTE,
        can_record=can_record,
        pole_choices=pole_choices,
        message=message,
        error=error,
    )


@router.get("/qualite", response_class=HTMLResponse)
async def quality_page(request: Request, svc: Service) -> HTMLResponse:
    """Where the directory needs completing, per department (the GNCHR)."""
    try:
        found = await svc(service.data_quality)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return _error_page(request, err)
    imports = await svc.read(journal.last_by_source)
    return render(
        request,
        "quality.html",
        "Qualité des données de l'annuaire",
        quality=found,
        imports=imports,
        import_labels=IMPORT_LABELS,
    )


@router.get("/activite", response_class=HTMLResponse)
async def activity_page(request: Request, svc: Service, annee: int = 0, erhr: str = "") -> HTMLResponse:
    year = annee or date.today().year
    territory = erhr or (svc.principal.territory or "")
    return await _activity_page(request, svc, year, territory)


@router.post("/activite", response_class=HTMLResponse)
async def record_activity(
    request: Request,
    svc: Service,
    pole: str = Form(""),
    periode: str = Form(""),
    file_active: str = Form(""),
    familles: str = Form(""),
    rendez_vous: str = Form(""),
    actions: str = Form(""),
    etp: str = Form(""),
    csrf: str = Form(""),
) -> HTMLResponse:
    year = int(periode[:4]) if periode[:4].isdigit() else date.today().year
    territory = svc.principal.territory or ""
    try:
        _check_csrf(request, csrf)
        row = await svc(
            service.record_pole_report,
            pole,
            periode,
            active_file=file_active,
            families=familles,
            appointments=rendez_vous,
            awareness_actions=actions,
            fte=etp,
        )
    except Forbidden as err:
        return _error_page(request, err)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return await _activity_page(request, svc, year, territory, error=err.message, status=400)
    return await _activity_page(
        request, svc, year, territory, message=f"Activité enregistrée : {row.name}, {row.period}."
    )


# -- knowledge --------------------------------------------------------------------------
_KNOWLEDGE_KINDS = [(k.value, label) for k, label in KNOWLEDGE_KINDS.items()]


def _knowledge_subjects(items: list[Any]) -> list[tuple[str, list[tuple[str, str]]]]:
    """What a knowledge item may be about, chosen from lists: deficiencies, the
    combinations of the national criteria and those already used, needs, and the
    rare diseases the search knows by name (and those already used)."""
    combinations = {key for criterion in CRITERIA for key in criterion_combinations(criterion)}
    combinations |= {code for i in items for kind, code, _l in i.about if kind == "Combination"}
    conditions = {c.orpha: c.label for c in CONDITIONS.values() if c.aliases}
    conditions |= {code: label for i in items for kind, code, label in i.about if kind == "Condition"}
    return [
        ("Déficiences", [(d.code, d.label) for d in DEFICIENCIES.values()]),
        (
            "Combinaisons",
            sorted(((k, code_label("Combination", k)) for k in combinations if "+" in k), key=lambda o: o[1]),
        ),
        ("Besoins", [(s.code, s.label) for s in SKILLS.values()]),
        ("Maladies rares", sorted(conditions.items(), key=lambda o: o[1])),
    ]


async def _knowledge_page(
    request: Request,
    svc: BoundService,
    form: dict[str, str],
    *,
    message: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    try:
        items = await svc(
            service.list_knowledge, kind=form["type"] or None, about=form["sujet"] or None, text=form["texte"]
        )
    except AccessError as err:
        return _error_page(request, err)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        items, error, status = [], err.message, 400
    erhr_list = await svc.read(territories, TerritoryKind.ERHR)
    return render(
        request,
        "knowledge.html",
        "Savoirs du réseau",
        status,
        items=items,
        subjects=_knowledge_subjects(items),
        erhr_list=erhr_list,
        erhr_names={t.code: t.name for t in erhr_list},
        kinds=_KNOWLEDGE_KINDS,
        form=form,
        message=message,
        error=error,
        can_manage=svc.principal.can(Permission.SITUATIONS_WRITE),
    )


@router.get("/savoirs", response_class=HTMLResponse)
async def knowledge_page(
    request: Request, svc: Service, type: str = "", sujet: str = "", texte: str = ""
) -> HTMLResponse:
    return await _knowledge_page(request, svc, {"type": type, "sujet": sujet, "texte": texte})


@router.post("/savoirs", response_class=HTMLResponse)
async def add_knowledge(
    request: Request,
    svc: Service,
    type: str = Form(""),
    titre: str = Form(""),
    resume: str = Form(""),
    lien: str = Form(""),
    auteur: str = Form(""),
    sujets: Annotated[list[str], Form()] = [],  # noqa: B006 - FastAPI's form default, never mutated
    erhr: str = Form(""),
    disponible: str = Form(""),
    csrf: str = Form(""),
) -> HTMLResponse:
    empty = {"type": "", "sujet": "", "texte": ""}
    try:
        _check_csrf(request, csrf)
        item = await svc(
            service.save_knowledge,
            kind=type,
            title=titre,
            summary=resume,
            link=lien or None,
            author=auteur,
            erhr=erhr or None,
            available=bool(disponible),
            about=[c for chosen in sujets for c in chosen.split(",") if c.strip()],
        )
    except Forbidden as err:
        return _error_page(request, err)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return await _knowledge_page(request, svc, empty, error=err.message, status=400)
    return await _knowledge_page(request, svc, empty, message=f"Savoir ajouté : {item.title}.")


@router.get("/situations/a-relancer", response_class=HTMLResponse)
async def follow_up_page(request: Request, svc: Service) -> HTMLResponse:
    try:
        due = await svc(service.referrals_to_follow_up, date.today().isoformat())
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return _error_page(request, err)
    return render(
        request, "follow_up.html", "Orientations à relancer", due=due, today=date.today().isoformat()
    )


@router.get("/situations/{key}", response_class=HTMLResponse)
async def situation_page(request: Request, svc: Service, key: str) -> HTMLResponse:
    return await _situation_page(request, svc, key)


@router.post("/situations/{key}/orientation", response_class=HTMLResponse)
async def record_referral(
    request: Request,
    svc: Service,
    key: str,
    type: str = Form(""),
    ressource: str = Form(""),
    date_: str = Form("", alias="date"),
    issue: str = Form(""),
    relance: str = Form(""),
    csrf: str = Form(""),
) -> HTMLResponse:
    try:
        _check_csrf(request, csrf)
        kind = NodeKind(type) if type in dict(_REFERRAL_KINDS) else None
        if kind is None:
            raise InvalidInput("type", "type de ressource inconnu.")
        await svc(
            service.record_referral,
            key,
            NodeRef(kind, ressource.strip()),
            date=date_ or date.today().isoformat(),
            outcome=issue,
            next_action_on=relance.strip() or None,
        )
    except Forbidden as err:
        return _error_page(request, err)
    except NotFound as err:
        if "Situation" in err.message:
            return _error_page(request, err)
        return await _situation_page(request, svc, key, error=err.message, status=400)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return await _situation_page(request, svc, key, error=err.message, status=400)
    return await _situation_page(request, svc, key, message="Orientation enregistrée (proposée).")


@router.post("/situations/{key}/orientation/{referral}/statut", response_class=HTMLResponse)
async def change_referral(
    request: Request,
    svc: Service,
    key: str,
    referral: str,
    statut: str = Form(""),
    date_: str = Form("", alias="date"),
    motif: str = Form(""),
    relance: str = Form(""),
    csrf: str = Form(""),
) -> HTMLResponse:
    try:
        _check_csrf(request, csrf)
        view = await svc(
            service.update_referral,
            key,
            referral,
            status=statut,
            date=date_ or date.today().isoformat(),
            reason=motif or None,
            next_action_on=relance.strip() or None,
        )
    except (Forbidden, NotFound) as err:
        if isinstance(err, NotFound) and "Orientation" in err.message:
            return await _situation_page(request, svc, key, error=err.message, status=400)
        return _error_page(request, err)
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return await _situation_page(
            request, svc, key, error=err.message, status=err.status if err.status == 409 else 400
        )
    label = next((r.status_label for r in view.referrals if r.id == referral), statut)
    return await _situation_page(request, svc, key, message=f"Orientation passée à « {label} ».")


# -- transition radar ------------------------------------------------------------------
RADAR_CRITERIA = [(code, c.label) for code, c in CRITERIA.items()] + [
    (radar_.OTHER, "Autre combinaison (hors D312-194)")
]


def _radar_form(request: Request) -> dict[str, Any]:
    q = request.query_params
    return {
        "niveau": q.get("niveau", "DEPARTMENT"),
        "seuil": q.get("seuil", "60"),
        "critere": q.get("critere", ""),
        "horizon": q.get("horizon", "3"),
        "commune": q.get("commune", ""),
        "d": set(q.getlist("d")),
        "places": q.get("places", ""),
    }


async def _radar(request: Request, svc: BoundService, form: dict[str, Any]) -> tuple[Any, Any, str | None]:
    """The radar asked by the form, and the what-if's when a service is proposed."""
    try:
        options = {
            "level": form["niveau"],
            "threshold_km": _km(form["seuil"] or "60", "seuil"),
            "criterion": form["critere"] or None,
        }
        found = await svc(service.transition_radar, **options)
        after = None
        if form["commune"].strip():
            if not form["d"]:
                raise InvalidInput("deficiences", "cochez les déficiences que le service accompagnerait.")
            places = form["places"].strip()
            if places and not places.isdigit():
                raise InvalidInput("places", "le nombre de places est un nombre entier.")
            hypothesis = radar_.Hypothesis(
                await svc.read(commune_code, form["commune"], "commune"),
                sorted(form["d"]),
                int(places) if places else None,
            )
            after = await svc(service.transition_radar, hypotheses=[hypothesis], **options)
        return found, after, None
    except ServiceError:
        raise  # the site's 503 page (api.security.Guard)
    except DihrError as err:
        return None, None, err.message


@router.get("/transition", response_class=HTMLResponse)
async def transition_page(request: Request, svc: Service) -> HTMLResponse:
    """The transition radar: who will need an adult place, where, when (see graph/transition.py)."""
    form = _radar_form(request)
    found, after, error = await _radar(request, svc, form)
    changed = []
    if found is not None and after is not None:
        changed = [
            (b, a)
            for b, a in zip(found.territories, after.territories, strict=True)
            if b.deficit != a.deficit
        ]
    query = urlencode(
        [("level", form["niveau"]), ("threshold_km", form["seuil"] or "60")]
        + ([("criterion", form["critere"])] if form["critere"] else [])
    )
    return render(
        request,
        "transition.html",
        "Radar de la transition vers l'âge adulte",
        400 if error else 200,
        form=form,
        radar=found,
        after=after,
        changed=changed,
        error=error,
        levels=LEVELS,
        criteria=RADAR_CRITERIA,
        horizons=radar_.HORIZONS,
        families=_families(),
        export_query=query,
        can_simulate=svc.principal.role is not Role.PARTNER,
    )


@public_router.get("/aide", response_class=HTMLResponse)
async def help_page(request: Request) -> HTMLResponse:
    """The French user guide (docs/aide.md), one section per page; readable before signing in."""
    return render(request, "help.html", "Guide d'utilisation", guide=guide_html(), sections=guide_anchors())


@public_router.get("/aide/captures/{name}", include_in_schema=False)
async def help_capture(request: Request, name: str) -> Response:
    """A screenshot of the guide (``docs/screenshots``, taken by the browser tests)."""
    path = GUIDE_CAPTURES / name
    if not re.fullmatch(r"[a-z0-9-]+\.jpg", name) or not path.is_file():
        return _error_page(request, NotFound("Image introuvable."))
    return FileResponse(path, media_type="image/jpeg", headers={"Cache-Control": "public, max-age=3600"})

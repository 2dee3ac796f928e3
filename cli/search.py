"""Search commands: ``qualify``, ``match``, ``coverage``. Each calls the service
layer as the local operator (``graph.access.SYSTEM``, audited like any caller),
as the GraphQL resolvers do; ``--json`` prints the API's result types."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from cli._common import JsonOpt, emit_json, friendly, new_app, opened
from graph import rare, service
from graph.access import SYSTEM
from graph.explanation import shown_covers
from graph.matching import BASIS_LABELS, LEVEL_LABELS, Match, MatchResult, SituationQuery

app = new_app("Recherche de ressources et couverture.")


@app.command()
@friendly
def qualify(
    deficiencies: Annotated[list[str], typer.Argument(help="Codes de déficience, ex. DV DA.")],
    as_json: JsonOpt = False,
) -> None:
    """Critères D312-194 remplis par une combinaison et CNRHR compétent(s)."""
    q = rare.qualify(deficiencies)
    if as_json:
        payload = {
            "combination": q.combination,
            "matched": q.matched,
            "criteria": [{"code": c.code, "label": c.label, "cnrhr": c.cnrhr} for c in q.criteria],
            "cnrhr": list(q.cnrhr),
            "superseded": list(q.superseded),
            "summary": q.summary,
        }
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    typer.echo(f"Combinaison {q.combination}")
    typer.echo(q.summary)
    if q.cnrhr:
        typer.echo("CNRHR compétent(s) : " + ", ".join(rare.CNRHR_NAMES[c] for c in q.cnrhr))
    elif q.matched:
        typer.echo("Pas de CNRHR dédié : ERHR du territoire et filières de santé maladies rares.")


@app.command()
@friendly
def match(
    deficiencies: Annotated[
        list[str] | None,
        typer.Argument(help="Codes de déficience, ex. DV TSA (facultatifs avec --condition)."),
    ] = None,
    commune: Annotated[str | None, typer.Option(help="Code commune INSEE du lieu de vie.")] = None,
    postcode: Annotated[str | None, typer.Option(help="Code postal du lieu de vie.")] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude WGS84.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude WGS84.")] = None,
    age: Annotated[int | None, typer.Option(help="Âge en années.")] = None,
    condition: Annotated[
        list[str] | None,
        typer.Option(help="Maladie rare : code ORPHA ou nom (répétable), ex. 739, « Usher »."),
    ] = None,
    skill: Annotated[list[str] | None, typer.Option(help="Compétence requise (répétable), ex. CAA.")] = None,
    radius_km: Annotated[float, typer.Option(help="Rayon de recherche en km (1 à 1000).")] = 100.0,
    limit: Annotated[int, typer.Option(help="Nombre de ressources locales (1 à 100).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Ressources compétentes les plus proches pour une situation, classées et expliquées."""
    query = SituationQuery(
        deficiencies=deficiencies or [],
        conditions=condition or [],
        skills=skill or [],
        age=age,
        commune=commune,
        postcode=postcode,
        lat=lat,
        lon=lon,
        radius_km=radius_km,
        limit=limit,
    )
    with opened() as (_settings, store):
        result = service.find_resources(store, SYSTEM, query)
    if as_json:
        from api.types import match_result_wire

        emit_json(match_result_wire(result))
        return
    _print_matches(result)


def _print_matches(r: MatchResult) -> None:
    place = r.place
    typer.echo(f"Combinaison {r.combination} — {place.commune_name} ({place.commune})")
    typer.echo(r.qualification.summary)
    typer.echo(f"ERHR du territoire : {r.erhr.name}" + (f" ({r.erhr.seat})" if r.erhr.seat else ""))
    for inferred in r.inferred:
        typer.echo(f"Déduit : {inferred.text}")
    for possible in r.possible:
        typer.echo(possible.text[:1].upper() + possible.text[1:])
    for note in r.notes:
        typer.echo(f"Note : {note}")
    if r.widening:
        typer.echo(f"Élargissement : {r.widening.message}")
    headings = {
        "referent": "Référents à appeler",
        "within": f"Dans le rayon de {r.radius_km:g} km",
        "beyond": "Au-delà du rayon",
        "next": "Pour préparer la suite (services pour adultes)",
    }
    for group, heading in headings.items():
        rows = [m for m in r.matches if m.group == group]
        if rows:
            typer.echo(f"— {heading} —")
        for m in rows:
            _print_match(m)
    for i, team in enumerate(r.teams, start=1):
        names = " + ".join(f"{m.name} ({m.distance_km:.0f} km)" for m in team.members)
        typer.echo(f"Équipe {i} : {names}")


def _print_match(m: Match) -> None:
    flag = " [synthétique]" if m.synthetic else ""
    where = "" if m.within_radius else " (hors rayon)"
    distance = (
        "lieu non renseigné"
        if m.distance_km is None
        else "intervient dans la commune de la personne (zone d'intervention FINESS)"
        if m.location_source == "zone_intervention"
        else f"{m.distance_km:.0f} km, hors du continent : contact à distance"
        if m.minutes is None
        else f"{m.distance_km:.0f} km, ~{m.minutes:.0f} min"
    )
    rank = "  ★" if m.group == "referent" else f"{m.rank:>3}."  # the referents head the list, unranked
    typer.echo(
        f"{rank} [{LEVEL_LABELS[m.level.value]}] {m.name}{flag} — {distance}{where} — "
        f"{BASIS_LABELS[m.basis.value]}"
    )
    contact = m.contact
    line = ", ".join(v for v in (contact.address, contact.phone, contact.email) if v) if contact else ""
    if line:
        typer.echo(f"       ☎ {line}")
    for c in shown_covers(m.covers):
        typer.echo(f"       ✓ {c.text or c.path}")
    if m.misses:
        typer.echo(f"       ✗ manque : {', '.join(m.misses)}")


@app.command()
@friendly
def coverage(
    deficiencies: Annotated[list[str], typer.Argument(help="Codes de déficience, ex. DV TSA.")],
    level: Annotated[str, typer.Option(help="department, region ou erhr.")] = "department",
    threshold_km: Annotated[float, typer.Option(help="Seuil de distance (km).")] = 60.0,
    age: Annotated[int | None, typer.Option(help="Âge (années), ex. 18 pour la transition.")] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Sortie CSV (comme l'export REST).")] = False,
    separately: Annotated[
        bool,
        typer.Option(
            "--separement",
            help="Compter aussi l'accueil de chaque déficience séparément et les structures "
            "généralistes (CAMSP).",
        ),
    ] = False,
) -> None:
    """Couverture territoriale d'une combinaison : distance à la ressource compétente la plus proche."""
    with opened() as (_settings, store):
        result = service.coverage(
            store,
            SYSTEM,
            deficiencies,
            level=level,
            threshold_km=threshold_km,
            age=age,
            separately=separately,
        )
    if as_json:
        from api.types import coverage_wire

        emit_json(coverage_wire(result))
        return
    if as_csv:
        from api.exports import coverage_csv

        typer.echo(coverage_csv(result), nl=False)
        return
    n = result.national
    if result.population_group:
        typer.echo(f"Population comptée : les {result.population_group} (INSEE 2021 par département).")
    if result.no_data:
        typer.echo(
            f"Pas de donnée : aucune source n'établit de compétence locale pour {result.combination} "
            "(annuaire, nom FINESS, clientèle) ; les territoires ne sont pas dits « zone blanche »."
        )
    typer.echo(
        f"Combinaison {result.combination} — {len(result.territories)} territoires ({result.level.value}) ; "
        f"seuil {result.threshold_km:g} km."
    )
    typer.echo(
        f"France : {n.resources} ressources compétentes ; {n.share_beyond[result.threshold_km]:.1%} de la "
        f"population au-delà du seuil ; {n.open_situations} situations ouvertes dont {n.without_solution} sans solution."
    )
    worst = sorted(result.territories, key=lambda t: (-t.share_beyond[result.threshold_km], t.code))[:15]
    for t in worst:
        mean = "—" if t.mean_km is None else f"{t.mean_km:.0f} km"
        blanche = " [pas de donnée]" if t.no_data else " [zone blanche]" if t.zone_blanche else ""
        if t.population_unreachable:
            blanche += f" ; {t.population_unreachable:,} hab. sans ressource sur leur terre".replace(",", " ")
        typer.echo(
            f"  {t.code:<6} {t.name[:32]:<32} {t.share_beyond[result.threshold_km]:>7.1%} au-delà, "
            f"moyenne {mean}, {t.resources} ressource(s){blanche}"
        )

"""The ``dihr`` command line (Typer). Each command calls the same domain
function as the API; a :class:`graph.errors.DihrError` prints one French line
on stderr and exits with status 1, never a traceback."""

from __future__ import annotations

import atexit
import functools
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from graph import rare
from graph.errors import DihrError
from graph.model import NodeKind
from graph.settings import Settings
from graph.store import GraphStore
from graph.stores import open_store

__all__ = ["app"]

app = typer.Typer(
    name="dihr",
    help="dihr-graph : réseau et ressources du dispositif intégré handicaps rares.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
F = TypeVar("F", bound=Callable[..., Any])


def _friendly(fn: F) -> F:
    """Turn expected errors into one line on stderr and exit status 1."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except DihrError as err:
            typer.echo(f"Erreur : {err.message}", err=True)
            raise typer.Exit(1) from None
        except ValueError as err:  # pydantic settings validation
            typer.echo(f"Erreur de configuration : {err}", err=True)
            raise typer.Exit(2) from None

    return wrapper  # type: ignore[return-value]


def _store() -> tuple[Settings, GraphStore]:
    settings = Settings()
    return settings, open_store(settings)


JsonOpt = Annotated[bool, typer.Option("--json", help="Sortie JSON.")]


@app.command()
@_friendly
def init(
    if_needed: Annotated[
        bool, typer.Option("--if-needed", help="Ne rien faire si le référentiel est déjà chargé.")
    ] = False,
) -> None:
    """Charge les données de référence (géographie, vocabulaires, réseau DIHR). Idempotent."""
    from graph.model import NodeKind
    from importers.reference import init_reference, reference_is_loaded

    settings, store = _store()
    try:
        if if_needed and reference_is_loaded(store):
            counts = store.count_nodes()
            typer.echo(f"Référentiel déjà chargé ({counts.get(NodeKind.COMMUNE, 0)} communes).")
            return
        report = init_reference(store, settings, progress=lambda msg: typer.echo(msg, err=True))
    finally:
        store.close()
    s = report.summary
    typer.echo(
        f"Référentiel prêt : {report.communes} communes, {report.departments} départements, "
        f"{report.regions} régions, {report.erhr} ERHR ; population {report.population:,} "
        f"({report.population_source}).".replace(",", " ")
    )
    typer.echo(
        f"Nœuds : {s.nodes_created} créés, {s.nodes_updated} mis à jour, {s.nodes_unchanged} inchangés ; "
        f"relations : {s.edges_created} créées, {s.edges_updated} mises à jour, {s.edges_unchanged} inchangées."
    )
    for note in report.notes:
        typer.echo(f"Note : {note}")


@app.command()
@_friendly
def stats(as_json: JsonOpt = False) -> None:
    """Nombre de nœuds par type et de relations par type."""
    from graph import journal

    _, store = _store()
    try:
        nodes = {k.value: v for k, v in sorted(store.count_nodes().items())}
        edges = {k.value: v for k, v in sorted(store.count_edges().items())}
        last = journal.last_by_source(store)
        register = {"ouverts": 0, "fermes": 0, "au_centre_de_la_commune": 0}
        for node in store.nodes(NodeKind.ESTABLISHMENT):
            register["fermes" if node.props.get("closed") else "ouverts"] += 1
            register["au_centre_de_la_commune"] += node.props.get("location_source") in ("centroide_commune", "commune_centroid")
    finally:
        store.close()
    imports = {source: {"file": r.file, "status": r.status, "extraction_date": r.extraction_date,
                        "started_at": r.started_at} for source, r in sorted(last.items())}
    if as_json:
        typer.echo(json.dumps({"nodes": nodes, "relationships": edges, "last_imports": imports,
                               "establishments": register},
                              ensure_ascii=False, indent=2))
        return
    typer.echo(f"Établissements : {register['ouverts']} ouverts, {register['fermes']} fermés, "
               f"{register['au_centre_de_la_commune']} placés au centre de leur commune.")
    for source, r in sorted(last.items()):
        typer.echo(f"Dernier import {source} : {r.file} ({r.status}, extraction {r.extraction_date or '—'}, "
                   f"le {r.started_at[:10]})")
    typer.echo("Nœuds :")
    for name, count in nodes.items():
        typer.echo(f"  {name:<16} {count:>8}")
    typer.echo("Relations :")
    for name, count in edges.items():
        typer.echo(f"  {name:<20} {count:>8}")


@app.command()
@_friendly
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


def _graphql(query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Run a GraphQL document in-process, exactly as the HTTP API would."""
    import asyncio

    from api.schema import Context, schema
    from graph.access import SYSTEM

    settings, store = _store()
    try:
        result = asyncio.run(
            schema.execute(query, variable_values=variables, context_value=Context(store, settings, SYSTEM))
        )
    finally:
        store.close()
    if result.errors:
        raise _GraphQLFailure(result.errors[0].message)
    assert result.data is not None
    return result.data


class _GraphQLFailure(DihrError):
    code = "GRAPHQL_ERROR"


@app.command()
@_friendly
def demo(
    if_needed: Annotated[
        bool, typer.Option("--if-needed", help="Ne rien faire si le réseau de démonstration est déjà chargé.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Graine du générateur (même graine, même réseau).")] = 2026,
) -> None:
    """Charge un réseau de démonstration SYNTHÉTIQUE (établissements, professionnels, situations)."""
    from importers.demo import demo_is_loaded, generate_demo

    _, store = _store()
    try:
        if if_needed and demo_is_loaded(store):
            typer.echo("Réseau de démonstration (synthétique) déjà chargé.")
            return
        report = generate_demo(store, seed=seed)
    finally:
        store.close()
    typer.echo(
        f"Réseau de démonstration SYNTHÉTIQUE : {report.establishments} établissements, "
        f"{report.professionals} professionnels, {report.poles} pôles ressources, "
        f"{report.situations} situations ({report.summary.nodes_created} nœuds créés)."
    )


@app.command()
@_friendly
def match(
    deficiencies: Annotated[
        list[str] | None, typer.Argument(help="Codes de déficience, ex. DV TSA (facultatifs avec --condition).")
    ] = None,
    commune: Annotated[str | None, typer.Option(help="Code commune INSEE du lieu de vie.")] = None,
    postcode: Annotated[str | None, typer.Option(help="Code postal du lieu de vie.")] = None,
    lat: Annotated[float | None, typer.Option(help="Latitude WGS84.")] = None,
    lon: Annotated[float | None, typer.Option(help="Longitude WGS84.")] = None,
    age: Annotated[int | None, typer.Option(help="Âge en années.")] = None,
    condition: Annotated[
        list[str] | None, typer.Option(help="Maladie rare : code ORPHA ou nom (répétable), ex. 739, « Usher ».")
    ] = None,
    skill: Annotated[list[str] | None, typer.Option(help="Compétence requise (répétable), ex. CAA.")] = None,
    radius_km: Annotated[float, typer.Option(help="Rayon de recherche en km (1 à 1000).")] = 100.0,
    limit: Annotated[int, typer.Option(help="Nombre de ressources locales (1 à 100).")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Ressources compétentes les plus proches pour une situation, classées et expliquées."""
    from api.queries import FIND_RESOURCES_QUERY

    situation: dict[str, Any] = {
        "deficiencies": deficiencies or [],
        "conditions": condition or [],
        "skills": skill or [],
        "age": age,
        "commune": commune,
        "postcode": postcode,
        "lat": lat,
        "lon": lon,
        "radiusKm": radius_km,
    }
    data = _graphql(FIND_RESOURCES_QUERY, {"situation": situation, "limit": limit})["findResources"]
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    place = data["place"]
    typer.echo(f"Combinaison {data['combination']} — {place['communeName']} ({place['commune']})")
    typer.echo(data["qualification"]["summary"])
    erhr = data["erhr"]
    typer.echo(f"ERHR du territoire : {erhr['name']}" + (f" ({erhr['seat']})" if erhr["seat"] else ""))
    for inferred in data["inferred"]:
        typer.echo(f"Déduit : {inferred['explanation']}")
    for note in data["notes"]:
        typer.echo(f"Note : {note}")
    if data["widening"]:
        typer.echo(f"Élargissement : {data['widening']['message']}")
    for m in data["matches"]:
        flag = " [synthétique]" if m["synthetic"] else ""
        where = "" if m["withinRadius"] else " (hors rayon)"
        distance = "lieu non renseigné" if m["distanceKm"] is None else f"{m['distanceKm']:.0f} km, ~{m['minutes']:.0f} min"
        typer.echo(f"{m['rank']:>3}. [{m['level']}] {m['name']}{flag} — {distance}{where} — {m['basis']}")
        contact = m["contact"] or {}
        line = ", ".join(v for v in (contact.get("address"), contact.get("phone"), contact.get("email")) if v)
        if line:
            typer.echo(f"       ☎ {line}")
        for c in m["covers"]:
            typer.echo(f"       ✓ {c['explanation']}")
        if m["misses"]:
            typer.echo(f"       ✗ manque : {', '.join(m['misses'])}")
    for i, team in enumerate(data["teams"], start=1):
        names = " + ".join(f"{m['name']} ({m['distanceKm']:.0f} km)" for m in team["members"])
        typer.echo(f"Équipe {i} : {names}")


import_app = typer.Typer(help="Importe des fichiers (FINESS, annuaires, situations).", no_args_is_help=True)
app.add_typer(import_app, name="import")

FileArg = Annotated[Path, typer.Argument(help="Fichier à importer.", exists=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Valider et produire le rapport sans rien écrire.")]


def _finish_import(report: Any, settings: Settings) -> None:
    from importers._files import write_report

    if report.rejected or report.flagged:
        write_report(report, settings.data_dir / "rapports")
    for line in report.summary_lines():
        typer.echo(line)


@import_app.command("finess")
@_friendly
def import_finess_cmd(
    file: FileArg,
    all_categories: Annotated[
        bool, typer.Option("--all-categories", help="Garder toutes les catégories (pas seulement le handicap).")
    ] = False,
    dry_run: DryRun = False,
    accept_closures: Annotated[
        int | None,
        typer.Option("--accept-closures", help="Accepter ce nombre exact de fermetures (au-delà de 2 % du registre)."),
    ] = None,
) -> None:
    """Extraction FINESS des établissements (etalab-cs1100507-stock-*.csv)."""
    from importers.finess import load_finess, parse_finess

    def run(store: GraphStore) -> Any:
        parsed = parse_finess(file)  # the whole file is checked before any write
        with typer.progressbar(length=len(parsed.records), label="Import FINESS", file=sys.stderr) as bar:
            return load_finess(store, parsed, all_categories=all_categories, dry_run=dry_run,
                               accept_closures=accept_closures, progress=bar.update), parsed.extraction_date

    _journaled("finess", file, dry_run, run)


def _journaled(source: str, file: Path, dry_run: bool, run: Callable[[GraphStore], tuple[Any, str | None]]) -> None:
    """Run one import under the journal (graph/journal.py): « en cours » before
    the first write, then « complet », « simulation » or « refusé »."""
    from graph import journal

    if not file.is_file():
        raise DihrError(f"Fichier introuvable : {file}.")
    digest = journal.sha256_of(file)
    settings, store = _store()
    try:
        key = journal.begin(store, source, file, sha256=digest)
        try:
            report, extraction = run(store)
        except DihrError as err:
            journal.finish(store, key, journal.REFUSED, message=err.message)
            raise
        except BaseException:  # Ctrl-C, a crash: the run stops here, and says so
            journal.finish(store, key, journal.INTERRUPTED, message="Import arrêté avant la fin.")
            raise
        counts = {"lus": report.read, "crees": report.created, "mis_a_jour": report.updated,
                  "inchanges": report.unchanged, "hors_champ": report.skipped, "fermes": report.closed,
                  "rejetes": len(report.rejected), "signales": len(report.flagged)}
        journal.finish(store, key, journal.DRY_RUN if dry_run else journal.COMPLETE, counts=counts,
                       extraction_date=extraction)
    finally:
        store.close()
    _finish_import(report, settings)


def _run_import(label: str, fn: Callable[..., Any], file: Path, dry_run: bool, source: str) -> None:
    def run(store: GraphStore) -> tuple[Any, str | None]:
        with typer.progressbar(length=1, label=label, file=sys.stderr) as bar:
            return fn(store, file, dry_run=dry_run, progress=lambda _n: bar.update(1)), None

    _journaled(source, file, dry_run, run)


@import_app.command("finess-equipements")
@_friendly
def import_equipements_cmd(file: FileArg, dry_run: DryRun = False) -> None:
    """Extraction FINESS des équipements (clientèles : déficiences accueillies, âges, places)."""
    from importers.equipements import import_equipements

    _run_import("Import des clientèles", import_equipements, file, dry_run, "finess-equipements")


@import_app.command("directory")
@_friendly
def import_directory_cmd(file: FileArg, dry_run: DryRun = False) -> None:
    """Annuaire CSV ou XLSX des professionnels et pôles ressources (voir `dihr template directory`)."""
    from importers.directory import import_directory

    _run_import("Import de l'annuaire", import_directory, file, dry_run, "annuaire")


@import_app.command("situations")
@_friendly
def import_situations_cmd(file: FileArg, dry_run: DryRun = False) -> None:
    """Situations pseudonymisées (CSV ou XLSX) ; toute colonne identifiante refuse le fichier."""
    from importers.situations import import_situations

    _run_import("Import des situations", import_situations, file, dry_run, "situations")


@app.command("imports")
@_friendly
def imports_cmd(as_json: JsonOpt = False) -> None:
    """Journal des imports : fichier, empreinte SHA-256, date d'extraction, comptes, statut."""
    from dataclasses import asdict

    from graph import journal

    _settings, store = _store()
    try:
        journal.mark_interrupted(store)
        found = journal.runs(store)
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps([asdict(r) for r in found], ensure_ascii=False, indent=2))
        return
    if not found:
        typer.echo("Aucun import n'a encore été fait.")
    for r in found:
        counts = ", ".join(f"{k} {v}" for k, v in r.counts.items())
        typer.echo(f"{r.started_at}  {r.source:<18} {r.status:<10} {r.file} (extraction {r.extraction_date or '—'}, "
                   f"SHA-256 {r.sha256[:12]}…){' — ' + counts if counts else ''}{' — ' + r.message if r.message else ''}")


def _server_pid(settings: Settings) -> int | None:
    """The pid of a `dihr serve` holding the data directory, if one runs."""
    pid_file = settings.data_dir / SERVE_PID
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


SERVE_PID = "serve.pid"
_RESTORE_HINT = ("Restaurez la dernière sauvegarde : `dihr restore FICHIER` (serveur arrêté), "
                 "puis `dihr check`.")


@app.command("backup")
@_friendly
def backup_cmd(
    file: Annotated[Path, typer.Argument(help="Fichier de sauvegarde à écrire.")],
    portable: Annotated[bool, typer.Option("--portable", help="Export JSON lines, restaurable dans l'un ou l'autre stockage.")] = False,
) -> None:
    """Sauvegarde cohérente du registre, même pendant que le serveur sert."""
    from graph import integrity
    from graph.stores.memory import MemoryStore, sqlite_backup

    _settings, store = _store()
    try:
        if isinstance(store, MemoryStore) and not portable:
            sqlite_backup(store.path, file)
            typer.echo(f"Sauvegarde SQLite écrite : {file} ({file.stat().st_size // 1024} Kio).")
            return
        partial = file.with_name(file.name + ".partiel")
        with partial.open("w", encoding="utf-8") as out:
            counts = integrity.dump(store, out)
        partial.replace(file)
        typer.echo(f"Export portable écrit : {file} ({counts['nodes']} nœuds, {counts['edges']} relations).")
    finally:
        store.close()


@app.command("check")
@_friendly
def check_cmd() -> None:
    """Vérifie le fichier de la base (SQLite) et les invariants du graphe."""
    from graph import integrity, journal
    from graph.stores.memory import DB_FILENAME, sqlite_check

    settings = Settings()
    if not settings.neo4j_uri:
        problems = sqlite_check(settings.data_dir / DB_FILENAME)
        if problems:
            typer.echo(f"Erreur : la base {settings.data_dir / DB_FILENAME} est abîmée : {'; '.join(problems[:5])}. "
                       + _RESTORE_HINT, err=True)
            raise typer.Exit(1)
    _settings, store = _store()
    try:
        journal.mark_interrupted(store)
        report = integrity.check_graph(store)
        interrupted = [r for r in journal.runs(store) if r.status == journal.INTERRUPTED]
    finally:
        store.close()
    checked = ", ".join(f"{v} {k}" for k, v in report.checked.items())
    if not report.ok:
        for problem in report.problems:
            typer.echo(f"Erreur : {problem}", err=True)
        raise typer.Exit(1)
    typer.echo(f"Registre cohérent ({checked}).")
    if interrupted:
        typer.echo(f"Note : {len(interrupted)} import(s) interrompu(s) au journal (`dihr imports`) : relancez-les.")


@app.command("restore")
@_friendly
def restore_cmd(
    file: Annotated[Path, typer.Argument(help="Sauvegarde (SQLite de `dihr backup`, ou export portable).")],
) -> None:
    """Restaure une sauvegarde ; refuse tant qu'un serveur tient le registre."""
    import shutil

    from graph import integrity
    from graph.stores.memory import DB_FILENAME, MemoryStore, sqlite_check

    settings = Settings()
    if not file.is_file():
        raise DihrError(f"Sauvegarde introuvable : {file}.")
    pid = _server_pid(settings)
    if pid is not None:
        raise DihrError(f"Un serveur (processus {pid}) utilise le registre {settings.data_dir} : arrêtez-le avant "
                        "de restaurer.")
    is_sqlite = file.read_bytes()[:16] == b"SQLite format 3\x00"
    if settings.neo4j_uri:
        if is_sqlite:
            raise DihrError("Une sauvegarde SQLite ne se restaure que dans le stockage embarqué : "
                            "utilisez un export portable (`dihr backup --portable`).")
        store = open_store(settings)
        try:
            if any(n for k, n in store.count_nodes().items()):
                raise DihrError("Le serveur Bolt contient déjà un registre : restaurez dans un espace vide.")
            counts = integrity.load_dump(store, file)
        finally:
            store.close()
        typer.echo(f"Restauré : {counts['nodes']} nœuds, {counts['edges']} relations.")
        return
    live = settings.data_dir / DB_FILENAME
    staging = settings.data_dir / "restauration"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        if is_sqlite:
            problems = sqlite_check(file)
            if problems:
                raise DihrError(f"La sauvegarde {file.name} est elle-même abîmée : {'; '.join(problems[:3])}. "
                                "Rien n'a été restauré.")
            shutil.copyfile(file, staging / DB_FILENAME)
        else:
            restored = MemoryStore(staging)
            try:
                integrity.load_dump(restored, file)
            finally:
                restored.close()
        for suffix in ("-wal", "-shm"):
            (settings.data_dir / (DB_FILENAME + suffix)).unlink(missing_ok=True)
        (staging / DB_FILENAME).replace(live)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    typer.echo(f"Registre restauré depuis {file.name} : lancez `dihr check`.")


template_app = typer.Typer(help="Écrit des modèles de fichiers à remplir.", no_args_is_help=True)
app.add_typer(template_app, name="template")


@template_app.command("directory")
@_friendly
def template_directory(
    output: Annotated[Path, typer.Option("-o", "--output", help="Fichier à écrire (.csv ou .xlsx).")] = Path(
        "modele-annuaire.csv"
    ),
) -> None:
    """Écrit un modèle d'annuaire vide (colonnes en français)."""
    from importers.directory import write_directory_template

    typer.echo(f"Modèle écrit : {write_directory_template(output)}")


@app.command()
@_friendly
def coverage(
    deficiencies: Annotated[
        list[str] | None, typer.Argument(help="Codes de déficience, ex. DV TSA (facultatifs avec --condition).")
    ] = None,
    level: Annotated[str, typer.Option(help="department, region ou erhr.")] = "department",
    threshold_km: Annotated[float, typer.Option(help="Seuil de distance (km).")] = 60.0,
    age: Annotated[int | None, typer.Option(help="Âge (années), ex. 18 pour la transition.")] = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Sortie CSV (comme l'export REST).")] = False,
) -> None:
    """Couverture territoriale d'une combinaison : distance à la ressource compétente la plus proche."""
    from api.queries import COVERAGE_QUERY

    if as_json:
        variables = {"deficiencies": deficiencies, "level": level.upper(), "thresholdKm": threshold_km, "age": age}
        typer.echo(json.dumps(_graphql(COVERAGE_QUERY, variables)["coverage"], ensure_ascii=False, indent=2))
        return
    from api.exports import coverage_csv
    from graph import coverage as cov

    _, store = _store()
    try:
        result = cov.coverage(store, deficiencies, level=level, threshold_km=threshold_km, age=age)
    finally:
        store.close()
    if as_csv:
        typer.echo(coverage_csv(result), nl=False)
        return
    n = result.national
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
        blanche = " [zone blanche]" if t.zone_blanche else ""
        typer.echo(
            f"  {t.code:<6} {t.name[:32]:<32} {t.share_beyond[result.threshold_km]:>7.1%} au-delà, "
            f"moyenne {mean}, {t.resources} ressource(s){blanche}"
        )


map_app = typer.Typer(help="Écrit des cartes HTML (couverture, zones blanches, situation).", no_args_is_help=True)
app.add_typer(map_app, name="map")
OutputOpt = Annotated[Path, typer.Option("-o", "--output", help="Fichier HTML à écrire.")]


def _write_map(output: Path, render: Callable[[GraphStore, Settings], str]) -> None:
    settings, store = _store()
    try:
        text = render(store, settings)
    finally:
        store.close()
    output.write_text(text, encoding="utf-8")
    typer.echo(f"Carte écrite : {output}")


@map_app.command("coverage")
@_friendly
def map_coverage(
    deficiencies: Annotated[list[str], typer.Argument(help="Codes de déficience.")],
    output: OutputOpt = Path("couverture.html"),
    level: Annotated[str, typer.Option(help="department, region ou erhr.")] = "department",
    threshold_km: Annotated[float, typer.Option(help="Seuil (km).")] = 60.0,
    age: Annotated[int | None, typer.Option(help="Âge (années).")] = None,
) -> None:
    """Carte choroplèthe de la couverture d'une combinaison."""
    from api.maps_service import coverage_map_html
    from graph.access import SYSTEM

    _write_map(output, lambda store, settings: coverage_map_html(
        store, settings, SYSTEM, deficiencies, level=level, threshold_km=threshold_km, age=age, served=False))


@map_app.command("gaps")
@_friendly
def map_gaps(
    output: OutputOpt = Path("zones-blanches.html"),
    level: Annotated[str, typer.Option(help="department, region ou erhr.")] = "department",
    threshold_km: Annotated[float, typer.Option(help="Seuil (km).")] = 60.0,
    criterion: Annotated[str | None, typer.Option(help="Critère D312-194 (1 … 5d).")] = None,
) -> None:
    """Carte des zones blanches et des situations sans solution (effectifs)."""
    from api.maps_service import gaps_map_html
    from graph.access import SYSTEM

    _write_map(output, lambda store, settings: gaps_map_html(
        store, settings, SYSTEM, level=level, threshold_km=threshold_km, criterion=criterion, served=False))


@map_app.command("situation")
@_friendly
def map_situation(
    deficiencies: Annotated[list[str], typer.Argument(help="Codes de déficience.")],
    commune: Annotated[str, typer.Option(help="Code commune INSEE du lieu de vie.")],
    output: OutputOpt = Path("situation.html"),
    age: Annotated[int | None, typer.Option(help="Âge (années).")] = None,
    radius_km: Annotated[float, typer.Option(help="Rayon (km).")] = 100.0,
) -> None:
    """Carte d'une recherche : lieu de vie (approximatif), rayon, ERHR, ressources."""
    from api.maps_service import situation_map_html
    from graph.access import SYSTEM
    from graph.matching import SituationQuery

    query = SituationQuery(deficiencies=deficiencies, commune=commune, age=age, radius_km=radius_km)
    _write_map(output, lambda store, settings: situation_map_html(store, settings, SYSTEM, query, served=False))


keys_app = typer.Typer(help="Gère les clés d'API (rôles partner, erhr, gnchr).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")


@keys_app.command("create")
@_friendly
def keys_create(
    role: Annotated[str, typer.Option(help="partner, erhr ou gnchr.")],
    territory: Annotated[str | None, typer.Option(help="Territoire ERHR (rôle erhr), ex. NE.")] = None,
    label: Annotated[str, typer.Option(help="Libellé (à qui la clé est remise).")] = "",
) -> None:
    """Crée une clé ; elle est affichée une seule fois (seule son empreinte est conservée)."""
    from graph.access import create_key

    _, store = _store()
    try:
        info, secret = create_key(store, role, territory=territory, label=label)
    finally:
        store.close()
    typer.echo(f"Clé {info.key_id} ({info.role.value}{' ' + info.territory if info.territory else ''}) créée.")
    typer.echo("Conservez-la maintenant, elle ne sera plus affichée :")
    typer.echo(secret)


@keys_app.command("demo")
@_friendly
def keys_demo() -> None:
    """Crée la clé « gnchr » de démonstration locale (make run) et révoque les précédentes."""
    from graph.access import create_key, list_keys, revoke_key

    _, store = _store()
    try:
        for old in list_keys(store):
            if old.label == _DEMO_LABEL and not old.revoked_at:
                revoke_key(store, old.key_id)
        info, secret = create_key(store, "gnchr", label=_DEMO_LABEL)
    finally:
        store.close()
    typer.echo(f"Clé d'API de démonstration (rôle gnchr, {info.key_id}) — en-tête « Authorization: Bearer … » :")
    typer.echo(secret)


_DEMO_LABEL = "démonstration locale (make run)"


@keys_app.command("list")
@_friendly
def keys_list(as_json: JsonOpt = False) -> None:
    """Liste les clés (jamais leur valeur)."""
    from graph.access import list_keys

    _, store = _store()
    try:
        keys = list_keys(store)
    finally:
        store.close()
    rows = [{"id": k.key_id, "role": k.role.value, "territory": k.territory, "label": k.label,
             "created_at": k.created_at, "revoked_at": k.revoked_at} for k in keys]
    if as_json:
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    for r in rows:
        state = f"révoquée le {r['revoked_at']}" if r["revoked_at"] else "active"
        typer.echo(f"{r['id']}  {r['role']:<8} {r['territory'] or '—':<6} {state:<30} {r['label']}")


@keys_app.command("revoke")
@_friendly
def keys_revoke(key_id: Annotated[str, typer.Argument(help="Identifiant de la clé.")]) -> None:
    """Révoque une clé : elle est refusée dès la requête suivante."""
    from graph.access import revoke_key

    _, store = _store()
    try:
        info = revoke_key(store, key_id)
    finally:
        store.close()
    typer.echo(f"Clé {info.key_id} révoquée ({info.revoked_at}).")


@app.command("audit")
@_friendly
def audit_cmd(
    situation: Annotated[str | None, typer.Option(help="Seulement les accès à cette situation.")] = None,
    key: Annotated[str | None, typer.Option(help="Seulement les accès de cette clé.")] = None,
    since: Annotated[str | None, typer.Option(help="Depuis cette date (AAAA-MM-JJ).")] = None,
    verify: Annotated[bool, typer.Option("--verify", help="Vérifier que le journal n'a pas été modifié (chaînage).")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Journal des lectures et écritures de données de situations, et des demandes d'agrégats."""
    from graph.access import audit_entries, verify_audit

    _, store = _store()
    try:
        if verify:
            check = verify_audit(store)
        else:
            entries = audit_entries(store, situation=situation, key_id=key, since=since)
    finally:
        store.close()
    if verify:
        for problem in check.problems:
            typer.echo(f"✗ {problem}")
        old = f" ; {check.unchained} entrée(s) antérieure(s) au chaînage, non vérifiables" if check.unchained else ""
        if check.problems:
            raise _UsageError(f"Journal d'audit altéré : {len(check.problems)} anomalie(s) sur {check.entries} entrées.")
        typer.echo(f"Journal d'audit intact : {check.entries} entrées, {check.chains} chaîne(s){old}.")
        return
    if as_json:
        typer.echo(json.dumps([{
            "at": e.at, "key_id": e.key_id, "role": e.role, "territory": e.territory, "operation": e.operation,
            "situations": list(e.situations), "origin": e.origin, "count": e.count, "params": dict(e.params),
        } for e in entries], ensure_ascii=False, indent=2))
        return
    for e in entries:
        ids = ", ".join(e.situations[:5]) + (" …" if len(e.situations) > 5 else "")
        asked = " ".join(f"{k}={v}" for k, v in e.params)
        typer.echo(f"{e.at}  {e.key_id:<12} {e.role:<8} {e.territory or '—':<6} {e.operation:<22} {e.origin:<15} {ids}"
                   + (f"  {asked}" if asked else ""))
    typer.echo(f"{len(entries)} entrée(s).")


@app.command()
@_friendly
def migrate() -> None:
    """Applique le schéma Neo4j (contraintes, index ponctuel, index de recherche). Idempotent."""
    settings = Settings()
    if not settings.neo4j_uri:
        typer.echo("Base embarquée : aucun schéma à appliquer (DIHR_NEO4J_URI n'est pas défini).")
        return
    store = open_store(settings)  # opening a Neo4j store applies the schema
    try:
        capabilities = store.capabilities()  # type: ignore[attr-defined]
    finally:
        store.close()
    typer.echo("Schéma Neo4j appliqué (contraintes d'unicité, index de recherche).")
    if capabilities["point_index"]:
        typer.echo("Index ponctuel (POINT) sur la position : présent.")
    else:
        typer.echo("Index ponctuel (POINT) : absent sur ce serveur (ArcadeDB, par exemple). Le service n'en a pas "
                   "besoin (les positions viennent de son modèle de lecture) ; seules vos requêtes Cypher par "
                   "distance seront plus lentes.")


@app.command()
@_friendly
def export(
    to_neo4j: Annotated[
        bool, typer.Option("--to-neo4j", help="Copier la base embarquée vers Neo4j (DIHR_NEO4J_*).")
    ] = False,
) -> None:
    """Copie toute la base embarquée (DIHR_DATA_DIR) dans Neo4j. Idempotent."""
    from graph.stores.memory import MemoryStore
    from graph.stores.neo4j import Neo4jStore
    from graph.transfer import copy_store

    if not to_neo4j:
        raise _UsageError("Précisez la destination : dihr export --to-neo4j.")
    settings = Settings()
    if not settings.neo4j_uri:
        raise _UsageError("DIHR_NEO4J_URI n'est pas défini : indiquez le serveur Neo4j de destination.")
    source = MemoryStore(settings.data_dir)
    target = Neo4jStore.from_settings(settings, namespace=settings.neo4j_namespace)
    try:
        total = sum(source.count_nodes().values()) + sum(source.count_edges().values())
        with typer.progressbar(length=total, label="Export vers Neo4j") as bar:
            report = copy_store(source, target, batch_size=settings.neo4j_batch_size, progress=bar.update)
    finally:
        source.close()
        target.close()
    s = report.summary
    typer.echo(
        f"Nœuds : {s.nodes_created} créés, {s.nodes_updated} mis à jour, {s.nodes_unchanged} inchangés ; "
        f"relations : {s.edges_created} créées, {s.edges_updated} mises à jour, {s.edges_unchanged} inchangées."
    )
    for kind, count in sorted(report.source_nodes.items()):
        typer.echo(f"  {kind.value:<16} source {count:>8}   Neo4j {report.target_nodes.get(kind, 0):>8}")
    for rel, count in sorted(report.source_edges.items()):
        typer.echo(f"  {rel.value:<20} source {count:>8}   Neo4j {report.target_edges.get(rel, 0):>8}")
    if not report.identical_counts:
        raise _UsageError("Neo4j contient moins d'éléments que la source : relancez l'export.")


class _UsageError(DihrError):
    code = "USAGE"


@app.command()
@_friendly
def serve(
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute (DIHR_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (DIHR_PORT).")] = None,
    workers: Annotated[int | None, typer.Option(min=1, max=64, help="Processus web (DIHR_WORKERS ; défaut : nombre de cœurs, 4 au plus).")] = None,
) -> None:
    """Sert l'application web et l'API GraphQL."""
    import uvicorn

    from api.app import create_app

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    count = workers or settings.workers or min(4, os.cpu_count() or 1)
    if not settings.neo4j_uri:
        from graph.stores.memory import DB_FILENAME, sqlite_check

        if (settings.data_dir / DB_FILENAME).exists() and (problems := sqlite_check(settings.data_dir / DB_FILENAME, quick=True)):
            typer.echo(f"Erreur : la base {settings.data_dir / DB_FILENAME} est abîmée ({'; '.join(problems[:3])}) : "
                       "le serveur ne démarre pas. " + _RESTORE_HINT, err=True)
            raise typer.Exit(1)
        try:  # tells `dihr restore` a server holds the store (an unusable folder fails below, in French)
            (settings.data_dir / SERVE_PID).write_text(str(os.getpid()))
            atexit.register(lambda: (settings.data_dir / SERVE_PID).unlink(missing_ok=True))
        except OSError:
            pass
    typer.echo(f"dihr-graph : http://{host}:{port}/ (GraphQL : http://{host}:{port}/graphql), {count} processus")
    sys.stdout.flush()
    if count == 1:
        uvicorn.run(create_app(settings.model_copy(update={"workers": 1})), host=host, port=port, log_level="warning")
        return
    # Each worker process builds its app from the environment (one store per process,
    # kept in step through the SQLite change log; sessions in the data directory).
    os.environ["DIHR_WORKERS"] = str(count)
    from api.workers import WorkerFailed, serve_workers

    try:
        serve_workers(host, port, count)
    except OSError as err:
        raise typer.BadParameter(f"impossible d'écouter sur {host}:{port} ({err.strerror or err}).") from None
    except WorkerFailed as err:
        typer.echo(f"Erreur : {err}", err=True)
        raise typer.Exit(1) from None


if __name__ == "__main__":
    app()

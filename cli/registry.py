"""Commands that load, journal, check, back up and copy the register:
``init``, ``demo``, ``stats``, ``import …``, ``imports``, ``backup``, ``check``,
``restore``, ``template …``, ``migrate``, ``export``."""

from __future__ import annotations

import json
import shutil
import sqlite3
import sys
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from cli._common import RESTORE_HINT, JsonOpt, friendly, new_app, server_pid, store_of
from graph import integrity, journal
from graph.errors import ConflictError, DihrError, DumpError, FileFormatError, NotFound, UsageError
from graph.model import NodeKind
from graph.settings import Settings, load_settings
from graph.snapshot import SNAPSHOT_FILENAME
from graph.store import GraphStore
from graph.stores import open_store
from graph.stores.memory import DB_FILENAME, MemoryStore, sqlite_backup, sqlite_check
from graph.stores.sqlite import SQLiteStore
from graph.transfer import copy_store
from importers._files import write_report
from importers.demo import demo_is_loaded, generate_demo
from importers.directory import import_directory, write_directory_template
from importers.equipements import import_equipements
from importers.fhir import import_fhir
from importers.finess import load_finess, parse_finess
from importers.finess_flows import flow_kind, import_activities
from importers.finess_structures import parse_structures
from importers.network_files import import_knowledge, import_pole_reports
from importers.reference import init_reference, reference_is_loaded
from importers.situations import import_situations

app = new_app("Registre : chargement, imports, sauvegardes, vérifications.")
import_app = new_app("Importe des fichiers (FINESS, annuaires, situations).")
template_app = new_app("Écrit des modèles de fichiers à remplir.")

FileArg = Annotated[Path, typer.Argument(help="Fichier à importer.", exists=False)]
DryRun = Annotated[bool, typer.Option("--dry-run", help="Valider et produire le rapport sans rien écrire.")]


@app.command()
@friendly
def init(
    if_needed: Annotated[
        bool, typer.Option("--if-needed", help="Ne rien faire si le référentiel est déjà chargé.")
    ] = False,
) -> None:
    """Charge les données de référence (géographie, vocabulaires, réseau DIHR). Idempotent."""

    settings, store = store_of()
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


@app.command("qualite")
@friendly
def quality_cmd(
    as_json: JsonOpt = False, top: Annotated[int, typer.Option(help="Départements affichés.")] = 15
) -> None:
    """Où compléter l'annuaire : par département, établissements connus par leur seule catégorie FINESS,
    sans compétence connue, sans téléphone, au centre de leur commune, fermés encore cités."""
    from graph.quality import data_quality

    _, store = store_of()
    try:
        found = data_quality(store)
    finally:
        store.close()
    if as_json:
        typer.echo(
            json.dumps(
                {"national": asdict(found.national), "departments": [asdict(d) for d in found.departments]},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    n = found.national
    typer.echo(
        f"France : {n.establishments} établissements ouverts ; catégorie FINESS seule : {n.category_only} ; "
        f"sans compétence connue : {n.no_competence} ; sans téléphone : {n.without_phone} ; "
        f"au centre de la commune : {n.at_commune_centre} ; fermés encore cités : {n.closed_referenced}."
    )
    for d in found.departments[:top]:
        typer.echo(
            f"  {d.code:<4} {d.name[:28]:<28} {d.establishments:>5} ouverts, {d.category_only:>4} catégorie seule, "
            f"{d.no_competence:>3} sans compétence, {d.without_phone:>3} sans tél., "
            f"{d.closed_referenced:>2} fermés cités"
        )


@app.command()
@friendly
def stats(as_json: JsonOpt = False) -> None:
    """Nombre de nœuds par type et de relations par type."""

    _, store = store_of()
    try:
        nodes = {k.value: v for k, v in sorted(store.count_nodes().items())}
        edges = {k.value: v for k, v in sorted(store.count_edges().items())}
        last = journal.last_by_source(store)
        register = {"ouverts": 0, "fermes": 0, "au_centre_de_la_commune": 0}
        for node in store.nodes(NodeKind.ESTABLISHMENT):
            register["fermes" if node.props.get("closed") else "ouverts"] += 1
            register["au_centre_de_la_commune"] += node.props.get("location_source") in (
                "centroide_commune",
                "commune_centroid",
            )
    finally:
        store.close()
    imports = {
        source: {
            "file": r.file,
            "status": r.status,
            "extraction_date": r.extraction_date,
            "started_at": r.started_at,
        }
        for source, r in sorted(last.items())
    }
    if as_json:
        typer.echo(
            json.dumps(
                {"nodes": nodes, "relationships": edges, "last_imports": imports, "establishments": register},
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    typer.echo(
        f"Établissements : {register['ouverts']} ouverts, {register['fermes']} fermés, "
        f"{register['au_centre_de_la_commune']} placés au centre de leur commune."
    )
    for source, r in sorted(last.items()):
        typer.echo(
            f"Dernier import {source} : {r.file} ({r.status}, extraction {r.extraction_date or '—'}, "
            f"le {r.started_at[:10]})"
        )
    typer.echo("Nœuds :")
    for name, count in nodes.items():
        typer.echo(f"  {name:<16} {count:>8}")
    typer.echo("Relations :")
    for name, count in edges.items():
        typer.echo(f"  {name:<20} {count:>8}")


@app.command()
@friendly
def demo(
    if_needed: Annotated[
        bool, typer.Option("--if-needed", help="Ne rien faire si le réseau de démonstration est déjà chargé.")
    ] = False,
    seed: Annotated[int, typer.Option(help="Graine du générateur (même graine, même réseau).")] = 2026,
) -> None:
    """Charge un réseau de démonstration SYNTHÉTIQUE (établissements, professionnels, situations)."""

    _, store = store_of()
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


def _finish_import(report: Any, settings: Settings) -> None:

    if report.rejected or report.flagged:
        write_report(report, settings.data_dir / "rapports")
    for line in report.summary_lines():
        typer.echo(line)


@import_app.command("finess")
@friendly
def import_finess_cmd(
    file: FileArg,
    all_categories: Annotated[
        bool,
        typer.Option("--all-categories", help="Garder toutes les catégories (pas seulement le handicap)."),
    ] = False,
    dry_run: DryRun = False,
    accept_closures: Annotated[
        int | None,
        typer.Option(
            "--accept-closures", help="Accepter ce nombre exact de fermetures (au-delà de 2 % du registre)."
        ),
    ] = None,
) -> None:
    """Extraction FINESS des établissements (etalab-cs1100507-stock-*.csv), ou flux
    JSON Activités 2026 (publics, âges, modes, places, zones d'intervention)."""
    kind = flow_kind(file) if file.is_file() else None
    if kind == "activites":
        _run_import("Import du flux Activités", import_activities, file, dry_run, "finess-activites")
        return
    if kind not in (None, "structures"):
        raise FileFormatError(
            file,
            0,
            "fichier JSON qui n'est ni un flux FINESS « Structures » ni un flux « Activités » (2026) ; "
            "l'extraction CSV etalab-cs1100507 est aussi acceptée.",
        )

    def run(store: GraphStore) -> Any:
        # the whole file is checked before any write
        parsed = parse_structures(file) if kind == "structures" else parse_finess(file)
        with typer.progressbar(length=len(parsed.records), label="Import FINESS", file=sys.stderr) as bar:
            return load_finess(
                store,
                parsed,
                all_categories=all_categories,
                dry_run=dry_run,
                accept_closures=accept_closures,
                progress=bar.update,
            ), parsed.extraction_date

    _journaled("finess", file, dry_run, run)


def _journaled(
    source: str, file: Path, dry_run: bool, run: Callable[[GraphStore], tuple[Any, str | None]]
) -> None:
    """Run one import under the journal (graph/journal.py): « en cours » before
    the first write, then « complet », « simulation » or « refusé »."""

    if not file.is_file():
        raise NotFound(f"Fichier introuvable : {file}.")
    digest = journal.sha256_of(file)
    settings, store = store_of()
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
        counts = {
            "lus": report.read,
            "crees": report.created,
            "mis_a_jour": report.updated,
            "inchanges": report.unchanged,
            "hors_champ": report.skipped,
            "fermes": report.closed,
            "rejetes": len(report.rejected),
            "signales": len(report.flagged),
        }
        journal.finish(
            store,
            key,
            journal.DRY_RUN if dry_run else journal.COMPLETE,
            counts=counts,
            extraction_date=extraction,
        )
    finally:
        store.close()
    _finish_import(report, settings)


def _run_import(label: str, fn: Callable[..., Any], file: Path, dry_run: bool, source: str) -> None:
    def run(store: GraphStore) -> tuple[Any, str | None]:
        with typer.progressbar(length=1, label=label, file=sys.stderr) as bar:
            return fn(store, file, dry_run=dry_run, progress=lambda _n: bar.update(1)), None

    _journaled(source, file, dry_run, run)


@import_app.command("finess-equipements")
@friendly
def import_equipements_cmd(file: FileArg, dry_run: DryRun = False) -> None:
    """Extraction FINESS des équipements (clientèles : déficiences accueillies, âges, places)."""

    _run_import("Import des clientèles", import_equipements, file, dry_run, "finess-equipements")


@import_app.command("fhir")
@friendly
def import_fhir_cmd(file: FileArg, dry_run: DryRun = False) -> None:
    """Bundle FHIR R4 d'un annuaire (ROR, Annuaire Santé, dihr export fhir) : établissements,
    publics et spécialisations déclarés (source « ror »)."""

    _run_import("Import du Bundle FHIR", import_fhir, file, dry_run, "fhir")


@import_app.command("directory")
@friendly
def import_directory_cmd(file: FileArg, dry_run: DryRun = False) -> None:
    """Annuaire CSV ou XLSX des professionnels et pôles ressources (voir `dihr template directory`)."""

    _run_import("Import de l'annuaire", import_directory, file, dry_run, "annuaire")


@import_app.command("savoirs")
@friendly
def import_knowledge_cmd(file: FileArg, dry_run: DryRun = False) -> None:
    """Savoirs du réseau (CSV ou XLSX) : type, titre, sujets ; résumé, lien, auteur, erhr, disponible."""
    _run_import("Import des savoirs", import_knowledge, file, dry_run, "savoirs")


@import_app.command("activite")
@friendly
def import_pole_reports_cmd(file: FileArg, dry_run: DryRun = False) -> None:
    """Activité des pôles ressources (CSV ou XLSX) : pole, periode, file_active, familles, rendez_vous,
    actions_sensibilisation, etp."""
    _run_import("Import de l'activité des pôles", import_pole_reports, file, dry_run, "activite-poles")


@import_app.command("situations")
@friendly
def import_situations_cmd(file: FileArg, dry_run: DryRun = False) -> None:
    """Situations pseudonymisées (CSV ou XLSX) ; toute colonne identifiante refuse le fichier."""

    _run_import("Import des situations", import_situations, file, dry_run, "situations")


@app.command("imports")
@friendly
def imports_cmd(as_json: JsonOpt = False) -> None:
    """Journal des imports : fichier, empreinte SHA-256, date d'extraction, comptes, statut."""

    _settings, store = store_of()
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
        typer.echo(
            f"{r.started_at}  {r.source:<18} {r.status:<10} {r.file} (extraction {r.extraction_date or '—'}, "
            f"SHA-256 {r.sha256[:12]}…){' — ' + counts if counts else ''}{' — ' + r.message if r.message else ''}"
        )


@app.command("backup")
@friendly
def backup_cmd(
    file: Annotated[Path, typer.Argument(help="Fichier de sauvegarde à écrire.")],
    portable: Annotated[
        bool, typer.Option("--portable", help="Export JSON lines, restaurable dans l'un ou l'autre stockage.")
    ] = False,
) -> None:
    """Sauvegarde cohérente du registre, même pendant que le serveur sert."""

    _settings, store = store_of()
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
@friendly
def check_cmd() -> None:
    """Vérifie le fichier de la base (SQLite) et les invariants du graphe."""

    settings = load_settings()
    if not settings.neo4j_uri:
        problems = sqlite_check(settings.data_dir / DB_FILENAME)
        if problems:
            typer.echo(
                f"Erreur : la base {settings.data_dir / DB_FILENAME} est abîmée : {'; '.join(problems[:5])}. "
                + RESTORE_HINT,
                err=True,
            )
            raise typer.Exit(1)
    _settings, store = store_of()
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
        typer.echo(
            f"Note : {len(interrupted)} import(s) interrompu(s) au journal (`dihr imports`) : relancez-les."
        )


@app.command("restore")
@friendly
def restore_cmd(
    file: Annotated[Path, typer.Argument(help="Sauvegarde (SQLite de `dihr backup`, ou export portable).")],
) -> None:
    """Restaure une sauvegarde ; refuse tant qu'un serveur tient le registre."""

    settings = load_settings()
    if not file.is_file():
        raise NotFound(f"Sauvegarde introuvable : {file}.")
    pid = server_pid(settings)
    if pid is not None:
        raise ConflictError(
            f"Un serveur (processus {pid}) utilise le registre {settings.data_dir} : arrêtez-le avant "
            "de restaurer."
        )
    is_sqlite = file.read_bytes()[:16] == b"SQLite format 3\x00"
    if settings.neo4j_uri:
        if is_sqlite:
            raise UsageError(
                "Une sauvegarde SQLite ne se restaure que dans le stockage embarqué : "
                "utilisez un export portable (`dihr backup --portable`)."
            )
        store = open_store(settings)
        try:
            if any(n for k, n in store.count_nodes().items()):
                raise ConflictError(
                    "Le serveur Bolt contient déjà un registre : restaurez dans un espace vide."
                )
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
                raise DumpError(
                    f"La sauvegarde {file.name} est elle-même abîmée : {'; '.join(problems[:3])}. "
                    "Rien n'a été restauré."
                )
            shutil.copyfile(file, staging / DB_FILENAME)
        else:
            restored = MemoryStore(staging)
            try:
                integrity.load_dump(restored, file)
            finally:
                restored.close()
        for line in _restore_differences(staging, settings.data_dir if live.is_file() else None):
            typer.echo(line)
        for suffix in ("-wal", "-shm"):
            (settings.data_dir / (DB_FILENAME + suffix)).unlink(missing_ok=True)
        # The workers' column snapshot describes the replaced database (it would be
        # recognised as foreign and ignored; removed so that nothing has to).
        (settings.data_dir / SNAPSHOT_FILENAME).unlink(missing_ok=True)
        (staging / DB_FILENAME).replace(live)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    typer.echo(f"Registre restauré depuis {file.name} : lancez `dihr check`.")


def _restore_differences(staging: Path, live_dir: Path | None) -> list[str]:
    """What a restore changes that an administrator must see: API keys added,
    removed or changed against the live registry (a planted key shows here),
    and whether the backup's audit journal is whole and sealed."""
    from graph.access import list_keys, verify_audit

    restored = SQLiteStore(staging)
    try:
        backup_keys = {k.key_id: k for k in list_keys(restored)}
        check = verify_audit(restored)
    finally:
        restored.close()
    lines: list[str] = []
    live_keys: dict[str, Any] | None = None
    if live_dir is not None:
        try:
            current = SQLiteStore(live_dir)
            try:
                live_keys = {k.key_id: k for k in list_keys(current)}
            finally:
                current.close()
        except (DihrError, sqlite3.Error) as err:  # the live registry may be what the restore repairs
            lines.append(
                f"Registre en place illisible ({str(err)[:120]}) : les clés d'API de la sauvegarde "
                f"ne peuvent pas lui être comparées ; vérifiez-les (`dihr keys list`)."
            )
    if live_keys is not None:
        for key_id in sorted(backup_keys.keys() - live_keys.keys()):
            k = backup_keys[key_id]
            lines.append(
                f"⚠ clé d'API {key_id} ({k.role}{', ' + k.territory if k.territory else ''}) présente dans la "
                "sauvegarde mais pas dans le registre en place : vérifiez-la ou révoquez-la (`dihr keys revoke`)."
            )
        for key_id in sorted(live_keys.keys() - backup_keys.keys()):
            lines.append(
                f"⚠ clé d'API {key_id} ({live_keys[key_id].role}) du registre en place absente de la sauvegarde : "
                "elle ne fonctionnera plus."
            )
        for key_id in sorted(backup_keys.keys() & live_keys.keys()):
            a, b = backup_keys[key_id], live_keys[key_id]
            if (a.role, a.territory, bool(a.revoked_at)) != (b.role, b.territory, bool(b.revoked_at)):
                lines.append(
                    f"⚠ clé d'API {key_id} : {b.role}{' révoquée' if b.revoked_at else ''} dans le registre en "
                    f"place, {a.role}{' révoquée' if a.revoked_at else ''} dans la sauvegarde."
                )
    if check.problems:
        lines.append(
            f"⚠ journal d'audit de la sauvegarde altéré ({len(check.problems)} anomalie(s)) : "
            + " ; ".join(check.problems[:3])
        )
    else:
        lines.append(f"Journal d'audit de la sauvegarde intact : {check.entries} entrées.")
    return lines


@template_app.command("directory")
@friendly
def template_directory(
    output: Annotated[Path, typer.Option("-o", "--output", help="Fichier à écrire (.csv ou .xlsx).")] = Path(
        "modele-annuaire.csv"
    ),
) -> None:
    """Écrit un modèle d'annuaire vide (colonnes en français)."""

    typer.echo(f"Modèle écrit : {write_directory_template(output)}")


@app.command()
@friendly
def migrate() -> None:
    """Applique le schéma Neo4j (contraintes, index ponctuel, index de recherche). Idempotent."""
    settings = load_settings()
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
        typer.echo(
            "Index ponctuel (POINT) : absent sur ce serveur (ArcadeDB, par exemple). Le service n'en a pas "
            "besoin (les positions viennent de son modèle de lecture) ; seules vos requêtes Cypher par "
            "distance seront plus lentes."
        )


@app.command()
@friendly
def export(
    format_: Annotated[
        str | None,
        typer.Argument(
            metavar="[fhir]", help="fhir : l'annuaire en Bundle FHIR R4 (format des annuaires nationaux)."
        ),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Fichier du Bundle FHIR (défaut : annuaire.fhir.json)."),
    ] = None,
    to_neo4j: Annotated[
        bool, typer.Option("--to-neo4j", help="Copier la base embarquée vers Neo4j (DIHR_NEO4J_*).")
    ] = False,
) -> None:
    """Copie toute la base embarquée (DIHR_DATA_DIR) dans Neo4j (--to-neo4j, idempotent),
    ou écrit l'annuaire en FHIR R4 (dihr export fhir -o FICHIER)."""
    from graph.stores.neo4j import Neo4jStore

    if format_ is not None:
        if format_.lower() != "fhir":
            raise UsageError(f"Format d'export inconnu « {format_} » : seul « fhir » existe (ou --to-neo4j).")
        from importers.fhir import write_bundle

        target_file = output or Path("annuaire.fhir.json")
        _settings, store = store_of()
        try:
            counts = write_bundle(store, target_file)
        finally:
            store.close()
        typer.echo(
            f"{target_file} : Bundle FHIR R4 validé — "
            + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
            + "."
        )
        return
    if not to_neo4j:
        raise UsageError("Précisez la destination : dihr export fhir -o FICHIER, ou dihr export --to-neo4j.")
    settings = load_settings()
    if not settings.neo4j_uri:
        raise UsageError("DIHR_NEO4J_URI n'est pas défini : indiquez le serveur Neo4j de destination.")
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
        raise UsageError("Neo4j contient moins d'éléments que la source : relancez l'export.")

"""The ``dihr`` command line (Typer). Each command calls the same domain
function as the API; a :class:`graph.errors.DihrError` prints one French line
on stderr and exits with status 1, never a traceback."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from graph import rare
from graph.errors import DihrError
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
    _, store = _store()
    try:
        nodes = {k.value: v for k, v in sorted(store.count_nodes().items())}
        edges = {k.value: v for k, v in sorted(store.count_edges().items())}
    finally:
        store.close()
    if as_json:
        typer.echo(json.dumps({"nodes": nodes, "relationships": edges}, ensure_ascii=False, indent=2))
        return
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


@app.command()
@_friendly
def serve(
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute (DIHR_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (DIHR_PORT).")] = None,
) -> None:
    """Sert l'application web et l'API GraphQL."""
    import uvicorn

    from api.app import create_app

    settings = Settings()
    host = host or settings.host
    port = port or settings.port
    typer.echo(f"dihr-graph : http://{host}:{port}/ (GraphQL : http://{host}:{port}/graphql)")
    sys.stdout.flush()
    uvicorn.run(create_app(settings), host=host, port=port, log_level="warning")


if __name__ == "__main__":
    app()

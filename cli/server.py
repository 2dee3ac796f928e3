"""``dihr serve``: the web application and the GraphQL API."""

from __future__ import annotations

import atexit
import os
import sys
from typing import Annotated

import typer

from cli._common import RESTORE_HINT, SERVE_PID, friendly, new_app
from graph.settings import Settings, load_settings
from graph.stores.memory import DB_FILENAME, sqlite_check

app = new_app("Serveur web.")


@app.command()
@friendly
def serve(
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute (DIHR_HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (DIHR_PORT).")] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, max=64, help="Processus web (DIHR_WORKERS ; défaut : nombre de cœurs, 4 au plus)."
        ),
    ] = None,
) -> None:
    """Sert l'application web et l'API GraphQL."""
    import uvicorn

    from api.app import create_app

    settings = load_settings()
    host = host or settings.host
    port = port or settings.port
    count = workers or settings.workers or min(4, os.cpu_count() or 1)
    if not settings.neo4j_uri:
        if (settings.data_dir / DB_FILENAME).exists() and (
            problems := sqlite_check(settings.data_dir / DB_FILENAME, quick=True)
        ):
            typer.echo(
                f"Erreur : la base {settings.data_dir / DB_FILENAME} est abîmée ({'; '.join(problems[:3])}) : "
                "le serveur ne démarre pas. " + RESTORE_HINT,
                err=True,
            )
            raise typer.Exit(1)
        try:  # tells `dihr restore` a server holds the store (an unusable folder fails below, in French)
            (settings.data_dir / SERVE_PID).write_text(str(os.getpid()))
            atexit.register(lambda: (settings.data_dir / SERVE_PID).unlink(missing_ok=True))
        except OSError:
            pass
    # A large write by another process (an import) is applied to the read models
    # in the background: requests meanwhile answer from the previous revision.
    os.environ["DIHR_BACKGROUND_READ_MODELS"] = "1"
    typer.echo(
        f"dihr-graph : http://{host}:{port}/ (GraphQL : http://{host}:{port}/graphql), {count} processus"
    )
    sys.stdout.flush()
    if count == 1:
        from api.workers import uvicorn_options

        uvicorn.run(
            create_app(settings.model_copy(update={"workers": 1})),
            host=host,
            port=port,
            **uvicorn_options(settings),
        )
        return
    # Each worker process builds its app from the environment (one store per process,
    # kept in step through the SQLite change log; sessions in the data directory).
    os.environ["DIHR_WORKERS"] = str(count)
    _metrics_directory()
    if not settings.neo4j_uri and settings.graph_in_memory is not True:
        _prepare_snapshot(settings)
    from api.workers import WorkerFailed, serve_workers

    try:
        serve_workers(host, port, count)
    except OSError as err:
        raise typer.BadParameter(f"impossible d'écouter sur {host}:{port} ({err.strerror or err}).") from None
    except WorkerFailed as err:
        typer.echo(f"Erreur : {err}", err=True)
        raise typer.Exit(1) from None


def _metrics_directory() -> None:
    """Several workers: each writes its Prometheus figures in one folder that
    ``/metrics`` adds up (prometheus_client's multiprocess mode): a fresh one
    per run, removed when the server stops."""
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="dihr-metrics-")
    atexit.register(lambda: shutil.rmtree(folder, ignore_errors=True))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = folder


def _prepare_snapshot(settings: Settings) -> None:
    """The workers hold no graph: they load the read models' column snapshot
    (graph/snapshot.py). Brought up to date here, once, rather than built by
    every worker at the same time."""
    from graph.readmodel import read_model
    from graph.stores.sqlite import SQLiteStore

    store = SQLiteStore(settings.data_dir)
    try:
        read_model(store).competence  # noqa: B018 - loads, updates or builds, and writes, the snapshot
    finally:
        store.close()

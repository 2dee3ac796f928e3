"""What every command shares: the store of the environment, the CLI's one
translation of the error table, and JSON output of result types."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from strawberry.utils.str_converters import to_camel_case

from graph.errors import DihrError, InternalError
from graph.settings import Settings, load_settings
from graph.store import GraphStore
from graph.stores import open_store

__all__ = [
    "JsonOpt",
    "SERVE_PID",
    "RESTORE_HINT",
    "friendly",
    "opened",
    "emit_json",
    "jsonable",
    "server_pid",
    "new_app",
    "store_of",
]

F = TypeVar("F", bound=Callable[..., Any])
JsonOpt = Annotated[bool, typer.Option("--json", help="Sortie JSON.")]
SERVE_PID = "serve.pid"
RESTORE_HINT = (
    "Restaurez la dernière sauvegarde : `dihr restore FICHIER` (serveur arrêté), puis `dihr check`."
)


def new_app(help_text: str, **options: Any) -> typer.Typer:
    return typer.Typer(
        help=help_text, no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False, **options
    )


def _wants_json() -> bool:
    return "--json" in sys.argv[1:]


def friendly(fn: F) -> F:
    """The CLI's translation of the error table (``graph.errors``): one French
    line on stderr (and, with ``--json``, ``{"code", "message"}`` on stdout),
    exit with the error's exit code; never a traceback. Anything that is not a
    DihrError is a bug: masked the same way, the traceback kept for the log
    only when ``DIHR_DEBUG`` is set."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort, typer.BadParameter, KeyboardInterrupt):
            raise
        except BrokenPipeError:  # the reader left (`dihr match … | head`): stop quietly, as Unix tools do
            with contextlib.suppress(OSError, ValueError):  # Python would report the pipe again at exit
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise typer.Exit(1) from None
        except DihrError as err:
            _report(err, kwargs.get("as_json", False))
            raise typer.Exit(err.exit_code) from None
        except Exception as exc:  # noqa: BLE001 — a bug: a reference to quote, not a traceback
            import uuid

            err = InternalError(uuid.uuid4().hex[:12])
            if os.environ.get("DIHR_DEBUG"):
                import traceback

                traceback.print_exception(exc, file=sys.stderr)
            _report(err, kwargs.get("as_json", False))
            raise typer.Exit(err.exit_code) from None

    return wrapper  # type: ignore[return-value]


def _report(err: DihrError, as_json: bool) -> None:
    typer.echo(f"Erreur : {err.message}", err=True)
    if as_json:
        typer.echo(json.dumps({"code": err.code, "message": err.message}, ensure_ascii=False))


@contextmanager
def opened() -> Iterator[tuple[Settings, GraphStore]]:
    """The settings and store of the environment, closed after the command."""
    settings = load_settings()
    store = open_store(settings)
    try:
        yield settings, store
    finally:
        store.close()


def jsonable(value: Any) -> Any:
    """A result type (dataclasses, enums, tuples, mappings) as JSON values, with
    the API's field names (camelCase, as GraphQL spells them)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {to_camel_case(f.name): jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, enum.Enum):
        return value.name  # as GraphQL serialises an enum
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(jsonable(v) for v in value)
    if isinstance(value, Path):
        return str(value)
    return value


def emit_json(value: Any) -> None:
    typer.echo(json.dumps(jsonable(value), ensure_ascii=False, indent=2))


def server_pid(settings: Settings) -> int | None:
    """The pid of a `dihr serve` holding the data directory, if one runs."""
    pid_file = settings.data_dir / SERVE_PID
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def store_of() -> tuple[Settings, GraphStore]:
    """The settings and an opened store of the environment (the caller closes it)."""
    settings = load_settings()
    return settings, open_store(settings)

"""The ``dihr`` command line: one Typer app, its commands grouped by module
(as strawberry's ``cli/commands/``). Each command calls the same service or
domain function as the API; errors are translated once (``cli._common``)."""

from __future__ import annotations

from cli import access, maps, registry, search, server
from cli._common import new_app

__all__ = ["app"]

app = new_app("dihr-graph : réseau et ressources du dispositif intégré handicaps rares.", name="dihr")
app.add_typer(registry.app)
app.add_typer(search.app)
app.add_typer(access.app)
app.add_typer(server.app)
app.add_typer(registry.import_app, name="import")
app.add_typer(registry.template_app, name="template")
app.add_typer(maps.app, name="map")
app.add_typer(access.keys_app, name="keys")

if __name__ == "__main__":
    app()

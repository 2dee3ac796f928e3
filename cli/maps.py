"""``dihr map …``: self-contained HTML maps written to a file."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer

from cli._common import friendly, new_app, store_of
from graph.access import SYSTEM
from graph.matching import SituationQuery
from graph.settings import Settings
from graph.store import GraphStore

app = new_app("Écrit des cartes HTML (couverture, zones blanches, situation).")
OutputOpt = Annotated[Path, typer.Option("-o", "--output", help="Fichier HTML à écrire.")]


def _write_map(output: Path, render: Callable[[GraphStore, Settings], str]) -> None:
    settings, store = store_of()
    try:
        text = render(store, settings)
    finally:
        store.close()
    output.write_text(text, encoding="utf-8")
    typer.echo(f"Carte écrite : {output}")


@app.command("coverage")
@friendly
def map_coverage(
    deficiencies: Annotated[list[str], typer.Argument(help="Codes de déficience.")],
    output: OutputOpt = Path("couverture.html"),
    level: Annotated[str, typer.Option(help="department, region ou erhr.")] = "department",
    threshold_km: Annotated[float, typer.Option(help="Seuil (km).")] = 60.0,
    age: Annotated[int | None, typer.Option(help="Âge (années).")] = None,
) -> None:
    """Carte choroplèthe de la couverture d'une combinaison."""
    from api.maps_service import coverage_map_html

    _write_map(
        output,
        lambda store, settings: coverage_map_html(
            store,
            settings,
            SYSTEM,
            deficiencies,
            level=level,
            threshold_km=threshold_km,
            age=age,
            served=False,
        ),
    )


@app.command("gaps")
@friendly
def map_gaps(
    output: OutputOpt = Path("zones-blanches.html"),
    level: Annotated[str, typer.Option(help="department, region ou erhr.")] = "department",
    threshold_km: Annotated[float, typer.Option(help="Seuil (km).")] = 60.0,
    criterion: Annotated[str | None, typer.Option(help="Critère D312-194 (1 … 5d).")] = None,
) -> None:
    """Carte des zones blanches et des situations sans solution (effectifs)."""
    from api.maps_service import gaps_map_html

    _write_map(
        output,
        lambda store, settings: gaps_map_html(
            store, settings, SYSTEM, level=level, threshold_km=threshold_km, criterion=criterion, served=False
        ),
    )


@app.command("situation")
@friendly
def map_situation(
    deficiencies: Annotated[list[str], typer.Argument(help="Codes de déficience.")],
    commune: Annotated[str, typer.Option(help="Code commune INSEE du lieu de vie.")],
    output: OutputOpt = Path("situation.html"),
    age: Annotated[int | None, typer.Option(help="Âge (années).")] = None,
    radius_km: Annotated[float, typer.Option(help="Rayon (km).")] = 100.0,
) -> None:
    """Carte d'une recherche : lieu de vie (approximatif), rayon, ERHR, ressources."""
    from api.maps_service import situation_map_html

    query = SituationQuery(deficiencies=deficiencies, commune=commune, age=age, radius_km=radius_km)
    _write_map(
        output, lambda store, settings: situation_map_html(store, settings, SYSTEM, query, served=False)
    )

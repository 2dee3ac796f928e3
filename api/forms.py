"""Form values as the domain reads them (shared by the pages and the exports)."""

from __future__ import annotations

import re
from typing import Any

from graph import directory as dir_
from graph.errors import InvalidInput
from graph.model import NodeKind
from graph.territories import TerritoryKind, fold_name, search_communes

__all__ = ["km", "directory_filter_of_form", "DIRECTORY_KINDS_SHOWN", "commune_code"]

#: The directory's kinds a person may filter on, with their labels.
DIRECTORY_KINDS_SHOWN = [
    ("Establishment", "Établissement"),
    ("Professional", "Professionnel"),
    ("ResourcePole", "Pôle ressources handicap"),
]


def km(text: str, field: str) -> float:
    """A distance typed in a form (« 60 », « 60,5 »)."""
    try:
        return float(text.replace(",", "."))
    except ValueError:
        raise InvalidInput(field, f"« {text[:20]} » n'est pas un nombre de kilomètres.") from None


def directory_filter_of_form(store: Any, form: dict[str, str]) -> dir_.DirectoryFilter:
    """The directory's filters from the page's form (the same as the API's)."""
    near = None
    if form["commune"].strip():
        place = form["commune"].strip()
        found = search_communes(store, place, limit=1)
        if not found:
            raise InvalidInput("commune", f"commune introuvable : « {place[:40]} ».")
        near = dir_.Near(found[0].key, km(form["rayon"] or "50", "rayon"))
    return dir_.DirectoryFilter(
        kinds=(NodeKind(form["type"]),)
        if form["type"] in dict(DIRECTORY_KINDS_SHOWN)
        else dir_.DIRECTORY_KINDS,
        territory=(TerritoryKind.ERHR, form["erhr"]) if form["erhr"] else None,
        deficiencies=(form["deficience"],) if form["deficience"] else (),
        skills=(form["competence"],) if form["competence"] else (),
        conditions=(form["maladie"].strip()[:100],) if form["maladie"].strip() else (),
        near=near,
        open_only=not form["fermes"],
        text=form["nom"],
    )


def commune_code(store: Any, text: str, field: str) -> str:
    """The INSEE code of a commune typed in a form: a code, or a name (« Poitiers »,
    « Saint-Denis (93) » when several communes share it)."""
    place = text.strip()
    wanted_department = None
    if (m := re.match(r"^(.*\S)\s*\((\d[0-9AB]\d?)\)$", place)) is not None:
        place, wanted_department = m.group(1), m.group(2).upper()
    found = search_communes(store, place, limit=50)
    if wanted_department:
        found = [c for c in found if str(c.props.get("department")) == wanted_department]
    if not found:
        raise InvalidInput(field, f"commune introuvable : « {place[:40]} ».")
    if any(c.key == place for c in found):
        return place
    same_name = [c for c in found if fold_name(str(c.props.get("name", ""))) == fold_name(place)]
    if len(same_name) > 1:
        choices = " ; ".join(f"{c.props['name']} ({c.props['department']})" for c in same_name[:8])
        raise InvalidInput(
            field,
            f"plusieurs communes s'appellent « {place[:40]} » : précisez le département, par exemple "
            f"« {place[:40]} ({same_name[0].props['department']}) ». Communes : {choices}.",
        )
    return str((same_name or found)[0].key)

"""The 2026 FINESS *Structures* flow (JSON: legal entities ``pmej`` and their
establishments ``ege``; schema in ``../shared/data/finess/ans-2026/``), read into
the same parse as the CSV extraction (``importers.finess.FinessParse``) so that
``load_finess`` imports it with the same guarantees: complete or nothing,
closures guarded, competence inferred from category and name, report, journal.

Read from each establishment (``pmej[].ege[]``): its FINESS number
(``informationsGeneralesEGE.numFinessEge``), names, category
(``categorieEntiteGeographiqueExercice``, a code or a coding), first address
with a commune (``cogCommune``: the INSEE code), phone, SIRET, last update, state
(``etatObjet`` other than « A », or a ``dateFermeture``: closed — left out of
the parse, so a stored open one is marked closed, within the closure guard);
the legal entity's FINESS. Position: the ANS's published layouts differ (WGS 84
in ``directionLatitude``/``directionLongitude`` and Lambert 93 in
``coordonneeX``/``coordonneeY``, or the other way round): the pair of degrees is
taken wherever it is; only Lambert 93 (metropolitan France) is converted; a
position far from its commune is replaced by the commune's centre and flagged,
as for the CSV.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import ijson

from importers._files import FileFormatError, RowError
from importers.finess import DISABILITY_CATEGORIES, STRUCTURE_FIELDS, FinessParse, FinessRecord
from importers.finess_flows import _open

__all__ = ["parse_structures"]

#: Lambert 93 (metropolitan France), the projected pair of the flow.
LAMBERT_93 = 2154
WGS84 = 4326


def _text(value: Any) -> str:
    if isinstance(value, Mapping):  # a coding: {code, system}
        value = value.get("code")
    return "" if value is None else str(value).strip()


def _number(value: Any) -> float | None:
    try:
        return float(str(value).replace(",", ".")) if _text(value) else None
    except ValueError:
        return None


def _position(coordinates: Mapping[str, Any]) -> tuple[float, float, int] | None:
    """(x, y, EPSG) of an address's ``coordonneesGeographique`` in either layout."""
    cx, cy = _number(coordinates.get("coordonneeX")), _number(coordinates.get("coordonneeY"))
    lat, lon = _number(coordinates.get("directionLatitude")), _number(coordinates.get("directionLongitude"))
    if lat is not None and lon is not None and abs(lat) <= 90 and abs(lon) <= 180:
        return lon, lat, WGS84
    if cx is not None and cy is not None and abs(cx) <= 180 and abs(cy) <= 90:
        return cx, cy, WGS84  # degrees in coordonnee*: X the longitude, Y the latitude
    projected = [v for v in (cx, cy, lat, lon) if v is not None and abs(v) > 1000]
    eastings = [v for v in projected if 0 < v < 2_000_000]
    northings = [v for v in projected if 6_000_000 <= v <= 7_200_000]
    if eastings and northings:  # Lambert 93, whichever field holds which
        return eastings[0], northings[0], LAMBERT_93
    return None


def _department(insee: str) -> str:
    return insee[:3] if insee.startswith("97") else insee[:2]


def _legal_entities(handle: Any) -> Iterator[tuple[str, Any]]:
    """(« generatedAt » | « schemaVersion » | « pmej », value) of the flow, read as a stream."""
    builder: ijson.ObjectBuilder | None = None
    for prefix, event, value in ijson.parse(handle, use_float=True):
        if prefix in ("generatedAt", "schemaVersion") and event == "string":
            yield prefix, value
        elif prefix == "pmej.item" and event == "start_map":
            builder = ijson.ObjectBuilder()
            builder.event(event, value)
        elif builder is not None:
            builder.event(event, value)
            if prefix == "pmej.item" and event == "end_map":
                yield "pmej", builder.value
                builder = None


def _category(ege: Mapping[str, Any]) -> str:
    for holder in (ege, ege.get("informationsGeneralesEGE") or {}):
        for key in ("categorieEntiteGeographiqueExercice", "categorieentiteGeographiqueExercice"):
            if holder.get(key):
                return _text(holder[key])
    return ""


def parse_structures(path: Path) -> FinessParse:
    """The whole flow read and checked (FileFormatError if it is cut or not a
    Structures flow); nothing written."""
    parsed = FinessParse(path, "utf-8", "", "")
    seen = 0
    try:
        with _open(path) as handle:
            for name, value in _legal_entities(handle):
                if name == "generatedAt":
                    parsed.extraction_date = str(value)[:10]
                elif name == "schemaVersion":
                    parsed.version = str(value)
                else:
                    seen += 1
                    _legal_entity(parsed, value, seen)
    except ijson.JSONError as err:
        raise FileFormatError(
            path,
            0,
            f"JSON incomplet ou mal formé ({err}) : le fichier est probablement coupé ; téléchargez à "
            "nouveau le flux Structures. Rien n'a été importé.",
        ) from err
    except (OSError, EOFError, zlib.error) as err:
        raise FileFormatError(
            path, 0, f"lecture impossible ({err}) : téléchargez à nouveau le fichier."
        ) from err
    if not seen or not parsed.structure_lines:
        raise FileFormatError(
            path, 0, "aucun établissement (pmej[].ege[]) : ce n'est pas un flux Structures FINESS."
        )
    parsed.version = parsed.version or "flux Structures"
    parsed.extraction_date = parsed.extraction_date or "date inconnue"
    return parsed


def _legal_entity(parsed: FinessParse, pmej: Mapping[str, Any], number: int) -> None:
    general = pmej.get("informationsGeneralesPmej") or {}
    legal = _text(general.get("numFinessPm"))
    for i, ege in enumerate(e for e in pmej.get("ege") or [] if isinstance(e, Mapping)):
        parsed.lines += 1
        parsed.structure_lines += 1
        line = parsed.lines
        info = ege.get("informationsGeneralesEGE") or {}
        finess = _text(info.get("numFinessEge") or ege.get("numFinessEge"))
        where = f"pmej n° {number}, ege n° {i + 1}"
        if len(finess) != 9 or not finess.isalnum():
            parsed.errors.append(RowError(line, "numFinessEge", f"numéro FINESS invalide ({where})", finess))
            continue
        state = _text(ege.get("etatObjet") or info.get("etatObjet")).upper()
        closed = (state not in ("", "A")) or bool(
            _text(info.get("dateFermeture") or ege.get("dateFermeture"))
        )
        if closed:
            continue  # absent from the flow's open establishments: a stored one is closed (guarded)
        parsed.all_numbers.add(finess)
        if finess in parsed.records:
            parsed.errors.append(
                RowError(line, "numFinessEge", f"établissement en double : déjà {where}", finess)
            )
            continue
        addresses = [
            a for a in ege.get("adresse") or [] if isinstance(a, Mapping) and _text(a.get("cogCommune"))
        ]
        if not addresses:
            parsed.errors.append(RowError(line, "cogCommune", f"adresse sans code commune ({where})", finess))
            continue
        address = addresses[0]
        insee = _text(address.get("cogCommune"))
        category = _category(ege)
        phone = next(
            (
                _text((c.get("telecom") or {}).get("telephone"))
                for c in ege.get("contact") or []
                if isinstance(c, Mapping) and _text((c.get("telecom") or {}).get("telephone"))
            ),
            "",
        )
        fields = dict.fromkeys(STRUCTURE_FIELDS, "")
        fields.update(
            {
                "structureet": "structureet",
                "nofinesset": finess,
                "nofinessej": legal,
                "rs": _text(info.get("nomEgeCourt")) or _text(info.get("nomEgeLong")),
                "rslongue": _text(info.get("nomEgeLong")),
                "numvoie": _text(address.get("numeroVoie")),
                "typvoie": _text(address.get("typeVoie")),
                "voie": _text(address.get("libelleVoie")),
                "compvoie": _text(address.get("complementVoie")),
                "lieuditbp": _text(address.get("lieuDit")),
                "commune": insee[-3:],
                "departement": _department(insee),
                "ligneacheminement": " ".join(
                    p
                    for p in (_text(address.get("codePostal")), _text(address.get("ligneAcheminement")))
                    if p
                ),
                "telephone": phone,
                "categetab": category,
                "libcategetab": DISABILITY_CATEGORIES.get(category, ""),
                "siret": _text(ege.get("siret") or info.get("siret")),
                "datemaj": _text((ege.get("dateDerniereMaj") or {}).get("dateEvenement"))[:10],
            }
        )
        record = FinessRecord(line, finess, fields, insee, _department(insee))
        position = _position(address.get("coordonneesGeographique") or {})
        if position is not None and (position[2] == WGS84 or not insee.startswith("97")):
            record.x, record.y, record.epsg = position
            record.geo_line = line
        parsed.records[finess] = record

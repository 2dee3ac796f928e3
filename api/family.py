"""The family sheet (``/recherche/fiche-famille``): what a family takes home
after a search, in plain French — the person's needs in words, the ERHR first
with its contact, a few places with what they do and their phone, the national
centre, and what to do next. No code, no provenance jargon, no pseudonym."""

from __future__ import annotations

import re
from typing import Any

from graph.answers import ACROSS_THE_SEA, ZONE_SOURCE, Match, MatchLevel, MatchResult
from graph.vocabulary import CONDITIONS, DEFICIENCIES, SKILLS

__all__ = ["family_view", "PLACES_SHOWN"]

#: Places on the sheet: the nearest competent ones, not the animator's whole table.
PLACES_SHOWN = 6
_CODE = re.compile(r"\s*\([A-Z0-9+:]+\)$")
_AGES = {
    "children": "des enfants et des jeunes (jusqu'à 20 ans)",
    "adults": "des adultes",
}


def _plain(label: str) -> str:
    """A vocabulary label without its code in brackets, as a sentence reads it."""
    return _CODE.sub("", label).strip()


def _need(code: str) -> str:
    if code in DEFICIENCIES:
        return _plain(DEFICIENCIES[code].label).lower()
    if code in SKILLS:
        return _plain(SKILLS[code].label).lower()
    if "+" in code:
        return " et ".join(_need(part) for part in code.split("+")) + " associées"
    if code in CONDITIONS:
        return _plain(CONDITIONS[code].label)
    return ""


def _what(match: Match) -> str:
    needs = []
    for cover in match.covers:
        words = _need(cover.need)
        if words and words not in needs:
            needs.append(words)
    public = _AGES.get(match.age_group, "des personnes")
    if not needs:
        return f"Accompagne {public}."
    return f"Accompagne {public} : {', '.join(needs)}."


def _where(match: Match) -> str:
    if match.location_source == ZONE_SOURCE:
        return "Ce service se déplace dans votre commune."
    if match.location_source == ACROSS_THE_SEA:
        return "Hors du continent : contact à distance."
    if match.distance_km is None:
        return ""
    return f"À environ {match.distance_km:.0f} km de chez vous."


def family_view(result: MatchResult) -> dict[str, Any]:
    """What the template ``family_sheet.html`` shows of a search."""
    needs = [_need(code) for code in (*result.deficiencies, *result.skills)]
    needs += [_plain(CONDITIONS[c].label) for c in result.conditions if c in CONDITIONS]
    places = []
    for match in result.matches:
        if match.level is not MatchLevel.LOCAL or match.group != "within":
            continue
        contact = match.contact
        places.append(
            {
                "name": match.name,
                "what": _what(match),
                # the register's address already ends with its postcode and town
                "address": (contact.address or " ".join(filter(None, (contact.postcode, contact.city))))
                if contact
                else "",
                "phone": contact.phone if contact else None,
                "where": _where(match),
                "synthetic": match.synthetic,
            }
        )
        if len(places) == PLACES_SHOWN:
            break
    centres = [
        {"name": m.name, "phone": m.contact.phone if m.contact else None}
        for m in result.matches
        if m.level is MatchLevel.CNRHR
    ]
    erhr_match = next((m for m in result.matches if m.level is MatchLevel.ERHR), None)
    erhr = result.erhr
    return {
        "needs": [n[:1].upper() + n[1:] for n in needs if n],
        "erhr": {
            "name": erhr.name or (erhr_match.name if erhr_match else "Équipe relais handicaps rares"),
            "seat": erhr.seat,
            "phone": erhr.phone or (erhr_match.contact.phone if erhr_match and erhr_match.contact else None),
            "email": erhr.email,
            "website": erhr.website,
        },
        "places": places,
        "centres": centres,
        "commune": result.place.commune_name,
    }

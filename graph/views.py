"""Typed views of the nodes the services read.

A node carries a property mapping (what the stores persist); the services
read it through these views, so that which property a kind carries, how a
resource is named and what a situation holds are written once, here, and
checked by mypy — rather than ``props.get("…")`` at each use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graph.model import Node, NodeKind

__all__ = [
    "french_day",
    "display_name",
    "ResourceFacts",
    "SituationFacts",
    "LinkFacts",
    "Contact",
    "contact_of",
]

K = NodeKind


def display_name(props: Mapping[str, Any], key: str) -> str:
    """How a resource is named to a person: its name; a professional (who has
    none: never a person's name) by profession; else its key."""
    return str(props.get("name") or props.get("profession") or key)


def french_day(value: Any) -> str:
    """``2021-01-08`` as a person reads it in French text: ``08/01/2021`` (anything else as it is)."""
    text = str(value)
    found = re.match(r"^(\d{4})-(\d{2})-(\d{2})", text)
    return f"{found.group(3)}/{found.group(2)}/{found.group(1)}" if found else text


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _int(value: Any) -> int | None:
    return None if value is None or value == "" else int(value)


@dataclass(frozen=True, slots=True)
class ResourceFacts:
    """An establishment, professional, pôle ressources, ERHR team or CNRHR."""

    kind: str
    key: str
    name: str
    department: str | None
    commune: str | None
    synthetic: bool
    closed: bool
    age_min: int | None
    age_max: int | None

    @classmethod
    def of(cls, node: Node) -> ResourceFacts:
        p = node.props
        return cls(
            kind=node.kind.value,
            key=node.key,
            name=display_name(p, node.key),
            department=_text(p.get("department")),
            commune=_text(p.get("commune")),
            synthetic=bool(p.get("synthetic", False)),
            closed=bool(p.get("closed")),
            age_min=_int(p.get("age_min")),
            age_max=_int(p.get("age_max")),
        )


@dataclass(frozen=True, slots=True)
class SituationFacts:
    """A pseudonymised situation's own properties (its links are edges)."""

    key: str
    age: int | None
    status: str
    opened_on: str | None
    erhr: str | None
    department: str
    synthetic: bool

    @classmethod
    def of(cls, node: Node) -> SituationFacts:
        p = node.props
        return cls(
            key=node.key,
            age=_int(p.get("age")),
            status=str(p.get("status") or "open"),
            opened_on=_text(p.get("opened_on")),
            erhr=_text(p.get("erhr")),
            department=str(p.get("department") or ""),
            synthetic=bool(p.get("synthetic", False)),
        )


@dataclass(frozen=True, slots=True)
class LinkFacts:
    """What a competence or referral link carries."""

    level: int | None
    source: str | None
    age_min: int | None
    age_max: int | None
    date: str
    outcome: str

    @classmethod
    def of(cls, props: Mapping[str, Any]) -> LinkFacts:
        return cls(
            level=_int(props.get("level")),
            source=_text(props.get("source")),
            age_min=_int(props.get("age_min")),
            age_max=_int(props.get("age_max")),
            date=str(props.get("date") or ""),
            outcome=str(props.get("outcome") or ""),
        )

    def age_band(self) -> str:
        """« 6-20 ans », « 0-… ans »: the band of an ACCEPTS link as the directory shows it."""
        return f"{self.age_min if self.age_min is not None else 0}-{self.age_max if self.age_max is not None else '…'} ans"


@dataclass(frozen=True, slots=True)
class Contact:
    """How to reach a resource, and where that comes from. ``missing`` says, in
    French, who completes the fields left empty."""

    address: str | None
    postcode: str | None
    city: str | None
    phone: str | None
    email: str | None
    website: str | None
    source: str
    missing: str | None = None


_POSTCODE_CITY = re.compile(r"(?:^|,\s*)(\d{5})\s+([^,]+)$")


def contact_of(kind: NodeKind, props: Mapping[str, Any]) -> Contact | None:
    """The contact of a resource from its stored properties (FINESS for an
    establishment, ``graph/data/cnrhr.csv`` and its FINESS record for a CNRHR, ``graph/data/erhr.csv``
    for an ERHR, the directory for a resource pole); None when nothing is known."""
    address = props.get("address")
    postcode, city = props.get("postcode"), props.get("city")
    if address and not postcode and (found := _POSTCODE_CITY.search(str(address))):
        postcode, city = found.group(1), found.group(2).strip()
    fields = {
        "address": address,
        "postcode": postcode,
        "city": city,
        "phone": props.get("phone"),
        "email": props.get("email"),
        "website": props.get("website"),
    }
    if kind is K.ESTABLISHMENT:
        extraction = props.get("extraction_date")
        source = "FINESS" + (f", extraction du {french_day(extraction)}" if extraction else "")
        if props.get("synthetic"):
            source = "donnée synthétique de démonstration"
        missing = "Courriel et site : FINESS ne les publie pas ; l'ERHR les complète dans l'annuaire."
    elif kind is K.CNRHR:
        source = str(props.get("contact_source") or props.get("source") or "GNCHR")
        missing = (
            "Courriel et site : ni FINESS ni la liste des centres nationaux ne les donnent ; "
            "le GNCHR les complète dans la liste des CNRHR."
        )
    elif kind is K.ERHR_TEAM:
        source = str(
            props.get("contact_source")
            or "liste des ERHR du GNCHR (" + str(props.get("source") or "GNCHR") + ")"
        )
        missing = (
            "Coordonnées non publiées par les sources du réseau (FINESS, GNCHR) : "
            "le GNCHR les complète dans la liste des ERHR."
        )
    else:
        source = "annuaire" if not props.get("synthetic") else "donnée synthétique de démonstration"
        missing = "Champs vides : à compléter par l'ERHR dans l'annuaire."
    if not any(fields.values()) and kind is K.PROFESSIONAL:
        return None
    empty = [name for name, value in fields.items() if not value]
    return Contact(
        **{k: (str(v) if v else None) for k, v in fields.items()},
        source=source,
        missing=missing if empty else None,
    )

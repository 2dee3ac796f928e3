"""Typed views of the nodes the services read.

A node carries a property mapping (what the stores persist); the services
read it through these views, so that which property a kind carries, how a
resource is named and what a situation holds are written once, here, and
checked by mypy — rather than ``props.get("…")`` at each use.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graph.model import Node

__all__ = ["display_name", "ResourceFacts", "SituationFacts", "LinkFacts"]


def display_name(props: Mapping[str, Any], key: str) -> str:
    """How a resource is named to a person: its name; a professional (who has
    none: never a person's name) by profession; else its key."""
    return str(props.get("name") or props.get("profession") or key)


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
            kind=node.kind.value, key=node.key, name=display_name(p, node.key), department=_text(p.get("department")),
            commune=_text(p.get("commune")), synthetic=bool(p.get("synthetic", False)), closed=bool(p.get("closed")),
            age_min=_int(p.get("age_min")), age_max=_int(p.get("age_max")),
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
            key=node.key, age=_int(p.get("age")), status=str(p.get("status") or "open"),
            opened_on=_text(p.get("opened_on")), erhr=_text(p.get("erhr")), department=str(p.get("department") or ""),
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
            level=_int(props.get("level")), source=_text(props.get("source")), age_min=_int(props.get("age_min")),
            age_max=_int(props.get("age_max")), date=str(props.get("date") or ""), outcome=str(props.get("outcome") or ""),
        )

    def age_band(self) -> str:
        """« 6-20 ans », « 0-… ans »: the band of an ACCEPTS link as the directory shows it."""
        return f"{self.age_min if self.age_min is not None else 0}-{self.age_max if self.age_max is not None else '…'} ans"

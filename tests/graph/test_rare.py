import pytest

from graph.errors import InvalidInput, UnknownCode
from graph.rare import criterion_combinations, qualify


def criteria(*codes: str) -> list[str]:
    return [c.code for c in qualify(codes).criteria]


@pytest.mark.parametrize(
    ("codes", "expected_criteria", "expected_cnrhr"),
    [
        (("DA", "DV"), ["1"], ("CRESAM",)),
        (("DV", "TSA"), ["2"], ("PEPINIERE",)),
        (("DA", "DI"), ["3"], ("LAPLANE",)),
        (("DYSPH",), ["4"], ("LAPLANE",)),
        (("DYSPH", "DM"), ["4"], ("LAPLANE",)),
        (("DI", "MITO"), ["5a"], ()),
        (("DM", "METAB"), ["5b"], ()),
        (("NEURO", "COMPORT"), ["5c"], ()),
        (("EPI", "DI"), ["5d"], ("FAHRES",)),
    ],
)
def test_each_criterion_routes_to_its_cnrhr(codes, expected_criteria, expected_cnrhr):
    q = qualify(codes)
    assert [c.code for c in q.criteria] == expected_criteria
    assert q.cnrhr == expected_cnrhr
    assert q.matched


def test_deafblindness_takes_precedence_over_2_and_3():
    q = qualify(["DV", "DA", "DI"])
    assert [c.code for c in q.criteria] == ["1"]
    assert q.cnrhr == ("CRESAM",)
    assert q.superseded == ("2", "3")


def test_combination_matching_several_criteria_names_every_cnrhr():
    q = qualify(["DV", "TSA", "EPI"])
    assert [c.code for c in q.criteria] == ["2", "5d"]
    assert q.cnrhr == ("PEPINIERE", "FAHRES")


@pytest.mark.parametrize("codes", [("DV",), ("DA",), ("TSA", "DI"), ("EPI",), ("DM", "DPSY")])
def test_no_criterion_matched_says_so(codes):
    q = qualify(codes)
    assert not q.matched and q.cnrhr == ()
    assert "Aucun critère" in q.summary


def test_codes_are_case_insensitive_and_key_is_canonical():
    assert qualify(["dv", " da "]).combination == "DA+DV"


def test_unknown_code_is_named_in_french():
    with pytest.raises(UnknownCode, match="inconnu.*XX"):
        qualify(["DV", "XX"])


def test_empty_combination_is_refused():
    with pytest.raises(InvalidInput, match="au moins une déficience"):
        qualify([])


def test_each_criterion_typical_combination_qualifies_for_that_criterion():
    for criterion in ["1", "2", "3", "4", "5a", "5b", "5c", "5d"]:
        typical = criterion_combinations(criterion)[0]
        assert criterion in criteria(*typical.split("+")), (criterion, typical)

"""The GNCHR's data-quality view: where the directory needs completing, per department."""

from __future__ import annotations

import pytest

from graph.access import Forbidden, Principal, Role
from graph.model import Edge, Node, NodeKind, NodeRef, RelType
from graph.quality import data_quality
from graph.service import data_quality as served_quality
from tests.factories import Network

K, R = NodeKind, RelType


def test_each_department_says_what_is_known_only_from_the_category(store):
    net = Network(store)
    by_category = net.establishment("860000601", 5)
    store.upsert(
        [], [Edge(R.ACCEPTS, by_category, NodeRef(K.DEFICIENCY, "DI"), {"source": "categorie_finess"})]
    )
    declared = net.establishment("860000602", 6, expertise={"DV": 2})  # the directory says more
    store.upsert([Node(K.ESTABLISHMENT, declared.key, {"phone": "05 49 00 00 00"})])
    net.establishment("860000603", 7)  # nothing known at all
    closed = net.establishment("790000604", 40, department="79")
    store.upsert([Node(K.ESTABLISHMENT, closed.key, {"closed": True})])
    net.professional("pro-q", closed, expertise={"DV": 1})  # still working there, per the directory
    found = data_quality(store)
    vienne = next(d for d in found.departments if d.code == "86")
    assert (vienne.establishments, vienne.category_only, vienne.no_competence, vienne.without_phone) == (
        3,
        1,
        1,
        2,
    )
    deux_sevres = next(d for d in found.departments if d.code == "79")
    assert deux_sevres.establishments == 0 and deux_sevres.closed_referenced == 1
    assert found.national.category_only == 1 and found.national.closed_referenced == 1
    assert found.departments[0].code in ("86", "79")  # the ones to complete come first


@pytest.mark.parametrize("role", [Role.PARTNER, Role.ERHR])
def test_only_the_gnchr_reads_it(store, role):
    Network(store)
    with pytest.raises(Forbidden):
        served_quality(store, Principal("k", role, "NA" if role is Role.ERHR else None))
    assert served_quality(store, Principal("k", Role.GNCHR)).national.establishments == 0

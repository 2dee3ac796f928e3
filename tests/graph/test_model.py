import pytest

from graph.model import (
    Edge,
    Node,
    NodeKind,
    NodeRef,
    RelType,
    SchemaError,
    combination_key,
    validate_edge,
    validate_node,
)


def test_combination_key_is_sorted_distinct_and_upper():
    assert combination_key(["dv", "DA", "DV"]) == "DA+DV"


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        (NodeKind.COMMUNE, "7511"),
        (NodeKind.ESTABLISHMENT, "12345"),
        (NodeKind.CONDITION, "739"),
        (NodeKind.COMBINATION, "DV+DA"),
        (NodeKind.PROFESSIONAL, "Jean Dupont"),
    ],
)
def test_bad_natural_keys_are_refused(kind, key):
    with pytest.raises(SchemaError, match="(invalid key|not canonical)"):
        validate_node(Node(kind, key))


@pytest.mark.parametrize("key", ["2A004", "97411", "75056"])
def test_corsica_and_overseas_commune_keys_are_valid(key):
    validate_node(Node(NodeKind.COMMUNE, key))


def test_edge_endpoints_follow_the_schema():
    with pytest.raises(SchemaError, match="WORKS_AT cannot join Commune"):
        validate_edge(
            Edge(RelType.WORKS_AT, NodeRef(NodeKind.COMMUNE, "75056"), NodeRef(NodeKind.CNRHR, "CRESAM"))
        )


def test_expertise_level_must_be_1_to_3():
    edge = Edge(
        RelType.HAS_EXPERTISE,
        NodeRef(NodeKind.PROFESSIONAL, "p1"),
        NodeRef(NodeKind.DEFICIENCY, "DV"),
        {"level": 4},
    )
    with pytest.raises(SchemaError, match="level must be 1, 2 or 3"):
        validate_edge(edge)

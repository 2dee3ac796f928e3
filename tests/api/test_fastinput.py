"""The schema's input objects built by api/fastinput.py answer as strawberry's own conversion."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLFloat,
    GraphQLID,
    GraphQLInputObjectType,
    GraphQLInt,
    GraphQLList,
    GraphQLNonNull,
    GraphQLString,
)
from strawberry.types.arguments import convert_argument

from api.schema import schema

SAMPLE_SCALARS = {
    GraphQLString: "35238",
    GraphQLID: "id-1",
    GraphQLInt: 9,
    GraphQLFloat: 42.5,
    GraphQLBoolean: False,
}

INPUTS = {
    entry.definition.origin: entry
    for entry in schema.schema_converter.type_map.values()
    if getattr(entry.definition, "is_input", False)
}


def _sample(graphql_type: Any, depth: int, variant: int) -> Any:
    """A value as graphql-core hands it to strawberry (enums as their Python members)."""
    if isinstance(graphql_type, GraphQLNonNull):
        return _sample(graphql_type.of_type, depth, variant)
    if isinstance(graphql_type, GraphQLList):
        if variant == 2:
            return []
        return [_sample(graphql_type.of_type, depth, variant) for _ in range(2)]
    if isinstance(graphql_type, GraphQLEnumType):
        members = [v.value for v in graphql_type.values.values()]
        return members[variant % len(members)]
    if isinstance(graphql_type, GraphQLInputObjectType):
        return _object(graphql_type, depth + 1, variant)
    return SAMPLE_SCALARS[graphql_type]


def _object(graphql_type: GraphQLInputObjectType, depth: int, variant: int) -> dict[str, Any]:
    """variant 0: every field given; 1: the required ones only; 2: nullable ones null, lists empty."""
    value: dict[str, Any] = {}
    for name, field in graphql_type.fields.items():
        required = isinstance(field.type, GraphQLNonNull)
        if variant == 1 and not required:
            continue
        if variant == 2 and not required:
            value[name] = None
            continue
        if depth > 3 and not required:
            continue
        value[name] = _sample(field.type, depth, variant)
    return value


VARIANTS = ("every field", "required only", "nulls and empty lists")


def _cases() -> Iterator[Any]:
    for origin in INPUTS:
        graphql_type = schema.schema_converter.from_input_object(origin)
        for variant, label in enumerate(VARIANTS):
            yield pytest.param(origin, _object(graphql_type, 0, variant), id=f"{origin.__name__}-{label}")


def _strawberry(origin: type, value: dict[str, Any]) -> Any:
    """strawberry's own conversion, every builder taken away for the call."""
    saved = {o: e.definition.from_input for o, e in INPUTS.items()}
    try:
        for e in INPUTS.values():
            e.definition.from_input = None
        return convert_argument(value, origin, schema.schema_converter.scalar_registry, schema.config)
    finally:
        for o, e in INPUTS.items():
            e.definition.from_input = saved[o]


def _built(origin: type, value: dict[str, Any]) -> Any:
    return convert_argument(value, origin, schema.schema_converter.scalar_registry, schema.config)


def test_every_input_type_of_the_schema_is_built_by_its_compiled_builder():
    assert INPUTS, "the schema has input types"
    assert all(entry.definition.from_input is not None for entry in INPUTS.values())


@pytest.mark.parametrize(("origin", "value"), list(_cases()))
def test_a_built_input_equals_strawberrys_conversion(origin, value):
    mine, theirs = _built(origin, value), _strawberry(origin, value)
    assert type(mine) is origin
    assert mine == theirs
    assert vars(mine) == vars(theirs)


def test_a_list_given_is_copied_so_that_a_default_shared_by_requests_is_never_changed():
    situation = next(o for o in INPUTS if o.__name__ == "SituationInput")
    given = ["DV", "TSA"]
    built = _built(situation, {"deficiencies": given})
    assert built.deficiencies == given
    assert built.deficiencies is not given


def test_a_field_left_out_takes_the_types_default():
    situation = next(o for o in INPUTS if o.__name__ == "SituationInput")
    built = _built(situation, {"deficiencies": ["DV"]})
    assert built.radius_km == 100.0
    assert built.skills == [] and built.kinds is None and built.age is None

"""Building the schema's input objects without the per-field machinery of strawberry.

strawberry converts an argument's input object field by field through
``convert_argument``, which works out each field's type again for every
request (``StrawberryField.resolve_type``): about 40 µs for a findResources
situation, more than its whole JSON answer takes to encode. The conversion of
a given input type never changes, so :func:`install_input_builders` works it
out once per type and gives it to strawberry through the hook strawberry has
for input types that build their own value (``StrawberryObjectDefinition.from_input``).

Only the common shapes are compiled: a scalar or an enum (graphql-core has
already coerced it), a list of them (copied, as strawberry does: graphql-core
hands the same default list to every request), another input object of the
schema, each optional. Any other field type (``Maybe``, a lazy type, a
``GlobalID``…) is converted by strawberry's own ``convert_argument``, as it
would be without this module; a type with a ``Maybe`` field is left to
strawberry entirely (its null check is a validation rule that skips input
types that build their own value). ``tests/api/test_fastinput.py`` compares
both conversions on every input type of the schema.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from strawberry.types.arguments import InputContext, _is_leaf_type, convert_argument
from strawberry.types.base import (
    StrawberryList,
    StrawberryMaybe,
    StrawberryObjectDefinition,
    StrawberryOptional,
    has_object_definition,
)
from strawberry.types.enum import has_enum_definition
from strawberry.types.unset import UNSET

__all__ = ["install_input_builders"]

#: A compiled conversion: a field's GraphQL input value (never absent) and the
#: context of the object holding it → the field's Python value.
Convert = Callable[[Any, InputContext], Any]


def _same(value: Any, context: InputContext) -> Any:
    return value


def _list_copy(value: Any, context: InputContext) -> Any:
    return None if value is None else value if value is UNSET else list(value)


def _leaf(type_: Any, registry: Mapping[object, Any]) -> bool:
    """A scalar or an enum: graphql-core has coerced it (an enum to its member)."""
    return _is_leaf_type(type_, registry) or has_enum_definition(type_)


def _converter(type_: Any, name: str, registry: Mapping[object, Any], built: dict[type, Any]) -> Convert:
    """The conversion of a value of ``type_`` held by the field ``name``; an
    input object of ``built``'s keys is built by its own builder (looked up
    when called: every builder is made before any is used)."""
    if isinstance(type_, StrawberryMaybe):
        raise _LeftToStrawberry
    if isinstance(type_, StrawberryOptional):
        inner = _converter(type_.of_type, name, registry, built)
        if inner is _same or inner is _list_copy:
            return inner  # (both give None and UNSET back as they are)

        def optional(value: Any, context: InputContext) -> Any:
            return value if value is None or value is UNSET else inner(value, context)

        return optional
    if isinstance(type_, StrawberryList):
        item = type_.of_type
        if isinstance(item, StrawberryOptional) and not isinstance(item, StrawberryMaybe):
            item = item.of_type
        if not isinstance(item, StrawberryMaybe) and _leaf(item, registry):
            return _list_copy  # (strawberry copies a list of leaves)
    elif _leaf(type_, registry):
        return _same

    def generic(value: Any, context: InputContext) -> Any:
        return convert_argument(
            value, type_, context.scalar_registry, context.config, context.info, path=(*context.path, name)
        )

    if not (has_object_definition(type_) and type_ in built):
        return generic

    def nested(value: Any, context: InputContext) -> Any:
        build = built.get(type_)
        if build is None or value is None or value is UNSET:
            return generic(value, context)
        return build(type_, value, dataclasses.replace(context, path=(*context.path, name)))

    return nested


class _LeftToStrawberry(Exception):
    """This input type is converted by strawberry's own code."""


def _builder(
    definition: StrawberryObjectDefinition,
    graphql_names: dict[str, str],
    registry: Mapping[object, Any],
    built: dict[type, Any],
) -> Any:
    """The ``from_input`` of one input type: strawberry's ``convert_argument``
    for an input object, its field conversions worked out once."""
    # strawberry's implicit None for the fields without a default (the required
    # ones are always given: graphql-core checked it)
    unset = {
        field.python_name: None
        for field in definition.fields
        if field.default_value is dataclasses.MISSING and field.default_factory is dataclasses.MISSING
    }
    fields = [
        (
            graphql_names[field.python_name],
            field.python_name,
            _converter(
                field.resolve_type(type_definition=definition),
                graphql_names[field.python_name],
                registry,
                built,
            ),
        )
        for field in definition.fields
    ]

    def from_input(cls: type, value: Mapping[str, Any], context: InputContext) -> Any:
        kwargs = dict(unset)
        for graphql_name, python_name, convert in fields:
            if graphql_name in value:
                kwargs[python_name] = convert(value[graphql_name], context)
        return cls(**kwargs)

    return from_input


def install_input_builders(schema: Any) -> int:
    """Gives each input type of ``schema`` (a strawberry schema) its compiled
    conversion; the number of types given one."""
    converter = schema.schema_converter
    registry = converter.scalar_registry
    definitions: dict[type, StrawberryObjectDefinition] = {}
    for entry in converter.type_map.values():
        definition = entry.definition
        if (
            isinstance(definition, StrawberryObjectDefinition)
            and definition.is_input
            and definition.from_input is None
            and not definition.type_var_map
        ):
            definitions[definition.origin] = definition
    # every candidate first (a nested input is looked up when converted), then
    # the ones left to strawberry taken out before any builder is used
    built: dict[type, Any] = dict.fromkeys(definitions)
    for origin, definition in definitions.items():
        names = {
            field.python_name: converter.config.name_converter.from_field(field)
            for field in definition.fields
        }
        try:
            built[origin] = _builder(definition, names, registry, built)
        except _LeftToStrawberry:
            del built[origin]
    for origin, build in built.items():
        definitions[origin].from_input = build
    return len(built)

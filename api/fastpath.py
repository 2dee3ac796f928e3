"""Completing plain data without the per-field machinery of the executor.

graphql-core completes every field of an answer the same way: resolve info,
argument values, the resolver through strawberry's wrappers, then the value —
about 4 µs a value, 10 ms for a findResources answer of 20 matches, ten times
what computing it takes. Most of the schema's object types are plain data:
strawberry dataclasses whose fields are attributes, with no resolver, no
argument, no permission nor field extension. For an object of such a type,
:class:`PlainDataExecutor` completes the whole selection at once from a plan
made from the selection (fragments, aliases, ``@skip``/``@include`` and
``__typename`` resolved by graphql-core's own field collection), then reads
attributes and coerces leaves with graphql-core's own ``complete_leaf_value``.

Anything else goes through graphql-core's way unchanged: a type with a
resolver field (``Territory.parent``), an abstract type, ``@defer``, or a
value the plan cannot complete (``null`` for a non-null field, a value of
another type…): the object is then completed again the ordinary way, which
raises the error where graphql-core would. The answers are the same
(``tests/api/test_fastpath.py`` compares both on every query shape).
"""

from __future__ import annotations

import keyword
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLError,
    GraphQLFloat,
    GraphQLID,
    GraphQLInt,
    GraphQLList,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLString,
    Undefined,
    is_leaf_type,
    is_list_type,
    is_non_null_type,
    is_object_type,
)
from graphql.language import FragmentSpreadNode
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

__all__ = ["PlainDataExecutor"]

#: A compiled completion: the source value → its completed JSON-ready value.
Complete = Callable[[Any], Any]


#: Built-in scalars whose output is the value itself when it already has the right type
#: (graphql-core's coercion: a str is a String; an int within 32 bits an Int; a finite float a Float).
_INT_RANGE = 2**31
_SAME: dict[Any, Callable[[Any], bool]] = {
    GraphQLString: lambda v: type(v) is str,
    GraphQLID: lambda v: type(v) is str,
    GraphQLBoolean: lambda v: type(v) is bool,
    GraphQLInt: lambda v: type(v) is int and -_INT_RANGE <= v < _INT_RANGE,
    GraphQLFloat: lambda v: type(v) is float and math.isfinite(v),
}


def _straight_line(fields: list[tuple[str, str | None, Complete | None, Any, type | None]]) -> Complete:
    """One object's completion as one generated function: a dict display, field
    by field in the selection's order, with no loop or call per field where the
    value is its own output (a str of a String, a bool of a Boolean: most values)
    — a findResources answer holds about a thousand values. The source holds
    only ``repr`` literals of response names (GraphQL names, checked by the
    parser) and of the type's name; attributes that are not plain identifiers
    are read with ``getattr``."""
    env: dict[str, Any] = {}
    items = []
    for i, (response_name, attribute, complete, typename, own) in enumerate(fields):
        if attribute is None:
            items.append(f"{response_name!r}: {typename!r}")
            continue
        if attribute.isidentifier() and not keyword.iskeyword(attribute):
            read = f"value.{attribute}"
        else:
            env[f"a{i}"] = attribute
            read = f"getattr(value, a{i})"
        env[f"c{i}"] = complete
        if own is None:
            items.append(f"{response_name!r}: c{i}({read})")
        else:
            env[f"t{i}"] = own
            items.append(f"{response_name!r}: (v{i} if type(v{i} := {read}) is t{i} else c{i}(v{i}))")
    source = "def complete_object(value):\n    return {" + ", ".join(items) + "}\n"
    exec(compile(source, "<plan>", "exec"), env)  # our own generated source (docstring)
    return env["complete_object"]  # type: ignore[no-any-return]


def _own_type(value_type: Any) -> type | None:
    """``str`` for a String or ID (nullable or not), ``bool`` for a Boolean: a
    value of that Python type is completed as itself. None for any other type."""
    inner = value_type.of_type if is_non_null_type(value_type) else value_type
    if inner in (GraphQLString, GraphQLID):
        return str
    return bool if inner is GraphQLBoolean else None


#: Completions kept per plan of a shared type (below): cleared when full.
_KEPT_COMPLETIONS = 20_000


def _completed_once(complete: Complete) -> Complete:
    """``complete`` for the values of a type whose instances are made once and
    shared by answers, never changed (the class says ``SHARED_WIRE``: a need's
    explanation, a contact): each value is completed once per plan, its result
    given again to the next answers that hold it. The value is kept with its
    result, so its id is not reused while the entry lives."""
    done: dict[int, tuple[Any, Any]] = {}

    def completed(value: Any) -> Any:
        if value is None:
            return None
        hit = done.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        result = complete(value)
        if len(done) >= _KEPT_COMPLETIONS:
            done.clear()
        done[id(value)] = (value, result)
        return result

    return completed


class _NotPlain(Exception):
    """This value cannot be completed by the plan: use graphql-core's way."""


def _plain_field(field_def: Any) -> str | None:
    """The Python attribute behind a plain strawberry field, else None."""
    if field_def.args:
        return None
    definition = (field_def.extensions or {}).get("strawberry-definition")
    if definition is None or not definition.is_basic_field or definition.extensions:
        return None
    if getattr(definition, "default_resolver", getattr) is not getattr:
        return None
    return str(definition.python_name)


#: Plans kept across requests, by object type and selection (the parsed
#: documents come from strawberry's parser cache, so the same text gives the
#: same nodes). Each entry holds its nodes: their ids cannot be reused while it
#: is kept. Only selections without directives are kept (@skip/@include depend
#: on the variables).
_KEPT_PLANS = 512
_PLANS: OrderedDict[tuple[GraphQLObjectType, tuple[int, ...]], tuple[tuple[Any, ...], Complete | None]] = (
    OrderedDict()
)
_PLANS_LOCK = threading.Lock()


def _has_directives(selection_set: Any, fragments: dict[str, Any], seen: set[str]) -> bool:
    """Whether a selection set, its fragments included, uses any directive."""
    for selection in selection_set.selections if selection_set is not None else ():
        if selection.directives:
            return True
        if isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in seen:
                continue
            seen.add(name)
            details = fragments.get(name)
            fragment = getattr(details, "definition", None)
            if (
                fragment is None
                or getattr(details, "variable_signatures", None)
                or fragment.directives
                or _has_directives(fragment.selection_set, fragments, seen)
            ):
                return True  # (fragment arguments: not kept either)
        elif _has_directives(selection.selection_set, fragments, seen):
            return True
    return False


class PlainDataExecutor(StrawberryGraphQLCoreExecutionContext):
    """strawberry's executor, completing plain-data objects from a plan (module doc)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plans: dict[tuple[GraphQLObjectType, int], tuple[Any, Complete | None]] = {}

    def complete_object_value(
        self,
        return_type: GraphQLObjectType,
        field_details_list: Any,
        info: Any,
        path: Any,
        result: Any,
        position_context: Any,
    ) -> Any:
        plan = self._plan(return_type, field_details_list)
        if plan is not None:
            try:
                return plan(result)
            except (_NotPlain, GraphQLError, TypeError, ValueError, AttributeError):
                pass  # completed again below, where graphql-core reports what is wrong
        return super().complete_object_value(
            return_type, field_details_list, info, path, result, position_context
        )

    # -- plans ------------------------------------------------------------------
    def _plan(self, object_type: GraphQLObjectType, field_details_list: Any) -> Complete | None:
        """The completion of ``object_type`` for this selection, or None when it is not plain data."""
        key = (object_type, id(field_details_list))
        found = self._plans.get(key)
        if found is None:
            # the list is kept with its plan, so that its id is not reused during the request
            found = self._plans[key] = (field_details_list, self._kept_plan(object_type, field_details_list))
        return found[1]

    def _kept_plan(self, object_type: GraphQLObjectType, field_details_list: Any) -> Complete | None:
        nodes = tuple(details.node for details in field_details_list)
        if any(details.fragment_variable_values is not None for details in field_details_list):
            return self._compile_object(object_type, field_details_list)
        key = (object_type, tuple(map(id, nodes)))
        with _PLANS_LOCK:
            kept = _PLANS.get(key)
            if kept is not None:
                _PLANS.move_to_end(key)
                return kept[1]
        plan = self._compile_object(object_type, field_details_list)
        if not any(_has_directives(node.selection_set, self.fragments, set()) for node in nodes):
            with _PLANS_LOCK:
                _PLANS[key] = (nodes, plan)
                while len(_PLANS) > _KEPT_PLANS:
                    _PLANS.popitem(last=False)
        return plan

    def _compile_object(self, object_type: GraphQLObjectType, field_details_list: Any) -> Complete | None:
        middleware = self.middleware_manager
        if (middleware is not None and middleware.middlewares) or object_type.is_type_of is not None:
            return None  # middleware to run, or a type check that needs the resolve info
        grouped, defer_usages, _forbidden = self.collect_subfields(object_type, field_details_list)
        if defer_usages:
            return None
        fields: list[tuple[str, str | None, Complete | None, Any, type | None]] = []
        for response_name, sub_details in grouped.items():
            name = sub_details[0].node.name.value
            if name == "__typename":
                fields.append((response_name, None, None, object_type.name, None))
                continue
            field_def = object_type.fields.get(name)
            if field_def is None:
                return None
            attribute = _plain_field(field_def)
            if attribute is None:
                return None
            complete = self._compile_value(field_def.type, sub_details)
            if complete is None:
                return None
            fields.append((response_name, attribute, complete, None, _own_type(field_def.type)))
        return _straight_line(fields)

    def _compile_value(self, value_type: GraphQLOutputType, field_details_list: Any) -> Complete | None:
        if is_non_null_type(value_type):
            inner = self._compile_value(value_type.of_type, field_details_list)  # type: ignore[attr-defined]
            if inner is None:
                return None

            def non_null(value: Any) -> Any:
                if value is None:
                    raise _NotPlain
                completed = inner(value)
                if completed is None:
                    raise _NotPlain
                return completed

            return non_null
        if is_list_type(value_type):
            assert isinstance(value_type, GraphQLList)
            item = self._compile_value(value_type.of_type, field_details_list)
            if item is None:
                return None

            own = _own_type(value_type.of_type)

            def listed(value: Any) -> Any:
                if value is None:
                    return None
                if isinstance(value, str | bytes | dict) or not hasattr(value, "__iter__"):
                    raise _NotPlain
                return [v if type(v) is own else item(v) for v in value]

            return listed
        if is_leaf_type(value_type):
            coerce = value_type.coerce_output_value  # type: ignore[union-attr]
            same = _SAME.get(value_type)
            if same is not None:  # a value already of the scalar's own type is its own output

                def complete_scalar(value: Any) -> Any:
                    if value is None:
                        return None
                    if same(value):
                        return value
                    coerced = coerce(value)
                    if coerced is None or coerced is Undefined:
                        raise _NotPlain
                    return coerced

                return complete_scalar

            def complete_leaf(value: Any) -> Any:
                if value is None:
                    return None
                coerced = coerce(value)
                if coerced is None or coerced is Undefined:
                    raise _NotPlain  # graphql-core's complete_leaf_value raises the error
                return coerced

            return complete_leaf
        if is_object_type(value_type):
            assert isinstance(value_type, GraphQLObjectType)
            obj = self._compile_object(value_type, field_details_list)
            if obj is None:
                return None
            definition = (value_type.extensions or {}).get("strawberry-definition")
            if getattr(getattr(definition, "origin", None), "SHARED_WIRE", False):
                return _completed_once(obj)
            return lambda value: None if value is None else obj(value)
        return None  # an interface or a union: the runtime type is resolved the ordinary way

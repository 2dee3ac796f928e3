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

import enum
import keyword
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
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


#: What a leaf value must be to be its own output, as source over a variable
#: (graphql-core's coercion: a str is a String or an ID; a bool a Boolean; an
#: int within 32 bits an Int; a finite float a Float — ``x - x`` is 0.0 only
#: for a finite float).
_OWN_CHECKS: dict[Any, str] = {
    GraphQLString: "type({first}) is str",
    GraphQLID: "type({first}) is str",
    GraphQLBoolean: "type({first}) is bool",
    GraphQLInt: "type({first}) is int and -2147483648 <= {var} <= 2147483647",
    GraphQLFloat: "type({first}) is float and {var} - {var} == 0.0",
}


class _Value:
    """A compiled completion of one GraphQL type: ``complete`` takes any value
    (None included) the way graphql-core would; ``check`` gives, for the
    common case, source for a test over a variable and the output when the
    test holds — inlined by the generated code with ``complete`` as the
    fallback, so that most values cost no call at all."""

    __slots__ = ("check", "complete")

    def __init__(
        self, complete: Complete, check: Callable[[str, str, _Source], tuple[str, str]] | None
    ) -> None:
        self.complete = complete
        self.check = check


class _Source:
    """The names a generated function reads from its environment."""

    def __init__(self) -> None:
        self.env: dict[str, Any] = {}
        self._loops = 0

    def name(self, value: Any) -> str:
        name = f"n{len(self.env)}"
        self.env[name] = value
        return name

    def loop_variable(self) -> str:
        self._loops += 1
        return f"u{self._loops}"

    def inline(self, value: _Value, var: str, first: str, nullable: bool) -> str:
        """An expression completing the value held by ``var`` (bound by
        ``first``, its first occurrence, when that is an assignment)."""
        fallback = self.name(value.complete)
        if value.check is None:
            return f"{fallback}({first})"
        test, output = value.check(var, first, self)
        if nullable:
            return f"({output} if {test} else None if {var} is None else {fallback}({var}))"
        return f"({output} if {test} else {fallback}({var}))"


def _straight_line(fields: list[tuple[str, str | None, _Value | None, Any, bool]]) -> Complete:
    """One object's completion as one generated function: a dict display, field
    by field in the selection's order, with no call per field where the value
    is its own output (a str of a String, a finite float of a Float, a member of
    an enum: its name…), lists of those and nested plain objects completed in
    place — a findResources answer holds about a thousand values. The source
    holds only ``repr`` literals of response names (GraphQL names, checked by
    the parser) and of the type's name, and generated names; attributes that
    are not plain identifiers are read with ``getattr``."""
    source = _Source()
    items = []
    for i, (response_name, attribute, value, typename, nullable) in enumerate(fields):
        if attribute is None or value is None:
            items.append(f"{response_name!r}: {typename!r}")
            continue
        if attribute.isidentifier() and not keyword.iskeyword(attribute):
            read = f"value.{attribute}"
        else:
            read = f"getattr(value, {source.name(attribute)})"
        items.append(f"{response_name!r}: {source.inline(value, f'v{i}', f'(v{i} := {read})', nullable)}")
    text = "def complete_object(value):\n    return {" + ", ".join(items) + "}\n"
    exec(compile(text, "<plan>", "exec"), source.env)  # our own generated source (docstring)
    return source.env["complete_object"]  # type: ignore[no-any-return]


def _leaf_check(leaf_type: Any) -> Callable[[str, str, _Source], tuple[str, str]] | None:
    """The inline test of a scalar (:data:`_OWN_CHECKS`) or of an enum of
    strawberry's (a member of its Python enum: the member's GraphQL name, as
    its ``coerce_output_value`` gives it, looked up in a table made here)."""
    own = _OWN_CHECKS.get(leaf_type)
    if own is not None:
        return lambda var, first, source: (own.format(first=first, var=var), var)
    wrapped = getattr(leaf_type, "wrapped_cls", None)
    if (
        isinstance(leaf_type, GraphQLEnumType)
        and isinstance(wrapped, type)
        and issubclass(wrapped, enum.Enum)
    ):
        try:
            names = {member: leaf_type.coerce_output_value(member) for member in wrapped}
        except (GraphQLError, TypeError, ValueError):
            return None
        if not all(type(n) is str for n in names.values()):
            return None
        return lambda var, first, source: (
            f"type({first}) is {source.name(wrapped)}",
            f"{source.name(names)}[{var}]",
        )
    return None


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
        fields: list[tuple[str, str | None, _Value | None, Any, bool]] = []
        for response_name, sub_details in grouped.items():
            name = sub_details[0].node.name.value
            if name == "__typename":
                fields.append((response_name, None, None, object_type.name, False))
                continue
            field_def = object_type.fields.get(name)
            if field_def is None:
                return None
            attribute = _plain_field(field_def)
            if attribute is None:
                return None
            value = self._compile_value(field_def.type, sub_details)
            if value is None:
                return None
            fields.append((response_name, attribute, value, None, not is_non_null_type(field_def.type)))
        return _straight_line(fields)

    def _compile_value(self, value_type: GraphQLOutputType, field_details_list: Any) -> _Value | None:
        if is_non_null_type(value_type):
            inner = self._compile_value(value_type.of_type, field_details_list)
            if inner is None:
                return None
            complete = inner.complete

            def non_null(value: Any) -> Any:
                if value is None:
                    raise _NotPlain
                completed = complete(value)
                if completed is None:
                    raise _NotPlain
                return completed

            # every inline output is a value (a str, a list, a dict): never null
            return _Value(non_null, inner.check)
        if is_list_type(value_type):
            assert isinstance(value_type, GraphQLList)
            item = self._compile_value(value_type.of_type, field_details_list)
            if item is None:
                return None
            item_complete = item.complete
            item_nullable = not is_non_null_type(value_type.of_type)

            def listed(value: Any) -> Any:
                if value is None:
                    return None
                if isinstance(value, str | bytes | dict) or not hasattr(value, "__iter__"):
                    raise _NotPlain
                return [item_complete(v) for v in value]

            def each(var: str, first: str, source: _Source) -> tuple[str, str]:
                u = source.loop_variable()
                return (
                    f"(type({first}) is list or type({var}) is tuple)",
                    f"[{source.inline(item, u, u, item_nullable)} for {u} in {var}]",
                )

            return _Value(listed, each)
        if is_leaf_type(value_type):
            coerce = value_type.coerce_output_value

            def complete_leaf(value: Any) -> Any:
                if value is None:
                    return None
                coerced = coerce(value)
                if coerced is None or coerced is Undefined:
                    raise _NotPlain  # graphql-core's complete_leaf_value raises the error
                return coerced

            return _Value(complete_leaf, _leaf_check(value_type))
        if is_object_type(value_type):
            assert isinstance(value_type, GraphQLObjectType)
            obj = self._compile_object(value_type, field_details_list)
            if obj is None:
                return None
            definition = (value_type.extensions or {}).get("strawberry-definition")
            if getattr(getattr(definition, "origin", None), "SHARED_WIRE", False):
                obj = _completed_once(obj)
            whole = obj
            return _Value(
                lambda value: None if value is None else whole(value),
                lambda var, first, source: (f"{first} is not None", f"{source.name(whole)}({var})"),
            )
        return None  # an interface or a union: the runtime type is resolved the ordinary way

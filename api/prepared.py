"""Documents already parsed and validated, executed without strawberry's
per-request machinery.

A GraphQL request's own work is its resolvers and its completion; around them
strawberry's view and ``Schema.execute`` create an execution context, run the
extension hooks (limits, parser cache, validation cache, error masking) and
convert the result, for every request — about a sixth of a served
findResources request's time. For a document whose text has already been
parsed and validated under the same rules (the parser and validation caches
hold it: ``api.schema.Parsing``, ``api.schema.Validation``), all that is left
is what graphql-core's ``execute`` does, with the same executor, context and
root value, and the same error masking (``api.schema.mask``). Strawberry's path
serves everything else: a new document, a mutation, a GET, a streamed or
batched request, a multipart upload, any body that is not a plain JSON object
of ``query`` / ``variables`` / ``operationName``. Both paths answer the same
bytes (``tests/api/test_prepared.py`` compares them request by request).

This is the "trusted / persisted documents" idea of other GraphQL servers,
without their registry: any caller's document qualifies once validated, and
only for the process that validated it.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from inspect import isawaitable
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    OperationDefinitionNode,
    OperationType,
    execute,
)
from strawberry.execution.is_awaitable import optimized_is_awaitable

__all__ = ["remember", "prepared_request", "execute_prepared", "forget_all"]

#: Documents validated without errors, by their text (most recent last).
_PREPARED: OrderedDict[str, tuple[DocumentNode, str | None]] = OrderedDict()
_PREPARED_KEPT = 256
_LOCK = threading.Lock()


def remember(query: str, document: DocumentNode) -> None:
    """A document that parsed and validated without error under the schema's
    rules: kept if it holds exactly one operation, a query."""
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if len(operations) != 1 or operations[0].operation is not OperationType.QUERY:
        return
    name = operations[0].name.value if operations[0].name is not None else None
    with _LOCK:
        _PREPARED[query] = (document, name)
        _PREPARED.move_to_end(query)
        while len(_PREPARED) > _PREPARED_KEPT:
            _PREPARED.popitem(last=False)


def forget_all() -> None:
    """Every prepared document forgotten (tests; a schema reloaded)."""
    with _LOCK:
        _PREPARED.clear()


def prepared_request(body: bytes) -> tuple[DocumentNode, dict[str, Any] | None, str | None] | None:
    """(document, variables, operation name) of a JSON body that strawberry
    would read as one plain request for a prepared document; None for
    anything else (strawberry's path then reads it, and reports its errors)."""
    try:
        data = orjson.loads(body)  # stricter than the json module: what it refuses goes the long way
    except orjson.JSONDecodeError:
        return None
    if type(data) is not dict:
        return None
    query, variables, name = data.get("query"), data.get("variables"), data.get("operationName")
    if type(query) is not str or data.get("extensions") is not None:
        return None
    if variables is not None and type(variables) is not dict:
        return None
    if name is not None and type(name) is not str:
        return None
    found = _PREPARED.get(query)
    if found is None or (name is not None and name != found[1]):
        return None  # (strawberry refuses an operation name the document does not hold: a 400)
    return found[0], variables, name


async def execute_prepared(
    schema: Any,
    document: DocumentNode,
    variables: dict[str, Any] | None,
    operation_name: str | None,
    context: Any,
    executor: type,
    mask: Any,
) -> dict[str, Any]:
    """The response data strawberry's view would build for this operation:
    graphql-core's ``execute`` as ``Schema.execute`` calls it (no root value,
    no middleware: the schema's extensions define no resolver hook), every
    error through ``mask``, then ``{"data", "errors"}`` as strawberry's
    ``process_result`` writes it (no extension adds results)."""
    try:
        result = execute(
            schema._schema,
            document,
            root_value=None,
            context_value=context,
            variable_values=variables,
            operation_name=operation_name,
            executor_class=executor,
            is_awaitable=optimized_is_awaitable,
            operation_extensions=None,
        )
        if isawaitable(result):
            result = await result
        assert isinstance(result, ExecutionResult)
        data, errors = result.data, result.errors
    except Exception as exc:  # noqa: BLE001 - as Schema.execute: the operation's error, masked
        data, errors = (
            None,
            [exc if isinstance(exc, GraphQLError) else GraphQLError(str(exc), original_error=exc)],
        )
    answer: dict[str, Any] = {"data": data}
    if errors:
        answer["errors"] = [mask(error).formatted for error in errors]
    return answer

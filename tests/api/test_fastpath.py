"""The plain-data completion (api/fastpath.py) answers exactly as graphql-core's
own executor: every document below is run by the served schema and by the same
schema with strawberry's ordinary executor, and the answers compared whole."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import pytest

from api import schema as schema_module
from api.fastpath import PlainDataExecutor
from api.queries import COVERAGE_QUERY, FIND_RESOURCES_QUERY
from api.schema import Context, DihrSchema, Mutation, Query
from graph.access import SYSTEM
from graph.settings import Settings

pytestmark = pytest.mark.slow

ORDINARY = DihrSchema(query=Query, mutation=Mutation, extensions=list(schema_module.schema.extensions))

SITUATION = {"deficiencies": ["DV", "TSA"], "commune": "35238", "age": 19, "radiusKm": 60}

DOCUMENTS: list[tuple[str, dict[str, Any]]] = [
    (FIND_RESOURCES_QUERY, {"situation": SITUATION, "limit": 20}),
    (
        FIND_RESOURCES_QUERY,
        {
            "situation": {
                "deficiencies": ["DI", "EPI"],
                "skills": ["CAA"],
                "commune": "2A004",
                "radiusKm": 30,
            },
            "limit": 5,
        },
    ),
    (
        FIND_RESOURCES_QUERY,
        {"situation": {"deficiencies": ["DA", "DV"], "postcode": "75015", "radiusKm": 10}, "limit": 50},
    ),
    (COVERAGE_QUERY, {"deficiencies": ["DV", "TSA"], "level": "REGION", "thresholdKm": 60}),
    # aliases, __typename, inline fragments, skip/include by variable, the same field twice
    (
        """query Q($s: SituationInput!, $more: Boolean!) {
          findResources(situation: $s, limit: 3) {
            __typename
            top: matches { __typename rank k: key name ... on Match { kind covers { link } } }
            matches @include(if: $more) { key contact { phone } }
            place @skip(if: $more) { commune }
            qualification { criteria { code } }
          } }""",
        {"s": SITUATION, "more": True},
    ),
    (
        """query Q($s: SituationInput!, $more: Boolean!) {
          findResources(situation: $s, limit: 3) { matches @include(if: $more) { key } place @skip(if: $more) { commune } }
        }""",
        {"s": SITUATION, "more": False},
    ),
    # a type with resolver fields (Territory.parent/children) under plain ones
    (
        '{ erhr(code: "BRE") { name regions { code name } departments { code } } '
        "territories(kind: REGION) { code parent { code children { code } } } }",
        {},
    ),
    (
        '{ resources(first: 5, filter: {deficiencies: ["DV"]}) { totalCount pageInfo { hasNextPage endCursor } '
        "edges { cursor node { key name kind contact { city } competences { need link source } } } } }",
        {},
    ),
    # errors: the same messages and paths
    (FIND_RESOURCES_QUERY, {"situation": {"deficiencies": ["DV"], "commune": "99999"}, "limit": 5}),
    (FIND_RESOURCES_QUERY, {"situation": {"deficiencies": ["XX"], "commune": "35238"}, "limit": 5}),
]


def _run(schema: Any, store: Any, query: str, variables: dict[str, Any]) -> tuple[Any, list[Any]]:
    context = Context(store, Settings(data_dir=store.path.parent), SYSTEM)
    result = asyncio.run(schema.execute(query, variable_values=variables, context_value=context))
    # a masked error's correlation id differs from one run to the next
    errors = [
        (re.sub(r"support : \w+", "support : …", e.message), e.path, (e.extensions or {}).get("code"))
        for e in result.errors or []
    ]
    return result.data, errors


def test_the_served_schema_completes_plain_data_itself():
    assert schema_module.schema.execution_context_class is PlainDataExecutor
    assert ORDINARY.execution_context_class is not PlainDataExecutor


@pytest.mark.parametrize("number", range(len(DOCUMENTS)))
def test_plain_data_completion_answers_as_the_ordinary_executor(demo_store, number):
    query, variables = DOCUMENTS[number]
    fast = _run(schema_module.schema, demo_store, query, variables)
    ordinary = _run(ORDINARY, demo_store, query, variables)
    assert fast == ordinary
    assert fast[0] is not None or fast[1], "the document answered neither data nor errors"


def test_a_null_for_a_non_null_field_is_reported_as_graphql_core_reports_it(demo_store, monkeypatch):
    """A value the plan cannot complete is completed again the ordinary way: same error, same path."""
    from api import types

    original = types.match_result_wire

    def broken(result: Any) -> Any:
        wire = original(result)
        wire.matches[1].name = None
        return wire

    monkeypatch.setattr(schema_module, "match_result_wire", broken)
    fast = _run(schema_module.schema, demo_store, FIND_RESOURCES_QUERY, {"situation": SITUATION, "limit": 5})
    ordinary = _run(ORDINARY, demo_store, FIND_RESOURCES_QUERY, {"situation": SITUATION, "limit": 5})
    assert fast == ordinary
    assert fast[0] is None and fast[1] and fast[1][0][1][:3] == ["findResources", "matches", 1]


def test_shared_values_completed_once_answer_each_selection_as_asked(demo_store):
    """A need's explanation and a contact are shared by answers and completed once
    per plan: asked again, and asked with another selection, each answer is the
    ordinary executor's, and the second answer reuses the first one's completions."""
    first = "query Q($s: SituationInput!) { findResources(situation: $s) { matches { covers { need } contact { city } } } }"
    second = (
        "query Q($s: SituationInput!) { findResources(situation: $s) { matches { "
        "covers { need level explanation } contact { phone city } } } }"
    )
    variables = {"s": SITUATION}
    answers = []
    for query in (first, second, first, second):
        fast = _run(schema_module.schema, demo_store, query, variables)
        assert fast == _run(ORDINARY, demo_store, query, variables)
        answers.append(fast[0]["findResources"]["matches"])
    covered = [i for i, m in enumerate(answers[0]) if m["covers"]]
    assert covered and all(
        set(answers[1][i]["covers"][0]) == {"need", "level", "explanation"} for i in covered
    )
    i = covered[0]
    assert answers[2][i]["covers"][0] is answers[0][i]["covers"][0]  # completed once, given again
    assert answers[3][i]["covers"][0] is answers[1][i]["covers"][0]

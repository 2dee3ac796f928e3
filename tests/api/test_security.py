"""Who may see what: the authorization matrix, small-cell suppression,
abuse limits, masked errors and the audit trail — on the demo network."""

from __future__ import annotations

import itertools

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.queries import COVERAGE_QUERY
from api.security import RateLimiter
from graph.access import audit_entries, create_key, revoke_key
from graph.disclosure import SMALL_CELL, Tree, suppressed_cells
from graph.model import Node, NodeKind
from graph.settings import Settings

pytestmark = pytest.mark.slow
K = NodeKind


@pytest.fixture(scope="module")
def app(demo_dir, demo_store):
    return create_app(Settings(data_dir=demo_dir, rate_limit_per_minute=100_000), store=demo_store)


@pytest.fixture(scope="module")
def keys(demo_store):
    made = {}
    for name, role, territory in (
        ("partner", "partner", None),
        ("erhr_na", "erhr", "NA"),
        ("erhr_ara", "erhr", "ARA"),
        ("gnchr", "gnchr", None),
    ):
        info, secret = create_key(demo_store, role, territory=territory, label=f"matrix {name}")
        made[name] = (info.key_id, {"Authorization": f"Bearer {secret}"})
    return made


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def situations(demo_store):
    """One open situation of the NA territory, one of ARA."""
    na = next(n.key for n in demo_store.nodes(K.SITUATION) if n.props["erhr"] == "NA")
    ara = next(n.key for n in demo_store.nodes(K.SITUATION) if n.props["erhr"] == "ARA")
    return {"NA": na, "ARA": ara}


def gql(client, headers, query, **variables):
    response = client.post("/graphql", json={"query": query, "variables": variables}, headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    code = body["errors"][0]["extensions"]["code"] if body.get("errors") else "OK"
    return code, body


SITUATION_QUERY = (
    "query($id: String!) { situation(id: $id) { id age erhr combination referrals { resourceKey } } }"
)
REFERRAL_MUTATION = """mutation($id: String!) { recordReferral(situationId: $id, resourceKind: ERHR_TEAM,
  resourceKey: "NA", date: "2026-11-20", outcome: "conseil donné") { id } }"""

DIRECTORY = {
    "deficiencies": "{ deficiencies { code } }",
    "skills": "{ skills { code } }",
    "conditions": "{ conditions { orpha } }",
    "territories": "{ territories(kind: ERHR) { code } }",
    "commune": '{ commune(code: "86194") { name } }',
    "erhr": '{ erhr(code: "NA") { name } }',
    "qualify": '{ qualify(deficiencies: ["DV", "DA"]) { cnrhr } }',
    "coverage": '{ coverage(deficiencies: ["DV", "TSA"], level: REGION) { national { population } } }',
    "gaps": "{ gaps(level: ERHR) { criteria { code } } }",
    "whatIf": '{ whatIf(deficiencies: ["DA", "DV"], additions: [{commune: "97101", deficiencies: ["DA", "DV"]}]) { combination } }',
    "resources": '{ resources(first: 2, filter: {near: {commune: "86194", radiusKm: 30}}) { totalCount edges { node { name } } } }',
    "knowledge": '{ knowledge(about: "DV") { title about { label } } }',
    "activity": '{ activity(year: 2026, erhr: "NA") { activeFile byCriterion { key count } } }',
    "poleActivity": '{ poleActivity(period: "2026") { name activeFile perFte meetsTarget } }',
}
RESTRICTED = {
    "findResources": '{ findResources(situation: {deficiencies: ["DV"], commune: "86194"}) { combination } }',
    "networkInsights": '{ networkInsights(territory: "NA") { territory } }',
    "situations": "{ situations(limit: 5) { total items { id erhr } } }",
}


@pytest.mark.parametrize("role", ["partner", "erhr_na", "erhr_ara", "gnchr"])
@pytest.mark.parametrize("operation", sorted(DIRECTORY))
def test_directory_and_aggregates_are_open_to_every_role(client, keys, role, operation):
    assert gql(client, keys[role][1], DIRECTORY[operation])[0] == "OK"


@pytest.mark.parametrize(
    "role,expected", [("partner", "FORBIDDEN"), ("erhr_na", "OK"), ("erhr_ara", "OK"), ("gnchr", "OK")]
)
@pytest.mark.parametrize("operation", sorted(RESTRICTED))
def test_matching_network_and_situations_are_refused_to_partners(client, keys, role, expected, operation):
    if operation == "networkInsights" and role == "erhr_ara":
        expected = "FORBIDDEN"  # another ERHR's links: see below
    assert gql(client, keys[role][1], RESTRICTED[operation])[0] == expected


@pytest.mark.parametrize(
    "role,territory,expected",
    [
        ("partner", "NA", "FORBIDDEN"),
        ("erhr_na", "NA", "OK"),
        ("erhr_na", "ARA", "NOT_FOUND"),
        ("erhr_ara", "NA", "NOT_FOUND"),
        ("erhr_ara", "ARA", "OK"),
        ("gnchr", "NA", "OK"),
        ("gnchr", "ARA", "OK"),
    ],
)
@pytest.mark.parametrize("operation", ["read", "referral"])
def test_situation_access_by_role_and_territory(
    client, keys, situations, demo_store, role, territory, expected, operation
):
    key_id, headers = keys[role]
    sid = situations[territory]
    code, body = gql(client, headers, SITUATION_QUERY if operation == "read" else REFERRAL_MUTATION, id=sid)
    assert code == expected
    if expected == "NOT_FOUND":  # indistinguishable from a situation that does not exist
        missing_code, missing = gql(
            client, headers, SITUATION_QUERY if operation == "read" else REFERRAL_MUTATION, id="SIT-absent"
        )
        assert missing_code == "NOT_FOUND"
        assert body["errors"][0]["message"].replace(sid, "X") == missing["errors"][0]["message"].replace(
            "SIT-absent", "X"
        )
    if expected == "OK":
        operation_name = "situations:read" if operation == "read" else "situations:referral"
        entries = audit_entries(demo_store, situation=sid, key_id=key_id)
        assert operation_name in {e.operation for e in entries}


def test_an_erhr_lists_only_its_own_situations_and_each_read_is_audited(client, keys, demo_store):
    key_id, headers = keys["erhr_na"]
    _, body = gql(client, headers, "{ situations(limit: 100) { total items { id erhr } } }")
    items = body["data"]["situations"]["items"]
    assert items and {i["erhr"] for i in items} == {"NA"}
    listed = audit_entries(demo_store, key_id=key_id)
    assert any(
        e.operation == "situations:list" and set(e.situations) == {i["id"] for i in items} for e in listed
    )


def test_situation_types_are_unreachable_from_partner_fields(app):
    from api.schema import schema

    partner_roots = set(DIRECTORY)
    graph = schema._schema  # graphql-core schema
    seen: set[str] = set()

    def walk(type_) -> None:
        while hasattr(type_, "of_type"):
            type_ = type_.of_type
        if type_.name in seen:
            return
        seen.add(type_.name)
        for field in getattr(type_, "fields", {}).values():
            walk(field.type)

    for name, field in graph.query_type.fields.items():
        if name in partner_roots:
            walk(field.type)
    assert not seen & {"Situation", "SituationPage", "Referral"}


def test_anonymous_gets_health_and_the_login_page_only(client):
    assert client.get("/health").status_code == 200
    assert client.get("/").status_code == 200
    for path in (
        "/graphql",
        "/exports/gaps.csv",
        "/maps/gaps",
        "/modeles/annuaire.csv",
        "/docs",
        "/openapi.json",
    ):
        response = client.get(path)
        assert response.status_code == 401 and response.json()["code"] == "UNAUTHENTICATED", path
    assert client.post("/graphql", json={"query": "{ __schema { types { name } } }"}).status_code == 401


def test_revoked_and_forged_keys_are_refused(client, demo_store):
    info, secret = create_key(demo_store, "gnchr", label="to revoke")
    headers = {"Authorization": f"Bearer {secret}"}
    assert gql(client, headers, "{ skills { code } }")[0] == "OK"
    revoke_key(demo_store, info.key_id)
    response = client.post("/graphql", json={"query": "{ skills { code } }"}, headers=headers)
    assert response.status_code == 401
    forged = {"Authorization": f"Bearer {secret[:-4]}abcd"}
    wrong = client.post("/graphql", json={"query": "{ skills { code } }"}, headers=forged)
    assert wrong.status_code == 401
    assert response.json() == wrong.json()  # a revoked key is not told apart from a wrong one


def test_introspection_works_for_authenticated_callers(client, keys):
    code, body = gql(client, keys["partner"][1], "{ __schema { queryType { name } } }")
    assert code == "OK" and body["data"]["__schema"]["queryType"]["name"] == "Query"


# -- small-cell suppression --------------------------------------------------------
def _exact_open(store, combination: str) -> dict[str, int]:
    """Open situations whose combination is exactly ``combination``, per department."""
    from graph.readmodel import read_model

    model = read_model(store)
    communes, is_open = model.competence.demand.get(combination, ([], []))
    counts: dict[str, int] = {}
    for commune, o in zip(communes, is_open, strict=True):
        if o and commune in model.communes.position:
            dep = model.communes.department[model.communes.position[commune]]
            counts[dep] = counts.get(dep, 0) + 1
    return counts


def test_partner_counts_below_11_are_suppressed_everywhere(client, keys, demo_store):
    _, partner = gql(
        client,
        keys["partner"][1],
        COVERAGE_QUERY,
        deficiencies=["DV", "TSA"],
        level="DEPARTMENT",
        thresholdKm=60,
    )
    assert partner["data"]["coverage"]["exactCombinationCounts"] is True
    exact = _exact_open(demo_store, "DV+TSA")
    for row in partner["data"]["coverage"]["territories"]:
        truth = exact.get(row["code"], 0)
        if truth < SMALL_CELL:
            assert row["openSituations"] is None and row["suppressed"] is True
        if row["openSituations"] is not None:
            assert row["openSituations"] == truth >= SMALL_CELL
    assert any(t["suppressed"] for t in partner["data"]["coverage"]["territories"])
    csv_text = client.get(
        "/exports/coverage.csv", params={"deficiencies": "DV,TSA"}, headers=keys["partner"][1]
    ).text
    assert "< 11" in csv_text
    page = client.get("/maps/coverage", params={"deficiencies": "DV,TSA"}, headers=keys["partner"][1]).text
    assert '"situations_sans_solution": "< 11"' in page or '"situations_sans_solution": "\\u003c 11"' in page


def _published(counts: dict[str, int], tree: Tree) -> dict[str, dict[str, int]]:
    hidden = suppressed_cells(counts, tree)
    values = {"DEPARTMENT": dict(counts), "REGION": {}, "ERHR": {}, "NATIONAL": {"FR": sum(counts.values())}}
    for dep, region in tree.region_of.items():
        values["REGION"][region] = values["REGION"].get(region, 0) + counts[dep]
    for region, erhr in tree.erhr_of.items():
        values["ERHR"][erhr] = values["ERHR"].get(erhr, 0) + values["REGION"][region]
    return {
        level: {c: v for c, v in cells.items() if c not in hidden[level]} for level, cells in values.items()
    }


@pytest.mark.parametrize(
    "counts",
    [
        {"d1": 3, "d2": 20, "d3": 15, "d4": 40, "d5": 12},
        {"d1": 0, "d2": 30, "d3": 5, "d4": 6, "d5": 50},
        {"d1": 12, "d2": 13, "d3": 2, "d4": 11, "d5": 25},
        {"d1": 10, "d2": 1, "d3": 30, "d4": 30, "d5": 30},
    ],
)
def test_suppression_cannot_be_undone_by_differencing(counts):
    """Every published territory minus any combination of published parts it
    contains leaves 0 or at least 11: no suppressed count can be recomputed."""
    tree = Tree(
        region_of={"d1": "r1", "d2": "r1", "d3": "r2", "d4": "r3", "d5": "r3"},
        erhr_of={"r1": "E1", "r2": "E1", "r3": "E2"},
    )
    published = _published(counts, tree)
    assert all(
        v >= SMALL_CELL for cells in published.values() for v in cells.values()
    )  # nothing below 11 itself
    members = {("DEPARTMENT", d): {d} for d in counts}
    for region in set(tree.region_of.values()):
        members[("REGION", region)] = {d for d, r in tree.region_of.items() if r == region}
    for erhr in set(tree.erhr_of.values()):
        members[("ERHR", erhr)] = {d for d, r in tree.region_of.items() if tree.erhr_of[r] == erhr}
    members[("NATIONAL", "FR")] = set(counts)
    cells = [(lvl, code) for lvl, values in published.items() for code in values]
    checked = 0
    for whole in cells:
        parts = [c for c in cells if c != whole and members[c] < members[whole]]
        for size in range(1, len(parts) + 1):
            for combo in itertools.combinations(parts, size):
                covered = [members[c] for c in combo]
                if sum(len(m) for m in covered) != len(set().union(*covered)):
                    continue  # overlapping parts: not a partition
                residual = published[whole[0]][whole[1]] - sum(published[c[0]][c[1]] for c in combo)
                assert residual == 0 or residual >= SMALL_CELL, (whole, combo, residual)
                checked += 1
    assert any(v < SMALL_CELL for v in counts.values()) and checked > 0


# -- abuse limits ------------------------------------------------------------------
def test_depth_alias_and_token_limits(client, keys):
    headers = keys["gnchr"][1]
    deep = '{ erhr(code: "NA") { regions { name } departments { name } } }'
    assert gql(client, headers, deep)[0] == "OK"
    nested = (
        "query { "
        + 'findResources(situation: {deficiencies: ["DV"], commune: "86194"}) { teams { members { covers { need } } } }'
        + " }"
    )
    assert gql(client, headers, nested)[0] == "OK"
    navigation = "{ territories(kind: ERHR) { children { children { parent { parent { code } } } } } }"
    assert gql(client, headers, navigation)[0] == "OK"
    too_deep = "{ territories(kind: ERHR) { children { children { parent { children { parent { children { parent { children { code } } } } } } } } } }"
    for _ in range(2):  # the second time comes from the validation cache: still refused
        code, body = gql(client, headers, too_deep)
        assert code == "QUERY_TOO_DEEP" and "profondeur maximale" in body["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: skills {{ code }}" for i in range(20)) + " }"
    for _ in range(2):
        code, body = gql(client, headers, aliases)
        assert code == "TOO_MANY_ALIASES" and "alias" in body["errors"][0]["message"]
    tokens = "{ skills { " + " ".join(["code"] * 2100) + " } }"
    for _ in range(2):
        code, body = gql(client, headers, tokens)
        assert code == "QUERY_TOO_LONG" and "trop longue" in body["errors"][0]["message"]


def test_page_size_is_at_most_100(client, keys):
    code, body = gql(client, keys["gnchr"][1], "{ situations(limit: 101) { total } }")
    assert code == "INVALID_INPUT" and "100" in body["errors"][0]["message"]
    code, _ = gql(
        client,
        keys["gnchr"][1],
        '{ findResources(situation: {deficiencies: ["DV"], commune: "86194"}, limit: 101) { combination } }',
    )
    assert code == "INVALID_INPUT"


def test_body_size_limit(client, keys):
    body = '{"query": "{ skills { code } }", "padding": "' + "x" * 70_000 + '"}'
    response = client.post(
        "/graphql", content=body, headers={**keys["gnchr"][1], "content-type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["code"] == "BODY_TOO_LARGE"
    assert "octets" in response.json()["message"]


def test_rate_limit_answers_429_with_retry_after(demo_dir, demo_store):
    app = create_app(Settings(data_dir=demo_dir, rate_limit_per_minute=3), store=demo_store)
    _, secret = create_key(demo_store, "partner", label="rate")
    headers = {"Authorization": f"Bearer {secret}"}
    with TestClient(app) as c:
        statuses = [
            c.post("/graphql", json={"query": "{ skills { code } }"}, headers=headers) for _ in range(5)
        ]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    limited = statuses[3]
    assert limited.status_code == 429 and limited.json()["code"] == "RATE_LIMITED"
    assert int(limited.headers["Retry-After"]) >= 1 and "réessayez" in limited.json()["message"]


class _CountingShared:
    """A shared state over a dict, counting its writes (two limiters = two workers)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, str], int] = {}
        self.writes = 0

    def shared_hit(self, scope: str, key: str, window_s: float, add: int = 1) -> int:
        self.writes += 1 if add else 0
        self.counts[scope, key] = self.counts.get((scope, key), 0) + add
        return self.counts[scope, key]


@pytest.mark.parametrize("limit", [1, 7, 100, 1000])
def test_rate_limit_is_exact_across_workers_with_fewer_shared_writes(limit, monkeypatch):
    from api import security

    monkeypatch.setattr(security.time, "time", lambda: 120.5)  # one window throughout
    shared = _CountingShared()
    workers = [RateLimiter(shared, limit), RateLimiter(shared, limit)]
    granted = [0, 0]
    for i in range(3 * limit + 10):
        w = i % 2 if i < limit else (i // 3) % 2  # alternating, then uneven
        if workers[w].take("k") == 0:
            granted[w] += 1
    assert sum(granted) == limit  # the service's limit, never more, nothing lost to leases
    assert workers[0].take("k") > 0 and workers[1].take("k") > 0
    if limit >= 100:  # a busy key does not write the shared count once per request
        assert shared.writes < (3 * limit + 12) / 2


def test_query_timeout_is_a_coded_french_error(demo_dir, demo_store, monkeypatch):
    import time

    from graph import service

    app = create_app(Settings(data_dir=demo_dir, query_timeout_s=0.2), store=demo_store)
    _, secret = create_key(demo_store, "gnchr", label="timeout")
    monkeypatch.setattr(service, "network_insights", lambda *a, **k: time.sleep(2))
    with TestClient(app) as c:
        response = c.post(
            "/graphql",
            json={"query": '{ networkInsights(territory: "NA") { territory } }'},
            headers={"Authorization": f"Bearer {secret}"},
        )
    error = response.json()["errors"][0]
    assert error["extensions"]["code"] == "TIMEOUT" and "dépassé" in error["message"]


def test_unexpected_errors_are_masked_with_a_correlation_id(client, keys, monkeypatch):
    from graph import service

    def broken(*_a, **_k):
        raise RuntimeError("SELECT secret FROM nodes /work/main/graph/secret.py")

    monkeypatch.setattr(service, "gaps", broken)
    code, body = gql(client, keys["gnchr"][1], "{ gaps { level } }")
    text = str(body)
    assert code == "INTERNAL_ERROR" and body["errors"][0]["extensions"]["correlationId"]
    assert "SELECT" not in text and "/work/" not in text and "Traceback" not in text
    response = client.get("/exports/gaps.csv", headers=keys["gnchr"][1])
    assert response.status_code == 500 and "SELECT" not in response.text and response.json()["correlationId"]


# -- response headers --------------------------------------------------------------
def test_pages_carry_a_content_security_policy_and_are_never_cached(client, keys, situations):
    client.cookies.clear()
    for path in ("/connexion", f"/situations/{situations['NA']}"):
        response = client.get(path, headers=keys["erhr_na"][1], follow_redirects=False)
        assert response.status_code == 200, (path, response.status_code)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'self'" in csp and "object-src 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"  # health data never lands in a shared cache
    assert (
        "no-store"
        in client.post("/graphql", json={"query": "{ __typename }"}, headers=keys["partner"][1]).headers[
            "cache-control"
        ]
    )
    assert client.get("/static/dihr/dihr.css").headers.get("cache-control") != "no-store"


def test_a_map_runs_its_own_scripts_only(client, keys):
    import re

    response = client.get("/maps/gaps", headers=keys["gnchr"][1])
    assert response.status_code == 200
    nonce = re.search(r"script-src 'nonce-([^']+)'", response.headers["content-security-policy"]).group(1)
    scripts = re.findall(r"<script[^>]*>", response.text)
    assert scripts and all(f'nonce="{nonce}"' in tag for tag in scripts)
    again = client.get("/maps/gaps", headers=keys["gnchr"][1])
    assert nonce not in again.headers["content-security-policy"]  # one nonce per response


def test_a_chunked_body_cannot_pass_the_size_limit(client, keys):
    """No Content-Length (Transfer-Encoding: chunked): the bytes are counted as they come."""
    sent = []

    def chunks():
        for _ in range(200):  # 200 × 64 KiB = 12.5 MiB, far beyond the 64 KiB limit
            sent.append(1)
            yield b" " * 65_536

    response = client.post(
        "/graphql", content=chunks(), headers={**keys["partner"][1], "Content-Type": "application/json"}
    )
    assert response.status_code == 413 and response.json()["code"] == "BODY_TOO_LARGE"
    small = client.post(
        "/graphql",
        content=iter([b'{"query": "{ __typename }"}']),
        headers={**keys["partner"][1], "Content-Type": "application/json"},
    )
    assert small.status_code == 200 and small.json()["data"]["__typename"] == "Query"


def test_fragments_that_multiply_are_refused_at_once(client, keys):
    """Each fragment spreads the next twice: 2^24 paths in 700 bytes. Refused in
    time linear in the document, before the depth and alias rules would walk
    every path (about a minute of a blocked server)."""
    n = 24
    doc = "{ ...F0 } " + " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n))
    doc += f" fragment F{n} on Query {{ skills {{ code }} }}"
    code, body = gql(client, keys["partner"][1], doc)
    assert code == "QUERY_TOO_COMPLEX" and "fragments" in body["errors"][0]["message"]
    assert client.get("/health").status_code == 200


def test_national_computations_have_a_cost_per_request(client, keys):
    many = "{ " + " ".join(f"g{i}: gaps(level: ERHR) {{ level }}" for i in range(3)) + " }"
    code, body = gql(client, keys["partner"][1], many)
    assert code == "QUERY_TOO_COMPLEX" and "gaps 40" in body["errors"][0]["message"]
    code, _body = gql(
        client,
        keys["partner"][1],
        '{ a: gaps(level: ERHR) { level } b: coverage(deficiencies: ["DV"]) { combination } }',
    )
    assert code == "OK"


def test_failed_sign_ins_are_limited_per_origin_and_key_never_a_valid_key(demo_dir, demo_store, caplog):
    """A fresh app: ten wrong secrets for one key id from one origin, then that
    pair waits; a valid key from the same address (a whole ARS behind one
    proxy) is never refused because of them."""
    import logging
    import re

    _info, good = create_key(demo_store, "gnchr", label="throttle")
    app = create_app(Settings(data_dir=demo_dir, rate_limit_per_minute=100_000), store=demo_store)
    with TestClient(app) as fresh, caplog.at_level(logging.WARNING, logger="dihr.api"):
        for i in range(10):
            wrong = {"Authorization": f"Bearer dihr_{'x' * 12}_{i:032d}"}
            assert fresh.post("/graphql", json={"query": "{ __typename }"}, headers=wrong).status_code == 401
        refused = fresh.post(
            "/graphql",
            json={"query": "{ __typename }"},
            headers={"Authorization": f"Bearer dihr_{'x' * 12}_{99:032d}"},
        )
        assert refused.status_code == 429 and refused.json()["code"] == "TOO_MANY_SIGN_INS"
        assert int(refused.headers["retry-after"]) > 0
        valid = fresh.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {good}"}
        )
        assert valid.status_code == 200, valid.text
        csrf = re.search(r'name="csrf" value="([^"]+)"', fresh.get("/connexion").text).group(1)
        form = fresh.post("/connexion", data={"cle": good, "csrf": csrf, "suite": ""}, follow_redirects=False)
        assert form.status_code == 303  # signed in
        fresh.cookies.clear()
        csrf = re.search(r'name="csrf" value="([^"]+)"', fresh.get("/connexion").text).group(1)
        guessed = fresh.post(
            "/connexion",
            data={"cle": f"dihr_{'x' * 12}_{7:032d}", "csrf": csrf, "suite": ""},
            follow_redirects=False,
        )
        assert guessed.status_code == 429 and "Trop de tentatives" in guessed.text
    failures = [r for r in caplog.records if "failed sign-in" in r.getMessage()]
    assert len(failures) == 12 and all(good not in r.getMessage() for r in caplog.records)
    assert all("x" * 12 in r.getMessage() for r in failures)  # the key id tried, never the secret


def test_a_forged_forwarded_for_from_an_untrusted_peer_changes_nothing(demo_dir):
    """Served as in production: X-Forwarded-For is believed only from
    DIHR_TRUSTED_PROXIES (none by default), so rotating it gains nothing."""
    import httpx

    from tests.conftest import served

    with served(demo_dir, "--workers", "1") as url, httpx.Client(base_url=url, timeout=10) as c:
        answers = [
            c.post(
                "/graphql",
                json={"query": "{ __typename }"},
                headers={
                    "Authorization": f"Bearer dihr_{'y' * 12}_{i:032d}",
                    "X-Forwarded-For": f"203.0.113.{i}",
                },
            ).status_code
            for i in range(12)
        ]
    assert answers[:10] == [401] * 10 and answers[10:] == [429, 429], answers


def test_an_erhr_reads_only_its_own_network_and_each_ask_is_audited(client, keys, demo_store):
    key_id, headers = keys["erhr_ara"]
    code, body = gql(client, headers, '{ networkInsights(territory: "NA") { territory links } }')
    assert code == "FORBIDDEN" and "réservés à son ERHR" in body["errors"][0]["message"]
    assert gql(client, headers, '{ networkInsights(territory: "ARA") { territory } }')[0] == "OK"
    asked = [(e.operation, dict(e.params).get("territory")) for e in audit_entries(demo_store, key_id=key_id)]
    assert ("denied:network_insights", "NA") in asked and ("network:insights", "ARA") in asked


def test_denied_attempts_on_situations_are_audited(client, keys, situations, demo_store):
    key_id, headers = keys["erhr_ara"]
    assert gql(client, headers, SITUATION_QUERY, id=situations["NA"])[0] == "NOT_FOUND"
    assert any(
        e.operation == "denied:situations:read"
        for e in audit_entries(demo_store, situation=situations["NA"], key_id=key_id)
    )
    partner_id, partner = keys["partner"]
    assert gql(client, partner, REFERRAL_MUTATION, id=situations["NA"])[0] == "FORBIDDEN"
    assert gql(client, partner, "{ situations(limit: 5) { total } }")[0] == "FORBIDDEN"
    denied = {e.operation for e in audit_entries(demo_store, key_id=partner_id)}
    assert {"denied:situations:referral", "denied:situations:list"} <= denied


def test_aggregate_entries_carry_what_was_asked(client, keys, demo_store):
    key_id, headers = keys["partner"]
    for km in (30, 60):
        gql(
            client,
            headers,
            f'{{ coverage(deficiencies: ["DA", "DV"], thresholdKm: {km}) {{ national {{ population }} }} }}',
        )
    asked = [
        dict(e.params)
        for e in audit_entries(demo_store, key_id=key_id)
        if e.operation == "aggregate:coverage"
    ]
    assert {(a["combination"], a["threshold_km"]) for a in asked} >= {("DA+DV", "30.0"), ("DA+DV", "60.0")}


def test_the_audit_trail_is_chained_and_verified(tmp_path):
    """`dihr audit --verify`: intact, then an entry edited afterwards is found."""
    from typer.testing import CliRunner

    from cli.main import app as cli
    from graph.access import SYSTEM, audit
    from graph.model import Node
    from graph.stores.memory import MemoryStore

    store = MemoryStore(tmp_path)
    for i in range(5):
        audit(store, SYSTEM, "situations:read", [f"SIT-{i}"])
    store.close()
    env = {"DIHR_DATA_DIR": str(tmp_path)}
    intact = CliRunner().invoke(cli, ["audit", "--verify"], env=env)
    assert intact.exit_code == 0 and "Journal d'audit intact : 5 entrées" in intact.output
    store = MemoryStore(tmp_path)
    victim = sorted(store.nodes(K.AUDIT_ENTRY), key=lambda n: n.props["seq"])[2]
    store.upsert(
        [Node(K.AUDIT_ENTRY, victim.key, {"situations": ["SIT-autre"]})]
    )  # somebody rewrites history
    store.close()
    broken = CliRunner().invoke(cli, ["audit", "--verify"], env=env)
    assert broken.exit_code != 0 and victim.key in broken.output and "altéré" in broken.output


def test_a_national_count_below_11_is_suppressed_when_an_erhr_covers_several_regions():
    """The review's case: one ERHR over two regions was counted twice in the
    national total, so a national 8 looked like 16 and was published."""
    tree = Tree(region_of={"d1": "r1", "d2": "r2", "d3": "r3"}, erhr_of={"r1": "E1", "r2": "E1", "r3": "E2"})
    hidden = suppressed_cells({"d1": 4, "d2": 4, "d3": 0}, tree)
    assert "FR" in hidden["NATIONAL"] and "E1" in hidden["ERHR"]
    assert "FR" not in suppressed_cells({"d1": 8, "d2": 8, "d3": 0}, tree)["NATIONAL"]  # 16 published


# -- what a partner can vary -------------------------------------------------------
def test_partners_ask_fixed_thresholds_only(client, keys):
    for km in (10, 25, 29.9, 61):
        code, body = gql(
            client,
            keys["partner"][1],
            COVERAGE_QUERY,
            deficiencies=["DA", "DV"],
            level="REGION",
            thresholdKm=km,
        )
        assert code == "INVALID_INPUT" and "30, 60, 100 km" in body["errors"][0]["message"], km
    assert (
        gql(
            client,
            keys["gnchr"][1],
            COVERAGE_QUERY,
            deficiencies=["DA", "DV"],
            level="REGION",
            thresholdKm=25,
        )[0]
        == "OK"
    )


def test_a_partners_what_if_and_age_specific_coverage_carry_no_counts(client, keys):
    what_if = """{ whatIf(deficiencies: ["DA", "DV"], thresholdKm: 30, additions: [{commune: "86194", deficiencies: ["DA", "DV"]}]) {
        nationalBefore { openSituations withoutSolution } nationalAfter { openSituations withoutSolution }
        changes { before { withoutSolution } after { withoutSolution } } } }"""
    code, body = gql(client, keys["partner"][1], what_if)
    assert code == "OK", body
    result = body["data"]["whatIf"]
    assert (
        result["nationalBefore"]
        == result["nationalAfter"]
        == {"openSituations": None, "withoutSolution": None}
    )
    assert all(
        c["before"]["withoutSolution"] is None and c["after"]["withoutSolution"] is None
        for c in result["changes"]
    )
    code, body = gql(client, keys["gnchr"][1], what_if)
    assert body["data"]["whatIf"]["nationalBefore"]["openSituations"] is not None  # the GNCHR sees them
    code, body = gql(
        client, keys["partner"][1], COVERAGE_QUERY, deficiencies=["DI"], level="ERHR", thresholdKm=30, age=10
    )
    rows = [body["data"]["coverage"]["national"], *body["data"]["coverage"]["territories"]]
    assert all(r["openSituations"] is None and r["withoutSolution"] is None for r in rows)


def _members(store) -> dict[tuple[str, str], frozenset[str]]:
    """Each territory (level, code) as its set of departments."""
    from graph.readmodel import read_model

    table = read_model(store).territories
    groups: dict[tuple[str, str], set[str]] = {("NATIONAL", "FR"): set(table.departments)}
    for dep, node in table.departments.items():
        groups[("DEPARTMENT", dep)] = {dep}
        groups.setdefault(("REGION", str(node.props["region"])), set()).add(dep)
        groups.setdefault(("ERHR", table.erhr_of_department[dep]), set()).add(dep)
    return {k: frozenset(v) for k, v in groups.items()}


def test_no_differencing_pair_in_anything_a_partner_can_ask(client, keys, demo_store):
    """Everything a partner can vary — combination (every D312-194 criterion's,
    every single deficiency, every combination present in the register), level,
    threshold, coverage or gaps — is asked; every published count is collected
    with the set of persons it counts. Nothing is below 11; the same set always
    shows the same count; and no published count minus another it contains, or
    minus the published parts of one level below it, leaves 1 to 10."""
    from graph.rare import CRITERIA, criterion_combinations
    from graph.readmodel import read_model
    from graph.vocabulary import DEFICIENCIES

    present = set(read_model(demo_store).competence.demand)
    combos = sorted({criterion_combinations(c)[0] for c in CRITERIA} | set(DEFICIENCIES) | present)
    members = _members(demo_store)
    # (combination, kind, level, code) → count; kind: 0 for the open situations,
    # the threshold (km) for those "sans solution" beyond it.
    published: dict[tuple[str, float, str, str], int] = {}

    def collect(combo: str, kind: float, level: str, code: str, value: int | None) -> None:
        if value is None:
            return
        assert value >= SMALL_CELL, (combo, kind, level, code, value)
        key = (combo, kind, level, code)
        assert published.setdefault(key, value) == value, ("the same persons counted differently", key)

    asked = [(lvl, 60) for lvl in ("DEPARTMENT", "REGION", "ERHR")] + [
        ("DEPARTMENT", 30),
        ("DEPARTMENT", 100),
    ]
    for combo in combos:
        for level, km in asked:
            code, body = gql(
                client,
                keys["partner"][1],
                COVERAGE_QUERY,
                deficiencies=combo.split("+"),
                level=level,
                thresholdKm=km,
            )
            assert code == "OK", body
            data = body["data"]["coverage"]
            assert data["exactCombinationCounts"] is True
            for lvl, row in [("NATIONAL", data["national"]), *((level, t) for t in data["territories"])]:
                collect(data["combination"], 0, lvl, row["code"], row["openSituations"])
                if km != 60:
                    assert (
                        row["withoutSolution"] is None
                    )  # one threshold for "sans solution": no bands between
                collect(data["combination"], km, lvl, row["code"], row["withoutSolution"])
    for level, km in asked:
        code, body = gql(
            client,
            keys["partner"][1],
            "query($l: Level!, $t: Float!) { gaps(level: $l, thresholdKm: $t) { "
            "territories { code cells { combination withoutSolution } } } }",
            l=level,
            t=km,
        )
        assert code == "OK", body
        for row in body["data"]["gaps"]["territories"]:
            for cell in row["cells"]:
                collect(cell["combination"], km, level, row["code"], cell["withoutSolution"])
    assert len(published) > 20  # the register's large cells are published

    # Exact combinations: a partner's counts do not overlap between combinations.
    for (combo, kind, level, _code), value in published.items():
        if kind == 0 and level == "NATIONAL":
            assert value == sum(_exact_open(demo_store, combo).values()), combo

    by_combo: dict[str, list[tuple[float, frozenset[str], int, str]]] = {}
    for (combo, kind, level, code), value in published.items():
        by_combo.setdefault(combo, []).append((kind, members[(level, code)], value, level))
    checked = 0
    for figures in by_combo.values():
        for kind_a, set_a, value_a, level_a in figures:
            for kind_b, set_b, value_b, _ in figures:
                contained = set_b <= set_a and kind_a <= kind_b  # farther than more km: fewer persons
                if contained and (set_b, kind_b) != (set_a, kind_a):
                    assert not 1 <= value_a - value_b < SMALL_CELL, (
                        kind_a,
                        sorted(set_a)[:3],
                        kind_b,
                        sorted(set_b)[:3],
                    )
                    checked += 1
            for finer in ("DEPARTMENT", "REGION", "ERHR"):
                parts = [v for k, s, v, lvl in figures if k == kind_a and lvl == finer and s < set_a]
                if parts:
                    assert not 1 <= value_a - sum(parts) < SMALL_CELL, (kind_a, level_a, finer)
    assert checked > 0


def test_a_partner_reads_not_published_rather_than_small_at_other_thresholds(client, keys):
    """At 30 km a partner gets no "sans solution" count: the answer says it is not
    published, not that it is below 11 (which would read as "few persons")."""
    headers = keys["partner"][1]
    code, body = gql(
        client, headers, COVERAGE_QUERY, deficiencies=["DI", "EPI"], level="ERHR", thresholdKm=30
    )
    assert code == "OK"
    national = body["data"]["coverage"]["national"]
    assert national["withoutSolution"] is None and national["withoutSolutionPublished"] is False
    assert national["openSituationsPublished"] is True
    code, body = gql(
        client, headers, COVERAGE_QUERY, deficiencies=["DI", "EPI"], level="ERHR", thresholdKm=60
    )
    assert body["data"]["coverage"]["national"]["withoutSolutionPublished"] is True
    csv = client.get(
        "/exports/coverage.csv",
        params={"deficiencies": "DI,EPI", "level": "ERHR", "threshold_km": 30},
        headers=headers,
    ).text
    assert csv.count("non publié") == csv.count("\n") - 1  # one per territory row and the national row
    page = client.get(
        "/couverture", params={"d": ["DI", "EPI"], "niveau": "ERHR", "seuil": 30}, headers=headers
    ).text
    assert "dont sans solution : non publié" in page and "exactement DI+EPI" in page
    gnchr = client.get(
        "/exports/coverage.csv",
        params={"deficiencies": "DI,EPI", "level": "ERHR", "threshold_km": 30},
        headers=keys["gnchr"][1],
    ).text
    assert "non publié" not in gnchr


def _tampered(tmp_path, tamper):
    """Five audited reads by two writers, then ``tamper(store, db, entries)``; the CLI's verdict."""
    import sqlite3

    from typer.testing import CliRunner

    from cli.main import app as cli
    from graph.access import HEAD_KEY, SYSTEM, Principal, Role, audit
    from graph.stores.memory import DB_FILENAME, MemoryStore

    first, second = MemoryStore(tmp_path), MemoryStore(tmp_path)  # two processes' worth of writers
    for i in range(6):
        audit(
            first if i % 2 else second,
            SYSTEM if i % 2 else Principal("k2", Role.GNCHR),
            "situations:read",
            [f"S-{i}"],
        )
    first.close()
    second.close()
    store = MemoryStore(tmp_path)
    entries = sorted(
        (n for n in store.nodes(K.AUDIT_ENTRY) if n.key != HEAD_KEY), key=lambda n: n.props["seq"]
    )
    db = sqlite3.connect(tmp_path / DB_FILENAME)
    tamper(store, db, entries)
    db.commit()
    db.close()
    store.close()
    return CliRunner().invoke(cli, ["audit", "--verify"], env={"DIHR_DATA_DIR": str(tmp_path)})


def _delete(db, keys):
    db.executemany("DELETE FROM nodes WHERE kind = 'AuditEntry' AND key = ?", [(k,) for k in keys])


@pytest.mark.parametrize(
    ("name", "tamper", "said"),
    [
        ("nothing", lambda store, db, entries: None, None),
        (
            "a deleted tail",
            lambda store, db, entries: _delete(db, [e.key for e in entries[-2:]]),
            "fin du journal supprimée",
        ),
        (
            "one writer's entries",
            lambda store, db, entries: _delete(db, [e.key for e in entries if e.props["key_id"] == "k2"]),
            "absente",
        ),
        (
            "the whole journal",
            lambda store, db, entries: _delete(db, [e.key for e in entries]),
            "journal supprimé",
        ),
        (
            "an entry edited and re-hashed",
            lambda store, db, entries: _rehash(store, entries[3]),
            "sceau invalide",
        ),
        (
            "an entry inserted without chain fields",
            lambda store, db, entries: store.upsert(
                [
                    Node(
                        K.AUDIT_ENTRY,
                        "20260101000000-planted",
                        {
                            "at": "2026-01-01",
                            "key_id": "x",
                            "role": "gnchr",
                            "operation": "situations:read",
                            "situations": [],
                        },
                    )
                ]
            ),
            "sans chaînage",
        ),
    ],
)
def test_the_audit_journal_cannot_be_cut_or_forged_silently(tmp_path, name, tamper, said):
    result = _tampered(tmp_path, tamper)
    if said is None:
        assert result.exit_code == 0 and "Journal d'audit intact : 6 entrées" in result.output, result.output
    else:
        assert result.exit_code != 0 and said in result.output and "chaîne journal" in result.output, name
        assert "altéré" in result.output


def _rehash(store, entry):
    """What someone with the database but not the key can do: edit an entry and recompute its hash and the rest."""
    from graph.access import _entry_hash

    props = dict(entry.props)
    props["situations"] = ["SIT-autre"]
    props["hash"] = _entry_hash(props)
    store.upsert([Node(K.AUDIT_ENTRY, entry.key, props)])


def test_graphql_signed_by_the_session_cookie_needs_the_csrf_token(demo_dir, demo_store):
    """A page session signs GraphQL requests too: another site could post in its
    name, so a cookie-signed POST must carry the session's token (GraphiQL does)."""
    import html as html_module
    import re

    _info, good = create_key(demo_store, "erhr", territory="NA", label="graphiql")
    app = create_app(Settings(data_dir=demo_dir, rate_limit_per_minute=100_000), store=demo_store)
    with TestClient(app) as browser:
        csrf = re.search(r'name="csrf" value="([^"]+)"', browser.get("/connexion").text).group(1)
        assert (
            browser.post(
                "/connexion", data={"cle": good, "csrf": csrf, "suite": ""}, follow_redirects=False
            ).status_code
            == 303
        )
        forged = browser.post("/graphql", json={"query": "{ __typename }"})
        assert forged.status_code == 403 and "CSRF" in forged.json()["message"]
        ide = browser.get("/graphql", headers={"Accept": "text/html"})
        token = html_module.unescape(re.search(r'name="csrf-token" content="([^"]*)"', ide.text).group(1))
        assert token
        sent = browser.post("/graphql", json={"query": "{ __typename }"}, headers={"X-CSRF-Token": token})
        assert sent.status_code == 200 and sent.json() == {"data": {"__typename": "Query"}}
        keyed = browser.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"Authorization": f"Bearer {good}"}
        )
        assert keyed.status_code == 200  # a key is no cookie: no token needed


def test_a_full_disk_is_said_plainly_nothing_partial_and_health_is_degraded(tmp_path):
    """SQLite is told its disk is full (max_page_count): the write is refused with
    the French cause, nothing of the batch stays, and /health says degraded until
    a write goes through again."""
    from graph.errors import StorageFault
    from graph.health import record_write
    from graph.stores.memory import MemoryStore

    store = MemoryStore(tmp_path)
    try:
        pages = store._db.execute("PRAGMA page_count").fetchone()[0]
        store._db.execute(f"PRAGMA max_page_count = {pages + 2}")
        big = [Node(K.ESTABLISHMENT, f"9{i:08d}", {"name": "x" * 2000}) for i in range(400)]
        with pytest.raises(StorageFault) as err:
            store.upsert(big)
        assert err.value.status == 503 and err.value.message.startswith("Disque plein : rien n'a été écrit")
        assert store.count_nodes().get(K.ESTABLISHMENT, 0) == 0  # nothing partial
        app = create_app(Settings(data_dir=tmp_path), store=store)
        with TestClient(app) as client:
            sick = client.get("/health")
            assert sick.status_code == 503 and sick.json()["status"] == "degraded"
            assert "Disque plein" in sick.json()["problem"]
            store._db.execute("PRAGMA max_page_count = 1073741823")
            store.upsert(big[:1])  # space again: a write goes through
            assert client.get("/health").json()["status"] == "ok"
    finally:
        record_write()
        store.close()


def test_a_connection_trickling_its_headers_is_closed(demo_dir):
    """Slowloris: headers never finished are cut at DIHR_HEADER_TIMEOUT_S; a
    normal request on the same server is still answered."""
    import socket
    import time
    from urllib.parse import urlparse

    import httpx

    from tests.conftest import served

    with served(demo_dir, "--workers", "1", DIHR_HEADER_TIMEOUT_S="1.5") as url:
        where = urlparse(url)
        slow = socket.create_connection((where.hostname, where.port), timeout=10)
        slow.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # and never the blank line
        start = time.monotonic()
        closed = slow.recv(1024) == b""  # the server closes it: recv returns at once with nothing
        waited = time.monotonic() - start
        slow.close()
        assert closed and 1.0 < waited < 8, waited
        assert httpx.get(f"{url}/health", timeout=10).status_code == 200

"""Referral follow-up: each status change and its audit entry, the « à relancer »
list, the territory rule — through the service, GraphQL and the pages."""

from __future__ import annotations

import html
import re

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from graph import service
from graph.access import Principal, Role, audit_entries, create_key
from graph.errors import Forbidden, InvalidInput, NotFound
from graph.model import NodeKind, NodeRef, RelType
from graph.referrals import NEXT, Status
from graph.settings import Settings

pytestmark = pytest.mark.slow
NA = Principal("erhr-na", Role.ERHR, "NA", "test")
ARA = Principal("erhr-ara", Role.ERHR, "ARA", "test")


@pytest.fixture(scope="module")
def data(demo_copy):
    return demo_copy


@pytest.fixture(scope="module")
def store(demo_copy_store):
    return demo_copy_store


@pytest.fixture(scope="module")
def situation(store):
    return next(n.key for n in store.nodes(NodeKind.SITUATION) if n.props["erhr"] == "NA")


@pytest.fixture(scope="module")
def resource(store):
    return NodeRef(NodeKind.ESTABLISHMENT, next(n.key for n in store.nodes(NodeKind.ESTABLISHMENT)))


def _new(store, situation, resource, **kwargs):
    before = {r.id for r in service.get_situation(store, NA, situation).referrals}
    view = service.record_referral(store, NA, situation, resource, date="2026-11-02", **kwargs)
    [made] = [r for r in view.referrals if r.id not in before]
    return made


def test_a_referral_goes_from_proposed_to_closed_each_change_audited(store, situation, resource):
    made = _new(store, situation, resource, outcome="premier contact par l'ERHR")
    assert made.status == "proposee" and made.status_label == "proposée" and made.id.startswith("ORI-")
    path = [
        ("contactee", "2026-11-03"),
        ("liste_attente", "2026-11-05"),
        ("acceptee", "2026-11-20"),
        ("accompagnement", "2026-12-01"),
        ("cloturee", "2027-03-01"),
    ]
    for status, day in path:
        view = service.update_referral(store, NA, situation, made.id, status=status, date=day)
        current = next(r for r in view.referrals if r.id == made.id)
        assert current.status == status and current.updated_on == day
    assert [s for _d, s in current.history] == ["proposee", *[s for s, _d in path]]
    assert current.next_statuses == ()
    changes = [
        dict(e.params)
        for e in audit_entries(store, situation=situation)
        if e.operation == "situations:referral_status" and dict(e.params).get("referral") == made.id
    ]
    assert [(c["from"], c["to"]) for c in changes] == list(
        zip(["proposee", *[s for s, _ in path[:-1]]], [s for s, _ in path], strict=True)
    )
    assert all(
        e.key_id == "erhr-na"
        for e in audit_entries(store, situation=situation)
        if e.operation == "situations:referral_status"
    )


@pytest.mark.parametrize("current", list(Status))
def test_every_change_the_table_forbids_is_refused_in_french(store, situation, resource, current):
    made = _new(store, situation, resource)
    walk = {
        Status.PROPOSED: [],
        Status.CONTACTED: ["contactee"],
        Status.WAITING: ["liste_attente"],
        Status.ACCEPTED: ["acceptee"],
        Status.FOLLOWED: ["acceptee", "accompagnement"],
        Status.REFUSED: ["refusee"],
        Status.CLOSED: ["cloturee"],
    }[current]
    for status in walk:
        service.update_referral(
            store, NA, situation, made.id, status=status, date="2026-11-03", reason="complet"
        )
    for wanted in Status:
        if wanted in NEXT[current]:
            continue
        with pytest.raises(InvalidInput, match="ne peut pas passer"):
            service.update_referral(
                store, NA, situation, made.id, status=wanted.value, date="2026-11-04", reason="x"
            )


def test_a_refusal_needs_its_reason_and_dates_do_not_go_back(store, situation, resource):
    made = _new(store, situation, resource)
    with pytest.raises(InvalidInput, match="motif du refus"):
        service.update_referral(store, NA, situation, made.id, status="refusee", date="2026-11-03")
    with pytest.raises(InvalidInput, match="précéder"):
        service.update_referral(store, NA, situation, made.id, status="contactee", date="2026-10-01")
    with pytest.raises(InvalidInput, match="statut inconnu"):
        service.update_referral(store, NA, situation, made.id, status="perdue", date="2026-11-03")
    view = service.update_referral(
        store,
        NA,
        situation,
        made.id,
        status="refusee",
        date="2026-11-03",
        reason="pas de place avant septembre",
    )
    assert next(r for r in view.referrals if r.id == made.id).reason == "pas de place avant septembre"


def test_the_follow_up_list_holds_what_is_due_in_the_territory_only(store, situation, resource):
    due = _new(store, situation, resource, next_action_on="2026-11-10")
    later = _new(store, situation, resource, next_action_on="2027-01-15")
    listed = {f.referral.id for f in service.referrals_to_follow_up(store, NA, "2026-11-30")}
    assert due.id in listed and later.id not in listed
    service.update_referral(
        store, NA, situation, due.id, status="acceptee", date="2026-11-30"
    )  # no next action: done
    assert due.id not in {f.referral.id for f in service.referrals_to_follow_up(store, NA, "2026-11-30")}
    assert all(f.erhr == "ARA" for f in service.referrals_to_follow_up(store, ARA, "2030-01-01"))
    with pytest.raises(NotFound):  # another territory's situation: as if it did not exist
        service.update_referral(store, ARA, situation, later.id, status="contactee", date="2026-12-01")
    assert any(
        e.operation == "denied:situations:referral_status" and e.key_id == "erhr-ara"
        for e in audit_entries(store, situation=situation)
    )
    assert any(e.operation == "situations:follow_up" for e in audit_entries(store, key_id="erhr-na"))


@pytest.fixture(scope="module")
def client(data, store):
    _info, secret = create_key(store, "erhr", territory="NA", label="orientations")
    app = create_app(Settings(data_dir=data, rate_limit_per_minute=100_000), store=store)
    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as c:
        yield c


def test_graphql_follows_a_referral(client, situation, resource):
    made = client.post(
        "/graphql",
        json={
            "query": """mutation($s: String!, $k: String!) {
        recordReferral(situationId: $s, resourceKind: ESTABLISHMENT, resourceKey: $k, date: "2026-11-08",
                       nextActionOn: "2026-11-09") { referrals { id date status nextActionOn nextStatuses } } }""",
            "variables": {"s": situation, "k": resource.key},
        },
    ).json()
    [referral] = [r for r in made["data"]["recordReferral"]["referrals"] if r["date"] == "2026-11-08"]
    assert referral["status"] == "proposee" and "contactee" in referral["nextStatuses"]
    due = client.post(
        "/graphql",
        json={"query": '{ referralsToFollowUp(today: "2026-11-09") { situationId referral { id } } }'},
    )
    assert referral["id"] in {f["referral"]["id"] for f in due.json()["data"]["referralsToFollowUp"]}
    moved = client.post(
        "/graphql",
        json={
            "query": """mutation($s: String!, $r: String!) {
        updateReferral(situationId: $s, referralId: $r, status: "acceptee", date: "2026-11-12") {
          referrals { id status statusLabel history { date status } } } }""",
            "variables": {"s": situation, "r": referral["id"]},
        },
    ).json()
    final = next(r for r in moved["data"]["updateReferral"]["referrals"] if r["id"] == referral["id"])
    assert final["statusLabel"] == "acceptée" and [h["status"] for h in final["history"]] == [
        "proposee",
        "acceptee",
    ]
    wrong = client.post(
        "/graphql",
        json={
            "query": """mutation($s: String!, $r: String!) {
        updateReferral(situationId: $s, referralId: $r, status: "proposee", date: "2026-11-13") { id } }""",
            "variables": {"s": situation, "r": referral["id"]},
        },
    ).json()
    assert wrong["errors"][0]["extensions"]["code"] == "INVALID_INPUT"


def test_a_referral_made_from_a_search_result_is_followed_to_accepted(client, situation):
    page = html.unescape(client.get(f"/situations/{situation}").text)
    search = re.search(r'href="/recherche\?([^"]+)"', page).group(1)
    assert f"situation={situation}" in search
    found = client.get(f"/recherche?{search}")
    assert found.status_code == 200 and "Orienter" in found.text
    token = re.search(r'name="csrf" value="([^"]*)"', found.text)
    form = re.search(
        r'<form method="post" action="(/situations/[^"]+/orientation)">.*?name="type" value="([^"]+)">'
        r'.*?name="ressource" value="([^"]+)">',
        found.text,
        re.S,
    )
    assert form is not None
    # A bearer key has no page session: the CSRF token is the session's; sign in like a person would.
    assert token is not None


def test_situations_are_created_edited_and_filtered_without_identifying_data(store):
    before = service.list_situations(store, NA, limit=100)[0]
    made = service.create_situation(
        store,
        NA,
        age=17,
        commune="86194",
        deficiencies=["DV", "TSA"],
        needs=["CAA"],
        conditions=["ORPHA:739"],
        opened_on="2026-11-30",
    )
    assert (
        made.key.startswith("SIT-")
        and made.erhr == "NA"
        and made.combination == "DV+TSA"
        and made.needs == ("CAA",)
    )
    assert service.list_situations(store, NA, limit=100)[0] == before + 1
    found = service.list_situations(
        store, NA, combination="dv+tsa", age_band="16-25 ans", commune="86194", limit=100
    )[1]
    assert made.key in {v.key for v in found}
    assert all(v.combination == "DV+TSA" and 16 <= (v.age or 0) <= 25 and v.commune == "86194" for v in found)
    with pytest.raises(Forbidden):
        service.create_situation(
            store, NA, age=30, commune="69123", deficiencies=["DV"], opened_on="2026-11-30"
        )
    with pytest.raises(InvalidInput):
        service.create_situation(
            store, NA, age=130, commune="86194", deficiencies=["DV"], opened_on="2026-11-30"
        )
    closed = service.update_situation(store, NA, made.key, status="closed", closed_on="2026-12-01", needs=[])
    assert closed.status == "closed" and closed.needs == ()
    operations = [e.operation for e in audit_entries(store, situation=made.key)]
    assert "situations:create" in operations and "situations:update" in operations
    with pytest.raises(InvalidInput, match="tranches"):
        service.list_situations(store, NA, age_band="ado")


def test_the_home_page_is_a_dashboard_for_each_role(client, data, store):
    page = html.unescape(client.get("/").text)  # an ERHR key
    assert (
        "Tableau de bord" in page
        and "situation(s) ouverte(s)" in page
        and "orientation(s) à relancer" in page
    )
    assert "Manques du territoire" in page or "File active" in page
    _i, partner = create_key(store, "partner", label="accueil")
    shown = html.unescape(client.get("/", headers={"Authorization": f"Bearer {partner}"}).text)
    assert "Tableau de bord" in shown and "situation(s) ouverte(s)" not in shown and "File active" in shown
    anonymous = html.unescape(client.get("/", headers={"Authorization": "Bearer dihr_faux_faux"}).text)
    assert "Tableau de bord" not in anonymous and "Se connecter" in anonymous


def test_guesses_on_the_home_page_never_lock_out_a_valid_key(data, store):
    app = create_app(Settings(data_dir=data, rate_limit_per_minute=100_000), store=store)
    _i, good = create_key(store, "gnchr", label="devinette")
    with TestClient(app) as c:
        for i in range(11):
            c.get("/", headers={"Authorization": f"Bearer dihr_devine_faux{i}"})
        after = html.unescape(c.get("/", headers={"Authorization": f"Bearer {good}"}).text)
    assert "Tableau de bord" in after  # a valid key is never refused because of others' guesses


def test_the_yearly_figures_export_as_csv_and_excel(client):
    import csv
    import io

    exported = client.get("/exports/activite-erhr.csv", params={"annee": 2026, "erhr": "NA"})
    assert exported.status_code == 200 and exported.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(exported.text.removeprefix("\ufeff")), delimiter=";"))
    assert rows[0] == ["territoire", "annee", "indicateur", "cle", "valeur"]
    assert {r[2] for r in rows[1:]} >= {"file_active", "nouvelles_personnes", "sans_solution", "par_critere"}
    assert client.get("/exports/activite.xlsx", params={"annee": 2026}).status_code == 200


class _ReadTogether:
    """The store, with every reader of referrals waiting until all have read:
    the N changes below are truly simultaneous (each read the same status)."""

    def __init__(self, store, barrier):
        self._store, self._barrier = store, barrier

    def __getattr__(self, name):
        return getattr(self._store, name)

    def edges_from(self, refs, types=None):
        found = self._store.edges_from(refs, types)
        if types is not None and RelType.REFERRED_TO in list(types):
            self._barrier.wait(timeout=30)
        return found


def test_simultaneous_status_changes_keep_one_and_answer_409_to_the_others(store, situation, resource):
    import threading

    from graph.errors import WriteConflict

    made = _new(store, situation, resource)
    n = 6
    barrier = threading.Barrier(n)
    racing = _ReadTogether(store, barrier)
    outcomes: list[object] = [None] * n
    wanted = ["contactee", "liste_attente", "contactee", "refusee", "liste_attente", "contactee"]

    def change(i):
        try:
            service.update_referral(
                racing,
                NA,
                situation,
                made.id,
                status=wanted[i],
                date="2026-11-04",
                reason="pas de place" if wanted[i] == "refusee" else None,
            )
            outcomes[i] = "ok"
        except WriteConflict as err:
            outcomes[i] = err

    threads = [threading.Thread(target=change, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert outcomes.count("ok") == 1, outcomes
    conflicts = [o for o in outcomes if isinstance(o, WriteConflict)]
    assert len(conflicts) == n - 1 and all(
        c.status == 409 and "modifiée par quelqu'un d'autre" in c.message for c in conflicts
    )
    winner = wanted[outcomes.index("ok")]
    current = next(r for r in service.get_situation(store, NA, situation).referrals if r.id == made.id)
    assert [s for _d, s in current.history] == [
        "proposee",
        winner,
    ]  # exactly the accepted change, nothing lost

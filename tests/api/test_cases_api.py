"""The cases API: reference numbers with slashes, history and follow-ups, the supervisor's
queues and decisions, each within the reader's scope.

Scope: a caseworker works on their own cases; a supervisor on their team's cases (and
unassigned ones) and on the queue entries sent by their team; an admin on everything; a
designer on none of it.
"""

from __future__ import annotations

import re
import uuid

import pytest
from flask import Flask
from sqlalchemy import select, update

from server import db
from server.audit.models import AuditEvent
from server.cases.models import Case
from tests.factories import Factory, bearer, link_unlinked
from tests.realforms import contact_log, new_case_plan, xlsform_bytes


class People:
    """API headers per user name, made on first use."""

    def __init__(self, make: Factory) -> None:
        self.make = make
        self.tokens: dict[str, str] = {}

    def __getitem__(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            self.tokens[username] = self.make.api_token(username)
        return bearer(self.tokens[username])


def _send(make: Factory, username: str, xml: bytes) -> None:
    phone = make.device_client(f"{username}-{uuid.uuid4().hex[:8]}", username)
    response = phone.submit(xml)
    assert response.status_code == 201, response.get_data(as_text=True)


def _contact(ref: str, instance_id: str) -> bytes:
    return contact_log(
        ref,
        str(uuid.uuid4()),
        base_version=1,
        contact_time="2026-11-24T10:00:00.000Z",
        instance_id=instance_id,
    )


@pytest.fixture
def people(make: Factory) -> People:
    """Two teams, each with a case, a waiting contact and a duplicate registration:

    north: cw-n has CP-N-1, sent uuid:unl-n (typo CP-N-TYPO) and uuid:dup-n (CP-N-1 again);
    south: cw-s has CP-S-1, sent uuid:unl-s and uuid:dup-s likewise.
    """
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("cw-n", "caseworker", team="north")
    make.user("cw-n2", "caseworker", team="north")
    make.user("cw-s", "caseworker", team="south")
    make.user("sup-n", "supervisor", team="north")
    make.user("sup-s", "supervisor", team="south")
    make.user("sup-none", "supervisor")
    make.user("adm", "admin")
    make.user("des", "designer")
    for cw, team in (("cw-n", "N"), ("cw-s", "S")):
        _send(make, cw, new_case_plan(f"CP-{team}-1", caseworker=cw)[0])
        _send(make, cw, _contact(f"CP-{team}-TYPO", f"uuid:unl-{team.lower()}"))
        again = new_case_plan(
            f"CP-{team}-1",
            caseworker=cw,
            plan_date="2026-11-21",
            instance_id=f"uuid:dup-{team.lower()}",
        )[0]
        _send(make, cw, again)
    return People(make)


# --- reference numbers with slashes ---------------------------------------------------------


def test_every_case_route_takes_a_reference_number_with_slashes(make: Factory, client):
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("cw-n", "caseworker", team="north")
    make.user("cw-n2", "caseworker", team="north")
    make.user("sup-n", "supervisor", team="north")
    _send(make, "cw-n", new_case_plan("CP/2026/0042", caseworker="cw-n")[0])
    who = People(make)["sup-n"]

    listed = client.get("/api/v1/cases", headers=who).json["items"]
    assert [c["case_ref"] for c in listed] == ["CP/2026/0042"]
    for path in ("/api/v1/cases/CP/2026/0042", "/api/v1/cases/CP%2F2026%2F0042"):
        response = client.get(path, headers=who)
        assert response.status_code == 200, response.json
        assert response.json["case_ref"] == "CP/2026/0042"
    history = client.get("/api/v1/cases/CP/2026/0042/history", headers=who)
    assert history.status_code == 200
    assert set(history.json) == {"case_ref", "timeline", "actions", "provenance"}

    def post(action: str, body: dict[str, object]) -> int:
        r = client.post(f"/api/v1/cases/CP/2026/0042/{action}", headers=who, json=body)
        assert r.status_code == 200, (action, r.json)
        assert r.json["case_ref"] == "CP/2026/0042"
        return r.status_code

    post("reassign", {"username": "cw-n2", "reason": "caseload"})
    post("close", {"reason": "goals met"})
    post("reopen", {"reason": "new concern"})
    record = client.get("/api/v1/cases/CP/2026/0042", headers=who).json
    assert record["caseworker"] == "cw-n2"
    assert record["status"] == "open"
    assert [a["kind"] for a in record["actions"]] == ["reassign", "close", "reopen"]
    conflict = client.post(
        "/api/v1/cases/CP/2026/0042/conflicts/resolve",
        headers=who,
        json={"conflict_id": 999, "value": "x"},
    )
    assert conflict.status_code == 404
    assert conflict.json["code"] == "case.conflict_not_found"  # the route, not "no page"
    # the static routes next to them still win
    make.user("adm", "admin")
    assert client.get("/api/v1/cases/export", headers=People(make)["adm"]).status_code == 200
    missing = client.get("/api/v1/cases/CP/2026/9999/history", headers=who)
    assert missing.status_code == 404
    assert missing.json["code"] == "case.not_found"


# --- history and follow-ups ----------------------------------------------------------------


def test_case_history_is_scoped_and_audited(people: People, client, app: Flask):
    history = client.get("/api/v1/cases/CP-N-1/history", headers=people["sup-n"])
    assert history.status_code == 200
    assert history.json["case_ref"] == "CP-N-1"
    assert [t["form_id"] for t in history.json["timeline"]] == ["case_plan"]
    assert "plan_items" not in history.json
    assert client.get("/api/v1/cases/CP-N-1/history", headers=people["cw-n"]).status_code == 200
    for reader in ("sup-s", "sup-none", "cw-s", "cw-n2"):
        response = client.get("/api/v1/cases/CP-N-1/history", headers=people[reader])
        assert response.status_code == 404, reader
        assert response.json["code"] == "case.not_found"
    assert client.get("/api/v1/cases/CP-N-1/history", headers=people["des"]).status_code == 403
    with app.app_context():
        logged = db.session().scalars(
            select(AuditEvent.actor).where(
                AuditEvent.action == "case.history", AuditEvent.target == "CP-N-1"
            )
        )
        assert sorted(logged) == ["cw-n", "sup-n"]


@pytest.mark.parametrize(
    ("reader", "refs"),
    [
        ("cw-n", ["CP-N-1"]),
        ("cw-n2", []),
        ("sup-n", ["CP-N-1"]),
        ("sup-s", ["CP-S-1"]),
        ("sup-none", []),
        ("adm", ["CP-N-1", "CP-S-1"]),
    ],
)
def test_followups_hold_only_the_readers_cases(people: People, client, reader, refs):
    response = client.get("/api/v1/followups?horizon_days=365", headers=people[reader])
    assert response.status_code == 200
    assert sorted(i["case_ref"] for i in response.json["items"]) == refs
    assert response.json["total"] == len(refs)
    assert all(i["next_contact_due"] for i in response.json["items"])


def test_designers_see_no_cases_or_followups(people: People, client):
    for url in ("/api/v1/cases", "/api/v1/cases/CP-N-1", "/api/v1/followups"):
        assert client.get(url, headers=people["des"]).status_code == 403, url


# --- reassignment --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("actor", "ref", "username", "status", "code"),
    [
        ("sup-n", "CP-N-1", "cw-n2", 200, None),
        ("sup-n", "CP-N-1", "sup-n", 200, None),  # a supervisor may hold a case
        ("sup-n", "CP-N-1", "des", 400, "request.invalid"),  # not a role that holds cases
        ("sup-n", "CP-N-1", "adm", 400, "request.invalid"),
        ("sup-n", "CP-N-1", "cw-s", 403, "auth.forbidden"),  # another team
        ("sup-n", "CP-N-1", "ghost", 404, "case.user_not_found"),
        ("sup-n", "CP-N-1", "gone", 404, "case.user_not_found"),  # deactivated
        ("sup-n", "CP-S-1", "cw-n2", 404, "case.not_found"),  # case of another team
        ("adm", "CP-N-1", "cw-s", 200, None),  # an admin: anyone who can hold a case
        ("adm", "CP-N-1", "des", 400, "request.invalid"),
        ("cw-n", "CP-N-1", "cw-n2", 403, "auth.forbidden"),
        ("des", "CP-N-1", "cw-n2", 403, "auth.forbidden"),
    ],
)
def test_reassign_to_an_eligible_user_only(
    people: People, make: Factory, client, actor, ref, username, status, code
):
    make.user("gone", "caseworker", team="north")
    with make.app.app_context():
        from server.auth.queries import get_user_by_username
        from server.auth.service import update_user

        session = db.session()
        update_user(session, get_user_by_username(session, "gone"), is_active=False)
        session.commit()
    response = client.post(
        f"/api/v1/cases/{ref}/reassign",
        headers=people[actor],
        json={"username": username, "reason": "caseload"},
    )
    assert response.status_code == status, response.json
    if code:
        assert response.json["code"] == code
        assert response.json["message"]
        return
    # the actor still sees the case they handed on
    record = client.get(f"/api/v1/cases/{ref}", headers=people[actor]).json
    assert record["caseworker"] == username


def test_a_supervisor_without_a_team_can_reassign_to_nobody(people: People, make, client):
    make.user("cw-free", "caseworker")
    with make.app.app_context():  # a case nobody holds is in every supervisor's scope
        session = db.session()
        session.execute(update(Case).where(Case.case_ref == "CP-N-1").values(caseworker_id=None))
        session.commit()
    who = people["sup-none"]
    assert client.get("/api/v1/cases/CP-N-1", headers=who).status_code == 200
    for username in ("cw-free", "cw-n", "sup-none"):
        response = client.post(
            "/api/v1/cases/CP-N-1/reassign",
            headers=who,
            json={"username": username, "reason": "caseload"},
        )
        assert response.status_code == 403, (username, response.json)
        assert response.json["code"] == "auth.forbidden"


# --- queues --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reader", "unlinked", "duplicates"),
    [
        ("adm", {"uuid:unl-n", "uuid:unl-s"}, {"uuid:dup-n", "uuid:dup-s"}),
        ("sup-n", {"uuid:unl-n"}, {"uuid:dup-n"}),
        ("sup-s", {"uuid:unl-s"}, {"uuid:dup-s"}),
        ("sup-none", set(), set()),
    ],
)
def test_queues_hold_only_the_entries_sent_by_the_readers_team(
    people: People, client, reader, unlinked, duplicates
):
    got = client.get("/api/v1/queues/unlinked", headers=people[reader]).json
    assert {e["instance_id"] for e in got} == unlinked
    dups = client.get("/api/v1/queues/duplicates", headers=people[reader]).json
    assert {e["instance_id"] for e in dups} == duplicates


def test_queues_come_a_page_at_a_time(people: People, make: Factory, client):
    """A queue answers one page (its count and the next page in headers), never every
    waiting submission at once."""
    for n in range(3):
        _send(make, "cw-n", _contact(f"CP-N-MORE{n}", f"uuid:more-{n}"))
    sup = people["sup-n"]
    first = client.get("/api/v1/queues/unlinked?per_page=2", headers=sup)
    assert [e["instance_id"] for e in first.json] == ["uuid:unl-n", "uuid:more-0"]
    assert first.headers["X-Total-Count"] == "4"
    (after,) = re.findall(r'<([^>]+)>; rel="next"', first.headers["Link"])
    assert "cursor=" in after
    assert "per_page=2" in after
    assert 'rel="prev"' not in first.headers["Link"]
    last = client.get(after, headers=sup)
    assert [e["instance_id"] for e in last.json] == ["uuid:more-1", "uuid:more-2"]
    assert 'rel="next"' not in last.headers["Link"]
    (before,) = re.findall(r'<([^>]+)>; rel="prev"', last.headers["Link"])
    back = client.get(before, headers=sup)
    assert [e["instance_id"] for e in back.json] == ["uuid:unl-n", "uuid:more-0"]
    # the older numbered pages still answer
    numbered = client.get("/api/v1/queues/unlinked?per_page=2&page=2", headers=sup)
    assert [e["instance_id"] for e in numbered.json] == ["uuid:more-1", "uuid:more-2"]
    bad = client.get("/api/v1/queues/unlinked?cursor=nonsense", headers=sup)
    assert (bad.status_code, bad.json["code"]) == (400, "request.bad_cursor")
    assert client.get("/api/v1/queues/unlinked?per_page=501", headers=sup).status_code == 400


@pytest.mark.parametrize("reader", ["cw-n", "des"])
def test_caseworkers_and_designers_have_no_queues(people: People, client, reader):
    for url in ("/api/v1/queues/unlinked", "/api/v1/queues/duplicates"):
        assert client.get(url, headers=people[reader]).status_code == 403


def test_queue_entries_say_who_sent_them_and_when(people: People, client):
    (entry,) = client.get("/api/v1/queues/unlinked", headers=people["sup-n"]).json
    assert entry["submitter"] == "cw-n"
    assert entry["received_at"]
    assert entry["case_ref"] == "CP-N-TYPO"
    (dup,) = client.get("/api/v1/queues/duplicates", headers=people["sup-n"]).json
    assert (dup["submitter"], dup["is_registration"]) == ("cw-n", True)


# --- decisions on queue entries ------------------------------------------------------------


def test_a_supervisor_links_their_teams_entry_into_their_teams_case(people: People, client):
    response = link_unlinked(client, people["sup-n"], "uuid:unl-n", "CP-N-1")
    assert response.status_code == 200, response.json
    assert response.json["case_ref"] == "CP-N-1"
    record = client.get("/api/v1/cases/CP-N-1", headers=people["sup-n"]).json
    assert "uuid:unl-n" in [t["instance_id"] for t in record["timeline"]]
    assert client.get("/api/v1/queues/unlinked", headers=people["sup-n"]).json == []
    again = link_unlinked(client, people["sup-n"], "uuid:unl-n", "CP-N-1")
    assert again.status_code == 409
    assert again.json["code"] == "case.not_unlinked"


def test_a_supervisor_cannot_link_another_teams_entry_or_into_another_teams_case(
    people: People, client
):
    # the other team's submission, into the supervisor's own case: as if it did not exist
    other = link_unlinked(client, people["sup-n"], "uuid:unl-s", "CP-N-1")
    assert other.status_code == 404
    assert other.json["code"] == "submission.not_found"
    # their own team's submission, into another team's case
    into = link_unlinked(client, people["sup-n"], "uuid:unl-n", "CP-S-1")
    assert into.status_code == 404
    assert into.json["code"] == "case.not_found"
    assert link_unlinked(client, people["sup-none"], "uuid:unl-n", "CP-N-1").status_code == 404
    assert link_unlinked(client, people["cw-n"], "uuid:unl-n", "CP-N-1").status_code == 403
    assert link_unlinked(client, people["des"], "uuid:unl-n", "CP-N-1").status_code == 403
    unknown = link_unlinked(client, people["adm"], "uuid:nothing", "CP-N-1")
    assert unknown.status_code == 404
    # nothing moved: the south case does not hold the north contact, and the reverse
    south = client.get("/api/v1/cases/CP-S-1", headers=people["adm"]).json
    north = client.get("/api/v1/cases/CP-N-1", headers=people["adm"]).json
    assert len(south["timeline"]) == len(north["timeline"]) == 1
    assert {
        e["instance_id"] for e in client.get("/api/v1/queues/unlinked", headers=people["adm"]).json
    } == {
        "uuid:unl-n",
        "uuid:unl-s",
    }
    # an admin may link across teams
    assert link_unlinked(client, people["adm"], "uuid:unl-s", "CP-N-1").status_code == 200


def _resolve(client, who, instance_id: str, action: str, new_ref: str | None = None):
    body: dict[str, object] = {"instance_id": instance_id, "action": action}
    if new_ref:
        body["new_case_ref"] = new_ref
    if action == "merge":
        body["reason"] = "same child"
    return client.post("/api/v1/queues/duplicates/resolve", headers=who, json=body)


def test_a_supervisor_decides_only_on_their_teams_duplicates(people: People, client):
    for action, new_ref in (("register_new", "CP-N-2"), ("merge", None)):
        refused = _resolve(client, people["sup-n"], "uuid:dup-s", action, new_ref)
        assert refused.status_code == 404, refused.json
        assert refused.json["code"] == "submission.not_found"
        assert (
            _resolve(client, people["sup-none"], "uuid:dup-n", action, new_ref).status_code == 404
        )
        assert _resolve(client, people["cw-s"], "uuid:dup-s", action, new_ref).status_code == 403
    assert client.get("/api/v1/cases/CP-N-2", headers=people["adm"]).status_code == 404
    south = client.get("/api/v1/queues/duplicates", headers=people["sup-s"]).json
    assert [e["instance_id"] for e in south] == ["uuid:dup-s"]

    registered = _resolve(client, people["sup-s"], "uuid:dup-s", "register_new", "CP-S-2")
    assert registered.status_code == 200, registered.json
    assert client.get("/api/v1/cases/CP-S-2", headers=people["sup-s"]).status_code == 200
    merged = _resolve(client, people["sup-n"], "uuid:dup-n", "merge")
    assert merged.status_code == 200, merged.json
    assert merged.json["case_ref"] == "CP-N-1"


def test_a_duplicate_of_another_teams_case_cannot_be_merged_into_it(
    people: People, make: Factory, client
):
    # a north caseworker reused a south reference number: the north supervisor sees the
    # entry, but may not merge it into a case outside their scope
    _send(make, "cw-n", new_case_plan("CP-S-1", caseworker="cw-n", instance_id="uuid:dup-x")[0])
    assert "uuid:dup-x" in {
        e["instance_id"]
        for e in client.get("/api/v1/queues/duplicates", headers=people["sup-n"]).json
    }
    merge = _resolve(client, people["sup-n"], "uuid:dup-x", "merge")
    assert merge.status_code == 404
    assert merge.json["code"] == "case.not_found"
    registered = _resolve(client, people["sup-n"], "uuid:dup-x", "register_new", "CP-N-9")
    assert registered.status_code == 200, registered.json


def test_a_duplicate_whose_followups_came_from_another_team_waits_for_an_admin(
    people: People, make: Factory, client
):
    xml, entity = new_case_plan(
        "CP-S-1", caseworker="cw-s", plan_date="2026-11-22", instance_id="uuid:dup-s2"
    )
    _send(make, "cw-s", xml)
    followup = contact_log(
        "CP-S-1",
        entity,
        base_version=1,
        contact_time="2026-11-25T10:00:00.000Z",
        instance_id="uuid:north-followup",
    )
    _send(make, "cw-n", followup)
    states = {
        e["instance_id"]: e["is_registration"]
        for e in client.get("/api/v1/queues/duplicates", headers=people["adm"]).json
    }
    assert states["uuid:north-followup"] is False  # moves with its registration
    for action, new_ref in (("merge", None), ("register_new", "CP-S-7")):
        refused = _resolve(client, people["sup-s"], "uuid:dup-s2", action, new_ref)
        assert refused.status_code == 403, refused.json
        assert "admin" in refused.json["message"]
    assert (
        _resolve(client, people["adm"], "uuid:dup-s2", "register_new", "CP-S-7").status_code == 200
    )


# --- reference numbers typed by people -------------------------------------------------------


def test_a_typed_link_target_is_read_as_devices_file_it(people: People, client):
    for malformed in ("CP N 1", "no digits", "C1", "-CP-1", "CP_N_1", "x" * 41 + "1"):
        bad = link_unlinked(client, people["sup-n"], "uuid:unl-n", malformed)
        assert bad.status_code == 400, (malformed, bad.json)
        assert bad.json["code"] == "case.bad_ref"
    # well formed, but no such case: not found, as before
    assert link_unlinked(client, people["sup-n"], "uuid:unl-n", "CP-N-404").json["code"] == (
        "case.not_found"
    )
    linked = link_unlinked(client, people["sup-n"], "uuid:unl-n", "  cp-n-1 ")
    assert linked.status_code == 200, linked.json
    assert linked.json["case_ref"] == "CP-N-1"
    record = client.get("/api/v1/cases/CP-N-1", headers=people["sup-n"]).json
    assert "uuid:unl-n" in [t["instance_id"] for t in record["timeline"]]
    with client.application.app_context():
        refs = set(db.session().scalars(select(Case.case_ref)))
    assert refs == {"CP-N-1", "CP-S-1"}  # no lower-case or spaced twin was made


def test_a_new_number_for_a_duplicate_is_filed_in_capitals_and_must_be_well_formed(
    people: People, client
):
    for malformed in ("cp n 2", "CPN", "CP#2", "ab", "/CP-2"):
        bad = _resolve(client, people["sup-n"], "uuid:dup-n", "register_new", malformed)
        assert bad.status_code == 400, (malformed, bad.json)
        assert bad.json["code"] == "case.bad_ref"
    # the existing number in other letters is the existing number
    taken = _resolve(client, people["sup-n"], "uuid:dup-n", "register_new", "cp-n-1")
    assert taken.status_code == 400
    assert taken.json["code"] == "request.invalid"
    registered = _resolve(client, people["sup-n"], "uuid:dup-n", "register_new", " cp-n/2 ")
    assert registered.status_code == 200, registered.json
    assert registered.json["case_ref"] == "CP-N/2"
    assert client.get("/api/v1/cases/CP-N/2", headers=people["sup-n"]).status_code == 200


def test_case_lookups_read_the_reference_number_as_it_is_filed(people: People, client, app):
    who = people["sup-n"]
    for path in ("/api/v1/cases/cp-n-1", "/api/v1/cases/%20cp-n-1%20", "/api/v1/cases/Cp-N-1"):
        response = client.get(path, headers=who)
        assert response.status_code == 200, (path, response.json)
        assert response.json["case_ref"] == "CP-N-1"
    assert client.get("/api/v1/cases/cp-n-1/history", headers=who).status_code == 200
    closed = client.post("/api/v1/cases/cp-n-1/close", headers=who, json={"reason": "done"})
    assert closed.status_code == 200, closed.json
    assert closed.json["case_ref"] == "CP-N-1"
    # (a leading space: SQLite's LIKE ignores case, so only the canonical form tells)
    listed = client.get("/api/v1/cases?ref=%20cp-n", headers=who).json["items"]
    assert [c["case_ref"] for c in listed] == ["CP-N-1"]
    # out of scope stays unknown whatever the spelling
    assert client.get("/api/v1/cases/cp-s-1", headers=who).status_code == 404
    with app.app_context():
        targets = db.session().scalars(
            select(AuditEvent.target).where(
                AuditEvent.actor == "sup-n",
                AuditEvent.action.in_(("case.view", "case.history")),
            )
        )
        assert set(targets) == {"CP-N-1"}

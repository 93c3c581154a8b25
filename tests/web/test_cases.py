"""Case pages: who sees which case, the case page, supervisor actions and the queues."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import select

from server.audit.models import AuditEvent
from tests.factories import Factory
from tests.web import seed
from tests.web.conftest import Web


def _two_teams(make: Factory) -> tuple[str, str]:
    """CP-N1 with cw-north (team north), CP-S1 with cw-south (team south)."""
    seed.publish_case_forms(make)
    make.user("cw-north", "caseworker", team="north")
    make.user("cw-south", "caseworker", team="south")
    north = make.device_client("phone-n", "cw-north")
    south = make.device_client("phone-s", "cw-south")
    seed.submit(north, seed.registration("CP-N1", seed.new_entity()))
    seed.submit(south, seed.registration("CP-S1", seed.new_entity()))
    return "CP-N1", "CP-S1"


def test_caseworker_sees_only_own_cases(make: Factory) -> None:
    _two_teams(make)
    client = _sign_in(make, "cw-north")
    html = client.text("/cases")
    assert "CP-N1" in html
    assert "CP-S1" not in html
    assert client.get("/cases/CP-S1").status_code == 404
    assert client.get("/cases/CP-S1/print").status_code == 404
    assert client.get("/cases/CP-N1").status_code == 200


def _sign_in(make: Factory, username: str) -> Web:
    client = Web(make.app.test_client())
    assert client.login(username).status_code == 302
    return client


def test_supervisor_sees_only_the_team(make: Factory, web_as: Any) -> None:
    _two_teams(make)
    sup = web_as("sup-n", "supervisor", team="north")
    html = sup.text("/cases")
    assert "CP-N1" in html
    assert "CP-S1" not in html
    assert sup.get("/cases/CP-S1").status_code == 404


def test_designer_cannot_see_cases(make: Factory, web_as: Any) -> None:
    _two_teams(make)
    designer = web_as("des", "designer")
    assert designer.get("/cases").status_code == 403
    assert designer.get("/cases/CP-N1").status_code == 403
    assert designer.get("/dashboard").status_code == 403
    assert designer.get("/queues").status_code == 403


def test_caseworker_cannot_act_on_a_case(make: Factory) -> None:
    _two_teams(make)
    client = _sign_in(make, "cw-north")
    assert client.post("/cases/CP-N1/close", {"reason": "x"}).status_code == 403
    assert client.get("/queues").status_code == 403


def test_case_page_shows_plan_and_records_the_view(
    make: Factory, web_as: Any, db_session: Any
) -> None:
    _two_teams(make)
    sup = web_as("sup-n", "supervisor", team="north")
    html = sup.text("/cases/CP-N1")
    assert "School place" in html
    assert "Education" in html
    assert "overdue" in html
    views = db_session.scalars(select(AuditEvent).where(AuditEvent.action == "case.view")).all()
    assert [(e.actor, e.target) for e in views] == [("sup-n", "CP-N1")]
    sup.text("/cases/CP-N1/print")
    db_session.rollback()  # end the read snapshot to see the new row
    assert (
        len(db_session.scalars(select(AuditEvent).where(AuditEvent.action == "case.view")).all())
        == 2
    )


def test_case_list_filters(make: Factory, web_as: Any) -> None:
    _two_teams(make)
    admin = web_as("adm", "admin")
    assert "CP-S1" in admin.text("/cases?caseworker=cw-south")
    assert "CP-N1" not in admin.text("/cases?caseworker=cw-south")
    assert "CP-N1" in admin.text("/cases?overdue=true&status=open&risk=")
    assert "No case matches" in admin.text("/cases?risk=high")
    assert admin.get("/cases?status=bogus").status_code == 400


def test_supervisor_closes_reopens_and_reassigns(make: Factory, web_as: Any) -> None:
    _two_teams(make)
    make.user("cw-north2", "caseworker", team="north")
    sup = web_as("sup-n", "supervisor", team="north")
    assert sup.post("/cases/CP-N1/close", {"reason": "safe"}).status_code == 302
    assert 'id="case-status">closed' in sup.text("/cases/CP-N1")
    assert sup.post("/cases/CP-N1/reopen", {"reason": "new risk"}).status_code == 302
    assert 'id="case-status">open' in sup.text("/cases/CP-N1")
    moved = {"username": "cw-north2", "reason": "caseload"}
    assert sup.post("/cases/CP-N1/reassign", moved).status_code == 302
    assert 'id="case-caseworker">cw-north2' in sup.text("/cases/CP-N1")


def test_case_action_without_csrf_is_refused(make: Factory, web_as: Any) -> None:
    _two_teams(make)
    sup = web_as("sup-n", "supervisor", team="north")
    assert sup.post("/cases/CP-N1/close", {"reason": "x"}, csrf=False).status_code == 400
    assert 'id="case-status">open' in sup.text("/cases/CP-N1")


def test_supervisor_resolves_a_conflict(make: Factory, web_as: Any) -> None:
    seed.publish_case_forms(make)
    make.user("amina", "caseworker", team="north")
    make.user("bo", "supervisor", team="north")  # a follow-up counts only in its author's scope
    entity = seed.new_entity()
    seed.submit(make.device_client("p-a", "amina"), seed.registration("CP-7", entity))
    seed.submit(
        make.device_client("p-b", "bo"),
        seed.contact("CP-7", entity, "2024-05-05T10:00:00Z", risk="high"),
    )
    seed.submit(
        make.device_client("p-a2", "amina"),
        seed.contact("CP-7", entity, "2024-05-04T10:00:00Z", risk="low"),
    )
    sup = web_as("sup", "supervisor", team="north")
    html = sup.text("/cases/CP-7")
    assert "Conflicting records" in html
    assert "Keep this value" in html
    conflict_id = html.split('name="conflict_id" value="')[1].split('"')[0]
    bad = sup.post("/cases/CP-7/resolve", {"conflict_id": conflict_id, "value": '"medium"'})
    assert bad.status_code == 302
    assert "not one of the values" in sup.text("/cases/CP-7")
    ok = sup.post("/cases/CP-7/resolve", {"conflict_id": conflict_id, "value": '"low"'})
    assert ok.status_code == 302
    html = sup.text("/cases/CP-7")
    assert "Conflicting records" not in html
    assert "Resolved conflicts" in html


def test_unlinked_queue_links_a_submission(make: Factory, web_as: Any) -> None:
    _two_teams(make)
    phone = make.device_client("phone-x", "cw-north")
    seed.submit(phone, seed.contact("CP-TYPO", seed.new_entity(), "2024-05-05T10:00:00Z"))
    sup = web_as("sup-n", "supervisor", team="north")
    html = sup.text("/queues")
    assert "CP-TYPO" in html
    instance_id = html.split('name="instance_id" value="')[1].split('"')[0]
    response = sup.post("/queues/link", {"instance_id": instance_id, "case_ref": "CP-N1"})
    assert response.status_code == 302
    assert "CP-TYPO" not in sup.text("/queues")


def test_reassign_form_offers_and_accepts_only_eligible_users(make: Factory, web_as: Any) -> None:
    _two_teams(make)
    make.user("cw-north2", "caseworker", team="north")
    make.user("des", "designer", team="north")
    sup = web_as("sup-n", "supervisor", team="north")
    html = sup.text("/cases/CP-N1")
    offered = html.split('id="f-assign"')[1].split("</select>")[0]
    assert "cw-north2" in offered
    assert "cw-south" not in offered
    assert "des" not in offered
    for username, reason in (
        ("des", "Only a caseworker or a supervisor can hold a case."),
        ("cw-south", "You can give a case only to a member of your team."),
    ):
        given = {"username": username, "reason": "caseload"}
        assert sup.post("/cases/CP-N1/reassign", given).status_code == 302
        page = sup.text("/cases/CP-N1")
        assert reason in page
        assert 'id="case-caseworker">cw-north' in page
    lone = web_as("sup-none", "supervisor")
    assert lone.get("/cases/CP-N1").status_code == 404


def _queues(make: Factory) -> None:
    """A waiting contact and a duplicate registration from each team."""
    _two_teams(make)
    for who, team in (("cw-north", "N"), ("cw-south", "S")):
        phone = make.device_client(f"phone-q-{team}", who)
        seed.submit(
            phone, seed.contact(f"CP-{team}-TYPO", seed.new_entity(), "2024-05-05T10:00:00Z")
        )
        seed.submit(phone, seed.registration(f"CP-{team}1", seed.new_entity(), day="2024-05-02"))


def test_queues_page_shows_the_teams_entries_with_sender(make: Factory, web_as: Any) -> None:
    _queues(make)
    sup = web_as("sup-n", "supervisor", team="north")
    html = sup.text("/queues")
    assert "CP-N-TYPO" in html
    assert "CP-S-TYPO" not in html
    assert "CP-N1" in html
    assert "CP-S1" not in html
    assert '<td class="submitter">cw-north</td>' in html
    assert "cw-south" not in html
    lone = web_as("sup-none", "supervisor").text("/queues")
    assert "TYPO" not in lone
    admin = web_as("adm", "admin").text("/queues")
    assert "CP-N-TYPO" in admin
    assert "CP-S-TYPO" in admin


def test_queues_say_why_each_entry_waits_and_a_duplicate_takes_a_typed_number(
    make: Factory, web_as: Any
) -> None:
    _queues(make)
    # a south caseworker's contact for a north case it picked by its entity: held
    entity = seed.new_entity()
    seed.submit(make.device_client("phone-q-N2", "cw-north"), seed.registration("CP-N9", entity))
    south = make.device_client("phone-q-S2", "cw-south")
    seed.submit(south, seed.contact("CP-N9", entity, "2024-05-06T10:00:00Z"))
    unlinked = web_as("adm", "admin").text("/queues").split('id="dup-h"')[0]
    rows = {
        row.split("<td>")[1].split("</td>")[0]: row
        for row in unlinked.split("<tr>")[1:]
        if "<td>" in row
    }
    assert "No case has this reference number yet" in rows["CP-N-TYPO"]
    assert "Sent by someone who may not change this case" in rows["CP-N9"]

    sup = web_as("sup-n", "supervisor", team="north")
    duplicate = sup.text("/queues").split('value="register_new"')[0]
    instance_id = duplicate.rsplit('name="instance_id" value="', 1)[1].split('"')[0]
    response = sup.post(
        "/queues/duplicate",
        {"instance_id": instance_id, "action": "register_new", "new_case_ref": " cp-n/2 "},
    )
    assert response.status_code == 302
    assert "Registered as a new case CP-N/2." in sup.text("/queues")
    assert "CP-N/2" in sup.text("/cases/cp-n/2")


def test_queue_link_refuses_another_teams_entry(make: Factory, web_as: Any) -> None:
    _queues(make)
    admin = web_as("adm", "admin").text("/queues")
    south_entry = admin.split("CP-S-TYPO")[1].split('name="instance_id" value="')[1].split('"')[0]
    sup = web_as("sup-n", "supervisor", team="north")
    response = sup.post("/queues/link", {"instance_id": south_entry, "case_ref": "CP-N1"})
    assert response.status_code == 302
    assert "There is no submission with this instanceID." in sup.text("/queues")
    assert "CP-S-TYPO" in web_as("adm2", "admin").text("/queues")


def test_dashboard_queue_counts_are_the_teams(make: Factory, web_as: Any) -> None:
    _queues(make)
    sup = web_as("sup-n", "supervisor", team="north")
    html = sup.text("/dashboard")
    assert 'id="n-unlinked">1<' in html
    assert 'id="n-duplicates">1<' in html
    lone = web_as("sup-none", "supervisor").text("/dashboard")
    assert 'id="n-unlinked">0<' in lone
    assert 'id="n-duplicates">0<' in lone
    admin = web_as("adm", "admin").text("/dashboard")
    assert 'id="n-unlinked">2<' in admin
    assert 'id="n-duplicates">2<' in admin


def test_dashboard_counts_overdue_contacts(make: Factory, web_as: Any) -> None:
    _two_teams(make)
    sup = web_as("sup-n", "supervisor", team="north")
    html = sup.text("/dashboard")
    assert 'id="n-contacts-overdue">1<' in html
    assert "<svg" in html
    assert "CP-N1" in html
    assert "CP-S1" not in html
    admin = web_as("adm", "admin")
    assert 'id="n-contacts-overdue">2<' in admin.text("/dashboard")


def test_queue_forms_and_case_pages_read_reference_numbers_as_they_are_filed(
    make: Factory, web_as: Any
) -> None:
    _two_teams(make)
    phone = make.device_client("phone-x", "cw-north")
    seed.submit(phone, seed.contact("CP-TYPO", seed.new_entity(), "2024-05-05T10:00:00Z"))
    sup = web_as("sup-n", "supervisor", team="north")
    instance_id = sup.text("/queues").split('name="instance_id" value="')[1].split('"')[0]
    refused = sup.post("/queues/link", {"instance_id": instance_id, "case_ref": "CP N1"})
    assert refused.status_code == 302
    page = sup.text("/queues")
    assert "3 to 40 letters, digits" in page
    assert "CP-TYPO" in page  # still waiting
    sup.post("/queues/link", {"instance_id": instance_id, "case_ref": " cp-n1 "})
    page = sup.text("/queues")
    assert "The submission is now part of case CP-N1." in page
    assert "CP-TYPO" not in page
    # the case page, its print view and the list's filter take any spelling of the number
    assert "CP-N1" in sup.text("/cases/cp-n1")
    assert "CP-N1" in sup.text("/cases/cp-n1/print")
    assert "CP-N1" in sup.text("/cases?ref=%20cp-n")
    assert sup.get("/cases/cp-s1").status_code == 404


def test_queues_page_shows_each_queue_a_page_at_a_time(
    make: Factory, web_as: Any, monkeypatch: Any
) -> None:
    """The queues page never lists every waiting submission: each queue pages on its own."""
    from server.web.views import cases as cases_view

    _two_teams(make)
    phone = make.device_client("phone-q", "cw-north")
    for n in range(3):
        seed.submit(phone, seed.contact(f"CP-WAIT{n}", seed.new_entity(), "2024-05-05T10:00:00Z"))
    monkeypatch.setattr(cases_view, "QUEUE_PER_PAGE", 2)
    sup = web_as("sup-n", "supervisor", team="north")

    def waiting(html: str) -> list[str]:
        return [part.split('"')[0] for part in html.split('name="instance_id" value="')[1:]]

    first = sup.text("/queues")
    assert len(waiting(first)) == 2
    (after,) = re.findall(r'<a rel="next" href="([^"]+)"', first)
    assert "unlinked=" in after
    second = sup.text(html.unescape(after))
    assert waiting(second)
    assert not set(waiting(first)) & set(waiting(second))
    (before,) = re.findall(r'<a rel="prev" href="([^"]+)"', second)
    assert waiting(sup.text(html.unescape(before))) == waiting(first)
    assert sup.get("/queues?unlinked=0").status_code == 400  # not a cursor

"""Closing, reassigning and merging: each asks for confirmation on a page of its own (no
script) and for a reason, which the case's history and the audit log then show in words.
A closed case shows no overdue flag anywhere."""

from __future__ import annotations

import re
from typing import Any

from tests.api.test_merge_preview import _scenario
from tests.factories import Factory
from tests.web import seed
from tests.web.conftest import Web
from tests.web.test_cases import _two_teams


def _text(html: str) -> str:
    """The page's words, without markup, as one line."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split()).replace("&#39;", "'")


def _flashes(web: Web, url: str) -> str:
    """The messages the page at ``url`` shows at its top, as one line."""
    block = web.text(url).split('class="flashes"')[1].split("</div>")[0]
    return _text(block.split(">", 1)[1])


def test_closing_asks_for_confirmation_and_a_reason(make: Factory, web_as: Any) -> None:
    _two_teams(make)
    sup = web_as("sup-n", "supervisor", team="north")
    page = sup.text("/cases/CP-N1")
    # the case page offers the step that asks; it does not close the case itself
    assert 'href="/cases/CP-N1/close"' in page
    assert 'action="/cases/CP-N1/close"' not in page

    confirm = sup.text("/cases/CP-N1/close")
    assert "Close case CP-N1?" in _text(confirm)
    assert "It no longer shows as overdue" in _text(confirm)
    assert re.search(r'<textarea id="f-reason" name="reason"[^>]* required', confirm)
    assert 'action="/cases/CP-N1/close"' in confirm
    assert 'href="/cases/CP-N1"' in confirm  # cancel

    for missing in ({}, {"reason": "   "}):
        refused = sup.post("/cases/CP-N1/close", missing)
        assert refused.status_code == 302
        assert refused.headers["Location"] == "/cases/CP-N1/close"
        assert "Give a reason" in _flashes(sup, refused.headers["Location"])
        assert 'id="case-status">open' in sup.text("/cases/CP-N1")

    closed = sup.post("/cases/CP-N1/close", {"reason": "Goals met, family stable"})
    assert closed.headers["Location"] == "/cases/CP-N1"
    history = _text(sup.text("/cases/CP-N1"))
    assert "closed" in history
    assert "supervisor decision sup-n Closed the case Reason: Goals met, family stable" in history
    french = _text(sup.get("/cases/CP-N1", headers={"Accept-Language": "fr"}).text)
    assert "A clôturé le dossier Motif : Goals met, family stable" in french
    # a closed case asks nothing more: back to the case
    again = sup.get("/cases/CP-N1/close")
    assert again.status_code == 302
    assert "already closed" in _flashes(sup, again.headers["Location"])

    admin = web_as("adm", "admin")
    audit = _text(admin.text("/audit?action=case.close"))
    assert "Closed a case" in audit
    assert "Reason: Goals met, family stable" in audit


def test_reopening_needs_a_reason_given_on_the_case_page(make: Factory, web_as: Any) -> None:
    _two_teams(make)
    sup = web_as("sup-n", "supervisor", team="north")
    sup.post("/cases/CP-N1/close", {"reason": "Goals met"})
    page = sup.text("/cases/CP-N1")
    assert re.search(r'<textarea id="f-reason" name="reason"[^>]* required', page)
    assert sup.post("/cases/CP-N1/reopen", {}).status_code == 302
    assert 'id="case-status">closed' in sup.text("/cases/CP-N1")
    sup.post("/cases/CP-N1/reopen", {"reason": "New report from the school"})
    history = _text(sup.text("/cases/CP-N1"))
    assert 'id="case-status">open' in sup.text("/cases/CP-N1")
    assert "Reopened the case Reason: New report from the school" in history


def test_reassigning_asks_for_a_reason_and_names_both_caseworkers(
    make: Factory, web_as: Any
) -> None:
    _two_teams(make)
    make.user("cw-north2", "caseworker", team="north")
    sup = web_as("sup-n", "supervisor", team="north")
    page = sup.text("/cases/CP-N1")
    # choosing whom leads to the confirmation step (a GET form), not to the change
    assert re.search(r'<form method="get" action="/cases/CP-N1/reassign"', page)
    assert 'method="post" action="/cases/CP-N1/reassign"' not in page

    confirm = sup.text("/cases/CP-N1/reassign?username=cw-north2")
    assert "Reassign case CP-N1?" in _text(confirm)
    assert "The case is with cw-north." in _text(confirm)
    assert '<option value="cw-north2" selected>' in confirm
    assert "cw-south" not in confirm.split('id="f-assign"')[1].split("</select>")[0]
    assert re.search(r'<textarea id="f-reason" name="reason"[^>]* required', confirm)

    refused = sup.post("/cases/CP-N1/reassign", {"username": "cw-north2"})
    assert refused.headers["Location"] == "/cases/CP-N1/reassign?username=cw-north2"
    assert 'id="case-caseworker">cw-north<' in sup.text("/cases/CP-N1")

    done = sup.post("/cases/CP-N1/reassign", {"username": "cw-north2", "reason": "Caseload"})
    assert done.headers["Location"] == "/cases/CP-N1"
    history = _text(sup.text("/cases/CP-N1"))
    assert "Reassigned the case to cw-north2 (was cw-north) Reason: Caseload" in history

    admin = web_as("adm", "admin")
    audit = _text(admin.text("/audit?action=case.reassign"))
    assert "Gave a case to another caseworker" in audit
    assert "Given to: cw-north2 (was cw-north)" in audit
    assert "Reason: Caseload" in audit


def test_a_merge_is_previewed_then_done_with_a_reason(make: Factory, web_as: Any) -> None:
    _scenario(make)
    sup = web_as("sup-p", "supervisor", team="north")
    queues = sup.text("/queues")
    # the queue offers only the preview: no form there merges
    assert 'name="action" value="merge"' not in queues
    link = re.search(r'href="(/queues/duplicate/preview\?instance_id=[^"]+)"', queues)
    assert link is not None
    assert "Merge into CP-P-1…" in _text(queues)
    preview = sup.text(link.group(1).replace("&amp;", "&"))
    assert "Merge into CP-P-1: what will change" in _text(preview)
    assert re.search(r'<textarea id="f-reason" name="reason"[^>]* required', preview)
    assert 'name="action" value="merge"' in preview

    merge = {"instance_id": "uuid:dup-p", "action": "merge"}
    refused = sup.post("/queues/duplicate", merge)
    assert refused.headers["Location"] == "/queues/duplicate/preview?instance_id=uuid:dup-p"
    assert "Give a reason" in _flashes(sup, refused.headers["Location"])
    assert "uuid:dup-p" in sup.text("/queues")

    done = sup.post("/queues/duplicate", {**merge, "reason": "Same child, typed twice"})
    assert done.headers["Location"] == "/queues"
    assert "uuid:dup-p" not in sup.text("/queues")
    history = _text(sup.text("/cases/CP-P-1"))
    assert "Merged a duplicate registration into this case Reason: Same child, typed twice" in (
        history
    )
    admin = web_as("adm-p", "admin")
    audit = _text(admin.text("/audit?action=case.merge"))
    assert "Merged a duplicate registration into a case" in audit
    assert "Reason: Same child, typed twice" in audit


def _overdue_case(make: Factory) -> None:
    """CP-7: its next contact (a week after 1 May 2024) and its plan item (1 June 2024)
    are long overdue."""
    seed.publish_case_forms(make)
    make.user("amina", "caseworker", team="north")
    phone = make.device_client("p-a", "amina")
    seed.submit(phone, seed.registration("CP-7", seed.new_entity()))


def test_a_closed_case_shows_no_overdue_flag(make: Factory, web_as: Any) -> None:
    _overdue_case(make)
    sup = web_as("sup", "supervisor", team="north")
    assert sup.text("/cases/CP-7").count('class="overdue"') == 2
    sup.post("/cases/CP-7/close", {"reason": "Family moved abroad"})
    for url in ("/cases/CP-7", "/cases/CP-7/print", "/cases", "/dashboard"):
        page = sup.text(url)
        assert 'class="overdue"' not in page, url
        assert "(overdue)" not in page, url
    assert "CP-7" not in sup.text("/cases?overdue=true")
    record = sup.get("/api/v1/cases/CP-7").json
    assert record["status"] == "closed"
    assert [i["is_overdue"] for i in record["plan_items"]] == [False]
    # open again, it is overdue again
    sup.post("/cases/CP-7/reopen", {"reason": "The family came back"})
    assert sup.text("/cases/CP-7").count('class="overdue"') == 2
    assert [i["is_overdue"] for i in sup.get("/api/v1/cases/CP-7").json["plan_items"]] == [True]


def test_the_confirmation_pages_keep_to_the_decisions_scope(make: Factory, web_as: Any) -> None:
    """A supervisor reaches the confirmation of a decision only on a case of their team:
    another team's case is not found there either; a caseworker may not decide at all."""
    _two_teams(make)
    sup = web_as("sup-n", "supervisor", team="north")
    for step in ("close", "reassign"):
        assert sup.get(f"/cases/CP-N1/{step}").status_code == 200
        assert sup.get(f"/cases/CP-S1/{step}").status_code == 404
        assert sup.get(f"/cases/CP-NONE/{step}").status_code == 404
    caseworker = web_as("cw-north-b", "caseworker", team="north")
    assert caseworker.get("/cases/CP-N1/close").status_code == 403
    admin = web_as("adm", "admin")
    assert admin.get("/cases/CP-S1/close").status_code == 200

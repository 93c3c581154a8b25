"""The queues page offers a look at what a merge will change before it is done."""

from __future__ import annotations

import re
from typing import Any

from tests.api.test_cases_api import _send
from tests.api.test_merge_preview import _scenario
from tests.factories import Factory
from tests.realforms import new_case_plan, xlsform_bytes


def test_the_merge_preview_page_shows_the_changes_and_merges_only_when_asked(
    make: Factory, web_as: Any
) -> None:
    _scenario(make)
    sup = web_as("sup-p", "supervisor", team="north")
    queues = sup.text("/queues")
    link = re.search(r'href="(/queues/duplicate/preview\?instance_id=[^"]+)"', queues)
    assert link is not None
    page = sup.text(link.group(1).replace("&amp;", "&"))
    text = " ".join(re.sub(r"<[^>]+>", " ", page).split())
    assert "Merge into CP-P-1: what will change" in text
    assert "Risk level High Low" in text  # as the case plan words them
    assert "Owner: cw-n → cw-n2" in text
    assert "Nothing has changed yet." in text
    # times as every page shows them, in the user's zone with the zone named
    assert "Last review Nov 20, 2026, 11:59 PM UTC Nov 22, 2026" in text
    # still waiting: the preview merged nothing
    assert "uuid:dup-p" in sup.text("/queues")
    merge = {"instance_id": "uuid:dup-p", "action": "merge", "reason": "same child"}
    merged = sup.post("/queues/duplicate", merge)
    assert merged.status_code == 302
    assert "uuid:dup-p" not in sup.text("/queues")


def test_the_merge_preview_shows_answers_as_written(make: Factory, web_as: Any) -> None:
    """Answers are shown, not looked up as messages: a '%' in one is no server error, and
    a word that is also a message of the pages ("high") is translated only as a code."""
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("cw-n", "caseworker", team="north")
    make.user("cw-n2", "caseworker", team="north")
    _send(make, "cw-n", new_case_plan("CP-P-2", caseworker="cw-n", risk="high")[0])
    again = new_case_plan(
        "CP-P-2",
        caseworker="100% open",
        risk="low",
        plan_date="2026-11-22",
        instance_id="uuid:dup-q",
    )
    _send(make, "cw-n2", again[0])
    sup = web_as("sup-q", "supervisor", team="north")
    french = {"Accept-Language": "fr"}
    response = sup.get("/queues/duplicate/preview?instance_id=uuid:dup-q", headers=french)
    assert response.status_code == 200
    text = " ".join(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True)).split())
    assert "cw-n → 100% open" in text  # not "ouvert"
    assert "Élevé Faible" in text  # the risk level as the French case plan words it

"""The case file in a real Chromium: a case with a plan, three contacts and a conference,
all sent by a phone through OpenRosa, read by its supervisor as the forms' own words.
Screenshots go to test-artifacts/screenshots/case-file-*.png."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask

from tests.factories import Factory
from tests.realforms import xlsform_bytes
from tests.web.test_browser import _shot, _sign_in, live, page  # noqa: F401 (fixtures)
from tests.web.test_case_file import _case

pytestmark = pytest.mark.browser

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def test_a_supervisor_reads_the_case_file(live: tuple[str, Flask], page: Any) -> None:  # noqa: F811
    base, app = live
    make = Factory(app)
    for form_id in ("case_plan", "contact_log", "case_conference"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("cw1", "caseworker", team="north")
    make.user("sup", "supervisor", team="north")
    ref = _case(make.device_client("phone-1", "cw1"))

    _sign_in(page, base, "sup")
    page.goto(f"{base}/cases/{ref}")
    history = page.locator("ol.history")
    # the conference: what was discussed and what was decided
    conference = history.locator("li.history-entry", has_text="Summary of the discussion")
    assert conference.count() == 1
    assert "Progress reviewed; school attendance discussed." in conference.inner_text()
    decisions = conference.locator("table.repeat", has_text="Decision")
    assert "Enrol the child in the village school" in decisions.inner_text()
    assert "Head teacher" in decisions.inner_text()
    # three visits, each with the key messages given, in words
    visits = history.locator("li.history-entry", has_text="Key messages given")
    assert visits.count() == 3
    assert "How to access services" in visits.first.inner_text()
    # the words a person reads carry no UUID: those stay in the closed provenance
    visible = page.evaluate(
        "() => { const c = document.querySelector('main').cloneNode(true);"
        " c.querySelectorAll('details').forEach(d => d.remove()); return c.innerText; }"
    )
    assert not UUID.search(visible)
    assert "home_visit" not in visible
    provenance = conference.locator("details.provenance")
    assert not provenance.locator("code").first.is_visible()
    provenance.locator("summary").click()
    assert provenance.locator("code").first.is_visible()
    _shot(page, "case-file-page")

    page.goto(f"{base}/cases/{ref}/print")
    assert page.locator("ol.history li.history-entry").count() == 5
    page.emulate_media(media="print")
    assert not page.locator("header.site-header, .site-header").first.is_visible()
    _shot(page, "case-file-print")

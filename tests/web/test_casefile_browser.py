"""Everyday care, the rest of it, in a real Chromium on a tablet-sized window (768 px),
with cases sent by phones with the real forms: lists read in the forms' words (kinds,
statuses, risk); the case list's risk header says which risk comes first; reassigning asks
on a page of its own with a reason; a merge shows what it will change before it is done
and asks for a reason; a closed case's items are no longer overdue anywhere; a team is
chosen from the list; the audit log reads in words. Every page: nothing wider than the
window, text at WCAG AA contrast; the keyboard reaches the lists' filters with a visible
ring. Screenshots go to test-artifacts/screenshots/casefile-*.png."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.factories import Factory
from tests.realforms import new_case_plan, xlsform_bytes
from tests.web.test_browser import _shot, _sign_in, _sign_out, live, page  # noqa: F401
from tests.web.test_everyday_browser import LOW_CONTRAST_JS, TABLET, _check_focus

pytestmark = pytest.mark.browser


def _check(tab: Any, name: str) -> None:
    width = tab.evaluate("document.documentElement.scrollWidth")
    assert width <= TABLET["width"], (name, width)
    assert tab.evaluate(LOW_CONTRAST_JS) == [], name
    _shot(tab, f"casefile-{name}")


def _send(make: Factory, username: str, xml: bytes) -> None:
    phone = make.device_client(f"phone-{username}-{abs(hash(xml)) % 10**8}", username)
    assert phone.submit(xml).status_code == 201


def test_everyday_care_of_cases_on_a_tablet(live: tuple[str, Flask], page: Any) -> None:  # noqa: F811
    base, app = live
    make = Factory(app)
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("adm", "admin")
    make.user("sup", "supervisor", team="north")
    make.user("amina", "caseworker", team="north")
    make.user("bo", "caseworker", team="north")
    # the plans' items fell due in November 2026: overdue now
    _send(make, "amina", new_case_plan("CP-B-1", caseworker="amina", risk="high")[0])
    _send(make, "amina", new_case_plan("CP-B-2", caseworker="amina", risk="low")[0])
    # registered again two days later: the merge would take its risk level
    duplicate = new_case_plan(
        "CP-B-1", caseworker="bo", risk="medium", plan_date="2026-11-22", instance_id="uuid:dup-b"
    )
    _send(make, "bo", duplicate[0])

    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: problems.append(m.text) if m.type == "error" else None,
    )
    page.set_viewport_size(TABLET)
    _sign_in(page, base, "sup")
    page.wait_for_url("**/dashboard")

    # The worklist in the forms' words.
    items = page.locator("#overdue-items").inner_text()
    assert "Protection need" in items
    assert "\tneed\t" not in items
    assert "High" in page.locator("#due-contacts").inner_text()
    _check(page, "01-dashboard")

    page.goto(f"{base}/plan-items?overdue=true")
    listed = page.locator("#item-list").inner_text()
    assert "Protection need" in listed
    assert "Not started yet" in listed
    assert "Referred, waiting for the service" in listed
    assert "CP-B-2" in listed
    _check(page, "02-plan-items")
    assert _check_focus(page, 25) >= 10

    page.goto(f"{base}/cases")
    page.locator("#sort-risk").click()
    page.wait_for_url("**sort=risk**")
    assert "High risk first" in page.locator("#sort-risk").inner_text()
    assert "▼" in page.locator("#sort-risk").inner_text()
    assert page.locator("#case-list tbody tr").nth(0).inner_text().startswith("CP-B-1")
    _check(page, "03-cases-by-risk")
    page.locator("#sort-risk").click()
    page.wait_for_url("**dir=desc**")
    assert "Low risk first" in page.locator("#sort-risk").inner_text()
    assert page.locator("#case-list tbody tr").nth(0).inner_text().startswith("CP-B-2")

    # Reassigning asks on a page of its own, with a reason.
    page.goto(f"{base}/cases/CP-B-2")
    page.get_by_label("Reassign to").select_option("bo")
    page.get_by_role("button", name="Reassign…").click()
    page.wait_for_url("**/cases/CP-B-2/reassign?*")
    assert page.get_by_role("heading", name="Reassign case CP-B-2?").is_visible()
    _check(page, "04-reassign-confirm")
    page.get_by_role("button", name="Reassign the case").click()
    assert page.locator("#f-reason").evaluate("e => e.validity.valueMissing")
    page.get_by_label("Reason for reassigning").fill("Amina is on leave for a month.")
    page.get_by_role("button", name="Reassign the case").click()
    page.wait_for_url("**/cases/CP-B-2")
    assert "Reason: Amina is on leave for a month." in page.locator("ol.history").inner_text()

    # A merge shows what it will change first, and asks for a reason.
    page.goto(f"{base}/queues")
    page.get_by_role("link", name="Merge into CP-B-1…").click()
    page.wait_for_url("**/queues/duplicate/preview?*")
    assert page.get_by_role("heading", name="Merge into CP-B-1: what will change").is_visible()
    preview = page.locator("main").inner_text()
    assert "Nothing has changed yet." in preview
    assert "High" in preview  # the risk level, in the form's words
    assert "Medium" in preview
    _check(page, "05-merge-preview")
    page.get_by_role("button", name="Merge into CP-B-1").click()
    assert page.url.endswith("/queues/duplicate/preview?instance_id=uuid:dup-b") or (
        "preview" in page.url
    )
    page.get_by_label("Reason for merging").fill("The same child, registered twice.")
    page.get_by_role("button", name="Merge into CP-B-1").click()
    page.wait_for_url("**/queues*")
    assert "uuid:dup-b" not in page.locator("main").inner_text()

    # A closed case shows no overdue flag, on its page or in the lists.
    page.goto(f"{base}/cases/CP-B-2")
    page.get_by_role("link", name="Close the case…").click()
    page.get_by_label("Reason for closing").fill("Goals met.")
    page.get_by_role("button", name="Close the case").click()
    page.wait_for_url("**/cases/CP-B-2")
    assert page.locator("main .overdue").count() == 0
    page.goto(f"{base}/plan-items?overdue=true")
    assert "CP-B-2" not in page.locator("#item-list").inner_text()
    page.goto(f"{base}/plan-items")
    for row in page.locator("#item-list tbody tr").all():
        if row.inner_text().startswith("CP-B-2"):
            assert row.locator(".overdue").count() == 0
    page.goto(f"{base}/cases?status=closed")
    assert page.locator("#case-list .overdue").count() == 0
    _check(page, "06-closed-cases")
    _sign_out(page)

    # The admin: a team is chosen from the list; the audit log reads in words.
    _sign_in(page, base, "adm")
    page.goto(f"{base}/users")
    team = page.locator("form select[name=team]").first
    assert team.evaluate("e => e.tagName") == "SELECT"
    options = team.locator("option").all_inner_texts()
    assert "north" in options
    _check(page, "07-users")
    page.goto(f"{base}/audit")
    log = page.locator("main table").inner_text()
    assert "Gave a case to another caseworker" in log
    assert "Reason: Amina is on leave for a month." in log
    assert "Merged a duplicate registration into a case" in log
    assert "Closed a case" in log
    _check(page, "08-audit")
    page.goto(f"{base}/exports")
    _check(page, "09-exports")

    # In Arabic, right to left: the forms' own Arabic words.
    page.set_extra_http_headers({"Accept-Language": "ar"})
    page.goto(f"{base}/plan-items")
    assert page.locator("html").get_attribute("dir") == "rtl"
    listed = page.locator("#item-list").inner_text()
    assert "احتياج الحماية" in listed  # Protection need
    assert "لم يبدأ بعد" in listed  # Not started yet
    _check(page, "10-plan-items-ar")
    page.goto(f"{base}/cases?sort=risk")
    rows = page.locator("#case-list tbody").inner_text()
    assert "متوسط" in rows  # Medium: CP-B-1's risk since the merge
    assert "منخفض" in rows  # Low
    assert "medium" not in rows
    _check(page, "11-cases-ar")

    assert problems == []

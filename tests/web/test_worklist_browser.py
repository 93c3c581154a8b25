"""The worklist in a real Chromium against a live server, with cases sent by phones: the
dashboard's overdue list names each case's caseworker, and its count opens the filtered
case list. Screenshots are kept under test-artifacts/screenshots/."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask

from tests.factories import Factory
from tests.web import seed
from tests.web.test_browser import _shot, _sign_in, live, page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def test_the_overdue_list_names_the_caseworker_and_opens_the_filtered_list(
    live: tuple[str, Flask],  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    base, app = live
    make = Factory(app)
    make.user("sup", "supervisor", team="north")
    make.user("amina", "caseworker", team="north")
    make.user("bo", "caseworker", team="north")
    make.user("cy", "caseworker", team="south")
    seed.publish_case_forms(make)
    recent = (datetime.now(UTC).date() - timedelta(days=2)).isoformat()
    for user, ref, day, risk in (
        ("amina", "CP-201", "2024-05-01", "high"),  # overdue since 2024
        ("bo", "CP-202", "2024-06-01", "medium"),  # overdue
        ("bo", "CP-203", recent, "low"),  # due in five days
        ("cy", "CP-301", "2024-05-01", "high"),  # another team's
    ):
        phone = make.device_client(f"phone-{ref}", user)
        seed.submit(phone, seed.registration(ref, seed.new_entity(), day=day, risk=risk))

    _sign_in(page, base, "sup")
    page.wait_for_url("**/dashboard")
    assert page.locator("#n-contacts-overdue").inner_text() == "2"
    assert page.locator("#n-contacts-week").inner_text() == "1"
    rows = page.locator("#due-contacts tbody tr")
    assert rows.count() == 3
    first = rows.nth(0).inner_text()
    assert "CP-201" in first
    assert "amina" in first  # names the caseworker
    assert "bo" in rows.nth(1).inner_text()
    assert "CP-301" not in page.locator("main").inner_text()
    _shot(page, "worklist-01-dashboard")

    page.locator("#link-contacts-overdue").click()
    page.wait_for_url("**/cases?*")
    listed = page.locator("#case-list tbody tr")
    assert listed.count() == 2
    text = page.locator("#case-list").inner_text()
    assert "CP-201" in text
    assert "CP-202" in text
    assert "CP-203" not in text
    assert page.locator("#sort-risk").get_attribute("href") is not None
    _shot(page, "worklist-02-overdue-cases")

    # Sorted by reference number, newest first, from the column's header.
    page.locator("#sort-ref").click()
    page.wait_for_url("**sort=ref&dir=asc*")
    page.locator("#sort-ref").click()
    page.wait_for_url("**dir=desc*")
    assert page.locator("#case-list tbody tr").nth(0).inner_text().startswith("CP-202")

    page.goto(f"{base}/referrals")
    _shot(page, "worklist-03-referrals")
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(f"{base}/dashboard")
    _shot(page, "worklist-04-dashboard-tablet")

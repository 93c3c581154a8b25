"""The pages in Arabic (right to left) and French in a real Chromium, with times in the
organisation's time zone. Screenshots are kept under test-artifacts/screenshots/."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from tests.factories import Factory
from tests.web import seed
from tests.web.test_browser import _shot, _sign_in, live, page  # noqa: F401  (fixtures)

pytestmark = pytest.mark.browser


def _html(tab: Any) -> tuple[str, str]:
    return (
        tab.evaluate("document.documentElement.lang"),
        tab.evaluate("document.documentElement.dir"),
    )


def _box(tab: Any, selector: str) -> Any:
    return tab.locator(selector).first.bounding_box()


def test_the_dashboard_in_arabic_and_in_french(live: tuple[str, Flask], page: Any) -> None:  # noqa: F811
    base, app = live
    app.config["TIMEZONE"] = "Africa/Nairobi"
    make = Factory(app)
    make.user("sup", "supervisor", team="north")
    make.user("amina", "caseworker", team="north")
    seed.publish_case_forms(make)
    phone = make.device_client("phone-amina", "amina")
    entity = seed.new_entity()
    seed.submit(phone, seed.registration("CP-201", entity, day="2024-05-01"))
    seed.submit(phone, seed.contact("CP-201", entity, "2024-05-04T10:00:00Z", risk="high"))

    # The supervisor chooses Arabic on the account page: every page turns right to left.
    _sign_in(page, base, "sup")
    page.wait_for_url("**/dashboard")
    page.goto(f"{base}/account")
    page.get_by_label("Language").select_option("ar")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**/account")
    assert _html(page) == ("ar", "rtl")
    _shot(page, "i18n-01-account-ar")

    page.goto(f"{base}/dashboard")
    assert _html(page) == ("ar", "rtl")
    assert page.locator("h1").inner_text() == "لوحة المتابعة"
    assert "متابعات متأخرة" in page.locator(".stats").inner_text()  # contacts overdue
    assert page.locator("#n-contacts-overdue").inner_text() == "1"
    # laid out right to left: the product name at the right, sign-out at the left
    width = page.viewport_size["width"]
    brand, signout = _box(page, ".brand"), _box(page, ".signout")
    assert brand["x"] > width / 2 > signout["x"] + signout["width"]
    # table text starts at the right of its cell
    assert page.evaluate("getComputedStyle(document.querySelector('th')).textAlign") == "start"
    cell, header = _box(page, "#due-contacts tbody td a"), _box(page, "#due-contacts thead th")
    assert cell["x"] + cell["width"] > header["x"] + header["width"] - 20
    _shot(page, "i18n-02-dashboard-ar")
    page.set_viewport_size({"width": 768, "height": 1024})
    _shot(page, "i18n-02b-dashboard-ar-tablet")
    page.set_viewport_size({"width": 1024, "height": 800})

    # The case page: Arabic words, times in the organisation's zone (Nairobi) with the zone.
    page.goto(f"{base}/cases/CP-201")
    assert _html(page) == ("ar", "rtl")
    main = page.locator("main").inner_text()
    assert "خطة السلامة" in main  # Safety plan
    assert "7 أيام" in main  # contact every 7 days: the plural Arabic uses from 3 to 10
    assert "+0300" in main
    assert "10:00:00Z" not in main
    _shot(page, "i18n-03-case-ar")

    # French, chosen on the same page.
    page.goto(f"{base}/account")
    page.locator("#f-language").select_option("fr")
    page.locator('form[action="/account"] button[type=submit]').click()
    page.wait_for_url("**/account")
    page.goto(f"{base}/dashboard")
    assert _html(page) == ("fr", "ltr")
    assert page.locator("h1").inner_text() == "Tableau de bord"
    assert "contacts en retard" in page.locator(".stats").inner_text()
    brand = _box(page, ".brand")
    assert brand["x"] < width / 2
    _shot(page, "i18n-04-dashboard-fr")

    # A browser that asks for French gets French before anyone chooses anything.
    context = page.context.browser.new_context(
        locale="fr-FR", viewport={"width": 1024, "height": 800}
    )
    try:
        other = context.new_page()
        other.goto(f"{base}/login")
        assert _html(other) == ("fr", "ltr")
        assert other.get_by_role("button", name="Se connecter").count() == 1
        _shot(other, "i18n-05-login-fr")
    finally:
        context.close()

"""The pages in a real Chromium (``tests.browser``) against a live server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from server import create_app
from server.auth.qr import read_qr_payload
from server.db import get_database
from tests.browser import new_tab
from tests.conftest import app_config
from tests.factories import PASSWORD, DeviceClient, Factory
from tests.web import seed, xlsx

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture
def live(database_url: str, tmp_path: Path) -> Iterator[tuple[str, Flask]]:
    """The app served over real HTTP on a free loopback port."""
    server_holder: dict[str, Any] = {}
    app = create_app(app_config(database_url, tmp_path / "data", WTF_CSRF_ENABLED=True))
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["BASE_URL"] = base
    server_holder["server"] = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield base, app
    server.shutdown()
    thread.join(timeout=5)
    get_database(app).engine.dispose()


@pytest.fixture
def page(live: tuple[str, Flask], chromium: Any) -> Iterator[Any]:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context, tab = new_tab(chromium, viewport={"width": 1024, "height": 800})
    yield tab
    context.close()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def _sign_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state()


def _sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login")


def test_a_day_in_the_office(live: tuple[str, Flask], page: Any, tmp_path: Path) -> None:
    base, app = live
    make = Factory(app)
    make.user("adm", "admin")
    make.user("des", "designer")
    make.user("sup", "supervisor", team="north")
    make.user("amina", "caseworker", team="north")
    make.user("bo", "supervisor", team="north")

    # Sign-in page, keyboard first: the skip link is the first thing Tab reaches.
    page.goto(f"{base}/login")
    _shot(page, "01-login")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"

    # A designer uploads a broken XLSForm, sees the problem table, then a good one.
    _sign_in(page, base, "des")
    page.wait_for_url("**/forms")
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(xlsx.broken_form())
    page.get_by_label("XLSForm (.xlsx, .xls) or XForm (.xml)").set_input_files(str(broken))
    page.get_by_role("button", name="Check the form").click()
    problems = page.locator("table.problems")
    assert "colours" in problems.inner_text()
    assert page.get_by_role("button", name="Publish").count() == 0
    _shot(page, "02-form-errors")
    name, content = xlsx.good_form()
    good = tmp_path / name
    good.write_bytes(content)
    page.goto(f"{base}/forms")
    page.get_by_label("XLSForm (.xlsx, .xls) or XForm (.xml)").set_input_files(str(good))
    page.get_by_role("button", name="Check the form").click()
    _shot(page, "03-form-preview")
    page.get_by_role("button", name="Publish").click()
    page.wait_for_url("**/forms/*")
    assert "Published" in page.locator(".flashes").inner_text()
    _shot(page, "04-form-detail")
    _sign_out(page)

    # The admin registers a phone and reads its QR code.
    _sign_in(page, base, "adm")
    page.goto(f"{base}/devices")
    page.get_by_label("Device label").fill("phone-amina")
    page.get_by_label("Caseworker").select_option("amina")
    page.get_by_role("button", name="Register and show the QR code").click()
    # (count() does not wait: the page the form posts to may not be there yet)
    page.locator(".qr svg").wait_for()
    assert page.locator(".qr svg").count() == 1
    page.locator("details summary").click()
    payload = page.locator("#qr-payload").inner_text().strip()
    settings = read_qr_payload(payload)
    server_url = settings["general"]["server_url"]
    assert server_url.startswith(f"{base}/key/")
    assert settings["general"]["metadata_username"] == "amina"
    _shot(page, "05-device-qr")
    _sign_out(page)

    # Phones send a case plan over real HTTP with the provisioned token, then two offline
    # contacts that disagree on the risk level (one from a supervisor's phone: a
    # colleague's contact would not count, the case is not theirs).
    seed.publish_case_forms(make)
    token = server_url.rsplit("/key/", 1)[1]
    amina = DeviceClient(app.test_client(), token)
    entity = seed.new_entity()
    seed.submit(amina, seed.registration("CP-101", entity, day="2024-05-01"))
    bo = make.device_client("phone-bo", "bo")
    seed.submit(bo, seed.contact("CP-101", entity, "2024-05-05T10:00:00Z", risk="high"))
    seed.submit(amina, seed.contact("CP-101", entity, "2024-05-04T10:00:00Z", risk="low"))

    # The supervisor finds the overdue contact on the dashboard and follows it to the case.
    _sign_in(page, base, "sup")
    page.wait_for_url("**/dashboard")
    assert page.locator("#n-contacts-overdue").inner_text() == "1"
    assert page.locator("#n-conflicts").inner_text() == "1"
    assert page.locator("svg[role=img]").count() >= 3
    _shot(page, "06-dashboard")
    page.locator("#due-contacts").get_by_role("link", name="CP-101").click()
    page.wait_for_url("**/cases/CP-101")
    assert "overdue" in page.locator("main").inner_text()
    _shot(page, "07-case-conflict")

    # Resolve the conflict side by side.
    page.get_by_role("button", name="Keep Low for Risk").click()
    page.wait_for_url("**/cases/CP-101")
    assert "Conflict resolved" in page.locator(".flashes").inner_text()
    assert page.locator("section.conflicts").count() == 0
    _shot(page, "08-case-resolved")

    page.goto(f"{base}/cases")
    _shot(page, "09-case-list")
    page.goto(f"{base}/cases/CP-101/print")
    page.emulate_media(media="print")
    _shot(page, "10-case-print")
    page.emulate_media(media="screen")

    # Export the cases; the download arrives and the export is in the audit log.
    page.goto(f"{base}/exports")
    _shot(page, "11-exports")
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download case export").click()
    download = download_info.value
    assert download.suggested_filename.startswith("cases-")
    assert download.suggested_filename.endswith(".csv.zip")
    saved = tmp_path / "cases.zip"
    download.save_as(str(saved))
    assert saved.read_bytes()[:2] == b"PK"
    _sign_out(page)

    _sign_in(page, base, "adm")
    page.goto(f"{base}/audit?action=export")
    assert "export.cases" in page.locator("main").inner_text()
    _shot(page, "12-audit")

    # A tablet-sized window still shows the navigation and the dashboard.
    page.set_viewport_size({"width": 768, "height": 1024})
    page.goto(f"{base}/dashboard")
    _shot(page, "13-dashboard-tablet")

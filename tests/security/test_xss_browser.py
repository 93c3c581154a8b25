"""Untrusted XML never runs script in a signed-in person's browser (Chromium, live server).

A phone's submission XML and a designer's XForm are written by people outside the office.
Chromium runs an XHTML ``<script>`` found in an XML document served inline, on this
server's origin and with the viewer's session cookie. The submission XML is therefore
served as a download, and every document that is not one of our pages carries
``Content-Security-Policy: sandbox`` (a sandboxed document runs no script) and nosniff.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask

from tests.browser import new_tab
from tests.factories import PASSWORD, SIMPLE_FORM, Factory, submission_xml, xform_from_md
from tests.web import seed
from tests.web.test_browser import live as live  # the live server fixture (re-exported)

pytestmark = pytest.mark.browser

H = "http://www.w3.org/1999/xhtml"


def _payload(mark: str) -> str:
    """Script that, if it ever runs, tells the test in three ways."""
    return (
        f"console.log('XSS-RAN {mark}'); document.title = 'XSS-RAN {mark}'; "
        f"fetch('/xss-ran-{mark}').catch(function () {{}});"
    )


@pytest.fixture
def browser_page(live: tuple[str, Flask], chromium: Any) -> Iterator[tuple[Any, list[str]]]:
    """A Chromium tab, and the list of signs of a script having run."""
    signs: list[str] = []
    context, tab = new_tab(chromium, accept_downloads=True)
    tab.on(
        "console",
        lambda msg: (
            signs.append(msg.text)
            if "XSS" in msg.text or "Content Security Policy" in msg.text
            else None
        ),
    )
    tab.on("request", lambda req: signs.append(req.url) if "xss-ran" in req.url else None)
    yield tab, signs
    context.close()


def _open(tab: Any, url: str, signs: list[str]) -> None:
    """Open ``url`` as a person would; a download is a fine answer."""
    from playwright.sync_api import Error

    try:
        tab.goto(url)
    except Error as error:  # Playwright raises when the answer is a download
        if "Download is starting" not in str(error) and "ERR_ABORTED" not in str(error):
            raise
    time.sleep(1.0)  # give any script the time to run and call home
    if "XSS-RAN" in tab.title():
        signs.append(f"title of {url}: {tab.title()}")


def _sign_in(tab: Any, base: str, username: str) -> None:
    tab.goto(f"{base}/login")
    tab.get_by_label("User name").fill(username)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url("**/dashboard")


def _trap_form() -> bytes:
    md = SIMPLE_FORM.replace("| simple | 1 | Simple form |", "| trap | 1 | Trap form |")
    xml = xform_from_md(md)
    script = f'<h:script xmlns:h="{H}">{_payload("form")}</h:script>'
    return xml.replace("</h:head>", f"{script}</h:head>", 1).encode()


def test_script_in_submitted_or_published_xml_never_runs(
    live: tuple[str, Flask], browser_page: tuple[Any, list[str]]
) -> None:
    base, app = live
    tab, signs = browser_page
    make = Factory(app)
    make.user("adm", "admin")
    make.user("cw", "caseworker", team="north")
    make.publish_md(SIMPLE_FORM)
    make.publish_bytes(_trap_form(), "trap.xml")
    phone = make.device_client("phone-cw", "cw")
    instance_id = "uuid:6a1e3f52-0000-4000-8000-00000000x55"
    body = f'<note_text>hi</note_text><h:script xmlns:h="{H}">{_payload("submission")}</h:script>'
    assert phone.submit(submission_xml(instance_id=instance_id, body=body)).status_code == 201

    _sign_in(tab, base, "adm")

    _open(tab, f"{base}/api/v1/forms/simple/submissions/{instance_id}.xml", signs)
    _open(tab, f"{base}/key/{phone.token}/forms/trap.xml", signs)
    assert signs == []


def test_our_own_pages_work_under_their_policy(
    live: tuple[str, Flask], browser_page: tuple[Any, list[str]]
) -> None:
    """The policy allows no inline script or style: no page may need one (a violation is
    reported on the console), and the print button works from its own file."""
    base, app = live
    tab, signs = browser_page
    make = Factory(app)
    make.user("adm", "admin")
    make.user("amina", "caseworker", team="north")
    seed.publish_case_forms(make)
    seed.submit(
        make.device_client("phone-amina", "amina"), seed.registration("CP-1", seed.new_entity())
    )
    _sign_in(tab, base, "adm")
    for path in ("/dashboard", "/cases", "/cases/CP-1", "/forms", "/devices", "/audit"):
        tab.goto(f"{base}{path}")
        tab.wait_for_load_state()
    tab.goto(f"{base}/cases/CP-1/print")
    tab.wait_for_load_state()
    tab.evaluate("window.print = function () { window.printed = true; }")
    tab.get_by_role("button", name="Print").click()
    assert tab.evaluate("window.printed") is True
    assert signs == []

"""In a real Chromium, on a phone-sized window: the audit log's action codes stay whole
(no break inside ``submission.view_xml``), and each entry reads in words."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from server import db
from server.audit import service as audit
from tests.factories import Factory
from tests.web.test_browser import _shot, _sign_in, live, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_action_codes_never_break_mid_word(
    live: tuple[str, Flask],  # noqa: F811
    page: Any,  # noqa: F811
) -> None:
    base, app = live
    make = Factory(app)
    make.user("adm", "admin")
    with app.app_context():
        session = db.session()
        for action in ("submission.view_xml", "case.register_new", "device.list_download"):
            audit.record(
                session,
                None,
                action,
                target_type="submission",
                target="uuid:0f0e3b8e-4a63-4a8f-9a55-1a3c4d5e6f70",
                details={"form_id": "case_conference", "include_sensitive": False},
            )
        session.commit()
    _sign_in(page, base, "adm")
    page.set_viewport_size({"width": 360, "height": 800})
    page.goto(f"{base}/audit")
    _shot(page, "audit-narrow")
    codes = page.locator("tbody td code")
    assert codes.count() >= 3
    for n in range(codes.count()):
        code = codes.nth(n)
        # an inline element broken over several lines has one box per line
        assert code.evaluate("e => e.getClientRects().length") == 1, code.inner_text()
    text = page.locator("main").inner_text()
    assert "Viewed a submission's XML" in text
    assert "Sensitive answers included: no" in text
    assert "False" not in text

"""The audit page in words: a sentence per action, readable details (no Python values,
yes/no for flags, nothing for empty values), and action codes that never break mid-word."""

from __future__ import annotations

import html
import re
from typing import Any

from server import db
from server.audit import service as audit
from tests.factories import Factory


def _rows(page: str) -> list[str]:
    """The text of each table row of the log, tags dropped."""
    rows = re.findall(r"<tr>(.*?)</tr>", page.split("<tbody>")[1], flags=re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", r)).split()) for r in rows]


def test_the_audit_page_shows_each_entry_in_words(app: Any, make: Factory, web_as: Any) -> None:
    admin = web_as("adm", "admin")
    make.user("cw", "caseworker", team="north")
    with app.app_context():
        session = db.session()
        audit.record(
            session,
            None,
            "user.update",
            target_type="user",
            target="cw",
            details={"team": "south", "team_before": None},
        )
        audit.record(
            session,
            None,
            "user.create",
            target_type="user",
            target="cw2",
            details={"role": "caseworker", "team": None},
        )
        audit.record(
            session,
            None,
            "submission.view",
            target_type="submission",
            target="uuid:1",
            details={"form_id": "case_plan", "include_sensitive": False},
        )
        audit.record(
            session,
            None,
            "case.reassign",
            target_type="case",
            target="CP-1",
            details={"username": "cw"},
        )
        audit.record(
            session,
            None,
            "form.publish",
            target_type="form",
            target="case_plan",
            details={"version": "3", "missing_media": [], "inherited_media": ["a.csv"]},
        )
        session.commit()
    page = admin.text("/audit")
    rows = _rows(page)
    text = " ".join(rows)
    for python in ("None", "False", "True", "[]", "{}", "team_before", "include_sensitive"):
        assert python not in text, python
    assert "Changed a user" in text
    assert "Team: south (was none)" in text
    assert "Created a user" in text
    assert "Role: caseworker" in text
    (created,) = [r for r in rows if "Created a user" in r and "cw2" in r]
    assert "Team" not in created  # no team: left out
    assert "Viewed a submission" in text
    assert "Sensitive answers included: no" in text
    assert "Gave a case to another caseworker" in text
    assert "Given to: cw" in text
    assert "Media files kept from the previous version: a.csv" in text
    assert "Media files missing" not in text  # empty: left out
    # the code is still there for a filter, in an element that never breaks mid-word
    assert '<code class="code-word">case.reassign</code>' in page
    href = re.search(r'<link rel="stylesheet" href="([^"]+)"', page)
    assert href is not None
    css = admin.text(href.group(1))
    rule = re.search(r"code\.code-word\s*\{([^}]*)\}", css)
    assert rule is not None
    assert "word-break: normal" in rule.group(1)
    assert "white-space: nowrap" in rule.group(1)


def test_the_audit_page_counts_every_entry_when_unfiltered(
    app: Any, make: Factory, web_as: Any
) -> None:
    admin = web_as("adm", "admin")
    with app.app_context():
        session = db.session()
        for n in range(7):
            audit.record(session, None, "form.publish", target_type="form", target=f"f{n}")
        session.commit()
    page = admin.get("/audit").get_data(as_text=True)
    shown = len(_rows(page))
    assert shown >= 7
    assert f"<span>{shown} in all</span>" in page


def test_the_audit_log_pages_by_cursor(app: Any, make: Factory, web_as: Any) -> None:
    """Past 100 entries, Next reads on from the last one shown (newest first), and
    Previous comes back to the same page."""
    admin = web_as("adm", "admin")
    with app.app_context():
        session = db.session()
        for n in range(130):
            audit.record(session, None, "form.publish", target_type="form", target=f"f{n:03}")
        session.commit()
    first = admin.get("/audit?action=form.publish").get_data(as_text=True)
    assert len(_rows(first)) == 100
    assert 'rel="prev"' not in first
    (after,) = re.findall(r'<a rel="next" href="([^"]+)"', first)
    assert "action=form.publish" in after
    second = admin.get(html.unescape(after)).get_data(as_text=True)
    assert len(_rows(second)) == 30
    assert not set(_rows(first)) & set(_rows(second))
    assert 'rel="next"' not in second
    (before,) = re.findall(r'<a rel="prev" href="([^"]+)"', second)
    assert _rows(admin.get(html.unescape(before)).get_data(as_text=True)) == _rows(first)

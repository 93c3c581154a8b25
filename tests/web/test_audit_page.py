"""The audit page in words: a sentence per action, readable details (no Python values,
yes/no for flags, nothing for empty values), and action codes that never break mid-word."""

from __future__ import annotations

import html
import re
from pathlib import Path
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


SERVER = Path(__file__).resolve().parents[2] / "server"


def _recorded_actions() -> set[str]:
    """Every action code the server writes to the log: the codes given to
    ``audit.record`` and ``audit_decision``, and ``case.<kind>`` of each decision kind."""
    from server.cases.transfers import KINDS as TRANSFER_KINDS

    source = "\n".join(p.read_text() for p in SERVER.rglob("*.py"))
    codes = set(re.findall(r'record\(\s*\w+,\s*[\w.]+,\s*"([a-z_]+\.[a-z_]+)"', source))
    codes |= set(re.findall(r'audit_decision\(\s*\w+,\s*\w+,\s*"([a-z_]+\.[a-z_]+)"', source))
    codes |= set(re.findall(r'"([a-z_]+\.[a-z_]+)" if \w+ else "([a-z_]+\.[a-z_]+)"', source)[0])
    kinds = set(re.findall(r'act\(session, case, "(\w+)"', source))
    kinds |= set(TRANSFER_KINDS) | {"approve", "return"}
    return codes | {f"case.{k}" for k in kinds}


def test_every_action_and_target_the_server_records_has_words() -> None:
    from server.web.audit_text import ACTIONS, TARGETS

    actions = _recorded_actions()
    assert len(actions) > 40
    assert {"submission.files_refused", "user.preferences", "case.approve"} <= actions
    assert sorted(actions - set(ACTIONS)) == []
    source = "\n".join(p.read_text() for p in SERVER.rglob("*.py"))
    targets = set(re.findall(r'target_type="(\w+)"', source))
    assert sorted(targets - set(TARGETS)) == []


def test_decisions_read_in_words(app: Any, make: Factory, web_as: Any) -> None:
    admin = web_as("adm", "admin")
    with app.app_context():
        session = db.session()
        audit.record(
            session,
            None,
            "case.approve",
            target_type="case",
            target="CP-9",
            details={"approval_kind": "closure", "requested_by": "cw", "comment": "Agreed"},
        )
        audit.record(
            session,
            None,
            "user.preferences",
            target_type="user",
            target="cw",
            details={"language": "fr", "time_zone": "Africa/Nairobi"},
        )
        audit.record(
            session,
            None,
            "user.create",
            target_type="user",
            target="cw3",
            details={"role": "supervisor"},
        )
        session.commit()
    rows = _rows(admin.text("/audit"))
    text = "\n".join(rows)
    assert "Approved a closure or case plan" in text
    assert "Sent for approval: Closure" in text
    assert "Sent by: cw" in text
    assert "Comment: Agreed" in text
    assert "Changed their language or time zone" in text
    assert "Time zone: Africa/Nairobi" in text
    assert "Role: supervisor" in text
    assert "Approval kind" not in text
    assert "Requested by" not in text


def test_sensitive_answers_read_are_named_by_their_questions(
    published: None, device: Any, web_as: Any
) -> None:
    from tests.realforms import definition, new_case_plan

    plan, _ = new_case_plan("CP-A-1")
    assert device.submit(plan).status_code == 201
    admin = web_as("adm", "admin")
    admin.text("/cases/CP-A-1")
    text = "\n".join(_rows(admin.text("/audit?action=case.view")))
    form = definition("case_plan")
    field = form.field("about/risk_summary")
    assert field is not None
    label = form.label(field.labels)
    assert f"{label} ({form.title})" in text
    assert "case_plan:about/risk_summary" not in text
    french = admin.client.get("/audit?action=case.view", headers={"Accept-Language": "fr"})
    fr_label = form.label(field.labels, form.language_named("fr"))
    assert fr_label != label
    assert fr_label in html.unescape(french.get_data(as_text=True))


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

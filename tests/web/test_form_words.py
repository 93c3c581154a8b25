"""Lists in the forms' words: the dashboard, the plan items and referrals pages and the case
list show plan item kinds, statuses and risk levels as the real forms label them (in the
user's language), never as their codes; the API and the case export without labels keep
the codes. The words come from a per-version cache: a page asks one query for them however
many rows it lists."""

from __future__ import annotations

import html
import re
from typing import Any

from sqlalchemy import event

from server import db
from server.cases.case_forms import read_form_words
from tests.factories import DeviceClient, Factory
from tests.realforms import new_case_plan


def _seed(device: DeviceClient) -> None:
    # due dates in 2026: overdue by now, so the dashboard lists the items too
    for n in range(3):
        plan, _ = new_case_plan(f"CP-W-{n}", risk="high" if n else "low")
        assert device.submit(plan).status_code == 201


def _cells(page: str, table_id: str) -> list[str]:
    body = page.split(f'id="{table_id}"', 1)[1].split("</table>", 1)[0]
    return [
        html.unescape(re.sub(r"<[^>]+>", "", c)).strip()
        for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
    ]


def test_plan_items_page_shows_kinds_and_statuses_as_the_forms_word_them(
    published: None, device: DeviceClient, web_as: Any
) -> None:
    _seed(device)
    sup = web_as("sup", "supervisor", team="north")
    cells = _cells(sup.text("/plan-items"), "item-list")
    assert "Protection need" in cells
    assert "Not started yet" in cells  # the need's status, "planned"
    assert "Service has started" not in cells
    assert "Referred, waiting for the service" in cells  # the service's "referred"
    assert "Action" in cells
    assert "In progress" in cells
    for code in ("need", "planned", "referred", "in_progress"):
        assert code not in cells
    # the kind filter offers the forms' words too
    page = sup.text("/plan-items")
    assert re.search(r'<option value="need" *>Protection need</option>', page)

    # statuses are picked from the forms' words, not typed as codes
    assert re.search(r'<option value="referred" *>Referred, waiting for the service</option>', page)
    picked = _cells(sup.text("/plan-items?status=planned"), "item-list")
    assert "Not started yet" in picked
    assert "Referred, waiting for the service" not in picked
    # the referrals page follows each referral's state (cases.referrals) in words
    referrals = _cells(sup.text("/referrals"), "item-list")
    assert "Referred" in referrals
    assert "referred" not in referrals

    french = sup.client.get("/plan-items", headers={"Accept-Language": "fr"})
    cells = _cells(french.get_data(as_text=True), "item-list")
    assert "Besoin de protection" in cells
    assert "Pas encore commencé" in cells


def test_dashboard_and_case_list_show_risk_and_kinds_in_the_forms_words(
    published: None, device: DeviceClient, web_as: Any
) -> None:
    _seed(device)
    sup = web_as("sup", "supervisor", team="north")
    dashboard = sup.text("/dashboard")
    items = _cells(dashboard, "overdue-items")
    assert "Protection need" in items
    assert "need" not in items
    contacts = _cells(dashboard, "due-contacts")
    assert "High" in contacts
    assert "high" not in contacts

    cases = _cells(sup.text("/cases"), "case-list")
    assert {"High", "Low"} <= set(cases)
    assert not {"high", "low"} & set(cases)
    assert re.search(r'<option value="high" *>High</option>', sup.text("/cases"))

    french = sup.client.get("/cases", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Élevé" in _cells(french, "case-list")

    case_page = sup.text("/cases/CP-W-1")
    assert "Weekly (every 7 days)" in case_page


def test_the_api_keeps_the_codes(
    published: None, device: DeviceClient, make: Factory, client: Any
) -> None:
    _seed(device)
    make.user("boss", "admin")
    headers = {"Authorization": f"Bearer {make.api_token('boss')}"}
    record = client.get("/api/v1/cases/CP-W-1", headers=headers).json
    assert record["risk_level"] == "high"
    assert {i["kind"] for i in record["plan_items"]} == {"need", "service", "action"}
    assert {i["status"] for i in record["plan_items"]} >= {"planned", "referred"}


def test_a_list_page_reads_the_words_with_one_query_however_many_rows(
    published: None, device: DeviceClient, web_as: Any, app: Any
) -> None:
    _seed(device)
    sup = web_as("sup", "supervisor", team="north")
    sup.text("/plan-items")  # the versions are read into memory once
    seen: list[str] = []

    def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    with app.app_context():
        eng = db.session().get_bind()
    event.listen(eng, "before_cursor_execute", count)
    try:
        sup.text("/plan-items")
    finally:
        event.remove(eng, "before_cursor_execute", count)
    assert sum("xform_version" in s for s in seen) == 1, seen
    assert not any("xform_version.xml" in s for s in seen)


def test_words_of_the_current_versions_in_each_language(published: None, app: Any) -> None:
    with app.app_context():
        english = read_form_words(db.session(), "en")
        french = read_form_words(db.session(), "fr")
    assert english.kind("need") == "Protection need"
    assert english.status("service", "referred") == "Referred, waiting for the service"
    assert english.status("need", "planned") == "Not started yet"
    assert english.risk("high") == "High"
    assert english.frequency(7) == "Weekly (every 7 days)"
    assert french.kind("need") == "Besoin de protection"
    assert french.risk("high") == "Élevé"
    assert english.kind("care_plan") is None  # the server's own kinds: the interface words it

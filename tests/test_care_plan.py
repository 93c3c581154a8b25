"""The care plan, end to end through the device protocol with the real forms: a plan that
says the child needs alternative care makes a care plan due by the date it gives; the item
goes overdue like any plan item; the care plan form, when it arrives, makes it done, shows
on the case and makes its own review due. Reading the submissions again changes nothing."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, date, datetime
from typing import Any

import pytest

from server import db, intake
from server.cases import routing
from tests.factories import DeviceClient, Factory
from tests.realforms import care_plan, new_case_plan, plan_revision, xlsform_bytes
from tests.web.conftest import Web


@pytest.fixture
def boss(make: Factory) -> dict[str, str]:
    make.user("boss", "admin")
    return {"Authorization": f"Bearer {make.api_token('boss')}"}


@pytest.fixture
def care_plan_published(published: None, make: Factory) -> None:
    make.publish_bytes(xlsform_bytes("care_plan"), "care_plan.xlsx")


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Any:
    """``clock(date)``: the server's today (the API's overdue marks and the pages) is then."""

    def set_today(day: date) -> None:
        moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
        for module in ("server.cases.schemas", "server.web.today"):
            monkeypatch.setattr(f"{module}.utcnow", lambda: moment)

    return set_today


def _record(client: Any, headers: dict[str, str], case_ref: str) -> dict[str, Any]:
    response = client.get(f"/api/v1/cases/{case_ref}", headers=headers)
    assert response.status_code == 200, response.json
    record: dict[str, Any] = response.json
    return record


def _items(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {i["kind"]: i for i in record["plan_items"]}


def _csv(device: DeviceClient, path: str) -> list[dict[str, str]]:
    response = device.get(path)
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def _version(device: DeviceClient, case_ref: str) -> int:
    rows = _csv(device, "/forms/care_plan/attachments/cases.csv")
    return int(next(r for r in rows if r["case_ref"] == case_ref)["__version"])


def _overdue_on_dashboard(page: str) -> set[tuple[str, str]]:
    """The dashboard's list of overdue plan items: (case, what) of each."""
    section = page[page.index('id="items-h"') :]
    rows = []
    for row in re.findall(r"<tr>(.*?)</tr>", section, re.S):
        cells = [
            " ".join(re.sub(r"<[^>]+>", " ", c).split())
            for c in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)
        ]
        if len(cells) == 7:  # case, caseworker, kind, what, owner, due, days overdue
            rows.append((cells[0], cells[3]))
    return set(rows)


def test_a_care_plan_is_due_goes_overdue_is_made_and_its_review_is_tracked(
    care_plan_published, make: Factory, device: DeviceClient, client, boss, clock
):
    make.user("sup", "supervisor", team="north")
    supervisor = Web(make.app.test_client())
    assert supervisor.login("sup").status_code == 302

    plan, entity = new_case_plan("CP-AC-1", plan_date="2026-11-20", care_plan_due="2026-11-30")
    assert device.submit(plan).status_code == 201

    # the care plan is due by the plan's date, tracked like any plan item
    clock(date(2026, 11, 25))
    due = _items(_record(client, boss, "CP-AC-1"))["care_plan"]
    assert (due["title"], due["due_date"], due["is_done"], due["is_overdue"]) == (
        "Care plan",
        "2026-11-30",
        False,
        False,
    )
    assert "care_plan_review" not in _items(_record(client, boss, "CP-AC-1"))
    # the phone's list of plan items carries it, so a plan revision can pick it
    listed = _csv(device, "/forms/case_plan/attachments/plan_items.csv")
    assert [(r["kind"], r["due"]) for r in listed if r["kind"] == "care_plan"] == [
        ("care_plan", "2026-11-30")
    ]
    page = supervisor.text("/cases/CP-AC-1")
    assert "No care plan recorded yet." in page
    assert ("CP-AC-1", "Care plan") not in _overdue_on_dashboard(supervisor.text("/dashboard"))

    # a week later it is overdue: on the case and the supervisor's dashboard
    clock(date(2026, 12, 2))
    assert _items(_record(client, boss, "CP-AC-1"))["care_plan"]["is_overdue"] is True
    assert ("CP-AC-1", "Care plan") in _overdue_on_dashboard(supervisor.text("/dashboard"))

    # the care plan arrives: the item is done, the care plan shows on the case
    made = care_plan(
        "CP-AC-1",
        entity,
        base_version=_version(device, "CP-AC-1"),
        care_plan_date="2026-12-02",
        arrangement="kinship",
        carer="grandparent",
        placement_date="2026-11-28",
        goal="reunification",
        review="2027-02-20",
    )
    assert device.submit(made).status_code == 201
    record = _record(client, boss, "CP-AC-1")
    items = _items(record)
    assert (items["care_plan"]["status"], items["care_plan"]["is_done"]) == ("done", True)
    assert items["care_plan"]["is_overdue"] is False
    review = items["care_plan_review"]
    assert (review["title"], review["due_date"], review["is_done"]) == (
        "Care plan review",
        "2027-02-20",
        False,
    )
    properties = record["properties"]
    assert properties["care_arrangement"] == "kinship"
    assert properties["care_carer"] == "grandparent"
    assert properties["care_placement_date"] == "2026-11-28"
    assert properties["care_goal"] == "reunification"
    assert properties["care_plan_review_date"] == "2027-02-20"
    # a care plan is not a review of the case plan, nor a contact
    assert record["review_due"] == "2027-02-18"
    assert record["last_contact_at"] is None
    # nothing of it in the phone's case list
    (row,) = _csv(device, "/forms/care_plan/attachments/cases.csv")
    assert not [k for k in row if k.startswith("care_")]

    page = supervisor.text("/cases/CP-AC-1")
    care = page[page.index('id="case-care-plan"') :]
    care = care[: care.index("</dl>")]
    for words in (
        "Kinship care (with relatives)",
        "Grandparent",
        "Reunification with the family",
        "Placement date",
        "Next review of this care plan",
    ):
        assert words in care, words
    assert "No care plan recorded yet." not in page
    overdue = _overdue_on_dashboard(supervisor.text("/dashboard"))
    assert ("CP-AC-1", "Care plan") not in overdue
    assert ("CP-AC-1", "Care plan review") not in overdue
    # the filled care plan is in the history, in the form's words
    assert "What did the child say about this arrangement?" in page
    # in French: the page's words and the form's
    french = supervisor.get("/cases/CP-AC-1", headers={"Accept-Language": "fr"})
    french_page = french.get_data(as_text=True)
    care = french_page[french_page.index('id="care-h"') :]
    care = care[: care.index("</dl>")]
    assert "Plan de soins" in care
    assert "Prise en charge par la famille élargie" in care
    assert "Réunification familiale" in care

    # the review is tracked: overdue once its date has passed
    clock(date(2027, 2, 21))
    assert _items(_record(client, boss, "CP-AC-1"))["care_plan_review"]["is_overdue"] is True
    overdue = _overdue_on_dashboard(supervisor.text("/dashboard"))
    assert ("CP-AC-1", "Care plan review") in overdue
    assert ("CP-AC-1", "Care plan") not in overdue

    # reading every submission again gives the same case
    before = _record(client, boss, "CP-AC-1")
    with make.app.app_context():
        session = db.session()
        results = intake.reapply(session, routing.submissions_to_reapply(session))
        session.commit()
    assert [r.state for r in results] == ["applied"] * 2
    after = _record(client, boss, "CP-AC-1")
    for name in ("plan_items", "properties", "review_due", "version"):
        assert after[name] == before[name], name


def test_a_plan_revision_that_repeats_the_date_does_not_reopen_a_care_plan_made(
    care_plan_published, make: Factory, device: DeviceClient, client, boss
):
    plan, entity = new_case_plan("CP-AC-2", plan_date="2026-11-20", care_plan_due="2026-11-30")
    assert device.submit(plan).status_code == 201
    made = care_plan("CP-AC-2", entity, base_version=_version(device, "CP-AC-2"))
    assert device.submit(made).status_code == 201
    revision = plan_revision(
        "CP-AC-2",
        entity,
        base_version=_version(device, "CP-AC-2"),
        plan_date="2026-12-03",
        care_plan_due="2026-11-30",
    )
    assert device.submit(revision).status_code == 201
    items = _items(_record(client, boss, "CP-AC-2"))
    assert (items["care_plan"]["status"], items["care_plan"]["is_done"]) == ("done", True)
    assert items["care_plan_review"]["is_done"] is False


def test_a_care_plan_sent_before_the_plan_arrived_still_closes_the_item(
    care_plan_published, make: Factory, device: DeviceClient, client, boss
):
    """Offline phones send in any order: the care plan, made after the plan, counts after
    it whatever the order of arrival (event times)."""
    plan, entity = new_case_plan("CP-AC-3", plan_date="2026-11-20", care_plan_due="2026-11-30")
    assert device.submit(plan).status_code == 201
    version = _version(device, "CP-AC-3")
    second = care_plan(
        "CP-AC-3", entity, base_version=version, care_plan_date="2026-12-01", review="2027-02-25"
    )
    first = care_plan(
        "CP-AC-3",
        entity,
        base_version=version,
        care_plan_date="2026-11-29",
        review="2027-01-15",
    )
    assert device.submit(second).status_code == 201
    assert device.submit(first).status_code == 201
    record = _record(client, boss, "CP-AC-3")
    items = _items(record)
    assert items["care_plan"]["is_done"] is True
    # the later care plan is the one in force, and its review date the one due
    assert items["care_plan_review"]["due_date"] == "2027-02-25"
    assert record["properties"]["care_plan_review_date"] == "2027-02-25"
    # two care plans made offline at once are two events, not a conflict to resolve
    assert record["conflicts"] == []

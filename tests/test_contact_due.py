"""The plan's contact frequency keeps driving follow-ups after the first contact: the next
contact is due on the earlier of the date the caseworker set and the last contact plus
the plan's frequency, and a plan revision moves it. Through the device protocol with the
real forms, read back over the API."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import date, timedelta

from flask.testing import FlaskClient

from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import contact_log, new_case_plan, plan_revision, xform


def _cases(device: DeviceClient) -> list[dict[str, str]]:
    response = device.get("/forms/contact_log/attachments/cases.csv")
    assert response.status_code == 200
    return list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))


def test_a_later_date_set_at_a_contact_does_not_outrun_the_plans_frequency(
    published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    today = date.today()
    contacted = today - timedelta(days=1)
    far = contacted + timedelta(weeks=12)  # the form allows up to 92 days
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))

    plan, entity_id = new_case_plan(
        "CP-F-1", risk="high", frequency="7", plan_date=(today - timedelta(days=3)).isoformat()
    )
    assert device.submit(plan).status_code == 201
    # the phone's case list carries the frequency, for the contact log to suggest a date
    assert _cases(device)[0]["contact_frequency_days"] == "7"

    contact = contact_log(
        "CP-F-1", entity_id, base_version=1, risk="high",
        contact_time=f"{contacted.isoformat()}T10:00:00.000Z", next_contact=far.isoformat(),
    )  # fmt: skip
    assert device.submit(contact).status_code == 201
    record = client.get("/api/v1/cases/CP-F-1", headers=sup).json
    assert record["next_contact_due"] == (contacted + timedelta(days=7)).isoformat()
    assert record["properties"]["next_contact_date"] == far.isoformat()  # what was set stays

    revision = plan_revision(
        "CP-F-1", entity_id, base_version=record["version"], risk="high", frequency="3",
        plan_date=today.isoformat(), review=(today + timedelta(days=60)).isoformat(),
    )  # fmt: skip
    assert device.submit(revision).status_code == 201
    record = client.get("/api/v1/cases/CP-F-1", headers=sup).json
    assert record["contact_frequency_days"] == 3
    assert record["next_contact_due"] == (contacted + timedelta(days=3)).isoformat()
    due = client.get("/api/v1/followups?horizon_days=7", headers=sup).json
    assert [(c["case_ref"], c["next_contact_due"]) for c in due["items"]] == [
        ("CP-F-1", (contacted + timedelta(days=3)).isoformat())
    ]
    assert _cases(device)[0]["contact_frequency_days"] == "3"
    assert _cases(device)[0]["next_contact_due"] == (contacted + timedelta(days=3)).isoformat()


def test_an_earlier_date_set_at_a_contact_stands(
    published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    today = date.today()
    contacted = today - timedelta(days=1)
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    plan, entity_id = new_case_plan(
        "CP-F-2", risk="medium", frequency="14", plan_date=(today - timedelta(days=3)).isoformat()
    )
    assert device.submit(plan).status_code == 201
    contact = contact_log(
        "CP-F-2", entity_id, base_version=1, risk="medium",
        contact_time=f"{contacted.isoformat()}T10:00:00.000Z",
        next_contact=(contacted + timedelta(days=4)).isoformat(),
    )  # fmt: skip
    assert device.submit(contact).status_code == 201
    record = client.get("/api/v1/cases/CP-F-2", headers=sup).json
    assert record["next_contact_due"] == (contacted + timedelta(days=4)).isoformat()


def test_the_contact_log_suggests_the_next_contact_from_the_plans_frequency() -> None:
    form = xform("contact_log")
    freq = "instance('cases')/root/item[name= /data/case ]/contact_frequency_days"
    # picking the case (or changing the contact's time) fills in contact date + frequency
    suggestion = (
        f"if({freq} != '', date(date(format-date( /data/contact_time , '%Y-%m-%d')) + {freq}), '')"
    )
    setvalues = re.findall(
        r'<setvalue ref="/data/next/next_contact_date" event="xforms-value-changed" '
        r'value="([^"]*)"/>',
        form,
    )
    assert [html.unescape(v) for v in setvalues] == [suggestion, suggestion]
    # a later date is allowed, with a note saying when the case will be due
    note = re.search(r'<bind nodeset="/data/next/next_contact_later_note"[^>]*>', form)
    assert note is not None
    assert "/data/next/next_contact_date  &gt; date( /data/next/suggested_next_contact )" in (
        note.group(0)
    )

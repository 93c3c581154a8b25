"""A contact refers to health services from the directory or to a provider named in free
text, as many as needed; with no health service in the directory a contact can still
refer. The real contact log, through the device protocol and the mapping."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask.testing import FlaskClient

from server.cases.mapping import map_submission
from server.services.service import create_service
from server.submissions.parse import parse_envelope
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import contact_log, definition, new_case_plan, xform

MOBILE = ("", "Health referral", "Mobile clinic team, Market square", "2026-11-26")
HOSPITAL = ("", "Health referral", "District hospital, paediatric ward", "2026-11-28")


def test_the_referral_question_takes_free_text_and_repeats() -> None:
    form = xform("contact_log")
    repeat = re.search(r'<repeat nodeset="/data/health/health_referral"[^>]*>', form)
    assert repeat is not None
    assert "jr:count" not in repeat.group(0)
    service = re.search(r'<bind nodeset="/data/health/health_referral/health_service"[^>]*>', form)
    assert service is not None
    assert "required" not in service.group(0)
    provider = re.search(
        r'<bind nodeset="/data/health/health_referral/health_provider"[^>]*>', form
    )
    assert provider is not None
    assert "required=\" ../health_service  = ''\"" in provider.group(0)


def test_two_referrals_in_one_contact_map_to_two_items() -> None:
    xml = contact_log(
        "CP-R-1", "6fdfa3b6-64fb-46cf-b98c-c92b57f914b1", base_version=1,
        contact_time="2026-11-24T10:00:00.000Z", health_referrals=[MOBILE, HOSPITAL],
    )  # fmt: skip
    update = map_submission(
        definition("contact_log"),
        parse_envelope(xml),
        submitter="cw1",
        received_at=datetime(2026, 11, 24, 12, tzinfo=UTC),
    )
    assert update is not None
    services = [i for i in update.items if i.kind == "service"]
    assert len({i.item_id for i in services}) == 2
    assert sorted((i.owner, i.title, str(i.due)) for i in services) == [
        ("District hospital, paediatric ward", "Health referral", "2026-11-28"),
        ("Mobile clinic team, Market square", "Health referral", "2026-11-26"),
    ]


def test_a_contact_refers_with_no_health_service_in_the_directory(
    published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    def directory(session):  # type: ignore[no-untyped-def]
        create_service(session, {"service_id": "legal-1", "name": "Legal desk", "category": "legal_aid"})  # fmt: skip

    make._run(directory)
    assert "health" not in device.get("/forms/contact_log/attachments/services.csv").data.decode()
    plan, entity_id = new_case_plan("CP-R-1")
    assert device.submit(plan).status_code == 201
    contact = contact_log(
        "CP-R-1", entity_id, base_version=1, contact_time="2026-11-24T10:00:00.000Z",
        next_contact="2026-11-28", health_referrals=[MOBILE, HOSPITAL],
    )  # fmt: skip
    assert device.submit(contact).status_code == 201
    make.user("sup", "supervisor", team="north")
    record = client.get("/api/v1/cases/CP-R-1", headers=bearer(make.api_token("sup"))).json
    referrals = sorted(
        (i["owner"], i["status"], i["due_date"])
        for i in record["plan_items"]
        if i["kind"] == "service" and i["title"] == "Health referral"
    )
    assert referrals == [
        ("District hospital, paediatric ward", "referred", "2026-11-28"),
        ("Mobile clinic team, Market square", "referred", "2026-11-26"),
    ]

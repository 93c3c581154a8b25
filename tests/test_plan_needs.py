"""A registering case plan names at least one specific protection need of the child."""

from __future__ import annotations

import html
import re

from flask.testing import FlaskClient

from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import new_case_plan, plan_revision, xform


def test_a_new_plan_cannot_be_finalized_without_a_protection_need() -> None:
    form = xform("case_plan")
    count = re.search(r'<bind nodeset="/data/needs_group/need_count"[^>]*>', form)
    assert count is not None
    assert "count( /data/needs_group/needs [need_category != ''])" in html.unescape(count.group(0))
    check = re.search(r'<bind nodeset="/data/needs_group/needs_missing"[^>]*>', form)
    assert check is not None
    bind = html.unescape(check.group(0))
    assert 'required="true()"' in bind
    assert 'constraint=" /data/needs_group/need_count  > 0"' in bind
    assert (
        "relevant=\" /data/about/plan_type  = 'new' and  /data/needs_group/need_count  = 0\""
        in (bind)
    )
    assert re.search(r'<trigger ref="/data/needs_group/needs_missing"', form)


def test_a_plan_sent_without_a_need_is_kept_and_the_case_says_what_it_lacks(
    published: None, make: Factory, device: DeviceClient, client: FlaskClient
) -> None:
    plan, entity_id = new_case_plan("CP-N-1", with_need=False)
    assert device.submit(plan).status_code == 201  # a fact: stored, never bounced
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    record = client.get("/api/v1/cases/CP-N-1", headers=sup).json
    assert record["status"] == "open"
    assert record["warnings"] == ["no_protection_need"]
    assert "need" not in {i["kind"] for i in record["plan_items"]}

    revision = plan_revision(
        "CP-N-1", entity_id, base_version=record["version"], risk="high", frequency="7",
        needs=[{
            "need_category": "neglect", "need_key": "neglect", "need_title": "Neglect",
            "how_addressed": "Home visits", "need_owner": "caseworker",
            "need_due": "2026-12-20", "need_status": "planned",
        }],
    )  # fmt: skip
    assert device.submit(revision).status_code == 201
    assert client.get("/api/v1/cases/CP-N-1", headers=sup).json["warnings"] == []

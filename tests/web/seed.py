"""Cases made the way they are made in the field: forms published, plans sent by phones."""

from __future__ import annotations

import uuid
from typing import Any

from tests.cases import forms
from tests.factories import DeviceClient, Factory


def publish_case_forms(make: Factory) -> None:
    make.publish_md(forms.CASE_PLAN)
    make.publish_md(forms.CONTACT_LOG)


def registration(ref: str, entity: str, day: str = "2024-05-01", **fields: object) -> bytes:
    values: dict[str, object] = {"ref": ref, "risk": "medium", "freq": "7", "plan_date": day}
    values.update(fields)
    return forms.envelope_xml(
        "case_plan",
        f"uuid:{uuid.uuid4()}",
        values,
        entity_id=entity,
        create=True,
        repeats={
            "needs": [
                {
                    "need_key": "school",
                    "need_title": "School place",
                    "need_owner": "Education",
                    "need_due": "2024-06-01",
                    "need_status": "open",
                }
            ]
        },
    )


def contact(ref: str, entity: str, when: str, base: int = 1, **fields: object) -> bytes:
    values: dict[str, object] = {"case": entity, "ref": ref, "mode": "visit", "end": when}
    values.update(fields)
    return forms.envelope_xml(
        "contact_log", f"uuid:{uuid.uuid4()}", values, entity_id=entity, base_version=base
    )


def submit(phone: DeviceClient, xml: bytes) -> Any:
    response = phone.submit(xml)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response


def new_entity() -> str:
    return str(uuid.uuid4())

"""map_submission: what a submission says about its case. Pure; real pyxform forms."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from server.cases.mapping import CaseUpdate, item_id_for, map_submission, rebase_update
from tests.cases import forms
from tests.cases.forms import at, envelope

RECEIVED = at("2024-06-30 12:00")
ENTITY = "2b1f0a4e-9c1d-4e8b-8f5a-3c2d1e0f9a8b"


def plan(instance_id: str = "uuid:p1", **fields: object) -> CaseUpdate:
    values: dict[str, object] = {"ref": "CP-001", "risk": "high", "freq": "7"}
    values.update(fields)
    update = map_submission(
        forms.plan_def(),
        envelope(
            "case_plan",
            instance_id,
            values,
            entity_id=ENTITY,
            create=True,
            repeats={
                "needs": [
                    {
                        "need_key": "school",
                        "need_title": "Return to school",
                        "need_due": "2024-07-01",
                    },
                    {
                        "need_title": "  Medical   Check ",
                        "need_status": "Delivered",
                        "how": "clinic",
                    },
                    {"need_key": "", "need_title": ""},
                ],
                "services": [{"svc_id": "item-42", "svc_title": "Cash"}],
            },
        ),
        submitter="amina",
        received_at=RECEIVED,
    )
    assert update is not None
    return update


def test_form_without_ref_role_is_not_case_work() -> None:
    definition = forms.definition(forms.NO_CASE)
    env = envelope("feedback", "uuid:x", {"note": "hi"})
    assert map_submission(definition, env, submitter=None, received_at=RECEIVED) is None


def test_registration_reads_ref_properties_and_entity() -> None:
    u = plan()
    assert (u.case_ref, u.entity_id, u.is_registration, u.base_version) == (
        "CP-001",
        ENTITY,
        True,
        None,
    )
    assert u.properties == {"case_ref": "CP-001", "risk_level": "high", "contact_frequency_days": 7}
    assert (u.submitter, u.is_review, u.is_contact, u.close) == ("amina", True, False, False)


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"plan_date": "2024-05-02"}, datetime(2024, 5, 2, tzinfo=UTC)),
        ({"end": "2024-05-03T10:00:00.000+02:00"}, datetime(2024, 5, 3, 8, tzinfo=UTC)),
        ({"start": "2024-05-04T09:00:00.000Z"}, datetime(2024, 5, 4, 9, tzinfo=UTC)),
        (
            {"start": "2024-05-04T09:00:00Z", "end": "2024-05-04T09:30:00Z"},
            datetime(2024, 5, 4, 9, 30, tzinfo=UTC),
        ),
        ({"plan_date": "not a date"}, RECEIVED),
        ({}, RECEIVED),
    ],
)
def test_event_time_falls_back_from_role_to_end_start_and_receipt(
    fields: dict[str, object], expected: datetime
) -> None:
    assert plan(**fields).event_at == expected


def test_plan_items_get_deterministic_ids_from_key_or_title() -> None:
    items = {i.item_id: i for i in plan().items}
    school = items[item_id_for("CP-001", "need", "school")]
    assert (school.title, school.due, school.status) == ("Return to school", date(2024, 7, 1), None)
    medical = items[item_id_for("CP-001", "need", "medical check")]
    assert (medical.status, medical.properties) == ("delivered", {"how": "clinic"})
    assert items["item-42"].kind == "service"
    assert items["item-42"].is_explicit_id
    assert len(items) == 3  # the blank repeat instance names nothing


def test_blank_answers_are_not_said() -> None:
    u = plan(risk="", freq="")
    assert "risk_level" not in u.properties
    assert "contact_frequency_days" not in u.properties


@pytest.mark.parametrize(
    ("freq", "expected"), [("14", 14), ("0", None), ("-3", None), ("many", None)]
)
def test_contact_frequency_must_be_a_positive_number(freq: str, expected: int | None) -> None:
    assert plan(freq=freq).properties.get("contact_frequency_days") == expected


def test_contact_is_an_update_with_base_version_next_contact_and_close() -> None:
    env = envelope(
        "contact_log",
        "uuid:c1",
        {
            "case": ENTITY,
            "ref": "CP-001",
            "mode": "phone",
            "next_visit": "2024-07-10",
            "close": "yes",
            "end": "2024-06-01T10:00:00Z",
        },
        entity_id=ENTITY,
        base_version=3,
    )
    u = map_submission(forms.contact_def(), env, submitter="amina", received_at=RECEIVED)
    assert u is not None
    assert (u.is_registration, u.base_version, u.is_contact, u.is_review, u.close) == (
        False,
        3,
        True,
        False,
        True,
    )
    assert u.properties == {"last_contact_mode": "phone", "next_contact": "2024-07-10"}


def test_conference_is_a_review_with_decisions() -> None:
    env = envelope(
        "case_conference",
        "uuid:k1",
        {"case": ENTITY, "ref": "CP-001", "held_on": "2024-06-02", "platform": "phone"},
        entity_id=ENTITY,
        base_version=2,
        repeats={"decisions": [{"decision_key": "d1", "decision": "Refer", "responsible": "ngo"}]},
    )
    u = map_submission(forms.conference_def(), env, submitter="sam", received_at=RECEIVED)
    assert u is not None
    assert u.is_review
    assert not u.is_contact
    assert [(i.kind, i.owner) for i in u.items] == [("decision", "ngo")]


def test_json_round_trip_is_lossless() -> None:
    u = plan(plan_date="2024-05-02")
    assert CaseUpdate.from_json(u.to_json()) == u


def test_rebase_recomputes_derived_item_ids_only() -> None:
    moved = rebase_update(plan(), "CP-009")
    ids = {i.item_id for i in moved.items}
    assert item_id_for("CP-009", "need", "school") in ids
    assert "item-42" in ids
    assert moved.case_ref == "CP-009"

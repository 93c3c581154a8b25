"""map_submission: what a submission says about its case. Pure; real pyxform forms."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.cases.mapping import (
    MAX_CODE_LENGTH,
    MAX_CONTACT_FREQUENCY_DAYS,
    MAX_ID_LENGTH,
    MAX_REF_LENGTH,
    MAX_VERSION,
    CaseUpdate,
    canonical_ref,
    is_valid_ref,
    item_id_for,
    map_submission,
    rebase_update,
)
from server.cases.merge import build_case
from tests.cases import forms
from tests.cases.forms import at, envelope

RECEIVED = at("2024-06-30 12:00")
ENTITY = "2b1f0a4e-9c1d-4e8b-8f5a-3c2d1e0f9a8b"


PLAN_REPEATS: dict[str, list[dict[str, object]]] = {
    "needs": [
        {"need_key": "school", "need_title": "Return to school", "need_due": "2024-07-01"},
        {"need_title": "  Medical   Check ", "need_status": "Delivered", "how": "clinic"},
        {"need_key": "", "need_title": ""},
    ],
    "services": [{"svc_id": "item-42", "svc_title": "Cash"}],
}


def plan(
    instance_id: str = "uuid:p1",
    repeats: dict[str, list[dict[str, object]]] | None = None,
    **fields: object,
) -> CaseUpdate:
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
            repeats={**PLAN_REPEATS, **(repeats or {})},
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
    ("typed", "filed"),
    [
        ("cp-001", "CP-001"),
        ("  Cp-001 ", "CP-001"),
        ("cp  2024 / 7", "CP 2024 / 7"),
        ("x" * (MAX_REF_LENGTH + 1), ""),  # longer than any reference number: none
    ],
)
def test_reference_numbers_are_filed_in_one_canonical_form(typed: str, filed: str) -> None:
    u = plan(ref=typed)
    assert canonical_ref(typed) == filed
    assert u.case_ref == filed
    assert u.properties.get("case_ref") == (filed or None)
    assert {i.item_id for i in u.items} >= {item_id_for(filed, "need", "school")}


@pytest.mark.parametrize(
    ("typed", "valid"),
    [
        ("CP-001", True),
        ("cp/2024/7", True),
        ("123", True),
        ("A" * 39 + "1", True),  # 40 characters
        ("A" * 40 + "1", False),  # 41
        ("C1", False),  # too short
        ("CP-ABC", False),  # no digit
        ("-CP-1", False),  # starts with neither letter nor digit
        ("/CP-1", False),
        ("CP 1", False),  # a space
        ("CP_1", False),
        ("CP-١٢", False),  # digits, but not ASCII ones
        ("ÉCOLE-1", False),  # letters, but not ASCII ones
        ("", False),
    ],
)
def test_a_typed_reference_number_follows_the_case_plan_forms_constraint(
    typed: str, valid: bool
) -> None:
    assert is_valid_ref(canonical_ref(typed)) is valid


EAST = timezone(timedelta(hours=3))


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # a date filled in on that day takes the time the form was finished ...
        (
            {"plan_date": "2024-05-02", "end": "2024-05-02T15:30:00.000+03:00"},
            datetime(2024, 5, 2, 15, 30, tzinfo=EAST),
        ),
        # ... on the phone's calendar, not UTC's
        (
            {"plan_date": "2024-05-03", "end": "2024-05-03T01:00:00.000+03:00"},
            datetime(2024, 5, 3, 1, tzinfo=EAST),
        ),
        # ... or started, when it was finished after midnight
        (
            {
                "plan_date": "2024-05-02",
                "start": "2024-05-02T23:50:00.000+03:00",
                "end": "2024-05-03T00:20:00.000+03:00",
            },
            datetime(2024, 5, 2, 23, 50, tzinfo=EAST),
        ),
        # filled in on another day: the end of the day it gives, in the phone's offset
        (
            {"plan_date": "2024-05-01", "end": "2024-05-03T10:00:00.000+03:00"},
            datetime(2024, 5, 1, 23, 59, 59, tzinfo=EAST),
        ),
        ({"plan_date": "2024-05-02"}, datetime(2024, 5, 2, 23, 59, 59, tzinfo=UTC)),
        # an answer with its own time of day is taken as it is
        (
            {"plan_date": "2024-05-02T08:00:00+03:00", "end": "2024-05-02T15:00:00+03:00"},
            datetime(2024, 5, 2, 5, tzinfo=UTC),
        ),
        # no usable answer: end, then start, then receipt
        ({"end": "2024-05-03T10:00:00.000+02:00"}, datetime(2024, 5, 3, 8, tzinfo=UTC)),
        ({"start": "2024-05-04T09:00:00.000Z"}, datetime(2024, 5, 4, 9, tzinfo=UTC)),
        (
            {"start": "2024-05-04T09:00:00Z", "end": "2024-05-04T09:30:00Z"},
            datetime(2024, 5, 4, 9, 30, tzinfo=UTC),
        ),
        (
            {"plan_date": "not a date", "end": "2024-05-03T10:00:00Z"},
            datetime(2024, 5, 3, 10, tzinfo=UTC),
        ),
        ({"plan_date": "2024-05-02 and more"}, RECEIVED),
        ({"plan_date": "not a date"}, RECEIVED),
        ({}, RECEIVED),
        # the edges of the calendar: not a time at all
        ({"plan_date": "0001-01-01", "end": "0001-01-01T00:30:00+05:00"}, RECEIVED),
        ({"end": "9999-12-31T23:00:00-05:00"}, RECEIVED),
    ],
)
def test_event_time_falls_back_from_role_to_end_start_and_receipt(
    fields: dict[str, object], expected: datetime
) -> None:
    assert plan(**fields).event_at == expected


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        # RECEIVED is 2024-06-30 12:00 UTC; the tolerance 24 hours
        ({"plan_date": "2024-07-01T11:59:00Z"}, at("2024-07-01 11:59")),
        ({"plan_date": "2024-07-01T12:00:00Z"}, at("2024-07-01 12:00")),  # at the bound
        ({"plan_date": "2024-07-01T12:00:01Z"}, RECEIVED),
        ({"plan_date": "2024-07-01T15:00:01+03:00"}, RECEIVED),  # 12:00:01 UTC
        ({"plan_date": "2031-01-01T09:00:00Z"}, RECEIVED),
        ({"end": "2031-01-01T09:00:00Z"}, RECEIVED),  # the form's own timestamps too
        ({"start": "2031-01-01T09:00:00Z"}, RECEIVED),
        ({"plan_date": "2031-01-01"}, RECEIVED),  # a date alone, at the end of that day
        ({"plan_date": "2024-07-01"}, RECEIVED),  # 2024-07-01 23:59:59
        ({"plan_date": "2024-06-30"}, at("2024-06-30 23:59:59")),  # the day it arrived
    ],
)
def test_an_event_time_far_past_the_receipt_is_the_receipt(
    fields: dict[str, object], expected: datetime
) -> None:
    """A phone whose clock runs ahead would win every later merge; its times are not
    believed beyond the tolerance, and mapping again gives the same time."""
    update = plan(**fields)
    assert update.event_at == expected
    assert CaseUpdate.from_json(update.to_json()).event_at == expected


def test_the_future_tolerance_is_a_setting() -> None:
    def event_at(tolerance: timedelta) -> datetime:
        env = envelope(
            "case_plan",
            "uuid:p1",
            {"ref": "CP-001", "plan_date": "2024-07-01T13:00:00Z"},
            entity_id=ENTITY,
            create=True,
        )
        u = map_submission(
            forms.plan_def(),
            env,
            submitter="amina",
            received_at=RECEIVED,
            future_tolerance=tolerance,
        )
        assert u is not None
        return u.event_at

    assert event_at(timedelta(hours=24)) == RECEIVED
    assert event_at(timedelta(hours=48)) == at("2024-07-01 13:00")
    assert event_at(timedelta(0)) == RECEIVED
    # a received time naive in storage (SQLite) is UTC
    naive = RECEIVED.replace(tzinfo=None)
    env = envelope("case_plan", "uuid:p2", {"ref": "CP-1", "plan_date": "2031-01-01T00:00:00Z"})
    u = map_submission(forms.plan_def(), env, submitter=None, received_at=naive)
    assert u is not None
    assert u.event_at == RECEIVED


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
    ("freq", "expected"),
    [
        ("14", 14),
        (" 7 ", 7),
        ("14.0", 14),
        ("366", 366),
        ("367", None),
        ("0", None),
        ("-3", None),
        ("many", None),
        ("14.5", None),
        ("1e400", None),
        ("1e3", None),
        ("inf", None),
        ("nan", None),
        ("9" * 5000, None),
    ],
)
def test_contact_frequency_must_be_a_whole_number_of_days(freq: str, expected: int | None) -> None:
    assert plan(freq=freq).properties.get("contact_frequency_days") == expected


def test_a_role_answer_is_stored_once_under_the_roles_field() -> None:
    u = plan(review="2024-09-01", risk="HIGH")
    assert u.properties["review_date"] == "2024-09-01"
    assert "review_due" not in u.properties
    assert u.properties["risk_level"] == "high"
    assert u.event_fields == ("review_date",)
    unreadable = plan(review="next month")
    assert "review_date" not in unreadable.properties  # not said, not stored raw


def test_ids_versions_and_codes_too_long_for_the_database_are_not_said() -> None:
    env = envelope(
        "case_plan",
        "uuid:p9",
        {"ref": "CP-001"},
        entity_id="e" * (MAX_ID_LENGTH + 1),
        base_version=MAX_VERSION + 1,
        repeats={
            "needs": [{"need_key": "school", "need_status": "s" * (MAX_CODE_LENGTH + 1)}],
            "services": [{"svc_id": "i" * (MAX_ID_LENGTH + 1), "svc_status": "open"}],
        },
    )
    u = map_submission(forms.plan_def(), env, submitter=None, received_at=RECEIVED)
    assert u is not None
    assert (u.entity_id, u.base_version) == (None, None)
    (need,) = u.items  # the service named only by an impossible id names nothing
    assert (need.key, need.status) == ("school", None)


def test_existing_items_are_named_by_id_and_keep_their_kind() -> None:
    u = plan(
        repeats={
            "existing": [
                {"ex_id": "item-7", "ex_status": "Done", "ex_note": "finished"},
                {"ex_status": "done"},  # no item picked: names nothing
            ]
        }
    )
    (existing,) = [i for i in u.items if i.item_id == "item-7"]
    assert (existing.kind, existing.is_explicit_id, existing.status) == ("", True, "done")
    assert existing.properties == {"ex_note": "finished"}
    assert len(u.items) == 4


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
    assert u.properties == {"last_contact_mode": "phone", "next_contact_date": "2024-07-10"}
    assert u.event_fields == ("last_contact_mode", "next_contact_date")


@pytest.mark.parametrize(
    ("referral", "identity"),
    [
        ({"ref_key": "health", "ref_title": "Clinic"}, "contact:health"),
        ({"ref_title": "  Mobile   Clinic "}, "contact:mobile clinic"),
    ],
)
def test_items_a_contact_makes_never_take_a_plans_item(
    referral: dict[str, object], identity: str
) -> None:
    env = envelope(
        "contact_log",
        "uuid:c2",
        {"case": ENTITY, "ref": "CP-001", "end": "2024-06-01T10:00:00Z"},
        entity_id=ENTITY,
        base_version=3,
        repeats={"referral": [referral]},
    )
    u = map_submission(forms.contact_def(), env, submitter="amina", received_at=RECEIVED)
    assert u is not None
    (item,) = u.items
    assert (item.kind, item.key) == ("service", identity)
    assert item.item_id == item_id_for("CP-001", "service", identity)
    assert item.item_id not in {
        item_id_for("CP-001", "service", "health"),
        item_id_for("CP-001", "service", "mobile clinic"),
    }
    (moved,) = rebase_update(u, "CP-009").items
    assert moved.item_id == item_id_for("CP-009", "service", identity)


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


# --- any answer at all -------------------------------------------------------------------------

# What an XML document can carry: no control characters, surrogates or non-characters.
_XML_TEXT = st.text(
    st.characters(exclude_categories=("Cc", "Cs", "Cn")) | st.sampled_from("\t\n "),
    max_size=40,
)
ODD = st.one_of(
    _XML_TEXT,
    st.sampled_from(
        [
            "1e400",
            "-1e400",
            "nan",
            "inf",
            "0",
            "-1",
            "7",
            "14.0",
            "99999999999999999999",
            "2024-02-30",
            "2024-05-02",
            "0001-01-01",
            "9999-12-31",
            "2024-05-02T10:00:00Z",
            "9999-12-31T23:59:59-14:00",
            "0001-01-01T00:00:00+14:00",
            "x" * 300,
            "yes",
        ]
    ),
)
_PLAN_FIELDS = ("ref", "caseworker", "plan_date", "risk", "freq", "review", "summary")
_CONTACT_FIELDS = ("ref", "mode", "risk", "next_visit", "close", "start", "end")


def _check_bounds(u: CaseUpdate) -> None:
    assert len(u.case_ref) <= MAX_REF_LENGTH
    assert u.entity_id is None or len(u.entity_id) <= MAX_ID_LENGTH
    assert u.base_version is None or 0 <= u.base_version <= MAX_VERSION
    frequency = u.properties.get("contact_frequency_days")
    assert frequency is None or 0 < frequency <= MAX_CONTACT_FREQUENCY_DAYS
    assert u.event_at.tzinfo is UTC
    for item in u.items:
        assert len(item.item_id) <= MAX_ID_LENGTH
        assert item.status is None or len(item.status) <= MAX_CODE_LENGTH
    assert CaseUpdate.from_json(u.to_json()) == u
    for updates in ([u], [plan(), u]):
        build_case(
            updates, [], today=date(2024, 7, 1), default_frequency_days=14, review_interval_days=90
        )


@settings(max_examples=150, deadline=None)
@given(
    st.fixed_dictionaries(dict.fromkeys(_PLAN_FIELDS, ODD)),
    st.lists(
        st.fixed_dictionaries(
            dict.fromkeys(
                ("need_key", "need_title", "need_owner", "need_due", "need_status", "how"), ODD
            )
        ),
        max_size=2,
    ),
    st.fixed_dictionaries({"svc_id": ODD, "svc_title": ODD, "svc_status": ODD}),
    st.fixed_dictionaries({"ex_id": ODD, "ex_status": ODD}),
    _XML_TEXT,
    st.one_of(st.none(), st.integers()),
)
def test_any_answer_to_any_role_maps_without_raising(
    fields: dict[str, Any],
    needs: list[dict[str, object]],
    service: dict[str, object],
    existing: dict[str, object],
    entity_id: str,
    base_version: int | None,
) -> None:
    """Every role of the plan form, inside repeats and out, and the entity block."""
    env = envelope(
        "case_plan",
        "uuid:odd",
        fields,
        entity_id=entity_id.strip() or ENTITY,
        base_version=base_version,
        repeats={"needs": needs, "services": [service], "existing": [existing]},
    )
    u = map_submission(forms.plan_def(), env, submitter="amina", received_at=RECEIVED)
    assert u is not None
    _check_bounds(u)


@settings(max_examples=100, deadline=None)
@given(st.fixed_dictionaries(dict.fromkeys(_CONTACT_FIELDS, ODD)))
def test_any_answer_to_a_contact_maps_without_raising(fields: dict[str, Any]) -> None:
    env = envelope(
        "contact_log", "uuid:odd", {"case": ENTITY, **fields}, entity_id=ENTITY, base_version=1
    )
    u = map_submission(forms.contact_def(), env, submitter="amina", received_at=RECEIVED)
    assert u is not None
    _check_bounds(u)


def test_a_failed_attempt_is_not_a_contact_and_says_nothing_about_the_case() -> None:
    """The real contact log: an outcome other than 'made' is an attempt; whatever the
    submission still carries (defaults of the skipped visit) does not reach the case."""
    from server.submissions.parse import parse_envelope
    from tests import realforms

    definition = realforms.definition("contact_log")
    xml = realforms.contact_attempt(
        "CP-1", ENTITY, base_version=1, contact_time="2024-06-29T10:00:00.000Z",
        reason="child_not_present", felt_safe="no", safety_note="Dog loose in the yard",
    )  # fmt: skip
    update = map_submission(
        definition, parse_envelope(xml), submitter="amina", received_at=RECEIVED
    )
    assert update is not None
    assert (update.attempt, update.is_contact, update.worker_unsafe) == (
        "child_not_present",
        False,
        True,
    )
    assert (update.properties, update.items, update.close, update.event_fields) == (
        {},
        (),
        False,
        (),
    )
    assert CaseUpdate.from_json(update.to_json()) == update

    made = realforms.contact_log(
        "CP-1", ENTITY, base_version=1, contact_time="2024-06-29T10:00:00.000Z"
    )
    contact = map_submission(
        definition, parse_envelope(made), submitter="amina", received_at=RECEIVED
    )
    assert contact is not None
    assert (contact.attempt, contact.is_contact, contact.worker_unsafe) == (None, True, False)
    assert contact.properties["risk_level"] == "medium"

"""What the real case plan and care plan forms say about a case's care plan. Pure: the
converted forms and the submissions' XML, no app."""

from __future__ import annotations

from datetime import UTC, date, datetime

from server.cases.mapping import (
    CARE_PLAN,
    CARE_PLAN_REVIEW,
    CaseUpdate,
    item_id_for,
    map_submission,
)
from server.submissions.parse import parse_envelope
from tests.realforms import care_plan, definition, new_case_plan

RECEIVED = datetime(2026, 12, 5, 12, tzinfo=UTC)


def _mapped(form_id: str, xml: bytes) -> CaseUpdate:
    update = map_submission(
        definition(form_id), parse_envelope(xml), submitter="cw1", received_at=RECEIVED
    )
    assert update is not None
    return update


def test_a_plan_needing_alternative_care_makes_the_care_plan_due_without_a_status() -> None:
    xml, _ = new_case_plan("CP-M-1", care_plan_due="2026-11-30")
    (item,) = [i for i in _mapped("case_plan", xml).items if i.kind == CARE_PLAN]
    assert item.item_id == item_id_for("CP-M-1", CARE_PLAN, CARE_PLAN)
    assert (item.key, item.title, item.due, item.status) == (
        CARE_PLAN,
        "Care plan",
        date(2026, 11, 30),
        None,  # a revision repeating the date never reopens a care plan made
    )


def test_a_plan_without_alternative_care_makes_no_care_plan_item() -> None:
    xml, _ = new_case_plan("CP-M-2")
    assert not [i for i in _mapped("case_plan", xml).items if i.kind == CARE_PLAN]


def test_a_care_plan_is_done_files_the_arrangement_and_makes_its_review_due() -> None:
    xml = care_plan("CP-M-3", "entity-3", base_version=2, review="2027-02-20")
    update = _mapped("care_plan", xml)
    items = {i.kind: i for i in update.items}
    assert set(items) == {CARE_PLAN, CARE_PLAN_REVIEW}
    assert items[CARE_PLAN].status == "done"
    assert items[CARE_PLAN].item_id == item_id_for("CP-M-3", CARE_PLAN, CARE_PLAN)
    review = items[CARE_PLAN_REVIEW]
    assert (review.due, review.status, review.title) == (
        date(2027, 2, 20),
        "planned",
        "Care plan review",
    )
    assert update.properties == {
        "care_arrangement": "kinship",
        "care_carer": "grandparent",
        "care_placement_date": "2026-11-28",
        "care_goal": "reunification",
        "care_plan_review_date": "2027-02-20",
    }
    # the latest care plan's review date wins, never a conflict
    assert "care_plan_review_date" in update.event_fields
    # a care plan is neither a contact nor a review of the case plan
    assert (update.is_contact, update.is_review, update.close) == (False, False, False)
    # what the child and the family said stays with the submission, not the case
    assert not {"child_views", "family_views"} & set(update.properties)

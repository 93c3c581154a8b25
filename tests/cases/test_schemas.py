"""The JSON the case list and case page get, and argument loading."""

from __future__ import annotations

import pytest
from marshmallow import ValidationError
from sqlalchemy.orm import Session

from server import paging
from server.cases import case_file, queries, schemas
from tests.cases import forms
from tests.cases.conftest import World
from tests.cases.forms import at
from tests.cases.test_service import E1, contact, registration


def test_case_detail_shape(world: World, session: Session) -> None:
    amina, sup = world.user("amina"), world.user("sup", "supervisor")
    bo = world.user("bo", "supervisor")  # a follow-up changes a case only in its author's scope
    world.submit(
        forms.CASE_PLAN, registration("r1", "CP-1", E1, "2024-05-01"), amina, at("2024-05-01 12:00")
    )
    world.submit(
        forms.CONTACT_LOG,
        contact("a", "CP-1", E1, "2024-05-05T10:00:00Z", risk="high"),
        bo,
        at("2024-05-06 12:00"),
    )
    world.submit(
        forms.CONTACT_LOG,
        contact("b", "CP-1", E1, "2024-05-04T10:00:00Z", risk="low"),
        amina,
        at("2024-05-07 12:00"),
    )
    data = schemas.CaseDetailSchema().dump(case_file.get_case_detail(session, "CP-1", sup))
    assert sorted(data) == sorted(
        [
            "case_ref", "entity_id", "status", "caseworker", "team", "risk_level",
            "contact_frequency_days", "last_contact_at", "next_contact_due", "review_due",
            "last_review_at", "opened_at", "closed_at", "updated_at", "version",
            "open_conflicts", "warnings", "properties", "provenance", "plan_items", "conflicts",
            "timeline", "actions", "registration", "worker_unsafe_at", "worker_unsafe_by",
            "approval", "approval_kind", "approval_instance_id", "approval_requested_by",
            "approval_comment",
            "transfer", "transfer_team", "transfer_to", "transfer_requested_by", "transfer_kind",
            "consent", "consent_share", "consent_history",
        ]
    )  # fmt: skip
    assert (data["case_ref"], data["caseworker"], data["risk_level"]) == ("CP-1", "amina", "high")
    assert data["next_contact_due"] == "2024-05-12"
    assert data["provenance"]["risk_level"]["instance_id"] == "a"
    (item,) = data["plan_items"]
    assert sorted(item) == [
        "due_date", "held", "is_done", "is_overdue", "item_id", "kind", "owner", "properties",
        "provenance", "referral", "status", "title",
    ]  # fmt: skip
    assert item["referral"] is None  # a need; a service carries its referral state
    (conflict,) = data["conflicts"]
    assert conflict["field"] == "risk_level"
    assert conflict["is_resolved"] is False
    assert [c["value"] for c in conflict["candidates"]] == ["low", "high"]
    assert [t["instance_id"] for t in data["timeline"]] == ["r1", "b", "a"]
    assert data["timeline"][0]["changes"]["risk_level"] == "medium"

    page = paging.paginate(session, queries.list_cases(sup), 1, 10)
    rows = schemas.CaseListItemSchema(many=True).dump(schemas.case_rows(page.items))
    assert rows[0]["case_ref"] == "CP-1"
    assert rows[0]["caseworker"] == "amina"
    assert rows[0]["open_conflicts"] == 1


def test_argument_schemas() -> None:
    args = schemas.CaseQueryArgs().load({"risk": "high", "overdue": "true"})
    assert (args["risk"], args["overdue"], args["page"]) == ("high", True, 1)
    with pytest.raises(ValidationError):
        schemas.CaseQueryArgs().load({"status": "lost"})
    with pytest.raises(ValidationError) as err:
        schemas.DuplicateArgs().load({"instance_id": "x", "action": "register_new"})
    assert "new_case_ref" in err.value.messages_dict
    assert schemas.ResolveConflictArgs().load({"conflict_id": "3", "value": None}) == {
        "conflict_id": 3,
        "value": None,
    }

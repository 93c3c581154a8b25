"""The real case-work forms from xlsforms/, converted with pyxform, and answers for them."""

from __future__ import annotations

import functools
import uuid
from pathlib import Path
from typing import Any

from pyxform.xls2xform import convert

from tests.collect import fill_instance

XLSFORMS = Path(__file__).resolve().parent.parent / "xlsforms"


@functools.cache
def xform(form_id: str) -> str:
    xml: str = convert(xlsform=str(XLSFORMS / f"{form_id}.xlsx"), file_type=".xlsx").xform
    return xml


def xlsform_bytes(form_id: str) -> bytes:
    return (XLSFORMS / f"{form_id}.xlsx").read_bytes()


def new_case_plan(
    case_ref: str,
    entity_id: str | None = None,
    *,
    caseworker: str = "cw1",
    risk: str = "high",
    plan_date: str = "2026-11-20",
    frequency: str = "7",
    instance_id: str | None = None,
) -> tuple[bytes, str]:
    entity_id = entity_id or str(uuid.uuid4())
    answers: dict[str, Any] = {
        "about": {
            "plan_type": "new",
            "new_case_ref": case_ref,
            "case_ref": case_ref,
            "new_case_id": entity_id,
            "caseworker": caseworker,
            "plan_date": plan_date,
            "risk_level": risk,
            "risk_summary": "Threats at home reported by school.",
        },
        "needs_group": {
            "needs": [
                {
                    "need_category": "physical_safety",
                    "need_key": "physical_safety",
                    "need_title": "Physical safety",
                    "how_addressed": "Safety plan with aunt",
                    "need_owner": caseworker,
                    "need_due": "2026-11-25",
                    "need_status": "open",
                }
            ]
        },
        "services_group": {
            "services": [
                {
                    "service_category": "health",
                    "service_key": "health",
                    "service": "clinic-1",
                    "service_title": "District clinic",
                    "service_by": "District clinic",
                    "urgency": "urgent",
                    "service_due": "2026-12-01",
                    "referral_status": "referred",
                }
            ]
        },
        "actions_group": {
            "actions": [
                {
                    "action_what": "Meet the school counsellor",
                    "action_owner": caseworker,
                    "action_due": "2026-11-27",
                    "action_status": "open",
                }
            ]
        },
        "follow_up": {
            "contact_frequency_days": frequency,
            "child_participation": "interviewed",
            "alternative_care_needed": "no",
            "next_review_date": "2027-02-18",
        },
    }
    xml = fill_instance(
        xform("case_plan"),
        answers,
        instance_id=instance_id,
        entity={
            "id": entity_id,
            "create": "1",
            "update": "0",
            "label": f"{case_ref} ({risk} risk)",
        },
    )
    return xml, entity_id


def contact_log(
    case_ref: str,
    entity_id: str,
    *,
    base_version: int,
    contact_time: str,
    risk: str = "medium",
    next_contact: str | None = None,
    close: str = "no",
    service_updates: list[tuple[str, str]] | None = None,
    instance_id: str | None = None,
) -> bytes:
    answers: dict[str, Any] = {
        "case": entity_id,
        "case_ref": case_ref,
        "contact_time": contact_time,
        "contact_mode": "home_visit",
        "participants": "child caregiver",
        "health": {"household_health": "well", "health_referral_needed": "no"},
        "reassurance": {
            "reassured_ongoing_contact": "yes",
            "told_next_steps": "yes",
            "knows_emergency_contact": "yes",
        },
        "safety": {
            "safety_plan_action": "updated",
            "safety_plan_contacts": "Aunt, by phone",
            "safety_plan_safe_places": "Neighbour's house",
            "safety_plan_actions": "Call aunt if threatened",
            "safety_plan_review_date": "2026-12-20",
        },
        "key_messages": "safety accessing_services",
        "services_followup": {
            "followed_up_services": "yes" if service_updates else "no",
            "services_received": [
                {"plan_service": item, "service_status_now": status}
                for item, status in (service_updates or [])
            ],
        },
        "assessment": {"circumstances_changed": "no", "risk_level_now": risk},
        "next": {"close_case": close, "next_contact_date": next_contact or ""},
    }
    return fill_instance(
        xform("contact_log"),
        answers,
        instance_id=instance_id,
        entity={
            "id": entity_id,
            "update": "1",
            "baseVersion": str(base_version),
            "label": f"{case_ref} ({risk} risk)",
        },
    )


def revise_plan(
    case_ref: str,
    entity_id: str,
    *,
    base_version: int,
    caseworker: str = "cw1",
    risk: str = "low",
    plan_date: str = "2026-11-26",
    frequency: str = "14",
    instance_id: str | None = None,
) -> bytes:
    """The case plan in "revise" mode, as Collect fills it for a case picked from the list."""
    answers: dict[str, Any] = {
        "about": {
            "plan_type": "revise",
            "case": entity_id,
            "case_ref": case_ref,
            "caseworker": caseworker,
            "plan_date": plan_date,
            "risk_level": risk,
        },
        "follow_up": {"contact_frequency_days": frequency, "next_review_date": "2027-02-18"},
    }
    return fill_instance(
        xform("case_plan"),
        answers,
        instance_id=instance_id,
        entity={
            "id": entity_id,
            "create": "0",
            "update": "1",
            "baseVersion": str(base_version),
            "label": f"{case_ref} ({risk} risk)",
        },
    )


def case_conference(
    case_ref: str,
    entity_id: str,
    *,
    base_version: int,
    conference_date: str = "2026-11-26",
    decisions: tuple[tuple[str, str, str, str], ...] = (),
    next_review: str = "2027-01-20",
    instance_id: str | None = None,
) -> bytes:
    """A case conference on a case picked from the list; ``decisions`` are (text, owner,
    due, status)."""
    answers: dict[str, Any] = {
        "case": entity_id,
        "case_ref": case_ref,
        "conference_date": conference_date,
        "platform": "whatsapp",
        "participants_group": {
            "participants": [{"participant_role": "health", "participant_agency": "DHO"}]
        },
        "confidentiality": {"private_location": "yes", "no_identifying_details": "yes"},
        "discussion": "Discussed.",
        "decisions_group": {
            "decisions": [
                {
                    "decision_text": text,
                    "decision_owner": owner,
                    "decision_due": due,
                    "decision_status": status,
                }
                for text, owner, due, status in decisions
            ]
        },
        "outcome_group": {
            "outcome": "remain_open",
            "close_case": "no",
            "next_review_date": next_review,
        },
    }
    return fill_instance(
        xform("case_conference"),
        answers,
        instance_id=instance_id,
        entity={"id": entity_id, "update": "1", "baseVersion": str(base_version)},
    )

"""The real case-work forms from xlsforms/, converted with pyxform, and answers for them.

Every answer a builder here gives is checked against the form first (:func:`checked`): a
question the form does not have, or a choice its list does not offer, fails the test
instead of testing answers no phone could send.
"""

from __future__ import annotations

import functools
import html
import re
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pyxform.xls2xform import convert

from server.xforms.definition import FormDefinition, parse_definition
from tests.collect import fill_instance

XLSFORMS = Path(__file__).resolve().parent.parent / "xlsforms"


@functools.cache
def xform(form_id: str) -> str:
    xml: str = convert(xlsform=str(XLSFORMS / f"{form_id}.xlsx"), file_type=".xlsx").xform
    return xml


@functools.cache
def definition(form_id: str) -> FormDefinition:
    return parse_definition(xform(form_id))


def xlsform_bytes(form_id: str) -> bytes:
    return (XLSFORMS / f"{form_id}.xlsx").read_bytes()


def _leaves(answers: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for name, value in answers.items():
        path = f"{prefix}{name}"
        if isinstance(value, dict):
            yield from _leaves(value, f"{path}/")
        elif isinstance(value, list):
            for instance in value:
                yield from _leaves(instance, f"{path}/")
        else:
            yield path, value


def offence(form_id: str, path: str, value: Any) -> str | None:
    """Why the form could not have sent ``value`` at ``path`` (None: it could).

    Choices from the form's own lists are checked; choices from a CSV the server sends
    (cases.csv, services.csv, plan_items.csv) depend on the server's data and are not.
    """
    form = definition(form_id)
    field = form.field(path)
    if field is None or field.kind != "field":
        return f"{form_id} has no question at {path!r}"
    if value in (None, "") or field.control not in ("select1", "select") or field.choice_file:
        return None
    offered = {c.value for c in form.choices.get(field.choice_list or "", ())}
    given = str(value).split() if field.control == "select" else [str(value)]
    wrong = [v for v in given if v not in offered]
    if wrong:
        return f"{form_id} {path}: {wrong} not among {sorted(offered)}"
    return None


def checked(form_id: str, answers: dict[str, Any]) -> dict[str, Any]:
    """``answers``, after making sure each is one the real form could send."""
    problems = [p for path, v in _leaves(answers) if (p := offence(form_id, path, v))]
    assert not problems, "answers the form does not offer:\n" + "\n".join(problems)
    return answers


def _calculation(form_id: str, name: str) -> str:
    """The ``calculate`` of the form's question ``name``, as pyxform wrote it."""
    match = re.search(rf'<bind nodeset="[^"]*/{name}"[^>]*calculate="([^"]*)"', xform(form_id))
    assert match is not None, f"{form_id} has no calculation for {name}"
    text = " ".join(html.unescape(match.group(1)).split())
    return re.sub(r"\s+([,)])", r"\1", re.sub(r"\(\s+", "(", text))


def _revision_caseworker(case_caseworker: str, username: str) -> str:
    """Who the case plan form names as caseworker when a plan is revised: the case's
    caseworker if, on picking the case, it fills that in from cases.csv; else the
    username it fills in when the form opens."""
    for value in re.findall(
        r'<setvalue ref="/data/about/caseworker" event="xforms-value-changed" value="([^"]*)"',
        xform("case_plan"),
    ):
        if "'revise'" in value and "/caseworker" in html.unescape(value):
            return case_caseworker
    return username


def new_case_plan(
    case_ref: str,
    entity_id: str | None = None,
    *,
    caseworker: str = "cw1",
    risk: str = "high",
    plan_date: str = "2026-11-20",
    frequency: str = "7",
    instance_id: str | None = None,
    deprecated_id: str | None = None,  # makes it an edit of that instance
    with_need: bool = True,  # False: a plan whose needs were skipped (the form forbids it)
    child: dict[str, Any] | None = None,  # the registration data (:func:`child_answers`)
    needs: Sequence[str] = ("physical_violence",),  # need categories
    services: Sequence[tuple[str, str]] = (("health", "referred"),),  # (category, status)
    care_plan_due: str | None = None,  # the child needs alternative care: a care plan by then
    urgency: str = "urgent",  # of every service
) -> tuple[bytes, str]:
    """A registration: a new case with a need, a health service and an action (or the
    ``needs`` and ``services`` given), and the child's registration data when given."""
    entity_id = entity_id or str(uuid.uuid4())
    answers = _plan_answers(
        case_ref,
        plan_type="new",
        caseworker=caseworker,
        risk=risk,
        plan_date=plan_date,
        frequency=frequency,
        care_plan_due=care_plan_due,
    )
    answers["about"].update(new_case_ref=case_ref, new_case_id=entity_id)
    if child is not None:
        answers["registration"] = child
    answers["needs_group"] = {
        "needs": [
            {
                "need_category": category,
                "need_key": category,
                "need_title": "Physical violence or abuse"
                if category == "physical_violence"
                else category,
                "how_addressed": "Safety plan with aunt",
                "need_owner": caseworker,
                "need_due": "2026-11-25",
                "need_status": "planned",
            }
            for category in needs
        ]
        if with_need
        else []
    }
    answers["services_group"] = {
        "services": [
            {
                "service_category": category,
                "service_key": category,
                "service": "clinic-1" if category == "health" else "",
                "service_title": "District clinic" if category == "health" else category,
                "service_by": "District clinic" if category == "health" else "",
                "service_provider": "" if category == "health" else "Mobile team, Market",
                "urgency": urgency,
                "service_due": "2026-12-01",
                "referral_status": status,
                "referral_method": "phone" if status == "referred" else "",
            }
            for category, status in services
        ]
    }
    answers["actions_group"] = {
        "actions": [
            {
                "action_what": "Meet the school counsellor",
                "action_owner": caseworker,
                "action_due": "2026-11-27",
                "action_status": "in_progress",
            }
        ]
    }
    xml = fill_instance(
        xform("case_plan"),
        checked("case_plan", answers),
        instance_id=instance_id,
        deprecated_id=deprecated_id,
        entity={
            "id": entity_id,
            "create": "1",
            "update": "0",
            "label": f"{case_ref} ({risk} risk)",
        },
    )
    return xml, entity_id


def child_answers(
    *,
    age: int | None = 9,
    band: str | None = None,
    sex: str = "female",
    difficulties: dict[str, str] | None = None,
    region: str = "R01",
    district: str = "R01D01",
    concern: str = "neglect",
) -> dict[str, Any]:
    """The case plan's "About the child" group: the age in years (``age``) or an age band
    (``band``, when ``age`` is None), sex, the Washington Group answers (each domain "none"
    unless ``difficulties`` says, e.g. ``{"wg_walking": "a_lot"}``), the region and
    district codes from areas.csv, and the intake concern."""
    answers: dict[str, Any] = {
        "age_known": "yes" if age is not None else "no",
        "age_years": "" if age is None else str(age),
        "age_band": band or "" if age is None else "",
        "sex": sex,
        "disability_group": {
            name: (difficulties or {}).get(name, "none")
            for name in (
                "wg_seeing",
                "wg_hearing",
                "wg_walking",
                "wg_remembering",
                "wg_selfcare",
                "wg_communicating",
            )
        },
        "admin1": region,
        "admin2": district,
        "intake_concern": concern,
    }
    return answers


def plan_revision(
    case_ref: str,
    entity_id: str,
    *,
    base_version: int,
    case_caseworker: str = "cw1",
    username: str = "cw1",
    risk: str = "medium",
    plan_date: str = "2026-11-27",
    frequency: str = "14",
    review: str = "2027-02-20",
    existing: list[tuple[str, str, str]] | None = None,
    needs: list[dict[str, str]] | None = None,
    start: str | None = None,
    end: str | None = None,
    instance_id: str | None = None,
    caseworker: str | None = None,
    care_plan_due: str | None = None,
) -> bytes:
    """A revision of an existing case's plan, as the case plan form sends it.

    ``existing``: (item id, status now, due) for items already in the plan; ``needs``: new
    need entries. The caseworker is left as the form fills it in for ``username``, whose
    phone it is, on a case whose caseworker is ``case_caseworker``, unless ``caseworker``
    gives the answer the person typed over it.
    """
    answers = _plan_answers(
        case_ref,
        plan_type="revise",
        caseworker=caseworker or _revision_caseworker(case_caseworker, username),
        risk=risk,
        plan_date=plan_date,
        frequency=frequency,
        review=review,
        care_plan_due=care_plan_due,
    )
    answers["about"]["case"] = entity_id
    answers["start"] = start or ""
    answers["end"] = end or ""
    answers["existing_group"] = {
        "update_existing": "yes" if existing else "no",
        "existing_items": [
            {"existing_item": item, "existing_status": status, "existing_due": due}
            for item, status, due in existing or []
        ],
    }
    answers["needs_group"] = {"needs": list(needs or [])}
    answers["services_group"] = {"services": []}
    answers["actions_group"] = {"actions": []}
    return fill_instance(
        xform("case_plan"),
        checked("case_plan", answers),
        instance_id=instance_id,
        entity={
            "id": entity_id,
            "create": "0",
            "update": "1",
            "baseVersion": str(base_version),
            "label": f"{case_ref} ({risk} risk)",
        },
    )


def _plan_answers(
    case_ref: str,
    *,
    plan_type: str,
    caseworker: str,
    risk: str,
    plan_date: str,
    frequency: str,
    review: str = "2027-02-18",
    care_plan_due: str | None = None,
) -> dict[str, Any]:
    return {
        "about": {
            "plan_type": plan_type,
            "case_ref": case_ref,
            "caseworker": caseworker,
            "plan_date": plan_date,
            "risk_level": risk,
            "risk_summary": "Threats at home reported by school.",
        },
        "follow_up": {
            "contact_frequency_days": frequency,
            "child_participation": "planning_meeting",
            "alternative_care_needed": "yes" if care_plan_due else "no",
            "care_plan_due": care_plan_due or "",
            "next_review_date": review,
            "plan_review_needed": "no",
        },
    }


def contact_log(
    case_ref: str,
    entity_id: str,
    *,
    base_version: int,
    contact_time: str,
    risk: str = "medium",
    mode: str = "home_visit",
    next_contact: str | None = None,
    close: str = "no",
    service_updates: Sequence[tuple[str, ...]] | None = None,
    health_referral: tuple[str, str, str, str] | None = None,
    health_referrals: Sequence[tuple[str, str, str, str]] = (),
    instance_id: str | None = None,
    deprecated_id: str | None = None,  # makes it an edit of that instance
    felt_safe: str = "yes",
    urgency: str = "urgent",  # of its health referrals
) -> bytes:
    """A contact. ``health_referral``: (service id, title, "provider, location", due) of a
    referral made at this contact; ``health_referrals``: several. A referral with no
    service id names its provider in free text (the title is then the form's own).
    ``service_updates``: (plan item id, its state now[, the reason of a decline or of a
    service not delivered])."""
    health: dict[str, Any] = {"household_health": "well"}
    referrals = [*([health_referral] if health_referral else []), *health_referrals]
    if referrals:
        # the key as the form computes it: a referral of its own, not the plan's service
        key_form = _calculation("contact_log", "health_key")
        expected = "concat('referral-', ../health_service, '-', ../health_referral_id)"
        assert key_form == expected, f"contact_log computes health_key as {key_form}"
        assert _calculation("contact_log", "health_referral_id") == "once(uuid())"
        entries = []
        for service, title, by, due in referrals:
            referral_id = str(uuid.uuid4())
            entry = {
                "health_referral_id": referral_id,
                "health_key": f"referral-{service}-{referral_id}",
                "health_service": service,
                "health_service_title": title if service else "Health referral",
                "health_service_by": by,
                "health_referral_due": due,
                "health_referral_status": "referred",
                "urgency": urgency,
                "referral_method": "phone",
                "service_category": "health",
            }
            if not service:
                entry["health_provider"] = by
            entries.append(entry)
        health = {
            "household_health": "unwell",
            "health_details": "Mother has a fever.",
            "health_referral_needed": "yes",
            "health_referral": entries,
        }
    answers: dict[str, Any] = {
        "case": entity_id,
        "case_ref": case_ref,
        "contact_outcome": "made",
        "contact_time": contact_time,
        "contact_mode": mode,
        "participants": "child mother",
        "health": health,
        "reassurance": {
            "reassured_ongoing_contact": "yes",
            "told_next_steps": "yes",
            "communication_channels": "phone messaging",
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
            "services_received": [_service_update(*update) for update in service_updates or []],
        },
        "assessment": {
            "circumstances_changed": "no",
            "risk_level_now": risk,
            "plan_review_needed": "no",
        },
        "next": {
            "close_case": close,
            "closure_reason": "goals_met" if close == "yes" else "",
            "next_contact_date": next_contact or "",
        },
        "worker_felt_safe": felt_safe,
    }
    return fill_instance(
        xform("contact_log"),
        checked("contact_log", answers),
        instance_id=instance_id,
        deprecated_id=deprecated_id,
        entity={
            "id": entity_id,
            "update": "1",
            "baseVersion": str(base_version),
            "label": f"{case_ref} ({risk} risk)",
        },
    )


def _service_update(item: str, status: str, reason: str = "") -> dict[str, str]:
    """A service of the plan followed up at a contact, as the contact log sends it."""
    entry = {"plan_service": item, "service_status_now": status}
    if status == "referred":
        entry["referral_method_now"] = "phone"
    if status in ("declined", "not_delivered"):
        entry["state_reason"] = reason or "No capacity this month"
    return entry


def contact_attempt(
    case_ref: str,
    entity_id: str,
    *,
    base_version: int,
    contact_time: str,
    reason: str = "no_answer",
    mode: str = "phone",
    felt_safe: str = "yes",
    safety_note: str = "",
    instance_id: str | None = None,
) -> bytes:
    """A contact log of a failed attempt (``reason``: no_answer, child_not_present,
    unsafe_to_talk): the visit's questions are not relevant, so none is answered, and the
    entity's label keeps the reference number alone."""
    answers: dict[str, Any] = {
        "case": entity_id,
        "case_ref": case_ref,
        "contact_outcome": reason,
        "contact_time": contact_time,
        "attempt_mode": mode,
        "attempt_note": "Nobody at home; will call again tomorrow.",
        "worker_felt_safe": felt_safe,
        "worker_safety_note": safety_note,
    }
    return fill_instance(
        xform("contact_log"),
        checked("contact_log", answers),
        instance_id=instance_id,
        entity={
            "id": entity_id,
            "update": "1",
            "baseVersion": str(base_version),
            "label": case_ref,
        },
    )


def case_conference(
    case_ref: str,
    entity_id: str,
    *,
    base_version: int,
    conference_date: str = "2026-11-26",
    decisions: Sequence[tuple[str, str, str, str]] = (),
    outcome: str = "remain_open",
    review: str = "2027-01-20",
    transfer_to: str = "",
    closure_reason: str = "",
    start: str | None = None,
    end: str | None = None,
    instance_id: str | None = None,
) -> bytes:
    """A case conference. ``decisions``: (what, who, by when, status)."""
    answers: dict[str, Any] = {
        "start": start or "",
        "end": end or "",
        "case": entity_id,
        "case_ref": case_ref,
        "conference_date": conference_date,
        "platform": "whatsapp",
        "participants_group": {
            "participants": [
                {"participant_role": "health", "participant_agency": "District Health Office"},
                {"participant_role": "caregiver"},
            ]
        },
        "confidentiality": {"private_location": "yes", "no_identifying_details": "yes"},
        "discussion": "Progress reviewed; school attendance discussed.",
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
            "outcome": outcome,
            "transfer_to": transfer_to,
            "close_case": "yes" if outcome == "close" else "no",
            "closure_reason": closure_reason,
            "next_review_date": review if outcome != "close" else "",
        },
    }
    return fill_instance(
        xform("case_conference"),
        checked("case_conference", answers),
        instance_id=instance_id,
        entity={"id": entity_id, "update": "1", "baseVersion": str(base_version)},
    )


def care_plan(
    case_ref: str,
    entity_id: str,
    *,
    base_version: int,
    care_plan_date: str = "2026-11-30",
    arrangement: str = "kinship",
    carer: str = "grandparent",
    placement_date: str = "2026-11-28",
    goal: str = "reunification",
    review: str = "2027-02-20",
    instance_id: str | None = None,
) -> bytes:
    """A care plan for a child in alternative care, as the care plan form sends it."""
    answers: dict[str, Any] = {
        "case": entity_id,
        "case_ref": case_ref,
        "care_plan_date": care_plan_date,
        "arrangement": {
            "care_arrangement": arrangement,
            "carer_role": carer,
            "placement_date": placement_date,
        },
        "views": {
            "child_views": "Wants to stay near the school; misses the younger brother.",
            "family_views": "Mother agrees while she is in hospital.",
        },
        "family_contact": {
            "family_contact_modes": "visits phone",
            "family_contact_frequency": "weekly",
            "family_contact_notes": "Visits at the grandmother's home, supervised by the caseworker.",
        },
        "goal": {"care_goal": goal, "care_review_date": review},
    }
    return fill_instance(
        xform("care_plan"),
        checked("care_plan", answers),
        instance_id=instance_id,
        entity={"id": entity_id, "update": "1", "baseVersion": str(base_version)},
    )

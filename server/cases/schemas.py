"""Marshmallow schemas for cases: dumps for lists and the case page, loads for arguments."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any, NamedTuple

from marshmallow import Schema, ValidationError, fields, post_load, validate, validates_schema

from server.bounds import PAGE, ROW_ID
from server.cases.case_file import CaseDetail
from server.cases.lists import CASE_SORTS
from server.cases.mapping import ITEM_KINDS, canonical_ref
from server.cases.models import Case, CaseStatus, PlanItem
from server.cases.referrals import REFERRAL_KIND, next_states
from server.timeutil import utcnow

RISK_LEVELS = ("low", "medium", "high")
STATUSES = tuple(CaseStatus)


class CaseRow(NamedTuple):
    """A case with its caseworker's username, as ``queries.list_cases`` returns them."""

    case: Case
    caseworker: str | None


def case_rows(rows: Iterable[Any]) -> list[CaseRow]:
    return [CaseRow(case, caseworker) for case, caseworker in rows]


class CaseListItemSchema(Schema):
    """Dumps a :class:`CaseRow`."""

    case_ref = fields.String(attribute="case.case_ref")
    status = fields.String(attribute="case.status")
    caseworker = fields.String(allow_none=True)
    team = fields.String(attribute="case.team", allow_none=True)
    risk_level = fields.String(attribute="case.risk_level", allow_none=True)
    last_contact_at = fields.AwareDateTime(attribute="case.last_contact_at", allow_none=True)
    next_contact_due = fields.Date(attribute="case.next_contact_due", allow_none=True)
    review_due = fields.Date(attribute="case.review_due", allow_none=True)
    open_conflicts = fields.Integer(attribute="case.open_conflicts")
    version = fields.Integer(attribute="case.version")
    updated_at = fields.AwareDateTime(attribute="case.updated_at")


class ProvenanceSchema(Schema):
    value = fields.Raw()
    instance_id = fields.String(allow_none=True)
    user = fields.String(allow_none=True)
    at = fields.String()
    resolution = fields.String()


class PlanItemSchema(Schema):
    item_id = fields.String()
    kind = fields.String()
    title = fields.String()
    owner = fields.String(allow_none=True)
    due_date = fields.Date(allow_none=True)
    status = fields.String()
    is_done = fields.Boolean()
    is_overdue = fields.Method("_is_overdue")
    # a referral the consent in force does not cover, held for a supervisor
    held = fields.Boolean()
    properties = fields.Dict(keys=fields.String())
    provenance = fields.Dict(keys=fields.String(), values=fields.Nested(ProvenanceSchema))
    # a service: its referral state (``cases.referrals``); None for other items
    referral = fields.Method("_referral")

    def _is_overdue(self, item: PlanItem) -> bool:
        return bool(item.due_date and not item.is_done and item.due_date < utcnow().date())

    def _referral(self, item: PlanItem) -> dict[str, Any] | None:
        if item.kind != REFERRAL_KIND:
            return None
        due = item.referral_due
        return {
            "state": item.status,
            "since": item.referral_since.isoformat() if item.referral_since else None,
            "next_due": due.isoformat() if due else None,
            "next_states": [s.value for s in next_states(item.status)],
            "is_overdue": bool(due and due < utcnow().date()),
            "urgency": item.referral_urgency,
            "reason": item.referral_reason,
            "service_id": item.referral_service,
            "acknowledged_hours": item.referral_ack_hours,
            "steps": list(item.referral_steps or []),
        }


class CandidateSchema(Schema):
    value = fields.Raw()
    instance_id = fields.String(allow_none=True)
    user = fields.String(allow_none=True)
    at = fields.String()


class TimelineEntrySchema(Schema):
    instance_id = fields.String()
    form_id = fields.String()
    event_at = fields.AwareDateTime()
    received_at = fields.AwareDateTime()
    submitter = fields.String(allow_none=True)
    state = fields.String()
    is_registration = fields.Boolean()
    is_contact = fields.Boolean()
    is_review = fields.Boolean()
    changes = fields.Dict(keys=fields.String())
    attempt = fields.String(allow_none=True)
    worker_unsafe = fields.Boolean()


class ActionEntrySchema(Schema):
    kind = fields.String()
    at = fields.AwareDateTime()
    actor = fields.String(allow_none=True)
    payload = fields.Dict(keys=fields.String())


class CaseDetailSchema(Schema):
    """Dumps a ``case_file.CaseDetail``: the case page and ``GET /api/cases/<ref>``."""

    case_ref = fields.Function(lambda d: d.case.case_ref)
    entity_id = fields.Function(lambda d: d.case.entity_id)
    status = fields.Function(lambda d: d.case.status)
    caseworker = fields.String(allow_none=True)
    team = fields.Function(lambda d: d.case.team)
    risk_level = fields.Function(lambda d: d.case.risk_level)
    contact_frequency_days = fields.Function(lambda d: d.case.contact_frequency_days)
    last_contact_at = fields.AwareDateTime(attribute="case.last_contact_at", allow_none=True)
    next_contact_due = fields.Date(attribute="case.next_contact_due", allow_none=True)
    review_due = fields.Date(attribute="case.review_due", allow_none=True)
    last_review_at = fields.AwareDateTime(attribute="case.last_review_at", allow_none=True)
    opened_at = fields.AwareDateTime(attribute="case.opened_at")
    closed_at = fields.AwareDateTime(attribute="case.closed_at", allow_none=True)
    # the latest contact or attempt at which the caseworker did not feel safe
    worker_unsafe_at = fields.AwareDateTime(allow_none=True)  # from its alert
    worker_unsafe_by = fields.String(allow_none=True)
    # what waits for a supervisor's approval, or the decision on it (``cases.approvals``)
    approval = fields.String(attribute="case.approval", allow_none=True)
    approval_kind = fields.String(attribute="case.approval_kind", allow_none=True)
    approval_instance_id = fields.String(attribute="case.approval_instance_id", allow_none=True)
    approval_requested_by = fields.String(attribute="case.approval_requested_by", allow_none=True)
    approval_comment = fields.String(attribute="case.approval_comment", allow_none=True)
    # where a transfer stands (``cases.transfers``): pending, accepted, declined or out
    transfer = fields.String(attribute="case.transfer", allow_none=True)
    transfer_team = fields.String(attribute="case.transfer_team", allow_none=True)
    transfer_to = fields.String(attribute="case.transfer_to", allow_none=True)
    transfer_requested_by = fields.String(attribute="case.transfer_requested_by", allow_none=True)
    # the consent in force (``cases.consent``): given, not_possible, withdrawn or extended,
    # the kinds of agency information may be shared with, and its history with provenance
    consent = fields.String(attribute="case.consent", allow_none=True)
    consent_share = fields.Function(lambda d: (d.case.consent_share or "").split())
    consent_history = fields.Function(lambda d: list(d.case.consent_history or []))
    transfer_kind = fields.String(attribute="case.transfer_kind", allow_none=True)
    updated_at = fields.AwareDateTime(attribute="case.updated_at")
    version = fields.Function(lambda d: d.case.version)
    open_conflicts = fields.Function(lambda d: d.case.open_conflicts)
    warnings = fields.Function(lambda d: list(d.warnings))
    properties = fields.Function(lambda d: dict(d.case.properties or {}))
    provenance = fields.Function(lambda d: dict(d.case.provenance or {}))
    # the registration data as the reports count it (derived from the properties)
    registration = fields.Function(
        lambda d: {
            name: getattr(d.case, name)
            for name in (
                "age_years",
                "age_band",
                "sex",
                "disability",
                "admin1",
                "admin2",
                "intake_concern",
            )
        }
    )
    plan_items = fields.Method("_plan_items")
    conflicts = fields.Method("_conflicts")
    timeline = fields.List(fields.Nested(TimelineEntrySchema))
    actions = fields.List(fields.Nested(ActionEntrySchema))

    def _plan_items(self, detail: CaseDetail) -> list[dict[str, Any]]:
        """The items; none is overdue once the case is closed (no one works on it)."""
        items: list[dict[str, Any]] = PlanItemSchema(many=True).dump(detail.plan_items)
        if detail.case.status != CaseStatus.OPEN:
            for item in items:
                item["is_overdue"] = False
        return items

    def _conflicts(self, detail: CaseDetail) -> list[dict[str, Any]]:
        out = []
        for c in detail.conflicts:
            out.append(
                {
                    "id": c.id,
                    "conflict_key": c.conflict_key,
                    "field": c.field,
                    "candidates": CandidateSchema(many=True).dump(c.candidates),
                    "is_resolved": c.resolved_at is not None,
                    "resolved_value": c.resolved_value,
                    "resolved_by": detail.conflict_resolvers.get(c.id),
                    "resolved_at": c.resolved_at.isoformat() if c.resolved_at else None,
                    "detected_at": c.detected_at.isoformat() if c.detected_at else None,
                }
            )
        return out


# --- loads ---------------------------------------------------------------------------------


def _day() -> fields.Date:
    """A day in a date-range filter (``2026-12-07``); empty means any."""
    return fields.Date(load_default=None)


def _cursor() -> fields.String:
    """Where a keyset page starts (``server.paging.paginate_keyset``): opaque, checked there."""
    return fields.String(load_default=None, validate=validate.Length(min=1, max=2000))


class CaseQueryArgs(Schema):
    """Query string of the case list (page and API): filters, sort and page."""

    caseworker = fields.String(load_default=None, validate=validate.Length(max=80))
    status = fields.String(load_default=None, validate=validate.OneOf(STATUSES))
    risk = fields.String(load_default=None, validate=validate.OneOf(RISK_LEVELS))
    overdue = fields.Boolean(load_default=False)
    team = fields.String(load_default=None, validate=validate.Length(max=80))
    # any part of the reference number
    ref = fields.String(load_default=None, validate=validate.Length(max=120))
    opened_from = _day()
    opened_to = _day()
    last_contact_from = _day()
    last_contact_to = _day()
    due_from = _day()
    due_to = _day()
    conflicts = fields.Boolean(load_default=False)
    no_review = fields.Boolean(load_default=False)
    safety_due = fields.Boolean(load_default=False)
    sort = fields.String(load_default="due", validate=validate.OneOf(CASE_SORTS))
    dir = fields.String(load_default="asc", validate=validate.OneOf(("asc", "desc")))
    # where a page starts: a cursor handed by the page before (``next_cursor`` /
    # ``previous_cursor``); ``page`` is the older numbered way, kept for links made before
    cursor = _cursor()
    page = fields.Integer(load_default=1, validate=PAGE)
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))

    @post_load
    def _canonical_ref(self, data: dict[str, Any], **_kwargs: Any) -> dict[str, Any]:
        """The reference number (its part) as cases are filed: ``cp-1`` finds ``CP-1``."""
        if data.get("ref"):
            data["ref"] = canonical_ref(data["ref"]) or None
        return data


def case_list_kwargs(args: dict[str, Any], today: date) -> dict[str, Any]:
    """:func:`cases.lists.list_cases` arguments from loaded :class:`CaseQueryArgs`, the
    flags that depend on the day read as of ``today``."""
    kept = (
        *("caseworker", "status", "risk", "team", "opened_from", "opened_to"),
        *("last_contact_from", "last_contact_to", "due_from", "due_to", "conflicts"),
    )
    return {
        **{k: args[k] for k in kept},
        "ref_contains": args["ref"],
        "overdue_on": today if args["overdue"] else None,
        "no_review_on": today if args["no_review"] else None,
        "safety_due_by": today if args["safety_due"] else None,
        "sort": args["sort"],
        "descending": args["dir"] == "desc",
    }


class ItemQueryArgs(Schema):
    """Query string of the plan-items and referrals pages."""

    kind = fields.String(load_default=None, validate=validate.OneOf(ITEM_KINDS))
    status = fields.String(load_default=None, validate=validate.Length(max=30))
    open = fields.Boolean(load_default=False)
    overdue = fields.Boolean(load_default=False)
    # referrals whose next state is overdue
    state_overdue = fields.Boolean(load_default=False)
    team = fields.String(load_default=None, validate=validate.Length(max=80))
    caseworker = fields.String(load_default=None, validate=validate.Length(max=80))
    due_from = _day()
    due_to = _day()
    # where a page starts: a cursor handed by the page before (``next_cursor`` /
    # ``previous_cursor``); ``page`` is the older numbered way, kept for links made before
    cursor = _cursor()
    page = fields.Integer(load_default=1, validate=PAGE)
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


def item_list_kwargs(args: dict[str, Any], today: date) -> dict[str, Any]:
    """:func:`cases.lists.list_items` arguments from loaded :class:`ItemQueryArgs`."""
    kept = ("kind", "status", "team", "caseworker", "due_from", "due_to")
    return {
        **{k: args[k] for k in kept},
        "open_only": args["open"],
        "overdue_on": today if args["overdue"] else None,
        "state_overdue_on": today if args["state_overdue"] else None,
    }


class FollowupArgs(Schema):
    horizon_days = fields.Integer(load_default=7, validate=validate.Range(min=0, max=365))
    page = fields.Integer(load_default=1, validate=PAGE)
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class QueueArgs(Schema):
    """A page of a queue: 100 entries unless asked (a page never holds answers or XML)."""

    cursor = _cursor()
    page = fields.Integer(load_default=1, validate=PAGE)
    per_page = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))


def _reason() -> fields.String:
    """Why a supervisor closes, reopens, reassigns or merges: required, kept with the
    decision (the service also refuses one of blanks alone)."""
    return fields.String(required=True, validate=validate.Length(min=1, max=2000))


class ReassignArgs(Schema):
    username = fields.String(required=True, validate=validate.Length(min=1, max=80))
    reason = _reason()


class ResolveConflictArgs(Schema):
    conflict_id = fields.Integer(required=True, validate=ROW_ID)
    # any JSON value: it must equal one of the conflict's candidates (checked by the service)
    value = fields.Raw(required=True, allow_none=True)


class CloseArgs(Schema):
    reason = _reason()


class ApprovalArgs(Schema):
    """``instance_id``: the closure or plan being decided (the case's
    ``approval_instance_id`` as the caller saw it)."""

    decision = fields.String(required=True, validate=validate.OneOf(("approve", "return")))
    instance_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    comment = fields.String(load_default="", validate=validate.Length(max=2000))


class TransferArgs(Schema):
    """To one of: a caseworker (``username``), another team, an outside agency."""

    username = fields.String(load_default="", validate=validate.Length(max=80))
    team = fields.String(load_default="", validate=validate.Length(max=80))
    agency = fields.String(load_default="", validate=validate.Length(max=200))
    # the outside agency's kind (``services.schemas.AGENCY_KINDS``): the summary it gets
    # holds what the consent in force allows sharing with that kind
    agency_kind = fields.String(load_default="", validate=validate.Length(max=40))
    reason = _reason()


class TransferAcceptArgs(Schema):
    """Who holds the case once accepted, when the request named only a team (default:
    the accepting supervisor)."""

    username = fields.String(load_default="", validate=validate.Length(max=80))


class TransferDeclineArgs(Schema):
    reason = _reason()


class LinkArgs(Schema):
    instance_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    case_ref = fields.String(required=True, validate=validate.Length(min=1, max=120))


class DuplicateArgs(Schema):
    """``merge``: link into the existing case; ``register_new``: a case of its own under
    ``new_case_ref``."""

    instance_id = fields.String(required=True, validate=validate.Length(min=1, max=255))
    action = fields.String(required=True, validate=validate.OneOf(("merge", "register_new")))
    new_case_ref = fields.String(load_default=None, validate=validate.Length(min=1, max=120))
    # required to merge (see _reason)
    reason = fields.String(load_default=None, validate=validate.Length(min=1, max=2000))

    @validates_schema
    def _new_ref_needed(self, data: dict[str, Any], **_kwargs: Any) -> None:
        if data.get("action") == "register_new" and not data.get("new_case_ref"):
            raise ValidationError("Give the new reference number.", field_name="new_case_ref")
        if data.get("action") == "merge" and not data.get("reason"):
            raise ValidationError("Give the reason for the merge.", field_name="reason")


class MergePreviewArgs(Schema):
    """Which duplicate registration's merge to preview."""

    instance_id = fields.String(required=True, validate=validate.Length(min=1, max=255))

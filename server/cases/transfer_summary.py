"""The summary a case carries to an agency outside the system when it is transferred there
(``cases.transfers``): only what consent allows. The system records no consent yet, so the
summary holds no free-text answer and no sensitive field: the reference number, the risk,
the plan's dates and frequency, the open plan items by kind and code, the safety plan's
dates and the dates of the contacts, nothing a caseworker typed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from server.auth.models import User
from server.auth.permissions import require
from server.cases import case_file
from server.cases.transfers import TRANSFERRED_OUT
from server.errors import AppError

# The safety plan's date fields (``xlsforms/README.md``); its contacts, safe places and
# actions are sensitive and never leave.
SAFETY_PLAN_FIELDS = ("safety_plan_contacts", "safety_plan_safe_places", "safety_plan_actions")
SAFETY_PLAN_REVIEW = "safety_plan_review_date"


@dataclass(frozen=True)
class SummaryItem:
    kind: str
    code: str | None  # the item's choice from the form's list, never its free-text title
    due: date | None
    status: str


@dataclass(frozen=True)
class TransferSummary:
    case_ref: str
    agency: str | None
    transferred_at: datetime | None
    transferred_by: str | None
    risk_level: str | None
    opened_at: datetime
    contact_frequency_days: int | None
    last_review_at: datetime | None
    review_due: date | None
    open_items: tuple[SummaryItem, ...]
    safety_plan_updated_at: tuple[str, ...]  # when the safety plan was made or changed
    safety_plan_review: str | None
    contact_dates: tuple[datetime, ...]
    has_consent_data: bool = False  # no consent is recorded in the system yet


def get_transfer_summary(session: Session, case_ref: str, actor: User) -> TransferSummary:
    """The summary of a case transferred to an outside agency, for whoever may ask for
    transfers and sees the case (``case.not_found`` otherwise, and for a case not
    transferred out)."""
    require(actor, "case.transfer")
    detail = case_file.get_case_detail(session, case_ref, actor)
    case = detail.case
    if case.transfer != TRANSFERRED_OUT:
        raise AppError("case.not_found", details={"case_ref": case_ref})
    out = next((a for a in reversed(detail.actions) if a.kind == "transfer_out"), None)
    changed = sorted(
        {
            str(t.event_at.date())
            for t in detail.timeline
            if any(name in t.changes for name in (*SAFETY_PLAN_FIELDS, SAFETY_PLAN_REVIEW))
        }
    )
    review = (case.properties or {}).get(SAFETY_PLAN_REVIEW)
    return TransferSummary(
        case_ref=case.case_ref,
        agency=case.transfer_to,
        transferred_at=out.at if out else None,
        transferred_by=out.actor if out else None,
        risk_level=case.risk_level,
        opened_at=case.opened_at,
        contact_frequency_days=case.contact_frequency_days,
        last_review_at=case.last_review_at,
        review_due=case.review_due,
        open_items=tuple(
            SummaryItem(i.kind, i.key, i.due_date, i.status)
            for i in detail.plan_items
            if not i.is_done
        ),
        safety_plan_updated_at=tuple(changed),
        safety_plan_review=str(review)[:10] if isinstance(review, str) and review else None,
        contact_dates=tuple(t.event_at for t in detail.timeline if t.is_contact),
    )

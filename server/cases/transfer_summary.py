"""The summary a case carries to an agency outside the system when it is transferred there
(``cases.transfers``): only what consent allows (``cases.consent``).

Always: the reference number, the risk, the plan's dates and frequency, the open plan items
by kind and code, the safety plan's dates and the dates of the contacts. When the consent in
force covers sharing with the agency's kind (named with the transfer), it adds the open plan
items' titles and owners and the registration data the reports count (age band, sex,
disability, area, intake concern), and says who gave that consent and when. A sensitive
answer never leaves, whatever the consent; without a kind, or without consent covering it,
nothing a caseworker typed leaves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from server.auth.models import User
from server.auth.permissions import require
from server.cases import case_file
from server.cases.mapping import CONTACT_KEY_PREFIX, normalize_title
from server.cases.transfers import TRANSFERRED_OUT
from server.errors import AppError

# The safety plan's date fields (``xlsforms/README.md``); its contacts, safe places and
# actions are sensitive and never leave.
SAFETY_PLAN_FIELDS = ("safety_plan_contacts", "safety_plan_safe_places", "safety_plan_actions")
SAFETY_PLAN_REVIEW = "safety_plan_review_date"
# The registration data the reports count (none identifies the child): what consent to
# share lets the summary add.
REGISTRATION_FIELDS = ("age_band", "sex", "disability", "admin1", "admin2", "intake_concern")
# A need or service of category ``other`` gets its key from the text the caseworker typed
# (``other-…``, xlsforms/README.md): the summary names it ``other`` alone.
OTHER_CODE = "other"


def summary_code(key: str | None, title: str | None) -> str | None:
    """An item's key as the summary may show it: a code from the form's lists, never text
    a caseworker typed (an ``other-…`` key, or a key the server made from the title)."""
    if not key:
        return None
    bare = key.removeprefix(CONTACT_KEY_PREFIX)
    if bare == OTHER_CODE or bare.startswith(f"{OTHER_CODE}-"):
        return OTHER_CODE
    if title and bare == normalize_title(title):
        return None
    return key


@dataclass(frozen=True)
class SummaryItem:
    kind: str
    code: str | None  # the item's choice from the form's list, never its free-text title
    due: date | None
    status: str


@dataclass(frozen=True)
class SharedItem:
    """An open plan item as consent lets it be shared: its title and owner too."""

    kind: str
    title: str
    owner: str | None
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
    agency_kind: str | None = None  # the outside agency's kind, as the transfer named it
    consent: str | None = None  # the consent in force: given, not_possible, withdrawn…
    consent_by: str | None = None
    consent_date: str | None = None
    consent_share: tuple[str, ...] = ()
    # the consent in force covers sharing with the agency's kind: what it adds
    shares: bool = False
    shared_items: tuple[SharedItem, ...] = ()
    registration: tuple[tuple[str, str], ...] = ()  # (field, value) of the reports' data


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
    props = case.properties or {}
    review = props.get(SAFETY_PLAN_REVIEW)
    kind = (out.payload.get("agency_kind") if out else None) or None
    share = tuple((case.consent_share or "").split())
    shares = bool(kind) and case.consent is not None and kind in share
    open_items = [i for i in detail.plan_items if not i.is_done]
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
            SummaryItem(i.kind, summary_code(i.key, i.title), i.due_date, i.status)
            for i in open_items
        ),
        safety_plan_updated_at=tuple(changed),
        safety_plan_review=str(review)[:10] if isinstance(review, str) and review else None,
        contact_dates=tuple(t.event_at for t in detail.timeline if t.is_contact),
        agency_kind=kind,
        consent=case.consent,
        consent_by=props.get("consent_by") if case.consent else None,
        consent_date=props.get("consent_date") if case.consent else None,
        consent_share=share,
        shares=shares,
        shared_items=tuple(
            SharedItem(i.kind, i.title, i.owner, i.due_date, i.status) for i in open_items
        )
        if shares
        else (),
        registration=tuple(
            (name, str(value))
            for name in REGISTRATION_FIELDS
            if (value := getattr(case, name)) not in (None, "")
        )
        if shares
        else (),
    )

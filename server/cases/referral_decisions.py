"""A supervisor updates a referral's state on the web, for providers who phone back
(``cases.referrals``): a ``referral`` ``CaseAction`` with an audit entry, folded by the
rebuild like every decision (``cases.decisions``), so it is in the case's history and
survives reprocessing. Flush only; callers commit.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from server.auth.models import User
from server.cases import queries
from server.cases.decisions import act, case_or_404, lock_case
from server.cases.models import CaseStatus
from server.cases.rebuild import RebuildResult
from server.cases.referrals import (
    REASON_STATES,
    REFERRAL_ACTION,
    REFERRAL_KIND,
    next_states,
    state_of,
)
from server.cases.settings import DEFAULT_SETTINGS, CaseSettings
from server.errors import AppError

REASON_MAX_LENGTH = 500


def update_referral(
    session: Session,
    case_ref: str,
    item_id: str,
    state: str,
    actor: User,
    *,
    reason: str = "",
    settings: CaseSettings = DEFAULT_SETTINGS,
) -> RebuildResult:
    """Move the referral ``item_id`` of an open case in the actor's scope to ``state``, one
    of the states that may follow its state now; a decline or a service not delivered
    needs a ``reason``. Decided under the case's lock, against its state then."""
    case = case_or_404(session, case_ref, actor, "referral.update")
    lock_case(session, case)
    session.refresh(case)
    item = queries.get_plan_item(session, case.id, item_id[:64])
    if item is None or item.kind != REFERRAL_KIND or case.status != CaseStatus.OPEN:
        raise AppError("referral.not_found", details={"case_ref": case.case_ref})
    wanted = state_of(state)
    if wanted is None or wanted not in next_states(item.status):
        raise AppError(
            "referral.bad_state",
            details={"state": state[:30], "now": item.status, "allowed": next_states(item.status)},
        )
    text = (reason or "").strip()
    if len(text) > REASON_MAX_LENGTH or (wanted in REASON_STATES and not text):
        raise AppError("referral.reason_required", details={"state": wanted.value})
    payload = {
        "item_id": item.item_id,
        "state": wanted.value,
        "state_before": item.status,
        "title": item.title[:200],
        **({"reason": text} if text else {}),
    }
    return act(session, case, REFERRAL_ACTION, payload, actor, settings)

"""The referral states and urgencies in words (``cases.referrals``), for the pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from server.cases.referrals import ReferralState

S = ReferralState
STATE_LABELS = {
    S.PLANNED: _l("Not referred yet"),
    S.REFERRED: _l("Referred"),
    S.ACKNOWLEDGED: _l("Acknowledged"),
    S.ACCEPTED: _l("Accepted"),
    S.DECLINED: _l("Declined"),
    S.STARTED: _l("Service started"),
    S.DELIVERED: _l("Delivered"),
    S.NOT_DELIVERED: _l("Not delivered"),
    S.FEEDBACK: _l("Feedback recorded"),
}
URGENCY_LABELS = {
    "immediate": _l("Immediate"),
    "urgent": _l("Urgent"),
    "routine": _l("Routine"),
}


def state_label(code: str | None) -> str:
    """A state in words; a code of no state as it is."""
    try:
        return str(STATE_LABELS[ReferralState(code or "")])
    except ValueError:
        return code or ""


def urgency_label(code: str | None) -> str:
    label = URGENCY_LABELS.get(code or "")
    return str(label) if label is not None else (code or "")

"""A case's history as its page reads it: the forms sent and the supervisors' decisions,
in one list ordered by time, each decision in words with its reason.

Decisions are stored as codes with a JSON payload (``reassign``, ``{"username": …}``);
the page shows "Reassigned the case to amina (was bo)" and "Reason: …".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask_babel import gettext

from server.cases.case_file import ActionEntry, CaseDetail, TimelineEntry
from server.cases.case_forms import CaseForms
from server.cases.models import CaseConflict
from server.submissions.filled import FilledForm
from server.web.referral_labels import state_label


@dataclass(frozen=True)
class HistoryRow:
    """One line of the case's history: a form (``entry``, with its answers as ``form``
    shows them), a decision (``decision``), or a conflict two edits made (``decision``
    says what, ``is_conflict``)."""

    at: datetime
    by: str | None
    entry: TimelineEntry | None = None
    decision: str = ""
    reason: str = ""
    form: FilledForm | None = None
    is_conflict: bool = False
    notes: tuple[str, ...] = ()  # a form's line: a failed attempt, a worker's safety


def _(text: str, **values: Any) -> str:
    return str(gettext(text, **values))


def _none(value: Any) -> str:
    return str(value) if value not in (None, "") else _("no one")


def decision_text(kind: str, payload: dict[str, Any], forms: CaseForms | None = None) -> str:
    """What a supervisor decided, in words (an unknown kind: its code, readable);
    ``forms`` names a case field and its values as the forms do."""
    if kind == "reassign":
        before = payload.get("username_before")
        if "username_before" in payload and before != payload.get("username"):
            return _(
                "Reassigned the case to %(name)s (was %(before)s)",
                name=_none(payload.get("username")),
                before=_none(before),
            )
        return _("Reassigned the case to %(name)s", name=_none(payload.get("username")))
    if kind == "close":
        return _("Closed the case")
    if kind == "reopen":
        return _("Reopened the case")
    if kind == "resolve":
        return _(
            "Resolved a conflict: kept %(value)s for %(field)s",
            value=_none(_value(payload.get("field"), payload.get("value"), forms)),
            field=_field(payload.get("field") or payload.get("conflict_key") or "?", forms),
        )
    if kind == "link_submission":
        return _(
            "Linked a waiting submission sent for %(ref)s to this case",
            ref=_none(payload.get("from_ref")),
        )
    if kind == "merge_duplicate":
        return _("Merged a duplicate registration into this case")
    if kind == "register_duplicate":
        return _(
            "Registered a duplicate registration of %(ref)s as this case",
            ref=_none(payload.get("from_ref")),
        )
    if kind in ("approve", "return"):
        closure = payload.get("approval_kind") == "closure"
        name = _none(payload.get("requested_by"))
        if kind == "approve" and (
            payload.get("before_approvals") or not payload.get("approval_kind")
        ):  # migration 0014: what had taken effect before approvals were required
            if not payload.get("approval_kind"):
                return _("Recorded as approved when approvals began")
            if closure:
                return _(
                    "Recorded the closure sent by %(name)s as approved when approvals began",
                    name=name,
                )
            return _(
                "Recorded the case plan sent by %(name)s as approved when approvals began",
                name=name,
            )
        if kind == "approve":
            if closure:
                return _("Approved the closure sent by %(name)s", name=name)
            return _("Approved the case plan sent by %(name)s", name=name)
        if closure:
            return _("Returned the closure sent by %(name)s", name=name)
        return _("Returned the case plan sent by %(name)s", name=name)
    if kind == "transfer_request":
        if payload.get("username"):
            return _(
                "Asked to transfer the case to %(name)s (team %(team)s)",
                name=_none(payload.get("username")),
                team=_none(payload.get("to_team")),
            )
        return _("Asked to transfer the case to team %(team)s", team=_none(payload.get("to_team")))
    if kind == "transfer_accept":
        return _(
            "Accepted the transfer: the case moved to %(name)s (team %(team)s, was %(before)s)",
            name=_none(payload.get("username")),
            team=_none(payload.get("to_team")),
            before=_none(payload.get("username_before")),
        )
    if kind == "transfer_decline":
        return _(
            "Declined the transfer to team %(team)s; the case stays where it was",
            team=_none(payload.get("to_team")),
        )
    if kind == "transfer_out":
        return _(
            "Transferred the case to %(agency)s, outside the system, and closed it as transferred",
            agency=_none(payload.get("agency")),
        )
    if kind == "referral":
        return _(
            "Updated the referral %(title)s: %(before)s, now %(state)s",
            title=_none(payload.get("title")),
            before=state_label(payload.get("state_before")),
            state=state_label(payload.get("state")),
        )
    if kind == "rename":
        return _(
            "Renumbered the case from %(old)s to %(new)s",
            old=_none(payload.get("from_ref")),
            new=_none(payload.get("to_ref")),
        )
    return kind.replace("_", " ").capitalize()


def attempt_text(reason: str) -> str:
    """A failed attempt at contact, in words (an unknown reason: its code, readable)."""
    reasons = {
        "no_answer": _("no answer"),
        "child_not_present": _("child not present"),
        "unsafe_to_talk": _("unsafe to talk"),
    }
    return _(
        "Attempted contact: %(reason)s",
        reason=reasons.get(reason) or reason.replace("_", " "),
    )


def entry_notes(entry: TimelineEntry) -> list[str]:
    """What a form's line says beyond the fields it changed: a failed attempt (not a
    contact), and a caseworker who did not feel safe."""
    notes = []
    if entry.attempt:
        notes.append(attempt_text(entry.attempt))
    if entry.worker_unsafe:
        notes.append(_("The caseworker did not feel safe; the supervisor is alerted"))
    return notes


def _field(name: str, forms: CaseForms | None) -> str:
    return forms.field_label(name) if forms is not None else name


def _value(name: Any, value: Any, forms: CaseForms | None) -> Any:
    return forms.field_value(str(name), value) if forms is not None and name else value


def _decision_row(action: ActionEntry, forms: CaseForms | None) -> HistoryRow:
    reason = action.payload.get("reason") or action.payload.get("comment")
    return HistoryRow(
        at=action.at,
        by=action.actor,
        decision=decision_text(action.kind, action.payload, forms),
        reason=str(reason) if reason else "",
    )


def _conflict_row(conflict: CaseConflict, forms: CaseForms | None) -> HistoryRow:
    values = [
        _(
            "%(value)s (%(user)s)",
            value=_none(_value(conflict.field, c.get("value"), forms)),
            user=_none(c.get("user")),
        )
        for c in conflict.candidates
    ]
    return HistoryRow(
        at=conflict.detected_at,
        by=None,
        decision=_(
            "Two edits changed %(field)s differently: %(values)s",
            field=_field(conflict.field, forms),
            values=" / ".join(values),
        ),
        is_conflict=True,
    )


def case_history(detail: CaseDetail, forms: CaseForms | None = None) -> list[HistoryRow]:
    """The forms and the decisions, oldest first (a form before a decision at the same
    time: the decision was taken on what the form had said); each form with its filled
    form when ``forms`` has it."""
    filled = forms.filled if forms is not None else {}
    rows = [
        (
            e.event_at,
            0,
            i,
            HistoryRow(
                at=e.event_at,
                by=e.submitter,
                entry=e,
                form=filled.get(e.submission_id),
                notes=tuple(entry_notes(e)),
            ),
        )
        for i, e in enumerate(detail.timeline)
    ]
    rows += [(a.at, 1, i, _decision_row(a, forms)) for i, a in enumerate(detail.actions)]
    rows += [
        (c.detected_at, 1, -1 - i, _conflict_row(c, forms)) for i, c in enumerate(detail.conflicts)
    ]
    return [row for *_key, row in sorted(rows, key=lambda r: r[:3])]

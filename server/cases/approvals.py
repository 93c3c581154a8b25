"""Which submissions need a supervisor's approval, and where a case's approval stands.
Pure: the merge (``cases.merge``) asks it while folding a case's updates.

* A **closure** (a contact log or conference whose ``close`` answer is ``yes``) takes effect
  only once a supervisor approves it; until then, or when it is returned, the case stays
  open (and open on the phones).
* A **case plan** (new or revised) that leaves the case at high risk is applied as it comes
  (the case must work on the phones at once) and waits for a supervisor's approval.

Both rules are settings (``CaseSettings.approve_closure`` and
``approve_high_risk_plan``, on by default; ``CASEWORK_APPROVE_CLOSURE`` and
``CASEWORK_APPROVE_HIGH_RISK_PLAN``). A supervisor's decision is a ``CaseAction`` of kind
``approve`` or ``return`` whose payload names the submission (``instance_id``), with a
comment. The case's approval is ``pending`` while any submission that needs it is not
decided (the earliest such is the one shown), else the decision on the latest one
(``approved`` or ``returned``), else none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from server.cases.mapping import CaseUpdate

DECISION_KINDS = ("approve", "return")
PENDING, APPROVED, RETURNED = "pending", "approved", "returned"
CLOSURE, PLAN = "closure", "plan"
# The most of a return's comment the case (and so the phone's case list, ``approval_comment``)
# keeps: enough to say why; the whole comment stays with the decision and in the history.
APPROVAL_COMMENT_MAX_LENGTH = 500


class _Action(Protocol):
    """A supervisor's action as the merge holds it (``merge.ActionRecord``)."""

    @property
    def kind(self) -> str: ...

    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class ApprovalRules:
    closure: bool = False
    high_risk_plan: bool = False


@dataclass(frozen=True)
class ApprovalState:
    """Where the case's approval stands: ``status`` pending, approved or returned; the
    submission it is about (``instance_id``), what it asks (``kind``: closure or plan) and
    who sent it (``requested_by``, who may not approve it)."""

    status: str
    kind: str
    instance_id: str
    requested_by: str | None
    # why it was returned (bounded: ``APPROVAL_COMMENT_MAX_LENGTH``); none otherwise
    comment: str | None = None


class ApprovalTracker:
    """Folded along with the case: told of each update, answers whether a closure closes."""

    def __init__(self, rules: ApprovalRules, actions: Iterable[_Action]) -> None:
        self.rules = rules
        self.decisions: dict[str, str] = {}
        self.comments: dict[str, str] = {}
        for a in actions:  # in time order: the last decision on a submission stands
            if a.kind in DECISION_KINDS and a.payload.get("instance_id"):
                self.decisions[str(a.payload["instance_id"])] = a.kind
                self.comments[str(a.payload["instance_id"])] = str(a.payload.get("comment") or "")
        self.asked: list[tuple[CaseUpdate, str]] = []

    def closes(self, u: CaseUpdate) -> bool:
        """Whether the update's closure takes effect."""
        return not self.rules.closure or self.decisions.get(u.instance_id) == "approve"

    def note(self, u: CaseUpdate, risk_after: Any) -> None:
        """Record what the update asks a supervisor to approve (if anything), given the
        case's risk level once it is applied."""
        if u.close and self.rules.closure:
            self.asked.append((u, CLOSURE))
        elif self.rules.high_risk_plan and u.is_plan and risk_after == "high":
            self.asked.append((u, PLAN))

    def state(self, *, closed: bool = False) -> ApprovalState | None:
        """Where the approval stands once every update is folded in; ``closed``: the case
        ended closed (a supervisor closed it), so a closure still waiting is moot."""
        undecided = [
            (u, k)
            for u, k in self.asked
            if u.instance_id not in self.decisions and not (closed and k == CLOSURE)
        ]
        if undecided:
            u, kind = undecided[0]
            return ApprovalState(PENDING, kind, u.instance_id, u.submitter)
        decided = [(u, k) for u, k in self.asked if u.instance_id in self.decisions]
        if not decided:
            return None
        u, kind = decided[-1]
        if self.decisions[u.instance_id] == "approve":
            return ApprovalState(APPROVED, kind, u.instance_id, u.submitter)
        comment = bounded_comment(self.comments.get(u.instance_id, ""))
        return ApprovalState(RETURNED, kind, u.instance_id, u.submitter, comment)


def bounded_comment(text: str) -> str | None:
    """A return's comment as the case keeps it: whitespace runs as one space (a phone's
    note shows one line), at most :data:`APPROVAL_COMMENT_MAX_LENGTH` characters, cut at a
    word with an ellipsis when longer; none when blank."""
    flat = " ".join(text.split())
    if not flat:
        return None
    if len(flat) <= APPROVAL_COMMENT_MAX_LENGTH:
        return flat
    cut = flat[: APPROVAL_COMMENT_MAX_LENGTH - 1]
    space = cut.rfind(" ")
    return (cut[:space] if space > APPROVAL_COMMENT_MAX_LENGTH // 2 else cut) + "…"

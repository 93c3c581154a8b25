"""Where a case's transfer stands. Pure: the merge (``cases.merge``) folds a case's
supervisor actions through it.

A supervisor of the case's team (or an admin) asks for a transfer to another caseworker or
team (``transfer_request``, a ``CaseAction`` whose payload says to whom and why); the
receiving team's supervisor, or an admin, accepts it (``transfer_accept``, which names the
caseworker who holds the case from then on, as a reassignment does) or declines it with a
reason (``transfer_decline``: the case stays where it was). A transfer to an agency outside
the system (``transfer_out``) hands over a summary and closes the case as transferred.
A case conference that decides on a transfer asks for one from the phone (a
``transfer_request`` naming the conference's ``instance_id``): to a caseworker or team as a
supervisor would, or to an outside agency, which then waits for the supervisor of the
case's own team (the receiving team of such a request) to accept it (``transfer_out``) or
decline it. The one who asked, or an admin, may withdraw a pending transfer with a reason
(``transfer_withdraw``: nothing moves).

The case's transfer is the latest of these: ``pending`` (requested, not yet answered),
``accepted``, ``declined``, ``withdrawn`` or ``out`` (to an outside agency), with what it
is to (``kind``: caseworker, team or agency), the receiving team, the caseworker or agency
asked for, who asked and the reason given last.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

REQUEST, ACCEPT, DECLINE, OUT, WITHDRAW = (
    "transfer_request",
    "transfer_accept",
    "transfer_decline",
    "transfer_out",
    "transfer_withdraw",
)
KINDS = (REQUEST, ACCEPT, DECLINE, OUT, WITHDRAW)
PENDING, ACCEPTED, DECLINED, TRANSFERRED_OUT = "pending", "accepted", "declined", "out"
WITHDRAWN = "withdrawn"
# What a transfer is to.
TO_CASEWORKER, TO_TEAM, TO_AGENCY = "caseworker", "team", "agency"
# The closure reason of a case handed over to an agency outside the system.
CLOSURE_TRANSFERRED = "transferred"


class _Action(Protocol):
    """A supervisor's action as the merge holds it (``merge.ActionRecord``)."""

    @property
    def kind(self) -> str: ...

    @property
    def actor(self) -> str | None: ...

    @property
    def payload(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class TransferState:
    """``status`` pending, accepted, declined or out; ``team`` the receiving team (none for
    an outside agency); ``to`` the caseworker asked for, or the agency; ``requested_by``
    the supervisor who asked; ``reason`` the last reason given (the decline's, once
    declined)."""

    status: str
    team: str | None
    to: str | None
    requested_by: str | None
    reason: str | None
    kind: str | None = None  # caseworker, team or agency


def request_kind(payload: dict[str, Any]) -> str:
    """What a ``transfer_request`` is to: an agency, a caseworker or a team."""
    if payload.get("agency"):
        return TO_AGENCY
    return TO_CASEWORKER if payload.get("to_username") or payload.get("username") else TO_TEAM


def transfer_state(actions: Iterable[_Action]) -> TransferState | None:
    """The case's transfer after its actions (in time order); none if it was never asked."""
    state: TransferState | None = None
    for a in actions:
        p = a.payload
        if a.kind == REQUEST:
            kind = request_kind(p)
            to = p.get("agency") or p.get("to_username") or p.get("username") or None
            state = TransferState(PENDING, p.get("to_team"), to, a.actor, p.get("reason"), kind)
        elif a.kind == OUT:
            requested_by = p.get("requested_by") or a.actor
            state = TransferState(
                TRANSFERRED_OUT, None, p.get("agency"), requested_by, p.get("reason"), TO_AGENCY
            )
        elif state is not None and state.status == PENDING and a.kind in (ACCEPT, DECLINE):
            status = ACCEPTED if a.kind == ACCEPT else DECLINED
            reason = p.get("reason") if a.kind == DECLINE else state.reason
            to = p.get("username") or state.to
            state = TransferState(status, state.team, to, state.requested_by, reason, state.kind)
        elif state is not None and state.status == PENDING and a.kind == WITHDRAW:
            state = TransferState(
                WITHDRAWN, state.team, state.to, state.requested_by, p.get("reason"), state.kind
            )
    return state

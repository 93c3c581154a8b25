"""Where a case's transfer stands, folded from its supervisor actions (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

from server.cases.merge import ActionRecord
from server.cases.transfers import TransferState, transfer_state


def _a(i: int, kind: str, actor: str = "sup", **payload: str) -> ActionRecord:
    return ActionRecord(i, kind, datetime(2026, 12, 1, 9, i, tzinfo=UTC), actor, payload)


def test_no_transfer_asked_is_none() -> None:
    assert transfer_state([_a(1, "reassign", username="cw2")]) is None


def test_a_request_is_pending_then_accepted_with_the_holder_named() -> None:
    asked = _a(1, "transfer_request", to_team="south", reason="Moved")
    assert transfer_state([asked]) == TransferState(
        "pending", "south", None, "sup", "Moved", "team"
    )
    accepted = _a(2, "transfer_accept", "sup-south", username="cw2", to_team="south")
    assert transfer_state([asked, accepted]) == TransferState(
        "accepted", "south", "cw2", "sup", "Moved", "team"
    )


def test_a_decline_keeps_its_reason_and_a_later_answer_changes_nothing() -> None:
    asked = _a(1, "transfer_request", username="cw2", to_team="south", reason="Moved")
    declined = _a(2, "transfer_decline", "sup-south", reason="Caseload full")
    late = _a(3, "transfer_accept", "admin1", username="cw2")
    state = TransferState("declined", "south", "cw2", "sup", "Caseload full", "caseworker")
    assert transfer_state([asked, declined]) == state
    assert transfer_state([asked, declined, late]) == state


def test_an_outside_transfer_names_the_agency() -> None:
    out = _a(1, "transfer_out", agency="District social welfare", reason="Out of area")
    assert transfer_state([out]) == TransferState(
        "out", None, "District social welfare", "sup", "Out of area", "agency"
    )


def test_a_withdrawn_request_keeps_the_withdrawal_s_reason_and_nothing_answers_it() -> None:
    asked = _a(1, "transfer_request", username="cw2", to_team="south", reason="Moved")
    withdrawn = _a(2, "transfer_withdraw", reason="The family stays")
    late = _a(3, "transfer_accept", "sup-south", username="cw2")
    state = TransferState("withdrawn", "south", "cw2", "sup", "The family stays", "caseworker")
    assert transfer_state([asked, withdrawn]) == state
    assert transfer_state([asked, withdrawn, late]) == state
    again = _a(4, "transfer_request", to_team="east", reason="Closer")
    assert transfer_state([asked, withdrawn, again]).status == "pending"  # type: ignore[union-attr]


def test_a_conference_s_request_to_an_agency_waits_then_goes_out() -> None:
    asked = _a(
        1, "transfer_request", "cw1", agency="Welfare office", to_team="north", reason="Statutory"
    )
    assert transfer_state([asked]) == TransferState(
        "pending", "north", "Welfare office", "cw1", "Statutory", "agency"
    )
    out = _a(2, "transfer_out", agency="Welfare office", reason="Statutory", requested_by="cw1")
    assert transfer_state([asked, out]) == TransferState(
        "out", None, "Welfare office", "cw1", "Statutory", "agency"
    )

"""The consent in force and its history, folded with the case, and the referrals it does
not cover (``cases.consent``). Pure."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from server.cases.consent import ConsentState, is_held, share_kinds
from server.cases.mapping import CaseUpdate
from server.cases.merge import CaseState, build_case
from tests.cases.test_merge import TODAY, reg, upd


def build(updates: list[CaseUpdate]) -> CaseState:
    return build_case(updates, [], today=TODAY, default_frequency_days=14, review_interval_days=90)


def change(iid: str, when: str, kind: str, share: str, base: int = 1) -> CaseUpdate:
    return upd(
        iid,
        when,
        base=base,
        properties={
            "consent_change": kind,
            "consent_by": "caregiver",
            "consent_share": share,
            "consent_services": "yes",
            "consent_date": when[:10],
        },
        event_fields=("consent_change", "consent_date"),
    )


GIVEN = reg(
    consent_by="child_and_caregiver",
    consent_services="yes",
    consent_share="health education",
    consent_date="2024-05-01",
)


def test_given_withdrawn_and_extended_in_event_order_whatever_the_arrival() -> None:
    updates = [
        GIVEN,
        change("w", "2024-05-10 10:00", "withdraw", "education", base=1),
        change("e", "2024-05-20 10:00", "extend", "education police", base=2),
    ]
    for order in itertools.permutations(updates):
        consent = build(list(order)).consent
        assert consent is not None
        assert (consent.status, consent.share, consent.by) == (
            "extended",
            ("education", "police"),
            "caregiver",
        )
        assert [(e.change, e.share, e.instance_id) for e in consent.history] == [
            ("given", ("health", "education"), "uuid:reg"),
            ("withdrawn", ("education",), "w"),
            ("extended", ("education", "police"), "e"),
        ]
        assert consent.share_text == "education police"


def test_no_consent_recorded_and_consent_not_possible() -> None:
    assert build([reg()]).consent is None
    state = build(
        [reg(consent_by="not_possible", consent_reason="immediate_danger", consent_share="police")]
    )
    assert state.consent is not None
    assert (state.consent.status, state.consent.reason, state.consent.share) == (
        "not_possible",
        "immediate_danger",
        ("police",),
    )
    # "none", and words that are not kinds, name no agency
    assert share_kinds("none") == ()
    assert share_kinds("army health") == ("health",)


@dataclass(frozen=True)
class Item:
    kind: str = "service"
    is_done: bool = False
    properties: dict[str, Any] = field(default_factory=dict)


def test_which_referrals_are_held() -> None:
    consent = ConsentState("given", "child", None, "yes", ("health",), "2024-05-01", ())
    directory = {"clinic": ("health", False), "police": ("police", False), "ours": ("ngo", True)}
    assert not is_held(Item(properties={"service": "clinic"}), consent, directory)
    assert is_held(Item(properties={"health_service": "police"}), consent, directory)
    assert is_held(Item(properties={"service": "clinic"}), None, directory)  # none recorded
    assert not is_held(Item(properties={"service": "ours"}), None, directory)  # our own
    assert not is_held(Item(is_done=True, properties={"service": "police"}), consent, directory)
    assert not is_held(Item(properties={"service": "unknown"}), consent, directory)
    assert not is_held(Item(properties={}), consent, directory)  # typed in free text
    assert not is_held(Item(kind="need", properties={"service": "police"}), consent, directory)


def test_a_withdrawal_is_not_undone_by_an_extension_that_never_saw_it() -> None:
    """Offline, one phone withdraws consent to share with health services; another, that
    had not seen the withdrawal, extends consent to the police a little later (the list it
    started from still named health). Both changed the kinds from one version: a conflict
    for a supervisor. Until it is resolved, the consent in force shares only with the kinds
    both name: health stays withdrawn (and the police wait for the supervisor), whatever
    the order of arrival."""
    updates = [
        GIVEN,
        change("w", "2024-05-10 10:00", "withdraw", "education", base=1),
        change("e", "2024-05-20 10:00", "extend", "health education police", base=1),
    ]
    for order in itertools.permutations(updates):
        state = build(list(order))
        assert "consent_share" in state.in_conflict
        assert state.consent is not None
        assert "health" not in state.consent.share
        assert state.consent.share == ("education",)

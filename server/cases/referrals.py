"""Referrals followed to delivery: the states a service of the plan goes through, and when
each next state is due. Pure: no Flask, no database.

A referral is a plan item of kind ``service`` (the case plan's services, the contact log's
health referrals). Its state is the item's status, one of :class:`ReferralState`:

    planned -> referred -> acknowledged -> accepted or declined (reason)
            -> service started (``in_progress``) -> delivered, or not delivered (reason)
            -> feedback recorded

The merge (``cases.merge``) notes when each state was reached (the event time of the
submission, or the time of the supervisor's decision, that set it), with who set it and
the reason given. The next state is due a number of days after the current one was
reached, by the referral's urgency (the ``urgency`` answer: immediate, urgent, routine;
routine when it says none): :class:`ReferralRules`, from ``CASEWORK_REFERRAL_DUE``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from enum import StrEnum
from typing import Any

REFERRAL_KIND = "service"
# A supervisor's update of a referral's state (a ``CaseAction`` kind):
# ``{"item_id", "state", "reason"}``.
REFERRAL_ACTION = "referral"


class ReferralState(StrEnum):
    PLANNED = "planned"
    REFERRED = "referred"
    ACKNOWLEDGED = "acknowledged"
    ACCEPTED = "accepted"
    DECLINED = "declined"
    STARTED = "in_progress"  # "service started"; the code the forms always used
    DELIVERED = "delivered"
    NOT_DELIVERED = "not_delivered"
    FEEDBACK = "feedback"


S = ReferralState
# The states that may follow each one, the expected one first (its due time is the state's).
NEXT_STATES: dict[ReferralState, tuple[ReferralState, ...]] = {
    S.PLANNED: (S.REFERRED,),
    S.REFERRED: (S.ACKNOWLEDGED, S.DECLINED),
    S.ACKNOWLEDGED: (S.ACCEPTED, S.DECLINED),
    S.ACCEPTED: (S.STARTED,),
    S.STARTED: (S.DELIVERED, S.NOT_DELIVERED),
    S.DELIVERED: (S.FEEDBACK,),
    S.NOT_DELIVERED: (S.FEEDBACK,),
    S.DECLINED: (),
    S.FEEDBACK: (),
}
# States that need a reason (declined, not delivered).
REASON_STATES = frozenset({S.DECLINED, S.NOT_DELIVERED})
URGENCIES = ("immediate", "urgent", "routine")
DEFAULT_URGENCY = "routine"
# Days from reaching a state to the next one being due, by urgency and by the next state.
DEFAULT_DUE_DAYS: dict[str, dict[str, int]] = {
    "immediate": {
        "referred": 1,
        "acknowledged": 2,
        "accepted": 3,
        "in_progress": 3,
        "delivered": 14,
        "feedback": 7,
    },
    "urgent": {
        "referred": 3,
        "acknowledged": 5,
        "accepted": 7,
        "in_progress": 7,
        "delivered": 30,
        "feedback": 14,
    },
    "routine": {
        "referred": 7,
        "acknowledged": 10,
        "accepted": 14,
        "in_progress": 30,
        "delivered": 90,
        "feedback": 30,
    },
}


def state_of(status: str | None) -> ReferralState | None:
    """The referral state a status code names; None for a code of no state."""
    try:
        return ReferralState(status or "")
    except ValueError:
        return None


def next_states(status: str | None) -> tuple[ReferralState, ...]:
    state = state_of(status)
    return NEXT_STATES[state] if state is not None else ()


@dataclass(frozen=True)
class ReferralRules:
    """Days from one state to the next, by urgency (``CASEWORK_REFERRAL_DUE``)."""

    days: Mapping[str, Mapping[str, int]] = field(default_factory=lambda: DEFAULT_DUE_DAYS)

    def due(self, status: str | None, since: datetime | None, urgency: str | None) -> date | None:
        """When the state after ``status`` (reached at ``since``) is due; None when none
        follows or the time is unknown."""
        following = next_states(status)
        if not following or since is None:
            return None
        table = self.days.get(urgency or "") or self.days.get(DEFAULT_URGENCY) or {}
        days = table.get(following[0].value)
        if days is None:
            return None
        try:
            return since.date() + timedelta(days=days)
        except OverflowError:
            return None


DEFAULT_REFERRAL_RULES = ReferralRules()


def parse_due_setting(value: Any) -> ReferralRules:
    """``CASEWORK_REFERRAL_DUE``: a JSON object (or the dict the environment's JSON gave)
    of urgency -> {next state: days}, laid over the defaults; empty means the defaults.
    Raises ValueError on anything else, so that a mistyped setting stops the server."""
    if value in (None, ""):
        return DEFAULT_REFERRAL_RULES
    data = json.loads(value) if isinstance(value, str) else value
    if not isinstance(data, dict):
        raise ValueError("an object of urgency -> {state: days}")
    days = {u: dict(t) for u, t in DEFAULT_DUE_DAYS.items()}
    for urgency, table in data.items():
        if urgency not in URGENCIES:
            raise ValueError(f"{str(urgency)[:40]!r} is not an urgency (one of {URGENCIES})")
        if not isinstance(table, dict):
            raise ValueError(f"{urgency!r}: an object of state -> days")
        for state, n in table.items():
            if state_of(state) is None or state == S.PLANNED:
                raise ValueError(f"{urgency!r}: {state!r} is not a referral state")
            if isinstance(n, bool) or not isinstance(n, int) or not 0 <= n <= 3660:
                raise ValueError(f"{urgency!r}.{state}: a whole number of days")
            days[urgency][state] = n
    return ReferralRules(days=days)


@dataclass(frozen=True)
class StateStep:
    """One state a referral reached: when, who set it (a username), from which submission
    (None: a supervisor's decision), and the reason given."""

    state: str
    at: datetime
    by: str | None = None
    instance_id: str | None = None
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "state": self.state,
            "at": self.at.isoformat(),
            "by": self.by,
            "instance_id": self.instance_id,
            "reason": self.reason,
        }


@dataclass(frozen=True)
class Referral:
    """A referral's state now, derived by the merge."""

    since: datetime | None  # when the current state was reached
    due: date | None  # when the next state is due (None: nothing follows)
    urgency: str
    reason: str | None  # the reason of the current state (declined, not delivered)
    service_id: str | None  # the directory service referred to
    acknowledged_hours: int | None  # from referred to acknowledged
    steps: tuple[StateStep, ...]


def referral_of(
    status: str,
    steps: list[StateStep],
    properties: Mapping[str, Any],
    rules: ReferralRules,
) -> Referral:
    urgency = str(properties.get("urgency") or "").strip().lower()
    if urgency not in rules.days:
        urgency = DEFAULT_URGENCY
    current = steps[-1] if steps and steps[-1].state == status else None
    since = current.at if current else None
    referred = next((s.at for s in reversed(steps) if s.state == S.REFERRED), None)
    acknowledged = next((s.at for s in steps if s.state == S.ACKNOWLEDGED), None)
    hours = None
    if referred is not None and acknowledged is not None and acknowledged >= referred:
        hours = int((acknowledged - referred).total_seconds() // 3600)
    service = properties.get("service") or properties.get("health_service")
    return Referral(
        since=since,
        due=rules.due(status, since, urgency),
        urgency=urgency,
        reason=current.reason if current else None,
        service_id=str(service)[:64] if service else None,
        acknowledged_hours=hours,
        steps=tuple(steps),
    )


class ReferralTracker:
    """Folded along with the case (``cases.merge``): told of each plan item's status as it
    changes, it keeps the states each item reached (a referral's steps), and derives the
    referral once the fold is done."""

    def __init__(self, rules: ReferralRules) -> None:
        self.rules = rules
        self.steps: dict[str, list[StateStep]] = {}

    def note(self, item_id: str, state: Any, prov: Mapping[str, Any], reason: str | None) -> None:
        """The item's status changed to ``state``: when (the event time of the submission,
        or the time of the supervisor's decision, that set it), by whom and why, from the
        change's provenance."""
        step = StateStep(
            state=str(state),
            at=datetime.fromisoformat(prov["at"]),
            by=prov.get("user"),
            instance_id=prov.get("instance_id"),
            reason=reason or None,
        )
        self.steps.setdefault(item_id, []).append(step)

    def referral(self, item_id: str, status: str, properties: Mapping[str, Any]) -> Referral:
        """The referral state of the service item ``item_id``, its status now ``status``."""
        return referral_of(status, self.steps.get(item_id, []), properties, self.rules)

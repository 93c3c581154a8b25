"""All of a case's contributions -> CaseState. Pure and deterministic.

The case is never patched in place: it is folded again from the whole *set* of its inputs
(submission updates and supervisor actions), sorted by (time, kind, id). So the order in
which delayed offline submissions reach the server cannot change the result, and a resend
of the same submission counts once.

What an update changes is decided against the case as its phone saw it: the value of each
field at the update's ``base_version``. An answer that repeats that value is no change (a
default left alone, a risk level confirmed), so it neither overwrites a concurrent change
nor makes a conflict. The server keeps no copy of each version, so the case at version B
is taken as the fold of every update that could have been part of it: those without a base
version (the registration) and those that started from an earlier version than B (an
update becomes part of the version after the one it started from, at the earliest). An
offline update that reached the server after version B was made is thereby counted as if
it had been in it.

Conflicts are found across the set, not along the fold: two submissions that started from
the same case version and both changed the same field, to different values. The fold still
picks the latest change, flagged as in conflict, until a ``resolve`` action chooses one; a
later ordinary update after the resolution wins as usual.

Event fields (``CaseUpdate.event_fields``: how this contact took place, the next contact or
review date set at it; the due date and status of the care plan's review) are not a state of
the case but a record of the event: every event sets them, the latest by event time wins,
and they never conflict.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import groupby
from typing import Any

from server.cases import schedule
from server.cases.approvals import ApprovalRules, ApprovalState, ApprovalTracker
from server.cases.consent import ConsentState, ConsentTracker, shares_in_conflict
from server.cases.mapping import CARE_PLAN_REVIEW, CaseUpdate, ItemUpdate
from server.cases.models import CaseStatus
from server.cases.referrals import (
    DEFAULT_REFERRAL_RULES,
    REFERRAL_ACTION,
    REFERRAL_KIND,
    Referral,
    ReferralRules,
    ReferralTracker,
)
from server.cases.transfers import ACCEPT, OUT, TransferState, transfer_state

NO_APPROVALS = ApprovalRules()
DONE_STATUSES = frozenset(
    {
        "delivered",
        "done",
        "completed",
        "closed",
        "cancelled",
        "declined",
        "not_delivered",
        "feedback",
    }
)
ACTION_KINDS = ("reassign", "resolve", "close", "reopen")
_ITEM_FIELDS = ("title", "owner", "due", "status")

# Within one instant, submissions fold before supervisor actions: a supervisor decides
# after seeing what arrived.
_UPDATE, _ACTION = 0, 1


@dataclass(frozen=True)
class ActionRecord:
    """A supervisor's decision (a ``CaseAction`` row) as the merge sees it.

    ``resolve`` payload: ``{"conflict_key", "value"}``; ``reassign``: ``{"username"}``;
    ``close`` / ``reopen``: ``{}``. Other kinds are kept for the record and ignored here.
    """

    action_id: int
    kind: str
    at: datetime
    actor: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ItemState:
    item_id: str
    kind: str
    key: str | None  # what makes it the same item in the next plan (None: its title)
    title: str
    owner: str | None
    due: date | None
    status: str
    is_done: bool
    is_overdue: bool
    properties: dict[str, Any]
    provenance: dict[str, Any]
    referral: Referral | None = None  # a service: its referral state (``cases.referrals``)
    # a referral the consent in force does not cover (``cases.consent``), set by the
    # rebuild once it knows the directory's agencies
    held: bool = False


@dataclass(frozen=True)
class ConflictState:
    key: str  # f"{field}@{base_version}"
    field: str  # a property name, or "item:<item_id>:<field>"
    base_version: int
    candidates: tuple[dict[str, Any], ...]  # {"value", "instance_id", "user", "at"}
    resolved_value: Any = None
    resolved_by: str | None = None
    resolved_at: datetime | None = None

    @property
    def is_resolved(self) -> bool:
        return self.resolved_at is not None


@dataclass(frozen=True)
class CaseState:
    """Everything the Case, PlanItem and CaseConflict rows hold, derived from the inputs."""

    case_ref: str
    status: CaseStatus
    caseworker: str | None
    risk_level: str | None
    contact_frequency_days: int | None
    opened_at: datetime | None
    closed_at: datetime | None
    last_contact_at: datetime | None
    next_contact_due: date | None
    last_review_at: datetime | None
    review_due: date | None
    properties: dict[str, Any]
    provenance: dict[str, Any]
    items: tuple[ItemState, ...]
    conflicts: tuple[ConflictState, ...]
    in_conflict: tuple[str, ...]  # fields whose current value awaits a supervisor
    overdue_items: tuple[str, ...]  # item ids
    approval: ApprovalState | None = None  # ``cases.approvals``
    transfer: TransferState | None = None  # ``cases.transfers``
    consent: ConsentState | None = None  # ``cases.consent``

    @property
    def is_closed(self) -> bool:
        return self.status == CaseStatus.CLOSED

    @property
    def open_conflicts(self) -> int:
        return sum(1 for c in self.conflicts if not c.is_resolved)


def dedupe(updates: Iterable[CaseUpdate]) -> list[CaseUpdate]:
    """One update per instance id; a resend of the same submission counts once.

    If two different updates claim one instance id (it should not happen), the choice
    does not depend on the order they came in.
    """
    chosen: dict[str, CaseUpdate] = {}
    for u in updates:
        held = chosen.get(u.instance_id)
        if held is None or (held != u and _canonical(u) < _canonical(held)):
            chosen[u.instance_id] = u
    return sorted(chosen.values(), key=lambda u: (u.event_at, u.instance_id))


def _canonical(u: CaseUpdate) -> str:
    return json.dumps(u.to_json(), sort_keys=True, default=str)


def build_case(
    updates: Iterable[CaseUpdate],
    actions: Iterable[ActionRecord],
    *,
    today: date,
    default_frequency_days: int,
    review_interval_days: int,
    approvals: ApprovalRules = NO_APPROVALS,
    referrals: ReferralRules = DEFAULT_REFERRAL_RULES,
) -> CaseState:
    """Fold a case's updates and actions into its state (``approvals``: which updates wait
    for a supervisor, ``cases.approvals``; ``referrals``: when each referral's next state
    is due, ``cases.referrals``).

    A pure function of the *set* of inputs: any permutation, with any resends mixed in,
    gives an equal CaseState.
    """
    ups = dedupe(updates)
    acts = sorted({a.action_id: a for a in actions}.values(), key=lambda a: (a.at, a.action_id))
    changes = _changes(ups)
    conflicts = _find_conflicts(ups, changes)
    resolutions = _resolutions(acts, {c.key for c in conflicts})
    timeline: list[tuple[datetime, int, str, CaseUpdate | ActionRecord]] = [
        (u.event_at, _UPDATE, u.instance_id, u) for u in ups
    ]
    # A resolution settles its conflict whatever the devices' clocks said: it takes effect
    # no earlier than the latest of the submissions it chose between.
    event_at = {u.instance_id: u.event_at for u in ups}
    settles_at = {
        c.key: max(
            event_at[cand["instance_id"]]
            for cand in c.candidates
            if cand.get("instance_id") in event_at
        )
        for c in conflicts
        if any(cand.get("instance_id") in event_at for cand in c.candidates)
    }

    def effective_at(a: ActionRecord) -> datetime:
        if a.kind == "resolve" and a.payload.get("conflict_key") in settles_at:
            return max(a.at, settles_at[a.payload["conflict_key"]])
        return a.at

    timeline += [(effective_at(a), _ACTION, f"{a.action_id:012d}", a) for a in acts]
    timeline.sort(key=lambda t: (t[0], t[1], t[2]))

    fold = _Fold(ApprovalTracker(approvals, acts), referrals)
    for _, _, _, event in timeline:
        if isinstance(event, CaseUpdate):
            fold.apply_update(event, changes[event.instance_id])
        else:
            fold.apply_action(event, conflicts)

    resolved = tuple(
        ConflictState(
            key=c.key,
            field=c.field,
            base_version=c.base_version,
            candidates=c.candidates,
            resolved_value=resolutions[c.key].payload.get("value"),
            resolved_by=resolutions[c.key].actor,
            resolved_at=resolutions[c.key].at,
        )
        if c.key in resolutions
        else c
        for c in conflicts
    )
    in_conflict = sorted(
        {c.field for c in resolved if not c.is_resolved and fold.set_after(c.field)}
    )
    return fold.state(
        ups,
        resolved,
        transfer_state(acts),
        tuple(in_conflict),
        today=today,
        default_frequency_days=default_frequency_days,
        review_interval_days=review_interval_days,
    )


def _prov(value: Any, instance_id: str | None, user: str | None, at: datetime) -> dict[str, Any]:
    return {"value": value, "instance_id": instance_id, "user": user, "at": at.isoformat()}


def _update_fields(u: CaseUpdate) -> dict[str, Any]:
    """Every field an update sets, flattened: properties, caseworker and item fields."""
    out: dict[str, Any] = dict(u.properties)
    if u.caseworker:
        out["caseworker"] = u.caseworker
    for item in u.items:
        for name, value in _item_fields(item).items():
            out[f"item:{item.item_id}:{name}"] = value
    return out


def _item_fields(item: ItemUpdate) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in _ITEM_FIELDS:
        value = getattr(item, name)
        if value is not None:
            out[name] = value.isoformat() if isinstance(value, date) else value
    for name, value in item.properties.items():
        out[f"properties.{name}"] = value
    return out


def _fingerprint(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _changes(ups: list[CaseUpdate]) -> dict[str, dict[str, Any]]:
    """instance id -> the fields the update changes, with their values.

    An update without a base version changes every field it sets. Any other update changes
    its event fields, and each field whose value differs from the field's value in the case
    at its base version (see the module docstring): the latest change, by event time, among
    the updates that started from an earlier version or from none.
    """
    out: dict[str, dict[str, Any]] = {}
    # field -> ((event time, instance id), value) of the latest change seen so far
    latest: dict[str, tuple[tuple[datetime, str], Any]] = {}
    ordered = sorted(ups, key=lambda u: (_base(u), u.event_at, u.instance_id))
    for _, same_base in groupby(ordered, key=_base):
        group = list(same_base)
        for u in group:
            fields = _update_fields(u)
            if u.base_version is None:
                out[u.instance_id] = fields
                continue
            events = _events(u)
            out[u.instance_id] = {
                name: value
                for name, value in fields.items()
                if name in events
                or name not in latest
                or _fingerprint(value) != _fingerprint(latest[name][1])
            }
        # the group is part of the versions after its base, once all of it is judged
        for u in group:
            order = (u.event_at, u.instance_id)
            for name, value in out[u.instance_id].items():
                held = latest.get(name)
                if held is None or held[0] < order:
                    latest[name] = (order, value)
    return out


def _events(u: CaseUpdate) -> set[str]:
    """The fields ``u`` sets as a record of its event: its event fields, and the care plan's
    review, which the latest care plan sets (two made offline at once are no conflict)."""
    review = [i.item_id for i in u.items if i.kind == CARE_PLAN_REVIEW]
    return set(u.event_fields) | {f"item:{i}:{n}" for i in review for n in ("due", "status")}


def _base(u: CaseUpdate) -> int:
    """The version an update started from; -1 (before every version) when it says none."""
    return -1 if u.base_version is None else u.base_version


def _find_conflicts(
    ups: list[CaseUpdate], changes: dict[str, dict[str, Any]]
) -> list[ConflictState]:
    """Fields that two updates from one base version both changed, to different values."""
    by_key: dict[tuple[str, int], list[tuple[Any, CaseUpdate]]] = {}
    for u in ups:
        if u.base_version is None:
            continue
        events = _events(u)
        for name, value in changes[u.instance_id].items():
            if name not in events:
                by_key.setdefault((name, u.base_version), []).append((value, u))
    conflicts = []
    for (name, base), entries in sorted(by_key.items()):
        if len(entries) < 2:
            continue  # the common case: only one submission changed it from this version
        values = {_fingerprint(v) for v, _ in entries}
        if len(values) > 1:
            candidates = sorted(
                (_prov(v, u.instance_id, u.submitter, u.event_at) for v, u in entries),
                key=lambda c: (c["at"], c["instance_id"]),
            )
            conflicts.append(
                ConflictState(
                    key=f"{name}@{base}",
                    field=name,
                    base_version=base,
                    candidates=tuple(candidates),
                )
            )
    return conflicts


def _resolutions(acts: list[ActionRecord], keys: set[str]) -> dict[str, ActionRecord]:
    """The last resolve action of each conflict still present."""
    out: dict[str, ActionRecord] = {}
    for a in acts:
        key = a.payload.get("conflict_key")
        if a.kind == "resolve" and key in keys:
            out[str(key)] = a
    return out


class _Fold:
    """The running state while walking the timeline. Private to this module."""

    def __init__(self, approvals: ApprovalTracker, referrals: ReferralRules) -> None:
        self.approvals = approvals
        self.referrals = ReferralTracker(referrals)
        self.consent = ConsentTracker()
        self.values: dict[str, Any] = {}
        self.provenance: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.status = CaseStatus.OPEN
        self.closed_at: datetime | None = None
        self.last_contact: CaseUpdate | None = None
        self.last_review_at: datetime | None = None
        self.registered_at: datetime | None = None
        self.first_at: datetime | None = None

    def _set(self, name: str, value: Any, prov: dict[str, Any], reason: str | None = None) -> None:
        if name.startswith("item:"):
            _, item_id, item_field = name.split(":", 2)
            item = self.items.get(item_id)
            if item is None:
                return  # a resolution for an item no update created; nothing to attach to
            if item_field == "status" and value != item["fields"].get("status"):
                # the state a referral reached, when, by whom and why (``cases.referrals``)
                self.referrals.note(item_id, value, prov, reason)
            item["fields"][item_field] = value
            item["provenance"][item_field] = prov
            return
        self.values[name] = value
        self.provenance[name] = prov

    def apply_update(self, u: CaseUpdate, changes: dict[str, Any]) -> None:
        """Fold one update in; only the fields it ``changes`` (see :func:`_changes`)."""
        if self.first_at is None:
            self.first_at = u.event_at
        if u.is_registration and self.registered_at is None:
            self.registered_at = u.event_at
        for item in u.items:
            # The kind comes from the update that made the item from its key or title; an
            # update naming the item by id (possibly an "existing items" repeat, which has
            # no kind) only fills it in until that one is seen.
            rank = 0 if item.kind and not item.is_explicit_id else (1 if item.kind else 2)
            held = self.items.get(item.item_id)
            if held is None:
                held = self.items[item.item_id] = {
                    "kind": item.kind,
                    "rank": rank,
                    "key": None,
                    "fields": {},
                    "provenance": {},
                }
            elif rank < held["rank"]:
                held["kind"], held["rank"] = item.kind, rank
            if item.key and not item.is_explicit_id:
                held["key"] = item.key
        at = u.event_at.isoformat()
        reasons = {i.item_id: i.properties.get("state_reason") for i in u.items}
        for name, value in changes.items():
            prov = {"value": value, "instance_id": u.instance_id, "user": u.submitter, "at": at}
            reason = reasons.get(name.split(":")[1]) if name.endswith(":status") else None
            self._set(name, value, prov, reason)
        self.consent.note(u, changes, self.values)
        if u.is_contact:
            self.last_contact = u
        if u.is_review:
            self.last_review_at = u.event_at
        if u.close and self.approvals.closes(u):
            self.status = CaseStatus.CLOSED
            self.closed_at = u.event_at
        self.approvals.note(u, self.values.get("risk_level"))

    def apply_action(self, a: ActionRecord, conflicts: list[ConflictState]) -> None:
        if a.kind in ("reassign", ACCEPT) and a.payload.get("username"):
            username, before = a.payload["username"], a.payload.get("username_before")
            self._set("caseworker", username, _prov(username, None, a.actor, a.at))
            for item_id, item in self.items.items():  # a transfer: the items it held follow
                if a.kind == ACCEPT and before and item["fields"].get("owner") == before:
                    self._set(
                        f"item:{item_id}:owner", username, _prov(username, None, a.actor, a.at)
                    )
        elif a.kind == "resolve":
            key = a.payload.get("conflict_key")
            match = next((c for c in conflicts if c.key == key), None)
            if match is not None:
                value = a.payload.get("value")
                self._set(
                    match.field, value, {**_prov(value, None, a.actor, a.at), "resolution": key}
                )
        elif a.kind == REFERRAL_ACTION and a.payload.get("item_id") in self.items:
            state = str(a.payload.get("state") or "")
            if state:
                name = f"item:{a.payload['item_id']}:status"
                self._set(name, state, _prov(state, None, a.actor, a.at), a.payload.get("reason"))
        elif a.kind in ("close", OUT):
            self.status = CaseStatus.CLOSED
            self.closed_at = a.at
        elif a.kind == "reopen":
            self.status = CaseStatus.OPEN
            self.closed_at = None

    def set_after(self, name: str) -> bool:
        """Whether the field's current value still comes from an update (not a resolution)."""
        if name.startswith("item:"):
            _, item_id, item_field = name.split(":", 2)
            prov = self.items.get(item_id, {}).get("provenance", {}).get(item_field)
        else:
            prov = self.provenance.get(name)
        return prov is not None and "resolution" not in prov

    def state(
        self,
        ups: list[CaseUpdate],
        conflicts: tuple[ConflictState, ...],
        transfer: TransferState | None,
        in_conflict: tuple[str, ...],
        *,
        today: date,
        default_frequency_days: int,
        review_interval_days: int,
    ) -> CaseState:
        values = self.values
        frequency = schedule.contact_frequency(values.get("contact_frequency_days"))
        last_contact_at = self.last_contact.event_at if self.last_contact else None
        opened_at = self.registered_at or self.first_at
        # when the next contact and review are due (``cases.schedule``); none once closed
        next_due = schedule.next_contact_due(
            values,
            self.provenance,
            frequency=frequency,
            last_contact_at=last_contact_at,
            opened_at=opened_at,
            default_frequency_days=default_frequency_days,
        )
        if self.status == CaseStatus.CLOSED:
            next_due = None
        review_due = schedule.review_due(
            values,
            self.provenance,
            last_review_at=self.last_review_at,
            opened_at=opened_at,
            review_interval_days=review_interval_days,
        )

        items = []
        for item_id in sorted(self.items):
            raw = self.items[item_id]
            f = raw["fields"]
            status = str(f.get("status") or "open")
            due = schedule.date_or_none(f.get("due"))
            is_done = status in DONE_STATUSES
            item_props = {
                k.removeprefix("properties."): v
                for k, v in sorted(f.items())
                if k.startswith("properties.")
            }
            items.append(
                ItemState(
                    item_id=item_id,
                    kind=raw["kind"],
                    key=raw["key"],
                    title=str(f.get("title") or ""),
                    owner=f.get("owner"),
                    due=due,
                    status=status,
                    is_done=is_done,
                    is_overdue=due is not None and due < today and not is_done,
                    properties=item_props,
                    provenance=dict(sorted(raw["provenance"].items())),
                    referral=self.referrals.referral(item_id, status, item_props)
                    if raw["kind"] == REFERRAL_KIND
                    else None,
                )
            )
        caseworker = values.get("caseworker")
        if caseworker is None:
            reg = next((u for u in ups if u.is_registration), None)
            caseworker = reg.submitter if reg else None
        properties = {k: v for k, v in sorted(values.items()) if k != "caseworker"}
        return CaseState(
            case_ref=next((u.case_ref for u in ups if u.case_ref), ""),
            status=self.status,
            caseworker=caseworker,
            risk_level=values.get("risk_level"),
            contact_frequency_days=frequency,
            opened_at=opened_at,
            closed_at=self.closed_at,
            last_contact_at=last_contact_at,
            next_contact_due=next_due,
            last_review_at=self.last_review_at,
            review_due=review_due,
            properties=properties,
            provenance=dict(sorted(self.provenance.items())),
            items=tuple(items),
            conflicts=conflicts,
            in_conflict=in_conflict,
            overdue_items=tuple(i.item_id for i in items if i.is_overdue),
            approval=self.approvals.state(closed=self.status == CaseStatus.CLOSED),
            transfer=transfer,
            # while two changes of the kinds shared from one version wait for a supervisor,
            # only the kinds both name are in force: a withdrawal is never undone unseen
            consent=self.consent.state(
                values, narrowed_by=shares_in_conflict(conflicts, in_conflict)
            ),
        )

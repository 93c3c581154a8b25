"""The consent in force on a case, its history, and the referrals it does not cover. Pure:
the merge (``cases.merge``) tells the tracker of each update as it folds, and the rebuild
asks :func:`held_referrals` once it knows the directory's agencies.

The registration (case plan) records who gave consent (the child, a caregiver, both, or
that consent was not possible, with the reason), whether they agreed to services, with
which kinds of agency information may be shared (``consent_share``, from
``services.schemas.AGENCY_KINDS``; ``none`` for none) and when. A later contact log can
withdraw or extend it (``consent_change``), giving the kinds in force from then on. These
are ordinary case fields (``casework:saveto``), merged with provenance like any other; the
tracker keeps, besides, what each submission that touched them left in force: the history.
While two changes of the kinds shared, made from one version, wait for a supervisor (a
conflict), only the kinds both name are in force.

A referral (an open service item) to a directory service of an outside agency whose kind
the consent in force does not cover is **held**: flagged for a supervisor on the case page
and the worklist. A phone's constraint refuses such a referral, so one arrives only from an
older form version, or because consent was withdrawn meanwhile; extending consent (or
closing the referral) releases it. A referral to our own agency (``internal``) shares
nothing outside and is never held; one to a provider named in free text is not in the
directory and cannot be checked.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from server.services.schemas import AGENCY_KINDS

# The case fields the forms write (xlsforms/README.md, *Consent*).
CONSENT_FIELDS = (
    "consent_by",
    "consent_reason",
    "consent_services",
    "consent_share",
    "consent_date",
    "consent_change",
)
GIVEN, NOT_POSSIBLE, WITHDRAWN, EXTENDED = "given", "not_possible", "withdrawn", "extended"
STATUSES = (GIVEN, NOT_POSSIBLE, WITHDRAWN, EXTENDED)
_CHANGES = {"withdraw": WITHDRAWN, "extend": EXTENDED}
# The item properties that hold the directory service a referral is to: the case plan's
# services repeat (``service``) and the contact log's health referral (``health_service``).
SERVICE_ID_PROPERTIES = ("service", "health_service")


class _Update(Protocol):
    @property
    def instance_id(self) -> str: ...

    @property
    def submitter(self) -> str | None: ...

    @property
    def form_id(self) -> str: ...

    @property
    def event_at(self) -> Any: ...


class _Conflict(Protocol):
    @property
    def field(self) -> str: ...

    @property
    def candidates(self) -> tuple[dict[str, Any], ...]: ...

    @property
    def is_resolved(self) -> bool: ...


class _Item(Protocol):
    @property
    def kind(self) -> str: ...

    @property
    def is_done(self) -> bool: ...

    @property
    def properties(self) -> dict[str, Any]: ...


def share_kinds(value: Any) -> tuple[str, ...]:
    """The kinds of agency a ``consent_share`` answer names, in the list's order (``none``
    and unknown words name none)."""
    words = set(str(value or "").split())
    return tuple(k for k in AGENCY_KINDS if k in words)


@dataclass(frozen=True)
class ConsentEvent:
    """What one submission left in force: ``change`` given, not_possible, withdrawn or
    extended; who, why (not possible), services yes/no, the kinds shared, the date the
    form gave; and its provenance (submission, user, event time, form)."""

    change: str
    by: str | None
    reason: str | None
    services: str | None
    share: tuple[str, ...]
    date: str | None
    instance_id: str
    user: str | None
    at: str
    form_id: str

    def to_json(self) -> dict[str, Any]:
        return {
            "change": self.change,
            "by": self.by,
            "reason": self.reason,
            "services": self.services,
            "share": list(self.share),
            "date": self.date,
            "instance_id": self.instance_id,
            "user": self.user,
            "at": self.at,
            "form_id": self.form_id,
        }


@dataclass(frozen=True)
class ConsentState:
    """The consent in force (the case's fields once every update is folded in) and the
    history that led to it, oldest first."""

    status: str
    by: str | None
    reason: str | None
    services: str | None
    share: tuple[str, ...]
    date: str | None
    history: tuple[ConsentEvent, ...]

    @property
    def share_text(self) -> str:
        """The kinds in force as ``cases.csv`` carries them: space-separated, as a
        select_multiple answer (``selected()`` reads it on the phone)."""
        return " ".join(self.share)

    def covers(self, agency_kind: str | None) -> bool:
        return bool(agency_kind) and agency_kind in self.share


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _status(change: Any, by: Any) -> str:
    if change in _CHANGES:
        return _CHANGES[str(change)]
    return NOT_POSSIBLE if by == NOT_POSSIBLE else GIVEN


class ConsentTracker:
    """Folded along with the case: told of each update and the fields it changed."""

    def __init__(self) -> None:
        self.history: list[ConsentEvent] = []

    def note(self, u: _Update, changes: Mapping[str, Any], values: Mapping[str, Any]) -> None:
        """Record what the update left in force, if it said anything about consent
        (``values``: the case's fields once it is applied)."""
        if not any(name in changes for name in CONSENT_FIELDS):
            return
        self.history.append(
            ConsentEvent(
                change=_status(changes.get("consent_change"), values.get("consent_by")),
                by=_text(values.get("consent_by")),
                reason=_text(values.get("consent_reason")),
                services=_text(values.get("consent_services")),
                share=share_kinds(values.get("consent_share")),
                date=_text(values.get("consent_date")),
                instance_id=u.instance_id,
                user=u.submitter,
                at=u.event_at.isoformat(),
                form_id=u.form_id,
            )
        )

    def state(
        self, values: Mapping[str, Any], narrowed_by: Iterable[Any] = ()
    ) -> ConsentState | None:
        """The consent in force; None when none was ever recorded. ``narrowed_by``: the
        ``consent_share`` answers of an unresolved conflict, each of which the kinds in
        force must be among (a withdrawal on one phone is not undone by a change made on
        another that never saw it)."""
        if not self.history and not any(_text(values.get(n)) for n in CONSENT_FIELDS):
            return None
        last = self.history[-1] if self.history else None
        by = _text(values.get("consent_by"))
        share = share_kinds(values.get("consent_share"))
        for other in narrowed_by:
            allowed = share_kinds(other)
            share = tuple(k for k in share if k in allowed)
        return ConsentState(
            status=last.change if last else _status(None, by),
            by=by,
            reason=_text(values.get("consent_reason")) if by == NOT_POSSIBLE else None,
            services=_text(values.get("consent_services")),
            share=share,
            date=_text(values.get("consent_date")),
            history=tuple(self.history),
        )


def shares_in_conflict(conflicts: Iterable[_Conflict], in_conflict: Collection[str]) -> list[Any]:
    """The ``consent_share`` answers between which a supervisor has yet to choose (an
    unresolved conflict, the field's value still awaiting a supervisor): what
    :meth:`ConsentTracker.state` narrows the kinds in force by. While two changes of the
    kinds shared from one version wait for a supervisor, only the kinds both name are in
    force: a withdrawal is never undone unseen."""
    if "consent_share" not in in_conflict:
        return []
    return [
        candidate.get("value")
        for c in conflicts
        if c.field == "consent_share" and not c.is_resolved
        for candidate in c.candidates
    ]


def referral_service(item: _Item) -> str | None:
    """The directory service a service item is a referral to, if any."""
    if item.kind != "service":
        return None
    for name in SERVICE_ID_PROPERTIES:
        value = item.properties.get(name)
        if value not in (None, ""):
            return str(value)
    return None


def referred_services(items: Iterable[_Item]) -> set[str]:
    """The directory services the open referrals are to: what the rebuild looks up."""
    found = set()
    for item in items:
        sid = referral_service(item)
        if sid and not item.is_done:
            found.add(sid)
    return found


def is_held(
    item: _Item, consent: ConsentState | None, directory: Mapping[str, tuple[str, bool]]
) -> bool:
    """Whether an item is a referral the consent in force does not cover: open, to a
    directory service of an outside agency whose kind the consent does not name.
    ``directory``: (agency_kind, internal) by service id."""
    sid = referral_service(item)
    if sid is None or item.is_done or sid not in directory:
        return False
    kind, internal = directory[sid]
    if internal:
        return False
    return consent is None or not consent.covers(kind)

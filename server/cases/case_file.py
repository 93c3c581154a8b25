"""The case page's read model: everything a person sees of one case
(:func:`get_case_detail`), in the viewer's scope.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from server import sensitivity
from server.auth import queries as auth_queries
from server.auth.models import User
from server.cases import queries, scope
from server.cases.mapping import (
    CaseUpdate,
    canonical_ref,
)
from server.cases.models import Case, CaseConflict, PlanItem
from server.errors import AppError


@dataclass(frozen=True)
class TimelineEntry:
    instance_id: str
    form_id: str
    event_at: datetime
    received_at: datetime
    submitter: str | None
    state: str
    is_registration: bool
    is_contact: bool
    is_review: bool
    changes: dict[str, Any]
    submission_id: int = 0
    version_id: int | None = None
    deprecated_id: str | None = None  # an edit: the instance it replaced
    device: str | None = None  # the label of the phone that sent it
    is_encrypted: bool = False
    attempt: str | None = None  # a failed attempt: why (``CaseUpdate.attempt``)
    worker_unsafe: bool = False  # the caseworker did not feel safe


@dataclass(frozen=True)
class ActionEntry:
    kind: str
    at: datetime
    actor: str | None
    payload: dict[str, Any]


@dataclass(frozen=True)
class CaseDetail:
    case: Case
    caseworker: str | None
    plan_items: list[PlanItem]
    conflicts: list[CaseConflict]
    conflict_resolvers: dict[int, str]
    timeline: list[TimelineEntry]
    actions: list[ActionEntry]
    # the sensitive fields the record shows (``server.sensitivity``), for the audit log
    sensitive_read: tuple[str, ...] = ()
    # the latest contact or attempt at which the caseworker did not feel safe: when, by
    # whom (its alert, ``WorkerSafetyAlert``)
    worker_unsafe_at: datetime | None = None
    worker_unsafe_by: str | None = None

    @property
    def warnings(self) -> tuple[str, ...]:
        """What the case lacks that a plan must hold. ``no_protection_need``: no plan has
        named a protection need of the child (one finalized without, by an older form or
        a client that skipped the form's check). The registration is kept, not refused:
        it is a fact, its phone would otherwise keep resending it, and the case must
        exist for the caseworker's next contacts; the case shows it until a plan
        revision names a need."""
        if any(item.kind == "need" for item in self.plan_items):
            return ()
        return ("no_protection_need",)


def get_case_detail(session: Session, case_ref: str, viewer: User) -> CaseDetail:
    """Everything the case page shows; ``case.not_found`` also when out of the viewer's scope
    (so a reference number outside it reveals nothing). The reference number is looked up
    in its canonical form (``cp-1`` finds ``CP-1``). Whoever sees the case reads its
    sensitive answers (``server.sensitivity``); which ones it shows is in ``sensitive_read``,
    for the caller's audit record."""
    if not sensitivity.may_read(viewer.role, sensitivity.Use.VIEW):
        raise AppError("case.not_found", details={"case_ref": case_ref})
    case = queries.get_case_by_ref(session, canonical_ref(case_ref))
    if case is None or not scope.is_case_visible(session, viewer, case.id):
        raise AppError("case.not_found", details={"case_ref": case_ref})
    conflicts = queries.list_conflicts(session, case.id)
    names = auth_queries.get_usernames(
        session,
        {i for i in [case.caseworker_id, *(c.resolved_by_id for c in conflicts)] if i is not None},
    )
    timeline = []
    for contribution, submission in queries.list_timeline(session, case.id):
        update = CaseUpdate.from_json(contribution.update)
        timeline.append(
            TimelineEntry(
                instance_id=submission.instance_id,
                form_id=contribution.form_id,
                event_at=contribution.event_at,
                received_at=submission.received_at,
                submitter=update.submitter,
                state=contribution.state,
                is_registration=contribution.is_registration,
                is_contact=update.is_contact,
                is_review=update.is_review,
                changes=dict(update.properties),
                submission_id=submission.id,
                version_id=submission.xform_version_id,
                deprecated_id=submission.deprecated_id,
                device=submission.device,
                is_encrypted=submission.is_encrypted,
                attempt=update.attempt,
                worker_unsafe=update.worker_unsafe,
            )
        )
    actions = [
        ActionEntry(kind=a.kind, at=a.at, actor=name, payload=a.details())
        for a, name in queries.list_actions_for_case(session, case.id)
    ]
    plan_items = queries.list_plan_items(session, case.id)
    read = sensitivity.fields_read(
        sensitivity.load_names(session),
        case.properties or {},
        [i.properties or {} for i in plan_items],
        [*(t.changes for t in timeline), *({c.field: c.candidates} for c in conflicts)],
    )
    unsafe = queries.latest_worker_safety_alert(session, case.id)
    return CaseDetail(
        case=case,
        caseworker=names.get(case.caseworker_id) if case.caseworker_id else None,
        plan_items=plan_items,
        conflicts=conflicts,
        conflict_resolvers={
            c.id: names[c.resolved_by_id] for c in conflicts if c.resolved_by_id in names
        },
        timeline=timeline,
        actions=actions,
        sensitive_read=tuple(read),
        worker_unsafe_at=unsafe.event_at if unsafe else None,
        worker_unsafe_by=unsafe.worker if unsafe else None,
    )

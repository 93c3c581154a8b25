from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Boolean,
    ColumnElement,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    PrimaryKeyConstraint,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy import case as sql_case
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.cases.mapping import ITEM_KINDS
from server.db import Base
from server.timeutil import utcnow
from server.types import EnumText, JsonType, UtcDateTime

# The case list's sort key: the next contact due, undated cases last. The same text on
# both engines ('9999-12-31' is a date to PostgreSQL, and the stored text to SQLite), so
# the expression index matches the query's ORDER BY.
CASE_LIST_DUE = "coalesce(next_contact_due, '9999-12-31')"
# The worklist's order: high risk first, then medium, low, and cases with no risk recorded.
CASE_RISK_RANK = (
    "(CASE risk_level WHEN 'high' THEN 0 WHEN 'medium' THEN 1 WHEN 'low' THEN 2 ELSE 3 END)"
)
# What the case lists filter on, held by their indexes after the sort keys, so that a
# filter (and a bounded count) is tested on index entries, never on a case's 4 KB row.
LIST_FILTER_COLUMNS = (
    "status",
    "risk_level",
    "caseworker_id",
    "next_contact_due",
    "team",
    "open_conflicts",
    "opened_at",
    "last_contact_at",
    "last_review_at",
    "safety_plan_review_due",
)
# What the one-column sort indexes carry after the sort key, so that a team's or a
# caseworker's page and count are told from the entries (not every case's row), and a
# range of them (opened in a month) is put in the list's order without reading the rows.
SORT_SCOPE_COLUMNS = ("status", "caseworker_id", "next_contact_due")
# The case lists' indexes also carry the case's id on PostgreSQL, so that a page's keys
# and its bounded count come from the index alone: SQLite's carry the rowid (the id)
# already. Without it PostgreSQL read every case's row for the overdue count (127 ms at
# 50 000 cases; 10 ms with it).
WITH_ID: dict[str, Any] = {"postgresql_include": ["id"]}
# The plan-items and referrals pages' order: due soonest first, undated last.
PLAN_ITEM_LIST_DUE = "coalesce(due_date, '9999-12-31')"


class ContributionState(StrEnum):
    """How one submission's contribution stands with its case (see ``cases.rebuild``)."""

    APPLIED = "applied"
    UNLINKED = "unlinked"  # waits for its registration, or for a supervisor (hold_reason)
    DUPLICATE = "duplicate"  # a second registration of an entity: a supervisor decides
    SUPERSEDED = "superseded"  # replaced by an edit
    FAILED = "failed"


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class Case(Base):
    """The living record of one child's case, known by its reference number.

    Everything here is derived from the case's contributions (submissions and supervisor
    actions) by ``cases.merge``; it is rebuilt whenever one of them arrives or changes.
    """

    __tablename__ = "case_record"
    __table_args__ = (
        Index("ix_case_next_contact_due", "status", "next_contact_due"),
        # The dashboard's counts in one pass over the caller's scope (caseworker leading).
        Index(
            "ix_case_record_scope",
            "caseworker_id",
            "status",
            "next_contact_due",
            "last_review_at",
            "opened_at",
            "open_conflicts",
            "safety_plan_review_due",
        ),
        # The case list in its order (undated last, see ``lists.CASE_LIST_ORDER``), with
        # every filter read from the index rather than from the row.
        Index(
            "ix_case_record_list_order",
            text(CASE_LIST_DUE),
            "case_ref",
            *LIST_FILTER_COLUMNS,
            **WITH_ID,
        ),
        # The worklist's contacts and the case list sorted by risk: high first, then the
        # next contact soonest (undated last), with the filters on the index entries.
        Index(
            "ix_case_record_risk_order",
            text(CASE_RISK_RANK),
            text(CASE_LIST_DUE),
            "case_ref",
            *LIST_FILTER_COLUMNS,
            **WITH_ID,
        ),
        # The cases waiting for a supervisor's approval, with what the dashboard counts and
        # lists of them, longest waiting first (``dashboard.list_pending_approvals``): read
        # from the index alone, in its order.
        # An index of the approval alone made PostgreSQL read each waiting case's row to
        # tell a team's (60 ms at 100 000 cases, 38 000 waiting).
        Index(
            "ix_case_record_approval_waiting",
            "updated_at",
            "case_ref",
            "caseworker_id",
            "approval_requested_by",
            "approval_kind",
            # (its condition's column too: SQLite checks the query's term against it)
            "approval",
            sqlite_where=text("approval = 'pending'"),
            postgresql_where=text("approval = 'pending'"),
        ),
        # The transfers waiting for a receiving team's supervisor.
        Index("ix_case_record_transfer", "transfer", "transfer_team"),
        # The dashboard's transfers waiting, oldest first. Almost every case has no transfer:
        # SQLite's statistics (an average per key) make ix_case_record_transfer look useless,
        # and it walked every case in ix_case_record_updated instead (150 ms at 65 000
        # cases). A partial index holds only the pending ones, in that order. PostgreSQL
        # knows the column is nearly all NULL and seeks ix_case_record_transfer itself.
        Index(
            "ix_case_record_transfer_waiting",
            "updated_at",
            "transfer_team",
            sqlite_where=text("transfer = 'pending'"),
        ).ddl_if(dialect="sqlite"),
        # The case list sorted by when a case opened, was last contacted or last changed.
        Index("ix_case_record_opened", "opened_at", "case_ref", *SORT_SCOPE_COLUMNS, **WITH_ID),
        Index(
            "ix_case_record_last_contact",
            "last_contact_at",
            "case_ref",
            *SORT_SCOPE_COLUMNS,
            **WITH_ID,
        ),
        Index("ix_case_record_updated", "updated_at", "case_ref", *SORT_SCOPE_COLUMNS, **WITH_ID),
        # The case list sorted by team, status, and by conflicts (the cases with a conflict to
        # resolve, few, are a range of it).
        Index("ix_case_record_team", "team", "case_ref", *SORT_SCOPE_COLUMNS, **WITH_ID),
        Index("ix_case_record_status", "status", "case_ref", "caseworker_id", **WITH_ID),
        Index(
            "ix_case_record_conflicts", "open_conflicts", "case_ref", *SORT_SCOPE_COLUMNS, **WITH_ID
        ),
        # A search by the start of the reference number (``lists.ref_prefix_clause``): on
        # PostgreSQL, the numbers in byte order whatever the database's collation (SQLite's
        # unique index is in that order already).
        Index("ix_case_record_ref_bytes", text('case_ref COLLATE "C"')).ddl_if(
            dialect="postgresql"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(120), unique=True)
    # The entity UUID devices know the case by (cases.csv "name"); set by the registration.
    entity_id: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[CaseStatus] = mapped_column(EnumText(CaseStatus, 10), default=CaseStatus.OPEN)
    caseworker_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    team: Mapped[str | None] = mapped_column(String(80), default=None)
    # what the forms answered (a choice name); Text, so that no answer can fail a merge
    risk_level: Mapped[str | None] = mapped_column(Text, default=None)
    contact_frequency_days: Mapped[int | None] = mapped_column(Integer, default=None)
    last_contact_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    next_contact_due: Mapped[date | None] = mapped_column(Date, default=None)
    review_due: Mapped[date | None] = mapped_column(Date, default=None)
    last_review_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # property name -> {"value", "instance_id", "user", "at"}: which submission set each field
    provenance: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # Monotonic: bumped on every rebuild that changed anything; devices see it as __version.
    version: Mapped[int] = mapped_column(Integer, default=1)
    open_conflicts: Mapped[int] = mapped_column(Integer, default=0)
    # Registration data for reports (``cases.registration``), derived from the case's fields
    # by every rebuild: no birth date, only the age and its band.
    age_years: Mapped[int | None] = mapped_column(Integer, default=None)
    age_band: Mapped[str | None] = mapped_column(String(64), default=None)
    sex: Mapped[str | None] = mapped_column(String(64), default=None)
    disability: Mapped[str | None] = mapped_column(String(64), default=None)  # yes / no
    admin1: Mapped[str | None] = mapped_column(String(64), default=None)  # region code
    admin2: Mapped[str | None] = mapped_column(String(64), default=None)  # district code
    intake_concern: Mapped[str | None] = mapped_column(String(64), default=None)
    # The latest contact or attempt at which the caseworker did not feel safe (when, and the
    # username who said so), derived by every rebuild: the supervisor's alert.
    # Where a supervisor's approval stands (``cases.approvals``), derived by every rebuild:
    # pending / approved / returned, of a closure or a plan, the submission it is about and
    # who sent it (who may not approve it).
    approval: Mapped[str | None] = mapped_column(String(20), default=None)
    approval_kind: Mapped[str | None] = mapped_column(String(20), default=None)
    approval_instance_id: Mapped[str | None] = mapped_column(String(255), default=None)
    approval_requested_by: Mapped[str | None] = mapped_column(String(80), default=None)
    # why the supervisor returned it (bounded by the rebuild to
    # ``approvals.APPROVAL_COMMENT_MAX_LENGTH``):
    # the phones' case list carries it, so the caseworker reads it offline
    approval_comment: Mapped[str | None] = mapped_column(Text, default=None)
    # Where a transfer stands (``cases.transfers``), derived by every rebuild: pending /
    # accepted / declined / out, the receiving team, the caseworker or agency asked for,
    # and the supervisor who asked.
    transfer: Mapped[str | None] = mapped_column(String(20), default=None)
    transfer_team: Mapped[str | None] = mapped_column(String(80), default=None)
    transfer_to: Mapped[str | None] = mapped_column(String(200), default=None)
    transfer_requested_by: Mapped[str | None] = mapped_column(String(80), default=None)
    # The consent in force (``cases.consent``), derived by every rebuild: given /
    # not_possible / withdrawn / extended (the latest change), the kinds of agency
    # information may be shared with (space-separated, as cases.csv carries them), and what
    # each submission that touched consent left in force, oldest first, with provenance.
    consent: Mapped[str | None] = mapped_column(String(20), default=None)
    consent_share: Mapped[str | None] = mapped_column(String(200), default=None)
    consent_history: Mapped[list[dict[str, Any]] | None] = mapped_column(JsonType, default=None)
    # what the transfer is to: caseworker, team or agency (``cases.transfers``)
    transfer_kind: Mapped[str | None] = mapped_column(String(20), default=None)
    # When the child's safety plan is next to be reviewed (``safety_plan_review_date``, a
    # contact log's answer), derived from the case's fields by every rebuild.
    safety_plan_review_due: Mapped[date | None] = mapped_column(Date, default=None)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    plan_items: Mapped[list[PlanItem]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by=lambda: plan_item_order()
    )
    conflicts: Mapped[list[CaseConflict]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseConflict.id"
    )


class CaseContribution(Base):
    """What one submission says about one case, and how it was applied."""

    __tablename__ = "case_contribution"
    __table_args__ = (
        Index("ix_case_contribution_ref_state", "case_ref", "state"),
        Index("ix_case_contribution_case", "case_id", "event_at", "id"),  # a case's timeline
        # the queues, and their counts from the index alone
        Index("ix_case_contribution_state", "state", "event_at", "id", "submission_id"),
        # The duplicates queue, in its order (by reference number). SQLite's statistics give
        # each state a third of the rows, and it walked every contribution's entry in
        # ix_case_contribution_ref_state for the few duplicates (53 ms at a million).
        Index(
            "ix_case_contribution_duplicates",
            "case_ref",
            "event_at",
            "id",
            "submission_id",
            "state",
            sqlite_where=text("state = 'duplicate'"),
            postgresql_where=text("state = 'duplicate'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), unique=True)
    case_ref: Mapped[str] = mapped_column(String(120))
    case_id: Mapped[int | None] = mapped_column(ForeignKey("case_record.id"), default=None)
    form_id: Mapped[str] = mapped_column(String(255))
    entity_id: Mapped[str | None] = mapped_column(String(64), default=None)
    is_registration: Mapped[bool] = mapped_column(Boolean, default=False)
    base_version: Mapped[int | None] = mapped_column(Integer, default=None)
    event_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # cases.mapping.CaseUpdate as JSON: the pure input of the merge
    update: Mapped[dict[str, Any]] = mapped_column(JsonType)
    state: Mapped[ContributionState] = mapped_column(
        EnumText(ContributionState, 12), default=ContributionState.APPLIED
    )
    # Why an "unlinked" contribution waits for a supervisor rather than for its registration
    # ("out_of_scope", "ref_mismatch"; see cases.rebuild).
    hold_reason: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class CaseAction(Base):
    """A supervisor's decision on a case: reassign, resolve a conflict, close, reopen, …"""

    __tablename__ = "case_action"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    # What a decision is looked up by, as columns: whom a case was reassigned to, the
    # submission a decision moved, the entity of a duplicate registration merged in. The
    # rest of what was decided (reason, value, former reference…) is the payload.
    username: Mapped[str | None] = mapped_column(String(80), default=None, index=True)
    instance_id: Mapped[str | None] = mapped_column(String(255), default=None)
    entity_id: Mapped[str | None] = mapped_column(String(64), default=None, index=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    @classmethod
    def of(
        cls, case_id: int, kind: str, details: dict[str, Any], actor_id: int | None, at: datetime
    ) -> CaseAction:
        """A decision from everything said of it: the markers go to their columns."""
        rest = {k: v for k, v in details.items() if k not in ACTION_MARKERS}
        return cls(
            case_id=case_id,
            kind=kind,
            payload=rest,
            actor_id=actor_id,
            at=at,
            **{k: details.get(k) for k in ACTION_MARKERS},
        )

    def details(self) -> dict[str, Any]:
        return action_details(self.payload, self.username, self.instance_id, self.entity_id)


# CaseAction's marker columns, in the order ``action_details`` takes them
ACTION_MARKERS = ("username", "instance_id", "entity_id")


def action_details(
    payload: dict[str, Any] | None,
    username: str | None,
    instance_id: str | None,
    entity_id: str | None,
) -> dict[str, Any]:
    """Everything said of a decision, markers included: what the merge, the case's history
    and the API read."""
    markers = zip(ACTION_MARKERS, (username, instance_id, entity_id), strict=True)
    return {**(payload or {}), **{k: v for k, v in markers if v is not None}}


class PlanItem(Base):
    """A need, service, action or decision with an owner, a due date and a status."""

    __tablename__ = "plan_item"
    __table_args__ = (
        UniqueConstraint("case_id", "item_id"),
        Index("ix_plan_item_due", "status", "due_date"),
        # overdue items, from the items' side (an admin) or from the cases' (a team)
        Index("ix_plan_item_open_due", "is_done", "due_date", "case_id", "kind"),
        Index("ix_plan_item_case_open", "case_id", "is_done", "due_date", "kind"),
        # The plan-items and referrals pages in their order (undated last), their filters
        # read from the index entries.
        # The referrals held because consent does not cover them (few): the worklist's.
        Index("ix_plan_item_held", "held", "case_id"),
        Index(
            "ix_plan_item_list",
            text(PLAN_ITEM_LIST_DUE),
            "id",
            "kind",
            "is_done",
            "status",
            "case_id",
            "due_date",  # so that the filters and the count are read from this index alone
        ),
        # Referrals whose next state is overdue (the worklist, the referrals page), in the
        # order they fell due, told in or out from the entries.
        Index("ix_plan_item_referral_due", "referral_due", "id", "case_id", "status"),
        # The services directory's open referrals and time to acknowledge, per service.
        Index(
            "ix_plan_item_referral_service",
            "referral_service",
            "is_done",
            "referral_ack_hours",
            "case_id",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"))
    item_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    # the key answer that names it from plan to plan (need category, service type); devices
    # get it in plan_items.csv so a plan revision can find the item
    key: Mapped[str | None] = mapped_column(Text, default=None)
    # Free text from the forms (a service's title and "provider, location"): unbounded, so
    # that no answer can fail a merge. Ids and statuses are bounded by the mapping.
    title: Mapped[str] = mapped_column(Text, default="")
    owner: Mapped[str | None] = mapped_column(Text, default=None)
    due_date: Mapped[date | None] = mapped_column(Date, default=None)
    status: Mapped[str] = mapped_column(String(30), default="open")
    is_done: Mapped[bool] = mapped_column(Boolean, default=False)
    # held: a referral to an outside agency the consent in force does not cover
    # (``cases.consent``), flagged for a supervisor; derived by every rebuild
    held: Mapped[bool] = mapped_column(Boolean, default=False)
    properties: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    provenance: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
    # A referral (a service: ``cases.referrals``), derived by every rebuild: when its state
    # (``status``) was reached, when the next state is due, its urgency, the reason of its
    # state (declined, not delivered), the directory service referred to, the hours from
    # referred to acknowledged, and every state it reached ([{state, at, by, instance_id,
    # reason}]). NULL for other items.
    referral_since: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    referral_due: Mapped[date | None] = mapped_column(Date, default=None)
    referral_urgency: Mapped[str | None] = mapped_column(String(20), default=None)
    referral_reason: Mapped[str | None] = mapped_column(Text, default=None)
    referral_service: Mapped[str | None] = mapped_column(String(64), default=None)
    referral_ack_hours: Mapped[int | None] = mapped_column(Integer, default=None)
    referral_steps: Mapped[list[dict[str, Any]] | None] = mapped_column(
        JsonType, nullable=True, default=None
    )

    case: Mapped[Case] = relationship(back_populates="plan_items")


class CaseConflict(Base):
    """Two submissions that changed one field from the same version to different values."""

    __tablename__ = "case_conflict"
    __table_args__ = (UniqueConstraint("case_id", "conflict_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("case_record.id"))
    # stable identity of the conflict: field and base version, so rebuilds keep resolutions
    conflict_key: Mapped[str] = mapped_column(String(255))
    field: Mapped[str] = mapped_column(String(255))
    # [{"value", "instance_id", "user", "at"}, ...]
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JsonType)
    resolved_value: Mapped[Any] = mapped_column(JsonType, nullable=True, default=None)
    resolved_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id"), default=None)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, default=None)
    detected_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="conflicts")


class ListVersion(Base):
    """A counter per source of the device lists, raised in every transaction that changes
    it: ``cases`` (cases, plan items, users) and ``services`` (the directory). Generated
    lists are cached under it (``cases.list_cache``)."""

    __tablename__ = "list_version"

    source: Mapped[str] = mapped_column(String(40), primary_key=True)
    counter: Mapped[int] = mapped_column(Integer, default=0)


class DeviceListCache(Base):
    """The last generated bytes of one device list for one scope, and their MD5: what the
    manifest announces and the download serves, until the list's source version moves."""

    __tablename__ = "device_list_cache"

    list_name: Mapped[str] = mapped_column(String(80), primary_key=True)
    scope: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    list_format: Mapped[int] = mapped_column(Integer)
    md5: Mapped[str] = mapped_column(String(32))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class PlanItemDueCount(Base):
    """How many open plan items of open cases fall due on each day, per caseworker and kind:
    the dashboard's "plan items overdue" is a sum of these rows before today, not a count
    of every overdue item. Kept in the merge's transaction by ``cases.item_counts``."""

    __tablename__ = "plan_item_due_count"
    __table_args__ = (
        PrimaryKeyConstraint("caseworker_id", "due_date", "kind"),
        {"sqlite_with_rowid": False},  # the rows live in their key's order
    )

    # the case's caseworker; 0 for an unassigned case (a key column cannot be NULL)
    caseworker_id: Mapped[int] = mapped_column(Integer, autoincrement=False)
    due_date: Mapped[date] = mapped_column(Date)
    kind: Mapped[str] = mapped_column(String(20))
    n: Mapped[int] = mapped_column(Integer)


class CaseReportCount(Base):
    """How many cases registered in a month fall in each report cell (dimension and value,
    ``cases.registration.report_keys``), per team of their caseworkers now: the reports sum
    these rows instead of counting cases. Kept by ``cases.report_counts``, in the merge's
    transaction and in the one that changes a caseworker's team. The key's order puts a
    team's months of one cell together, so a report's sums over a range of months are read
    already grouped."""

    __tablename__ = "case_report_count"
    __table_args__ = (
        PrimaryKeyConstraint("team", "dimension", "value", "month"),
        {"sqlite_with_rowid": False},  # the rows live in their key's order
    )

    # the caseworker's team; "" for no caseworker or no team (a key column cannot be NULL)
    team: Mapped[str] = mapped_column(String(80))
    dimension: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(64))  # "" = not recorded
    month: Mapped[date] = mapped_column(Date)  # the first day of the month (UTC) it opened
    n: Mapped[int] = mapped_column(Integer)


def plan_item_order() -> tuple[ColumnElement[Any], ...]:
    """How a case's plan items are listed everywhere (case page, API, exports, device lists,
    ``Case.plan_items``): by kind (need, service, action, decision, then any other), then
    due date (undated last), then item id. Never by row id: that is the order submissions
    happened to arrive in, and the same submissions must list the same way whatever their
    order."""
    return (
        sql_case(
            *((PlanItem.kind == kind, n) for n, kind in enumerate(ITEM_KINDS)),
            else_=len(ITEM_KINDS),
        ),
        sql_case((PlanItem.due_date.is_(None), 1), else_=0),
        PlanItem.due_date.asc(),
        PlanItem.item_id.asc(),
    )


class WorkerSafetyAlert(Base):
    """A caseworker said they did not feel safe at a contact or attempt: one row per
    submission that said so, recorded when it arrives whatever becomes of it (applied,
    held for a supervisor, waiting for its registration), so the alert reaches the
    supervisors of the worker's ``team`` as it was then, whoever has the case later. The
    dashboard windows on ``received_at`` (when the server got it), not the phone's time."""

    __tablename__ = "worker_safety_alert"
    __table_args__ = (
        Index("ix_worker_safety_alert_team_received", "team", "received_at"),
        Index("ix_worker_safety_alert_received", "received_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    submission_id: Mapped[int] = mapped_column(ForeignKey("submission.id"), unique=True)
    case_ref: Mapped[str] = mapped_column(String(120))  # as sent
    worker_id: Mapped[int | None] = mapped_column(
        ForeignKey("user_account.id"), default=None, index=True
    )
    worker: Mapped[str | None] = mapped_column(String(80), default=None)  # username
    team: Mapped[str | None] = mapped_column(String(80), default=None)  # at the report
    event_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the phone's contact time
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempt: Mapped[str | None] = mapped_column(String(40), default=None)

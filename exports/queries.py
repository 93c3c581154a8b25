"""Every SELECT the exports run, built in one place (style rule 3). Composed by ``source``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    Text,
    and_,
    cast,
    func,
    select,
    true,
    type_coerce,
)

from exports.options import ExportOptions
from server.auth.models import Device, User
from server.blobs.models import Blob
from server.cases.models import (
    Case,
    CaseContribution,
    ContributionState,
    PlanItem,
    plan_item_order,
)
from server.cases.scope import case_scope_clause
from server.submissions.models import Submission, SubmissionAttachment
from server.xforms.models import XForm, XFormVersion


def get_xform_id(form_id: str) -> Select[int]:
    return select(XForm.id).where(XForm.form_id == form_id)


def list_versions(xform_id: int) -> Select[int, str, dict[str, Any]]:
    """Every published version of a form, oldest first."""
    return (
        select(XFormVersion.id, XFormVersion.version, XFormVersion.definition)
        .where(XFormVersion.xform_id == xform_id)
        .order_by(XFormVersion.id)
    )


def list_all_definitions() -> Select[dict[str, Any]]:
    return select(XFormVersion.definition).order_by(XFormVersion.id)


def list_user_names() -> Select[int, str]:
    return select(User.id, User.username)


def list_device_labels() -> Select[int, str]:
    return select(Device.id, Device.label)


def _exportable(xform_id: int, options: ExportOptions) -> list[ColumnElement[bool]]:
    """Current versions of edited submissions only, readable (not encrypted), in range."""
    where: list[ColumnElement[bool]] = [
        Submission.xform_id == xform_id,
        Submission.is_current.is_(True),
        Submission.is_encrypted.is_(False),
    ]
    if options.received_from is not None:
        where.append(Submission.received_at >= options.received_from)
    if options.received_before is not None:
        where.append(Submission.received_at < options.received_before)
    if options.submitter_ids is not None:
        where.append(Submission.submitter_id.in_(sorted(options.submitter_ids)))
    return where


IdRange = tuple[int, int] | None


def _selected(xform_id: int, options: ExportOptions, id_range: IdRange) -> list[Any]:
    """``_exportable``, in an id range if one is given: then the form is tested, not looked
    up (``xform_id + 0``), so that SQLite reads the range by rowid instead of scanning the
    whole form's index entries for every range."""
    where = _exportable(xform_id, options)
    if id_range is None:
        return where
    return [(Submission.xform_id + 0) == xform_id, *where[1:], Submission.id.between(*id_range)]


def list_submission_ids(xform_id: int, options: ExportOptions) -> Select[int]:
    """Ids of exportable submissions in arrival order.

    The form index does not give id order, so the database sorts; on SQLite the rows are
    then read by id range (``id_range`` below), so what it sorts is ids, not whole rows
    (which a temp store in memory would hold all at once).
    """
    return select(Submission.id).where(*_exportable(xform_id, options)).order_by(Submission.id)


def list_submissions(
    xform_id: int, options: ExportOptions, id_range: IdRange = None
) -> Select[str, dict[str, Any], datetime, int | None, int | None, int, str]:
    """Exportable submissions in arrival order (by id), all or those with ids in a range."""
    return (
        select(
            Submission.instance_id,
            Submission.data,
            Submission.received_at,
            Submission.submitter_id,
            Submission.device_id,
            Submission.xform_version_id,
            Submission.review_state,
        )
        .where(*_selected(xform_id, options, id_range))
        .order_by(Submission.id)
    )


# ISO 8601 in UTC with milliseconds (truncated, as Python's isoformat does), by PostgreSQL
PG_SUBMISSION_DATE = 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'


def list_submission_rows(
    xform_id: int, options: ExportOptions, dialect: str, id_range: IdRange = None
) -> Select[str, str, str, int | None, int | None, int, str]:
    """What the table exports read, as plain text: the answers as JSON text (decoded in
    bulk by the caller) and ``received_at`` as PostgreSQL formats it for the export, or as
    SQLite stores it (``YYYY-MM-DD HH:MM:SS.ffffff``, UTC). Arrival order, by id."""
    received: ColumnElement[str]
    if dialect == "postgresql":
        received = func.to_char(func.timezone("UTC", Submission.received_at), PG_SUBMISSION_DATE)
    else:
        received = type_coerce(Submission.received_at, String)
    return (
        select(
            Submission.instance_id,
            cast(Submission.data, Text),
            received,
            Submission.submitter_id,
            Submission.device_id,
            Submission.xform_version_id,
            Submission.review_state,
        )
        .where(*_selected(xform_id, options, id_range))
        .order_by(Submission.id)
    )


def count_submissions(xform_id: int, options: ExportOptions) -> Select[int]:
    return select(func.count()).select_from(Submission).where(*_exportable(xform_id, options))


def list_attachments(
    xform_id: int, options: ExportOptions, after_id: int, limit: int
) -> Select[int, str, str, str | None, dict[str, Any]]:
    """One page of stored attachments of exportable submissions, by attachment id, each
    with its submission's answers (which tell the files that answer sensitive questions)."""
    return (
        select(
            SubmissionAttachment.id,
            Submission.instance_id,
            SubmissionAttachment.name,
            SubmissionAttachment.blob_sha256,
            Submission.data,
        )
        .join(Submission, Submission.id == SubmissionAttachment.submission_id)
        .where(
            *_exportable(xform_id, options),
            SubmissionAttachment.blob_sha256.is_not(None),
            SubmissionAttachment.id > after_id,
        )
        .order_by(SubmissionAttachment.id)
        .limit(limit)
    )


def get_blob_content(sha256: str) -> Select[bytes]:
    return select(Blob.content).where(Blob.sha256 == sha256)


# -- cases ---------------------------------------------------------------------------------


def case_scope(user: Any | None) -> ColumnElement[bool]:
    """Which cases a user may export: the same rule as everywhere else in the server
    (``cases.scope.case_scope_clause``). ``None`` means no restriction."""
    if user is None:
        return true()
    return case_scope_clause(user)


def list_cases(user: Any | None) -> Select[*tuple[Any, ...]]:
    return (
        select(
            Case.case_ref,
            Case.status,
            Case.caseworker_id,
            Case.risk_level,
            Case.contact_frequency_days,
            Case.last_contact_at,
            Case.next_contact_due,
            Case.review_due,
            Case.open_conflicts,
            Case.opened_at,
            Case.closed_at,
            Case.properties,
        )
        .where(case_scope(user))
        .order_by(Case.id)
    )


def count_cases(user: Any | None) -> Select[int]:
    return select(func.count()).select_from(Case).where(case_scope(user))


def list_case_property_names(user: Any | None, dialect: str) -> Select[str]:
    """Distinct property names over the cases in scope, computed by the database."""
    if dialect == "postgresql":
        # a set-returning function in the select list: one row per key
        names = func.jsonb_object_keys(Case.properties)
        return select(names).where(case_scope(user)).distinct()
    each = func.json_each(Case.properties).table_valued("key").alias("k")
    return (
        select(each.c.key).select_from(Case).join(each, true()).where(case_scope(user)).distinct()
    )


def list_plan_items(user: Any | None) -> Select[*tuple[Any, ...]]:
    return (
        select(
            Case.case_ref,
            PlanItem.item_id,
            PlanItem.kind,
            PlanItem.title,
            PlanItem.owner,
            PlanItem.due_date,
            PlanItem.status,
            PlanItem.is_done,
            Case.status,
        )
        .join(Case, Case.id == PlanItem.case_id)
        .where(case_scope(user))
        .order_by(Case.case_ref, *plan_item_order())
    )


def list_contributions(user: Any | None) -> Select[*tuple[Any, ...]]:
    """Applied contributions of cases in scope, with the submitting user and instanceID."""
    return (
        select(
            CaseContribution.case_ref,
            CaseContribution.form_id,
            CaseContribution.event_at,
            Submission.submitter_id,
            Submission.instance_id,
        )
        .join(Submission, Submission.id == CaseContribution.submission_id)
        .join(Case, Case.id == CaseContribution.case_id)
        .where(and_(CaseContribution.state == ContributionState.APPLIED, case_scope(user)))
        .order_by(CaseContribution.case_id, CaseContribution.event_at, CaseContribution.id)
    )

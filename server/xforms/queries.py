from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, select
from sqlalchemy.orm import Session

from server.blobs.models import Blob
from server.submissions.models import Submission
from server.xforms.definition import stored_default_language
from server.xforms.models import FormAttachment, FormState, XForm, XFormVersion


def get_xform(session: Session, form_id: str) -> XForm | None:
    if "\x00" in form_id:  # names no form, and PostgreSQL refuses NUL in a text parameter
        return None
    return session.scalar(select(XForm).where(XForm.form_id == form_id))


def get_version(session: Session, xform: XForm, version: str) -> XFormVersion | None:
    return session.scalar(
        select(XFormVersion).where(
            XFormVersion.xform_id == xform.id, XFormVersion.version == version
        )
    )


_VERSION_REF = (
    select(XForm.id, XForm.state, XFormVersion.id, XFormVersion.md5)
    .select_from(XForm)
    .outerjoin(
        XFormVersion,
        and_(XFormVersion.xform_id == XForm.id, XFormVersion.version == bindparam("version")),
    )
    .where(XForm.form_id == bindparam("form_id"))
)


def get_version_ref(
    session: Session, form_id: str, version: str
) -> tuple[int, str, int | None, str | None] | None:
    """``(xform id, state, version id, md5)`` of a form and one of its versions, in one
    light query; ``None`` when the form is unknown, a ``None`` version id when the version
    is. The receipt of every submission asks this, so it skips the ORM."""
    params = {"form_id": form_id, "version": version}
    row = session.connection().execute(_VERSION_REF, params).first()
    return None if row is None else (row[0], row[1], row[2], row[3])


def get_version_by_id(session: Session, version_id: int) -> XFormVersion | None:
    return session.get(XFormVersion, version_id)


def get_form_titles(session: Session) -> dict[str, str]:
    """Every form's title, by form ID (what pages show instead of the ID)."""
    return {str(i): str(t) for i, t in session.execute(select(XForm.form_id, XForm.title)) if t}


def list_version_md5(session: Session, version_ids: Sequence[int]) -> dict[int, str]:
    """The MD5 of these published versions' XForms, by version id."""
    if not version_ids:
        return {}
    stmt = select(XFormVersion.id, XFormVersion.md5).where(XFormVersion.id.in_(version_ids))
    return {int(i): str(md5) for i, md5 in session.execute(stmt)}


def list_current_version_md5(session: Session) -> dict[int, str]:
    """The MD5 of every form's current version, by version id (closed forms too: their
    cases are still read)."""
    stmt = select(XFormVersion.id, XFormVersion.md5).join(
        XForm, XForm.current_version_id == XFormVersion.id
    )
    return {int(i): str(md5) for i, md5 in session.execute(stmt)}


def list_version_xml(session: Session, version_ids: Sequence[int]) -> dict[int, str]:
    """The XForms of these published versions, by version id."""
    if not version_ids:
        return {}
    stmt = select(XFormVersion.id, XFormVersion.xml).where(XFormVersion.id.in_(version_ids))
    return {int(i): str(xml) for i, xml in session.execute(stmt)}


def list_versions(session: Session, xform: XForm) -> list[XFormVersion]:
    return list(
        session.scalars(
            select(XFormVersion).where(XFormVersion.xform_id == xform.id).order_by(XFormVersion.id)
        )
    )


def list_xforms() -> Select[XForm]:
    return select(XForm).order_by(XForm.form_id)


def list_downloadable(session: Session) -> list[tuple[XForm, XFormVersion]]:
    """Forms offered to devices: open ones, at their current version."""
    rows = session.execute(
        select(XForm, XFormVersion)
        .join(XFormVersion, XForm.current_version_id == XFormVersion.id)
        .where(XForm.state == FormState.OPEN)
        .order_by(XForm.form_id)
    )
    return [(x, v) for x, v in rows]


def list_current_choice_lists(
    session: Session, list_name: str
) -> list[tuple[list[dict[str, Any]], str | None]]:
    """The choices (``{"value", "labels"}``) of the choice list ``list_name`` in each open
    form's current version that has one, by form id, each with the default language of its
    form (``None``: the form has no translations)."""
    found = []
    for _, version in list_downloadable(session):
        choices = (version.definition or {}).get("choices", {}).get(list_name)
        if choices:
            found.append((list(choices), stored_default_language(version.definition)))
    return found


def get_attachment(session: Session, version: XFormVersion, name: str) -> FormAttachment | None:
    if "\x00" in name:  # names no file, and PostgreSQL refuses NUL in a text parameter
        return None
    return session.scalar(
        select(FormAttachment).where(
            FormAttachment.version_id == version.id, FormAttachment.name == name
        )
    )


def submission_counts(session: Session) -> dict[int, int]:
    """Current submissions per form (by form key): counted per version from the entries of
    ``ix_submission_version_current``, then added up by form (a few versions each)."""
    per_version = (
        select(Submission.xform_version_id.label("version_id"), func.count().label("n"))
        .where(Submission.is_current.is_(True))
        .group_by(Submission.xform_version_id)
        .subquery()
    )
    rows = session.execute(
        select(XFormVersion.xform_id, func.sum(per_version.c.n))
        .join(per_version, per_version.c.version_id == XFormVersion.id)
        .group_by(XFormVersion.xform_id)
    )
    # Row unpacks like a tuple but dict() does not take it as a pair
    return {form: int(count) for form, count in rows}


def submission_counts_by_version(session: Session, xform: XForm) -> dict[int, int]:
    """Current submissions per version of ``xform``, from ``ix_submission_version_current``."""
    versions = select(XFormVersion.id).where(XFormVersion.xform_id == xform.id)
    rows = session.execute(
        select(Submission.xform_version_id, func.count())
        .where(Submission.xform_version_id.in_(versions), Submission.is_current.is_(True))
        .group_by(Submission.xform_version_id)
    )
    # Row unpacks like a tuple but dict() does not take it as a pair
    return {key: count for key, count in rows}  # noqa: C416


def get_current_media(session: Session, name: str) -> tuple[str, bytes] | None:
    """(SHA-256, bytes) of the media file ``name`` of an open form's current version (the
    newest such version when several forms carry one)."""
    stmt = (
        select(Blob.sha256, Blob.content)
        .select_from(FormAttachment)
        .join(XForm, XForm.current_version_id == FormAttachment.version_id)
        .join(Blob, Blob.sha256 == FormAttachment.blob_sha256)
        .where(XForm.state == FormState.OPEN, FormAttachment.name == name)
        .order_by(FormAttachment.version_id.desc())
        .limit(1)
    )
    row: Any = session.execute(stmt).first()
    return (row[0], bytes(row[1])) if row is not None else None

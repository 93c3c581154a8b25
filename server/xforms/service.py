"""Publishing forms. Flush only; callers commit."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import PurePath

from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.models import User
from server.blobs import service as blobs
from server.errors import AppError
from server.xforms.convert import (
    Problem,
    convert_xlsform,
    fields_called_name,
    fields_saved_on_phones,
    validate_xform,
)
from server.xforms.definition import DefinitionError, FormDefinition, parse_definition
from server.xforms.models import FORM_STATES, FormAttachment, FormState, XForm, XFormVersion
from server.xforms.queries import get_version, get_xform

# Lists the server builds for each device from its own records, instead of uploaded files.
# cases.csv is an ODK entity list (devices keep it as offline entities); the others are
# plain CSV attachments for select_one_from_file.
SERVER_LISTS = {
    "cases.csv": "entity_list",
    "services.csv": "generated",
    "plan_items.csv": "generated",
    "transfer_targets.csv": "generated",
}

XLSFORM_SUFFIXES = {".xlsx", ".xls"}


@dataclass(frozen=True)
class FormPreview:
    xml: str
    definition: FormDefinition
    warnings: tuple[Problem, ...]
    source_filename: str


@dataclass(frozen=True)
class PublishResult:
    version: XFormVersion
    is_new: bool
    warnings: tuple[Problem, ...]
    missing_media: tuple[str, ...]
    # media carried over unchanged from the version this one replaces
    inherited_media: tuple[str, ...] = ()
    # media supplied for an already published version, replacing what it had (or filling in)
    updated_media: tuple[str, ...] = ()


def safe_filename(name: str) -> str:
    """The last path segment of a client-supplied name, with nothing that could escape."""
    base = PurePath(name.replace("\\", "/")).name
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '/\\:*?"<>|')
    if cleaned in ("", ".", ".."):
        raise AppError("request.invalid", "The file name is not usable.")
    return cleaned[:255]


def media_name(name: str) -> str:
    """A supplied media file's name as a form refers to it: the last segment of the path it
    came with. It is only ever compared with the names the form itself declares."""
    return PurePath(name.replace("\\", "/")).name


def build(content: bytes, filename: str, *, validate: bool) -> FormPreview:
    """Convert and check a form without publishing it (what the designer sees first)."""
    name = safe_filename(filename)
    suffix = PurePath(name).suffix.lower()
    if suffix in XLSFORM_SUFFIXES:
        result = convert_xlsform(content, name, validate=validate)
        xml, warnings = result.xml, result.warnings
    elif suffix == ".xml":
        try:
            xml = content.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise AppError("xform.invalid", "An XForm must be UTF-8 encoded XML.") from exc
        warnings = tuple(validate_xform(xml)) if validate else ()
    else:
        raise AppError("xform.file_type")
    try:
        definition = parse_definition(xml)
    except DefinitionError as exc:
        raise AppError("xform.invalid", f"The XForm is not usable: {exc}") from exc
    named = fields_called_name(definition.fields) if suffix == ".xml" else []
    if named:  # an XLSForm was checked by sheet and row when it was converted
        raise AppError(
            "xform.invalid",
            "The form asks for a name: " + "; ".join(p.message for p in named),
            details={"problems": [p.to_json() for p in named]},
        )
    # an XLSForm was checked by sheet and row already; this also holds for XForm XML
    saved = fields_saved_on_phones(definition.fields)
    if saved:
        raise AppError(
            "xform.invalid",
            "A sensitive answer would be kept on phones: " + "; ".join(p.message for p in saved),
            details={"problems": [p.to_json() for p in saved]},
        )
    return FormPreview(xml=xml, definition=definition, warnings=warnings, source_filename=name)


def publish(
    session: Session,
    content: bytes,
    filename: str,
    *,
    media: dict[str, bytes] | None = None,
    validate: bool = True,
    actor: User | None = None,
) -> PublishResult:
    """Publish a form, or a new version of it, with its media files.

    A new version keeps the previous version's media files of the same names unless new
    ones are supplied (designers change the form far more often than its pictures).
    Publishing the same bytes again changes nothing but the media files supplied with them.
    """
    preview = build(content, filename, validate=validate)
    definition = preview.definition
    md5 = hashlib.md5(preview.xml.encode("utf-8")).hexdigest()  # noqa: S324 (OpenRosa hash)
    supplied = {media_name(k): v for k, v in (media or {}).items()}
    xform = get_xform(session, definition.form_id)
    previous: XFormVersion | None = None
    if xform is None:
        xform = XForm(form_id=definition.form_id, title=definition.title)
        session.add(xform)
        session.flush()
    else:
        existing = get_version(session, xform, definition.version)
        if existing is not None:
            if existing.md5 == md5:
                updated = _supply_media(session, xform, existing, supplied, actor)
                return PublishResult(
                    existing, False, preview.warnings, _missing(existing), updated_media=updated
                )
            raise AppError(
                "xform.version_unchanged",
                details={"form_id": definition.form_id, "version": definition.version},
            )
        previous = xform.current_version
    carried = {
        a.name: a
        for a in (previous.attachments if previous is not None else [])
        if a.kind == "file" and a.blob_sha256 is not None
    }

    source_sha = None
    if PurePath(preview.source_filename).suffix.lower() in XLSFORM_SUFFIXES:
        source_sha = blobs.store(session, content)
    version = XFormVersion(
        xform_id=xform.id,
        version=definition.version,
        title=definition.title,
        xml=preview.xml,
        md5=md5,
        source_filename=preview.source_filename,
        source_sha256=source_sha,
        definition=definition.to_json(),
        warnings=[w.message for w in preview.warnings],
        published_by_id=actor.id if actor else None,
    )
    session.add(version)
    session.flush()

    missing: list[str] = []
    inherited: list[str] = []
    for name in definition.media_files:
        if name in SERVER_LISTS:
            session.add(FormAttachment(version_id=version.id, name=name, kind=SERVER_LISTS[name]))
            continue
        attachment = FormAttachment(version_id=version.id, name=name, kind="file")
        session.add(attachment)
        if name in supplied:
            _store_media(session, attachment, supplied[name])
        elif name in carried:
            source = carried[name]
            attachment.blob_sha256, attachment.md5 = source.blob_sha256, source.md5
            attachment.size = source.size
            inherited.append(name)
        else:
            missing.append(name)
    xform.current_version_id = version.id
    xform.title = definition.title
    session.flush()
    audit.record(
        session,
        actor,
        "form.publish",
        target_type="form",
        target=xform.form_id,
        details={
            "version": definition.version,
            "missing_media": missing,
            "inherited_media": inherited,
        },
    )
    return PublishResult(version, True, preview.warnings, tuple(missing), tuple(inherited))


def _store_media(session: Session, attachment: FormAttachment, data: bytes) -> None:
    attachment.blob_sha256 = blobs.store(session, data)
    attachment.md5 = hashlib.md5(data).hexdigest()  # noqa: S324 (OpenRosa manifest hash)
    attachment.size = len(data)


def _missing(version: XFormVersion) -> tuple[str, ...]:
    return tuple(a.name for a in version.attachments if a.kind == "file" and a.md5 is None)


def _supply_media(
    session: Session,
    xform: XForm,
    version: XFormVersion,
    supplied: dict[str, bytes],
    actor: User | None,
) -> tuple[str, ...]:
    """Media files supplied again with an already published version: those it lacks, or
    whose bytes changed, are stored (devices see the new hash in the manifest)."""
    updated: list[str] = []
    for attachment in version.attachments:
        data = supplied.get(attachment.name)
        if attachment.kind != "file" or data is None:
            continue
        if attachment.md5 != hashlib.md5(data).hexdigest():  # noqa: S324 (OpenRosa hash)
            _store_media(session, attachment, data)
            updated.append(attachment.name)
    if updated:
        session.flush()
        audit.record(
            session,
            actor,
            "form.attachment",
            target_type="form",
            target=xform.form_id,
            details={"version": version.version, "names": updated},
        )
    return tuple(updated)


def upload_attachment(
    session: Session, xform: XForm, name: str, data: bytes, actor: User | None
) -> FormAttachment:
    """Supply a media file for the current version (one the form names)."""
    version = xform.current_version
    name = media_name(name)
    attachment = next((a for a in version.attachments if a.name == name), None) if version else None
    if attachment is None or attachment.kind != "file":
        raise AppError("xform.attachment_not_found")
    _store_media(session, attachment, data)
    session.flush()
    audit.record(
        session,
        actor,
        "form.attachment",
        target_type="form",
        target=xform.form_id,
        details={"name": name},
    )
    return attachment


def set_state(session: Session, form_id: str, state: str, actor: User | None) -> XForm:
    if state not in FORM_STATES:
        raise AppError("xform.bad_state")
    xform = get_xform(session, form_id)
    if xform is None:
        raise AppError("xform.not_found")
    xform.state = FormState(state)
    session.flush()
    audit.record(
        session, actor, "form.state", target_type="form", target=form_id, details={"state": state}
    )
    return xform


def definition_of(version: XFormVersion) -> FormDefinition:
    return FormDefinition.from_json(version.definition)

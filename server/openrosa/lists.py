"""Files a manifest lists: uploaded media, and the lists built per device user."""

from __future__ import annotations

from collections.abc import Callable

from flask import Response, current_app, request
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.models import User
from server.blobs.queries import get_blob
from server.cases import device_lists, list_cache
from server.db import get_database, write_transaction
from server.disposition import set_attachment
from server.errors import AppError
from server.xforms.models import FormAttachment


def _etag_response(body: bytes, etag: str, content_type: str, filename: str) -> Response:
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    response = Response(body, content_type=content_type)
    response.set_etag(etag)
    set_attachment(response.headers, filename)
    return response


def file_response(session: Session, attachment: FormAttachment) -> Response:
    blob = get_blob(session, attachment.blob_sha256) if attachment.blob_sha256 else None
    if blob is None or attachment.md5 is None:
        raise AppError("xform.attachment_not_found")
    return _etag_response(blob.content, attachment.md5, "application/octet-stream", attachment.name)


def _store_apart(write: Callable[[Session], None]) -> None:
    """Write a generated list to the cache in a session of its own, committed at once: this
    request's transaction may only read, and a list built is worth keeping whatever becomes
    of the request."""
    with get_database(current_app).sessionmaker() as session:
        with write_transaction(session):
            write(session)
        session.commit()


def list_hash(session: Session, name: str, user: User) -> str:
    """The manifest hash of a generated list: the MD5 of the bytes this user downloads."""
    return list_cache.get_list(session, name, user, _store_apart, with_content=False).md5


def list_response(
    session: Session, name: str, user: User, device_label: str | None, form_id: str
) -> Response:
    cached = list_cache.get_list(session, name, user, _store_apart, with_content=True)
    etag = cached.md5
    if request.if_none_match.contains(etag):
        return Response(status=304, headers={"ETag": f'"{etag}"'})
    # Case lists carry reference numbers and working fields of children's cases: who
    # received which version of a list is kept, as for every other view of a case.
    audit.record(
        session,
        user,
        "device.list_download",
        target_type="list",
        target=name,
        details={"device": device_label, "form": form_id, "hash": etag},
        ip=request.remote_addr,
    )
    # The exact bytes whose MD5 the manifest announced.
    response = Response(cached.content, content_type="text/csv; charset=utf-8")
    response.set_etag(etag)
    set_attachment(response.headers, name)
    return response


def entity_states(
    session: Session, dataset: str, ids: list[str], user: User
) -> list[tuple[str, bool]]:
    return device_lists.entity_states(session, dataset, ids, user)

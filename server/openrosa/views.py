"""OpenRosa endpoints. Each is reachable with a device key prefix (/key/<token>/…), which is
what a provisioning QR code carries, or without one, authenticating by Digest or Basic."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from flask import Response, current_app, g, request

from server import db, intake
from server.auth.loaders import DeviceCaller, openrosa_caller
from server.auth.models import User
from server.auth.permissions import may, requires
from server.cases.settings import case_settings
from server.errors import AppError
from server.openrosa import lists, multipart, responses
from server.openrosa.bp import bp
from server.submissions.service import Caller, IncomingFile
from server.timeutil import utcnow
from server.xforms import queries as xforms
from server.xforms.models import FormState, XForm, XFormVersion
from server.xforms.service import SERVER_LISTS

MAX_ENTITY_ID_LENGTH = 255


def route(
    rule: str, action: str, **options: Any
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a view at ``rule`` and at ``/key/<token>`` + ``rule``, for callers who may
    do ``action`` (authenticated by the device's key, else Digest or Basic)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        guarded = requires(action, who=_device_user)(view)
        bp.add_url_rule(rule, view.__name__, guarded, **options)
        bp.add_url_rule(f"/key/<token>{rule}", view.__name__, guarded, **options)
        return guarded

    return decorator


def _base(token: str | None) -> str:
    base: str = current_app.config["BASE_URL"]
    return f"{base}/key/{token}" if token else base


def _segment(value: str) -> str:
    """A form ID or file name as one URL path segment: a space, ``%``, ``?``, ``#`` or any
    non-ASCII letter would otherwise break the URL Collect is given (the route decodes it)."""
    return quote(value, safe="")


SEEN_GRANULARITY = timedelta(minutes=10)


def _device_user(view_args: dict[str, Any]) -> User:
    """The caller of a device route, for ``@requires`` (it raises the challenge)."""
    return _caller(view_args.get("token")).user


def _caller(token: str | None) -> DeviceCaller:
    """The device request's caller, authenticated once per request (the door and the view
    both ask: a Digest nonce count is accepted only once)."""
    current = request._get_current_object()  # type: ignore[attr-defined]
    found = getattr(g, "device_caller", None)
    if found is not None and found[0] is current:
        cached: DeviceCaller = found[1]
        return cached
    caller = _authenticate(token)
    g.device_caller = (current, caller)
    return caller


def _authenticate(token: str | None) -> DeviceCaller:
    caller = openrosa_caller(token)
    device = caller.device
    if device is not None:
        now = utcnow()
        seen = device.last_seen_at
        if seen is None or now - seen > SEEN_GRANULARITY:
            # Note the visit rarely: a write on every request would cost an UPDATE for a
            # figure nobody reads that precisely. Committed at once, on its own: the rest of
            # the request may only read, and must not keep SQLite's write lock.
            session = db.session()
            with db.write_transaction(session):
                device.last_seen_at = now
            session.commit()
    return caller


@route("/formList", "form.download", methods=["GET"])
def form_list(token: str | None = None) -> Response:
    # every open form is offered to every signed-in device (@requires signed it in)
    session = db.session()
    base = _base(token)
    entries = []
    for xform, version in xforms.list_downloadable(session):
        has_manifest = bool(version.attachments)
        entries.append(
            responses.FormListEntry(
                form_id=xform.form_id,
                name=version.title or xform.form_id,
                version=version.version,
                md5=version.md5,
                download_url=f"{base}/forms/{_segment(xform.form_id)}.xml",
                manifest_url=f"{base}/forms/{_segment(xform.form_id)}/manifest"
                if has_manifest
                else None,
            )
        )
    return responses.form_list(entries)


def _current(form_id: str) -> tuple[XForm, XFormVersion]:
    """The version devices download. A closing form is still served to the devices that
    have it (they may fill and send it, and need its media and lists to do so); a closed
    one is not, as in ODK Central, where a closed form is readable only by managers."""
    xform = xforms.get_xform(db.session(), form_id)
    if xform is None or xform.current_version is None:
        raise AppError("xform.not_found")
    if xform.state == FormState.CLOSED:
        raise AppError(
            "xform.closed",
            "This form is closed: it can no longer be downloaded or filled in.",
            details={"form_id": form_id},
        )
    return xform, xform.current_version


@route("/forms/<form_id>.xml", "form.download", methods=["GET"])
def form_xml(form_id: str, token: str | None = None) -> Response:
    _, version = _current(form_id)
    # The exact bytes whose MD5 the form list announced.
    return Response(version.xml.encode("utf-8"), content_type="text/xml; charset=utf-8")


@route("/forms/<form_id>/manifest", "form.download", methods=["GET"])
def manifest(form_id: str, token: str | None = None) -> Response:
    caller = _caller(token)
    xform, version = _current(form_id)
    base = _base(token)
    entries = []
    lists_allowed = may(caller.user, "device.lists")
    for attachment in version.attachments:
        url = f"{base}/forms/{_segment(xform.form_id)}/attachments/{_segment(attachment.name)}"
        if attachment.kind != "file" and not lists_allowed:
            continue  # a designer's manifest: the form and its media, no list of cases
        if attachment.kind == "file":
            if attachment.md5 is None:  # named by the form but never uploaded
                continue
            entries.append(responses.ManifestEntry(attachment.name, attachment.md5, url))
            continue
        token_hash = lists.list_hash(db.session(), attachment.name, caller.user)
        if attachment.kind == "entity_list":
            dataset = attachment.name.removesuffix(".csv")
            entries.append(
                responses.ManifestEntry(
                    attachment.name,
                    token_hash,
                    url,
                    type="entityList",
                    integrity_url=f"{base}/datasets/{_segment(dataset)}/integrity",
                )
            )
        else:
            entries.append(responses.ManifestEntry(attachment.name, token_hash, url))
    return responses.manifest(entries)


# The lists the server builds: a rule of their own (registered before the one for uploaded
# media, so that it wins for these names), opened only to those who hold cases.
_LIST_RULE = "<any({}):list_name>".format(", ".join(f'"{n}"' for n in sorted(SERVER_LISTS)))


@route(f"/forms/<form_id>/attachments/{_LIST_RULE}", "device.lists", methods=["GET"])
def list_attachment(form_id: str, list_name: str, token: str | None = None) -> Response:
    caller = _caller(token)
    _, version = _current(form_id)
    found = xforms.get_attachment(db.session(), version, list_name)
    if found is None or found.kind == "file":
        raise AppError("xform.attachment_not_found")
    label = caller.device.label if caller.device is not None else None
    return lists.list_response(db.session(), found.name, caller.user, label, form_id)


@route("/forms/<form_id>/attachments/<name>", "form.download", methods=["GET"])
def attachment(form_id: str, name: str, token: str | None = None) -> Response:
    _, version = _current(form_id)
    found = xforms.get_attachment(db.session(), version, name)
    if found is None or found.kind != "file":  # a list is served by ``list_attachment``
        raise AppError("xform.attachment_not_found")
    return lists.file_response(db.session(), found)


@route("/datasets/<dataset>/integrity", "device.lists", methods=["GET"])
def integrity(dataset: str, token: str | None = None) -> Response:
    caller = _caller(token)
    # Entity IDs are UUIDs; anything that could not be one (or could not be written back
    # in the XML answer) is not answered about, which Collect takes as "not deleted".
    ids = [
        i
        for i in request.args.get("id", "").split(",")
        if i and len(i) <= MAX_ENTITY_ID_LENGTH and i.isprintable()
    ]
    return responses.integrity(lists.entity_states(db.session(), dataset, ids, caller.user))


@route("/submission", "form.download", methods=["HEAD", "GET"])
def submission_probe(token: str | None = None) -> Response:
    # Collect sends HEAD before every POST and only proceeds on 204 (notes §4.1); doing the
    # authentication here (@requires) means Digest is negotiated on the empty request, not
    # the upload.
    return Response(status=204)


def _submission_parts() -> tuple[bytes, list[IncomingFile]]:
    """The XML and the other files of a submission POST."""
    if (request.content_encoding or "identity").lower() != "identity":
        # Collect never compresses an upload, and the body would be read as garbage.
        raise AppError(
            "request.invalid",
            "Compressed uploads are not accepted: send the submission uncompressed.",
        )
    parts = None
    if request.mimetype == "multipart/form-data":
        parts = multipart.parse_files(request.get_data(), request.content_type or "")
    if parts is None:  # anything unusual: werkzeug's parser
        return _werkzeug_parts()
    xml: bytes | None = None
    files = []
    for part in parts:
        if part.name == "xml_submission_file":
            xml = _one_xml(xml, part.content)
        else:
            files.append(
                IncomingFile(name=part.name, content=part.content, content_type=part.mimetype)
            )
    if xml is None:
        raise AppError("submission.no_xml")
    return xml, files


def _one_xml(found: bytes | None, content: bytes) -> bytes:
    """The XML part; a second one is accepted only if it is the same bytes."""
    if found is not None and found != content:
        raise AppError(
            "submission.bad_part",
            "The upload has two different parts named xml_submission_file.",
        )
    return content


def _werkzeug_parts() -> tuple[bytes, list[IncomingFile]]:
    xml: bytes | None = None
    for xml_part in request.files.getlist("xml_submission_file"):
        xml = _one_xml(xml, xml_part.read())
    if xml is None:
        raise AppError("submission.no_xml")
    files = [
        IncomingFile(name=name, content=part.read(), content_type=part.mimetype)
        for name, part in request.files.items(multi=True)
        if name != "xml_submission_file"
    ]
    return xml, files


@route("/submission", "submission.send", methods=["POST"])
@db.commits_in_steps
def submission(token: str | None = None) -> Response:
    caller = _caller(token)
    # What X-OpenRosa-Accept-Content-Length promises (and its framing), not the larger limit
    # that form uploads need: refused before the body is read.
    limit = int(current_app.config["MAX_SUBMISSION_BODY_BYTES"])
    request.max_content_length = min(limit, request.max_content_length or limit)
    if (request.content_length or 0) > request.max_content_length:
        raise AppError("request.too_large")
    xml, files = _submission_parts()
    receipt, _ = intake.receive(
        db.session(),
        xml,
        files,
        Caller(
            user=caller.user,
            device=caller.device,
            device_key=request.args.get("deviceID"),
            user_agent=request.headers.get("User-Agent"),
        ),
        settings=case_settings(current_app),
    )
    if receipt.outcome == "attachments_added" and not receipt.missing_attachments:
        return responses.created("Form received. Thank you! (resent: nothing was duplicated)")
    return responses.created("Form received. Thank you!")

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.xforms.models import FORM_STATES


class AttachmentSchema(Schema):
    name = fields.String()
    kind = fields.String()
    is_uploaded = fields.Function(lambda a: a.kind != "file" or a.blob_sha256 is not None)
    size = fields.Integer(allow_none=True)
    md5 = fields.String(allow_none=True)


class VersionSchema(Schema):
    version = fields.String()
    title = fields.String()
    md5 = fields.String()
    source_filename = fields.String()
    published_at = fields.DateTime()
    warnings = fields.List(fields.String())
    attachments = fields.List(fields.Nested(AttachmentSchema))
    submissions = fields.Integer(dump_default=0)


class FormSchema(Schema):
    form_id = fields.String()
    title = fields.String()
    state = fields.String()
    created_at = fields.DateTime()
    current_version = fields.String(attribute="current_version.version", allow_none=True)
    submissions = fields.Integer(dump_default=0)
    versions = fields.List(fields.Nested(VersionSchema))


class FormStateArgs(Schema):
    state = fields.String(required=True, validate=validate.OneOf(FORM_STATES))


class ProblemSchema(Schema):
    message = fields.String()
    sheet = fields.String(allow_none=True)
    row = fields.Integer(allow_none=True)
    column = fields.String(allow_none=True)
    source = fields.String()

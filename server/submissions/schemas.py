from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.bounds import PAGE, in_utc


class AttachmentSchema(Schema):
    name = fields.String()
    size = fields.Integer(allow_none=True)
    sha256 = fields.String(attribute="blob_sha256", allow_none=True)
    content_type = fields.String(allow_none=True)
    is_received = fields.Function(lambda a: a.blob_sha256 is not None)


class SubmissionSummarySchema(Schema):
    instance_id = fields.String()
    instance_name = fields.String(allow_none=True)
    form_version = fields.String(attribute="version")
    submitter = fields.String(allow_none=True)
    device = fields.String(allow_none=True)
    received_at = fields.DateTime()
    review_state = fields.String()
    processing_state = fields.String()
    is_encrypted = fields.Boolean()


class EditSchema(Schema):
    instance_id = fields.String()
    deprecated_id = fields.String(allow_none=True)
    received_at = fields.DateTime()
    is_current = fields.Boolean()


class SubmissionDetailSchema(SubmissionSummarySchema):
    root_instance_id = fields.String()
    deprecated_id = fields.String(allow_none=True)
    is_current = fields.Boolean()
    processing_error = fields.String(allow_none=True)
    device_key = fields.String(allow_none=True)
    attachments = fields.List(fields.Nested(AttachmentSchema))
    edits = fields.List(fields.Nested(EditSchema))
    data = fields.Dict()
    # False: answers to questions marked sensitive (and their files) are left out.
    includes_sensitive = fields.Boolean()


class SubmissionListArgs(Schema):
    page = fields.Integer(load_default=1, validate=PAGE)
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    since = fields.AwareDateTime(load_default=None, default_timezone=None, validate=in_utc)
    until = fields.AwareDateTime(load_default=None, validate=in_utc)
    submitter = fields.String(load_default=None)

from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from exports import CASE_FORMATS, FORM_FORMATS
from server.bounds import in_utc
from server.sensitivity import MAX_REASON_LENGTH


class FormExportArgs(Schema):
    """Export options as a person picks them (query string or form fields)."""

    format = fields.String(load_default="csv", validate=validate.OneOf(FORM_FORMATS))
    labels = fields.Boolean(load_default=False)
    language = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    group_paths = fields.Boolean(load_default=True)
    split_select_multiple = fields.Boolean(load_default=False)
    include_sensitive = fields.Boolean(load_default=False)
    # why sensitive fields are needed (required with them; recorded in the audit log)
    reason = fields.String(load_default=None, validate=validate.Length(max=MAX_REASON_LENGTH))
    received_from = fields.AwareDateTime(load_default=None, default_timezone=None, validate=in_utc)
    received_before = fields.AwareDateTime(
        load_default=None, default_timezone=None, validate=in_utc
    )
    since_last_export = fields.Boolean(load_default=False)


class CaseExportArgs(Schema):
    class Meta:
        unknown = EXCLUDE  # the export page shares its option fields with form exports

    format = fields.String(load_default="csv", validate=validate.OneOf(CASE_FORMATS))
    # the forms' labels as headers and values instead of names and codes, in ``language``
    labels = fields.Boolean(load_default=False)
    language = fields.String(load_default=None, validate=validate.Length(min=1, max=40))
    include_sensitive = fields.Boolean(load_default=False)
    # why sensitive fields are needed (required with them; recorded in the audit log)
    reason = fields.String(load_default=None, validate=validate.Length(max=MAX_REASON_LENGTH))

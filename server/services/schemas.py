"""Marshmallow schemas for the services directory (dump for the API, load for input)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from server.bounds import PAGE

SERVICE_ID = validate.And(
    validate.Length(min=1, max=80),
    validate.Regexp(
        r"^[A-Za-z0-9_.\-]+$",
        error="Use letters, digits, '_', '-' or '.' only (it is the value a form stores).",
    ),
)

# The kinds of agency a service belongs to, and that a consent to share information names
# (the forms' ``agency_kind`` list, xlsforms/README.md).
AGENCY_KINDS = ("health", "education", "justice", "social_protection", "police", "ngo")
# The kind a service gets from its category when none is given (a directory imported
# before services had kinds, or a file without the column).
DEFAULT_AGENCY_KIND = {
    "health": "health",
    "education": "education",
    "legal_aid": "justice",
    "cash_assistance": "social_protection",
    "alternative_care": "social_protection",
}


def default_agency_kind(category: str | None) -> str:
    """The kind of agency a service of this category belongs to unless it says otherwise."""
    return DEFAULT_AGENCY_KIND.get(category or "", "ngo")


TEXT_COLUMNS = (
    "provider",
    "description",
    "access",
    "focal_points",
    "visiting_teams",
    "facilities_open",
    "hours",
    "location",
)
BOOL_COLUMNS = ("can_visit", "internal", "is_active")
COLUMNS = ("service_id", "name", "category", "agency_kind", *TEXT_COLUMNS, *BOOL_COLUMNS)


class ServiceSchema(Schema):
    """One service as the API shows it."""

    service_id = fields.String()
    name = fields.String()
    category = fields.String()
    provider = fields.String()
    description = fields.String()
    access = fields.String()
    can_visit = fields.Boolean()
    focal_points = fields.String()
    visiting_teams = fields.String()
    facilities_open = fields.String()
    hours = fields.String()
    location = fields.String()
    agency_kind = fields.String()
    internal = fields.Boolean()
    is_active = fields.Boolean()
    updated_at = fields.AwareDateTime()


class ServiceInputSchema(Schema):
    """A service to create, or (with ``partial=True``) the fields to change."""

    service_id = fields.String(required=True, validate=SERVICE_ID)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    category = fields.String(required=True, validate=validate.Length(min=1, max=40))
    provider = fields.String(validate=validate.Length(max=200))
    description = fields.String(validate=validate.Length(max=10_000))
    access = fields.String(validate=validate.Length(max=10_000))
    can_visit = fields.Boolean()
    focal_points = fields.String(validate=validate.Length(max=10_000))
    visiting_teams = fields.String(validate=validate.Length(max=10_000))
    facilities_open = fields.String(validate=validate.Length(max=10_000))
    hours = fields.String(validate=validate.Length(max=200))
    location = fields.String(validate=validate.Length(max=300))
    agency_kind = fields.String(
        validate=validate.OneOf(AGENCY_KINDS, error="Use one of: {choices}.")
    )
    internal = fields.Boolean()
    is_active = fields.Boolean()


class ServiceQueryArgs(Schema):
    """Query string of the services list."""

    category = fields.String(load_default=None)
    q = fields.String(load_default=None, validate=validate.Length(max=200))
    include_inactive = fields.Boolean(load_default=False)
    can_visit = fields.Boolean(load_default=None)
    page = fields.Integer(load_default=1, validate=PAGE)
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class RowErrorSchema(Schema):
    row = fields.Integer()
    service_id = fields.String(allow_none=True)
    messages = fields.Dict(keys=fields.String(), values=fields.List(fields.String()))


class ImportReportSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    errors = fields.List(fields.Nested(RowErrorSchema))
    warnings = fields.List(fields.String())

"""Imports every model so that metadata (Alembic, create_all) sees all tables."""

from server.audit.models import AuditEvent
from server.auth.models import ApiToken, Device, User
from server.blobs.models import Blob
from server.cases.models import (
    Case,
    CaseAction,
    CaseConflict,
    CaseContribution,
    CaseReportCount,
    DeviceListCache,
    ListVersion,
    PlanItem,
    PlanItemDueCount,
)
from server.services.models import Service
from server.submissions.models import Submission, SubmissionAttachment
from server.xforms.models import FormAttachment, XForm, XFormVersion

__all__ = [
    "ApiToken",
    "AuditEvent",
    "Blob",
    "Case",
    "CaseAction",
    "CaseConflict",
    "CaseContribution",
    "CaseReportCount",
    "Device",
    "DeviceListCache",
    "FormAttachment",
    "ListVersion",
    "PlanItem",
    "PlanItemDueCount",
    "Service",
    "Submission",
    "SubmissionAttachment",
    "User",
    "XForm",
    "XFormVersion",
]

"""One catalogue of error codes. Inner layers raise AppError; each edge translates it.

Codes are dotted ``domain.problem`` strings with a fixed HTTP status. Messages are written
for the person who will read them: a caseworker on a phone, a form designer, an admin.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ErrorKind:
    code: str
    http_status: int
    message: str


def _k(code: str, status: int, message: str) -> ErrorKind:
    return ErrorKind(code, status, message)


CATALOGUE: dict[str, ErrorKind] = {
    k.code: k
    for k in [
        # requests
        _k("request.invalid", 400, "The request is not valid."),
        _k(
            "request.bad_cursor",
            400,
            "This link to a page of the list is not valid. Start again from the first page.",
        ),
        _k("request.too_large", 413, "The upload is larger than the server accepts."),
        _k("request.not_found", 404, "Nothing exists at this address."),
        _k("request.method_not_allowed", 405, "This address does not accept that method."),
        _k(
            "server.error",
            500,
            "Something went wrong on the server. Try again later; "
            "if it keeps happening, tell your administrator.",
        ),
        _k(
            "openrosa.version_header",
            400,
            "Requests must carry the header X-OpenRosa-Version: 1.0.",
        ),
        # authentication and authorisation
        _k("auth.required", 401, "Sign in to continue."),
        _k("auth.https_required", 401, "Basic authentication is accepted over HTTPS only."),
        _k(
            "auth.device_token",
            403,
            "This device is not registered or has been revoked. "
            "Ask your administrator for a new QR code.",
        ),
        _k("auth.forbidden", 403, "Your account is not allowed to do this."),
        _k("auth.locked", 429, "Too many failed sign-ins. Wait a few minutes and try again."),
        _k("auth.bad_credentials", 401, "The user name or password is not correct."),
        _k(
            "token.not_found",
            404,
            "There is no API token with this number, nor a user with this name.",
        ),
        # forms
        _k("xform.invalid", 400, "The form could not be converted."),
        _k("xform.validate_failed", 400, "The form would not open in ODK Collect."),
        _k(
            "xform.file_type",
            400,
            "Upload an XLSForm spreadsheet (.xlsx or .xls) or an XForm (.xml).",
        ),
        _k(
            "xform.version_unchanged",
            409,
            "A form with this ID and version is already published. "
            "Change the version in the settings sheet and upload again.",
        ),
        _k("xform.not_found", 404, "There is no form with this ID."),
        _k(
            "xform.version_not_found",
            404,
            "The server does not have this version of the form. "
            "Update your blank forms (Get Blank Form) and fill it again.",
        ),
        _k("xform.closed", 409, "This form is closed and no longer accepts submissions."),
        _k("xform.attachment_not_found", 404, "The form has no attachment with this name."),
        _k("xform.bad_state", 400, "A form state is one of: open, closing, closed."),
        # submissions
        _k(
            "submission.no_xml",
            400,
            "The upload has no form data (the part named xml_submission_file is missing).",
        ),
        _k("submission.malformed_xml", 400, "The submitted form data is not well-formed XML."),
        _k(
            "submission.forbidden_xml",
            400,
            "The submitted form data contains XML features the "
            "server refuses (entity declarations or external references).",
        ),
        _k(
            "submission.no_form_id",
            400,
            "The submitted form data does not say which form it "
            "belongs to (no id attribute on its root).",
        ),
        _k("submission.no_instance_id", 400, "The submitted form data has no instanceID."),
        _k(
            "submission.instance_id_too_long",
            400,
            "The instanceID of the submitted form data is longer than 255 characters.",
        ),
        _k("submission.bad_part", 400, "A file in this upload cannot be kept as it was sent."),
        _k(
            "submission.xml_conflict",
            409,
            "A submission already exists with this ID, but with "
            "different data. Resend the original unchanged, or make an edit of it.",
        ),
        _k(
            "submission.deprecated_not_found",
            404,
            "The submission this edit replaces is not on the server. Send the original first.",
        ),
        _k(
            "submission.deprecating_old",
            409,
            "This edit replaces a version that has already been replaced. Edit the latest version.",
        ),
        _k(
            "submission.edit_forbidden",
            403,
            "Only the person who sent this form, or their supervisor, can send an edit of it.",
        ),
        _k("submission.not_found", 404, "There is no submission with this instanceID."),
        _k(
            "submission.attachment_conflict",
            409,
            "This form is already on the server with another file of the same name; "
            "sending it again cannot replace a file.",
        ),
        _k(
            "submission.attachment_forbidden",
            403,
            "This form is already on the server. Only the person who sent it, or their "
            "supervisor, can add files to it.",
        ),
        # a merge refused (the submission stays stored; see server.cases.limits)
        _k("submission.answer_too_large", 413, "An answer is longer than the merge takes."),
        _k(
            "submission.too_many_repeats",
            413,
            "The submission holds more repeat instances than the merge takes.",
        ),
        # cases
        _k("case.not_found", 404, "There is no case with this reference number."),
        _k(
            "case.bad_ref",
            400,
            "A case reference number is 3 to 40 letters, digits, '-' or '/', "
            "with at least one digit and no spaces.",
        ),
        _k("case.conflict_not_found", 404, "There is no open conflict with this ID."),
        _k("case.bad_value", 400, "The value is not one of the values in conflict."),
        _k("case.conflict_resolved", 409, "This conflict has already been resolved."),
        _k("case.user_not_found", 404, "There is no active user with this name."),
        _k("case.not_unlinked", 409, "This submission is not waiting to be linked."),
        _k(
            "case.not_pending",
            409,
            "What you decided is no longer waiting for approval on this case. "
            "The case page shows what waits now.",
        ),
        _k(
            "case.own_approval",
            403,
            "You sent what waits for approval; another supervisor must approve or return it.",
        ),
        _k("case.bad_decision", 400, "Approve or return: nothing else can be decided here."),
        _k(
            "case.comment_required",
            400,
            "Say why it is returned (at most 2000 characters); the caseworker reads it.",
        ),
        _k("case.no_transfer", 409, "No transfer of this case is waiting for an answer."),
        _k(
            "case.transfer_pending",
            409,
            "A transfer of this case is already waiting for the receiving supervisor.",
        ),
        _k(
            "case.bad_transfer",
            400,
            "Transfer to one caseworker, one other team or one outside agency, of an open case.",
        ),
        _k("case.reprocess_failed", 500, "The submission could not be applied to its case."),
        _k(
            "case.reason_required",
            400,
            "Give a reason (at most 2000 characters); it is kept with the case and in the "
            "audit log.",
        ),
        # referrals (``cases.referral_decisions``)
        _k("referral.not_found", 404, "There is no such referral in an open case you can see."),
        _k(
            "referral.bad_state",
            409,
            "That state does not follow the referral's state now. The case page shows the "
            "states that may follow it.",
        ),
        _k(
            "referral.reason_required",
            400,
            "Say why (at most 500 characters): a decline or a service not delivered needs a "
            "reason.",
        ),
        # users and devices
        _k("user.exists", 409, "A user with this name already exists."),
        _k("user.not_found", 404, "There is no user with this name."),
        _k(
            "user.bad_role",
            400,
            "The role must be one of: admin, supervisor, caseworker, designer.",
        ),
        _k("user.weak_password", 400, "Choose a password of at least 10 characters."),
        _k("user.wrong_password", 400, "Your current password is not correct."),
        _k(
            "user.unknown_team",
            400,
            "Choose a team from the list. An admin adds teams on the Teams page.",
        ),
        _k("team.exists", 409, "A team with this name already exists."),
        _k("team.not_found", 404, "There is no team with this name."),
        _k(
            "team.not_empty",
            409,
            "This team still has members. Move them to another team first.",
        ),
        _k("team.bad_name", 400, "A team name is 1 to 80 characters."),
        _k("auth.lockout_not_found", 404, "This lock-out has already ended or been lifted."),
        _k("user.bad_language", 400, "Choose one of the languages offered."),
        _k(
            "user.bad_time_zone",
            400,
            "Choose a time zone from the list (an IANA name such as Africa/Nairobi).",
        ),
        _k("device.exists", 409, "A device with this label already exists."),
        _k("device.not_found", 404, "There is no device with this label."),
        # services directory
        _k("service.invalid", 400, "The services file could not be read."),
        _k("service.not_found", 404, "There is no service with this ID."),
        # exports
        _k("export.bad_option", 400, "An export option is not valid."),
        _k(
            "export.reason_required",
            400,
            "An export with sensitive fields needs a reason, which is recorded.",
        ),
        # reports
        _k(
            "report.bad_range",
            400,
            "Give the report's months as YYYY-MM (from 2000-01), the first not after the last.",
        ),
        _k("report.unknown_team", 400, "No user belongs to a team of this name."),
        _k("report.other_team", 403, "A supervisor's reports cover their own team only."),
        # database
        _k("db.out_of_date", 500, "The database schema is out of date. Run `casework migrate`."),
    ]
}


@dataclass
class AppError(Exception):
    """An error a caller can act on. ``details`` carries structured context for the edges."""

    code: str
    message: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.code not in CATALOGUE:
            raise KeyError(f"unknown error code {self.code!r}")
        super().__init__(self.text)

    @property
    def kind(self) -> ErrorKind:
        return CATALOGUE[self.code]

    @property
    def http_status(self) -> int:
        return self.kind.http_status

    @property
    def text(self) -> str:
        return self.message or self.kind.message

"""The audit log in words: a label for each action code and readable details.

Entries store codes and JSON values (``case.reassign``, ``{"team": None}``); the page shows
"Gave a case to another caseworker" and "Team: south (was north)", with yes/no for flags
and nothing for empty values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date, datetime
from typing import Any

from flask_babel import lazy_gettext as _l

# Action code -> what happened, in words.
ACTIONS: dict[str, Any] = {
    "auth.login": _l("Signed in"),
    "auth.login_failed": _l("Sign-in failed"),
    "auth.login_locked": _l("Sign-in refused: account locked"),
    "auth.lockout_lift": _l("Lifted a sign-in lock-out"),
    "user.password_change": _l("Changed their own password"),
    "user.preferences": _l("Changed their language or time zone"),
    "team.create": _l("Added a team"),
    "team.delete": _l("Removed a team"),
    "user.create": _l("Created a user"),
    "user.update": _l("Changed a user"),
    "user.password_reset": _l("Reset a password"),
    "device.create": _l("Registered a device"),
    "device.revoke": _l("Revoked a device"),
    "token.create": _l("Created an API token"),
    "token.revoke": _l("Revoked an API token"),
    "form.publish": _l("Published a form"),
    "form.attachment": _l("Added a form's media file"),
    "form.state": _l("Changed a form's state"),
    "device.list_download": _l("A device downloaded a case list"),
    "case.list": _l("Listed cases"),
    "case.view": _l("Viewed a case"),
    "case.history": _l("Viewed a case's history"),
    "case.reassign": _l("Gave a case to another caseworker"),
    "case.resolve": _l("Resolved a conflict"),
    "case.close": _l("Closed a case"),
    "case.reopen": _l("Reopened a case"),
    "case.link": _l("Linked a waiting submission to a case"),
    "case.merge": _l("Merged a duplicate registration into a case"),
    "case.merge_preview": _l("Looked at what merging a duplicate would change"),
    "case.register_new": _l("Registered a duplicate as a new case"),
    "case.rename": _l("Renumbered a case"),
    "case.worker_unsafe": _l("A caseworker did not feel safe at a contact"),
    "case.approve": _l("Approved a closure or case plan"),
    "case.return": _l("Returned a closure or case plan"),
    "case.transfer_request": _l("Asked for a case's transfer"),
    "case.transfer_accept": _l("Accepted a case's transfer"),
    "case.transfer_decline": _l("Declined a case's transfer"),
    "case.transfer_out": _l("Transferred a case to an outside agency"),
    "case.referral": _l("Updated a referral's state"),
    "case.transfer_withdraw": _l("Withdrew a case's transfer"),
    "case.transfer_not_asked": _l("A case conference's transfer could not be asked for"),
    "service.create": _l("Added a service"),
    "service.update": _l("Changed a service"),
    "service.import": _l("Imported the services directory"),
    "submission.list": _l("Listed submissions"),
    "submission.view": _l("Viewed a submission"),
    "submission.view_xml": _l("Viewed a submission's XML"),
    "submission.attachment": _l("Downloaded a submission's file"),
    "submission.files_refused": _l("Refused the files resent with a submission"),
    "export.form": _l("Exported a form's submissions"),
    "export.cases": _l("Exported cases"),
    "export.report": _l("Downloaded a report"),
    "report.view": _l("Viewed a report"),
}

# Detail key -> its name in words.
NAMES: dict[str, Any] = {
    "role": _l("Role"),
    "team": _l("Team"),
    "is_active": _l("Active"),
    "user": _l("User"),
    "username": _l("Given to"),
    "reason": _l("Reason"),
    "state": _l("State"),
    "version": _l("Version"),
    "missing_media": _l("Media files missing"),
    "inherited_media": _l("Media files kept from the previous version"),
    "names": _l("Files"),
    "name": _l("Name"),
    "category": _l("Category"),
    "changed": _l("Fields changed"),
    "created": _l("Created"),
    "updated": _l("Updated"),
    "unchanged": _l("Unchanged"),
    "rows_with_errors": _l("Rows with errors"),
    "instance_id": _l("Submission"),
    "from_ref": _l("From case"),
    "entity_id": _l("Entity"),
    "conflict_key": _l("Conflict"),
    "field": _l("Field"),
    "form_id": _l("Form"),
    "form": _l("Form"),
    "device": _l("Device"),
    "format": _l("Format"),
    "include_sensitive": _l("Sensitive answers included"),
    "sensitive": _l("Sensitive answers read"),
    "labels": _l("Labels instead of codes"),
    "language": _l("Language"),
    "group_paths": _l("Group names in column headers"),
    "split_select_multiple": _l("One column per choice"),
    "received_from": _l("Received from"),
    "received_before": _l("Received before"),
    "submitter_ids": _l("Submitters"),
    "since": _l("Since"),
    "until": _l("Until"),
    "submitter": _l("Submitter"),
    "page": _l("Page"),
    "count": _l("Rows"),
    "print": _l("Printed"),
    "token": _l("Token"),
    "label": _l("Label"),
    "hash": _l("List hash"),
    "by_team": _l("Cut by team"),
    "scope": _l("Locked for"),
    "address": _l("Address"),
    "to_team": _l("To team"),
    "agency": _l("Outside agency"),
    "username_before": _l("Was with"),
    "closure_reason": _l("Closure reason"),
    "approval_kind": _l("Sent for approval"),
    "requested_by": _l("Sent by"),
    "comment": _l("Comment"),
    "at": _l("At"),
    "time_zone": _l("Time zone"),
    "service_id": _l("Service"),
    "fields": _l("Fields"),
    "missing": _l("Missing"),
    "filename": _l("File"),
    "size": _l("Size (bytes)"),
    "files": _l("Files"),
    "code": _l("Why"),
    "device_key": _l("Device"),
}

# Detail key -> its coded values in words.
VALUES: dict[str, dict[str, Any]] = {
    "role": {
        "admin": _l("admin"),
        "supervisor": _l("supervisor"),
        "caseworker": _l("caseworker"),
        "designer": _l("designer"),
    },
    "state": {"open": _l("open"), "closing": _l("closing"), "closed": _l("closed")},
    "approval_kind": {"closure": _l("Closure"), "plan": _l("Case plan")},
    "closure_reason": {"transferred": _l("transferred to an outside agency")},
    "scope": {
        "pair": _l("this account from this address"),
        "address": _l("every account from this address"),
        "account": _l("this account from every address"),
    },
}

# Target type -> its name in words.
TARGETS: dict[str, Any] = {
    "case": _l("case"),
    "cases": _l("cases"),
    "device": _l("device"),
    "file": _l("file"),
    "form": _l("form"),
    "list": _l("list"),
    "report": _l("report"),
    "service": _l("service"),
    "submission": _l("submission"),
    "user": _l("user"),
    "team": _l("team"),
    "address": _l("address"),
}

BEFORE = "_before"  # a detail "x_before" is what "x" was before the change


def action_label(code: str) -> str:
    """The action in words; an unknown code with its dots and underscores as spaces."""
    found = ACTIONS.get(code)
    if found is not None:
        return str(found)
    return code.replace(".", ": ").replace("_", " ").capitalize()


def target_label(target_type: str) -> str:
    found = TARGETS.get(target_type)
    return str(found) if found is not None else target_type


def question_namer(labels: Mapping[str, Any]) -> Callable[[str], str]:
    """Names "form_id:path" by its question's label and its form's title, in the words of
    each form's current version (``labels``: form ID -> ``FormLabels``); any other text, or
    a question no longer in the form, as it is."""

    def name(ref: str) -> str:
        form_id, _, path = ref.partition(":")
        words = labels.get(form_id)
        if not path or words is None or words.question(path) is None:
            return ref
        label = words.label(path)
        return f"{label} ({words.title})" if label else ref

    return name


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return str(_l("yes") if value else _l("no"))
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple | set | frozenset):
        return ", ".join(_value(v) for v in value if not _is_empty(v))
    if isinstance(value, dict):
        return "; ".join(
            f"{_name(k)}: {_value(v)}" for k, v in sorted(value.items()) if not _is_empty(v)
        )
    return str(value)


def _is_empty(value: Any) -> bool:
    """None, "" and empty lists are left out; False and 0 are values."""
    if isinstance(value, list | tuple | set | frozenset | dict):
        return not value
    return value is None or value == ""


def _name(key: str) -> str:
    found = NAMES.get(key)
    return str(found) if found is not None else key.replace("_", " ").capitalize()


def audit_details(
    details: dict[str, Any] | None, question: Callable[[str], str] | None = None
) -> list[tuple[str, str]]:
    """(name, value) pairs to show, in a stable order: empty values left out, flags as
    yes/no, and a changed value with what it was ("south (was north)"). ``question`` names
    a sensitive answer read ("case_plan:about/risk_summary") in words."""
    details = details or {}
    if question is not None and isinstance(details.get("sensitive"), list):
        details = {**details, "sensitive": [question(str(s)) for s in details["sensitive"]]}
    shown: list[tuple[str, str]] = []
    for key in sorted(details):
        if key.endswith(BEFORE) and key[: -len(BEFORE)] in details:
            continue  # shown with the new value
        value = details[key]
        before = details.get(key + BEFORE)
        had_before = key + BEFORE in details
        if _is_empty(value) and not had_before:
            continue
        words = VALUES.get(key, {})
        if isinstance(value, str) and value in words:
            value = str(words[value])
        text = _value(value) if not _is_empty(value) else str(_l("none"))
        if had_before:
            was = _value(before) if not _is_empty(before) else str(_l("none"))
            text = str(_l("%(new)s (was %(old)s)", new=text, old=was))
        shown.append((_name(key), text))
    return shown

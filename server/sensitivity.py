"""The one rule for sensitive answers (domain.md §Confidentiality).

Answers to questions a form marks ``casework:sensitive`` (and everything inside a group or
repeat so marked, in any version of the form) are:

- read by whoever may see the case or the submission (its caseworker, the supervisors of
  its team, admins), and every such read is recorded in the audit log; a designer never
  reads them;
- in an export only when an admin or a supervisor asks for them and gives a reason, which is
  recorded;
- never on a phone: no device list (cases.csv, plan_items.csv, …) carries a column a
  sensitive answer feeds.

:func:`may_read` is the decision; the case API, the case page, its history and print view,
the submissions API, exports and the device lists all ask it, and use the pure filters below
(:func:`sensitive_names`, :func:`answers_for`, :func:`fields_read`, :func:`device_hidden`)
for what to show. Callers check scope (which cases and submissions the actor may see)
first; this module decides only about the sensitive part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from exports.tables import sensitive_paths, without_sensitive
from server.auth.permissions import REFUSALS, role_may
from server.errors import AppError
from server.submissions.parse import DataNode
from server.xforms.definition import FormDefinition
from server.xforms.models import XFormVersion

# Who may see a case (its caseworker, its team's supervisors, admins: scope is the caller's
# check) reads its sensitive answers (``submission.read_sensitive``); who may export asks for
# them with a reason (``export.sensitive``): see ``server.auth.permissions``.
MAX_REASON_LENGTH = 500

# What a role answer is kept as on the case (``cases.mapping``), and the device-list columns
# filled from each case field or plan item answer.
_ROLE_PROPERTIES = {
    "risk": "risk_level",
    "contact_frequency": "contact_frequency_days",
    "next_contact": "next_contact_date",
    "review_due": "review_date",
    "care_plan_review": "care_plan_review_date",
    "caseworker": "caseworker",
}
_ITEM_ROLES = frozenset({"key", "item_id", "title", "owner", "due", "status"})
_ITEM_KINDS = frozenset({"need", "service", "action", "decision", "existing"})
CASE_LIST_SOURCES: Mapping[str, str] = {
    "risk_level": "risk_level",
    "caseworker": "caseworker",
    "next_contact_due": "next_contact_date",
}
ITEM_LIST_SOURCES: Mapping[str, str] = {"label": "title", "due": "due"}


class Use(StrEnum):
    """Where sensitive answers would go."""

    VIEW = "view"  # a person reads a case or a submission on screen or through the API
    EXPORT = "export"  # a file leaves the server
    DEVICE = "device"  # a list sent to a phone


def may_read(role: str | None, use: Use, reason: str | None = None) -> bool:
    """The rule: may someone with ``role`` have sensitive answers for ``use``?

    A person who may see the case reads them; an export carries them only for an admin or a
    supervisor who gave a reason; a phone never gets them; a designer never does.
    """
    if use is Use.DEVICE or role is None:
        return False
    if use is Use.VIEW:
        return role_may(role, "submission.read_sensitive")
    return role_may(role, "export.sensitive") and bool((reason or "").strip())


def check_export(role: str | None, include_sensitive: bool, reason: str | None) -> str | None:
    """The reason to record for an export (None when it holds no sensitive answers); an
    ``AppError`` when sensitive answers are asked for by the wrong role or without a reason."""
    if not include_sensitive:
        return None
    if not role_may(role, "export.sensitive"):
        raise AppError("auth.forbidden", REFUSALS["export.sensitive"])
    text = " ".join((reason or "").split())
    if not text:
        raise AppError("export.reason_required")
    if len(text) > MAX_REASON_LENGTH:
        raise AppError(
            "export.reason_required", f"Give the reason in at most {MAX_REASON_LENGTH} characters."
        )
    if not may_read(role, Use.EXPORT, text):
        raise AppError("auth.forbidden")
    return text


@dataclass(frozen=True)
class SensitiveNames:
    """What sensitive answers feed, over every version of every form."""

    paths: frozenset[str]  # form paths (see ``exports.tables.sensitive_paths``)
    case_fields: frozenset[str]  # case properties (and role fields: ``risk_level``, …)
    item_fields: frozenset[str]  # plan item properties and answers (``how_addressed``, ``title``)

    def hides_case_field(self, name: str) -> bool:
        return name in self.case_fields

    def hides_item_field(self, name: str) -> bool:
        return name in self.item_fields


def sensitive_names(definitions: Sequence[FormDefinition]) -> SensitiveNames:
    """Pure: the case and plan item fields a sensitive answer feeds, as ``cases.mapping``
    names them (a role's case field, else ``save_to``; inside a plan item repeat the item
    role, else the question's name)."""
    by_form: dict[str, list[FormDefinition]] = {}
    for d in definitions:
        by_form.setdefault(d.form_id, []).append(d)
    all_paths: set[str] = set()
    case_fields: set[str] = set()
    item_fields: set[str] = set()
    for versions in by_form.values():
        paths = sensitive_paths(versions)
        all_paths |= paths
        for d in versions:
            repeats = {f.path: f.role for f in d.fields if f.kind == "repeat"}
            for f in d.fields:
                if f.path not in paths or f.kind != "field":
                    continue
                if f.repeat is None:
                    name = _ROLE_PROPERTIES.get(f.role or "") or f.save_to or f.name
                    case_fields.add(name)
                elif repeats.get(f.repeat) in _ITEM_KINDS:
                    item_fields.add(f.role if f.role in _ITEM_ROLES else f.name)
    return SensitiveNames(frozenset(all_paths), frozenset(case_fields), frozenset(item_fields))


_cache: dict[tuple[tuple[int, str], ...], SensitiveNames] = {}


def load_names(session: Session) -> SensitiveNames:
    """:func:`sensitive_names` over every published version, cached by the versions held
    (each known by its id and the md5 of its XForm, from which its definition comes)."""
    key = tuple(
        (int(i), str(m))
        for i, m in session.execute(
            select(XFormVersion.id, XFormVersion.md5).order_by(XFormVersion.id)
        )
    )
    found = _cache.get(key)
    if found is None:
        rows = session.scalars(select(XFormVersion.definition).order_by(XFormVersion.id))
        found = sensitive_names([FormDefinition.from_json(d) for d in rows])
        _cache.clear()
        _cache[key] = found
    return found


@dataclass(frozen=True)
class Answers:
    """A submission's answers as one reader may have them."""

    data: DataNode
    include_sensitive: bool
    hidden_values: frozenset[str]  # what was left out (names of files that answer among them)
    read: tuple[str, ...]  # paths of sensitive answers the reader gets (for the audit log)


def answers_for(data: DataNode, paths: frozenset[str], allowed: bool) -> Answers:
    """Pure: the answers, with the sensitive ones when ``allowed`` (:func:`may_read`)."""
    kept, hidden = without_sensitive(data, paths)
    if allowed:
        present = tuple(sorted(p for p in paths if _answered(data, p)))
        return Answers(data, True, frozenset(), present)
    return Answers(kept, False, frozenset(hidden), ())


def _answered(data: DataNode, path: str) -> bool:
    nodes: list[DataNode] = [data]
    for part in path.split("/"):
        nxt: list[DataNode] = []
        for node in nodes:
            for value in node.get(part, []):
                if isinstance(value, dict):
                    nxt.append(value)
                elif value.strip():
                    return True
        nodes = nxt
    return False


def fields_read(
    names: SensitiveNames,
    case_properties: Mapping[str, Any],
    item_properties: Iterable[Mapping[str, Any]] = (),
    changes: Iterable[Mapping[str, Any]] = (),
) -> list[str]:
    """Pure: the sensitive case and plan item fields a case record shows (its properties,
    its items' properties, the changes of its history), for the audit log."""
    shown = {k for k, v in case_properties.items() if v not in (None, "")}
    for change in changes:
        shown |= {k for k, v in change.items() if v not in (None, "")}
    found = {k for k in shown if names.hides_case_field(k)}
    for props in item_properties:
        found |= {
            f"item.{k}"
            for k, v in props.items()
            if v not in (None, "") and names.hides_item_field(k)
        }
    return sorted(found)


def device_hidden(names: SensitiveNames, list_name: str, header: Sequence[str]) -> frozenset[str]:
    """Pure: the columns of a device list that a sensitive answer feeds; they go empty (a
    label built from one of them leaves it out). Columns named after a case or item field
    count as fed by it."""
    if list_name == "cases.csv":
        sources, hides = CASE_LIST_SOURCES, names.hides_case_field
    elif list_name == "plan_items.csv":
        sources, hides = ITEM_LIST_SOURCES, names.hides_item_field
    else:
        return frozenset()
    return frozenset(c for c in header if c != "name" and hides(sources.get(c, c)))

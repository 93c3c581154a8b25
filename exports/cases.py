"""The case tables of a case export: cases (fixed columns, then properties), plan_items,
contacts and conferences, linked on ``case_ref``, and their rows from plain records. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from exports.cells import Cell, Row
from exports.options import ExportOptions
from exports.tables import Column, TableSpec, iso_utc
from server.cases.models import CaseStatus
from server.xforms.definition import FormKind


@dataclass(frozen=True)
class CaseRecord:
    case_ref: str
    status: str
    caseworker: str | None
    risk_level: str | None
    contact_frequency_days: int | None
    last_contact_at: datetime | None
    next_contact_due: date | None
    review_due: date | None
    open_conflicts: int
    opened_at: datetime
    closed_at: datetime | None
    properties: Mapping[str, Any]


@dataclass(frozen=True)
class PlanItemRecord:
    case_ref: str
    item_id: str
    kind: str
    title: str
    owner: str | None
    due_date: date | None
    status: str
    is_done: bool


@dataclass(frozen=True)
class ContributionRecord:
    case_ref: str
    form_id: str
    form_kind: FormKind
    event_at: datetime
    submitter: str | None
    instance_id: str


CASE_COLUMNS = (
    "case_ref",
    "status",
    "caseworker",
    "risk_level",
    "contact_frequency_days",
    "last_contact_at",
    "next_contact_due",
    "is_contact_overdue",
    "review_due",
    "open_conflicts",
    "opened_at",
    "closed_at",
)
PLAN_ITEM_COLUMNS = (
    "case_ref",
    "item_id",
    "kind",
    "title",
    "owner",
    "due_date",
    "status",
    "is_overdue",
)
CONTRIBUTION_COLUMNS = ("case_ref", "form_id", "event_at", "submitter", "instance_id")
CASE_TABLE_NAMES = ("cases", "plan_items", "contacts", "conferences")


def contribution_table(kind: FormKind) -> str | None:
    """Which case table a contribution belongs to, by its form's kind (None: neither)."""
    if kind is FormKind.CONFERENCE:
        return "conferences"
    if kind is FormKind.CONTACT:
        return "contacts"
    return None


def case_tables(
    property_names: Iterable[str], sensitive_properties: Iterable[str], options: ExportOptions
) -> list[TableSpec]:
    """Linked case tables: cases (fixed columns, then properties sorted by name), plan_items,
    contacts and conferences, joined on ``case_ref``.

    Properties fed by a sensitive form field are left out unless ``options.include_sensitive``.
    A property whose name is a fixed column is exported as ``property-<name>``.
    """
    hidden = set() if options.include_sensitive else set(sensitive_properties)
    props = sorted({p for p in property_names if p not in hidden})
    numbers = {"contact_frequency_days": "int", "open_conflicts": "int"}
    columns = [Column(n, "meta", n, numbers.get(n, "string")) for n in CASE_COLUMNS]
    columns.extend(
        Column(f"property-{p}" if p in CASE_COLUMNS else p, "property", p) for p in props
    )
    return [
        TableSpec("cases", tuple(columns)),
        TableSpec("plan_items", tuple(Column(n, "meta", n) for n in PLAN_ITEM_COLUMNS)),
        TableSpec("contacts", tuple(Column(n, "meta", n) for n in CONTRIBUTION_COLUMNS)),
        TableSpec("conferences", tuple(Column(n, "meta", n) for n in CONTRIBUTION_COLUMNS)),
    ]


def _text(value: Any) -> Cell:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return iso_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str | int | float):
        return value
    return json.dumps(value, ensure_ascii=False, sort_keys=True)


def case_rows(
    tables: Sequence[TableSpec],
    records: Iterable[CaseRecord | PlanItemRecord | ContributionRecord],
    today: date,
) -> Iterator[tuple[int, Row]]:
    """Rows of the case tables in one pass over mixed records: ``(table index, row)``."""
    prop_cols = [c.path for c in tables[0].columns if c.source == "property"]
    for r in records:
        if isinstance(r, CaseRecord):
            overdue = (
                r.status == CaseStatus.OPEN
                and r.next_contact_due is not None
                and r.next_contact_due < today
            )
            fixed = [
                r.case_ref,
                r.status,
                r.caseworker,
                r.risk_level,
                r.contact_frequency_days,
                r.last_contact_at,
                r.next_contact_due,
                overdue,
                r.review_due,
                r.open_conflicts,
                r.opened_at,
                r.closed_at,
            ]
            yield 0, [_text(v) for v in fixed] + [_text(r.properties.get(p)) for p in prop_cols]
        elif isinstance(r, PlanItemRecord):
            overdue = not r.is_done and r.due_date is not None and r.due_date < today
            item = [r.case_ref, r.item_id, r.kind, r.title, r.owner, r.due_date, r.status, overdue]
            yield 1, [_text(v) for v in item]
        else:
            target = contribution_table(r.form_kind)
            if target is None:
                continue
            values = [r.case_ref, r.form_id, r.event_at, r.submitter, r.instance_id]
            yield (2 if target == "contacts" else 3), [_text(v) for v in values]

"""The case tables of a case export: cases (fixed columns, then properties), plan_items,
contacts and conferences, linked on ``case_ref``, and their rows from plain records. Pure.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from exports.cells import Cell, Row
from exports.options import ExportOptionError, ExportOptions
from exports.tables import Column, TableSpec, iso_utc
from server.cases.mapping import case_property_of
from server.cases.models import CaseStatus
from server.xforms.definition import FormDefinition, FormKind


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
    case_status: str = CaseStatus.OPEN  # none of a closed case's items is overdue


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


# The case columns a form's question fills through its role (``cases.mapping``): with
# labels they are headed by that question's label and show its choice labels. The other
# fixed columns are the server's own (dates it computes, counts) and keep their names.
_ROLE_COLUMNS = {
    "ref": "case_ref",
    "risk": "risk_level",
    "contact_frequency": "contact_frequency_days",
    "caseworker": "caseworker",
}


@dataclass(frozen=True)
class CaseWords:
    """The forms' words for a labelled case export, in one language: question labels by
    case column or property, choice labels by column, and the plan items' kinds and
    statuses as the repeats that make them label them."""

    headers: Mapping[str, str]  # case column or property -> its question's label
    choices: Mapping[str, Mapping[str, str]]  # case column or property -> value -> label
    item_kinds: Mapping[str, str]  # kind -> the label of the repeat that makes such items
    item_statuses: Mapping[str, Mapping[str, str]]  # kind ("" any) -> status -> label

    def value(self, column: str, value: Any) -> Any:
        """A case value in words when its question offers it as a choice (a select
        multiple's values joined with "; "); else as it is."""
        words = self.choices.get(column)
        if not words or value in (None, "") or isinstance(value, bool):
            return value
        text = str(value)
        if text in words:
            return words[text]
        return "; ".join(words.get(v, v) for v in text.split())

    def status(self, kind: str, status: str) -> str:
        return self.item_statuses.get(kind, {}).get(status) or self.item_statuses.get("", {}).get(
            status, status
        )


def case_words(definitions: Sequence[FormDefinition], language: str | None) -> CaseWords:
    """Pure: the words of every form version (oldest first) in ``language`` (as a form
    names it, "French (fr)", or by its code, "fr"; None: each form's default language).
    Newer versions win, and the registering forms' (the case plan) over all others.
    ``ExportOptionError`` when no form has the language asked for."""
    if (
        language is not None
        and any(d.languages for d in definitions)
        and not any(d.language_named(language) for d in definitions)
    ):
        known = sorted({lang for d in definitions for lang in d.languages})
        raise ExportOptionError(f"no form has the language {language!r}; they have {known}")
    headers: dict[str, str] = {}
    choices: dict[str, dict[str, str]] = {}
    kinds: dict[str, str] = {}
    statuses: dict[str, dict[str, str]] = {"": {}}
    ordered = sorted(definitions, key=lambda d: d.kind is FormKind.REGISTRATION)
    for d in ordered:
        lang = d.language_named(language) if language else None
        lists = {
            list_id: {c.value: d.label(c.labels, lang) or c.value for c in items}
            for list_id, items in d.choices.items()
        }
        repeat_roles = {f.path: f.role for f in d.fields if f.kind == "repeat" and f.role}
        for f in d.fields:
            label = d.label(f.labels, lang) if f.labels else ""
            if f.kind == "repeat" and f.role and label:
                kinds[f.role] = label
            if f.kind != "field":
                continue
            if f.repeat is not None:
                kind = repeat_roles.get(f.repeat)
                if f.role == "status" and f.choice_list in lists:
                    statuses[""].update(lists[f.choice_list])
                    if kind:
                        statuses[kind] = dict(lists[f.choice_list])
                continue
            column = _ROLE_COLUMNS.get(f.role or "") or case_property_of(f.role, f.save_to)
            if not column:
                continue
            if label:
                headers[column] = label
            if f.choice_list in lists:
                choices[column] = dict(lists[f.choice_list or ""])
    return CaseWords(headers, choices, kinds, statuses)


def _headed(columns: list[Column], words: CaseWords | None) -> tuple[Column, ...]:
    """The columns under their questions' labels (a label used twice, or that is another
    column's name, carries the column's name in brackets)."""
    if words is None:
        return tuple(columns)
    # a property named as a fixed column ("property-risk_level") keeps its name: the fixed
    # column carries the label
    labelled = [c.path in words.headers and c.name == c.path for c in columns]
    wanted = [
        words.headers[c.path] if is_labelled else c.name
        for c, is_labelled in zip(columns, labelled, strict=True)
    ]
    taken = {c.name for c, is_labelled in zip(columns, labelled, strict=True) if not is_labelled}
    out = []
    for c, header, is_labelled in zip(columns, wanted, labelled, strict=True):
        if is_labelled and (wanted.count(header) > 1 or header in taken):
            header = f"{header} ({c.name})"
        kind = "string" if c.path in words.choices else c.type  # a choice label, not a number
        out.append(Column(header, c.source, c.path, kind, c.choice))
    return tuple(out)


def contribution_table(kind: FormKind) -> str | None:
    """Which case table a contribution belongs to, by its form's kind (None: neither)."""
    if kind is FormKind.CONFERENCE:
        return "conferences"
    if kind is FormKind.CONTACT:
        return "contacts"
    return None


def case_tables(
    property_names: Iterable[str],
    sensitive_properties: Iterable[str],
    options: ExportOptions,
    words: CaseWords | None = None,
) -> list[TableSpec]:
    """Linked case tables: cases (fixed columns, then properties sorted by name), plan_items,
    contacts and conferences, joined on ``case_ref``.

    Properties fed by a sensitive form field are left out unless ``options.include_sensitive``.
    A property whose name is a fixed column is exported as ``property-<name>``. With
    ``words`` (``options.labels``), the columns a question fills are headed by its label.
    """
    hidden = set() if options.include_sensitive else set(sensitive_properties)
    props = sorted({p for p in property_names if p not in hidden})
    numbers = {"contact_frequency_days": "int", "open_conflicts": "int"}
    columns = [Column(n, "meta", n, numbers.get(n, "string")) for n in CASE_COLUMNS]
    columns.extend(
        Column(f"property-{p}" if p in CASE_COLUMNS else p, "property", p) for p in props
    )
    return [
        TableSpec("cases", _headed(columns, words)),
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
    words: CaseWords | None = None,
) -> Iterator[tuple[int, Row]]:
    """Rows of the case tables in one pass over mixed records: ``(table index, row)``.
    With ``words``, the answers chosen from a list and the plan items' kinds and statuses
    are the forms' labels."""
    prop_cols = [c.path for c in tables[0].columns if c.source == "property"]
    for r in records:
        if words is not None:
            r = _in_words(r, words)
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
            overdue = (
                r.case_status == CaseStatus.OPEN
                and not r.is_done
                and r.due_date is not None
                and r.due_date < today
            )
            item = [r.case_ref, r.item_id, r.kind, r.title, r.owner, r.due_date, r.status, overdue]
            yield 1, [_text(v) for v in item]
        else:
            target = contribution_table(r.form_kind)
            if target is None:
                continue
            values = [r.case_ref, r.form_id, r.event_at, r.submitter, r.instance_id]
            yield (2 if target == "contacts" else 3), [_text(v) for v in values]


def _in_words(
    r: CaseRecord | PlanItemRecord | ContributionRecord, words: CaseWords
) -> CaseRecord | PlanItemRecord | ContributionRecord:
    if isinstance(r, CaseRecord):
        return replace(
            r,
            risk_level=words.value("risk_level", r.risk_level),
            contact_frequency_days=words.value("contact_frequency_days", r.contact_frequency_days),
            properties={k: words.value(k, v) for k, v in r.properties.items()},
        )
    if isinstance(r, PlanItemRecord):
        return replace(
            r, kind=words.item_kinds.get(r.kind, r.kind), status=words.status(r.kind, r.status)
        )
    return r

"""Registration data for reports: what a case's answers say about the child, as the
columns the reports count, and which report cells a case adds to. Pure: no Flask, no
database.

None of it identifies the child. The case plan asks the age in completed years, or an age
band when the age is not known; never a birth date. The band is always the server's:
:func:`age_band` of the age in years when there is one, else the band the phone gave if
it is one of :data:`AGE_BANDS`. Disability follows the Washington Group short set: six
domains, each ``none``, ``some``, ``a_lot`` or ``cannot``; a child has a disability when
any domain is ``a_lot`` or ``cannot``, has none when all six are answered otherwise, and
is "not recorded" when answers are missing. The area is the region (``admin1``) and
district (``admin2``) codes the phone picked from ``areas.csv``.

The answers arrive as ordinary case fields (``casework:saveto``), so they keep the merge's
field-level provenance and conflicts; these functions only read the merged fields.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

AGE_BANDS = ("0-4", "5-9", "10-14", "15-17", "18+")
WG_DOMAINS = (
    "wg_seeing",
    "wg_hearing",
    "wg_walking",
    "wg_remembering",
    "wg_selfcare",
    "wg_communicating",
)
WG_ANSWERS = ("none", "some", "a_lot", "cannot")
WG_DISABILITY = frozenset({"a_lot", "cannot"})
# The columns hold this much; a longer answer is not a code and counts as not recorded.
MAX_CODE = 64
MAX_AGE_YEARS = 120
# A need or service that is no longer needed is not counted.
NOT_COUNTED_STATUSES = frozenset({"cancelled"})

# The case fields the forms write (xlsforms/README.md) -> the columns.
FIELDS = {
    "age_years": "age_years",
    "age_band": "age_band",
    "sex": "sex",
    "admin1": "admin1",
    "admin2": "admin2",
    "intake_concern": "intake_concern",
}

# The report's dimensions, in the order the reports show them. The first seven count
# cases (each case once: a partition of the cases), ``need`` and ``service`` count cases
# with at least one item of the category, ``referral`` counts services by their status.
CASE_DIMENSIONS = ("age_band", "sex", "disability", "region", "area", "concern", "risk")
ITEM_DIMENSIONS = ("need", "service", "referral")
DIMENSIONS = CASE_DIMENSIONS + ITEM_DIMENSIONS
# Dimensions whose rows add up to a total shown with them (each case or referral in one row).
PARTITIONS = frozenset({*CASE_DIMENSIONS, "referral"})
NOT_RECORDED = ""

# (caseworker id, 0 for none; month of registration; dimension; value)
ReportKey = tuple[int, date, str, str]


@dataclass(frozen=True)
class Registration:
    """The report columns of one case (None: not recorded)."""

    age_years: int | None = None
    age_band: str | None = None
    sex: str | None = None
    disability: str | None = None  # "yes" | "no"
    admin1: str | None = None
    admin2: str | None = None
    intake_concern: str | None = None

    def columns(self) -> dict[str, Any]:
        return {
            "age_years": self.age_years,
            "age_band": self.age_band,
            "sex": self.sex,
            "disability": self.disability,
            "admin1": self.admin1,
            "admin2": self.admin2,
            "intake_concern": self.intake_concern,
        }


def age_band(years: int) -> str:
    """The band of an age in completed years."""
    if years < 5:
        return "0-4"
    if years < 10:
        return "5-9"
    if years < 15:
        return "10-14"
    if years < 18:
        return "15-17"
    return "18+"


def disability(answers: Mapping[str, Any]) -> str | None:
    """``yes`` when any Washington Group domain is "a lot of difficulty" or "cannot do at
    all"; ``no`` when all six are answered and none is; else None (not recorded)."""
    given = [_code(answers.get(d)) for d in WG_DOMAINS]
    if any(a in WG_DISABILITY for a in given):
        return "yes"
    if all(a in WG_ANSWERS for a in given):
        return "no"
    return None


def registration(properties: Mapping[str, Any]) -> Registration:
    """The report columns a case's merged fields give."""
    years = _whole_number(properties.get("age_years"))
    band = age_band(years) if years is not None else None
    if band is None:
        given = _code(properties.get("age_band"))
        band = given if given in AGE_BANDS else None
    return Registration(
        age_years=years,
        age_band=band,
        sex=_code(properties.get("sex")),
        disability=disability(properties),
        admin1=_code(properties.get("admin1")),
        admin2=_code(properties.get("admin2")),
        intake_concern=_code(properties.get("intake_concern")),
    )


def item_category(kind: str, key: str | None, properties: Mapping[str, Any]) -> str:
    """The report category of a need or service: its ``need_category`` or
    ``service_category`` answer (the case plan's repeats, the contact log's referrals);
    without one, the item's key when it is a plain code (the plan's keys are the category,
    ``other-…`` for a typed one); else not recorded."""
    answer = _code(properties.get(f"{kind}_category"))
    if answer:
        return answer
    if key and not key.startswith("contact:"):
        if key.startswith("other-"):
            return "other"
        code = _code(key)
        if code:
            return code
    return NOT_RECORDED


@dataclass(frozen=True)
class CaseRow:
    """What the report counts of one case are made from: its row's columns."""

    caseworker_id: int | None
    opened_at: datetime | None
    age_band: str | None
    sex: str | None
    disability: str | None
    admin1: str | None
    admin2: str | None
    intake_concern: str | None
    risk_level: str | None


@dataclass(frozen=True)
class ItemRow:
    kind: str
    key: str | None
    status: str | None
    properties: Mapping[str, Any]


def month_of(when: datetime | date) -> date:
    return date(when.year, when.month, 1)


def report_keys(case: CaseRow, items: Iterable[ItemRow]) -> Counter[ReportKey]:
    """The report cells one case adds to, with how much: one in each case dimension, one
    per distinct need and service category, one per service in ``referral`` by status."""
    if case.opened_at is None:
        return Counter()
    cw, month = case.caseworker_id or 0, month_of(case.opened_at)
    values = {
        "age_band": case.age_band,
        "sex": case.sex,
        "disability": case.disability,
        "region": case.admin1,
        "area": case.admin2,
        "concern": case.intake_concern,
        "risk": case.risk_level,
    }
    out: Counter[ReportKey] = Counter(
        {(cw, month, dim, _bounded(value)): 1 for dim, value in values.items()}
    )
    needs: set[str] = set()
    services: set[str] = set()
    for item in items:
        status = _bounded(item.status)
        if item.kind == "service":
            out[(cw, month, "referral", status)] += 1
        if status in NOT_COUNTED_STATUSES or item.kind not in ("need", "service"):
            continue
        category = item_category(item.kind, item.key, item.properties)
        (needs if item.kind == "need" else services).add(category)
    for category in needs:
        out[(cw, month, "need", category)] += 1
    for category in services:
        out[(cw, month, "service", category)] += 1
    return out


def _bounded(value: Any) -> str:
    """A value as a report cell names it: the code, or "" (not recorded)."""
    return _code(value) or NOT_RECORDED


def _code(value: Any) -> str | None:
    if value is None or isinstance(value, bool | dict | list):
        return None
    text = str(value).strip()
    return text if text and len(text) <= MAX_CODE else None


def _whole_number(value: Any) -> int | None:
    """An age in completed years, 0 to MAX_AGE_YEARS; anything else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        number = value
    else:
        text = str(value or "").strip()
        if not text or len(text) > 6:
            return None
        try:
            number = int(float(text)) if float(text).is_integer() else -1
        except ValueError:
            return None
    return number if 0 <= number <= MAX_AGE_YEARS else None


SAFETY_PLAN_REVIEW_FIELD = "safety_plan_review_date"


def safety_plan_review_due(properties: Mapping[str, Any]) -> date | None:
    """When the child's safety plan is next to be reviewed: the case field a contact log
    files when the plan is developed or updated (``safety_plan_review_date``), if it is a
    date. Kept as a column so the worklist finds the plans due without reading the fields."""
    value = properties.get(SAFETY_PLAN_REVIEW_FIELD)
    if isinstance(value, date) and not isinstance(value, datetime):
        return value
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None

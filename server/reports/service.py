"""Reports: counts of cases registered in a range of months, by age band, sex,
disability, region, district, intake concern, risk, need and service category, and
referrals by status; for all teams, one team, or cut by team; small cells suppressed.

Who sees what: an admin every team; a supervisor their own team (the cases of its
caseworkers, by their team now); nobody else any report. A case counts in the month it was
registered (its ``opened_at``, in UTC), by its caseworker now, with its answers now: the
report reads the counts the merge keeps (``case_report_count``), never the cases.

Suppression is decided once for the whole range, on every team's cells and their totals
together (``server.reports.suppression``), and each view shows its part of that one
pattern: a team's column is hidden alike whether it is seen alone or beside the others, so
that two views of one range cannot be combined to undo it.
"""

from __future__ import annotations

import csv
import functools
import io
import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth import queries as auth_queries
from server.auth.models import User
from server.auth.permissions import may, require
from server.cases import report_counts
from server.cases.registration import (
    AGE_BANDS,
    CASE_DIMENSIONS,
    DIMENSIONS,
    NOT_RECORDED,
    PARTITIONS,
)
from server.errors import AppError
from server.reports.suppression import suppress
from server.xforms.definition import match_language, pick_label, stored_default_language
from server.xforms.queries import get_current_media, list_downloadable

AREAS_FILE = "areas.csv"
FIRST_YEAR = 2000
NO_TEAM = ""  # cases with no caseworker, or whose caseworker has no team
TOTAL = "\x00total"  # the total row of a breakdown (no category has this name)
_MONTH = re.compile(r"(\d{4})-(\d{2})")

# the forms' choice list that names each dimension's categories
CHOICE_LISTS = {
    "age_band": "age_band",
    "sex": "sex",
    "concern": "need_category",
    "risk": "risk",
    "need": "need_category",
    "service": "service_category",
    "referral": "service_status",
}
FIXED = {"age_band": AGE_BANDS[:-1], "disability": ("yes", "no")}  # 18+ only when counted

Labels = dict[str, str]  # language ("default", "French (fr)", ...) -> text


@dataclass(frozen=True)
class CategoryLabel:
    """A category's texts from a form (or the areas list), and that form's default language
    (None: the texts are not translated)."""

    labels: Labels
    default_language: str | None = None

    def text(self, language: str | None = None) -> str:
        """In ``language`` (a form's name for it, or a code: ``fr``) when there, else in the
        default language; "" when there is no text."""
        wanted = match_language(list(self.labels), language) if language else None
        return pick_label(self.labels, wanted, self.default_language)

    def has(self, language: str) -> bool:
        return match_language(list(self.labels), language) is not None


@dataclass(frozen=True)
class ReportRequest:
    first: date  # the first day of the first month
    last: date  # the first day of the last month
    team: str | None = None  # one team (a supervisor: their own, whatever is given)
    by_team: bool = False  # every team side by side (admins)


@dataclass(frozen=True)
class Cell:
    n: int | None  # None: hidden
    mark: str | None = None  # suppression.SMALL ("<5") or suppression.HIDDEN ("*")


@dataclass(frozen=True)
class Row:
    value: str  # the category's code; "" = not recorded
    cells: tuple[Cell, ...]  # one per column


@dataclass(frozen=True)
class Table:
    dimension: str
    rows: tuple[Row, ...]
    total: tuple[Cell, ...] | None  # for a breakdown whose rows add up (each case once)


@dataclass(frozen=True)
class Report:
    request: ReportRequest
    min_cell: int
    columns: tuple[str | None, ...]  # None: all teams; NO_TEAM; else a team's name
    tables: tuple[Table, ...]
    labels: dict[str, dict[str, CategoryLabel]]  # dimension -> code -> from the forms


def parse_month(text: str | None, *, field: str) -> date:
    """``YYYY-MM`` as the first day of that month; ``report.bad_range`` otherwise."""
    found = _MONTH.fullmatch((text or "").strip())
    if found is None or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < FIRST_YEAR:
        raise AppError("report.bad_range", details={"field": field, "given": text})
    return date(int(found.group(1)), int(found.group(2)), 1)


def default_range(today: date) -> tuple[date, date]:
    """The twelve months up to this one."""
    if today.month == 12:
        first = date(today.year, 1, 1)
    else:
        first = date(today.year - 1, today.month + 1, 1)
    return first, date(today.year, today.month, 1)


def parse_request(args: Mapping[str, str], today: date) -> ReportRequest:
    """A report asked for by ``from`` and ``to`` (``YYYY-MM``; the twelve months up to
    ``today``'s when left out), ``team`` and ``by_team`` (``1``, ``true``, ``yes`` or
    ``on``)."""
    first, last = default_range(today)
    if args.get("from"):
        first = parse_month(args.get("from"), field="from")
    if args.get("to"):
        last = parse_month(args.get("to"), field="to")
    return ReportRequest(
        first=first,
        last=last,
        team=(args.get("team") or "").strip() or None,
        by_team=(args.get("by_team") or "").lower() in ("1", "true", "yes", "on"),
    )


def build_report(session: Session, user: User, request: ReportRequest, *, min_cell: int) -> Report:
    """The report ``user`` may see for ``request``. Raises ``auth.forbidden`` for a role
    without reports, ``report.other_team`` for a supervisor asking for another team,
    ``report.unknown_team`` and ``report.bad_range``."""
    require(user, "report.read")
    if request.first > request.last:
        raise AppError("report.bad_range", details={"from": str(request.first)})
    teams = sorted({t for t in auth_queries.list_user_teams(session).values() if t})
    wanted = request.team or None
    if not may(user, "report.read_all"):
        if wanted is not None and wanted != user.team:
            raise AppError("report.other_team")
        shown: list[str | None] = [user.team] if user.team else []
    elif wanted is not None:
        if wanted not in teams:
            raise AppError("report.unknown_team", details={"team": wanted})
        shown = [wanted]
    else:
        shown = [None, *teams, NO_TEAM] if request.by_team else [None]

    # every team's counts, so that the suppression is the same whoever asks
    values: dict[tuple[str, str, str | None], int] = defaultdict(int)
    for team, dim, value, n in report_counts.list_report_counts(
        session, request.first, request.last
    ):
        values[(dim, value, team or NO_TEAM)] += n
        values[(dim, value, None)] += n
        if team and team not in teams:
            teams.append(team)  # left by its last member since (never: their cases move)
    labels = category_labels(session)
    categories = _categories(labels, values)
    columns: list[str | None] = [None, *teams, NO_TEAM]
    cells = _cells(categories, columns, values)
    marks = suppress(cells, _lines(categories, columns, cells), min_cell)

    def cell(key: tuple[str, str, str | None]) -> Cell:
        mark = marks.get(key)
        return Cell(None, mark) if mark else Cell(cells.get(key, 0))

    if (
        request.by_team
        and NO_TEAM in shown
        and not any(cells.get((d, v, NO_TEAM)) for d in DIMENSIONS for v in categories[d])
    ):
        shown.remove(NO_TEAM)  # no case without a team: no column for them
    tables = tuple(
        Table(
            dimension=dim,
            rows=tuple(
                Row(v, tuple(cell((dim, v, col)) for col in shown)) for v in categories[dim]
            ),
            total=tuple(cell((_total_of(dim), TOTAL, col)) for col in shown)
            if dim in PARTITIONS
            else None,
        )
        for dim in DIMENSIONS
    )
    return Report(request, min_cell, tuple(shown), tables, labels)


def record_view(session: Session, user: User, report: Report, *, export: str | None = None) -> None:
    """The audit entry of a report seen (``report.view``) or downloaded
    (``export.report``, with its format)."""
    details: dict[str, Any] = {
        "since": report.request.first.strftime("%Y-%m"),
        "until": report.request.last.strftime("%Y-%m"),
        "team": report.request.team,
        "by_team": report.request.by_team,
    }
    if export:
        details["format"] = export
    action = "export.report" if export else "report.view"
    audit.record(session, user, action, target_type="report", target="cases", details=details)


def csv_rows(
    report: Report,
    *,
    dimension_names: Mapping[str, str],
    column_names: Sequence[str],
    label: Any,
    marks: Mapping[str, str],
    total_name: str,
) -> Iterator[list[str]]:
    """The report as CSV rows: a header, then one row per category (and total) of each
    breakdown, with the shown numbers (hidden ones as their marks). ``label(dimension,
    code)`` names a category."""
    yield ["dimension", "category", "label", *column_names]
    for table in report.tables:
        named = dimension_names.get(table.dimension, table.dimension)
        for row in table.rows:
            yield [named, row.value, label(table.dimension, row.value), *_shown(row.cells, marks)]
        if table.total is not None:
            yield [named, "", total_name, *_shown(table.total, marks)]


def write_csv(rows: Iterable[list[str]]) -> str:
    """CSV text, with any cell a spreadsheet would run as a formula neutralised."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([_neutral(v) for v in row])
    return out.getvalue()


def _neutral(text: str) -> str:
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def _shown(cells: Sequence[Cell], marks: Mapping[str, str]) -> list[str]:
    return [str(c.n) if c.mark is None else marks[c.mark] for c in cells]


def _total_of(dim: str) -> str:
    """The total cell a breakdown adds up to: the cases (all case breakdowns share it), or
    the referrals."""
    return "cases" if dim in CASE_DIMENSIONS else dim


def _categories(
    labels: Mapping[str, Mapping[str, CategoryLabel]],
    values: Mapping[tuple[str, str, str | None], int],
) -> dict[str, list[str]]:
    """Each breakdown's rows: the categories the forms offer (all of them, zeros too, so
    that a missing row says nothing), then any other value counted, then "not recorded"
    (always, for the case breakdowns)."""
    seen: dict[str, set[str]] = defaultdict(set)
    for dim, value, col in values:
        if col is None and values[(dim, value, col)]:
            seen[dim].add(value)
    out: dict[str, list[str]] = {}
    for dim in DIMENSIONS:
        offered = list(FIXED.get(dim, ())) or [
            code for code in labels.get(dim, {}) if dim not in ("region", "area")
        ]
        if dim == "age_band" and "18+" in seen[dim]:
            offered.append("18+")
        codes = [c for c in offered if c != NOT_RECORDED]
        codes += sorted(seen[dim] - set(codes) - {NOT_RECORDED})
        if dim in CASE_DIMENSIONS or NOT_RECORDED in seen[dim]:
            codes.append(NOT_RECORDED)
        out[dim] = codes
    return out


def _cells(
    categories: Mapping[str, list[str]],
    columns: Sequence[str | None],
    values: Mapping[tuple[str, str, str | None], int],
) -> dict[tuple[str, str, str | None], int]:
    """Every cell of every breakdown and column, zeros included, with the totals."""
    cells: dict[tuple[str, str, str | None], int] = {}
    for col in columns:
        for dim in DIMENSIONS:
            for v in categories[dim]:
                cells[(dim, v, col)] = values.get((dim, v, col), 0)
        # each case is in one row of every case breakdown: their sums are the cases
        cells[("cases", TOTAL, col)] = sum(cells[("risk", v, col)] for v in categories["risk"])
        cells[("referral", TOTAL, col)] = sum(
            cells[("referral", v, col)] for v in categories["referral"]
        )
    return cells


def _lines(
    categories: Mapping[str, list[str]],
    columns: Sequence[str | None],
    cells: Mapping[tuple[str, str, str | None], int],
) -> list[list[tuple[tuple[str, str, str | None], int]]]:
    """The relations a reader knows: each breakdown's rows add up to its total, in every
    column; each row's teams add up to its all-teams cell (totals too). A cell whose column
    or row adds up to 0 is a 0 anyone can tell: it is left out (it can hide nothing)."""
    teams = [c for c in columns if c is not None]

    def known(key: tuple[str, str, str | None]) -> bool:
        dim, value, col = key
        total = "referral" if dim == "referral" else "cases"
        return cells[(total, TOTAL, col)] == 0 or cells[(dim, value, None)] == 0

    def line(
        members: Iterable[tuple[tuple[str, str, str | None], int]],
    ) -> list[tuple[tuple[str, str, str | None], int]]:
        return [(k, c) for k, c in members if not known(k)]

    lines = []
    for dim in DIMENSIONS:
        if dim in PARTITIONS:
            for col in columns:
                rows = [((dim, v, col), 1) for v in categories[dim]]
                lines.append(line([*rows, ((_total_of(dim), TOTAL, col), -1)]))
        for v in categories[dim]:
            lines.append(line([*(((dim, v, t), 1) for t in teams), ((dim, v, None), -1)]))
    for total in ("cases", "referral"):
        lines.append(line([*(((total, TOTAL, t), 1) for t in teams), ((total, TOTAL, None), -1)]))
    return [found for found in lines if found]


def category_labels(session: Session) -> dict[str, dict[str, CategoryLabel]]:
    """dimension -> code -> its texts, from the published forms' choice lists (in their
    order) and the areas list (``areas.csv``, the case plan's media)."""
    out: dict[str, dict[str, CategoryLabel]] = {dim: {} for dim in CHOICE_LISTS}
    for _, version in list_downloadable(session):  # the forms' definitions, read once
        definition = version.definition or {}
        default = stored_default_language(definition)
        lists = definition.get("choices", {})
        for dim, list_name in CHOICE_LISTS.items():
            for choice in lists.get(list_name) or ():
                code = str(choice.get("value") or "")
                if code and code not in out[dim]:
                    out[dim][code] = CategoryLabel(dict(choice.get("labels") or {}), default)
    media = get_current_media(session, AREAS_FILE)
    regions, districts = _areas(*media) if media is not None else ({}, {})
    out["region"] = {code: CategoryLabel(labels) for code, labels in regions.items()}
    out["area"] = {code: CategoryLabel(labels) for code, labels in districts.items()}
    return out


@functools.lru_cache(maxsize=8)
def _areas(sha256: str, content: bytes) -> tuple[dict[str, Labels], dict[str, Labels]]:
    """(regions, districts) of an areas list: columns ``name``, ``label`` (or
    ``label::<language>``), ``level`` (1 or 2) and ``parent``; rows it cannot read are
    left out. Cached by the file's hash."""
    del sha256  # the cache key
    regions: dict[str, Labels] = {}
    districts: dict[str, Labels] = {}
    text = content.decode("utf-8-sig", errors="replace")
    for row in csv.DictReader(io.StringIO(text)):
        code = (row.get("name") or "").strip()
        if not code:
            continue
        labels = {
            ("default" if key == "label" else key.partition("::")[2]): value.strip()
            for key, value in row.items()
            if key and (key == "label" or key.startswith("label::")) and value and value.strip()
        }
        level = (row.get("level") or "").strip()
        if level == "1":
            regions.setdefault(code, labels)
        elif level == "2":
            districts.setdefault(code, labels)
    return regions, districts

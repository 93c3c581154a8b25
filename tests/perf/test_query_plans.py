"""The hot lists' query plans use the indexes they were built for (issue: every page under
200 ms at 100 000 cases). Each test runs the product's query on a small migrated database,
records the SQL it sent, and asks the engine for its plan: ``EXPLAIN QUERY PLAN`` on SQLite,
``EXPLAIN`` on PostgreSQL (with sequential scans priced out, since a tiny table is always
cheaper to scan). They check which index is used, never a time.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

import server.models  # noqa: F401
from server import paging
from server.audit import queries as audit_queries
from server.audit.models import AuditEvent
from server.auth.models import User
from server.cases import dashboard, item_counts, lists, queries, referral_queries, report_counts
from server.cases.models import Case, PlanItem
from server.db import make_engine
from server.migrations import upgrade
from server.reports import service as reports
from server.reports.service import ReportRequest
from server.submissions import queries as submission_queries

TODAY = date(2026, 12, 6)
BIG_TABLES = ("case_record", "case_contribution", "plan_item", "audit_event", "submission")


# What ANALYZE finds in a database of the size (100 000 cases, 400 000 submissions,
# 350 000 plan items, 500 000 audit events, 200 caseworkers), so that SQLite plans a small
# test database as it plans that one: SQLite's planner reads only these numbers.
LARGE_DATABASE_STATS = [
    ("case_record", "ix_case_next_contact_due", "100000 50000 15"),
    ("case_record", "ix_case_record_list_order", "100000 15 1 1 1 1 1 1 1 1 1 1 1"),
    ("case_record", "ix_case_record_scope", "100000 500 250 2 1 1 1 1"),
    ("case_record", "ix_case_record_risk_order", "100000 25000 15 1 1 1 1 1 1 1 1 1 1 1"),
    ("case_record", "ix_case_record_opened", "100000 2 1"),
    ("case_record", "ix_case_record_last_contact", "100000 3 1"),
    ("case_record", "ix_case_record_updated", "100000 2 1"),
    # almost no case has a transfer: every one shares the NULL key
    ("case_record", "ix_case_record_transfer", "100000 100000 100000"),
    ("case_record", "ix_case_record_transfer_waiting", "20 1 1"),
    # 38 000 high-risk plans waiting for approval, each since its own moment
    ("case_record", "ix_case_record_approval_waiting", "38000 2 1 1 1 1 1"),
    ("case_record", "ix_case_record_team", "100000 5000 1"),
    ("case_record", "ix_case_record_status", "100000 50000 1"),
    ("case_record", "ix_case_record_conflicts", "100000 90000 1"),
    ("case_record", "sqlite_autoindex_case_record_1", "100000 1"),
    ("case_record", "sqlite_autoindex_case_record_2", "100000 1"),
    ("case_contribution", "ix_case_contribution_case", "400000 4 1 1"),
    ("case_contribution", "ix_case_contribution_ref_state", "400000 4 4"),
    # three states (applied, unlinked, duplicate): an average of a third of the rows each,
    # though all but a few hundred are applied
    ("case_contribution", "ix_case_contribution_state", "400000 133000 500 1 1"),
    ("case_contribution", "ix_case_contribution_duplicates", "200 1 1 1"),
    ("case_contribution", "sqlite_autoindex_case_contribution_1", "400000 1"),
    ("plan_item", "ix_plan_item_case_open", "350000 4 4 1 1"),
    ("plan_item", "ix_plan_item_due", "350000 100000 100"),
    ("plan_item", "ix_plan_item_open_due", "350000 175000 1000 1 1"),
    ("plan_item", "sqlite_autoindex_plan_item_1", "350000 4 1"),
    ("plan_item", "ix_plan_item_list", "350000 350 1 1 1 1 1 1"),
    # 100 000 referrals: most in one of a few hundred due days, the rest NULL
    ("plan_item", "ix_plan_item_referral_due", "350000 1000 1 1 1"),
    # referrals to 300 directory services; other items NULL
    ("plan_item", "ix_plan_item_referral_service", "350000 1200 600 100 1"),
    ("plan_item", "ix_plan_item_held", "350000 175000 1"),
    ("audit_event", "ix_audit_event_action", "500000 50000"),
    ("audit_event", "ix_audit_event_actor_at", "500000 2500 1"),
    ("audit_event", "ix_audit_event_at", "500000 1"),
    ("audit_event", "ix_audit_event_target_at", "500000 5 1"),
    ("submission", "ix_submission_form_received", "400000 130000 1"),
    ("submission", "ix_submission_root_current", "400000 1 1"),
    # a few form versions, nearly every submission current
    ("submission", "ix_submission_version_current", "400000 40000 40000"),
    ("submission", "sqlite_autoindex_submission_1", "400000 1"),
    ("user_account", "sqlite_autoindex_user_account_1", "221 1"),
    ("plan_item_due_count", "plan_item_due_count", "26000 130 2 1"),
    # 20 teams x about 85 cells x 13 months
    ("case_report_count", "case_report_count", "22000 1100 260 13 1"),
]


@pytest.fixture(scope="session")
def engine(empty_worker_database_url: str) -> Iterator[Engine]:
    """The schema the migrations build (not ``create_all``): the indexes shipped, built once
    a worker with the users the tests ask as (the tests only read). On SQLite with a large database's
    statistics; PostgreSQL's plans are asked with sequential scans priced out instead (see
    :func:`plans`)."""
    built = make_engine(empty_worker_database_url)
    upgrade(built)
    if built.dialect.name == "sqlite":
        with built.begin() as conn:
            conn.exec_driver_sql("ANALYZE")  # makes sqlite_stat1
            conn.exec_driver_sql("DELETE FROM sqlite_stat1")
            for row in LARGE_DATABASE_STATS:
                conn.exec_driver_sql("INSERT INTO sqlite_stat1 VALUES (?, ?, ?)", row)
        built.dispose()
        built = make_engine(empty_worker_database_url)  # connections that read them
    # The four users the tests ask as, committed once: inserted and rolled back by every
    # test, their dead rows grew user_account by a page every 25 tests on PostgreSQL (no
    # vacuum in between), and its planner's costs with it: a plan hung on how many tests
    # the worker had run before.
    with Session(built) as s:
        s.add_all(
            [
                User(username="adm", role="admin"),
                User(username="sup", role="supervisor", team="north"),
                User(username="cw", role="caseworker", team="north"),
                User(username="cw2", role="caseworker", team="north"),
            ]
        )
        s.commit()
    yield built
    built.dispose()


@pytest.fixture
def session(engine: Engine) -> Iterator[Session]:
    """A session on the worker's schema, its transaction rolled back after the test."""
    with Session(engine) as s:
        yield s
        s.rollback()


def user(session: Session, name: str) -> User:
    found = session.query(User).filter_by(username=name).one()
    return found


def plans(
    session: Session, run: Callable[[], Any], *, large: bool = False
) -> list[tuple[str, str]]:
    """(SQL, plan) of every SELECT that ``run`` sends. ``large``: on PostgreSQL, sorts and
    bitmap scans priced out too (an empty table's few rows are cheaper to sort than to read
    in an index's order; at 100 000 cases a sort of the scope is what must not happen): a
    Sort left in the plan is then one that no index can spare."""
    sent: list[tuple[str, Any]] = []
    connection = session.connection()

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_a: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            sent.append((statement, parameters))

    event.listen(connection, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(connection, "before_cursor_execute", record)
    out = []
    postgres = connection.dialect.name == "postgresql"
    if postgres:
        connection.exec_driver_sql("SET LOCAL enable_seqscan = off")
        if large:
            connection.exec_driver_sql("SET LOCAL enable_sort = off")
            connection.exec_driver_sql("SET LOCAL enable_bitmapscan = off")
    for statement, parameters in sent:
        prefix = "EXPLAIN " if postgres else "EXPLAIN QUERY PLAN "
        rows = connection.exec_driver_sql(prefix + statement, parameters).all()
        out.append((statement, "\n".join(str(r[-1]) for r in rows)))
    return out


def full_scans(plan: str) -> list[str]:
    """Tables read in full, row by row (not through an index)."""
    sqlite = re.findall(r"SCAN (\w+)(?! USING)(?:\s|$)", plan + "\n")
    postgres = re.findall(r"Seq Scan on (\w+)", plan)
    return [t for t in sqlite + postgres if t in BIG_TABLES]


def _sample(key: Any) -> Any:
    """A value of a sort key's type, for a cursor in the middle of a list."""
    kind = paging._python_type(key)
    if kind is None:
        return 1  # the risk rank
    if getattr(key, "name", None) in ("status", "state"):
        return "open"
    return {
        date: TODAY,
        datetime: datetime(2026, 11, 1, tzinfo=UTC),
        int: 1,
        str: "CP-0050",
    }[kind]


def _far(stmt: Any, *key: Any) -> tuple[Any, ...]:
    """(``stmt``, [``key``], a cursor in the middle of it, 50 rows a page): the arguments
    of a page far down a list, read from there by its keys (never by OFFSET)."""
    values = tuple(_sample(k) for k in paging._order_of(stmt).keys)
    return (stmt, *key, paging.cursor_at(stmt, values), 50)


def combined(found: list[tuple[str, str]]) -> str:
    return "\n".join(plan for _, plan in found)


def assert_no_full_scan(found: list[tuple[str, str]]) -> None:
    for statement, plan in found:
        assert not full_scans(plan), f"{statement}\n--- reads a whole table:\n{plan}"


def test_case_page_timeline_uses_the_case_index(session: Session) -> None:
    found = plans(session, lambda: queries.list_timeline(session, 1))
    assert "ix_case_contribution_case" in combined(found)
    assert_no_full_scan(found)


def test_case_file_answers_come_by_key(session: Session) -> None:
    """The case file's answers: one query, by id and by instance ID (an edit's original)."""
    found = plans(
        session,
        lambda: submission_queries.list_answers(session, [1, 2, 3], ["uuid:a", "uuid:b"]),
    )
    assert len(found) == 1
    assert_no_full_scan(found)


@pytest.mark.parametrize("who", ["adm", "sup", "cw"])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"status": "open"},
        {"risk": "high"},
        {"overdue_on": TODAY},
        {"overdue_on": TODAY, "risk": "high"},
        {"caseworker": "cw"},
        {"team": "north"},
        {"ref_prefix": "CP-00"},
    ],
    ids=lambda f: "+".join(f) or "all",
)
def test_case_list_pages_come_from_indexes(
    session: Session, who: str, filters: dict[str, Any]
) -> None:
    me = user(session, who)
    found = plans(
        session,
        lambda: queries.paginate_cases(session, *_far(queries.list_cases(me, **filters))),
    )
    assert_no_full_scan(found)
    text = combined(found)
    if "ref_prefix" in filters:  # never LIKE over every case
        assert "LIKE" not in " ".join(s for s, _ in found)
    sqlite = session.get_bind().dialect.name == "sqlite"
    if "ref_prefix" in filters and (who == "adm" or (who == "sup" and sqlite)):
        # a range on the unique index (a caseworker's few hundred cases come from theirs)
        assert re.search(r"case_ref\)?(::text)?\s*>=?\s*'?\??", text), text
        # (or a skip-scan of a covering sort index over its few leading values, as SQLite
        # picks for a team: the scope is then told from the entries)
        assert re.search(
            r"ix_case_record_ref_bytes|sqlite_autoindex_case_record_\d"
            r"|COVERING INDEX ix_case_record_\w+ \(ANY\(\w+\) AND case_ref",
            text,
        )
    elif sqlite:
        # the list's order, or the caseworker's entries (a caseworker has a few hundred);
        # PostgreSQL plans an empty table with whichever index (no statistics to go by)
        assert re.search(r"ix_case_record_(list_order|scope)", text), text


def test_admin_case_list_is_read_in_index_order(session: Session) -> None:
    me = user(session, "adm")
    found = plans(
        session, lambda: queries.paginate_cases(session, queries.list_cases(me)), large=True
    )
    ids_query = [p for s, p in found if s.startswith("SELECT case_record.id")]
    assert ids_query, found
    assert "ix_case_record_list_order" in ids_query[0]
    assert "TEMP B-TREE FOR ORDER BY" not in ids_query[0]  # SQLite: no sort
    assert not re.search(r"\bSort\b", ids_query[0])  # PostgreSQL: no sort


def test_overdue_filter_probes_an_index_per_case_read(session: Session) -> None:
    """The overdue filter tests each case the list walks with one probe of the items'
    index; it never reads every overdue item in the database."""
    me = user(session, "adm")
    found = plans(
        session,
        lambda: queries.paginate_cases(session, queries.list_cases(me, overdue_on=TODAY)),
    )
    text = combined(found)
    assert_no_full_scan(found)
    if session.get_bind().dialect.name == "sqlite":
        assert "ix_plan_item_case_open" in text
        assert "ix_plan_item_open_due" not in text
    else:  # PostgreSQL picks a probe or a hashed set of the overdue items by its estimates
        assert re.search(r"ix_plan_item_(case_open|open_due)", text)


@pytest.mark.parametrize("who", ["adm", "sup", "cw"])
def test_dashboard_counts_read_the_scope_index(session: Session, who: str) -> None:
    me = user(session, who)
    found = plans(session, lambda: dashboard.dashboard_counts(session, me, TODAY))
    assert_no_full_scan(found)
    text = combined(found)
    if session.get_bind().dialect.name == "postgresql" and who == "adm":
        # every case's entries: PostgreSQL plans an empty table with any index that holds
        # the counted columns (the list orders hold them too, for their filters)
        assert re.search(r"ix_case_record_(scope|list_order|risk_order)", text), text
    else:
        assert "ix_case_record_scope" in text
    if who != "cw":  # a caseworker's queues are empty (PostgreSQL plans no read at all)
        assert "ix_case_contribution_state" in text
    if who == "sup":  # the team's cases only: the scope narrows the index
        assert re.search(r"ix_case_record_scope \(caseworker_id|Index.*ix_case_record_scope", text)
    # overdue items by kind: a sum of the kept counts, never a count of the items
    assert not [s for s, _ in found if "plan_item " in s + " " or "plan_item." in s]
    (items,) = [p for s, p in found if "plan_item_due_count" in s]
    if who == "adm":  # every caseworker's rows before today
        assert re.search(r"plan_item_due_count", items), items
    else:  # the caller's caseworkers' rows only, sought by the key
        assert re.search(
            r"plan_item_due_count USING PRIMARY KEY \(caseworker_id=\?"
            r"|Index.*pk_plan_item_due_count",
            items,
        ), items


def test_item_count_upkeep_reads_one_case_from_indexes(session: Session) -> None:
    """What each rebuild adds to the merge: a read of the case's open items from
    ``ix_plan_item_case_open`` (the index alone), by the case's key."""
    found = plans(session, lambda: item_counts.case_counts(session, 1))
    assert_no_full_scan(found)
    text = combined(found)
    # PostgreSQL plans an empty table with either index that leads with case_id
    assert re.search(r"ix_plan_item_case_open|uq_plan_item_case_id", text), text
    if session.get_bind().dialect.name == "sqlite":
        assert "COVERING INDEX ix_plan_item_case_open" in text, text


def test_report_count_upkeep_reads_one_case_from_indexes(session: Session) -> None:
    """What each rebuild adds for the reports: one statement, the case's row by its key
    with its needs and services from ``ix_plan_item_case_open``."""
    case = Case(case_ref="CP-1", entity_id="e-1")
    session.add(case)
    session.flush()
    found = plans(session, lambda: report_counts.case_counts(session, case.id))
    assert len(found) == 1
    assert_no_full_scan(found)
    text = combined(found)
    assert re.search(r"ix_plan_item_case_open|uq_plan_item_case_id", text), text


@pytest.mark.parametrize("who", ["adm", "sup"])
def test_reports_sum_the_kept_counts_by_key(session: Session, who: str) -> None:
    """A report reads ``case_report_count`` by its key, each caseworker's cells in the
    key's order, so that the sums need no sort; never a case, an item or a submission,
    whatever the range (issue: every page under 200 ms at 100 000 cases)."""
    me = user(session, who)
    request = ReportRequest(date(2026, 1, 1), date(2026, 12, 1), by_team=who == "adm")
    found = plans(session, lambda: reports.build_report(session, me, request, min_cell=5))
    assert_no_full_scan(found)
    (counts,) = [p for s, p in found if "case_report_count" in s]
    if session.get_bind().dialect.name == "sqlite":
        assert re.search(r"(SCAN|SEARCH) case_report_count", counts), counts
        assert "TEMP B-TREE" not in counts, counts  # grouped as read, in the key's order
    else:
        assert re.search(r"Index.*pk_case_report_count", counts), counts
    read = " ".join(s for s, _ in found)
    assert not re.search(r"\b(case_record|plan_item|submission|case_contribution)\b", read)


def test_forms_submission_counts_read_an_index_alone(session: Session) -> None:
    """The forms page and the API count each form's and each version's current submissions
    from ix_submission_version_current's entries, never each submission's row (the forms
    page took 360 ms at 423 000 submissions)."""
    from server.xforms import queries as xform_queries
    from server.xforms.models import XForm

    form = XForm(id=1, form_id="f")

    def run() -> None:
        xform_queries.submission_counts(session)
        xform_queries.submission_counts_by_version(session, form)

    found = plans(session, run)
    assert_no_full_scan(found)
    counted = [p for s, p in found if "FROM submission" in s]
    assert len(counted) == 2, found
    for plan in counted:
        assert "ix_submission_version_current" in plan, plan
        if session.get_bind().dialect.name == "sqlite":  # (PostgreSQL: an empty table's guesses)
            assert "COVERING INDEX" in plan, plan


@pytest.mark.parametrize("which", ["unlinked", "duplicates"])
def test_queues_read_the_state_index_and_no_bodies(session: Session, which: str) -> None:
    me = user(session, "sup")
    stmt = queries.list_unlinked(me) if which == "unlinked" else queries.list_duplicates(me)
    found = plans(
        session,
        lambda: (
            paging.paginate_keyset(session, stmt, queries.QUEUE_KEY, None, 50),
            paging.paginate_keyset(session, *_far(stmt, queries.QUEUE_KEY)),
        ),
    )
    assert_no_full_scan(found)
    queue_index = "ix_case_contribution_state|ix_case_contribution_duplicates"
    for statement, plan in found:  # never the stored XML, the answers or the merge input
        assert not re.search(r"submission\.(xml|data)\b|\"update\"", statement), statement
        if "FROM case_contribution" in statement:
            assert re.search(queue_index, plan), f"{statement}\n{plan}"
        # nor every contribution's index entry, in the queue's order (the duplicates' page
        # walked a million of them through ix_case_contribution_ref_state: 53 ms, growing);
        # the duplicates' own partial index holds only them
        walked = re.findall(r"SCAN case_contribution(?: USING (?:COVERING )?INDEX (\w+))?", plan)
        assert set(walked) <= {"ix_case_contribution_duplicates"}, f"{statement}\n{plan}"


def test_followups_and_overdue_items_use_indexes(session: Session) -> None:
    for who in ("adm", "sup", "cw"):
        me = user(session, who)
        found = plans(
            session,
            lambda me=me: (
                paging.paginate(session, queries.list_due_followups(me, TODAY), 3, 50),
                session.execute(queries.list_overdue_items(me, TODAY).limit(20)).all(),
            ),
        )
        assert_no_full_scan(found)
    # an admin's list: the first items in due order, from the items' index, not every case
    found = plans(
        session,
        lambda: session.execute(
            queries.list_overdue_items(user(session, "adm"), TODAY, due_until=TODAY).limit(20)
        ).all(),
    )
    found += plans(session, lambda: dashboard.nth_overdue_due_date(session, TODAY, 20))
    assert_no_full_scan(found)
    if session.get_bind().dialect.name == "sqlite":  # PostgreSQL: no statistics to go by
        for _, plan in found[-2:]:
            assert "ix_plan_item_open_due" in plan


def test_admin_overdue_list_seeks_only_up_to_the_nth_due_date(session: Session) -> None:
    """The items' ids are sought up to the n-th due date alone: given "before today" as
    well, SQLite seeks by that bound and reads every overdue item's entry."""
    me = user(session, "adm")
    until = date(2026, 11, 1)
    found = plans(
        session,
        lambda: session.execute(queries.list_overdue_items(me, TODAY, due_until=until).limit(20)),
    )
    ((statement, _),) = found
    subquery = statement[statement.index("IN (SELECT") :]
    assert len(re.findall(r"plan_item\.due_date\s*[<>]", subquery)) == 1, subquery
    assert_no_full_scan(found)


def test_team_overdue_list_starts_from_the_kept_counts(session: Session) -> None:
    """A supervisor's list: the n-th due date from the team's kept counts (by key), then
    the items up to it from the items' index; never every overdue item of the team."""
    me = user(session, "sup")
    found = plans(session, lambda: dashboard.nth_overdue_due_date_in_scope(session, me, TODAY, 20))
    assert_no_full_scan(found)
    (counts,) = [p for s, p in found if "plan_item_due_count" in s]
    assert re.search(
        r"plan_item_due_count USING PRIMARY KEY \(caseworker_id=\?|Index.*pk_plan_item_due_count",
        counts,
    ), counts
    assert not [s for s, _ in found if "FROM plan_item " in s + " "]


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "ix_audit_event_at"),
        ({"actor": "cw"}, "ix_audit_event_actor_at"),
        ({"target": "CP-1"}, "ix_audit_event_target_at"),
    ],
)
def test_audit_log_pages_use_indexes(session: Session, filters: dict[str, str], index: str) -> None:
    stmt = audit_queries.list_events(**filters)
    found = plans(session, lambda: paging.paginate_keyset(session, *_far(stmt, AuditEvent.id)))
    assert index in combined(found)
    assert_no_full_scan(found)


# --- the worklist, the case list's sorts and filters, plan items across cases -------------


def _ids_plan(found: list[tuple[str, str]]) -> str:
    """The plan of a paged list's first statement that picks the page's keys."""
    ids = [p for s, p in found if re.match(r"SELECT (case_record|plan_item)\.id[\s,]", s)]
    assert ids, found
    return ids[0]


# Each case-list sort and the index it reads in order.
SORT_INDEXES = [
    ("due", "ix_case_record_list_order"),
    ("risk", "ix_case_record_risk_order"),
    ("opened", "ix_case_record_opened"),
    ("last_contact", "ix_case_record_last_contact"),
    ("updated", "ix_case_record_updated"),
    ("ref", r"sqlite_autoindex_case_record_\d|uq_case_record_case_ref"),
    ("team", "ix_case_record_team"),
    ("status", "ix_case_record_status"),
    ("conflicts", "ix_case_record_conflicts"),
]


def _unsorted(plan: str) -> None:
    assert "TEMP B-TREE FOR ORDER BY" not in plan, plan  # SQLite: read in the index's order
    assert not re.search(r"\bSort\b", plan), plan  # PostgreSQL


@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize(
    ("sort", "index"),
    SORT_INDEXES,
)
def test_case_list_sorts_read_an_index_in_order(
    session: Session, sort: str, index: str, descending: bool
) -> None:
    """An admin's page of 100 000 cases in any of these orders is read from an index in
    that order (backwards for a descending sort), never sorted whole."""
    me = user(session, "adm")
    stmt = queries.list_cases(me, sort=sort, descending=descending)
    found = plans(session, lambda: queries.paginate_cases(session, *_far(stmt)))
    assert_no_full_scan(found)
    if session.get_bind().dialect.name == "sqlite":  # PostgreSQL: no statistics to go by
        ids = _ids_plan(found)
        assert re.search(index, ids), ids
        _unsorted(ids)


@pytest.mark.parametrize("who", ["adm", "sup", "cw"])
@pytest.mark.parametrize("sort", lists.CASE_SORTS)
def test_every_case_list_sort_avoids_reading_the_cases_whole(
    session: Session, who: str, sort: str
) -> None:
    me = user(session, who)
    stmt = queries.list_cases(me, sort=sort, status="open")
    found = plans(session, lambda: queries.paginate_cases(session, stmt))
    assert_no_full_scan(found)


@pytest.mark.parametrize("who", ["adm", "sup", "cw"])
def test_worklist_contacts_read_the_risk_order(session: Session, who: str) -> None:
    """The dashboard's contacts (open, due by the week's end, high risk first) are the
    first rows of the risk order's index, with status and due date read on its entries."""
    me = user(session, who)
    stmt = lists.list_cases(me, status="open", due_to=TODAY, sort="risk")
    found = plans(session, lambda: paging.first_by_id(session, stmt, Case.id, 20))
    assert_no_full_scan(found)
    if who == "adm" and session.get_bind().dialect.name == "sqlite":
        ids = _ids_plan(found)
        assert "ix_case_record_risk_order" in ids, ids
        _unsorted(ids)


@pytest.mark.parametrize("who", ["adm", "sup", "cw"])
@pytest.mark.parametrize(
    "filters",
    [
        {"ref_contains": "0042"},
        {"conflicts": True},
        {"safety_due_by": TODAY},
        {"no_review_on": TODAY},
        {"opened_from": date(2026, 1, 1), "opened_to": date(2026, 6, 30)},
        {"last_contact_from": date(2026, 11, 1)},
        {"due_from": date(2026, 11, 1), "due_to": TODAY},
        {"team": "north", "risk": "high", "sort": "risk"},
    ],
    ids=lambda f: "+".join(f),
)
def test_case_list_filters_come_from_indexes(
    session: Session, who: str, filters: dict[str, Any]
) -> None:
    me = user(session, who)
    stmt = lists.list_cases(me, **filters)
    found = plans(session, lambda: queries.paginate_cases(session, stmt))
    assert_no_full_scan(found)
    sqlite = session.get_bind().dialect.name == "sqlite"
    if "ref_contains" in filters and sqlite and who == "adm":
        # any part of the number: tested on an index's entries (which hold case_ref),
        # never on the cases' 4 KB rows (a caseworker's few hundred come from theirs)
        assert re.search(r"COVERING INDEX|USING INDEX ix_case_record_list_order", _ids_plan(found))


@pytest.mark.parametrize("who", ["adm", "sup", "cw"])
@pytest.mark.parametrize(
    "filters",
    [
        {},
        {"kind": "service"},
        {"overdue_on": TODAY},
        {"kind": "need", "overdue_on": TODAY},
        {"status": "referred", "open_only": True},
        {"team": "north", "caseworker": "cw"},
        {"due_from": date(2026, 11, 1), "due_to": TODAY},
    ],
    ids=lambda f: "+".join(f) or "all",
)
def test_plan_item_lists_come_from_indexes(
    session: Session, who: str, filters: dict[str, Any]
) -> None:
    """The plan-items and referrals pages (and the dashboard's overdue items) read the
    items' entries in due order from ix_plan_item_list, or a case's from its own index;
    never every item."""
    me = user(session, who)
    stmt = lists.list_items(me, **filters)
    count = lists.count_items(me, **filters)
    found = plans(session, lambda: lists.paginate_items(session, *_far(stmt), count=count))
    assert_no_full_scan(found)
    text = combined(found)
    assert re.search(r"ix_plan_item_(list|case_open|open_due|due)|uq_plan_item_case_id", text), text
    counted = [p for s, p in found if s.lstrip().startswith("SELECT count(*)")]
    assert counted
    # the count reads no case's row
    assert not any("case_record USING INTEGER PRIMARY KEY" in p for p in counted), counted
    if who == "adm" and "caseworker" not in filters and session.get_bind().dialect.name == "sqlite":
        ids = _ids_plan(found)  # (one caseworker's items come from their cases)
        assert "ix_plan_item_list" in ids, ids
        _unsorted(ids)


@pytest.mark.parametrize("who", ["adm", "sup", "cw"])
def test_overdue_referral_steps_come_from_their_index(session: Session, who: str) -> None:
    """The worklist's and the referrals page's overdue referral steps: the items' entries
    in the order they fell due (ix_plan_item_referral_due), or a case's from its own index;
    never every item, and the count bounded the same way."""
    me = user(session, who)
    stmt = lists.list_items(me, kind="service", state_overdue_on=TODAY)

    def run() -> None:
        lists.paginate_items(session, *_far(stmt))
        paging.first_by_id(session, stmt, PlanItem.id, 20)
        paging.count_capped(session, stmt)

    found = plans(session, run)
    assert_no_full_scan(found)
    text = combined(found)
    # (PostgreSQL plans an empty table by its own guesses: any of the items' indexes)
    assert re.search(r"ix_plan_item_(referral_due|case_open|list)|uq_plan_item_case_id", text), text
    if who == "adm" and session.get_bind().dialect.name == "sqlite":
        ids = _ids_plan(found)
        assert "ix_plan_item_referral_due" in ids, ids
        _unsorted(ids)


@pytest.mark.parametrize("who", ["adm", "sup"])
def test_overdue_referral_steps_are_counted_from_their_index_alone(
    session: Session, who: str
) -> None:
    """The worklist counts up to 10 000 overdue referral steps: from the entries of
    ix_plan_item_referral_due alone, never each item's row nor its case's (4 KB each)."""
    me = user(session, who)
    found = plans(
        session,
        lambda: paging.count_capped(
            session, lists.count_items(me, kind="service", state_overdue_on=TODAY)
        ),
    )
    assert_no_full_scan(found)
    if session.get_bind().dialect.name == "sqlite":  # (PostgreSQL: an empty table's guesses)
        text = combined(found)
        assert "case_record USING INTEGER PRIMARY KEY" not in text, text
        if who == "adm":  # (a team's: from its cases' items, by the case index)
            assert "COVERING INDEX ix_plan_item_referral_due" in text, text


def test_directory_referral_figures_read_the_service_index(session: Session) -> None:
    """A page of the services directory sums its services' referrals from
    ix_plan_item_referral_service, not from every item."""
    found = plans(session, lambda: referral_queries.referral_figures(session, ["s1", "s2", "s3"]))
    assert_no_full_scan(found)
    if session.get_bind().dialect.name == "sqlite":  # (PostgreSQL: an empty table's guesses)
        assert "ix_plan_item_referral_service" in combined(found), combined(found)


@pytest.mark.parametrize("who", ["adm", "sup", "cw"])
def test_worklist_held_referrals_read_the_held_index(session: Session, who: str) -> None:
    """The referrals held for consent (few among 350 000 items) are sought by the held
    index, for every scope; none reads a whole table."""
    me = user(session, who)

    def run() -> None:
        paging.count_capped(session, dashboard.list_held_referrals(me))
        session.execute(dashboard.list_held_referrals(me).limit(10)).all()

    found = plans(session, run)
    assert_no_full_scan(found)
    text = combined(found)
    if who == "adm" and session.get_bind().dialect.name == "sqlite":
        assert "ix_plan_item_held" in text, text
    else:  # PostgreSQL plans its empty tables by its own guesses: the scope's cases first,
        # or the held items; either way by an index
        assert re.search(r"ix_plan_item_held|ix_case_record_scope|ix_plan_item_case_open", text)


def test_the_lists_words_are_one_lookup_of_each_forms_current_version(session: Session) -> None:
    """What a list page asks for the forms' words (``cases.case_forms.read_form_words``):
    one query, each form's current version by its primary key, no XForm read (the words of
    a version are kept in memory), whatever the number of rows the page lists."""
    from server.xforms import queries as xform_queries

    found = plans(session, lambda: xform_queries.list_current_version_md5(session))
    assert len(found) == 1
    statement, plan = found[0]
    assert ".xml" not in statement
    assert "definition" not in statement
    assert re.search(r"USING INTEGER PRIMARY KEY|xform_version_pkey|pk_xform_version", plan), plan


def test_directory_change_reads_the_service_referrals_from_their_index(session: Session) -> None:
    """A service's agency changed in the directory: its open referrals (to hold or release)
    come from ix_plan_item_referral_service, not from every item."""
    found = plans(
        session, lambda: session.execute(referral_queries.list_open_referrals_to({"s1"})).all()
    )
    assert_no_full_scan(found)
    if session.get_bind().dialect.name == "sqlite":  # (PostgreSQL: an empty table's guesses)
        assert "ix_plan_item_referral_service" in combined(found), combined(found)


# --- keyset pages: page 50 seeks the index from the cursor's keys -------------------------


def _seeks(found: list[tuple[str, str]], table: str) -> list[tuple[str, str]]:
    """The statements that pick a page's keys (the key, then the sort keys), from the
    cursor (in an empty test table there is nothing before it, and a page back then
    reads the first page, counted again: that reading is left out)."""
    counts = [n for n, (s, _) in enumerate(found) if s.startswith("SELECT count(")]
    found = found[: counts[1]] if len(counts) > 1 else found
    picked = [(s, p) for s, p in found if re.match(rf"SELECT {table}\.id, ", s)]
    assert picked, found
    return picked


def _seeks_the_index(session: Session, seeks: list[tuple[str, str]], index: str) -> None:
    """Each seek is a range of ``index`` (equal leading keys, then one bound), read in its
    order: no sort of the list, no table read whole. PostgreSQL plans an empty table's
    ties and NULLs (a few rows at 100 000 cases) by whichever index; the seek past the
    cursor's first key, the one that reads on through the list, must be that range."""
    sqlite = session.get_bind().dialect.name == "sqlite"
    for statement, plan in seeks:
        assert not full_scans(plan), f"{statement}\n{plan}"
        if sqlite:
            _unsorted(plan)
            assert re.search(rf"SEARCH \w+ USING (COVERING )?INDEX ({index}) \(", plan), plan
    if not sqlite:
        # the seek past the first key orders by every key (a tie's seek by fewer)
        terms = {s: s.rsplit("ORDER BY", 1)[1].count(",") for s, _ in seeks}
        ranges = [p for s, p in seeks if terms[s] == max(terms.values())]
        for plan in ranges:
            # the index's order; an index on the time alone leaves its ties (the same
            # instant) to an incremental sort, never the list to a sort
            assert not re.search(r"(?<!Incremental )\bSort\b(?! Key)", plan), plan
            assert re.search(rf"Index (Only )?Scan( Backward)? using ({index})", plan), plan
            assert "Index Cond" in plan, plan


@pytest.mark.parametrize("backward", [False, True], ids=["next", "previous"])
@pytest.mark.parametrize("descending", [False, True], ids=["asc", "desc"])
@pytest.mark.parametrize(
    ("sort", "index"),
    SORT_INDEXES,
)
def test_case_list_pages_seek_the_sort_index_from_the_cursor(
    session: Session, sort: str, index: str, descending: bool, backward: bool
) -> None:
    """A page far down an admin's list of 100 000 cases, forward or back, in any order:
    every statement that picks its cases seeks that order's index from the cursor's keys;
    none reads and drops the cases before it (OFFSET) or sorts the list."""
    me = user(session, "adm")
    stmt = queries.list_cases(me, sort=sort, descending=descending)
    values = tuple(_sample(k) for k in paging._order_of(stmt).keys)
    cursor = paging.cursor_at(stmt, values, backward=backward)
    found = plans(session, lambda: queries.paginate_cases(session, stmt, cursor, 50), large=True)
    assert_no_full_scan(found)
    _seeks_the_index(session, _seeks(found, "case_record"), index)


@pytest.mark.parametrize("backward", [False, True], ids=["next", "previous"])
def test_plan_item_pages_seek_the_list_index_from_the_cursor(
    session: Session, backward: bool
) -> None:
    me = user(session, "adm")
    stmt = lists.list_items(me, kind="service")
    values = (TODAY, 12345)
    cursor = paging.cursor_at(stmt, values, backward=backward)
    found = plans(session, lambda: lists.paginate_items(session, stmt, cursor, 50), large=True)
    assert_no_full_scan(found)
    _seeks_the_index(session, _seeks(found, "plan_item"), "ix_plan_item_list")


@pytest.mark.parametrize(
    ("filters", "index"),
    [
        ({}, "ix_audit_event_at"),
        ({"actor": "cw"}, "ix_audit_event_actor_at"),
        ({"target": "CP-1"}, "ix_audit_event_target_at"),
    ],
)
def test_audit_log_pages_seek_from_the_cursor(
    session: Session, filters: dict[str, str], index: str
) -> None:
    stmt = audit_queries.list_events(**filters)
    cursor = paging.cursor_at(stmt, (datetime(2026, 11, 1, tzinfo=UTC), 4321))
    found = plans(
        session,
        lambda: paging.paginate_keyset(session, stmt, AuditEvent.id, cursor, 100),
        large=True,
    )
    assert_no_full_scan(found)
    _seeks_the_index(session, _seeks(found, "audit_event"), index)


@pytest.mark.parametrize("which", ["unlinked", "duplicates"])
def test_queue_pages_seek_the_state_index_from_the_cursor(session: Session, which: str) -> None:
    me = user(session, "adm")
    stmt = queries.list_unlinked(me) if which == "unlinked" else queries.list_duplicates(me)
    values = tuple(_sample(k) for k in paging._order_of(stmt).keys)
    cursor = paging.cursor_at(stmt, values)
    found = plans(
        session,
        lambda: paging.paginate_keyset(session, stmt, queries.QUEUE_KEY, cursor, 50),
        large=True,
    )
    assert_no_full_scan(found)
    seeks = _seeks(found, "case_contribution")
    if which == "unlinked":  # the state's entries in the queue's order, from the cursor on
        _seeks_the_index(session, seeks, "ix_case_contribution_state")


def test_reference_prefix_is_exact_and_indexed_whatever_the_collation(session: Session) -> None:
    """A search by the start of a reference number finds exactly the numbers that begin
    with it, from an index, on PostgreSQL under a collation that is not byte order (an
    ICU one here: "É" sorts with "E", so "CP-É1" lies between "CP-E" and "CP-E" +
    U+10FFFF there) as under C, and on SQLite."""
    postgres = session.get_bind().dialect.name == "postgresql"
    if postgres:
        icu = session.execute(
            text("SELECT collname FROM pg_collation WHERE collname = 'und-x-icu'")
        ).all()
        if not icu:
            pytest.skip("this PostgreSQL has no ICU collation")
        session.execute(
            text(
                'ALTER TABLE case_record ALTER COLUMN case_ref TYPE varchar(120) COLLATE "und-x-icu"'
            )
        )
    refs = ["CP-E", "CP-E1", "CP-E/2", "CP-É1", "CP-F1", "CP-D9", "CP-EZ"]
    session.add_all(Case(case_ref=r, entity_id=f"e-{n}") for n, r in enumerate(refs))
    session.flush()
    me = user(session, "adm")
    stmt = lists.list_cases(me, ref_prefix="CP-E")
    found = sorted(row[0].case_ref for row in session.execute(stmt))
    assert found == ["CP-E", "CP-E/2", "CP-E1", "CP-EZ"]
    page = lists.paginate_cases(session, stmt, None, 2)
    assert page.total == 4
    plan = combined(plans(session, lambda: session.execute(stmt).all()))
    if postgres:
        assert re.search(r"Index (Only )?Scan using ix_case_record_ref_bytes", plan), plan
    else:
        assert re.search(r"SEARCH case_record USING INDEX sqlite_autoindex_case_record_\d", plan)


@pytest.mark.parametrize("who", ["adm", "sup"])
def test_transfers_waiting_read_the_pending_ones_only(session: Session, who: str) -> None:
    """The dashboard's transfers waiting (oldest first) read the partial index of pending
    transfers, never every case in the order of their last change."""
    me = user(session, who)
    found = plans(
        session, lambda: session.execute(dashboard.list_transfers_waiting(me).limit(10)).all()
    )
    assert_no_full_scan(found)
    text = combined(found)
    if session.get_bind().dialect.name == "sqlite":
        assert "ix_case_record_transfer_waiting" in text, text
        assert "ix_case_record_updated" not in text, text


@pytest.mark.parametrize(
    "filters", [{"overdue_on": TODAY}, {"status": "open"}, {"ref_contains": "01"}]
)
def test_case_list_keys_and_counts_need_no_case_row(
    session: Session, filters: dict[str, Any]
) -> None:
    """A page's keys and its bounded count select the case's id: the list's index carries
    it (every SQLite index, as the rowid; PostgreSQL's by INCLUDE), so both are read from
    the index alone. Without it PostgreSQL read every case's row."""
    me = user(session, "adm")
    stmt = queries.list_cases(me, **filters)
    found = plans(session, lambda: queries.paginate_cases(session, *_far(stmt)), large=True)
    keyed = [p for s, p in found if s.startswith("SELECT case_record.id") or "count(*)" in s]
    assert keyed, found
    postgres = session.get_bind().dialect.name == "postgresql"
    read_alone = (
        "Index Only Scan using ix_case_record_list_order"
        if postgres
        else "USING COVERING INDEX ix_case_record_list_order"
    )
    for plan in keyed:
        assert read_alone in plan, plan


@pytest.mark.parametrize("who", ["adm", "sup"])
def test_approvals_waiting_are_counted_and_listed_from_their_own_index(
    session: Session, who: str
) -> None:
    """The dashboard's plans and closures waiting for approval, counted and listed, read a
    partial index of the pending ones that holds every column they ask: never each waiting
    case's row. With an index of the approval alone, PostgreSQL read the row of every case
    waiting to tell a supervisor's team's (60 of the dashboard's 150 ms at 100 000 cases,
    38 000 of them waiting)."""
    me = user(session, who)
    stmt = dashboard.list_pending_approvals(me)
    found = plans(
        session,
        lambda: (paging.count_capped(session, stmt), session.execute(stmt.limit(10)).all()),
    )
    assert_no_full_scan(found)
    postgres = session.get_bind().dialect.name == "postgresql"
    read_alone = (
        "Index Only Scan using ix_case_record_approval_waiting"
        if postgres
        else "COVERING INDEX ix_case_record_approval_waiting"
    )
    # SQLite may rather seek a supervisor's team's cases by caseworker (a few thousand)
    by_caseworker = "SEARCH case_record USING INDEX ix_case_record_scope (caseworker_id=?)"
    for statement, plan in found:
        if "case_record" in statement:
            assert read_alone in plan or (
                who == "sup" and not postgres and by_caseworker in plan
            ), f"{statement}\n{plan}"

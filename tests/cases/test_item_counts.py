"""The dashboard's overdue plan items come from counts kept by the merge
(``plan_item_due_count``): after every kind of change (new cases, contacts, plan revisions,
edits, completed items, reassignment, closing and reopening, duplicates merged or made new
cases, a preview rolled back, a failed merge) they equal a direct count of the items, on
SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from server import intake
from server.auth.models import User
from server.cases import (
    dashboard,
    decisions,
    item_counts,
    preview,
    queries,
    rebuild,
    report_counts,
    routing,
    scope,
)
from server.cases.models import Case, CaseReportCount, PlanItem, PlanItemDueCount
from server.submissions import service as submissions
from server.submissions.parse import parse_envelope
from server.submissions.service import Caller
from tests.cases import forms
from tests.cases.conftest import World
from tests.cases.forms import at, envelope_xml
from tests.cases.test_linking import edit_of, revision
from tests.cases.test_service import E1, E2, E3, contact

E4 = "44444444-4444-4444-8444-444444444444"
E5 = "55555555-5555-4555-8555-555555555555"
TODAY = date(2024, 6, 10)


def plan(iid: str, ref: str, entity: str, day: str, needs: list[tuple[str, str]]) -> bytes:
    """A registration whose needs are (key, due date)."""
    return envelope_xml(
        "case_plan",
        iid,
        {"ref": ref, "risk": "medium", "freq": "7", "plan_date": day},
        entity_id=entity,
        create=True,
        repeats={
            "needs": [{"need_key": k, "need_title": k.title(), "need_due": d} for k, d in needs]
        },
    )


def stored(session: Session) -> dict[item_counts.Key, int]:
    rows = session.execute(
        select(
            PlanItemDueCount.caseworker_id,
            PlanItemDueCount.due_date,
            PlanItemDueCount.kind,
            PlanItemDueCount.n,
        )
    ).all()
    return {(cw, d, k): n for cw, d, k, n in rows if n}


def stored_report_counts(session: Session) -> dict[Any, int]:
    rows = session.scalars(select(CaseReportCount)).all()
    return {(r.team, r.dimension, r.value, r.month): r.n for r in rows if r.n}


def counted(session: Session, user: User, today: date) -> dict[str, int]:
    """Overdue items by kind in the user's scope, counted from the items themselves."""
    stmt = (
        select(PlanItem.kind, func.count())
        .join(Case, Case.id == PlanItem.case_id)
        .where(
            scope.case_scope_clause(user),
            Case.status == "open",
            and_(PlanItem.is_done.is_(False), PlanItem.due_date < today),
        )
        .group_by(PlanItem.kind)
    )
    return dict(sorted((k, int(n)) for k, n in session.execute(stmt)))


def check(session: Session, people: list[User]) -> dict[str, int]:
    session.commit()
    assert stored(session) == item_counts.recount(session)
    # the reports' kept counts follow the same changes (cases.report_counts)
    assert stored_report_counts(session) == report_counts.recount(session)
    for user in people:
        for day in (TODAY, date(2024, 6, 2), date(2024, 12, 31)):
            board = dashboard.dashboard_counts(session, user, day)
            assert board.overdue_items_by_kind == counted(session, user, day), (user.username, day)
        if user.role in ("admin", "supervisor"):  # the dashboard list's n-th due date
            dates = sorted(
                session.scalars(
                    select(PlanItem.due_date)
                    .join(Case, Case.id == PlanItem.case_id)
                    .where(
                        scope.case_scope_clause(user),
                        Case.status == "open",
                        PlanItem.is_done.is_(False),
                        PlanItem.due_date < TODAY,
                    )
                )
            )
            for n in (1, 2, 3):
                nth = dashboard.nth_overdue_due_date_in_scope(session, user, TODAY, n)
                assert nth == (dates[n - 1] if len(dates) >= n else None), (user.username, n)
    admin = next(u for u in people if u.role == "admin")
    return dashboard.dashboard_counts(session, admin, TODAY).overdue_items_by_kind


def test_counts_follow_every_change(
    world: World, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    amina, bo = world.user("amina"), world.user("bo")
    carl = world.user("carl", team="south")
    sup = world.user("sup", "supervisor")
    sup_s = world.user("sup_s", "supervisor", team="south")
    admin = world.user("adm", "admin", team=None)
    people = [amina, bo, carl, sup, sup_s, admin]
    session.commit()
    assert check(session, people) == {}

    # new cases, each with overdue and future needs
    world.submit(
        forms.CASE_PLAN,
        plan("r1", "CP-1", E1, "2024-05-01", [("school", "2024-06-01"), ("health", "2024-07-01")]),
        amina,
        at("2024-05-01 12:00"),
    )
    world.submit(
        forms.CASE_PLAN,
        plan("r2", "CP-2", E2, "2024-05-01", [("school", "2024-06-01"), ("food", "2024-05-20")]),
        bo,
        at("2024-05-01 12:00"),
    )
    world.submit(
        forms.CASE_PLAN,
        plan("r3", "CP-3", E3, "2024-05-01", [("home", "2024-06-01")]),
        carl,
        at("2024-05-01 12:00"),
    )
    assert check(session, people) == {"need": 4}

    # a contact with a referral due (a service item); a contact that changes nothing
    world.submit(
        forms.CONTACT_LOG,
        envelope_xml(
            "contact_log",
            "c1",
            {"case": E1, "ref": "CP-1", "mode": "visit", "end": "2024-05-03T10:00:00Z"},
            entity_id=E1,
            base_version=1,
            repeats={
                "referral": [{"ref_key": "clinic", "ref_title": "Clinic", "ref_due": "2024-06-05"}]
            },
        ),
        amina,
        at("2024-05-03 12:00"),
    )
    world.submit(
        forms.CONTACT_LOG,
        contact("c2", "CP-3", E3, "2024-05-04T10:00:00Z"),
        carl,
        at("2024-05-04 12:00"),
    )
    assert check(session, people) == {"need": 4, "service": 1}

    # an edit of a registration: one need moved into the future, one added overdue
    edited = plan(
        "r2",
        "CP-2",
        E2,
        "2024-05-01",
        [("school", "2024-07-01"), ("food", "2024-05-20"), ("play", "2024-06-09")],
    )
    world.submit(forms.CASE_PLAN, edit_of(edited, "r2", "r2b"), bo, at("2024-05-05 12:00"))
    assert check(session, people) == {"need": 4, "service": 1}

    # a plan revision that completes a need
    world.submit(
        forms.CASE_PLAN,
        envelope_xml(
            "case_plan",
            "p1",
            {"ref": "CP-2", "plan_date": "2024-05-06"},
            entity_id=E2,
            base_version=case_version(session, "CP-2"),
            repeats={"needs": [{"need_key": "food", "need_title": "Food", "need_status": "done"}]},
        ),
        bo,
        at("2024-05-06 12:00"),
    )
    after_done = check(session, people)
    assert after_done == {"need": 3, "service": 1}

    # reassigned to another team's caseworker: the north supervisor's count drops
    decisions.reassign(session, "CP-1", "carl", admin, reason="caseload")
    check(session, people)
    assert dashboard.dashboard_counts(session, sup_s, TODAY).overdue_items_by_kind == {
        "need": 2,
        "service": 1,
    }

    # closed, then reopened
    decisions.close_case(session, "CP-3", sup_s, reason="goals met")
    assert check(session, people) == {"need": 2, "service": 1}
    decisions.reopen_case(session, "CP-3", sup_s, reason="new concern")
    assert check(session, people) == {"need": 3, "service": 1}

    # a duplicate registration, previewed (rolled back), then merged into the case
    world.submit(
        forms.CASE_PLAN,
        plan("d1", "CP-2", E4, "2024-05-02", [("shelter", "2024-06-02")]),
        bo,
        at("2024-05-02 12:00"),
    )
    check(session, people)
    preview.preview_merge(session, "d1", sup)
    check(session, people)
    decisions.merge_duplicate(session, "d1", sup, reason="same child")
    assert check(session, people) == {"need": 4, "service": 1}

    # another made a case of its own
    world.submit(
        forms.CASE_PLAN,
        plan("d2", "CP-2", E5, "2024-05-02", [("family", "2024-06-03")]),
        amina,
        at("2024-05-02 12:00"),
    )
    decisions.register_duplicate_as_new(session, "d2", "CP-5", sup)
    check(session, people)

    # a merge that fails after its writes (its savepoint rolled back) leaves the counts
    before = stored(session)

    def broken(_session: Session) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(routing, "expire_case_rows", broken)
    _, failed = world.submit(
        forms.CASE_PLAN,
        revision("p2", "CP-5", E5, "2024-05-07", base=case_version(session, "CP-5")).replace(
            b"</data>",
            b"<needs><need_key>late</need_key><need_due>2024-06-01</need_due></needs></data>",
        ),
        sup,
        at("2024-05-07 12:00"),
    )
    monkeypatch.undo()
    assert failed.state == "failed"
    check(session, people)
    assert stored(session) == before
    # the same submission merged again: counted once
    intake.reprocess(session)
    assert check(session, people) == {"need": 6, "service": 1}

    # every case rebuilt from its inputs: nothing moves
    before = stored(session)
    rebuild.rebuild_all(session, [c.case_ref for c in session.scalars(select(Case))])
    check(session, people)
    assert stored(session) == before


def case_version(session: Session, ref: str) -> int:
    found = queries.get_case_by_ref(session, ref)
    assert found is not None
    return found.version


def test_nothing_is_counted_from_a_rolled_back_transaction(world: World, session: Session) -> None:
    amina = world.user("amina")
    admin = world.user("adm", "admin", team=None)
    session.commit()
    world.version(forms.CASE_PLAN)
    xml = plan("r1", "CP-1", E1, "2024-05-01", [("school", "2024-06-01")])
    receipt, _ = submissions.store(
        session,
        xml,
        parse_envelope(xml),
        [],
        Caller(user=amina, device=None),
        received_at=at("2024-05-01 12:00"),
    )
    session.commit()  # the fact, as the pipeline commits it; then a merge that is rolled back
    routing.apply(session, receipt.submission)
    session.rollback()
    assert stored(session) == {} == item_counts.recount(session)
    assert stored_report_counts(session) == {} == report_counts.recount(session)
    # the next transaction does not carry the one rolled back
    world.user("bo")
    session.commit()
    assert stored(session) == {}
    assert dashboard.dashboard_counts(session, admin, TODAY).overdue_items_by_kind == {}

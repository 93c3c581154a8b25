"""The plan-items and referrals pages, and the worklist's overdue referral steps, count their
items with ``lists.count_items`` (no join to each item's case) and list them with
``lists.list_items``: for every role and every combination of filters (each for three
of the seven users, in turn) the two must be the same items, all within the user's case scope, whatever the product made of the cases.

The cases come the way they come in the field: plans and contacts sent by the caseworkers'
phones with the real forms, referrals made at a contact and overdue, a case closed by a
contact and approved by its supervisor.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from server import db, paging
from server.auth.models import User
from server.cases import lists
from server.cases.models import Case, PlanItem
from server.cases.referrals import REFERRAL_KIND
from server.cases.scope import case_scope_clause
from tests.factories import Factory, approve_all, bearer
from tests.realforms import contact_log, new_case_plan

TODAY = datetime.now(UTC).date()
WHO = ("boss", "sup-n", "sup-s", "cw1", "cw2", "cw3", "designer")


def _at(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _version(client: FlaskClient, ref: str, headers: dict[str, str]) -> int:
    response = client.get(f"/api/v1/cases/{ref}", headers=headers)
    assert response.status_code == 200, response.json
    version: int = response.json["version"]
    return version


@pytest.fixture
def field_cases(app: Flask, published: None, make: Factory, client: FlaskClient) -> None:
    make.user("boss", "admin")
    make.user("sup-n", "supervisor", team="north")
    make.user("sup-s", "supervisor", team="south")
    make.user("designer", "designer")
    boss = bearer(make.api_token("boss"))
    sup = {"north": bearer(make.api_token("sup-n")), "south": bearer(make.api_token("sup-s"))}
    referred_at = datetime.combine(TODAY - timedelta(days=5), datetime.min.time(), UTC)
    for cw, team in (("cw1", "north"), ("cw2", "north"), ("cw3", "south")):
        make.user(cw, "caseworker", team=team)
        phone = make.device_client(f"phone-{cw}", cw)
        for n, (risk, urgency, services) in enumerate(
            (
                ("medium", "routine", (("health", "planned"), ("education", "referred"))),
                ("low", "immediate", (("health", "referred"),)),
                ("medium", "urgent", (("legal_aid", "accepted"),)),
            )
        ):
            ref = f"{cw.upper()}-{n}"
            plan, entity = new_case_plan(
                ref, caseworker=cw, risk=risk, urgency=urgency, services=services,
                plan_date=(TODAY - timedelta(days=6 + n)).isoformat(),
            )  # fmt: skip
            assert phone.submit(plan).status_code == 201
            if n == 2:
                continue
            # a referral made at a contact five days ago: its next state is overdue
            contact = contact_log(
                ref, entity, base_version=_version(client, ref, boss),
                contact_time=_at(referred_at + timedelta(hours=9 + n)),
                next_contact=(TODAY + timedelta(days=3)).isoformat(), urgency="immediate",
                health_referral=("", "Health referral", "Mobile clinic team, Market square",
                                 TODAY.isoformat()),
                close="yes" if n == 1 else "no",
            )  # fmt: skip
            assert phone.submit(contact).status_code == 201
            if n == 1:  # the case closed, its closure approved by the team's supervisor
                assert approve_all(client, ref, sup[team]) >= 1
    with app.app_context():
        session = db.session()
        closed = session.scalar(select(Case.id).where(Case.status == "closed"))
        overdue = session.scalar(
            select(PlanItem.id).where(PlanItem.referral_due < TODAY, PlanItem.case_id != closed)
        )
        assert closed is not None, "no case was closed"
        assert overdue is not None, "no referral of an open case is overdue"


FILTERS: list[dict[str, Any]] = [
    {
        k: v
        for k, v in {
            "kind": kind,
            "status": status,
            "open_only": open_only,
            "overdue_on": overdue,
            "state_overdue_on": state_overdue,
            "team": team,
            "caseworker": caseworker,
            "due_from": due_from,
            "due_to": due_to,
        }.items()
        if v
    }
    for kind, (status, open_only), overdue, state_overdue, (team, caseworker), (
        due_from,
        due_to,
    ) in itertools.product(
        (None, "need", "service", "action"),
        ((None, False), ("referred", False), (None, True)),
        (None, TODAY),
        (None, TODAY),
        ((None, None), ("north", None), (None, "cw1"), ("north", "cw3")),
        ((None, None), (TODAY - timedelta(days=60), TODAY)),
    )
]


def _items(session: Any, stmt: Any) -> list[int]:
    return [row[0].id for row in session.execute(stmt)]


# Each combination of filters is checked for three of the seven users, in turn, so that
# each user meets every filter and its values; all seven for every one of the 384 took a
# minute of the suite's two engines.
USERS_PER_FILTER = 3


def _check(session: Any, user: User, nth: int) -> int:
    """The filters' lists against their counts, for the ``nth`` user of ``WHO``; how many
    lists had items."""
    visible = set(session.scalars(select(Case.id).where(case_scope_clause(user))))
    kind_of = dict(session.execute(select(PlanItem.id, PlanItem.kind)).all())
    case_of = dict(session.execute(select(PlanItem.id, PlanItem.case_id)).all())
    seen_any = 0
    for n_filters, filters in enumerate(FILTERS):
        if (n_filters - nth) % len(WHO) >= USERS_PER_FILTER:
            continue
        listed = _items(session, lists.list_items(user, **filters))
        counted = list(session.scalars(lists.count_items(user, **filters)))
        assert len(listed) == len(set(listed)), filters
        assert sorted(counted) == sorted(listed), filters
        n, capped = paging.count_capped(session, lists.count_items(user, **filters))
        assert (n, capped) == (len(listed), False), filters
        # never an item of a case the user may not see
        assert {case_of[i] for i in listed} <= visible, filters
        if filters.get("kind"):
            assert {kind_of[i] for i in listed} <= {filters["kind"]}, filters
        seen_any += bool(listed)
        if n_filters % 3:
            continue
        # the pages, as the plan-items and referrals pages read them, hold the same items
        # (walked for one filter in three: each has been counted above)
        cursor = None
        walked: list[int] = []
        while True:
            page = lists.paginate_items(
                session,
                lists.list_items(user, **filters),
                cursor,
                per_page=4,
                count=lists.count_items(user, **filters),
            )
            assert page.total == len(listed), filters
            walked += [item.id for item, *_ in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert walked == listed, filters
    return seen_any


@pytest.mark.slow
def test_an_item_list_counts_the_items_it_lists(app: Flask, field_cases: None) -> None:
    with app.app_context():
        session = db.session()
        # what lets a list of overdue referral steps leave out the kind: only referrals
        # (service items) have a next state due
        kinds = session.scalars(select(PlanItem.kind).where(PlanItem.referral_due.is_not(None)))
        assert set(kinds) == {REFERRAL_KIND}
        for nth, who in enumerate(WHO):
            user = session.scalars(select(User).where(User.username == who)).one()
            seen_any = _check(session, user, nth)
            assert seen_any or who == "designer", f"{who}: no list had an item, proving nothing"

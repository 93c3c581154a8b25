"""The dashboard's kept plan-item counts under concurrent merges and decisions on
PostgreSQL: phones registering cases of one caseworker (the same count rows) while a
supervisor moves another case between caseworkers and closes and reopens it. Every
request is answered, none deadlocks, and the counts equal a direct count."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import select

from server import db
from server.cases import item_counts
from server.cases.models import PlanItemDueCount
from server.submissions.models import Submission
from tests.api.test_concurrent_decisions import _at_once, _post, _supervisors
from tests.conftest import is_postgres
from tests.factories import DeviceClient, Factory
from tests.realforms import new_case_plan

pytestmark = pytest.mark.skipif(
    not is_postgres(), reason="concurrent transactions and their locks: PostgreSQL"
)

ROUNDS = 8


def test_counts_stay_exact_under_concurrent_merges_and_decisions(
    app: Flask, published: None, make: Factory, device: DeviceClient
) -> None:
    make.user("cw2", "caseworker", team="north")
    other = make.device_client("phone-2", "cw1")
    plan, _ = new_case_plan("CP-MOVE")
    assert device.submit(plan).status_code == 201
    one, two = _supervisors(make)
    answers = []
    for n in range(ROUNDS):
        first, _ = new_case_plan(f"CP-A-{n}")
        second, _ = new_case_plan(f"CP-B-{n}")
        to = "cw2" if n % 2 else "cw1"
        action = "close" if n % 2 else "reopen"
        answers += _at_once(
            lambda first=first: device.submit(first).status_code,
            lambda second=second: other.submit(second).status_code,
            _post(
                app, "/api/v1/cases/CP-MOVE/reassign", one, {"username": to, "reason": "caseload"}
            ),
            _post(app, f"/api/v1/cases/CP-MOVE/{action}", two, {"reason": f"r{n}"}),
        )
    assert answers == [201, 201, 200, 200] * ROUNDS
    with app.app_context():
        session = db.session()
        assert set(session.scalars(select(Submission.processing_state))) == {"applied"}
        rows = session.execute(
            select(
                PlanItemDueCount.caseworker_id,
                PlanItemDueCount.due_date,
                PlanItemDueCount.kind,
                PlanItemDueCount.n,
            )
        ).all()
        stored = {(cw, d, k): n for cw, d, k, n in rows if n}
        assert stored == item_counts.recount(session)
        assert sum(stored.values()) >= 2 * ROUNDS  # the new cases' dated items are there

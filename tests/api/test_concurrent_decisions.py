"""Supervisors deciding on one case at the same moment, with phones sending to it: every
request is answered (no deadlock, no 500), every merge applied, and a conflict is resolved
once. PostgreSQL: there each request has its own connection and its own locks (SQLite lets
one writer in at a time, so there is nothing to race)."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from server import db
from server.submissions.models import Submission
from tests.conftest import is_postgres
from tests.factories import DeviceClient, Factory, bearer
from tests.realforms import contact_log, new_case_plan

pytestmark = pytest.mark.skipif(
    not is_postgres(), reason="concurrent transactions and their locks: PostgreSQL"
)

ROUNDS = 15


def _at_once(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls in threads released together; an exception is returned, not raised."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, call: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = call()
        except Exception as exc:  # a 500 propagates out of the test client
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def _supervisors(make: Factory) -> tuple[dict[str, str], dict[str, str]]:
    make.user("sup1", "supervisor", team="north")
    make.user("sup2", "supervisor", team="north")
    return bearer(make.api_token("sup1")), bearer(make.api_token("sup2"))


def _post(
    app: Flask, path: str, headers: dict[str, str], body: dict[str, Any]
) -> Callable[[], Any]:
    client = app.test_client()
    return lambda: client.post(path, headers=headers, json=body).status_code


def test_two_supervisors_closing_and_reopening_one_case_at_once(
    app: Flask, published: None, make: Factory, device: DeviceClient
):
    plan, _ = new_case_plan("CP-RACE-1")
    assert device.submit(plan).status_code == 201
    one, two = _supervisors(make)
    answers = []
    for n in range(ROUNDS):
        first, second = ("close", "reopen") if n % 2 else ("close", "close")
        answers += _at_once(
            _post(app, f"/api/v1/cases/CP-RACE-1/{first}", one, {"reason": f"a{n}"}),
            _post(app, f"/api/v1/cases/CP-RACE-1/{second}", two, {"reason": f"b{n}"}),
        )
    assert answers == [200] * 2 * ROUNDS


def test_a_supervisor_deciding_while_a_phone_sends_a_contact(
    app: Flask, published: None, make: Factory, device: DeviceClient
):
    plan, entity_id = new_case_plan("CP-RACE-2")
    assert device.submit(plan).status_code == 201
    one, _ = _supervisors(make)
    answers = []
    jitter = random.Random(6)
    rounds = 2 * ROUNDS  # the windows are narrow: more tries, at slightly varied moments
    for n in range(rounds):
        contact = contact_log(
            "CP-RACE-2", entity_id, base_version=1, contact_time=f"2026-11-24T10:{n:02d}:00.000Z"
        )
        action = "close" if n % 2 else "reopen"
        decide = _post(app, f"/api/v1/cases/CP-RACE-2/{action}", one, {"reason": f"r{n}"})
        delay = jitter.uniform(0, 0.03)

        def later(decide: Callable[[], Any] = decide, delay: float = delay) -> Any:
            time.sleep(delay)
            return decide()

        answers += _at_once(later, lambda contact=contact: device.submit(contact).status_code)
    assert answers == [200, 201] * rounds
    with app.app_context():
        states = db.session().scalars(select(Submission.processing_state)).all()
    assert states == ["applied"] * (rounds + 1)


def _conflict(app: Flask, make: Factory, device: DeviceClient, ref: str) -> int:
    """A case whose risk level two offline contacts changed differently; the conflict id."""
    plan, entity_id = new_case_plan(ref, risk="medium")
    assert device.submit(plan).status_code == 201
    for risk, hour in (("low", 10), ("high", 11)):
        contact = contact_log(
            ref, entity_id, base_version=1, risk=risk, contact_time=f"2026-11-24T{hour}:00:00Z"
        )
        assert device.submit(contact).status_code == 201
    boss = bearer(make.api_token("cw1"))
    (conflict,) = app.test_client().get(f"/api/v1/cases/{ref}", headers=boss).json["conflicts"]
    return int(conflict["id"])


def test_two_supervisors_resolving_one_conflict_at_once(
    app: Flask, published: None, make: Factory, device: DeviceClient
):
    one, two = _supervisors(make)
    for n in range(5):
        ref = f"CP-CONF-{n}"
        conflict_id = _conflict(app, make, device, ref)
        path = f"/api/v1/cases/{ref}/conflicts/resolve"
        answers = _at_once(
            _post(app, path, one, {"conflict_id": conflict_id, "value": "low"}),
            _post(app, path, two, {"conflict_id": conflict_id, "value": "high"}),
        )
        assert sorted(answers) == [200, 409], n


def test_links_and_reassignments_racing_a_phone(
    app: Flask, published: None, make: Factory, device: DeviceClient
):
    plan, entity_id = new_case_plan("CP-RACE-3")
    assert device.submit(plan).status_code == 201
    one, two = _supervisors(make)
    answers = []
    for n in range(ROUNDS):
        # a contact typed with a reference number no case has: it waits to be linked
        stray_id = f"uuid:{uuid.uuid4()}"
        stray = contact_log(
            f"CP-LOST-{n}",
            str(uuid.uuid4()),
            base_version=1,
            contact_time=f"2026-11-25T09:{n:02d}:00.000Z",
            instance_id=stray_id,
        )
        assert device.submit(stray).status_code == 201
        contact = contact_log(
            "CP-RACE-3", entity_id, base_version=1, contact_time=f"2026-11-25T10:{n:02d}:00.000Z"
        )
        link = {"instance_id": stray_id, "case_ref": "CP-RACE-3"}
        answers += _at_once(
            _post(app, "/api/v1/queues/unlinked/link", one, link),
            _post(
                app,
                "/api/v1/cases/CP-RACE-3/reassign",
                two,
                {"username": "cw1", "reason": "caseload"},
            ),
            lambda contact=contact: device.submit(contact).status_code,
        )
    assert answers == [200, 200, 201] * ROUNDS
    with app.app_context():
        states = db.session().scalars(select(Submission.processing_state)).all()
    assert set(states) == {"applied"}

"""Every decision a person takes is in the audit log, with who, on what, and why: the
supervisor's decisions on cases and queues, a renumbering, the services directory, users
and forms."""

from __future__ import annotations

import io
import uuid
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from server import db
from server.audit.models import AuditEvent
from server.auth import service as auth_service
from server.auth.queries import get_user_by_username
from server.cases.models import Case
from tests.api.test_cases_api import People, _send, people  # noqa: F401 (the fixture)
from tests.factories import Factory
from tests.realforms import contact_log, new_case_plan


def entries(app: Flask, action: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(actor, target type, target, details) of each entry with this action, oldest first."""
    with app.app_context():
        rows = db.session().scalars(
            select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        )
        return [(e.actor, e.target_type, e.target, dict(e.details)) for e in rows]


def _entity(app: Flask, ref: str) -> str:
    with app.app_context():
        found = db.session().scalar(select(Case.entity_id).where(Case.case_ref == ref))
    assert found is not None
    return found


def _ok(response: Any) -> None:
    assert response.status_code in (200, 201), response.get_data(as_text=True)


def test_case_decisions_are_audited_with_actor_target_and_reason(
    people: People,  # noqa: F811
    client: FlaskClient,
    app: Flask,
    make: Factory,
) -> None:
    sup, adm = people["sup-n"], people["adm"]
    reassign = {"username": "cw-n2", "reason": "caseload"}
    _ok(client.post("/api/v1/cases/CP-N-1/reassign", headers=sup, json=reassign))
    _ok(client.post("/api/v1/cases/CP-N-1/close", headers=sup, json={"reason": "goals met"}))
    _ok(client.post("/api/v1/cases/CP-N-1/reopen", headers=sup, json={"reason": "new concern"}))
    _ok(
        client.post(
            "/api/v1/queues/unlinked/link",
            headers=sup,
            json={"instance_id": "uuid:unl-n", "case_ref": "CP-N-1"},
        )
    )
    _ok(
        client.post(
            "/api/v1/queues/duplicates/resolve",
            headers=sup,
            json={"instance_id": "uuid:dup-n", "action": "merge", "reason": "same child"},
        )
    )
    _ok(
        client.post(
            "/api/v1/queues/duplicates/resolve",
            headers=adm,
            json={"instance_id": "uuid:dup-s", "action": "register_new", "new_case_ref": "CP-S-2"},
        )
    )
    # two contacts from the same version that disagree on the risk: a conflict to resolve
    entity = _entity(app, "CP-S-1")
    for n, risk in enumerate(("low", "medium")):
        _send(
            make,
            "cw-s",
            contact_log(
                "CP-S-1",
                entity,
                base_version=1,
                contact_time=f"2026-11-2{n + 4}T10:00:00.000Z",
                risk=risk,
            ),
        )
    case = client.get("/api/v1/cases/CP-S-1", headers=people["sup-s"]).json
    (conflict,) = case["conflicts"]
    _ok(
        client.post(
            "/api/v1/cases/CP-S-1/conflicts/resolve",
            headers=people["sup-s"],
            json={"conflict_id": conflict["id"], "value": "medium"},
        )
    )
    # a caseworker's edit of their registration that gives the case another number
    iid = f"uuid:{uuid.uuid4()}"
    xml, entity = new_case_plan("CP-N-5", caseworker="cw-n", instance_id=iid)
    _send(make, "cw-n", xml)
    edit, _ = new_case_plan(
        "CP-N-6", entity, caseworker="cw-n", instance_id=f"uuid:{uuid.uuid4()}", deprecated_id=iid
    )
    _send(make, "cw-n", edit)

    assert entries(app, "case.reassign") == [
        (
            "sup-n",
            "case",
            "CP-N-1",
            {"username": "cw-n2", "username_before": "cw-n", "reason": "caseload"},
        )
    ]
    assert entries(app, "case.close") == [("sup-n", "case", "CP-N-1", {"reason": "goals met"})]
    assert entries(app, "case.reopen") == [("sup-n", "case", "CP-N-1", {"reason": "new concern"})]
    assert entries(app, "case.link") == [
        ("sup-n", "case", "CP-N-1", {"instance_id": "uuid:unl-n", "from_ref": "CP-N-TYPO"})
    ]
    assert entries(app, "case.merge") == [
        ("sup-n", "case", "CP-N-1", {"instance_id": "uuid:dup-n", "reason": "same child"})
    ]
    assert entries(app, "case.register_new") == [
        ("adm", "case", "CP-S-2", {"instance_id": "uuid:dup-s", "from_ref": "CP-S-1"})
    ]
    ((actor, kind, target, details),) = entries(app, "case.resolve")
    assert (actor, kind, target, details["field"]) == ("sup-s", "case", "CP-S-1", "risk_level")
    assert "value" not in details  # the value stays on the case: it may be a sensitive answer
    assert entries(app, "case.rename") == [
        ("cw-n", "case", "CP-N-6", {"from_ref": "CP-N-5", "instance_id": edit_id(edit)})
    ]


def edit_id(xml: bytes) -> str:
    start = xml.index(b"<instanceID>") + len(b"<instanceID>")
    return xml[start : xml.index(b"</instanceID>")].decode()


def test_services_directory_changes_are_audited(
    people: People,  # noqa: F811
    client: FlaskClient,
    app: Flask,
) -> None:
    adm = people["adm"]
    service = {"service_id": "clinic-9", "name": "Clinic nine", "category": "health"}
    _ok(client.post("/api/v1/services", headers=adm, json=service))
    _ok(client.patch("/api/v1/services/clinic-9", headers=adm, json={"name": "Clinic 9"}))
    _ok(client.patch("/api/v1/services/clinic-9", headers=adm, json={"name": "Clinic 9"}))
    csv = b"service_id,name,category\nclinic-9,Clinic 9,health\nclinic-10,Clinic ten,health\n"

    def upload(query: str = "") -> Any:
        return client.post(
            f"/api/v1/services/import{query}",
            headers=adm,
            data={"file": (io.BytesIO(csv), "services.csv")},
            content_type="multipart/form-data",
        )

    _ok(upload("?dry_run=true"))  # saves nothing: no entry
    _ok(upload())

    assert entries(app, "service.create") == [
        ("adm", "service", "clinic-9", {"name": "Clinic nine", "category": "health"})
    ]
    # the second edit changed nothing: no decision, no entry
    assert entries(app, "service.update") == [("adm", "service", "clinic-9", {"changed": ["name"]})]
    assert entries(app, "service.import") == [
        (
            "adm",
            "file",
            "services.csv",
            {"created": 1, "updated": 0, "unchanged": 1, "rows_with_errors": 0},
        )
    ]


def test_user_and_form_state_changes_are_audited(
    people: People,  # noqa: F811
    client: FlaskClient,
    app: Flask,
) -> None:
    adm = people["adm"]
    _ok(client.post("/api/v1/forms/contact_log/state", headers=adm, json={"state": "closing"}))
    assert entries(app, "form.state") == [("adm", "form", "contact_log", {"state": "closing"})]
    with app.app_context():
        session = db.session()
        actor = get_user_by_username(session, "adm")
        user = get_user_by_username(session, "cw-n2")
        assert actor is not None
        assert user is not None
        auth_service.update_user(session, user, role="caseworker", team="south", actor=actor)
        auth_service.update_user(session, user, role="caseworker", team="south", actor=actor)
        session.commit()
    # what changed and what it was; an edit that changes nothing is not a decision
    assert entries(app, "user.update") == [
        ("adm", "user", "cw-n2", {"team": "south", "team_before": "north"})
    ]

"""The migrations build exactly the schema the models describe, on the engine under test."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text

import server.models  # noqa: F401
from server.db import Base, make_engine
from server.migrations import current_revision, head_revision, is_up_to_date, upgrade


def _comparable(obj: Any, name: str | None, kind: str, reflected: bool, _other: Any) -> bool:
    """PostgreSQL gives the risk order's CASE back laid out on several lines, which Alembic
    does not read as the model's one-line text, and the reference numbers' byte-order index
    back as a plain index of the column (its collation left out): those indexes are checked
    by their definitions. The pending transfers' partial index exists on SQLite only, which
    Alembic's comparison does not know: its plan test on SQLite checks it is there and used."""
    return not (
        kind == "index"
        and name
        in (
            "ix_case_record_risk_order",
            "ix_case_record_ref_bytes",
            "ix_case_record_transfer_waiting",
        )
    )


# SQLAlchemy cannot reflect SQLite's expression indexes (the case list's order); it says so
# and leaves them out, and Alembic then leaves them out of the comparison.
# tests/perf/test_query_plans.py checks that index by using it.
@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression-based")
def test_migrations_reach_head_and_match_the_models(empty_database_url: str):
    engine = make_engine(empty_database_url)
    assert not is_up_to_date(engine)
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    upgrade(engine)  # running it again changes nothing
    with engine.connect() as conn:
        opts = {"compare_type": True, "include_object": _comparable}
        diff = compare_metadata(MigrationContext.configure(conn, opts=opts), Base.metadata)
    assert diff == []
    with engine.connect() as conn:  # what the comparison leaves out, checked here
        if engine.dialect.name == "sqlite":
            risk = "SELECT sql FROM sqlite_master WHERE name = 'ix_case_record_risk_order'"
        else:
            risk = (
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_case_record_risk_order'"
                " AND schemaname = current_schema()"
            )
        found = " ".join(conn.exec_driver_sql(risk).scalar_one().split())
    assert re.search(r"CASE risk_level WHEN 'high'(::text)? THEN 0 WHEN 'medium'", found), found
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            ref_bytes = conn.exec_driver_sql(
                "SELECT indexdef FROM pg_indexes WHERE indexname = 'ix_case_record_ref_bytes'"
                " AND schemaname = current_schema()"
            ).scalar_one()
        assert 'case_ref COLLATE "C"' in ref_bytes, ref_bytes
    if engine.dialect.name == "sqlite":  # what the comparison could not see, checked here
        with engine.connect() as conn:
            sql = conn.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'ix_case_record_list_order'"
            ).scalar_one()
        assert "coalesce(next_contact_due, '9999-12-31')" in sql
    engine.dispose()


def test_hold_reasons_stored_before_0003_are_kept(empty_database_url: str):
    """0003 names the column that held why a contribution waits; what it held stays."""
    from alembic import command
    from sqlalchemy import text

    from server.migrations import alembic_config

    engine = make_engine(empty_database_url)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    # Only the contribution row matters here, so the rows it refers to are not made.
    row = (
        "INSERT INTO case_contribution (id, submission_id, case_ref, form_id, is_registration,"
        " event_at, \"update\", state, error, created_at) VALUES (1, 1, 'CP-1', 'contact_log',"
        " false, '2026-12-01 10:00:00', '{}', 'unlinked', 'out_of_scope', '2026-12-01 10:00:00')"
    )
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        if engine.dialect.name == "sqlite":
            cursor.execute("PRAGMA foreign_keys=OFF")  # outside a transaction, or it is ignored
        else:
            cursor.execute("SET session_replication_role = replica")
        cursor.execute(row)
        raw.commit()
    finally:
        raw.invalidate()  # not back to the pool with its checks off
    upgrade(engine)
    with engine.connect() as conn:
        held = conn.execute(text("SELECT hold_reason FROM case_contribution WHERE id = 1"))
        assert held.scalar_one() == "out_of_scope"
    engine.dispose()


def test_0010_fills_the_registration_columns_and_the_report_counts(empty_database_url: str):
    """Cases stored before 0010 get their report columns from their fields, and the kept
    counts are those the merge would keep."""
    import json
    from datetime import date

    from alembic import command
    from sqlalchemy import text
    from sqlalchemy.orm import Session

    from server.cases import report_counts
    from server.migrations import alembic_config

    engine = make_engine(empty_database_url)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0009")
    fields = {
        "age_years": "7", "sex": "female", "wg_walking": "cannot", "admin1": "R01",
        "admin2": "R01D02", "intake_concern": "neglect", "risk_level": "high",
    }  # fmt: skip
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO user_account (id, username, display_name, role, is_active,"
                " failed_logins, created_at, session_version, team) VALUES (1, 'cw1', '',"
                " 'caseworker', true, 0, '2026-01-01 00:00:00', 0, 'north')"
            )
        )
        for n, properties in ((1, fields), (2, {})):
            conn.execute(
                text(
                    "INSERT INTO case_record (id, case_ref, entity_id, status, caseworker_id,"
                    " risk_level, properties, provenance, version, open_conflicts, opened_at,"
                    " updated_at) VALUES (:id, :ref, :entity, 'open', 1, :risk, :props, '{}',"
                    " 1, 0, '2026-03-15 10:00:00', '2026-03-15 10:00:00')"
                ),
                {"id": n, "ref": f"CP-{n}", "entity": f"e-{n}", "risk": properties.get(
                    "risk_level"), "props": json.dumps(properties)},
            )  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO plan_item (id, case_id, item_id, kind, key, title, status, is_done,"
                " properties, provenance) VALUES (1, 1, 'i-1', 'service', 'health', 'Clinic',"
                " 'referred', false, :props, '{}')"
            ),
            {"props": json.dumps({"service_category": "health"})},
        )
    upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT age_years, age_band, sex, disability, admin1, admin2, intake_concern"
                " FROM case_record WHERE id = 1"
            )
        ).one()
    assert tuple(row) == (7, "5-9", "female", "yes", "R01", "R01D02", "neglect")
    with Session(engine) as session:
        stored = {
            (t, d, v, m if isinstance(m, date) else date.fromisoformat(m)): n
            for t, d, v, m, n in session.execute(
                text("SELECT team, dimension, value, month, n FROM case_report_count")
            )
        }
        assert stored == report_counts.recount(session)
    march = date(2026, 3, 1)
    assert stored[("north", "sex", "female", march)] == 1
    assert stored[("north", "sex", "", march)] == 1  # the case stored with no answers
    assert stored[("north", "service", "health", march)] == 1
    assert stored[("north", "referral", "referred", march)] == 1
    engine.dispose()


def test_0011_lists_the_teams_accounts_already_name(empty_database_url: str):
    """The list of teams starts with every team an account names, each once."""
    from alembic import command
    from sqlalchemy import text

    from server.migrations import alembic_config

    engine = make_engine(empty_database_url)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0009")
    with engine.begin() as conn:
        for n, team in enumerate(("north", "north", "south", None)):
            conn.execute(
                text(
                    "INSERT INTO user_account (username, display_name, role, team, is_active,"
                    " failed_logins, created_at, session_version) VALUES (:name, '',"
                    " 'caseworker', :team, true, 0, '2026-12-01 10:00:00', 0)"
                ),
                {"name": f"u{n}", "team": team},
            )
    upgrade(engine)
    with engine.connect() as conn:
        names = conn.execute(text("SELECT name FROM team ORDER BY name")).scalars().all()
    assert names == ["north", "south"]
    engine.dispose()


def test_0012_moves_the_decisions_markers_out_of_their_payload(empty_database_url: str):
    """A decision stored before 0012 keeps everything it said: the markers in columns (so
    the phones' lists find a merged registration by index), the rest in the payload."""
    from alembic import command
    from sqlalchemy import text

    from server.cases.models import action_details
    from server.migrations import alembic_config

    engine = make_engine(empty_database_url)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0011")
    payloads = [
        {"username": "amina", "username_before": "bo", "reason": "leave"},
        {"instance_id": "uuid:d", "entity_id": "e-2", "reason": "same child"},
        {"conflict_key": "risk_level", "field": "risk_level", "value": "high"},
    ]
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO case_record (id, case_ref, entity_id, status, properties, provenance,"
                " version, open_conflicts, opened_at, updated_at) VALUES (1, 'CP-1', 'e-1',"
                " 'open', '{}', '{}', 1, 0, '2026-12-01 10:00:00', '2026-12-01 10:00:00')"
            )
        )
        for n, (kind, payload) in enumerate(
            zip(("reassign", "merge_duplicate", "resolve"), payloads, strict=True)
        ):
            conn.execute(
                text(
                    "INSERT INTO case_action (id, case_id, kind, payload, at)"
                    " VALUES (:id, 1, :kind, :payload, '2026-12-01 11:00:00')"
                ),
                {"id": n + 1, "kind": kind, "payload": json.dumps(payload)},
            )
    upgrade(engine)
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT payload, username, instance_id, entity_id FROM case_action ORDER BY id")
        ).all()
    stored = [(json.loads(p) if isinstance(p, str) else p, u, i, e) for p, u, i, e in rows]
    assert stored[0] == ({"username_before": "bo", "reason": "leave"}, "amina", None, None)
    assert stored[1] == ({"reason": "same child"}, None, "uuid:d", "e-2")
    assert stored[2] == (payloads[2], None, None, None)
    assert [action_details(*row) for row in stored] == payloads
    engine.dispose()


def test_0013_keeps_existing_cases_with_no_safety_alert(empty_database_url: str):
    """Cases stored before 0013 keep their rows; none has an alert (no form asked)."""
    from alembic import command
    from sqlalchemy import text

    from server.migrations import alembic_config

    engine = make_engine(empty_database_url)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0012")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO case_record (id, case_ref, entity_id, status, properties,"
                " provenance, version, open_conflicts, opened_at, updated_at) VALUES (1,"
                " 'CP-1', 'e-1', 'open', '{}', '{}', 3, 0, '2026-03-15 10:00:00',"
                " '2026-03-15 10:00:00')"
            )
        )
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0017")  # (0021 reads the case's report from its alerts)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT case_ref, version, worker_unsafe_at, worker_unsafe_by FROM case_record")
        ).one()
    assert tuple(row) == ("CP-1", 3, None, None)
    engine.dispose()


def test_0014_keeps_closures_and_plans_made_before_approvals_in_effect(
    empty_database_url: str, tmp_path
):
    """A database from before 0014 holds closures and high-risk plans that took effect with
    no approval; after 0014 and `reprocess --all` they are still in effect (approved)."""
    from alembic import command

    from server import create_app, db, intake
    from server.cases import routing
    from server.cases.models import Case
    from server.cases.settings import case_settings
    from server.migrations import alembic_config
    from tests.conftest import app_config
    from tests.factories import Factory
    from tests.realforms import contact_log, new_case_plan, xlsform_bytes

    engine = make_engine(empty_database_url)
    upgrade(engine)
    app = create_app(app_config(empty_database_url, tmp_path / "data"))
    make = Factory(app)
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("cw1", "caseworker", team="north")
    device = make.device_client("phone-1", "cw1")
    plan, entity_id = new_case_plan("CP-MIG-1", risk="high")
    assert device.submit(plan).status_code == 201
    closing = contact_log(
        "CP-MIG-1", entity_id, base_version=1, close="yes", contact_time="2026-11-25T09:00Z"
    )
    assert device.submit(closing).status_code == 201

    def case() -> tuple[str, str | None]:
        with app.app_context():
            row = db.session().query(Case).filter_by(case_ref="CP-MIG-1").one()
            return row.status, row.approval

    assert case() == ("open", "pending")
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:  # the database as it stood before approvals
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0013")
    with engine.begin() as conn:  # 0014 and what follows it (the app's models are head's)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")  # 0014, and what came after it (the app's columns)
    with app.app_context():
        session = db.session()
        ids = routing.submissions_to_reapply(session)
        results = intake.reapply(session, ids, settings=case_settings(app))
        session.commit()
    assert [r.state for r in results] == ["applied", "applied"]
    assert case() == ("closed", "approved")
    engine.dispose()


def test_0016_keeps_existing_cases_with_no_transfer_and_downgrades(empty_database_url: str):
    """Cases stored before 0016 keep their rows, none with a transfer (none could be asked);
    0016 downgrades to the schema before it."""
    from alembic import command
    from sqlalchemy import inspect, text

    from server.migrations import alembic_config

    engine = make_engine(empty_database_url)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0014")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO case_record (id, case_ref, entity_id, status, properties,"
                " provenance, version, open_conflicts, opened_at, updated_at) VALUES (1,"
                " 'CP-1', 'e-1', 'open', '{}', '{}', 3, 0, '2026-03-15 10:00:00',"
                " '2026-03-15 10:00:00')"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        row = conn.execute(
            text("SELECT case_ref, version, transfer, transfer_team, transfer_to FROM case_record")
        ).one()
    assert tuple(row) == ("CP-1", 3, None, None, None)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0014")
    columns = {c["name"] for c in inspect(engine).get_columns("case_record")}
    assert "transfer" not in columns
    assert "worker_unsafe_at" in columns


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_0014_down_and_up_keeps_a_returned_closure_returned(
    empty_database_url: str, tmp_path: Path
) -> None:
    """A closure the supervisor returned (case open) survives 0014's downgrade and upgrade:
    the decision (with its comment) is kept, and the closure does not take effect."""
    from alembic import command

    from server import create_app, db, intake
    from server.cases import routing
    from server.cases.models import Case
    from server.cases.settings import case_settings
    from server.migrations import alembic_config
    from tests.conftest import app_config
    from tests.factories import Factory, bearer
    from tests.realforms import contact_log, new_case_plan, xlsform_bytes
    from tests.web.conftest import Web

    engine = make_engine(empty_database_url)
    upgrade(engine)
    app = create_app(app_config(empty_database_url, tmp_path / "data"))
    make = Factory(app)
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("cw1", "caseworker", team="north")
    make.user("sup", "supervisor", team="north")
    sup = bearer(make.api_token("sup"))
    device = make.device_client("phone-1", "cw1")
    plan, entity_id = new_case_plan("CP-RV-9", risk="medium")
    assert device.submit(plan).status_code == 201
    closing = contact_log(
        "CP-RV-9", entity_id, base_version=1, close="yes", contact_time="2026-11-25T09:00Z"
    )
    assert device.submit(closing).status_code == 201
    client = app.test_client()
    returned = client.post(
        "/api/v1/cases/CP-RV-9/approval",
        json={
            "decision": "return",
            "comment": "Visit once more first",
            "instance_id": client.get("/api/v1/cases/CP-RV-9", headers=sup).json[
                "approval_instance_id"
            ],
        },
        headers=sup,
    )
    assert returned.status_code == 200, returned.json

    def case() -> tuple[str, str | None]:
        with app.app_context():
            row = db.session().query(Case).filter_by(case_ref="CP-RV-9").one()
            return row.status, row.approval

    assert case() == ("open", "returned")
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0011")  # every downgrade of 0014..0012, with data
    with engine.connect() as conn:
        kinds = conn.execute(text("SELECT kind FROM case_action ORDER BY id")).scalars().all()
    assert "return" in kinds, f"0014's downgrade deleted the supervisor's decision: {kinds}"
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    with app.app_context():
        session = db.session()
        ids = routing.submissions_to_reapply(session)
        intake.reapply(session, ids, settings=case_settings(app))
        session.commit()
    assert case() == ("open", "returned"), "a returned closure took effect with no approval"
    with engine.connect() as conn:
        kinds = conn.execute(text("SELECT kind FROM case_action ORDER BY id")).scalars().all()
    assert kinds.count("return") == 1
    # the plan made before approvals reads as what it was, not "sent by no one"
    web = Web(app.test_client())
    assert web.login("sup").status_code == 302
    page = web.text("/cases/CP-RV-9")
    assert "Recorded the case plan sent by cw1 as approved when approvals began" in page
    assert "sent by no one" not in page
    assert "Visit once more first" in page
    engine.dispose()


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_0017_records_the_safety_alerts_already_stored(empty_database_url: str, tmp_path: Path):
    """Reports stored before 0017 (one applied, one held for a supervisor) become alerts
    for the worker's team, dated by when the server received them."""
    from alembic import command

    from server import create_app
    from server.migrations import alembic_config
    from tests.conftest import app_config
    from tests.factories import Factory
    from tests.realforms import contact_log, new_case_plan, xlsform_bytes

    engine = make_engine(empty_database_url)
    upgrade(engine)
    app = create_app(app_config(empty_database_url, tmp_path / "data"))
    make = Factory(app)
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("cw1", "caseworker", team="north")
    make.user("cw3", "caseworker", team="north")
    device = make.device_client("phone-1", "cw1")
    plan, entity_id = new_case_plan("CP-MIG-5", risk="medium")
    assert device.submit(plan).status_code == 201
    for phone, who in ((device, "cw1"), (make.device_client("phone-3", "cw3"), "cw3")):
        unsafe = contact_log(
            "CP-MIG-5", entity_id, base_version=1, contact_time="2026-10-01T09:00Z",
            felt_safe="no", instance_id=f"uuid:unsafe-{who}",
        )  # fmt: skip
        assert phone.submit(unsafe).status_code == 201
    query = text(
        "SELECT worker, team, case_ref, received_at > event_at FROM worker_safety_alert "
        "ORDER BY worker"
    )
    with engine.connect() as conn:
        before = conn.execute(query).all()
    assert [tuple(r) for r in before] == [
        ("cw1", "north", "CP-MIG-5", True),
        ("cw3", "north", "CP-MIG-5", True),
    ]
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0016")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0017")
    with engine.connect() as conn:
        assert conn.execute(query).all() == before
    engine.dispose()


def test_0018_carries_existing_referral_statuses_over(empty_database_url: str, tmp_path: Path):
    """Services stored before 0018 keep their status as their referral state, reached when
    the submission that set it says, with the next state due by their urgency; other items
    have no referral. Down and up again gives the same."""
    from alembic import command

    from server import create_app
    from server.migrations import alembic_config
    from tests.conftest import app_config
    from tests.factories import Factory
    from tests.realforms import new_case_plan, xlsform_bytes

    engine = make_engine(empty_database_url)
    upgrade(engine)
    app = create_app(app_config(empty_database_url, tmp_path / "data"))
    make = Factory(app)
    make.publish_bytes(xlsform_bytes("case_plan"), "case_plan.xlsx")
    make.user("cw1", "caseworker", team="north")
    device = make.device_client("phone-1", "cw1")
    plan, _ = new_case_plan(
        "CP-MIG-6", risk="medium", plan_date="2026-11-20", urgency="immediate",
        services=(("health", "referred"), ("education", "in_progress")),
    )  # fmt: skip
    assert device.submit(plan).status_code == 201
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0017")
    with engine.connect() as conn:
        columns = conn.execute(text("SELECT * FROM plan_item")).keys()
        assert not [c for c in columns if c.startswith("referral_")]
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0018")
    query = text(
        "SELECT kind, status, referral_urgency, referral_service, referral_due, "
        "referral_steps FROM plan_item ORDER BY kind, status"
    )
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query).all()]
    by = {(kind, status): rest for kind, status, *rest in rows}
    assert by[("need", "planned")] == [None, None, None, None]
    assert by[("action", "in_progress")][:3] == [None, None, None]
    # the plan's time (the end of its day): referred, to be acknowledged within two days;
    # the service started, to be delivered within 14
    for status, service, due in (
        ("referred", "clinic-1", "2026-11-22"),
        ("in_progress", None, "2026-12-04"),
    ):
        urgency, got_service, got_due, steps = by[("service", status)]
        assert (urgency, got_service, str(got_due)) == ("immediate", service, due)
        steps = json.loads(steps) if isinstance(steps, str) else steps
        assert [(s["state"], s["by"], s["at"][:10]) for s in steps] == [
            (status, "cw1", "2026-11-20")
        ]
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0017")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0018")
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(query).all()] == rows


@pytest.mark.filterwarnings("ignore:Skipped unsupported reflection of expression-based index")
def test_0019_gives_services_their_agency_kind_and_downgrades(empty_database_url: str):
    """Services stored before 0019 get the kind of agency their category implies and are
    outside agencies; cases keep their rows with no consent recorded, their items none held;
    0019 downgrades to the schema before it and upgrades again."""
    from alembic import command
    from sqlalchemy import inspect

    from server.migrations import alembic_config

    engine = make_engine(empty_database_url)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0018")
    with engine.begin() as conn:
        for n, (sid, category) in enumerate(
            [("clinic-1", "health"), ("legal-1", "legal_aid"), ("food-1", "food")], start=1
        ):
            conn.execute(
                text(
                    "INSERT INTO service (id, service_id, name, category, provider, description,"
                    " access, can_visit, focal_points, visiting_teams, facilities_open, hours,"
                    " location, is_active, updated_at) VALUES (:id, :sid, :sid, :cat, '', '',"
                    " '', false, '', '', '', '', '', true, '2026-03-15 10:00:00')"
                ),
                {"id": n, "sid": sid, "cat": category},
            )
        conn.execute(
            text(
                "INSERT INTO case_record (id, case_ref, entity_id, status, properties,"
                " provenance, version, open_conflicts, opened_at, updated_at) VALUES (1,"
                " 'CP-1', 'e-1', 'open', '{}', '{}', 3, 0, '2026-03-15 10:00:00',"
                " '2026-03-15 10:00:00')"
            )
        )
        conn.execute(
            text(
                "INSERT INTO plan_item (id, case_id, item_id, kind, key, title, status, is_done,"
                " properties, provenance) VALUES (1, 1, 'i-1', 'service', 'health', 'Clinic',"
                " 'referred', false, '{}', '{}')"
            )
        )
    upgrade(engine)
    with engine.connect() as conn:
        kinds = conn.execute(
            text("SELECT service_id, agency_kind, internal FROM service ORDER BY service_id")
        ).all()
        case = conn.execute(
            text("SELECT version, consent, consent_share, consent_history FROM case_record")
        ).one()
        held = conn.execute(text("SELECT held FROM plan_item")).scalar_one()
    assert [(sid, kind, bool(internal)) for sid, kind, internal in kinds] == [
        ("clinic-1", "health", False),
        ("food-1", "ngo", False),
        ("legal-1", "justice", False),
    ]
    assert tuple(case) == (3, None, None, None)
    assert not held
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0018")
    assert "agency_kind" not in {c["name"] for c in inspect(engine).get_columns("service")}
    assert "held" not in {c["name"] for c in inspect(engine).get_columns("plan_item")}
    assert "consent" not in {c["name"] for c in inspect(engine).get_columns("case_record")}
    upgrade(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_0020_fills_the_returned_comment_and_the_transfer_kind_and_downgrades(
    empty_database_url: str,
):
    """Cases stored before 0020: a returned plan gets its return's comment (bounded, the
    comment of the return that decided the submission shown), transfers made so far their
    kind; 0020 downgrades to the schema before it and upgrades again."""
    from alembic import command
    from sqlalchemy import inspect, text

    from server.migrations import alembic_config

    engine = make_engine(empty_database_url)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0019")
    cases = [
        (1, "CP-1", "returned", "uuid:a", None, None),
        (2, "CP-2", None, None, "out", "Welfare office"),
        (3, "CP-3", None, None, "pending", "cw2"),
        (4, "CP-4", None, None, "declined", None),
        (5, "CP-5", "approved", "uuid:b", None, None),
    ]
    long = "Add a need. " * 60
    actions = [
        (1, 1, "return", "uuid:old", {"comment": "An older return"}),
        (2, 1, "return", "uuid:a", {"comment": "  Add a safety\n need  "}),
        (3, 5, "return", "uuid:b", {"comment": long}),
        (4, 5, "approve", "uuid:b", {"comment": ""}),
    ]
    with engine.begin() as conn:
        for id_, ref, approval, instance_id, transfer, to in cases:
            conn.execute(
                text(
                    "INSERT INTO case_record (id, case_ref, entity_id, status, properties,"
                    " provenance, version, open_conflicts, opened_at, updated_at, approval,"
                    " approval_instance_id, transfer, transfer_to) VALUES (:id, :ref, :e,"
                    " 'open', '{}', '{}', 1, 0, '2026-03-15 10:00:00', '2026-03-15 10:00:00',"
                    " :approval, :iid, :transfer, :to)"
                ),
                {"id": id_, "ref": ref, "e": f"e-{id_}", "approval": approval,
                 "iid": instance_id, "transfer": transfer, "to": to},
            )  # fmt: skip
        for id_, case_id, kind, instance_id, payload in actions:
            conn.execute(
                text(
                    "INSERT INTO case_action (id, case_id, kind, instance_id, payload, at)"
                    " VALUES (:id, :case_id, :kind, :iid, :payload, '2026-03-16 10:00:00')"
                ),
                {"id": id_, "case_id": case_id, "kind": kind, "iid": instance_id,
                 "payload": json.dumps(payload)},
            )  # fmt: skip
    upgrade(engine)
    query = "SELECT case_ref, approval_comment, transfer_kind FROM case_record ORDER BY id"
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(text(query))]
    assert rows == [
        ("CP-1", "Add a safety need", None),
        ("CP-2", None, "agency"),
        ("CP-3", None, "caseworker"),
        ("CP-4", None, "team"),
        ("CP-5", None, None),  # approved after its return: no comment stands
    ]
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0019")
    columns = {c["name"] for c in inspect(engine).get_columns("case_record")}
    assert "approval_comment" not in columns
    assert "transfer_kind" not in columns
    upgrade(engine)
    with engine.connect() as conn:
        assert [tuple(r) for r in conn.execute(text(query))] == rows


def test_0021_reads_a_cases_safety_report_from_its_alerts(empty_database_url: str, tmp_path: Path):
    """The case's latest report at which the caseworker did not feel safe is its latest
    alert (the columns that repeated it are gone); going down fills them from the alerts,
    and going up again drops them."""
    from alembic import command
    from sqlalchemy import inspect, select

    from server import create_app, db
    from server.auth.models import User
    from server.cases import case_file
    from server.migrations import alembic_config
    from tests.conftest import app_config
    from tests.factories import Factory
    from tests.realforms import contact_log, new_case_plan, xlsform_bytes

    engine = make_engine(empty_database_url)
    upgrade(engine)
    columns = {c["name"] for c in inspect(engine).get_columns("case_record")}
    assert not {"worker_unsafe_at", "worker_unsafe_by"} & columns
    app = create_app(app_config(empty_database_url, tmp_path / "data"))
    make = Factory(app)
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("cw1", "caseworker", team="north")
    make.user("sup", "supervisor", team="north")
    device = make.device_client("phone-1", "cw1")
    for ref in ("CP-MIG-8", "CP-MIG-9"):
        plan, entity_id = new_case_plan(ref, risk="medium")
        assert device.submit(plan).status_code == 201
    for n, at in enumerate(("2026-10-01T09:00Z", "2026-10-03T09:00Z")):
        unsafe = contact_log(
            "CP-MIG-9", entity_id, base_version=1 + n, contact_time=at, felt_safe="no",
            instance_id=f"uuid:unsafe-{n}",
        )  # fmt: skip
        assert device.submit(unsafe).status_code == 201
    with app.app_context():  # the case page and the API read it from the alerts
        session = db.session()
        sup = session.scalars(select(User).where(User.username == "sup")).one()
        unsafe = case_file.get_case_detail(session, "CP-MIG-9", sup)
        assert (unsafe.worker_unsafe_at.isoformat()[:10], unsafe.worker_unsafe_by) == (
            "2026-10-03",
            "cw1",
        )
        calm = case_file.get_case_detail(session, "CP-MIG-8", sup)
        assert (calm.worker_unsafe_at, calm.worker_unsafe_by) == (None, None)
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0020")
    query = text(
        "SELECT case_ref, worker_unsafe_by, worker_unsafe_at IS NOT NULL FROM case_record"
        " ORDER BY case_ref"
    )
    with engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(query)]
        at = conn.execute(
            text("SELECT worker_unsafe_at FROM case_record WHERE case_ref = 'CP-MIG-9'")
        ).scalar_one()
    assert rows == [("CP-MIG-8", None, False), ("CP-MIG-9", "cw1", True)]
    assert str(at).startswith("2026-10-03")
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0021")
    columns = {c["name"] for c in inspect(engine).get_columns("case_record")}
    assert not {"worker_unsafe_at", "worker_unsafe_by"} & columns
    engine.dispose()


def test_0023_to_0026_index_the_lists_and_go_down_and_up(empty_database_url: str):
    """0023 adds the submissions' per-version index; 0024 gives the case lists' indexes the
    case's id on PostgreSQL (INCLUDE) and takes it away going down; SQLite's stay as they
    are (they carry the rowid); 0025 replaces the approval's index by a partial index of
    the pending approvals, and puts it back going down; 0026 adds a partial index of the
    duplicates queue."""
    from alembic import command
    from sqlalchemy import inspect

    from server.migrations import alembic_config

    engine = make_engine(empty_database_url)
    upgrade(engine)
    postgres = engine.dialect.name == "postgresql"

    def included() -> dict[str, bool]:
        """Which of two of the lists' indexes carry the id as an INCLUDE column."""
        if not postgres:
            return {}
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT indexname, indexdef LIKE '%INCLUDE (id)' FROM pg_indexes"
                    " WHERE schemaname = current_schema() AND tablename = 'case_record'"
                    " AND indexname IN"
                    " ('ix_case_record_list_order', 'ix_case_record_status')"
                )
            )
            return {name: bool(has) for name, has in rows}

    def submission_indexes() -> set[str]:
        return {i["name"] for i in inspect(engine).get_indexes("submission")}

    def partial(table: str, names: set[str], column: str, value: str) -> dict[str, bool]:
        """Those of ``names`` that ``table`` has, each with whether it holds only the rows
        whose ``column`` is ``value`` (by name from the catalogue: reflection warns of the
        expression indexes)."""
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT indexname, indexdef FROM pg_indexes"
                    " WHERE schemaname = current_schema() AND tablename = :t"
                    if postgres
                    else "SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                    " AND tbl_name = :t"
                ),
                {"t": table},
            ).all()
        only = re.compile(rf"WHERE \(*{column}\)*(::text)? = '{value}'")
        return {
            name: bool(only.search(" ".join((sql or "").split())))
            for name, sql in found
            if name in names
        }

    def approval_indexes() -> dict[str, bool]:
        names = {"ix_case_record_approval", "ix_case_record_approval_waiting"}
        return partial("case_record", names, "approval", "pending")

    def duplicates_indexes() -> dict[str, bool]:
        names = {"ix_case_contribution_duplicates"}
        return partial("case_contribution", names, "state", "duplicate")

    with_id = {"ix_case_record_list_order": True, "ix_case_record_status": True} if postgres else {}
    without = {"ix_case_record_list_order": False, "ix_case_record_status": False}
    assert included() == with_id
    assert "ix_submission_version_current" in submission_indexes()
    assert approval_indexes() == {"ix_case_record_approval_waiting": True}
    assert duplicates_indexes() == {"ix_case_contribution_duplicates": True}
    cfg = alembic_config(engine.url.render_as_string(hide_password=False))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0022")
    assert included() == (without if postgres else {})
    assert "ix_submission_version_current" not in submission_indexes()
    assert approval_indexes() == {"ix_case_record_approval": False}
    assert duplicates_indexes() == {}
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
    assert included() == with_id
    assert "ix_submission_version_current" in submission_indexes()
    assert approval_indexes() == {"ix_case_record_approval_waiting": True}
    assert duplicates_indexes() == {"ix_case_contribution_duplicates": True}
    engine.dispose()

"""Case exports from the database, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import zipfile
from datetime import UTC, date, datetime

import openpyxl
from sqlalchemy.orm import Session

from exports import ExportOptions, export_cases
from server.cases.models import Case, CaseContribution, PlanItem
from tests.exports.conftest import make_user, publish, submit, xlsform

AT = datetime(2024, 5, 1, 9, 0, tzinfo=UTC)
REGISTRATION = xlsform(
    """| | type | name | label | bind::casework:sensitive |
| | text | case_ref | Reference | |
| | text | child_name | Name | yes |
| | text | district | District | |""",
    "contact_log",
    "1",
)


def _seed(session: Session) -> None:
    version = publish(session, REGISTRATION)
    amina, ben = make_user(session, "amina"), make_user(session, "ben")
    for ref, worker, due in (("CP-1", amina, date(2024, 5, 3)), ("CP-2", ben, None)):
        case = Case(
            case_ref=ref,
            entity_id=f"e-{ref}",
            caseworker_id=worker.id,
            risk_level="high",
            contact_frequency_days=7,
            next_contact_due=due,
            properties={"district": "Nord", "child_name": "Jane Doe", "note": "=cmd"},
            opened_at=AT,
        )
        session.add(case)
        session.flush()
        session.add(PlanItem(case_id=case.id, item_id="n1", kind="need", title="School",
                             owner="school", due_date=date(2024, 4, 1)))  # fmt: skip
        sub = submit(session, version, {"case_ref": ref}, submitter=worker)
        session.add(
            CaseContribution(submission_id=sub.id, case_ref=ref, case_id=case.id,
                             form_id="contact_log", event_at=AT, update={})
        )  # fmt: skip
    session.commit()


def _tables(data: bytes) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {
            n: list(csv.DictReader(io.StringIO(zf.read(n).decode("utf-8-sig"))))
            for n in zf.namelist()
        }


def test_case_csv_zip_links_tables_by_case_ref(session: Session) -> None:
    _seed(session)
    fh = io.BytesIO()
    summary = export_cases(session, "csv", fh, ExportOptions(as_of=date(2024, 5, 10)))
    tables = _tables(fh.getvalue())
    assert set(tables) == {"cases.csv", "plan_items.csv", "contacts.csv", "conferences.csv"}
    cases = tables["cases.csv"]
    assert [(c["case_ref"], c["caseworker"], c["is_contact_overdue"]) for c in cases] == [
        ("CP-1", "amina", "true"),
        ("CP-2", "ben", "false"),
    ]
    assert cases[0]["district"] == "Nord"
    assert cases[0]["note"] == "'=cmd"
    assert "child_name" not in cases[0]
    assert [p["is_overdue"] for p in tables["plan_items.csv"]] == ["true", "true"]
    contacts = tables["contacts.csv"]
    assert [(c["case_ref"], c["submitter"]) for c in contacts] == [
        ("CP-1", "amina"),
        ("CP-2", "ben"),
    ]
    assert contacts[0]["instance_id"].startswith("uuid:")
    assert summary.tables == {"cases": 2, "plan_items": 2, "contacts": 2, "conferences": 0}


def test_a_closed_case_has_no_overdue_flag(session: Session) -> None:
    _seed(session)
    closed = session.query(Case).filter_by(case_ref="CP-2").one()
    closed.status = "closed"
    closed.closed_at = AT
    session.commit()
    fh = io.BytesIO()
    export_cases(session, "csv", fh, ExportOptions(as_of=date(2024, 5, 10)))
    tables = _tables(fh.getvalue())
    items = {p["case_ref"]: p["is_overdue"] for p in tables["plan_items.csv"]}
    assert items == {"CP-1": "true", "CP-2": "false"}
    cases = {c["case_ref"]: c["is_contact_overdue"] for c in tables["cases.csv"]}
    assert cases["CP-2"] == "false"


def test_case_export_scoped_to_a_caseworker_with_sensitive_asked(session: Session) -> None:
    _seed(session)
    amina = session.query(Case).filter_by(case_ref="CP-1").one().caseworker_id
    user = type("U", (), {"id": amina, "role": "caseworker", "team": None})()
    fh = io.BytesIO()
    export_cases(session, "xlsx", fh, ExportOptions(include_sensitive=True), scope_user=user)
    book = openpyxl.load_workbook(io.BytesIO(fh.getvalue()))
    rows = list(book["cases"].iter_rows(values_only=True))
    case = dict(zip(rows[0], rows[1], strict=True))
    assert len(rows) == 2
    assert (case["case_ref"], case["child_name"]) == ("CP-1", "Jane Doe")
    assert [r[0] for r in book["plan_items"].iter_rows(values_only=True)] == ["case_ref", "CP-1"]


def test_case_properties_fed_from_inside_a_sensitive_group_are_left_out(
    session: Session,
) -> None:
    survey = """| | type | name | label | bind::casework:sensitive |
| | text | case_ref | Reference | |
| | begin_group | family | Family | yes |
| | text | mother | Mother | |
| | end_group | | | |"""
    publish(session, xlsform(survey, "family_form", "1"))
    session.add(
        Case(case_ref="CP-7", entity_id="e-7", opened_at=AT,
             properties={"mother": "Mary Doe", "district": "Sud"})
    )  # fmt: skip
    session.commit()
    fh = io.BytesIO()
    export_cases(session, "csv", fh)
    case = _tables(fh.getvalue())["cases.csv"][0]
    assert case["district"] == "Sud"
    assert "mother" not in case
    fh = io.BytesIO()
    export_cases(session, "csv", fh, ExportOptions(include_sensitive=True))
    assert _tables(fh.getvalue())["cases.csv"][0]["mother"] == "Mary Doe"

"""The services directory: imports from CSV and XLSX, edits, and the device list."""

from __future__ import annotations

import hashlib
import io

import openpyxl
import pytest
from sqlalchemy.orm import Session

from server.auth.models import User
from server.cases import device_lists
from server.errors import AppError
from server.services import queries, service

CSV = (
    "Service ID,Name,Category,Provider,Can visit,Location,Focal points,Unknown\n"
    "hc-1,Health centre,health,MoH,yes,Town square,Dr A 0700,x\n"
    "ed-1,Catch-up classes,education,NGO,no,School road,Ms B,x\n"
    "bad id,Broken,health,,,,,\n"
    "ps-1,,psychosocial,,,,,\n"
    "hc-1,Again,health,,,,,\n"
    ",,,,,,,\n"
)


def test_csv_import_reports_row_errors_and_applies_the_rest(session: Session) -> None:
    report = service.import_services(session, "directory.csv", CSV.encode())
    assert (report.created, report.updated) == (2, 0)
    assert [(e.row, sorted(e.messages)) for e in report.errors] == [
        (4, ["service_id"]),
        (5, ["name"]),
        (6, ["service_id"]),
    ]
    assert report.warnings == ["Columns ignored (not in the directory): unknown"]
    hc = queries.get_service(session, "hc-1")
    assert hc is not None
    assert (hc.name, hc.can_visit, hc.focal_points) == ("Health centre", True, "Dr A 0700")


def test_import_is_an_upsert_that_keeps_absent_columns(session: Session) -> None:
    service.import_services(session, "d.csv", CSV.encode())
    report = service.import_services(
        session,
        "d.csv",
        b"service_id;name;category\nhc-1;Health centre;health\ned-1;Classes;education\n",
    )
    assert (report.created, report.updated, report.unchanged) == (0, 1, 1)
    ed = queries.get_service(session, "ed-1")
    assert ed is not None
    assert (ed.name, ed.location) == ("Classes", "School road")


def test_xlsx_import(session: Session) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["service_id", "name", "category", "can_visit", "is_active"])
    ws.append(["lg-1", "Legal aid", "legal_aid", True, "no"])
    ws.append(["lg-2", "Legal clinic", "legal_aid", "maybe", None])
    buf = io.BytesIO()
    wb.save(buf)
    report = service.import_services(session, "services.xlsx", buf.getvalue())
    assert report.created == 1
    assert [(e.row, list(e.messages)) for e in report.errors] == [(3, ["can_visit"])]
    lg = queries.get_service(session, "lg-1")
    assert lg is not None
    assert (lg.can_visit, lg.is_active) == (True, False)


@pytest.mark.parametrize(
    ("filename", "content"),
    [
        ("big.csv", b"x" * (5 * 1024 * 1024 + 1)),
        ("notes.txt", b"service_id,name,category\n"),
        ("fake.xlsx", b"not a zip"),
        ("header.csv", b"id,title\n1,x\n"),
        ("latin.csv", "service_id,name,category\nx,Caf\xe9,food\n".encode("latin-1")),
    ],
)
def test_unreadable_files_are_refused(session: Session, filename: str, content: bytes) -> None:
    with pytest.raises(AppError) as err:
        service.import_services(session, filename, content)
    assert err.value.code == "service.invalid"


def test_create_update_search_and_device_list(session: Session) -> None:
    user = User(username="amina", role="caseworker")
    session.add(user)
    service.create_service(session, {"service_id": "fd-1", "name": "Food", "category": "food"})
    with pytest.raises(AppError):
        service.create_service(session, {"service_id": "fd-1", "name": "Food", "category": "food"})
    service.create_service(
        session,
        {"service_id": "wt-1", "name": "Water point", "category": "wash", "provider": "Utility"},
    )
    session.flush()
    found = session.scalars(queries.list_services(q="WATER")).all()
    assert [s.service_id for s in found] == ["wt-1"]

    before = _served_md5(session, user)
    text = "".join(device_lists.stream_list(session, "services.csv", user))
    assert text.splitlines() == [
        "name,label,category,provider,location,access,focal_point,description,can_visit,"
        "visiting_teams,agency_kind,internal",
        "fd-1,Food,food,,,,,,no,,ngo,no",
        "wt-1,Water point (Utility),wash,Utility,,,,,no,,ngo,no",
    ]
    service.deactivate_service(session, "fd-1")
    assert _served_md5(session, user) != before
    assert "fd-1" not in "".join(device_lists.stream_list(session, "services.csv", user))
    with pytest.raises(AppError) as err:
        service.update_service(session, "nope", {"name": "x"})
    assert err.value.code == "service.not_found"


def _served_md5(session: Session, user: User) -> str:
    """The MD5 of the services.csv bytes a phone would download."""
    text = "".join(device_lists.stream_list(session, "services.csv", user))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def test_import_sets_the_kind_of_agency_and_our_own_services(session: Session) -> None:
    """``agency_kind`` and ``internal`` columns: a kind from the list, or (absent) the kind
    the category implies; a kind not in the list is a row error. services.csv carries both."""
    text = (
        "service_id,name,category,agency_kind,internal\n"
        "cl-1,Clinic,health,,\n"
        "pd-1,Police desk,other,police,no\n"
        "ps-1,Our PSS team,psychosocial,ngo,yes\n"
        "lg-1,Legal desk,legal_aid,,\n"
        "bad-1,Bad,health,army,\n"
    )
    report = service.import_services(session, "d.csv", text.encode())
    assert (report.created, [e.row for e in report.errors]) == (4, [6])
    assert "agency_kind" in report.errors[0].messages
    found = {
        s.service_id: (s.agency_kind, s.internal) for s in session.scalars(queries.list_services())
    }
    assert found == {
        "cl-1": ("health", False),
        "pd-1": ("police", False),
        "ps-1": ("ngo", True),
        "lg-1": ("justice", False),
    }
    user = User(username="cw", role="caseworker")
    rows = "".join(device_lists.stream_list(session, "services.csv", user)).splitlines()
    assert rows[0].endswith(",agency_kind,internal")
    assert next(r for r in rows if r.startswith("ps-1,")).endswith(",ngo,yes")
    # an edit changes the kind; the directory's other columns stay
    service.update_service(session, "cl-1", {"agency_kind": "social_protection"})
    assert queries.get_service(session, "cl-1").agency_kind == "social_protection"  # type: ignore[union-attr]

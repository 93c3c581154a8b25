"""Form exports read back value by value, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from datetime import UTC, datetime

import openpyxl
import pytest
from sqlalchemy.orm import Session

from exports import ExportOptionError, ExportOptions, export_form
from server.errors import AppError
from tests.exports.conftest import make_device, make_user, publish, publish_xml, submit
from tests.exports.forms import V1, V2, V3
from tests.realforms import xform

KID_A = {"kname": "Zoë", "toys_r": [{"toy": "ball doll"}, {"toy": ""}]}
KID_B = {"kname": "سارة", "toys_r": [{"toy": "kite"}]}


def _seed(session: Session) -> dict[str, object]:
    v1, v2, v3 = publish(session, V1), publish(session, V2), publish(session, V3)
    amina = make_user(session, "amina")
    phone = make_device(session, "phone-7", amina)
    s1 = submit(
        session,
        v1,
        {
            "child_ref": "CP-001",
            "age": "7",
            "old_field": "only in v1",
            "visit": {"visit_date": "2024-04-30"},
            "kids": [KID_A, KID_B],
            "loc": "-1.2921 36.8219 1700 5",
        },
        instance_id="uuid:one",
        submitter=amina,
        device=phone,
        received_at=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
    )
    s2 = submit(
        session,
        v2,
        {"child_ref": "CP-002", "age": "", "note_v2": "=1+1", "photo": "a.jpg"},
        instance_id="uuid:two",
        files={"a.jpg": b"\xff\xd8jpeg"},
        received_at=datetime(2024, 5, 2, 8, 0, tzinfo=UTC),
    )
    s3 = submit(
        session,
        v3,
        {
            "child_ref": "CP-003",
            "secret": "Jane Doe",
            "age": "11",
            "mood": "sad",
            "kids": [{"kname": "", "toys_r": []}],
            "loc": "",
        },
        instance_id="uuid:three",
        review_state="approved",
        received_at=datetime(2024, 5, 3, 8, 0, tzinfo=UTC),
    )
    # an edited submission's old version never appears
    submit(session, v3, {"child_ref": "CP-OLD"}, instance_id="uuid:old", is_current=False)
    session.commit()
    return {"subs": [s1, s2, s3]}


def _read_zip(data: bytes) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        out = {}
        for name in zf.namelist():
            raw = zf.read(name)
            assert raw.startswith(b"\xef\xbb\xbf"), "UTF-8 BOM for Excel"
            out[name] = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
        return out


def test_csv_zip_round_trip_across_three_versions(session: Session) -> None:
    _seed(session)
    fh = io.BytesIO()
    progress: list[int] = []
    summary = export_form(session, "household", "csv", fh, progress=progress.append)

    tables = _read_zip(fh.getvalue())
    assert set(tables) == {"household.csv", "household-kids.csv", "household-toys_r.csv"}
    main = tables["household.csv"]
    assert [r["KEY"] for r in main] == ["uuid:one", "uuid:two", "uuid:three"]
    assert list(main[0]) == [
        "SubmissionDate", "child_ref", "age", "old_field", "note_v2", "mood",
        "visit-visit_date", "loc", "photo", "meta-instanceID",
        "KEY", "SubmitterName", "Device", "ReviewState", "FormVersion",
    ]  # fmt: skip
    one, two, three = main
    assert one["SubmissionDate"] == "2024-05-01T08:00:00.000Z"
    assert (one["child_ref"], one["age"], one["old_field"]) == ("CP-001", "7", "only in v1")
    assert one["visit-visit_date"] == "2024-04-30"
    assert one["loc"] == "'-1.2921 36.8219 1700 5" or one["loc"] == "-1.2921 36.8219 1700 5"
    assert (one["SubmitterName"], one["Device"], one["FormVersion"]) == ("amina", "phone-7", "1")
    assert one["meta-instanceID"] == "uuid:one"
    assert (two["age"], two["note_v2"], two["photo"]) == ("", "'=1+1", "a.jpg")
    assert (two["SubmitterName"], two["Device"], two["FormVersion"]) == ("", "", "2")
    assert (three["mood"], three["ReviewState"], three["old_field"]) == ("sad", "approved", "")
    assert "secret" not in one
    assert all("Jane" not in v for r in main for v in r.values())

    kids = tables["household-kids.csv"]
    assert [(k["kname"], k["PARENT_KEY"], k["KEY"]) for k in kids] == [
        ("Zoë", "uuid:one", "uuid:one/kids[1]"),
        ("سارة", "uuid:one", "uuid:one/kids[2]"),
        ("", "uuid:three", "uuid:three/kids[1]"),
    ]
    toys = tables["household-toys_r.csv"]
    assert [(t["toy"], t["PARENT_KEY"], t["KEY"]) for t in toys] == [
        ("ball doll", "uuid:one/kids[1]", "uuid:one/kids[1]/toys_r[1]"),
        ("", "uuid:one/kids[1]", "uuid:one/kids[1]/toys_r[2]"),
        ("kite", "uuid:one/kids[2]", "uuid:one/kids[2]/toys_r[1]"),
    ]
    assert summary.tables == {"household": 3, "household-kids": 3, "household-toys_r": 3}
    assert summary.source_rows == 3
    assert progress == [3]


def test_geopoint_is_data_not_a_formula(session: Session) -> None:
    _seed(session)
    fh = io.BytesIO()
    export_form(session, "household", "csv", fh)
    main = _read_zip(fh.getvalue())["household.csv"]
    assert main[0]["loc"] == "-1.2921 36.8219 1700 5"


def test_sensitive_fields_only_when_asked(session: Session) -> None:
    _seed(session)
    fh = io.BytesIO()
    export_form(session, "household", "csv", fh, ExportOptions(include_sensitive=True))
    main = _read_zip(fh.getvalue())["household.csv"]
    assert [r["secret"] for r in main] == ["", "", "Jane Doe"]


def test_labels_language_and_split_select_multiple(session: Session) -> None:
    _seed(session)
    fh = io.BytesIO()
    options = ExportOptions(
        labels=True, language="Français (fr)", split_select_multiple=True, group_paths=False
    )
    export_form(session, "household", "csv", fh, options)
    tables = _read_zip(fh.getvalue())
    assert tables["household.csv"][2]["Humeur"] == "Triste"
    toys = tables["household-toys_r.csv"]
    assert [
        (t["Jouet"], t["Jouet/Ballon"], t["Jouet/Poupée"], t["Jouet/Cerf-volant"]) for t in toys
    ] == [
        ("Ballon; Poupée", "1", "1", "0"),
        ("", "", "", ""),
        ("Cerf-volant", "0", "0", "1"),
    ]


@pytest.mark.parametrize(
    ("language", "question", "answer", "participants"),
    [
        (None, "How did the contact take place?", "Home visit", "The child; Mother"),
        ("en", "How did the contact take place?", "Home visit", "The child; Mother"),
        ("fr", "Comment le contact a-t-il eu lieu ?", "Visite à domicile", "L'enfant; Mère"),
        ("Arabic (ar)", "كيف تمت المتابعة؟", "زيارة منزلية", "الطفل; الأم"),
    ],
)
def test_a_translated_form_is_exported_in_its_default_language_or_the_one_asked(
    session: Session, language: str | None, question: str, answer: str, participants: str
) -> None:
    """Without a language, labels are the form's default language (English for the shipped
    forms), whatever order the database keeps the translations in; a language may be named
    by its code."""
    version = publish_xml(session, xform("contact_log"))
    submit(
        session,
        version,
        {"case": "entity-1", "contact_mode": "home_visit", "participants": "child mother"},
    )
    fh = io.BytesIO()
    options = ExportOptions(labels=True, language=language, group_paths=False)
    export_form(session, "contact_log", "csv", fh, options)
    (row,) = _read_zip(fh.getvalue())["contact_log.csv"]
    assert row[question] == answer
    participants_label = {
        None: "Who took part?",
        "en": "Who took part?",
        "fr": "Qui a participé ?",
        "Arabic (ar)": "من شارك؟",
    }[language]
    assert row[participants_label] == participants


def test_date_range_on_received_at(session: Session) -> None:
    _seed(session)
    fh = io.BytesIO()
    options = ExportOptions(
        received_from=datetime(2024, 5, 2, tzinfo=UTC),
        received_before=datetime(2024, 5, 3, tzinfo=UTC),
    )
    summary = export_form(session, "household", "csv", fh, options)
    assert [r["KEY"] for r in _read_zip(fh.getvalue())["household.csv"]] == ["uuid:two"]
    assert summary.tables["household-kids"] == 0


def test_xlsx_round_trip(session: Session) -> None:
    _seed(session)
    fh = io.BytesIO()
    export_form(session, "household", "xlsx", fh)
    book = openpyxl.load_workbook(io.BytesIO(fh.getvalue()), read_only=True)
    assert book.sheetnames == ["household", "household-kids", "household-toys_r"]
    main = [list(r) for r in book["household"].iter_rows(values_only=True)]
    header = main[0]
    rows = [dict(zip(header, r, strict=True)) for r in main[1:]]
    assert rows[0]["age"] == 7
    assert rows[2]["age"] == 11
    assert rows[1]["age"] is None
    assert rows[1]["note_v2"] == "'=1+1"
    assert rows[0]["loc"] == "-1.2921 36.8219 1700 5"
    kids = list(book["household-kids"].iter_rows(values_only=True))
    assert kids[1] == ("Zoë", "uuid:one", "uuid:one/kids[1]")
    assert kids[2] == ("سارة", "uuid:one", "uuid:one/kids[2]")
    toys = list(book["household-toys_r"].iter_rows(values_only=True))
    assert toys[3] == ("kite", "uuid:one/kids[2]", "uuid:one/kids[2]/toys_r[1]")
    book.close()


def test_media_zip(session: Session) -> None:
    _seed(session)
    fh = io.BytesIO()
    summary = export_form(session, "household", "media", fh)
    with zipfile.ZipFile(io.BytesIO(fh.getvalue())) as zf:
        assert zf.namelist() == ["uuid-two/a.jpg"]
        assert zf.read("uuid-two/a.jpg") == b"\xff\xd8jpeg"
    assert summary.tables == {"media": 1}


def test_geojson(session: Session) -> None:
    _seed(session)
    fh = io.BytesIO()
    export_form(session, "household", "geojson", fh)
    doc = json.loads(fh.getvalue())
    assert doc["type"] == "FeatureCollection"
    assert doc["features"] == [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [36.8219, -1.2921, 1700.0]},
            "properties": {
                "instanceID": "uuid:one",
                "field": "loc",
                "index": 1,
                "SubmissionDate": "2024-05-01T08:00:00.000Z",
            },
        }
    ]


def test_unknown_form_and_bad_options(session: Session) -> None:
    with pytest.raises(AppError) as info:
        export_form(session, "nope", "csv", io.BytesIO())
    assert info.value.code == "xform.not_found"
    with pytest.raises(ExportOptionError):
        export_form(session, "nope", "pdf", io.BytesIO())
    _seed(session)
    with pytest.raises(ExportOptionError):
        export_form(session, "household", "csv", io.BytesIO(), ExportOptions(language="xx"))


def test_submitter_ids_limit_form_exports_to_a_team(session: Session) -> None:
    seeded = _seed(session)
    amina = seeded["subs"][0].submitter_id  # type: ignore[index]
    options = ExportOptions(submitter_ids=frozenset({amina}))
    fh = io.BytesIO()
    summary = export_form(session, "household", "csv", fh, options)
    tables = _read_zip(fh.getvalue())
    assert [r["KEY"] for r in tables["household.csv"]] == ["uuid:one"]
    assert {r["PARENT_KEY"] for r in tables["household-kids.csv"]} == {"uuid:one"}
    assert summary.source_rows == 1
    # nobody's team: nothing, not everything
    empty = io.BytesIO()
    export_form(session, "household", "csv", empty, ExportOptions(submitter_ids=frozenset()))
    assert _read_zip(empty.getvalue())["household.csv"] == []
    # media and GeoJSON follow the same filter (s2's photo is not amina's)
    media = io.BytesIO()
    assert export_form(session, "household", "media", media, options).tables == {"media": 0}
    assert options.describe()["submitter_ids"] == [amina]
    with pytest.raises(ExportOptionError):
        ExportOptions(submitter_ids={1, 2})  # type: ignore[arg-type]


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert zf.testzip() is None
        return {name: zf.read(name) for name in zf.namelist()}


def test_worker_processes_write_the_same_csv(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import exports
    from exports import source

    _seed(session)
    monkeypatch.setattr(source, "SUBMISSION_BATCH", 1)  # one batch per submission: order shows
    alone = io.BytesIO()
    export_form(session, "household", "csv", alone)
    monkeypatch.setattr(exports, "PARALLEL_FROM", 0)
    monkeypatch.setattr(exports, "PARALLEL_WORKERS", 2)
    progress: list[int] = []
    together = io.BytesIO()
    summary = export_form(session, "household", "csv", together, progress=progress.append)
    assert _entries(together.getvalue()) == _entries(alone.getvalue())
    assert list(_entries(together.getvalue())) == [
        "household.csv", "household-kids.csv", "household-toys_r.csv"
    ]  # fmt: skip
    assert summary.tables == {"household": 3, "household-kids": 3, "household-toys_r": 3}
    assert progress == [3]


def test_without_worker_processes_the_export_runs_in_process(
    session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import exports
    from exports import parallel

    def no_processes(*_args: object, **_kwargs: object) -> None:
        raise OSError("no sem_open here")

    _seed(session)
    alone = io.BytesIO()
    export_form(session, "household", "csv", alone)
    monkeypatch.setattr(exports, "PARALLEL_FROM", 0)
    monkeypatch.setattr(exports, "PARALLEL_WORKERS", 2)
    monkeypatch.setattr(parallel, "ProcessPoolExecutor", no_processes)
    fallback = io.BytesIO()
    export_form(session, "household", "csv", fallback)
    assert _entries(fallback.getvalue()) == _entries(alone.getvalue())

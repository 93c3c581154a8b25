"""Sensitive answers in form exports: one rule (``sensitive_paths``) for every format.

A field marked ``casework:sensitive``, and every field inside a group or repeat so marked,
is left out of CSV, XLSX and GeoJSON, and the files that answer one are left out of the
media ZIP, unless the export asks for sensitive fields (which only an admin may).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile

import openpyxl
from sqlalchemy.orm import Session

from exports import ExportOptions, export_form
from exports.source import sensitive_property_names
from exports.tables import sensitive_paths
from tests.cases.forms import definition
from tests.exports.conftest import publish, submit, xlsform
from tests.exports.forms import DISCLOSURE_ANSWERS, DISCLOSURE_FILES, DISCLOSURE_SURVEY

SECRETS = ("what the child said", "drawing.jpg", "Uncle Ali", "uncle.jpg", "bruise.jpg")


def _seed(session: Session) -> None:
    version = publish(session, xlsform(DISCLOSURE_SURVEY, "disclose", "1"))
    submit(session, version, DISCLOSURE_ANSWERS, instance_id="uuid:one", files=DISCLOSURE_FILES)


def _export(session: Session, fmt: str, include_sensitive: bool = False) -> bytes:
    fh = io.BytesIO()
    export_form(session, "disclose", fmt, fh, ExportOptions(include_sensitive=include_sensitive))
    return fh.getvalue()


def _csv_tables(data: bytes) -> dict[str, list[dict[str, str]]]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {
            n: list(csv.DictReader(io.StringIO(zf.read(n).decode("utf-8-sig"))))
            for n in zf.namelist()
        }


def test_a_groups_mark_covers_every_field_inside_it() -> None:
    assert sensitive_paths([definition(xlsform(DISCLOSURE_SURVEY, "disclose", "1"))]) == {
        "injury_photo",
        "disclosure",
        "disclosure/story",
        "disclosure/drawing",
        "disclosure/where",
        "contacts",
        "contacts/contact_who",
        "contacts/contact_photo",
    }


def test_csv_leaves_out_sensitive_fields_groups_and_repeats(session: Session) -> None:
    _seed(session)
    tables = _csv_tables(_export(session, "csv"))
    assert sorted(tables) == ["disclose-visits.csv", "disclose.csv"]
    main = tables["disclose.csv"]
    assert main[0]["photo"] == "house.jpg"
    assert not [c for c in main[0] if c.startswith(("disclosure", "injury"))]
    assert not any(secret in json.dumps(tables) for secret in SECRETS)

    everything = _csv_tables(_export(session, "csv", include_sensitive=True))
    assert sorted(everything) == [
        "disclose-contacts.csv",
        "disclose-visits.csv",
        "disclose.csv",
    ]
    row = everything["disclose.csv"][0]
    assert row["disclosure-story"] == "what the child said"
    assert row["injury_photo"] == "bruise.jpg"
    assert everything["disclose-contacts.csv"][0]["contact_who"] == "Uncle Ali"


def test_xlsx_leaves_out_sensitive_groups_and_repeats(session: Session) -> None:
    _seed(session)
    book = openpyxl.load_workbook(io.BytesIO(_export(session, "xlsx")), read_only=True)
    assert book.sheetnames == ["disclose", "disclose-visits"]
    cells = [v for sheet in book for row in sheet.iter_rows(values_only=True) for v in row]
    book.close()
    assert "house.jpg" in cells
    assert not any(secret in cells for secret in SECRETS)


def test_geojson_leaves_out_points_in_sensitive_groups(session: Session) -> None:
    _seed(session)
    features = json.loads(_export(session, "geojson"))["features"]
    assert [f["properties"]["field"] for f in features] == ["home"]
    everything = json.loads(_export(session, "geojson", include_sensitive=True))["features"]
    assert [f["properties"]["field"] for f in everything] == ["disclosure/where", "home"]


def test_media_leaves_out_files_that_answer_sensitive_questions(session: Session) -> None:
    _seed(session)
    with zipfile.ZipFile(io.BytesIO(_export(session, "media"))) as zf:
        assert zf.namelist() == ["uuid-one/house.jpg"]
    with zipfile.ZipFile(io.BytesIO(_export(session, "media", include_sensitive=True))) as zf:
        assert sorted(zf.namelist()) == [
            "uuid-one/bruise.jpg",
            "uuid-one/drawing.jpg",
            "uuid-one/house.jpg",
            "uuid-one/uncle.jpg",
        ]


def test_a_mark_in_an_older_version_still_counts_for_media(session: Session) -> None:
    publish(session, xlsform(DISCLOSURE_SURVEY, "disclose", "1"))
    unmarked = DISCLOSURE_SURVEY.replace("| Injury photo | yes |", "| Injury photo | |")
    newer = publish(session, xlsform(unmarked, "disclose", "2"))
    submit(session, newer, DISCLOSURE_ANSWERS, instance_id="uuid:one", files=DISCLOSURE_FILES)
    with zipfile.ZipFile(io.BytesIO(_export(session, "media"))) as zf:
        assert zf.namelist() == ["uuid-one/house.jpg"]


def test_a_group_marked_in_an_older_version_covers_case_properties_added_to_it_later() -> None:
    older = definition(xlsform(DISCLOSURE_SURVEY, "disclose", "1"))
    newer_survey = DISCLOSURE_SURVEY.replace(
        "| | text | story | What happened | |",
        "| | text | story | What happened | |\n| | text | disclosed_to | Told whom | |",
    ).replace(
        "| | begin_group | disclosure | Disclosure | yes |",
        "| | begin_group | disclosure | Disclosure | |",
    )
    names = sensitive_property_names([older, definition(xlsform(newer_survey, "disclose", "2"))])
    assert {"story", "disclosed_to", "injury_photo"} <= names
    assert not {"child_ref", "home"} & names

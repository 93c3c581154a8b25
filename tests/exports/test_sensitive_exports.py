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
from exports.tables import sensitive_paths
from server.xforms.definition import FormDefinition
from tests.exports.conftest import publish, submit, xlsform

SURVEY = """| | type | name | label | bind::casework:sensitive |
| | text | child_ref | Reference | |
| | image | photo | Photo | |
| | image | injury_photo | Injury photo | yes |
| | begin_group | disclosure | Disclosure | yes |
| | text | story | What happened | |
| | image | drawing | Drawing | |
| | geopoint | where | Where | |
| | end_group | | | |
| | begin_repeat | contacts | Contacts | yes |
| | text | contact_name | Name | |
| | image | contact_photo | Photo | |
| | end_repeat | | | |
| | begin_repeat | visits | Visits | |
| | date | visit_date | Date | |
| | end_repeat | | | |
| | geopoint | home | Home | |"""

ANSWERS = {
    "child_ref": "CP-9",
    "photo": "house.jpg",
    "injury_photo": "bruise.jpg",
    "disclosure": {
        "story": "what the child said",
        "drawing": "drawing.jpg",
        "where": "-1.5 36.5 0 0",
    },
    "contacts": [{"contact_name": "Uncle Ali", "contact_photo": "uncle.jpg"}],
    "visits": [{"visit_date": "2024-05-01"}],
    "home": "-1.2 36.8 0 0",
}
FILES = {
    "house.jpg": b"house",
    "bruise.jpg": b"bruise",
    "drawing.jpg": b"drawing",
    "uncle.jpg": b"uncle",
}
SECRETS = ("what the child said", "drawing.jpg", "Uncle Ali", "uncle.jpg", "bruise.jpg")


def _seed(session: Session) -> None:
    version = publish(session, xlsform(SURVEY, "disclose", "1"))
    submit(session, version, ANSWERS, instance_id="uuid:one", files=FILES)


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
    from pyxform.xls2xform import convert

    from server.xforms.definition import parse_definition

    xml = convert(xlsform=xlsform(SURVEY, "disclose", "1"), file_type=".md").xform
    definition: FormDefinition = parse_definition(xml)
    assert sensitive_paths([definition]) == {
        "injury_photo",
        "disclosure",
        "disclosure/story",
        "disclosure/drawing",
        "disclosure/where",
        "contacts",
        "contacts/contact_name",
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
    assert everything["disclose-contacts.csv"][0]["contact_name"] == "Uncle Ali"


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
    old = publish(session, xlsform(SURVEY, "disclose", "1"))
    unmarked = SURVEY.replace("| Injury photo | yes |", "| Injury photo | |")
    publish(session, xlsform(unmarked, "disclose", "2"))
    submit(session, old, ANSWERS, instance_id="uuid:one", files=FILES)
    with zipfile.ZipFile(io.BytesIO(_export(session, "media"))) as zf:
        assert zf.namelist() == ["uuid-one/house.jpg"]

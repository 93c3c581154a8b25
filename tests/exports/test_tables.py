"""Pure table shapes and rows: no database."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyxform.xls2xform import convert

from exports.cases import (
    CaseRecord,
    ContributionRecord,
    PlanItemRecord,
    case_rows,
    case_tables,
)
from exports.cells import Neutraliser, safe_cell
from exports.options import ExportOptionError, ExportOptions
from exports.tables import SubmissionRecord, form_tables, merge_fields, rows
from server.submissions.parse import parse_envelope
from server.xforms.definition import FormDefinition, FormKind, parse_definition
from tests.exports.conftest import xlsform
from tests.exports.forms import V1, V2, V3


def _definition(md: str) -> FormDefinition:
    return parse_definition(convert(xlsform=md, file_type=".md").xform)


@pytest.fixture(scope="module")
def versions() -> list[FormDefinition]:
    return [_definition(md) for md in (V1, V2, V3)]


def test_fields_of_older_versions_follow_their_predecessor(
    versions: list[FormDefinition],
) -> None:
    paths = [f.path for f in merge_fields(versions) if f.kind == "field"]
    assert paths[:6] == ["child_ref", "secret", "age", "old_field", "note_v2", "mood"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+SUM(A1:A2)", "'+SUM(A1:A2)"),
        ("-2", "'-2"),
        ("@x", "'@x"),
        ("\tcmd", "'\tcmd"),
        ("\rcmd", "'\rcmd"),
        ("plain", "plain"),
        ("", ""),
        (None, None),
        (3, 3),
    ],
)
def test_formula_neutralisation(value: str | int | None, expected: str | int | None) -> None:
    assert safe_cell(value) == expected


def test_numbers_in_numeric_columns_are_left_alone() -> None:
    assert safe_cell("-2", numeric=True) == "-2"
    assert safe_cell("-1.5 36.8 0 0", numeric=True) == "-1.5 36.8 0 0"
    assert safe_cell("-2+cmd|' /C calc'!A0", numeric=True) == "'-2+cmd|' /C calc'!A0"


def test_nested_repeat_inside_a_group_keys_like_central() -> None:
    md = xlsform(
        """| | type | name | label |
| | begin_repeat | visits | Visits |
| | begin_group | details | Details |
| | begin_repeat | people | People |
| | text | who | Who |
| | end_repeat | | |
| | end_group | | |
| | end_repeat | | |""",
        "nested",
        "1",
    )
    tables = form_tables([_definition(md)], ExportOptions())
    assert [(t.name, t.repeat, t.parent) for t in tables] == [
        ("nested", None, None),
        ("nested-visits", "visits", None),
        ("nested-people", "visits/details/people", "visits"),
    ]
    xml = (
        b'<nested id="nested" version="1"><visits><details><people><who>a</who></people>'
        b"<people><who>b</who></people></details></visits>"
        b"<meta><instanceID>uuid:x</instanceID></meta></nested>"
    )
    record = SubmissionRecord("uuid:x", parse_envelope(xml).data, datetime(2024, 1, 1, tzinfo=UTC))
    out = list(rows(tables, [record]))
    assert [r for i, r in out if i == 2] == [
        ["a", "uuid:x/visits[1]", "uuid:x/visits[1]/details/people[1]"],
        ["b", "uuid:x/visits[1]", "uuid:x/visits[1]/details/people[2]"],
    ]


def test_headers_without_group_paths_fall_back_on_clashes() -> None:
    md = xlsform(
        """| | type | name | label |
| | begin_group | a | A |
| | text | x | X |
| | end_group | | |
| | begin_group | b | B |
| | text | x | X |
| | text | y | Y |
| | end_group | | |""",
        "clash",
        "1",
    )
    main = form_tables([_definition(md)], ExportOptions(group_paths=False))[0]
    assert main.headers[1:4] == ["a-x", "b-x", "y"]


def test_unknown_language_is_an_option_error(versions: list[FormDefinition]) -> None:
    with pytest.raises(ExportOptionError):
        form_tables(versions, ExportOptions(language="Deutsch (de)"))


def test_options_validate_and_describe() -> None:
    with pytest.raises(ExportOptionError):
        ExportOptions(received_from=datetime(2024, 1, 1))
    described = ExportOptions(received_from=datetime(2024, 1, 1, tzinfo=UTC)).describe()
    assert described["received_from"] == "2024-01-01T00:00:00+00:00"
    assert described["include_sensitive"] is False


def test_case_rows_flags_overdue_and_hides_sensitive_properties() -> None:
    tables = case_tables(["district", "child_name", "status"], {"child_name"}, ExportOptions())
    assert tables[0].headers[-2:] == ["district", "property-status"]
    at = datetime(2024, 5, 1, tzinfo=UTC)
    records = [
        CaseRecord("CP-1", "open", "amina", "high", 7, at, date(2024, 5, 8), None, 1, at, None,
                   {"district": "North", "child_name": "Jane", "status": "x"}),
        PlanItemRecord("CP-1", "n1", "need", "=HYPERLINK()", "school", date(2024, 5, 9),
                       "open", False),
        ContributionRecord("CP-1", "contact_log", FormKind.CONTACT, at, "amina", "uuid:c"),
        ContributionRecord("CP-1", "case_conference", FormKind.CONFERENCE, at, None, "uuid:d"),
        ContributionRecord("CP-1", "registration", FormKind.REGISTRATION, at, None, "uuid:e"),
    ]  # fmt: skip
    out = list(case_rows(tables, records, today=date(2024, 5, 10)))
    assert [i for i, _ in out] == [0, 1, 2, 3]
    case = dict(zip(tables[0].headers, out[0][1], strict=True))
    assert case["is_contact_overdue"] == "true"
    assert "child_name" not in case
    assert case["last_contact_at"] == "2024-05-01T00:00:00.000Z"
    item = dict(zip(tables[1].headers, out[1][1], strict=True))
    assert item["is_overdue"] == "true"


CELL = st.text(alphabet="=+-@\t\r\x00 ;.,e0123456789a", max_size=8)


@settings(max_examples=300, deadline=None)
@given(
    numeric=st.lists(st.booleans(), min_size=1, max_size=5),
    data=st.data(),
)
def test_batch_neutralising_matches_safe_cell(numeric: list[bool], data: st.DataObject) -> None:
    rows = data.draw(
        st.lists(st.lists(CELL, min_size=len(numeric), max_size=len(numeric)), max_size=6)
    )
    expected = [[safe_cell(v, n) for v, n in zip(r, numeric, strict=True)] for r in rows]
    got = Neutraliser(numeric)([tuple(r) for r in rows])
    assert [list(r) for r in got] == expected


def test_rows_blank_groups_where_fields_were_and_empty_elements() -> None:
    md = xlsform(
        """| | type | name | label |
| | text | a | A |
| | begin_group | g | G |
| | text | b | B |
| | end_group | | |
| | begin_repeat | r | R |
| | text | c | C |
| | end_repeat | | |""",
        "odd",
        "1",
    )
    tables = form_tables([_definition(md)], ExportOptions())
    at = datetime(2024, 1, 1, tzinfo=UTC)
    odd = {"a": [{"x": ["1"]}], "g": ["text"], "r": ["", {"c": []}, {"c": ["z"]}]}
    record = SubmissionRecord("uuid:o", odd, at, submitter="amina")  # type: ignore[arg-type]
    out = list(rows(tables, [record]))
    assert out[0] == (
        0,
        ["2024-01-01T00:00:00.000Z", "", "", "", "uuid:o", "amina", "", "received", ""],
    )
    assert [r for i, r in out if i == 1] == [
        ["", "uuid:o", "uuid:o/r[1]"], ["", "uuid:o", "uuid:o/r[2]"], ["z", "uuid:o", "uuid:o/r[3]"]
    ]  # fmt: skip

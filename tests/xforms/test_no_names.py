"""The "never ask for a name" rule of xlsforms/README.md, checked when a form is published:
a question called ``name``, ``child_name`` or anything else ending in ``name`` is refused by
the convert step that the CLI, ``POST /api/v1/forms`` and the Forms page all use, with the
sheet, row and column, like every other publish error."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from server.cli import main
from server.errors import AppError
from server.xforms.convert import convert_xlsform, fields_called_name, questions_called_name
from server.xforms.service import build
from tests import realforms
from tests.factories import SIMPLE_FORM, Factory, bearer, xform_from_md

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "xlsforms").glob("*.xlsx"))


def with_question(form: str, name: str, *, at: int = 6, kind: str = "text") -> bytes:
    """The shipped form with one question more, on survey row ``at`` (the header is row 1)."""
    book = openpyxl.load_workbook(ROOT / "xlsforms" / f"{form}.xlsx")
    sheet = book["survey"]
    header = [c.value for c in sheet[1]]
    sheet.insert_rows(at)
    label = "label::English (en)" if "label::English (en)" in header else "label"
    for column, value in (("type", kind), ("name", name), (label, "Child's name")):
        sheet.cell(row=at, column=header.index(column) + 1, value=value)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_the_shipped_forms_ask_for_no_name(path: Path) -> None:
    # their `username` is filled in by the phone (the signed-in user), not a question
    assert questions_called_name(path.read_bytes(), ".xlsx") == []
    convert_xlsform(path.read_bytes(), path.name, validate=False)


@pytest.mark.parametrize("name", ["child_name", "name", "first_name", "Surname", "nickname"])
def test_a_question_ending_in_name_is_refused_by_sheet_row_and_column(name: str) -> None:
    content = with_question("case_conference", name, at=7)
    with pytest.raises(AppError) as raised:
        convert_xlsform(content, "case_conference.xlsx", validate=False)
    assert raised.value.code == "xform.invalid"
    (problem,) = raised.value.details["problems"]
    assert (problem["sheet"], problem["row"], problem["column"]) == ("survey", 7, "name")
    assert name in problem["message"]
    assert "row 7" in raised.value.text


@pytest.mark.parametrize("name", ["name_of_school", "names_count", "child_age"])
def test_other_questions_pass(name: str) -> None:
    convert_xlsform(with_question("case_conference", name), "case_conference.xlsx", validate=False)


def test_the_api_refuses_it(make: Factory, client: Any) -> None:
    make.user("des", "designer")
    response = client.post(
        "/api/v1/forms",
        data={"file": (io.BytesIO(with_question("case_conference", "child_name")), "c.xlsx")},
        headers=bearer(make.api_token("des")),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400, response.json
    assert response.json["code"] == "xform.invalid"
    (problem,) = response.json["details"]["problems"]
    assert (problem["sheet"], problem["row"], problem["column"]) == ("survey", 6, "name")
    assert client.get("/api/v1/forms", headers=bearer(make.api_token("des"))).json == []


def test_the_cli_refuses_it(empty_database_url: str, tmp_path: Path) -> None:
    env = {
        "CASEWORK_DATABASE_URL": empty_database_url,
        "CASEWORK_DATA_DIR": str(tmp_path / "data"),
        "CASEWORK_ODK_VALIDATE": "false",
    }

    def run(*args: str) -> Any:
        return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)

    assert run("migrate").exit_code == 0
    form = tmp_path / "case_conference.xlsx"
    form.write_bytes(with_question("case_conference", "child_name"))
    refused = run("publish", str(form))
    assert refused.exit_code == 1
    assert "sheet survey, row 6, column name: A question may not be called 'child_name'" in (
        refused.output
    )
    assert "xform.invalid" in refused.output


@pytest.mark.parametrize("form_id", [p.stem for p in SHIPPED])
def test_the_shipped_forms_as_xforms_ask_for_no_name(form_id: str) -> None:
    assert fields_called_name(realforms.definition(form_id).fields) == []


def test_an_xform_upload_with_a_question_called_child_name_is_refused() -> None:
    md = SIMPLE_FORM.replace("| | text | note_text | Note |", "| | text | child_name | Name |")
    xml = xform_from_md(md)
    with pytest.raises(AppError) as raised:
        build(xml.encode(), "simple.xml", validate=False)
    (problem,) = raised.value.details["problems"]
    assert "child_name" in problem["message"]
    # the same form with a username filled in by the phone passes
    md_ok = SIMPLE_FORM.replace("| | text | note_text | Note |", "| | username | username | |")
    build(xform_from_md(md_ok).encode(), "simple.xml", validate=False)

"""A sensitive question never has an entities ``save_to`` (domain.md §Confidentiality):
Collect writes such an answer into the phone's own case list. The convert step that the CLI,
``POST /api/v1/forms`` and the Forms page all use refuses it by sheet, row and column and
points the designer at ``bind::casework:saveto``; an XForm uploaded as XML is refused too.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from click.testing import CliRunner

from server.cli import main
from server.errors import AppError
from server.xforms.convert import convert_xlsform, sensitive_questions_saved_on_phones
from server.xforms.definition import parse_definition
from server.xforms.service import build
from tests import realforms
from tests.factories import Factory, bearer, xform_from_md

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "xlsforms").glob("*.xlsx"))
SAFETY_PLAN = ("safety_plan_contacts", "safety_plan_safe_places", "safety_plan_actions")


def with_cells(form: str, changes: dict[str, dict[str, str]]) -> tuple[bytes, dict[str, int]]:
    """The shipped form with the cells of some questions changed (question name -> column ->
    value; a missing column is added), and the spreadsheet row of each such question."""
    book = openpyxl.load_workbook(ROOT / "xlsforms" / f"{form}.xlsx")
    sheet = book["survey"]
    header = [c.value for c in sheet[1]]
    rows: dict[str, int] = {}
    for row in range(2, sheet.max_row + 1):
        name = sheet.cell(row=row, column=header.index("name") + 1).value
        if name not in changes:
            continue
        rows[name] = row
        for column, value in changes[name].items():
            if column not in header:
                header.append(column)
                sheet.cell(row=1, column=len(header), value=column)
            sheet.cell(row=row, column=header.index(column) + 1, value=value or None)
    assert set(rows) == set(changes)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), rows


# the safety plan written to the phone's case list, as contact_log had it
ON_PHONES = {n: {"save_to": n, "bind::casework:saveto": ""} for n in SAFETY_PLAN}
# a sensitive discussion note of the case conference made a case field with save_to
DISCUSSION = {"discussion": {"save_to": "conference_discussion"}}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_the_shipped_forms_keep_no_sensitive_answer_on_phones(path: Path) -> None:
    assert sensitive_questions_saved_on_phones(path.read_bytes(), ".xlsx") == []
    build(path.read_bytes(), path.name, validate=False)


def test_the_contact_log_files_its_safety_plan_on_the_case_through_casework_saveto() -> None:
    fields = {f.name: f for f in realforms.definition("contact_log").fields}
    for name in SAFETY_PLAN:
        assert fields[name].is_sensitive
        assert fields[name].save_to == name
        assert fields[name].save_to_server_only
    assert fields["risk_level_now"].save_to == "risk_level"
    assert not fields["risk_level_now"].save_to_server_only


def test_a_sensitive_question_with_save_to_is_refused_by_sheet_row_and_column() -> None:
    content, rows = with_cells("contact_log", ON_PHONES)
    with pytest.raises(AppError) as raised:
        convert_xlsform(content, "contact_log.xlsx", validate=False)
    assert raised.value.code == "xform.invalid"
    problems = raised.value.details["problems"]
    located = [(p["sheet"], p["row"], p["column"]) for p in problems]
    assert located == [("survey", rows[n], "save_to") for n in SAFETY_PLAN]
    for problem, name in zip(problems, SAFETY_PLAN, strict=True):
        assert name in problem["message"]
        assert "casework:saveto" in problem["message"]
    assert f"row {rows['safety_plan_contacts']}" in raised.value.text


def test_a_question_inside_a_sensitive_group_is_covered() -> None:
    content, rows = with_cells(
        "case_conference", {"outcome_group": {"bind::casework:sensitive": "yes"}}
    )
    problems = sensitive_questions_saved_on_phones(content, ".xlsx")
    assert problems
    assert all(p.row and p.row > rows["outcome_group"] for p in problems)
    assert {p.column for p in problems} == {"save_to"}
    # the same form as XForm XML, with a bind that marks the group
    xml = realforms.xform("case_conference")
    first = '<bind nodeset="/data/outcome_group/outcome"'
    assert first in xml
    marked = xml.replace(
        first, f'<bind nodeset="/data/outcome_group" casework:sensitive="yes"/>{first}'
    )
    with pytest.raises(AppError) as raised:
        build(marked.encode(), "case_conference.xml", validate=False)
    assert "casework:saveto" in raised.value.text


def test_casework_saveto_on_a_sensitive_question_passes() -> None:
    content, _ = with_cells(
        "case_conference", {"discussion": {"bind::casework:saveto": "conference_discussion"}}
    )
    preview = build(content, "case_conference.xlsx", validate=False)
    discussion = preview.definition.field("discussion")
    assert discussion is not None
    assert discussion.save_to == "conference_discussion"
    assert discussion.save_to_server_only
    assert 'casework:saveto="conference_discussion"' in preview.xml


def test_the_api_refuses_it(make: Factory, client: Any) -> None:
    make.user("des", "designer")
    content, rows = with_cells("case_conference", DISCUSSION)
    response = client.post(
        "/api/v1/forms",
        data={"file": (io.BytesIO(content), "c.xlsx")},
        headers=bearer(make.api_token("des")),
        content_type="multipart/form-data",
    )
    assert response.status_code == 400, response.json
    assert response.json["code"] == "xform.invalid"
    (problem,) = response.json["details"]["problems"]
    assert (problem["sheet"], problem["row"], problem["column"]) == (
        "survey",
        rows["discussion"],
        "save_to",
    )
    assert "casework:saveto" in problem["message"]
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
    content, rows = with_cells("contact_log", ON_PHONES)
    form = tmp_path / "contact_log.xlsx"
    form.write_bytes(content)
    refused = run("publish", str(form))
    assert refused.exit_code == 1
    row = rows["safety_plan_contacts"]
    assert f"sheet survey, row {row}, column save_to: The question 'safety_plan_contacts'" in (
        refused.output
    )
    assert "casework:saveto" in refused.output
    # the shipped forms publish
    assert run("publish-xlsforms", str(ROOT / "xlsforms")).exit_code == 0


def test_an_xform_upload_with_a_sensitive_save_to_is_refused() -> None:
    md = """
| survey |
| | type | name | label | save_to | bind::casework:role | bind::casework:sensitive |
| | text | ref | Reference | ref | ref | |
| | text | notes | Notes | notes | | yes |
| settings |
| | form_id | version | namespaces |
| | noted | 1 | casework="urn:casework:xforms" |
| entities |
| | list_name | label |
| | cases | ${ref} |
"""
    xml = xform_from_md(md)
    (notes,) = [f for f in parse_definition(xml).fields if f.name == "notes"]
    assert notes.save_to == "notes"
    assert not notes.save_to_server_only
    with pytest.raises(AppError) as raised:
        build(xml.encode(), "noted.xml", validate=False)
    (problem,) = raised.value.details["problems"]
    assert "notes" in problem["message"]
    assert "casework:saveto" in problem["message"]
    # without the save_to, or with casework:saveto instead, it passes
    ok = xform_from_md(md.replace("| notes | Notes | notes | |", "| notes | Notes | | |"))
    build(ok.encode(), "noted.xml", validate=False)
    server_only = xml.replace('entities:saveto="notes"', 'casework:saveto="notes"')
    assert server_only != xml
    preview = build(server_only.encode(), "noted.xml", validate=False)
    notes = preview.definition.field("notes")
    assert notes is not None
    assert notes.save_to == "notes"
    assert notes.save_to_server_only

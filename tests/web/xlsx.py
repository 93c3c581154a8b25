"""XLSForm workbooks for upload tests, written with openpyxl."""

from __future__ import annotations

import io
from pathlib import Path

from openpyxl import Workbook

REPO = Path(__file__).resolve().parents[2]


def workbook(
    survey: list[list[str]], choices: list[list[str]], form_id: str, version: str = "1"
) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "survey"
    for row in survey:
        sheet.append(row)
    choice_sheet = book.create_sheet("choices")
    for row in choices:
        choice_sheet.append(row)
    settings = book.create_sheet("settings")
    settings.append(["form_id", "version", "form_title"])
    settings.append([form_id, version, form_id.replace("_", " ").title()])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def broken_form() -> bytes:
    """A select_one whose choice list does not exist."""
    return workbook(
        [["type", "name", "label"], ["select_one colours", "colour", "Colour"]],
        [["list_name", "name", "label"], ["sizes", "small", "Small"]],
        "broken_form",
    )


def good_form() -> tuple[str, bytes]:
    # case_conference: the tests seed case_plan and contact_log from their markdown twins
    shipped = REPO / "xlsforms" / "case_conference.xlsx"
    if shipped.exists():
        return shipped.name, shipped.read_bytes()
    return "feedback.xlsx", workbook(
        [["type", "name", "label"], ["text", "note", "Note"]],
        [["list_name", "name", "label"]],
        "feedback",
    )

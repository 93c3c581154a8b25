"""XLSForm bytes -> XForm XML with pyxform, and errors in a spreadsheet author's terms."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyxform.errors import PyXFormError
from pyxform.validators.odk_validate import ODKValidateError, check_xform
from pyxform.xls2json_backends import get_xlsform
from pyxform.xls2xform import convert as pyxform_convert

from server.errors import AppError

_ROW = re.compile(r"\[row\s*:\s*(\d+)\]")
_SHEETS = "survey|choices|settings|entities|external_choices"
_ON_SHEET = re.compile(rf"\b(?:on|in) the '({_SHEETS})' sheet", re.IGNORECASE)
_ANY_SHEET = re.compile(rf"'?\b({_SHEETS})\b'? sheet", re.IGNORECASE)
_COLUMN = re.compile(r"(?:the|column) '([a-z_:]+(?:::[A-Za-z_:]+)?)'(?: value| column)?")


@dataclass(frozen=True)
class Problem:
    """One error or warning, located the way the designer sees the spreadsheet."""

    message: str
    sheet: str | None = None
    row: int | None = None
    column: str | None = None
    source: str = "pyxform"  # or "odk-validate"

    def to_json(self) -> dict[str, Any]:
        return {
            "message": self.message,
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "source": self.source,
        }


def locate(message: str, source: str = "pyxform") -> Problem:
    row = _ROW.search(message)
    # pyxform numbers rows of the survey sheet unless it names another sheet as the place
    sheet_match = _ON_SHEET.search(message) or (None if row else _ANY_SHEET.search(message))
    sheet = sheet_match.group(1).lower() if sheet_match else ("survey" if row else None)
    column = next(
        (m.group(1) for m in _COLUMN.finditer(message) if m.group(1) not in _SHEETS.split("|")),
        None,
    )
    if column is None and "list name" in message.lower():
        column = "type"  # select_one <list>: the list is named in the type column
    return Problem(
        message=message.strip(),
        sheet=sheet,
        row=int(row.group(1)) if row else None,
        column=column,
        source=source,
    )


@dataclass(frozen=True)
class FormBuild:
    xml: str
    warnings: tuple[Problem, ...]


def java_available() -> bool:
    return shutil.which("java") is not None


def convert_xlsform(content: bytes, filename: str, *, validate: bool) -> FormBuild:
    """Convert an XLSForm; raise AppError with every problem located by sheet/row/column."""
    suffix = Path(filename).suffix.lower()
    warnings: list[str] = []
    try:
        result = pyxform_convert(xlsform=content, file_type=suffix, warnings=warnings)
    except PyXFormError as exc:
        problem = locate(str(exc))
        raise AppError(
            "xform.invalid",
            f"The form could not be converted: {problem.message}",
            details={"problems": [problem.to_json()]},
        ) from exc
    except Exception as exc:  # a broken or foreign file makes the readers raise anything
        raise AppError(
            "xform.invalid",
            "The file could not be read as an XLSForm spreadsheet.",
            details={"problems": [Problem(str(exc)).to_json()]},
        ) from exc
    named = questions_called_name(content, suffix)
    if named:
        raise AppError(
            "xform.invalid",
            "The form asks for a name: " + "; ".join(p.message for p in named),
            details={"problems": [p.to_json() for p in named]},
        )
    saved = sensitive_questions_saved_on_phones(content, suffix)
    if saved:
        raise AppError(
            "xform.invalid",
            "A sensitive answer would be kept on phones: " + "; ".join(p.message for p in saved),
            details={"problems": [p.to_json() for p in saved]},
        )
    problems = [locate(w) for w in (result.warnings or warnings)]
    if validate:
        problems.extend(validate_xform(result.xform))
    return FormBuild(xml=result.xform, warnings=tuple(problems))


# Survey rows the phone fills in itself (the signed-in user's name, the device id, times):
# no person types a name into them, so the "no names" rule leaves them alone.
METADATA_TYPES = frozenset(
    {
        "start",
        "end",
        "today",
        "deviceid",
        "subscriberid",
        "simserial",
        "phonenumber",
        "username",
        "email",
        "audit",
        "start-geopoint",
        "background-audio",
    }
)


def questions_called_name(content: bytes, suffix: str) -> list[Problem]:
    """The "never ask for a name" rule of xlsforms/README.md: no question may be called
    ``name``, ``first_name``, ``child_name`` or anything else ending in ``name``. One problem
    per offending row of the survey sheet (rows numbered as in the spreadsheet)."""
    survey = get_xlsform(content, file_type=suffix).survey
    problems = []
    for index, row in enumerate(survey):
        name = str(row.get("name") or "").strip()
        kind = str(row.get("type") or "").strip().lower().removeprefix("uri:")
        if not name.lower().endswith("name") or kind in METADATA_TYPES:
            continue
        problems.append(
            Problem(
                message=(
                    f"A question may not be called '{name}' (on the 'survey' sheet, row "
                    f"{index + 2}): a child is known by the case reference number, never by "
                    "name. Rename it, and never ask for a name."
                ),
                sheet="survey",
                row=index + 2,  # the header is row 1; empty rows are kept in the list
                column="name",
            )
        )
    return problems


def fields_called_name(fields: Iterable[Any]) -> list[Problem]:
    """The same rule for a form uploaded as XForm XML (no spreadsheet rows to point at):
    every field ending in ``name`` but the phone's own metadata (``meta/…``, and preloads
    such as ``username`` that no one types into)."""
    return [
        Problem(
            message=(
                f"A question may not be called '{f.name}' (at {f.path}): a child is known by "
                "the case reference number, never by name. Rename it, and never ask for a name."
            ),
            column="name",
        )
        for f in fields
        if f.kind == "field"
        and not f.is_meta
        and f.name.lower().endswith("name")
        and not (f.control == "" and f.name.lower() in METADATA_TYPES)
    ]


# Survey columns that make an ODK entities save_to (pyxform writes ``entities:saveto``):
# Collect writes such an answer into the phone's own copy of the case.
ENTITY_SAVETO_COLUMNS = ("save_to", "bind::entities:saveto")
_YES = ("yes", "true", "1")
_SAVED_ON_PHONES = (
    "{what} (on the 'survey' sheet, row {row}) is marked sensitive and has a {column}: "
    "Collect would keep the answer in the phone's case list. Put the case field name in "
    "the 'bind::casework:saveto' column instead (the server then files it on the case, "
    "and no phone gets it), and leave {column} empty."
)


def sensitive_questions_saved_on_phones(content: bytes, suffix: str) -> list[Problem]:
    """The rule of domain.md §Confidentiality for spreadsheets: a question marked
    ``casework:sensitive`` (itself, or a group or repeat around it) may not have an entities
    ``save_to``; ``bind::casework:saveto`` makes it a case field on the server only. One
    problem per offending row of the survey sheet (rows numbered as in the spreadsheet)."""
    survey = get_xlsform(content, file_type=suffix).survey
    problems = []
    groups: list[bool] = []  # for each open group or repeat: is it marked sensitive?
    for index, raw in enumerate(survey):
        row = {str(k).strip().lower(): str(v or "").strip() for k, v in raw.items()}
        kind = " ".join(row.get("type", "").lower().replace("_", " ").split())
        marked = row.get("bind::casework:sensitive", "").lower() in _YES
        if kind in ("end group", "end repeat"):
            if groups:
                groups.pop()
            continue
        sensitive = marked or any(groups)
        if kind in ("begin group", "begin repeat"):
            groups.append(marked)
        column = next((c for c in ENTITY_SAVETO_COLUMNS if row.get(c)), None)
        if not sensitive or column is None:
            continue
        name = row.get("name", "")
        what = f"The question '{name}'" if name else "A question"
        problems.append(
            Problem(
                message=_SAVED_ON_PHONES.format(what=what, row=index + 2, column=column),
                sheet="survey",
                row=index + 2,  # the header is row 1; empty rows are kept in the list
                column=column,
            )
        )
    return problems


def fields_saved_on_phones(fields: Sequence[Any]) -> list[Problem]:
    """The same rule for a form uploaded as XForm XML: no field that is sensitive (marked,
    or inside a group or repeat so marked) has an ``entities:saveto``."""
    marked = [f.path for f in fields if f.is_sensitive]
    return [
        Problem(
            message=(
                f"The question '{f.name}' (at {f.path}) is marked sensitive and has an "
                "entities:saveto: Collect would keep the answer in the phone's case list. "
                "Use casework:saveto instead (the server then files it on the case, and no "
                "phone gets it)."
            ),
            column="save_to",
        )
        for f in fields
        if f.save_to
        and not f.save_to_server_only
        and any(f.path == m or f.path.startswith(f"{m}/") for m in marked)
    ]


def validate_xform(xml: str) -> list[Problem]:
    """Run ODK Validate (JavaRosa, what Collect uses) on the XForm; errors raise."""
    if not java_available():
        return []
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "form.xml"
        path.write_text(xml, encoding="utf-8")
        try:
            messages = check_xform(str(path))
        except ODKValidateError as exc:
            lines = [ln for ln in str(exc).splitlines() if ln.strip()]
            problems = [locate(ln, "odk-validate") for ln in lines[1:]] or [
                locate(str(exc), "odk-validate")
            ]
            raise AppError(
                "xform.validate_failed",
                "ODK Collect would not open this form: " + "; ".join(p.message for p in problems),
                details={"problems": [p.to_json() for p in problems]},
            ) from exc
    return [locate(m, "odk-validate") for m in messages]

"""The services directory: create, update and import services. Flush only; callers commit."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from marshmallow import ValidationError
from sqlalchemy.orm import Session

from server.audit import service as audit
from server.auth.models import User
from server.cases.holds import recheck_holds
from server.errors import AppError
from server.services import queries
from server.services.models import Service
from server.services.schemas import COLUMNS, ServiceInputSchema, default_agency_kind
from server.timeutil import utcnow
from server.xforms import queries as xform_queries
from server.xforms.definition import pick_label

MAX_IMPORT_BYTES = 5 * 1024 * 1024
# A directory has hundreds of rows; the cap stops a small, highly compressed XLSX from
# unpacking into millions.
MAX_IMPORT_ROWS = 20_000
REQUIRED_COLUMNS = ("service_id", "name", "category")
# The forms pick services by type from this choice list (case plan: ``service_category``,
# ``choice_filter`` ``category = ${service_category}``): a directory category is one of its
# codes, or phones never list the service.
CATEGORY_LIST = "service_category"
# The list the shipped case plan has, used until a published form defines one.
DEFAULT_CATEGORIES = (
    ("health", "Health"),
    ("education", "Education"),
    ("psychosocial", "Psychosocial support"),
    ("alternative_care", "Alternative care"),
    ("cash_assistance", "Cash assistance"),
    ("wash", "Water, sanitation and hygiene (WASH)"),
    ("food", "Food"),
    ("legal_aid", "Legal aid"),
    ("other", "Other service"),
)


@dataclass(frozen=True)
class RowError:
    row: int  # spreadsheet row number: the header is row 1
    service_id: str | None
    messages: dict[str, list[str]]


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def service_categories(session: Session) -> list[tuple[str, str]]:
    """(code, label) of every service category the published forms offer: the choices of
    their ``service_category`` lists, in the order the forms give them."""
    found: dict[str, str] = {}
    for choices, language in xform_queries.list_current_choice_lists(session, CATEGORY_LIST):
        for choice in choices:
            value = str(choice.get("value") or "")
            # in the form's default language: the label the web pages' catalogues translate
            label = pick_label(choice.get("labels") or {}, language) or value
            if value and value not in found:
                found[value] = str(label)
    return list(found.items()) or list(DEFAULT_CATEGORIES)


def category_code(given: str, categories: list[tuple[str, str]]) -> str | None:
    """The category code ``given`` names, as a code or as its label (case-insensitive)."""
    wanted = given.strip().casefold()
    for code, label in categories:
        if wanted in (code.casefold(), label.strip().casefold()):
            return code
    return None


def _category_error(given: str, categories: list[tuple[str, str]]) -> str:
    allowed = ", ".join(f"{code} ({label})" for code, label in categories)
    return f"'{given}' is not a service category of the forms. Use one of: {allowed}."


def _checked_category(
    session: Session, loaded: dict[str, Any], categories: list[tuple[str, str]] | None = None
) -> dict[str, Any]:
    """``loaded`` with its category as a code; ``service.invalid`` for any other text."""
    if "category" not in loaded:
        return loaded
    categories = categories if categories is not None else service_categories(session)
    code = category_code(loaded["category"], categories)
    if code is None:
        raise AppError(
            "service.invalid",
            message=_category_error(loaded["category"], categories),
            details={
                "fields": {"category": [_category_error(loaded["category"], categories)]},
                "allowed": [code for code, _ in categories],
            },
        )
    return {**loaded, "category": code}


def create_service(session: Session, data: dict[str, Any], *, actor: User | None = None) -> Service:
    """Add a service; ``data`` as ServiceInputSchema loads it. Raises ``service.invalid``
    if the id is taken or the category is not one of the forms'."""
    loaded = _checked_category(session, _load(data, partial=False))
    if queries.get_service(session, loaded["service_id"]) is not None:
        raise AppError(
            "service.invalid",
            message="A service with this ID already exists.",
            details={"service_id": loaded["service_id"]},
        )
    loaded.setdefault("agency_kind", default_agency_kind(loaded.get("category")))
    service = Service(**loaded)
    service.updated_at = utcnow()
    session.add(service)
    session.flush()
    recheck_holds(session, {service.service_id})
    audit.record(
        session,
        actor,
        "service.create",
        target_type="service",
        target=service.service_id,
        details={"name": service.name, "category": service.category},
    )
    return service


def update_service(
    session: Session, service_id: str, data: dict[str, Any], *, actor: User | None = None
) -> Service:
    """Change the given fields of a service (its id cannot change); a change is recorded in
    the audit log with the fields that changed."""
    service = queries.get_service(session, service_id)
    if service is None:
        raise AppError("service.not_found", details={"service_id": service_id})
    loaded = _checked_category(session, _load(data, partial=True))
    loaded.pop("service_id", None)
    changed = sorted(k for k, v in loaded.items() if getattr(service, k) != v)
    if _assign(service, loaded):
        service.updated_at = utcnow()
    session.flush()
    if {"agency_kind", "internal"} & set(changed):
        recheck_holds(session, {service_id})
    if changed:
        audit.record(
            session,
            actor,
            "service.update",
            target_type="service",
            target=service_id,
            details={"changed": changed},
        )
    return service


def deactivate_service(session: Session, service_id: str, *, actor: User | None = None) -> Service:
    """Take a service off devices' lists; it stays in the directory for the record."""
    return update_service(session, service_id, {"is_active": False}, actor=actor)


def _load(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    try:
        loaded: dict[str, Any] = ServiceInputSchema().load(data, partial=partial)
    except ValidationError as exc:
        fields = _flatten(exc.messages_dict)
        listed = "; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items())
        raise AppError(
            "service.invalid",
            message=f"The service was not saved. {listed}",
            details={"fields": fields},
        ) from exc
    return loaded


def _assign(service: Service, values: dict[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(service, name) != value:
            setattr(service, name, value)
            changed = True
    return changed


def import_services(
    session: Session,
    filename: str,
    content: bytes,
    *,
    dry_run: bool = False,
    actor: User | None = None,
) -> ImportReport:
    """Upsert services from a CSV or XLSX file whose header row names the columns.

    Rows that fail validation are reported with their row numbers and skipped; the other
    rows are applied (uploading the corrected file again is safe: it is an upsert).
    Columns absent from the file leave existing values alone. Raises ``service.invalid``
    only for a file that cannot be read at all (too big, wrong type, no header).
    """
    if len(content) > MAX_IMPORT_BYTES:
        raise AppError(
            "service.invalid",
            message="The services file is larger than 5 MB.",
            details={"size": len(content)},
        )
    header, rows = _read_table(filename, content)
    columns = [_column_name(h) for h in header]
    report = ImportReport()
    unknown = sorted({c for c in columns if c and c not in COLUMNS})
    if unknown:
        report.warnings.append(f"Columns ignored (not in the directory): {', '.join(unknown)}")
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise AppError(
            "service.invalid",
            message=f"The header row must name the columns: {', '.join(missing)}.",
            details={"missing": missing},
        )

    parsed: list[tuple[int, dict[str, Any]]] = []
    for number, cells in rows:
        record = {
            col: _text(cell)
            for col, cell in zip(columns, cells, strict=False)
            if col in COLUMNS and _text(cell) != ""
        }
        if record:
            parsed.append((number, record))
        if len(parsed) > MAX_IMPORT_ROWS:
            raise AppError(
                "service.invalid",
                message=f"The services file has more than {MAX_IMPORT_ROWS} rows.",
            )

    existing = queries.get_services(
        session, {r["service_id"] for _, r in parsed if "service_id" in r}
    )
    seen: dict[str, int] = {}
    touched: set[str] = set()  # created or changed: their referrals may be held or released
    schema = ServiceInputSchema()
    categories = service_categories(session)
    for number, record in parsed:
        sid = record.get("service_id")
        if sid in seen:
            report.errors.append(
                RowError(number, sid, {"service_id": [f"Also used on row {seen[sid]}."]})
            )
            continue
        service = existing.get(sid) if sid else None
        try:
            loaded: dict[str, Any] = schema.load(record, partial=service is not None)
        except ValidationError as exc:
            messages = exc.messages_dict
            report.errors.append(RowError(number, sid, _flatten(messages)))
            continue
        if "category" in loaded:
            code = category_code(loaded["category"], categories)
            if code is None:
                message = _category_error(loaded["category"], categories)
                report.errors.append(RowError(number, sid, {"category": [message]}))
                continue
            loaded["category"] = code
        sid = loaded["service_id"]
        seen[sid] = number
        if service is None:
            report.created += 1
            if not dry_run:
                loaded.setdefault("agency_kind", default_agency_kind(loaded.get("category")))
                new = Service(**loaded)
                new.updated_at = utcnow()
                session.add(new)
                existing[sid] = new
                touched.add(sid)
        elif dry_run:
            changed = any(getattr(service, k) != v for k, v in loaded.items())
            report.updated += int(changed)
            report.unchanged += int(not changed)
        elif _assign(service, loaded):
            service.updated_at = utcnow()
            report.updated += 1
            touched.add(sid)
        else:
            report.unchanged += 1
    session.flush()
    if not dry_run:
        recheck_holds(session, touched)
        audit.record(
            session,
            actor,
            "service.import",
            target_type="file",
            target=filename,
            details={
                "created": report.created,
                "updated": report.updated,
                "unchanged": report.unchanged,
                "rows_with_errors": len(report.errors),
            },
        )
    return report


def _flatten(messages: Any) -> dict[str, list[str]]:
    if isinstance(messages, dict):
        return {
            str(k): [str(m) for m in (v if isinstance(v, list) else [v])]
            for k, v in messages.items()
        }
    return {"_": [str(messages)]}


def _column_name(header: Any) -> str:
    return _text(header).lower().replace(" ", "_").replace("-", "_")


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _read_table(filename: str, content: bytes) -> tuple[list[Any], Iterator[tuple[int, list[Any]]]]:
    name = filename.lower()
    if name.endswith(".csv"):
        return _read_csv(content)
    if name.endswith((".xlsx", ".xlsm")):
        return _read_xlsx(content)
    raise AppError(
        "service.invalid",
        message="Upload the services directory as a .csv or .xlsx file.",
        details={"filename": filename},
    )


def _read_csv(content: bytes) -> tuple[list[Any], Iterator[tuple[int, list[Any]]]]:
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise AppError(
            "service.invalid",
            message="Save the CSV file as UTF-8 and upload it again.",
            details={"reason": str(exc)},
        ) from exc
    sample = text[:4096]
    delimiter = (
        ";" if sample.split("\n", 1)[0].count(";") > sample.split("\n", 1)[0].count(",") else ","
    )
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise AppError("service.invalid", message="The services file is empty.") from exc

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for index, row in enumerate(reader, start=2):
                yield index, list(row)
        except csv.Error as exc:
            raise AppError("service.invalid", details={"reason": str(exc)}) from exc

    return list(header), rows()


def _read_xlsx(content: bytes) -> tuple[list[Any], Iterator[tuple[int, list[Any]]]]:
    import openpyxl  # imported here: only imports need it, and it is slow to load

    try:
        workbook = openpyxl.load_workbook(io.BytesIO(content), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many types for a damaged or foreign file
        raise AppError(
            "service.invalid",
            message="The file is not an Excel workbook (.xlsx) that can be read.",
            details={"reason": str(exc)},
        ) from exc
    sheet = workbook.active
    if sheet is None:
        raise AppError("service.invalid", message="The workbook has no sheet.")
    values = sheet.iter_rows(values_only=True)
    try:
        header = list(next(values))
    except StopIteration as exc:
        raise AppError("service.invalid", message="The services file is empty.") from exc

    def rows() -> Iterator[tuple[int, list[Any]]]:
        try:
            for index, row in enumerate(values, start=2):
                yield index, list(row)
        finally:
            workbook.close()

    return header, rows()

"""Form export batches: raw submission rows in, table rows or finished CSV text out. Pure.

The database side (:mod:`exports.source`) hands over submissions as fetched, a batch at a
time (:data:`RawSubmission`): answers still JSON text, names still ids. Everything after
that is here and needs nothing but the batch, the table specs and the small name maps, so
that it can run in this process or in worker processes (:mod:`exports.parallel`) alike.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from exports.cells import Cell
from exports.tables import RowBuilder, SubmissionRow, TableSpec, iso_utc
from exports.writers.csv import CsvFormatter

# (instance_id, answers as JSON text, received_at text, submitter id, device id,
#  form version id, review state) as :func:`exports.queries.list_submission_rows` selects them
RawSubmission = tuple[str, str, str, int | None, int | None, int, str]


@dataclass(frozen=True)
class Names:
    """What the ids of a batch stand for, and how its ``received_at`` text reads.

    ``stored_dates``: the text is a UTC time as SQLite stores it; otherwise it is already
    the export's ``SubmissionDate`` (PostgreSQL formats it).
    """

    users: Mapping[int | None, str]
    devices: Mapping[int | None, str]
    versions: Mapping[int, str]
    stored_dates: bool


def decode_answers(text: str) -> Any:
    """Stored answers from JSON text: orjson, or the standard library for what orjson
    refuses (NaN, numbers over 64 bits; neither comes from a submission's XML)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def submission_date(stored: str) -> str:
    """``2024-05-01 09:30:00.123456`` as SQLite holds a UTC time → ``2024-05-01T09:30:00.123Z``
    (milliseconds truncated, as :func:`exports.tables.iso_utc` does)."""
    if len(stored) == 26 and stored[10] == " " and stored[19] == ".":
        return f"{stored[:10]}T{stored[11:23]}Z"
    value = datetime.fromisoformat(stored)
    return iso_utc(value if value.tzinfo is not None else value.replace(tzinfo=UTC))


def decode(raw: Sequence[RawSubmission], names: Names) -> list[SubmissionRow]:
    """Answers decoded, names looked up, ``SubmissionDate`` formatted; blanks as ``""``."""
    users, devices, versions = names.users, names.devices, names.versions
    loads = orjson.loads
    stored = names.stored_dates
    out: list[SubmissionRow] = []
    append = out.append
    for instance_id, text, received, submitter_id, device_id, version_id, review in raw:
        try:
            data = loads(text)
        except orjson.JSONDecodeError:
            data = decode_answers(text)
        append(
            (
                instance_id,
                data,
                submission_date(received) if stored else received,
                users.get(submitter_id, ""),
                devices.get(device_id, ""),
                review or "",
                versions.get(version_id, ""),
            )
        )
    return out


@dataclass(frozen=True)
class Formatted:
    """One batch as CSV: UTF-8 bytes and row counts per table, and its submissions."""

    submissions: int
    chunks: list[bytes]
    rows: list[int]


class BatchRows:
    """Raw batches → rows per table (for writers that take rows, such as XLSX)."""

    def __init__(self, tables: Sequence[TableSpec], names: Names) -> None:
        self._builder = RowBuilder(tables)
        self._names = names

    def __call__(self, raw: Sequence[RawSubmission]) -> list[list[Sequence[Cell]]]:
        return self._builder.build(decode(raw, self._names))


class BatchFormatter:
    """Raw batches → finished CSV text per table (no header: see ``CsvFormatter.header``)."""

    def __init__(self, tables: Sequence[TableSpec], names: Names) -> None:
        self._rows = BatchRows(tables, names)
        self._formatters = [CsvFormatter(t) for t in tables]

    def __call__(self, raw: Sequence[RawSubmission]) -> Formatted:
        tables = self._rows(raw)
        return Formatted(
            len(raw),
            [f.format(rows) for f, rows in zip(self._formatters, tables, strict=True)],
            [len(rows) for rows in tables],
        )

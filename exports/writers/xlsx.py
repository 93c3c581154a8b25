"""XLSX: one sheet per table, written with xlsxwriter in constant-memory mode. Pure.

Constant-memory mode writes each row to disk as it comes, so sheets must be written one after
another; a one-pass export spools the other tables first (see ``base.write_tables``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import IO, Any

import xlsxwriter

from exports.cells import DANGEROUS_START, Cell, safe_cell
from exports.tables import TableSpec
from exports.writers.base import TableWriter

# Excel's last row is 1 048 576; one is the header.
MAX_DATA_ROWS = 1_048_575
MAX_SHEET_NAME = 31
_BAD_SHEET_CHARS = re.compile(r"[\[\]:*?/\\]")
_DANGEROUS = frozenset(DANGEROUS_START)


class XlsxWriter(TableWriter):
    """Context manager writing tables as sheets of one workbook on a binary file.

    Sheet names are cut to Excel's 31 characters and made unique; a table longer than
    ``max_rows`` continues on ``"<name> (2)"``, ``"<name> (3)"``… with the header repeated.
    Columns of numbers (int, decimal, and the 0/1 choice columns) are written as numbers,
    everything else as text (never as a formula).
    """

    def __init__(self, fh: IO[bytes], max_rows: int = MAX_DATA_ROWS) -> None:
        if max_rows < 1:
            raise ValueError("max_rows must be at least 1")
        self._book = xlsxwriter.Workbook(
            fh, {"constant_memory": True, "strings_to_formulas": False, "strings_to_urls": False}
        )
        self._max_rows = max_rows
        self._names: set[str] = set()

    def close(self) -> None:
        self._book.close()

    def write_table(self, table: TableSpec, rows: Iterable[Sequence[Cell]]) -> int:
        """Write one table over as many sheets as it needs; return the number of data rows."""
        numeric = [c.is_numeric for c in table.columns]
        headers = [safe_cell(h) for h in table.headers]
        count = 0
        for part, chunk in enumerate(split_rows(rows, self._max_rows), start=1):
            sheet = self._book.add_worksheet(self._sheet_name(table.name, part))
            sheet.write_row(0, 0, headers)
            sheet.freeze_panes(1, 0)
            write_string = sheet.write_string
            for r, row in enumerate(chunk, start=1):
                c = -1
                for value, is_number in zip(row, numeric, strict=True):
                    c += 1
                    # the common case inline: a text cell in a text column
                    if value.__class__ is str and not is_number:
                        if value:
                            write_string(r, c, "'" + value if value[0] in _DANGEROUS else value)
                    else:
                        _write_cell(sheet, r, c, value, is_number)
                count += 1
        return count

    def _sheet_name(self, name: str, part: int) -> str:
        suffix = f" ({part})" if part > 1 else ""
        base = _BAD_SHEET_CHARS.sub("_", name).strip("'") or "Sheet"
        candidate = base[: MAX_SHEET_NAME - len(suffix)] + suffix
        n = 1
        while candidate.lower() in self._names:
            n += 1
            tail = f"~{n}{suffix}"
            candidate = base[: MAX_SHEET_NAME - len(tail)] + tail
        self._names.add(candidate.lower())
        return candidate


def split_rows(rows: Iterable[Sequence[Cell]], limit: int) -> Iterator[Iterator[Sequence[Cell]]]:
    """Cut a row stream into consecutive chunks of at most ``limit`` rows, lazily.

    Always yields at least one chunk (so an empty table still gets its header). Each chunk
    must be consumed before the next is asked for.
    """
    source = iter(rows)
    first = True
    while True:
        try:
            head = next(source)
        except StopIteration:
            if first:
                yield iter(())
            return
        first = False
        yield _chunk(head, source, limit)


def _chunk(
    head: Sequence[Cell], source: Iterator[Sequence[Cell]], limit: int
) -> Iterator[Sequence[Cell]]:
    yield head
    for _ in range(limit - 1):
        try:
            yield next(source)
        except StopIteration:
            return


def _write_cell(sheet: Any, r: int, c: int, value: Cell, is_number: bool) -> None:
    if value is None or value == "":
        return
    if isinstance(value, int | float):
        sheet.write_number(r, c, value)
        return
    if is_number:
        try:
            number = int(value) if value.lstrip("-").isdigit() else float(value)
        except ValueError:
            number = None  # not a plain number (a geopoint, a typo): keep it as text
        if number is not None and math.isfinite(number):
            sheet.write_number(r, c, number)
            return
    sheet.write_string(r, c, safe_cell(value, is_number))

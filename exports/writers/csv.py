"""CSV ZIP: one CSV per table in a ZIP, streamed. Pure (no Flask, no database).

Each CSV is UTF-8 with a byte-order mark, so Excel opens non-ASCII text correctly, and every
string cell goes through :func:`exports.cells.safe_cell` (batch-wise, see
:class:`exports.cells.Neutraliser`). Rows are formatted a batch at a time with
``csv.writer.writerows`` into memory and handed over in ~1 MB chunks to the ZIP, which
compresses every table concurrently on another thread (:mod:`exports.writers.zipstream`).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterable, Iterator, Sequence
from itertools import islice
from types import TracebackType
from typing import IO, Protocol

from exports.cells import Cell, Neutraliser, Row, safe_cell
from exports.tables import TableSpec
from exports.writers.base import Counter, Progress, TableWriter
from exports.writers.zipstream import Entry, ZipStream

BATCH_ROWS = 2_000
FLUSH_BYTES = 1 << 20  # formatted text held per table before it goes to the compressor


class FormattedBatch(Protocol):
    """A batch already formatted as CSV (see ``exports.batches.Formatted``)."""

    @property
    def submissions(self) -> int: ...
    @property
    def chunks(self) -> list[bytes]: ...
    @property
    def rows(self) -> list[int]: ...


class CsvFormatter:
    """One table's CSV text: the header line, then batches of rows made safe and formatted.

    Excel-dialect CSV as ``csv.writer`` writes it, byte for byte. A row of text cells none
    of which holds a comma, a quote or a line break is just its cells joined by commas;
    ``csv.writer`` spends ~6 µs a row finding that out, ``str.join`` well under one. So a
    batch is joined, the separators counted (C-level scans), and only rows whose counts
    show a cell that needs quoting (or batches with non-text cells) go through the writer.
    """

    def __init__(self, table: TableSpec) -> None:
        self._buffer = io.StringIO()
        self._writer = csv.writer(self._buffer)
        self._safe = Neutraliser([c.is_numeric for c in table.columns])
        self._headers = [safe_cell(h) for h in table.headers]
        self._commas = len(table.columns) - 1

    def header(self) -> bytes:
        """The byte-order mark and the header line."""
        return codecs.BOM_UTF8 + self.format([self._headers])

    def format(self, rows: list[Sequence[Cell]]) -> bytes:
        """A batch of rows as UTF-8 (risky rows may be replaced in the list, in place)."""
        rows = self._safe(rows)
        if not rows:
            return b""
        commas = self._commas
        try:
            # a lone empty cell is written as "", and the counts below need full rows
            if commas < 1 or set(map(len, rows)) != {commas + 1}:
                raise TypeError
            lines = list(map(",".join, rows))  # type: ignore[arg-type]
        except TypeError:  # numbers or None among the cells, or odd rows
            return self._written(rows).encode("utf-8")
        text = "\r\n".join(lines)
        breaks = len(lines) - 1
        extra = text.count(",") - commas * len(lines)
        extra += text.count("\n") - breaks + text.count("\r") - breaks + text.count('"')
        if extra > len(lines) // 8:  # many rows to quote: the writer does the batch
            return self._written(rows).encode("utf-8")
        if extra:
            for i, line in enumerate(lines):
                if line.count(",") != commas or '"' in line or "\n" in line or "\r" in line:
                    lines[i] = self._written([rows[i]])[:-2]
            text = "\r\n".join(lines)
        return (text + "\r\n").encode("utf-8")

    def _written(self, rows: Sequence[Sequence[Cell]]) -> str:
        self._writer.writerows(rows)
        text = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return text


class _CsvEntry:
    """One table's CSV file inside the ZIP: header first, then batches of rows or text."""

    def __init__(self, archive: ZipStream, table: TableSpec) -> None:
        self._archive = archive
        self._entry: Entry = archive.entry(f"{table.name}.csv")
        self._formatter = CsvFormatter(table)
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.count = 0
        self.add(self._formatter.header(), 0)

    def write(self, rows: list[Sequence[Cell]]) -> None:
        self.add(self._formatter.format(rows), len(rows))

    def add(self, data: bytes, rows: int) -> None:
        """Formatted text of ``rows`` rows; handed to the compressor in ~1 MB pieces."""
        self.count += rows
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= FLUSH_BYTES:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            self._archive.write(self._entry, b"".join(self._pending))
            self._pending = []
            self._pending_size = 0

    def finish(self) -> None:
        self._flush()
        self._archive.finish(self._entry)


def _batches(rows: Iterable[Sequence[Cell]], size: int) -> Iterator[list[Sequence[Cell]]]:
    source = iter(rows)
    while batch := list(islice(source, size)):
        yield batch


class CsvZipWriter(TableWriter):
    """Context manager writing ``<table name>.csv`` entries into a ZIP on a binary file.

    Tables may be written one after another (``write_table``) or all at once from one pass
    over the data (``write_tables``, ``write_batches``): each table is compressed into its
    own temporary file as rows come, so memory stays flat however big the export, and the
    archive is assembled on ``close``. Sizes over 4 GiB get ZIP64 fields.
    """

    def __init__(self, fh: IO[bytes]) -> None:
        self._zip = ZipStream(fh)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._zip.__exit__(exc_type, exc, tb)  # after an error: no archive that looks whole

    def close(self) -> None:
        self._zip.close()

    def write_table(self, table: TableSpec, rows: Iterable[Sequence[Cell]]) -> int:
        """Write one table as ``<name>.csv``; return the number of data rows."""
        out = _CsvEntry(self._zip, table)
        for batch in _batches(rows, BATCH_ROWS):
            out.write(batch)
        out.finish()
        return out.count

    def write_tables(
        self,
        tables: Sequence[TableSpec],
        tagged_rows: Iterable[tuple[int, Row]],
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Every table from one pass of ``(table index, row)``."""
        counter = Counter(progress)
        outs = [_CsvEntry(self._zip, t) for t in tables]
        pending: list[list[Sequence[Cell]]] = [[] for _ in tables]
        for index, row in tagged_rows:
            rows = pending[index]
            rows.append(row)
            if index == 0:
                counter.tick()
            if len(rows) >= BATCH_ROWS:
                outs[index].write(rows)
                pending[index] = []
        for out, rows in zip(outs, pending, strict=True):
            if rows:
                out.write(rows)
            out.finish()
        counter.finish()
        return {t.name: out.count for t, out in zip(tables, outs, strict=True)}

    def write_batches(
        self,
        tables: Sequence[TableSpec],
        batches: Iterable[list[list[Sequence[Cell]]]],
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Every table from batches of rows, ``batch[i]`` holding table ``i``'s rows.

        Progress counts rows of the first table (submissions).
        """
        counter = Counter(progress)
        outs = [_CsvEntry(self._zip, t) for t in tables]
        for batch in batches:
            for out, rows in zip(outs, batch, strict=True):
                if rows:
                    out.write(rows)
            counter.add(len(batch[0]))
        for out in outs:
            out.finish()
        counter.finish()
        return {t.name: out.count for t, out in zip(tables, outs, strict=True)}

    def write_formatted(
        self,
        tables: Sequence[TableSpec],
        batches: Iterable[FormattedBatch],
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Every table from batches already formatted as CSV text (no headers).

        Progress counts the batches' submissions.
        """
        counter = Counter(progress)
        outs = [_CsvEntry(self._zip, t) for t in tables]
        for batch in batches:
            for out, data, rows in zip(outs, batch.chunks, batch.rows, strict=True):
                if rows:
                    out.add(data, rows)
            counter.add(batch.submissions)
        for out in outs:
            out.finish()
        counter.finish()
        return {t.name: out.count for t, out in zip(tables, outs, strict=True)}

"""CSV ZIP: one CSV per table in a ZIP, streamed. Pure (no Flask, no database).

Each CSV is UTF-8 with a byte-order mark, so Excel opens non-ASCII text correctly, and every
string cell goes through :func:`exports.tables.safe_cell`.
"""

from __future__ import annotations

import codecs
import csv
import io
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from types import TracebackType
from typing import IO, Any

from exports.tables import Cell, Row, TableSpec, safe_cell, safe_row
from exports.writers.base import Counter, Progress

# Level 1 deflate: CSV still shrinks about 5x, at a fraction of the default level's CPU.
COMPRESS_LEVEL = 1
COPY_BUFFER = 1 << 20


class CsvZipWriter:
    """Context manager writing ``<table name>.csv`` entries into a ZIP on a binary file.

    Entries are written with ``force_zip64`` so a table may exceed 4 GiB; nothing but the
    current row is held in memory (other tables of a one-pass export are spooled to disk).
    """

    def __init__(self, fh: IO[bytes]) -> None:
        self._zip = zipfile.ZipFile(
            fh, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESS_LEVEL
        )

    def __enter__(self) -> CsvZipWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._zip.close()

    def write_table(self, table: TableSpec, rows: Iterable[Sequence[Cell]]) -> int:
        """Write one table as ``<name>.csv``; return the number of data rows."""
        with self._zip.open(f"{table.name}.csv", "w", force_zip64=True) as raw:
            return _write_csv(raw, table, rows)

    def write_tables(
        self,
        tables: Sequence[TableSpec],
        tagged_rows: Iterable[tuple[int, Row]],
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Every table from one pass of ``(table index, row)``.

        Like :func:`exports.writers.base.write_tables`, but the spooled tables are written
        as finished CSV and copied byte for byte into the ZIP, so their rows are formatted
        once, not twice.
        """
        counter = Counter(progress)
        # closed in the finally below: one spool per table, so no with-block per file
        spools = [tempfile.TemporaryFile("w+b") for _ in tables[1:]]  # noqa: SIM115
        try:
            texts = [_text(f) for f in spools]
            writers = [_csv_writer(t, table) for t, table in zip(texts, tables[1:], strict=True)]
            counts = [0] * len(tables)
            formatters = [_formatter(t) for t in tables]

            def first_rows() -> Iterator[Row]:
                for index, row in tagged_rows:
                    if index == 0:
                        counter.tick()
                        yield row
                    else:
                        writers[index - 1].writerow(formatters[index](row))
                        counts[index] += 1

            counts[0] = self.write_table(tables[0], first_rows())
            counter.finish()
            for index, (text, spool) in enumerate(zip(texts, spools, strict=True), start=1):
                text.flush()
                spool.seek(0)
                name = f"{tables[index].name}.csv"
                with self._zip.open(name, "w", force_zip64=True) as raw:
                    shutil.copyfileobj(spool, raw, COPY_BUFFER)
            return {t.name: n for t, n in zip(tables, counts, strict=True)}
        finally:
            for spool in spools:
                spool.close()


def _text(raw: IO[bytes]) -> io.TextIOWrapper:
    # The byte-order mark is written by hand: the utf-8-sig codec would do it too, but it is
    # implemented in Python and costs a call per row; plain utf-8 encodes in C.
    raw.write(codecs.BOM_UTF8)
    return io.TextIOWrapper(raw, encoding="utf-8", newline="", write_through=False)


def _csv_writer(text: io.TextIOWrapper, table: TableSpec) -> Any:
    writer = csv.writer(text)
    writer.writerow([safe_cell(h) for h in table.headers])
    return writer


def _formatter(table: TableSpec) -> Any:
    numeric = [c.is_numeric for c in table.columns]

    def fmt(row: Sequence[Cell]) -> Sequence[Cell]:
        return safe_row(row, numeric)

    return fmt


def _write_csv(raw: IO[bytes], table: TableSpec, rows: Iterable[Sequence[Cell]]) -> int:
    text = _text(raw)
    writer = _csv_writer(text, table)
    fmt = _formatter(table)
    count = 0
    for row in rows:
        writer.writerow(fmt(row))
        count += 1
    text.flush()
    text.detach()  # the ZIP entry is closed by its owner, not by the wrapper
    return count

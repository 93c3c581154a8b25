"""The writer interface every export format implements, and writing many tables from one
pass over the data. Pure.

As commcare-export's ``TableWriter``: a writer is a context manager over the output (here a
binary file) that is closed once the export is written. Table formats (CSV ZIP, XLSX) add
``write_table``; the others (media ZIP, GeoJSON) take their own items (files, features).
"""

from __future__ import annotations

import csv
import pickle
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import IO, Self

from exports.cells import Cell, Row
from exports.tables import TableSpec

PROGRESS_EVERY = 5_000

Progress = Callable[[int], None]


class Writer(ABC):
    """One export being written to a binary file: use it in a ``with`` block, which closes
    it (and so finishes the file) at the end."""

    @abstractmethod
    def __init__(self, fh: IO[bytes]) -> None:
        """A writer opens on the binary file it writes to."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @abstractmethod
    def close(self) -> None:
        """Finish the file (write what is still held back)."""


class TableWriter(Writer):
    """A writer of linked tables, one after another (``write_table``), or all of them from
    one pass over the data (``write_tables``, ``write_batches``; by default the first table
    streams and the others are spooled to temporary files, see the functions below)."""

    @abstractmethod
    def write_table(self, table: TableSpec, rows: Iterable[Sequence[Cell]]) -> int:
        """Write one whole table; return how many data rows were written."""

    def write_tables(
        self,
        tables: Sequence[TableSpec],
        tagged_rows: Iterable[tuple[int, Row]],
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Every table from one pass of ``(table index, row)``; rows written per table."""
        return write_tables(self, tables, tagged_rows, progress)

    def write_batches(
        self,
        tables: Sequence[TableSpec],
        batches: Iterable[list[list[Sequence[Cell]]]],
        progress: Progress | None = None,
    ) -> dict[str, int]:
        """Every table from batches of rows, ``batch[i]`` holding table ``i``'s rows."""
        return write_batches(self, tables, batches, progress)


class Counter:
    """Counts first-table rows and calls ``progress`` every ``PROGRESS_EVERY`` of them."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done = 0

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None and self.done % PROGRESS_EVERY == 0:
            self.progress(self.done)

    def add(self, n: int) -> None:
        """Count ``n`` rows at once; ``progress`` still sees every multiple it passes."""
        before, self.done = self.done, self.done + n
        if self.progress is not None:
            first = (before // PROGRESS_EVERY + 1) * PROGRESS_EVERY
            for mark in range(first, self.done + 1, PROGRESS_EVERY):
                self.progress(mark)

    def finish(self) -> None:
        if self.progress is not None and self.done % PROGRESS_EVERY != 0:
            self.progress(self.done)


def write_batches(
    writer: TableWriter,
    tables: Sequence[TableSpec],
    batches: Iterable[list[list[Sequence[Cell]]]],
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write every table from batches of rows (``batch[i]``: rows of table ``i``).

    As :func:`write_tables`: the first table streams to the writer, the others are spooled
    to temporary files and written after it. The spools hold pickled batches (this
    process's own, read back once): several times cheaper than formatting and parsing CSV.
    """
    counter = Counter(progress)
    spools: list[IO[bytes]] = [tempfile.TemporaryFile() for _ in tables[1:]]  # noqa: SIM115 - closed in finally
    counts = [0] * len(tables)

    def first_rows() -> Iterator[Sequence[Cell]]:
        for batch in batches:
            for index in range(1, len(tables)):
                if batch[index]:
                    pickle.dump(batch[index], spools[index - 1], pickle.HIGHEST_PROTOCOL)
                    counts[index] += len(batch[index])
            yield from batch[0]
            counter.add(len(batch[0]))

    def spooled(spool: IO[bytes]) -> Iterator[Sequence[Cell]]:
        spool.seek(0)
        while True:
            try:
                rows: list[Sequence[Cell]] = pickle.load(spool)  # noqa: S301 - our own spool
            except EOFError:
                return
            yield from rows

    try:
        counts[0] = writer.write_table(tables[0], first_rows())
        counter.finish()
        for index in range(1, len(tables)):
            counts[index] = writer.write_table(tables[index], spooled(spools[index - 1]))
    finally:
        for spool in spools:
            spool.close()
    return {t.name: n for t, n in zip(tables, counts, strict=True)}


def write_tables(
    writer: TableWriter,
    tables: Sequence[TableSpec],
    tagged_rows: Iterable[tuple[int, Row]],
    progress: Progress | None = None,
) -> dict[str, int]:
    """Write every table from one pass of ``(table index, row)`` pairs.

    The first table streams straight to the writer. Rows of the other tables go to a
    temporary CSV file each (memory stays flat however big the export) and are written
    after it, one table after another, as streaming writers need.
    """
    counter = Counter(progress)
    # spools[i - 1] holds table i
    spools: list[IO[str]] = [
        tempfile.TemporaryFile("w+", encoding="utf-8", newline="")  # noqa: SIM115 - closed in finally
        for _ in tables[1:]
    ]
    spool_writers = [csv.writer(f) for f in spools]
    counts = [0] * len(tables)

    def first_rows() -> Iterator[Row]:
        for index, row in tagged_rows:
            if index == 0:
                counter.tick()
                yield row
            else:
                spool_writers[index - 1].writerow(row)
                counts[index] += 1

    try:
        counts[0] = writer.write_table(tables[0], first_rows())
        counter.finish()
        for index in range(1, len(tables)):
            spool = spools[index - 1]
            spool.seek(0)
            counts[index] = writer.write_table(tables[index], csv.reader(spool))
    finally:
        for spool in spools:
            spool.close()
    return {t.name: n for t, n in zip(tables, counts, strict=True)}

"""Exports: forms and cases out as CSV ZIP, XLSX, media ZIP or GeoJSON, streamed.

The public API is :func:`export_form` and :func:`export_cases`. Both write to a binary file
object, keep memory flat whatever the number of submissions, report progress through an
optional callback and return an :class:`ExportSummary`. Who exported what is recorded by the
callers (CLI, API), using :meth:`ExportOptions.describe`.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from exports.batches import BatchFormatter, BatchRows, Formatted
from exports.cases import case_rows, case_tables, case_words
from exports.formats import CASE_FORMATS, FORM_FORMATS, FORMATS, case_format, form_format
from exports.geo import geo_features
from exports.options import ExportOptionError, ExportOptions
from exports.parallel import formatted_batches
from exports.tables import form_tables
from exports.writers.base import Counter, Progress, TableWriter, Writer
from exports.writers.csv import CsvZipWriter
from exports.writers.geojson import GeoJsonWriter
from exports.writers.media import MediaZipWriter

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = [
    "CASE_FORMATS",
    "FORMATS",
    "FORM_FORMATS",
    "ExportOptionError",
    "ExportOptions",
    "ExportSummary",
    "check_case_language",
    "export_cases",
    "export_form",
]


@dataclass(frozen=True)
class ExportSummary:
    """What an export wrote: rows per table (files for media, features for GeoJSON)."""

    format: str
    tables: dict[str, int] = field(default_factory=dict)
    elapsed_seconds: float = 0.0
    source_rows: int = 0  # submissions (or cases) the export was built from

    @property
    def total_rows(self) -> int:
        return sum(self.tables.values())


# CSV exports of this many submissions or more format their rows on worker processes
# (see exports.parallel); smaller ones are over before workers would have started.
PARALLEL_FROM = 50_000
# Worker processes for a big CSV export: 0 or 1 keeps it in this process.
PARALLEL_WORKERS = min(2, os.cpu_count() or 1)


def _workers() -> int:
    return PARALLEL_WORKERS


# Exports allocate millions of small, acyclic containers (decoded answers, rows); with the
# default thresholds the cyclic collector runs every 700 of them and costs a third of the
# CPU. While any export runs the first threshold is raised; cycles are still collected.
EXPORT_GC_THRESHOLD = 100_000
_gc_lock = threading.Lock()
_gc_users = 0
_gc_saved: tuple[int, int, int] = gc.get_threshold()


@contextmanager
def _fewer_collections() -> Iterator[None]:
    global _gc_users, _gc_saved
    with _gc_lock:
        if _gc_users == 0:
            _gc_saved = gc.get_threshold()
            gc.set_threshold(max(EXPORT_GC_THRESHOLD, _gc_saved[0]), *_gc_saved[1:])
        _gc_users += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_users -= 1
            if _gc_users == 0:
                gc.set_threshold(*_gc_saved)


def export_form(
    session: Session,
    form_id: str,
    fmt: str,
    fh: IO[bytes],
    options: ExportOptions | None = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Export one form's submissions (all versions) to ``fh`` in ``fmt``.

    ``fmt`` is ``csv`` (a ZIP of linked CSVs), ``xlsx`` (one sheet per table), ``media`` (a
    ZIP of attachments) or ``geojson``. ``progress(n)`` is called every 5 000 submissions
    (and once at the end) with the number done so far; ``source.total`` is known up front by
    the callers that want a bar. Raises ``ExportOptionError`` for a bad format or option and
    ``AppError("xform.not_found")`` for an unknown form.
    """
    # the database side is imported on use: worker processes import this package too
    from exports import source

    spec = form_format(fmt)
    options = options or ExportOptions()
    started = time.perf_counter()
    if spec.writer is MediaZipWriter:
        counter = Counter(progress)
        with MediaZipWriter(fh) as media:
            for instance_id, name, content in source.media_source(session, form_id, options):
                media.add(instance_id, name, content)
                counter.tick()
        counter.finish()
        return ExportSummary(fmt, {"media": media.count}, time.perf_counter() - started)

    src = source.form_export_source(session, form_id, options)
    if spec.writer is GeoJsonWriter:
        counter = Counter(progress)

        def counted() -> Any:
            for record in src.records:
                counter.tick()
                yield record

        with GeoJsonWriter(fh) as geo:
            for coordinates, props in geo_features(src.definitions, options, counted()):
                geo.write_feature(coordinates, props)
        counter.finish()
        return ExportSummary(
            fmt, {"features": geo.count}, time.perf_counter() - started, counter.done
        )

    tables = form_tables(src.definitions, options, src.form_id)
    with _fewer_collections():
        if spec.writer is CsvZipWriter:
            with CsvZipWriter(fh) as csv_zip:
                if src.total >= PARALLEL_FROM and _workers() > 1:
                    formatted: Iterable[Formatted] = formatted_batches(
                        tables, src.names, src.raw_batches, _workers(), EXPORT_GC_THRESHOLD
                    )
                else:
                    formatted = map(BatchFormatter(tables, src.names), src.raw_batches)
                counts = csv_zip.write_formatted(tables, formatted, progress)
        else:
            with _table_writer(spec.writer, fh) as writer:
                batches = map(BatchRows(tables, src.names), src.raw_batches)
                counts = writer.write_batches(tables, batches, progress)
    main = counts[tables[0].name]
    return ExportSummary(fmt, counts, time.perf_counter() - started, main)


def export_cases(
    session: Session,
    fmt: str,
    fh: IO[bytes],
    options: ExportOptions | None = None,
    scope_user: Any | None = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Export cases, plan items, contacts and conferences as linked tables (``csv``/``xlsx``).

    With ``options.labels``, the columns a form's question fills are headed by its label and
    answers chosen from a list, plan item kinds and statuses are the forms' labels, in
    ``options.language`` (codes are the default).

    ``scope_user`` limits the cases to those the user may see (None: all). ``progress`` counts
    cases, as :func:`export_form` counts submissions.
    """
    from exports import source

    spec = case_format(fmt)
    options = options or ExportOptions()
    started = time.perf_counter()
    src = source.case_export_source(session, scope_user, options)
    words = case_words(src.definitions, options.language) if options.labels else None
    tables = case_tables(src.property_names, src.sensitive_properties, options, words)
    today = options.as_of or datetime.now(UTC).date()
    with _table_writer(spec.writer, fh) as writer:
        rows = case_rows(tables, src.records, today, words)
        counts = writer.write_tables(tables, rows, progress)
    return ExportSummary(fmt, counts, time.perf_counter() - started, counts["cases"])


def check_case_language(session: Session, language: str) -> None:
    """Refuse (``ExportOptionError``) a label language no form has, before exporting."""
    from exports import source

    source.check_case_language(session, language)


def _table_writer(writer: type[Writer], fh: IO[bytes]) -> TableWriter:
    if not issubclass(writer, TableWriter):
        raise TypeError(f"{writer.__name__} does not write tables")
    return writer(fh)

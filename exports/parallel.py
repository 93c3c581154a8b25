"""Formatting CSV batches on worker processes, in order. Pure.

The exporting process keeps the one database snapshot: it fetches raw batches and writes
the ZIP (compressing on a thread). Decoding the answers, building rows, neutralising
formulas and CSV formatting, which are most of the CPU, run on ``workers`` processes. At
most ``2 * workers + 1`` batches are in flight, so memory stays bounded, and results are
taken in submission order, so the output is byte for byte the in-process one.

Workers are spawned (not forked: the exporting process may run threads, e.g. in a server),
which costs about a second to start; :func:`exports.export_form` uses them for big exports
only.
"""

from __future__ import annotations

import gc
import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from exports.batches import BatchFormatter, Formatted, Names, RawSubmission
from exports.tables import TableSpec

_formatter: BatchFormatter | None = None


def _start(tables: Sequence[TableSpec], names: Names, gc_threshold: int) -> None:
    global _formatter
    _formatter = BatchFormatter(tables, names)
    gc.set_threshold(gc_threshold, *gc.get_threshold()[1:])


def _ready() -> None:
    return None


def _format(raw: Sequence[RawSubmission]) -> Formatted:
    if _formatter is None:
        raise RuntimeError("worker not started")
    return _formatter(raw)


def formatted_batches(
    tables: Sequence[TableSpec],
    names: Names,
    raw_batches: Iterable[Sequence[RawSubmission]],
    workers: int,
    gc_threshold: int,
) -> Iterator[Formatted]:
    """The batches formatted by ``workers`` spawned processes, in the order given."""
    context = multiprocessing.get_context("spawn")
    try:
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start, initargs=(tables, names, gc_threshold)
        )
        # Start the workers before the first query: a child's peak RSS counts the parent's
        # pages it was forked with, before it turns into a fresh interpreter.
        pool.submit(_ready)
    except (OSError, ImportError, NotImplementedError):  # no processes here (no sem_open, …)
        yield from map(BatchFormatter(tables, names), raw_batches)
        return
    pending: deque[Future[Formatted]] = deque()
    try:
        for raw in raw_batches:
            pending.append(pool.submit(_format, raw))
            if len(pending) > 2 * workers:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)

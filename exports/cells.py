"""Spreadsheet formula neutralising: the one function every writer applies to a cell
(:func:`safe_cell`), and its batch form for the CSV hot path (:class:`Neutraliser`). Pure.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from itertools import chain
from operator import itemgetter

Cell = str | int | float | None
Row = list[Cell]
_NUMBERS = re.compile(r"-?\d+(\.\d+)?([eE][-+]?\d+)?(\s+-?\d+(\.\d+)?)*(\s*;\s*-?[\d. ]+)*")
DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")
_DANGEROUS_CHARS = frozenset(DANGEROUS_START)
_RISKY_IN_ROW = re.compile("\x00[=+\\-@\t\r]")
# In "\x00"-joined numeric cells: a cell that starts like a formula and is not a number.
_RISKY_NUMBER = re.compile(f"\x00(?=[=+\\-@\t\r])(?!(?:{_NUMBERS.pattern})(?:\x00|\\Z))")


def safe_cell(value: Cell, numeric: bool = False) -> Cell:
    """Neutralise spreadsheet formula injection: the one function every writer uses.

    A string beginning with ``=``, ``+``, ``-``, ``@``, tab or CR gets a leading ``'`` so that
    Excel and LibreOffice show it as text instead of evaluating it. In a numeric column
    (int, decimal, geopoint) a plain number such as ``-2`` or ``-1.5 36.8 0 0`` is data, not a
    formula, and is left alone; anything else there is neutralised too.
    """
    if not isinstance(value, str) or not value.startswith(DANGEROUS_START):
        return value
    if numeric and _NUMBERS.fullmatch(value):
        return value
    return "'" + value


def safe_row(row: Sequence[Cell], numeric: Sequence[bool]) -> Sequence[Cell]:
    """:func:`safe_cell` over a row; only rows with a risky-looking cell pay for it."""
    try:
        # one C-level join and search instead of a test per cell: most rows are harmless
        if not _RISKY_IN_ROW.search("\x00" + "\x00".join(row)):  # type: ignore[arg-type]
            return row
    except TypeError:
        pass  # numbers in the row: check cell by cell
    return [
        safe_cell(v, n) if v.__class__ is str and v[:1] in _DANGEROUS_CHARS else v
        for v, n in zip(row, numeric, strict=True)
    ]


def _getter(positions: Sequence[int]) -> Callable[[Sequence[Cell]], Sequence[Cell]]:
    if len(positions) > 1:
        return itemgetter(*positions)
    if positions:
        at = positions[0]
        return lambda row: (row[at],)
    return lambda _row: ()


class Neutraliser:
    """:func:`safe_cell` over batches of rows of one table, at C speed for harmless batches.

    The text cells of a whole batch are joined once and searched once; so are the numeric
    cells, with a pattern that only finds a formula-like cell that is not a number. Only a
    batch where something was found goes row by row (:func:`safe_row`).
    """

    def __init__(self, numeric: Sequence[bool]) -> None:
        self.numeric = list(numeric)
        self.texts = _getter([i for i, n in enumerate(numeric) if not n])
        self.numbers = _getter([i for i, n in enumerate(numeric) if n])
        self.number_width = sum(self.numeric)

    def __call__(self, rows: list[Sequence[Cell]]) -> list[Sequence[Cell]]:
        """The rows made safe: ``rows`` itself, with risky rows replaced in place."""
        try:
            texts = "\x00".join(chain.from_iterable(map(self.texts, rows)))  # type: ignore[arg-type]
            numbers = "\x00".join(chain.from_iterable(map(self.numbers, rows)))  # type: ignore[arg-type]
        except (TypeError, IndexError):  # numbers or None among the cells, or short rows
            texts = numbers = "\x00="
        if (
            _RISKY_IN_ROW.search("\x00" + texts) is None
            # a NUL inside a cell would blur the cell boundaries: count them
            and numbers.count("\x00") == max(len(rows) * self.number_width - 1, 0)
            and _RISKY_NUMBER.search("\x00" + numbers) is None
        ):
            return rows
        numeric = self.numeric
        for i, row in enumerate(rows):
            rows[i] = safe_row(row, numeric)
        return rows

"""Small-cell suppression for the reports' tables. Pure.

A count from 1 to ``min_cell - 1`` is hidden: it is shown as ``<5`` (for the default
threshold of 5), since a group that small could let a child be recognised. Hiding it alone
is not enough when a total is shown, or can be worked out from another table of the same
cases: the total less the cells shown gives it back. So the tables are also protected by
*complementary suppression*: more cells are hidden until no hidden cell's value follows
from the relations a reader knows (each breakdown adds up to its total; each row's teams
add up to its all-teams cell) and what the marks say about each hidden cell (``<5``: 0 to
4, and at least 1 when it can only be one of the small numbers first hidden; ``*``: 5 or
more). Totals are shown exactly.

Two passes, repeated until neither hides anything: each relation on its own, then all of
them together (every hidden cell's range narrowed by each relation in turn, until no range
moves: how someone would combine a table's rows and columns by hand). A cell is chosen for
a relation as the smallest shown (a 0 is then shown as ``<5``, which is true, and cannot be
told from a hidden 1 to 4), totals last, preferring one that protects the relation without
leaving another relation it is in open. A greedy choice (the least suppression is a hard
problem): safe against these deductions, sometimes hiding more than needed. A threshold of
2 cannot be protected this way (a lone ``<2`` is a 1), and is better avoided.

What this does not stop: comparing two reports of overlapping ranges (the difference of two
months can be a small number). The reports are for supervisors and admins, who may see the
cases themselves; the suppression is for the tables they pass on.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

# One linear relation between cells: sum(coefficient * value) == 0. A breakdown is its
# cells with +1 and its total with -1.
Line = Sequence[tuple[K, int]]

SMALL = "small"  # hidden, and fewer than min_cell (shown "<5")
HIDDEN = "hidden"  # hidden so that a small one cannot be worked out (shown "*")
_UNBOUNDED = 10**12
_MAX_ROUNDS = 100  # of the narrowing; each round that moves a range narrows it for good


def suppress(values: Mapping[K, int], lines: Iterable[Line[K]], min_cell: int) -> dict[K, str]:
    """The cells to hide: cell -> :data:`SMALL` or :data:`HIDDEN`. ``values`` holds every
    cell of every line (zeros too). ``min_cell`` 1 hides nothing."""
    if min_cell <= 1:
        return {}
    table = _Table(values, [list(line) for line in lines], min_cell)
    while True:
        table.protect_each_line()
        added = False
        touched: list[list[tuple[K, int]]] = []
        for key in sorted(table.exposed(), key=repr):
            lines = table.lines_of.get(key, [])
            if any(line in touched for line in lines):
                continue  # something was hidden beside it this round: look again first
            found = [
                (table.cost(c, line), c, line)
                for line in lines
                if (c := table.next_to_hide(line)) is not None
            ]
            if found:
                _, candidate, _line = min(found, key=lambda f: f[0])
                table.hidden.add(candidate)
                touched.extend(table.lines_of.get(candidate, []))
                added = True
        if not added:
            break
    return {k: (SMALL if values[k] < min_cell else HIDDEN) for k in table.hidden}


class _Table(Generic[K]):
    def __init__(self, values: Mapping[K, int], lines: list[list[tuple[K, int]]], k: int):
        self.values, self.lines, self.k = values, lines, k
        self.lines_of: dict[K, list[list[tuple[K, int]]]] = {}
        for line in lines:
            for key, _ in line:
                self.lines_of.setdefault(key, []).append(line)
        self.hidden: set[K] = {key for key, v in values.items() if 0 < v < k}

    def protect_each_line(self) -> None:
        changed = True
        while changed:
            changed = False
            for line in self.lines:
                while self.pinned(line, self.hidden):
                    candidate = self.next_to_hide(line)
                    if candidate is None:
                        break
                    self.hidden.add(candidate)
                    changed = True

    def marks(self, key: K, hidden: set[K]) -> tuple[int, int]:
        """What a reader knows of a hidden cell from its mark. ``<5`` is 0 to 4; it is 1 to
        4 when no relation it is in holds another ``<5``: a 0 is hidden only beside a small
        number. ``*`` is 5 or more."""
        if self.values[key] >= self.k:
            return self.k, _UNBOUNDED
        lone = all(
            not any(
                other != key and other in hidden and self.values[other] < self.k
                for other, _ in line
            )
            for line in self.lines_of.get(key, [])
        )
        return (1 if lone else 0), self.k - 1

    def narrow(
        self, line: Sequence[tuple[K, int]], hidden: set[K], bounds: dict[K, tuple[int, int]]
    ) -> dict[K, tuple[int, int]]:
        """The ranges the line's equation allows its hidden cells, given the others'."""
        inside = [(key, c) for key, c in line if key in hidden]
        if not inside:
            return {}
        known = sum(c * self.values[key] for key, c in line if key not in hidden)
        spans = [(key, c, *bounds[key]) for key, c in inside]
        low_all = sum(min(c * lo, c * hi) for _, c, lo, hi in spans)
        high_all = sum(max(c * lo, c * hi) for _, c, lo, hi in spans)
        out = {}
        for key, c, lo, hi in spans:
            # the others' part of the sum, whatever they hold
            others_low = low_all - min(c * lo, c * hi)
            others_high = high_all - max(c * lo, c * hi)
            low, high = -known - others_high, -known - others_low
            if c < 0:
                low, high = -high, -low
            out[key] = (max(lo, low), min(hi, high))
        return out

    def pinned(self, line: Sequence[tuple[K, int]], hidden: set[K]) -> bool:
        """Whether the line's equation alone gives one of its hidden cells (or says nothing
        consistent about it)."""
        bounds = {key: self.marks(key, hidden) for key, _ in line if key in hidden}
        for key, (lo, hi) in self.narrow(line, hidden, bounds).items():
            if bounds[key][0] == bounds[key][1]:
                continue  # the mark alone says it (a lone "<2"): hiding more cannot help
            if lo >= hi:
                return True
        return False

    def exposed(self) -> set[K]:
        """The hidden cells whose value the relations give when taken together: each
        relation narrows its hidden cells' ranges in turn, until none moves."""
        bounds = {key: self.marks(key, self.hidden) for key in self.hidden}
        fixed = {key for key, (lo, hi) in bounds.items() if lo == hi}
        active = [line for line in self.lines if any(key in self.hidden for key, _ in line)]
        for _ in range(_MAX_ROUNDS):
            moved = False
            for line in active:
                for key, span in self.narrow(line, self.hidden, bounds).items():
                    if span != bounds[key] and (
                        span[0] > bounds[key][0] or span[1] < bounds[key][1]
                    ):
                        bounds[key] = (max(span[0], bounds[key][0]), min(span[1], bounds[key][1]))
                        moved = True
            if not moved:
                break
        return {key for key, (lo, hi) in bounds.items() if lo >= hi and key not in fixed}

    def cost(self, key: K, line: Sequence[tuple[K, int]]) -> tuple[bool, int]:
        """Hiding a total costs most, then the larger cells."""
        return any(k == key and c < 0 for k, c in line), self.values[key]

    def next_to_hide(self, line: Sequence[tuple[K, int]]) -> K | None:
        """The line's cell to hide next: the smallest shown cell (totals last) that protects
        the line without exposing another line it is in; failing that, the smallest that
        protects the line; failing that, the smallest."""
        shown = sorted(
            (c < 0, self.values[k], i, k) for i, (k, c) in enumerate(line) if k not in self.hidden
        )
        if not shown:
            return None
        enough = []
        for *_, key in shown:
            trial = self.hidden | {key}
            if self.pinned(line, trial):
                continue
            others = [other for other in self.lines_of.get(key, []) if other is not line]
            if not any(self.pinned(o, trial) and not self.pinned(o, self.hidden) for o in others):
                return key
            enough.append(key)
        return enough[0] if enough else shown[0][3]

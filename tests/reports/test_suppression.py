"""Small-cell suppression: no count under the threshold is shown, and no hidden count can
be worked out from the totals and the other cells, alone or across a table's rows and
columns together."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.reports.suppression import HIDDEN, SMALL, suppress

Key = tuple[int, int]  # (row, column); row -1 is the total, column -1 all columns


def breakdown(values: Sequence[int]) -> tuple[dict[str, int], list[list[tuple[str, int]]]]:
    cells = {f"c{i}": v for i, v in enumerate(values)}
    cells["total"] = sum(values)
    return cells, [[*((k, 1) for k in cells if k != "total"), ("total", -1)]]


@pytest.mark.parametrize(
    ("values", "hidden"),
    [
        # nothing small: nothing hidden
        ([12, 7, 0], {}),
        # a 2 and a 0: the 0 goes with it (both "<5"), so the total gives neither
        ([7, 2, 0], {"c1": SMALL, "c2": SMALL}),
        # two small ones already hide each other
        ([12, 2, 1], {"c1": SMALL, "c2": SMALL}),
        # a 1 next to a 5: hiding the 5 would leave 46 - 40 = 1 + 5 with the 1 the only
        # value a "<5" can take beside a "5 or more", so the 40 goes instead
        ([1, 5, 40], {"c0": SMALL, "c2": HIDDEN}),
        # a small total is hidden too: the row equals it, but neither is known
        ([3, 0, 0], {"c0": SMALL, "total": SMALL}),
    ],
)
def test_a_small_count_is_hidden_with_what_would_give_it_back(
    values: list[int], hidden: dict[str, str]
) -> None:
    cells, lines = breakdown(values)
    assert suppress(cells, lines, 5) == hidden


def test_a_threshold_of_one_hides_nothing() -> None:
    cells, lines = breakdown([1, 2, 0])
    assert suppress(cells, lines, 1) == {}


def table(rows: list[list[int]]) -> tuple[dict[Key, int], list[list[tuple[Key, int]]]]:
    """A breakdown (rows) by team (columns) with every margin: each column adds up to its
    total row, each row's teams to its all-teams column, as the reports' tables do."""
    n_rows, n_cols = len(rows), len(rows[0])
    cells: dict[Key, int] = {}
    for r in range(n_rows):
        for c in range(n_cols):
            cells[(r, c)] = rows[r][c]
        cells[(r, -1)] = sum(rows[r])
    for c in [*range(n_cols), -1]:
        cells[(-1, c)] = sum(cells[(r, c)] for r in range(n_rows))
    lines = []
    for c in [*range(n_cols), -1]:
        lines.append([*(((r, c), 1) for r in range(n_rows)), ((-1, c), -1)])
    for r in [*range(n_rows), -1]:
        lines.append([*(((r, c), 1) for c in range(n_cols)), ((r, -1), -1)])
    return cells, lines


def feasible(
    cells: dict[Key, int], lines: list[list[tuple[Key, int]]], hidden: dict[Key, str], k: int
) -> dict[Key, set[int]]:
    """Every value each hidden cell can take, given every line at once, the cells shown and
    what the marks say ("<k": 0 to k - 1; "*": k or more, here at most the grand total
    and k more, since the grand total itself may be hidden)."""
    keys = sorted(hidden)
    top = cells[(-1, -1)] + k
    ranges = [range(0, k) if hidden[key] == SMALL else range(k, top + 1) for key in keys]
    seen: dict[Key, set[int]] = {key: set() for key in keys}
    for guess in itertools.product(*ranges):
        value = dict(cells)
        value.update(zip(keys, guess, strict=True))
        if all(sum(c * value[key] for key, c in line) == 0 for line in lines):
            for key, v in zip(keys, guess, strict=True):
                seen[key].add(v)
    return seen


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(min_value=2, max_value=3).flatmap(
        lambda cols: st.lists(
            st.lists(st.integers(min_value=0, max_value=6), min_size=cols, max_size=cols),
            min_size=2,
            max_size=3,
        )
    )
)
def test_no_hidden_count_can_be_worked_out(rows: list[list[int]]) -> None:
    k = 3
    cells, lines = table(rows)
    hidden = suppress(cells, lines, k)
    shown = {key: v for key, v in cells.items() if key not in hidden}
    assert not [v for v in shown.values() if 0 < v < k]
    if len(hidden) > 5:
        return  # too many to enumerate here (an exploration of 1 760 tables found none)
    for key, values in feasible(cells, lines, hidden, k).items():
        assert cells[key] in values
        assert len(values) > 1, (rows, key, hidden)

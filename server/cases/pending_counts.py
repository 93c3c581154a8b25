"""Counts kept by the merge: differences noted during a transaction, savepoint by savepoint,
and written once, just before COMMIT, on the committing connection.

The dashboard's overdue items (``item_counts``) and the reports' cells (``report_counts``)
both keep counts this way. Applying at commit, in key order, means two transactions never
wait on each other's rows in opposite orders, and the rows are locked only for the commit.
A savepoint rolled back (a merge that failed, a preview) takes its differences with it; a
rolled back transaction forgets them all.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection, Engine, event
from sqlalchemy.orm import Session

K = TypeVar("K", bound=Hashable)


class PendingCounts(Generic[K]):
    """One kind of kept count. ``write`` gets the non-zero differences of a committing
    transaction (it runs raw SQL on the DBAPI cursor: the Connection is committing)."""

    def __init__(self, name: str, write: Callable[[Connection, Counter[K]], None]) -> None:
        self._key = f"casework.pending_counts.{name}"  # on the connection: a Counter per level
        self._write = write
        event.listen(Engine, "savepoint", self._savepoint)
        event.listen(Engine, "release_savepoint", self._release)
        event.listen(Engine, "rollback_savepoint", self._rollback_savepoint)
        event.listen(Engine, "commit", self._apply)
        event.listen(Engine, "begin", self._forget)
        event.listen(Engine, "rollback", self._forget)

    def note(self, session: Session, after: Counter[K], before: Counter[K]) -> None:
        """Record the difference ``after - before`` (what a case's writes changed)."""
        delta = Counter(after)
        delta.subtract(before)
        changes: Mapping[K, int] = {k: n for k, n in delta.items() if n}
        if changes:
            levels = session.connection().info.setdefault(self._key, [Counter()])
            levels[-1].update(changes)

    def _savepoint(self, conn: Connection, _name: str) -> None:
        conn.info.setdefault(self._key, [Counter()]).append(Counter())

    def _release(self, conn: Connection, _name: str, _xid: Any) -> None:
        levels = conn.info.get(self._key)
        if levels and len(levels) > 1:
            inner = levels.pop()
            levels[-1].update(inner)

    def _rollback_savepoint(self, conn: Connection, _name: str, _xid: Any) -> None:
        levels = conn.info.get(self._key)
        if levels and len(levels) > 1:
            levels.pop()

    def _apply(self, conn: Connection) -> None:
        levels = conn.info.pop(self._key, None)
        if not levels:
            return
        total: Counter[K] = Counter()
        for level in levels:
            total.update(level)
        changes = Counter({k: n for k, n in total.items() if n})
        if changes:
            self._write(conn, changes)

    def _forget(self, conn: Connection) -> None:
        conn.info.pop(self._key, None)

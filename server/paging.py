"""Pages of a list, for every package's queries: numbered pages with a bounded count
(:func:`paginate`, :func:`paginate_by_id`), the first rows of a short list
(:func:`first_by_id`), and keyset pages (:func:`paginate_keyset`) whose cursors say where
the last page ended.

No Flask and no session of its own: each function runs a caller's statement on the
caller's session.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Select, func, literal_column, select
from sqlalchemy.orm import Session

from server.errors import AppError

# Counts stop here: past it a list says "10,000+" (its pages still work), so that counting
# never costs more than reading that many index entries.
COUNT_CAP = 10_000


@dataclass(frozen=True)
class Page:
    items: list[Any]
    total: int  # capped at COUNT_CAP (``total_capped`` says so)
    page: int
    per_page: int
    total_capped: bool = False


def count_capped(
    session: Session, stmt: Select[*tuple[Any, ...]], *, ordered: bool = False
) -> tuple[int, bool]:
    """(rows of ``stmt``, up to :data:`COUNT_CAP`; whether there are more). Only the
    statement's FROM and WHERE are read (no columns), so the count can come from an index.
    ``ordered``: count in the statement's order, so that the planner walks the same index
    as for the page (the case list's index holds every filter; without the order SQLite
    may pick another index and read each case's row)."""
    lean: Select[Any] = stmt if ordered else stmt.order_by(None)
    # keep the FROM: a statement with no WHERE would otherwise lose its table, and count 1
    lean = lean.with_only_columns(literal_column("1"), maintain_column_froms=True)
    lean = lean.limit(COUNT_CAP + 1)
    found = session.scalar(select(func.count()).select_from(lean.subquery())) or 0
    return min(found, COUNT_CAP), found > COUNT_CAP


def _page_bounds(page: int, per_page: int) -> tuple[int, int]:
    return max(page, 1), min(max(per_page, 1), 500)


def paginate(
    session: Session, stmt: Select[*tuple[Any, ...]], page: int = 1, per_page: int = 50
) -> Page:
    """Run ``stmt`` for one page (1-based) and count the result (up to COUNT_CAP)."""
    page, per_page = _page_bounds(page, per_page)
    total, capped = count_capped(session, stmt)
    rows = session.execute(stmt.limit(per_page).offset((page - 1) * per_page)).all()
    items = [r[0] if len(r) == 1 else r for r in rows]  # a Row: a tuple, with names
    return Page(items=items, total=total, page=page, per_page=per_page, total_capped=capped)


def paginate_by_id(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    key: Any,
    page: int = 1,
    per_page: int = 50,
    *,
    ordered_count: bool = True,
) -> Page:
    """:func:`paginate` for a statement whose rows are wide: the page's ``key`` values (a
    primary key) are picked first, ordered and filtered from the indexes alone; only those
    rows are then read, and put back in that order. ``ordered_count``: see
    :func:`count_capped`."""
    page, per_page = _page_bounds(page, per_page)
    total, capped = count_capped(session, stmt, ordered=ordered_count)
    ids_stmt = stmt.with_only_columns(key).limit(per_page).offset((page - 1) * per_page)
    ids = list(session.scalars(ids_stmt))
    rows = (
        session.execute(stmt.add_columns(key).order_by(None).where(key.in_(ids))).all()
        if ids
        else []
    )
    position = {k: n for n, k in enumerate(ids)}
    by_id = sorted(rows, key=lambda r: position[r[-1]])
    items = [r[0] if len(r) == 2 else tuple(r)[:-1] for r in by_id]  # less the key
    return Page(items=items, total=total, page=page, per_page=per_page, total_capped=capped)


def first_by_id(
    session: Session, stmt: Select[*tuple[Any, ...]], key: Any, n: int
) -> tuple[list[Any], bool]:
    """The first ``n`` rows of ``stmt`` the way :func:`paginate_by_id` reads a page (keys
    first, from the indexes), uncounted, and whether there are more: for a short list
    with a link to the whole one."""
    ids = list(session.scalars(stmt.with_only_columns(key).limit(n + 1)))
    more, ids = len(ids) > n, ids[:n]
    if not ids:
        return [], more
    rows = session.execute(stmt.add_columns(key).order_by(None).where(key.in_(ids))).all()
    position = {k: i for i, k in enumerate(ids)}
    by_id = sorted(rows, key=lambda r: position[r[-1]])
    return [r[0] if len(r) == 2 else tuple(r)[:-1] for r in by_id], more


# --- keyset pages ---------------------------------------------------------------------------
#
# A list is paged by where its last row stands in its order, never by how many rows came
# before it (OFFSET reads and drops every one of them): page 50 costs what page 1 costs.
# A cursor is the sort keys of the row a page ends (or starts) at, opaque to the reader and
# validated when it comes back; the list's filters and scope are the statement's own, asked
# again on every page, so a cursor can only say where to start, never widen what is seen.


@dataclass(frozen=True)
class KeysetPage:
    items: list[Any]
    total: int  # capped at COUNT_CAP (``total_capped`` says so)
    per_page: int
    total_capped: bool = False
    next_cursor: str | None = None  # the rows after this page, if any
    previous_cursor: str | None = None  # the rows before it, if any
    page: int = 1  # the page number asked (``?page=``, the older way); 1 with a cursor


@dataclass(frozen=True)
class _Order:
    """A statement's ORDER BY as keyset paging reads it: the key expressions (ascending),
    all in one direction, the last one unique (a primary key or a unique column)."""

    keys: tuple[Any, ...]
    descending: bool
    signature: str  # ties a cursor to the order it was made in


def _order_of(stmt: Select[Any]) -> _Order:
    from sqlalchemy.sql import operators
    from sqlalchemy.sql.elements import UnaryExpression

    keys: list[Any] = []
    directions: set[bool] = set()
    for clause in stmt._order_by_clauses:
        if isinstance(clause, UnaryExpression) and clause.modifier is operators.desc_op:
            keys.append(clause.element)
            directions.add(True)
        elif isinstance(clause, UnaryExpression) and clause.modifier is operators.asc_op:
            keys.append(clause.element)
            directions.add(False)
        else:
            keys.append(clause)
            directions.add(False)
    if not keys or len(directions) != 1:
        raise ValueError("keyset paging needs an ORDER BY all in one direction")
    text = " ".join(str(k) for k in keys) + (" desc" if True in directions else "")
    signature = hashlib.sha256(text.encode()).hexdigest()[:12]
    return _Order(tuple(keys), True in directions, signature)


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if value is None or isinstance(value, (str, int)):
        return str(value) if isinstance(value, StrEnum) else value
    raise TypeError(f"a sort key of type {type(value).__name__} cannot go in a cursor")


def _decode_value(raw: Any) -> Any:
    if isinstance(raw, dict) and len(raw) == 1:
        ((tag, text),) = raw.items()
        if isinstance(text, str) and tag == "t":
            return datetime.fromisoformat(text)
        if isinstance(text, str) and tag == "d":
            return date.fromisoformat(text)
        raise ValueError(raw)
    if raw is None or isinstance(raw, str) or (isinstance(raw, int) and not isinstance(raw, bool)):
        return raw
    raise ValueError(raw)


def encode_cursor(order: _Order, values: tuple[Any, ...], *, backward: bool) -> str:
    payload: dict[str, Any] = {"o": order.signature, "k": [_encode_value(v) for v in values]}
    if backward:
        payload["b"] = 1
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def cursor_at(stmt: Select[Any], values: tuple[Any, ...], *, backward: bool = False) -> str:
    """The cursor of the rows of ``stmt`` after (``backward``: before) a row whose sort
    keys are ``values``."""
    return encode_cursor(_order_of(stmt), values, backward=backward)


def decode_cursor(order: _Order, token: str) -> tuple[tuple[Any, ...], bool]:
    """(the sort keys, whether to go backward) of a cursor made for ``order``; anything
    else (garbled, made for another sort, keys of the wrong kind) is ``request.bad_cursor``."""
    try:
        if len(token) > 2000:
            raise ValueError("too long")
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        if not isinstance(payload, dict) or payload.get("o") != order.signature:
            raise ValueError("another order")
        raw = payload.get("k")
        if not isinstance(raw, list) or len(raw) != len(order.keys):
            raise ValueError("keys")
        values = tuple(_decode_value(v) for v in raw)
        for key, value in zip(order.keys, values, strict=True):
            _check_type(key, value)
        backward = payload.get("b", 0)
        if backward not in (0, 1):
            raise ValueError("direction")
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as error:
        raise AppError("request.bad_cursor") from error
    return values, bool(backward)


def _check_type(key: Any, value: Any) -> None:
    if value is None:
        return
    expected = _python_type(key)
    if expected is datetime:
        if not isinstance(value, datetime):
            raise TypeError(value)
    elif expected is date:
        if not isinstance(value, date) or isinstance(value, datetime):
            raise TypeError(value)
    elif (expected in (int, str) and not isinstance(value, expected)) or (
        expected is None and not isinstance(value, (int, str))
    ):
        raise TypeError(value)


def _python_type(key: Any) -> type | None:
    """What a sort key's values are in Python (a decorated type's own), if known."""
    kind = getattr(key, "type", None)
    kind = getattr(kind, "impl_instance", kind)
    try:
        found: type = kind.python_type  # type: ignore[union-attr]
    except (AttributeError, NotImplementedError):
        return None
    return None if found is object else found


def _may_be_null(key: Any) -> bool:
    """Whether a sort key may be NULL: a column that may be, or any column of an
    outer-joined alias. A computed key (``coalesce``, ``CASE … ELSE``: the lists'
    undated-last and risk keys) must never be NULL."""
    from sqlalchemy import Column, Table

    if not isinstance(key, Column):
        return False
    return bool(key.nullable) or not isinstance(key.table, Table)


def _nulls_first(session: Session, descending: bool) -> bool:
    """Whether NULL keys come first in this direction: SQLite puts them first in
    ascending order, PostgreSQL last (and each the other way round descending)."""
    return (session.get_bind().dialect.name == "sqlite") != descending


def _seeks(
    keys: tuple[Any, ...],
    values: tuple[Any, ...],
    descending: bool,
    nulls_first: bool,
    nullable: bool = True,
) -> list[tuple[int, list[Any]]]:
    """The rows after ``values`` in the order of ``keys``, as WHERE clauses to read one
    after the other, each a range of an index that leads with the keys: the rows that tie
    on every key but the last and come after it on that one, then those that tie on one
    key fewer, ..., then those after the first key's value; then the first key's NULLs
    when they come last (``nullable``: the first key may be NULL). Each with how many
    leading keys it holds equal. (A row-value
    comparison says the same in one clause, but SQLite seeks no expression index by it.)"""

    def after(key: Any, value: Any) -> Any:
        return key < value if descending else key > value

    first, *_ = keys
    out: list[tuple[int, list[Any]]] = []
    if values[0] is None:
        for n in range(len(keys) - 1, 0, -1):
            if values[n] is not None:
                ties = [
                    first.is_(None),
                    *(k == v for k, v in zip(keys[1:n], values[1:n], strict=True)),
                ]
                out.append((n, [*ties, after(keys[n], values[n])]))
        if nulls_first and nullable:
            out.append((0, [first.is_not(None)]))
        return out
    for n in range(len(keys) - 1, -1, -1):
        if values[n] is not None:
            ties = [k == v for k, v in zip(keys[:n], values[:n], strict=True)]
            out.append((n, [*ties, after(keys[n], values[n])]))
    if not nulls_first and nullable:
        out.append((1, [first.is_(None)]))
    return out


def paginate_keyset(
    session: Session,
    stmt: Select[*tuple[Any, ...]],
    key: Any,
    cursor: str | None = None,
    per_page: int = 50,
    *,
    page: int = 1,
    ordered_count: bool = False,
    count: Select[Any] | None = None,
) -> KeysetPage:
    """One page of ``stmt`` (ordered, its last sort key unique) after or before
    ``cursor``, read by seeking the statement's index from the cursor's keys, with the
    bounded count of the whole list and the cursors of the pages on either side.

    As :func:`paginate_by_id`, the page's ``key`` values (a primary key) are picked first
    from the indexes, then only those rows are read. ``page`` (no cursor): the older
    numbered pages, still read with OFFSET so that links made before keep working; the
    cursors they hand on are keyset ones. ``ordered_count``: see :func:`count_capped`.
    ``count``: the same rows without the joins that only add columns, counted instead."""
    page, per_page = _page_bounds(page, per_page)
    order = _order_of(stmt)
    values, backward = decode_cursor(order, cursor) if cursor else ((), False)
    total, capped = count_capped(session, stmt if count is None else count, ordered=ordered_count)

    descending = order.descending != backward
    labels = [k.label(f"keyset_{n}") for n, k in enumerate(order.keys)]
    base = (
        stmt.with_only_columns(key, *labels)
        .order_by(None)
        .order_by(*(k.desc() if descending else k for k in order.keys))
    )
    want = per_page + 1
    found: list[Any] = []
    if not cursor:
        found = list(session.execute(base.limit(want).offset((page - 1) * per_page)))
    else:
        nulls_first = _nulls_first(session, descending)
        nullable = _may_be_null(order.keys[0])
        for fixed, where in _seeks(order.keys, values, descending, nulls_first, nullable):
            # the keys the seek holds equal are left out of its ORDER BY: SQLite would
            # otherwise sort the ties of an expression index's key in a temporary b-tree
            rest = order.keys[fixed:]
            seek = base.order_by(None).order_by(*(k.desc() if descending else k for k in rest))
            found += session.execute(seek.where(*where).limit(want - len(found))).all()
            if len(found) >= want:
                break
    more, found = len(found) > per_page, found[:per_page]
    if backward:
        if not found:  # nothing before it any more: the first page
            return paginate_keyset(session, stmt, key, None, per_page, count=count)
        found.reverse()
    ids = [row[0] for row in found]
    rows = (
        session.execute(stmt.add_columns(key).order_by(None).where(key.in_(ids))).all()
        if ids
        else []
    )
    position = {k: n for n, k in enumerate(ids)}
    by_id = sorted(rows, key=lambda r: position[r[-1]])
    items = [r[0] if len(r) == 2 else tuple(r)[:-1] for r in by_id]  # less the key

    def at(row: Any, *, back: bool) -> str:
        return encode_cursor(order, tuple(row[1:]), backward=back)

    after_more = more if not backward else bool(found)
    before_more = (bool(cursor) or page > 1) if not backward else more
    return KeysetPage(
        items=items,
        total=total,
        per_page=per_page,
        total_capped=capped,
        next_cursor=at(found[-1], back=False) if found and after_more else None,
        previous_cursor=at(found[0], back=True) if found and before_more else None,
        page=1 if cursor else page,
    )

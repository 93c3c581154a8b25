"""Device lists generated once per change, kept with the MD5 of their bytes.

Collect re-downloads an ordinary media file whenever the manifest hash is not the MD5 of
the file it holds (protocol notes §3.3), so the manifest must announce the MD5 of exactly
the bytes the download will serve to that phone. Generating a list for that on every
manifest would cost what the download costs, so the bytes and their MD5 are kept in the
database (shared by every worker process), keyed on:

* the list and the caller's scope (role, user, team: what decides which rows they get);
* the version of the list's source (:class:`ListVersion`): a counter raised, just before
  commit, in every transaction that wrote a case, a plan item, a user's name, role, team
  or activity (``cases``), or a service (``services``), or a form (both: a form decides
  which answers are sensitive and which service categories exist), by the ORM or by Core
  statements;
* :data:`LIST_FORMAT`, raised whenever the code changes what a list holds.

The version is read before the rows, so a cached list is never older than its version; a
newer one under an old version is harmless (it is the MD5 of the bytes stored with it).
Entity lists (cases.csv) use the same MD5 as their version token: it changes exactly when
the phone's list does.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Delete, Engine, Insert, Update, event, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from server.auth.models import User
from server.cases import device_lists
from server.cases.models import Case, DeviceListCache, ListVersion, PlanItem
from server.services.models import Service
from server.timeutil import utcnow
from server.xforms.models import XForm, XFormVersion

log = logging.getLogger(__name__)

# Raise when a list's columns or rows change shape, so that cached lists are regenerated.
LIST_FORMAT = 5
SOURCES = {"cases.csv": "cases", "plan_items.csv": "cases", "services.csv": "services"}
# User columns that a list shows or that decide a scope.
_USER_COLUMNS = ("username", "role", "team", "is_active")
_TOUCHED = "casework.lists_touched"
# The same upsert on both engines; one per source, with the name as a literal.
_BUMPS = {
    "cases": "INSERT INTO list_version (source, counter) VALUES ('cases', 1) "
    "ON CONFLICT (source) DO UPDATE SET counter = list_version.counter + 1",
    "services": "INSERT INTO list_version (source, counter) VALUES ('services', 1) "
    "ON CONFLICT (source) DO UPDATE SET counter = list_version.counter + 1",
}


@dataclass(frozen=True)
class CachedList:
    md5: str  # 32 lower-case hex digits
    content: bytes | None  # None when only the hash was asked for


def scope_key(list_name: str, user: User) -> str:
    if SOURCES[list_name] == "services":
        return "all"  # the directory is the same for everyone
    return f"{user.role}:{user.id}:{user.team or ''}"


# A published form decides which columns are sensitive (left empty on phones) and which
# service categories exist, so publishing or changing a form touches every list.
_EVERY_SOURCE = ("cases", "services")
_TABLE_SOURCES: dict[str, tuple[str, ...]] = {
    Case.__tablename__: ("cases",),
    PlanItem.__tablename__: ("cases",),
    User.__tablename__: ("cases",),
    Service.__tablename__: ("services",),
    XForm.__tablename__: _EVERY_SOURCE,
    XFormVersion.__tablename__: _EVERY_SOURCE,
}


def _touched_sources(stmt: Any, multiparams: Any, params: Any) -> tuple[str, ...]:
    """The list sources a write changes: an INSERT, UPDATE or DELETE of a case, a plan
    item, a service or a form, or of the user columns lists show or scope by."""
    if not isinstance(stmt, Insert | Update | Delete):
        return ()
    name = getattr(getattr(stmt, "table", None), "name", "")
    sources = _TABLE_SOURCES.get(name, ())
    if not sources or name != User.__tablename__ or not isinstance(stmt, Update):
        return sources
    keys = {getattr(c, "key", str(c)) for c in (stmt._values or {})}
    for given in [*(multiparams or []), params or {}]:
        if isinstance(given, dict):
            keys.update(given)
    return sources if keys & set(_USER_COLUMNS) else ()


@event.listens_for(Engine, "after_execute")
def _note_write(
    conn: Connection, stmt: Any, multiparams: Any, params: Any, _options: Any, _result: Any
) -> None:
    # At the engine, so that ORM flushes and the merge's Core statements are both seen.
    sources = _touched_sources(stmt, multiparams, params)
    if sources:
        conn.info.setdefault(_TOUCHED, set()).update(sources)


@event.listens_for(Engine, "commit")
def _raise_versions(conn: Connection) -> None:
    # The last statement before COMMIT, on the same transaction: the counter rows are
    # locked only for the commit itself, so a writer never waits on them while holding
    # other locks. Raw SQL on the DBAPI cursor: the Connection is committing.
    touched = conn.info.pop(_TOUCHED, None)
    if not touched:
        return
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        for source in sorted(touched):
            cursor.execute(_BUMPS[source])
    finally:
        cursor.close()


@event.listens_for(Engine, "begin")
@event.listens_for(Engine, "rollback")
def _forget(conn: Connection) -> None:
    # Also at BEGIN: a connection the pool reset (rolled back below the Connection) starts
    # its next transaction with nothing to report.
    conn.info.pop(_TOUCHED, None)


def current_version(session: Session, source: str) -> int:
    stmt = select(ListVersion.counter).where(ListVersion.source == source)
    return session.scalar(stmt) or 0


def get_list(
    session: Session,
    list_name: str,
    user: User,
    store: Callable[[Callable[[Session], None]], None],
    *,
    with_content: bool,
) -> CachedList:
    """The list for this user, from the cache or generated (and then cached).

    ``store`` runs the write to the cache in a session and transaction of its own and
    commits it: the caller's may be a read-only transaction (a GET), and a failed write only
    costs the next request a regeneration.
    """
    source = SOURCES[list_name]  # KeyError for a name that is not a generated list
    scope = scope_key(list_name, user)
    version = current_version(session, source)
    where = (
        DeviceListCache.list_name == list_name,
        DeviceListCache.scope == scope,
        DeviceListCache.version == version,
        DeviceListCache.list_format == LIST_FORMAT,
    )
    if with_content:
        row = session.execute(
            select(DeviceListCache.md5, DeviceListCache.content).where(*where)
        ).first()
        if row is not None:
            return CachedList(row[0], bytes(row[1]))
    else:
        md5 = session.scalar(select(DeviceListCache.md5).where(*where))
        if md5 is not None:
            return CachedList(md5, None)
    content = "".join(device_lists.stream_list(session, list_name, user)).encode("utf-8")
    md5 = hashlib.md5(content, usedforsecurity=False).hexdigest()
    _store(store, list_name, scope, version, md5, content)
    return CachedList(md5, content if with_content else None)


def _store(
    store: Callable[[Callable[[Session], None]], None],
    list_name: str,
    scope: str,
    version: int,
    md5: str,
    data: bytes,
) -> None:
    def write(session: Session) -> None:
        dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
        values = {
            "list_name": list_name,
            "scope": scope,
            "version": version,
            "list_format": LIST_FORMAT,
            "md5": md5,
            "content": data,
            "created_at": utcnow(),
        }
        stmt = dialect.insert(DeviceListCache).values(**values)
        stmt = stmt.on_conflict_do_update(
            index_elements=[DeviceListCache.list_name, DeviceListCache.scope],
            set_={k: v for k, v in values.items() if k not in ("list_name", "scope")},
            # a slow request never puts back an older list over a newer one
            where=DeviceListCache.version <= version,
        )
        session.execute(stmt)

    try:
        store(write)
    except SQLAlchemyError:
        log.warning("device list %s (%s) could not be cached", list_name, scope, exc_info=True)

"""Services directory queries."""

from __future__ import annotations

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from server.services.models import Service


def get_service(session: Session, service_id: str) -> Service | None:
    return session.scalars(select(Service).where(Service.service_id == service_id)).first()


def get_services(session: Session, service_ids: set[str]) -> dict[str, Service]:
    """Existing services by service_id, for an import's upsert."""
    if not service_ids:
        return {}
    rows = session.scalars(select(Service).where(Service.service_id.in_(service_ids)))
    return {s.service_id: s for s in rows}


def get_service_names(session: Session, service_ids: set[str]) -> dict[str, str]:
    """The directory's names of these services, by service_id."""
    if not service_ids:
        return {}
    stmt = select(Service.service_id, Service.name).where(Service.service_id.in_(service_ids))
    return {str(i): str(name) for i, name in session.execute(stmt)}


def list_services(
    *,
    category: str | None = None,
    q: str | None = None,
    include_inactive: bool = False,
    can_visit: bool | None = None,
) -> Select[Service]:
    """Services ordered by category and name; ``q`` matches name, provider, description or
    location (case-insensitive substring)."""
    stmt = select(Service)
    if not include_inactive:
        stmt = stmt.where(Service.is_active.is_(True))
    if category:
        stmt = stmt.where(Service.category == category)
    if can_visit is not None:
        stmt = stmt.where(Service.can_visit.is_(can_visit))
    if q:
        pattern = f"%{q.strip().lower()}%"
        stmt = stmt.where(
            or_(
                func.lower(Service.name).like(pattern),
                func.lower(Service.provider).like(pattern),
                func.lower(Service.description).like(pattern),
                func.lower(Service.location).like(pattern),
            )
        )
    return stmt.order_by(Service.category, Service.name, Service.service_id)


def list_categories(session: Session) -> list[str]:
    stmt = select(Service.category).where(Service.is_active.is_(True)).distinct()
    return sorted(session.scalars(stmt))


def list_service_list_rows() -> Select[
    str, str, str, str, str, str, str, str, bool, str, str, bool
]:
    """Columns of services.csv (active services): service_id, name, category, provider,
    location, access, focal_points, description (what it provides), can_visit (it can come
    to the child), visiting_teams (teams that can still visit), agency_kind, internal (our
    own agency)."""
    return (
        select(
            Service.service_id,
            Service.name,
            Service.category,
            Service.provider,
            Service.location,
            Service.access,
            Service.focal_points,
            Service.description,
            Service.can_visit,
            Service.visiting_teams,
            Service.agency_kind,
            Service.internal,
        )
        .where(Service.is_active.is_(True))
        .order_by(Service.category, Service.name, Service.service_id)
    )


def get_agency_kinds(session: Session, service_ids: set[str]) -> dict[str, tuple[str, bool]]:
    """(agency_kind, internal) of these services, by service_id (inactive ones too: a
    referral made to a service since withdrawn from the directory is still to that agency)."""
    if not service_ids:
        return {}
    stmt = select(Service.service_id, Service.agency_kind, Service.internal).where(
        Service.service_id.in_(service_ids)
    )
    return {
        str(i): (str(kind or ""), bool(internal)) for i, kind, internal in session.execute(stmt)
    }

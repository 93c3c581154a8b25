from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    bindparam,
    cast,
    false,
    func,
    literal,
    select,
    union_all,
)
from sqlalchemy.orm import Session, contains_eager

from server.auth.models import ApiToken, Device, LoginThrottle, Team, User
from server.auth.permissions import may, roles_for


def get_user_by_username(session: Session, username: str) -> User | None:
    if "\x00" in username:  # names no one, and PostgreSQL refuses NUL in a text parameter
        return None
    return session.scalar(select(User).where(User.username == username))


def get_user(session: Session, user_id: int | None) -> User | None:
    return session.get(User, user_id) if user_id is not None else None


def count_admins(session: Session) -> int:
    return session.scalar(select(func.count()).where(User.role.in_(roles_for("user.manage")))) or 0


def list_users() -> Select[User]:
    return select(User).order_by(User.username)


def list_user_teams(session: Session) -> dict[int, str | None]:
    """user id -> team, for every account (a case's caseworker may be inactive now)."""
    return {row[0]: row[1] for row in session.execute(select(User.id, User.team))}


# Built once: on the path of every device request, where building it cost more than
# running it.
_DEVICE_WITH_USER_BY_TOKEN_HASH = (
    select(Device)
    .join(Device.user)
    .options(contains_eager(Device.user))
    .where(Device.token_hash == bindparam("digest"))
)


def get_device_by_token_hash(session: Session, digest: str) -> Device | None:
    """The device with its user loaded in the same statement: every device request needs
    both."""
    return session.scalar(_DEVICE_WITH_USER_BY_TOKEN_HASH, {"digest": digest})


def get_device_by_label(session: Session, label: str) -> Device | None:
    return session.scalar(select(Device).where(Device.label == label))


def list_devices() -> Select[Device]:
    return select(Device).order_by(Device.created_at.desc())


def get_api_token_by_hash(session: Session, digest: str) -> ApiToken | None:
    return session.scalar(
        select(ApiToken).where(ApiToken.token_hash == digest, ApiToken.revoked_at.is_(None))
    )


def get_api_token(session: Session, token_id: int) -> ApiToken | None:
    return session.get(ApiToken, token_id)


def list_active_api_tokens(session: Session, user_id: int) -> list[ApiToken]:
    return list(
        session.scalars(
            select(ApiToken)
            .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
            .order_by(ApiToken.id)
        )
    )


def get_users_by_username(session: Session, usernames: set[str]) -> dict[str, User]:
    """username -> user, active or not, for those of these names that exist."""
    if not usernames:
        return {}
    stmt = select(User).where(User.username.in_(sorted(usernames)))
    return {u.username: u for u in session.scalars(stmt)}


def get_active_user_by_username(session: Session, username: str) -> User | None:
    stmt = select(User).where(User.username == username, User.is_active.is_(True))
    return session.scalars(stmt).first()


def get_usernames(session: Session, user_ids: set[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = session.execute(select(User.id, User.username).where(User.id.in_(user_ids)))
    return {r[0]: r[1] for r in rows}


_USER_REF = select(User.id, User.team).where(User.id == bindparam("user_id"))


def get_user_ref(session: Session, user_id: int | None) -> tuple[int, str | None] | None:
    """(id, team) of a user, active or not."""
    if user_id is None:
        return None
    found = session.connection().execute(_USER_REF, {"user_id": user_id}).first()
    return (found[0], found[1]) if found is not None else None


def assignable_users_clause(actor: User) -> ColumnElement[bool]:
    """The one rule for whom ``actor`` may make a case's caseworker: an active caseworker
    or supervisor; a supervisor may pick only from their own team; nobody else may pick."""
    eligible = and_(User.is_active.is_(True), User.role.in_(roles_for("case.hold")))
    if may(actor, "case.assign_any"):
        return eligible
    if may(actor, "case.assign_team"):
        return and_(eligible, User.team == actor.team, User.team.is_not(None))
    return false()


def list_assignable_users(actor: User) -> Select[User]:
    return select(User).where(assignable_users_clause(actor)).order_by(User.username)


def is_assignable(session: Session, actor: User, user_id: int) -> bool:
    stmt = select(User.id).where(User.id == user_id, assignable_users_clause(actor))
    return session.scalar(stmt) is not None


def list_case_holders() -> Select[str, str | None]:
    """(username, team) of every active user who may hold a case and has a team: whom a
    case may be transferred to."""
    return (
        select(User.username, User.team)
        .where(
            User.is_active.is_(True),
            User.role.in_(roles_for("case.hold")),
            User.team.is_not(None),
        )
        .order_by(User.team, User.username)
    )


def list_transfer_target_rows() -> Select[str, str, str, str | None]:
    """The phones' list of whom a conference may transfer a case to (transfer_targets.csv):
    (code, label, kind, team) of every team (``team-<id>``) and of every active user who may
    hold a case and has a team (``user-<id>``, labelled "username (team)"); teams first.
    Codes, not names, are what a conference sends: a name may hold a space, and a team or
    user renamed while a phone was offline is still found (:func:`get_transfer_target`)."""
    teams = select(
        literal("team-") + cast(Team.id, String),
        Team.name,
        literal("team"),
        Team.name,
        literal(0).label("sort_kind"),
        Team.name.label("sort_team"),
        Team.name.label("sort_name"),
    )
    holders = select(
        literal("user-") + cast(User.id, String),
        User.username + " (" + User.team + ")",
        literal("caseworker"),
        User.team,
        literal(1),
        User.team,
        User.username,
    ).where(
        User.is_active.is_(True),
        User.role.in_(roles_for("case.hold")),
        User.team.is_not(None),
    )
    both = union_all(teams, holders).subquery()
    cols = list(both.c)
    return select(*cols[:4]).order_by(cols[4], cols[5], cols[6])


def get_transfer_target(session: Session, code: str) -> tuple[str, User | None] | None:
    """What a code of transfer_targets.csv names now: ``(team name, None)`` for a team,
    ``(the user's team, user)`` for an active user who may hold a case; None for anything
    else (a team removed, a user made inactive, a code no list holds)."""
    kind, _sep, number = code.partition("-")
    if not number.isdigit() or len(number) > 12:
        return None
    if kind == "team":
        team = session.get(Team, int(number))
        return (team.name, None) if team is not None else None
    if kind == "user":
        user = session.get(User, int(number))
        if user is None or not user.is_active or user.team is None:
            return None
        return (user.team, user) if may(user, "case.hold") else None
    return None


def list_team_names(session: Session) -> list[str]:
    """Every team's name, in order: what a user's team is chosen from."""
    return list(session.scalars(select(Team.name).order_by(Team.name)))


def get_team(session: Session, name: str) -> Team | None:
    if "\x00" in name:
        return None
    return session.scalar(select(Team).where(Team.name == name))


def get_team_by_folded_name(session: Session, name: str) -> Team | None:
    """A team whose name is this one but for letter case ("North" for "north")."""
    if "\x00" in name:
        return None
    return session.scalar(select(Team).where(func.lower(Team.name) == name.lower()).limit(1))


def list_teams_with_counts(session: Session) -> list[tuple[Team, int, int]]:
    """Each team with how many accounts name it, and how many of those are active."""
    members = (
        select(
            User.team,
            func.count().label("n"),
            func.count().filter(User.is_active.is_(True)).label("active"),
        )
        .where(User.team.is_not(None))
        .group_by(User.team)
        .subquery()
    )
    stmt = (
        select(Team, func.coalesce(members.c.n, 0), func.coalesce(members.c.active, 0))
        .outerjoin(members, members.c.team == Team.name)
        .order_by(Team.name)
    )
    return [(team, int(n), int(active)) for team, n, active in session.execute(stmt)]


def count_team_members(session: Session, name: str) -> int:
    """Accounts that name this team, active or not."""
    return session.scalar(select(func.count()).where(User.team == name)) or 0


def list_lockouts(now: datetime) -> Select[LoginThrottle]:
    """The sign-in lock-outs in force: one account from one address, one address, or one
    account from everywhere (``LoginThrottle.scope``), the latest to end first."""
    return (
        select(LoginThrottle)
        .where(LoginThrottle.locked_until > now)
        .order_by(LoginThrottle.locked_until.desc(), LoginThrottle.key)
    )


def get_lockout(session: Session, key: str) -> LoginThrottle | None:
    return session.get(LoginThrottle, key)

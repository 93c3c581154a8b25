"""Users and devices (admin): accounts, roles, teams, passwords; phones and their QR codes."""

from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from server import db
from server.auth import auth_settings, qr
from server.auth import devices as auth_devices
from server.auth import queries as auth_queries
from server.auth import service as auth_service
from server.auth.models import User
from server.auth.permissions import ROLES, may, requires
from server.errors import AppError
from server.timeutil import utcnow
from server.web.access import active_users, me
from server.web.audit_text import VALUES
from server.web.bp import bp
from server.web.errors import flash_error


def _user_or_404(username: str) -> User:
    user = auth_queries.get_user_by_username(db.session(), username)
    if user is None:
        abort(404)
    return user


@bp.get("/users")
@requires("user.manage")
def user_list() -> str:
    """The accounts, the form that adds one, and the sign-in lock-outs in force."""
    session = db.session()
    users = session.scalars(auth_queries.list_users()).all()
    lockouts = session.scalars(auth_queries.list_lockouts(utcnow())).all()
    return render_template(
        "web/users/list.html",
        users=users,
        roles=ROLES,
        teams=auth_queries.list_team_names(session),
        lockouts=lockouts,
        scopes=VALUES["scope"],
    )


@bp.post("/users/lockouts/lift")
@requires("user.manage")
def lockout_lift() -> Response:
    try:
        lifted = auth_service.lift_lockout(db.session(), request.form.get("key", ""), me())
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.user_list", _anchor="lockouts"))
    who = lifted.username if lifted.username is not None else lifted.address
    flash(_("The lock-out of %(who)s is lifted.", who=who or "—"), "success")
    return redirect(url_for("web.user_list", _anchor="lockouts"))


@bp.post("/users")
@requires("user.manage")
def user_create() -> Response:
    form = request.form
    try:
        user = auth_service.create_user(
            db.session(),
            auth_settings(),
            form.get("username", ""),
            form.get("role", ""),
            form.get("password", ""),
            team=form.get("team", "").strip() or None,
            display_name=form.get("display_name", "").strip(),
            actor=me(),
        )
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.user_list"))
    flash(_("Created the user %(name)s.", name=user.username), "success")
    return redirect(url_for("web.user_list"))


@bp.get("/users/<username>")
@requires("user.manage")
def user_edit(username: str) -> str:
    user = _user_or_404(username)
    teams = auth_queries.list_team_names(db.session())
    if user.team and user.team not in teams:  # kept as it is unless changed
        teams = sorted([*teams, user.team])
    return render_template("web/users/edit.html", user=user, roles=ROLES, teams=teams)


@bp.get("/teams")
@requires("user.manage")
def team_list() -> str:
    """The teams users are put in, with their members; add one, or remove an empty one."""
    teams = auth_queries.list_teams_with_counts(db.session())
    return render_template("web/users/teams.html", teams=teams)


@bp.post("/teams")
@requires("user.manage")
def team_create() -> Response:
    try:
        team = auth_service.create_team(db.session(), request.form.get("name", ""), me())
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.team_list"))
    flash(_("Added the team %(name)s.", name=team.name), "success")
    return redirect(url_for("web.team_list"))


@bp.post("/teams/delete")
@requires("user.manage")
def team_delete() -> Response:
    name = request.form.get("name", "")
    try:
        auth_service.delete_team(db.session(), name, me())
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.team_list"))
    flash(_("Removed the team %(name)s.", name=name), "success")
    return redirect(url_for("web.team_list"))


@bp.post("/users/<username>")
@requires("user.manage")
def user_update(username: str) -> Response:
    user = _user_or_404(username)
    form = request.form
    try:
        auth_service.update_user(
            db.session(),
            user,
            role=form.get("role"),
            team=form.get("team", "").strip(),
            is_active=form.get("is_active") == "yes",
            actor=me(),
        )
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.user_edit", username=username))
    flash(_("Saved %(name)s.", name=username), "success")
    return redirect(url_for("web.user_list"))


@bp.post("/users/<username>/password")
@requires("user.manage")
def user_password(username: str) -> Response:
    user = _user_or_404(username)
    try:
        auth_service.set_password(
            db.session(), auth_settings(), user, request.form.get("password", ""), me()
        )
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.user_edit", username=username))
    if user.id == me().id:
        login_user(user)  # the reset ended every session of this account, this one too
    flash(_("The password of %(name)s was reset.", name=username), "success")
    return redirect(url_for("web.user_edit", username=username))


@bp.get("/devices")
@requires("user.manage")
def device_list() -> str:
    session = db.session()
    devices = session.scalars(auth_queries.list_devices()).all()
    holders = [u for u in active_users() if may(u, "device.hold")]
    return render_template("web/users/devices.html", devices=devices, holders=holders)


_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>\s*")


@bp.post("/devices")
@requires("user.manage")
def device_create() -> Response | str:
    try:
        provisioned = auth_devices.create_device(
            db.session(),
            auth_settings(),
            request.form.get("label", ""),
            request.form.get("username", ""),
            me(),
        )
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.device_list"))
    # The SVG is generated here from our own base64 payload: nothing in it comes from input.
    svg = Markup(_XML_DECLARATION.sub("", qr.qr_svg(provisioned.qr_payload)))  # noqa: S704
    return render_template("web/users/device_created.html", provisioned=provisioned, svg=svg)


@bp.post("/devices/revoke")
@requires("user.manage")
def device_revoke() -> Response:
    label = request.form.get("label", "")
    try:
        auth_devices.revoke_device(db.session(), label, me())
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.device_list"))
    flash(_("Revoked the device %(label)s.", label=label), "success")
    return redirect(url_for("web.device_list"))

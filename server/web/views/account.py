"""Sign in, sign out, and the front page each role lands on."""

from __future__ import annotations

from urllib.parse import urlsplit

from babel import Locale
from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from werkzeug.urls import iri_to_uri
from werkzeug.wrappers import Response

from server import db
from server.auth import auth_settings
from server.auth.loaders import signed_in
from server.auth.models import LANGUAGES
from server.auth.permissions import may, requires
from server.auth.service import authenticate_password, change_own_password, set_preferences
from server.errors import AppError
from server.timeutil import utcnow, zone_names
from server.web.access import me
from server.web.bp import bp
from server.web.errors import flash_error

# The front page: the first of these that the user may open.
LANDING = (
    ("dashboard.read", "web.dashboard"),
    ("case.read", "web.case_list"),
    ("form.read", "web.form_list"),
)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this server, written as a URI: no scheme, no host, no '//', no
    backslash (browsers read it as '/'). Text holding control characters is refused
    outright: browsers drop tabs and line breaks, so ``/<TAB>/evil.example`` would take
    them to another site, and such text never comes from a page of this server."""
    if not target:
        return None
    if any(ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0 for c in target):
        raise AppError(
            "request.invalid",
            _(
                "The address to open after signing in (next=) holds control characters. "
                "Open the sign-in page again from its link."
            ),
        )
    target = target.strip()
    if urlsplit(target).netloc or target.startswith("//"):
        return None  # a host, checked before iri_to_uri, which IDNA-encodes it (and can fail)
    try:
        target = iri_to_uri(target)
    except (UnicodeError, ValueError):
        return None
    parts = urlsplit(target)
    if (
        parts.scheme
        or parts.netloc
        or not target.startswith("/")
        or target.startswith("//")
        or "\\" in target
    ):
        return None
    return target


@bp.route("/")
@requires("account.own")
def home() -> Response:
    user = me()
    landing = next((page for action, page in LANDING if may(user, action)), "web.login")
    return redirect(url_for(landing))


@bp.route("/login", methods=["GET", "POST"])
def login() -> Response | str | tuple[str, int]:
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(next_url or url_for("web.home"))
        return render_template("web/login.html", next_url=next_url, username="")
    username = request.form.get("username", "").strip()
    password = request.form.get("password", "")
    try:
        user = signed_in(
            lambda: authenticate_password(
                db.session(), auth_settings(), username, password, request.remote_addr
            )
        )
    except AppError as error:
        return (
            render_template(
                "web/login.html", next_url=next_url, username=username, error=_(error.text)
            ),
            error.http_status,
        )
    session.clear()  # a fresh session on sign-in: no fixation
    login_user(user)
    return redirect(next_url or url_for("web.home"))


@bp.post("/logout")
def logout() -> Response:
    logout_user()
    session.clear()
    return redirect(url_for("web.login"))


def _own_name(code: str) -> str:
    name = str(Locale.parse(code).get_display_name(code))
    return name[:1].upper() + name[1:]


@bp.get("/account")
@requires("account.own")
def account_settings() -> str:
    """The signed-in user's own settings: the language and time zone of the pages."""
    return render_template(
        "web/account.html",
        # each language named in itself, so a reader finds theirs whatever the page shows
        languages=[(code, _own_name(code)) for code in LANGUAGES],
        zones=zone_names(),
        org_zone=current_app.config["TIMEZONE"],
        now=utcnow(),
    )


@bp.post("/account")
@requires("account.own")
def account_save() -> Response:
    try:
        set_preferences(
            db.session(),
            me(),
            language=request.form.get("language"),
            time_zone=request.form.get("time_zone"),
        )
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.account_settings"))
    flash(_("Your settings are saved."), "success")
    return redirect(url_for("web.account_settings"))


@bp.post("/account/password")
@requires("account.own")
def account_password() -> Response:
    """The signed-in user changes their own password. Every other session of the account
    ends (as after a reset); this one is signed in again."""
    form = request.form
    back = redirect(url_for("web.account_settings", _anchor="password"))
    if form.get("new_password", "") != form.get("new_password_again", ""):
        flash(_("The two new passwords are not the same. Type them again."), "error")
        return back
    user = me()  # a wrong current password is counted at once (see change_own_password)
    try:
        signed_in(  # commits what the check wrote, a counted failure too
            lambda: change_own_password(
                db.session(),
                auth_settings(),
                user,
                form.get("current_password", ""),
                form.get("new_password", ""),
                request.remote_addr,
            )
        )
    except AppError as error:
        flash_error(error)
        return back
    login_user(user)  # the change ended every session of this account, this one too
    flash(_("Your password is changed. Other sessions of your account are signed out."), "success")
    return back

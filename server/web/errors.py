"""Every error answered in the caller's language: a readable page for people, OpenRosa XML
for devices, JSON for the API; never a stack trace.

The blueprints handle errors in their own routes. The handlers here are the app's, which
Flask consults for unexpected errors anywhere (its 500 handler is found before any
blueprint's) and for addresses no route takes; they pick the edge by the route, else the
path."""

from __future__ import annotations

from flask import flash, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from server import db
from server.edges import ErrorWriter
from server.errors import AppError
from server.web.access import can
from server.web.bp import bp

TITLES = {
    400: lazy_gettext("The request could not be understood"),
    401: lazy_gettext("Sign in to continue"),
    403: lazy_gettext("You are not allowed to open this page"),
    404: lazy_gettext("Page not found"),
    405: lazy_gettext("This address does not accept that method"),
    409: lazy_gettext("This conflicts with what is already recorded"),
    413: lazy_gettext("The upload is too large"),
    429: lazy_gettext("Too many attempts"),
    500: lazy_gettext("Something went wrong on the server"),
}


def _title(status: int) -> str:
    return str(TITLES.get(status, TITLES[400 if status < 500 else 500]))


# The first part of a path -> the list it belongs to, the action that opens it, and the
# link back to it that a page not found there offers.
SECTIONS = {
    "cases": ("web.case_list", "case.read", lazy_gettext("Go to the case list")),
    "queues": ("web.queues", "queue.read", lazy_gettext("Go to the queues")),
    "forms": ("web.form_list", "form.read", lazy_gettext("Go to the forms")),
    "services": ("web.service_list", "service.read", lazy_gettext("Go to the services")),
    "users": ("web.user_list", "user.manage", lazy_gettext("Go to the users")),
    "teams": ("web.team_list", "user.manage", lazy_gettext("Go to the teams")),
    "devices": ("web.device_list", "user.manage", lazy_gettext("Go to the devices")),
}


def _back_link() -> tuple[str, str] | None:
    """A link to the list the missing page would have been part of, if the user may open
    that list (a case not found: the case list)."""
    section = request.path.strip("/").split("/", 1)[0]
    found = SECTIONS.get(section)
    if found is None or not can(found[1]):
        return None
    endpoint, _action, label = found
    return url_for(endpoint), str(label)


def error_page(status: int, message: str | None = None) -> tuple[str, int]:
    """The page for an error: what happened, and for a page not found, which address was
    asked for and where to go from there."""
    return (
        render_template(
            "web/errors/error.html",
            status=status,
            title=_title(status),
            message=message,
            path=request.path if status == 404 else None,
            back=_back_link() if status == 404 else None,
        ),
        status,
    )


def flash_error(error: AppError) -> None:
    """Show a service's refusal on the next page, dropping whatever it had flushed."""
    db.session().rollback()
    flash(_(error.text), "error")
    for problem in error.details.get("problems", [])[:5]:
        if isinstance(problem, dict) and problem.get("message"):
            flash(str(problem["message"]), "error")


def handle_app_error(error: AppError) -> tuple[str, int]:
    return error_page(error.http_status, _(error.text))


def handle_http_exception(error: HTTPException) -> tuple[str, int]:
    status = error.code or 500
    if status == 404:
        return error_page(404, _("Nothing is found at this address."))
    if isinstance(error, CSRFError):
        return error_page(
            400,
            _(
                "The form had expired or was sent from elsewhere. "
                "Go back, reload the page and try again."
            ),
        )
    return error_page(status)


def server_error() -> tuple[str, int]:
    return error_page(500)


bp.register_error_handler(AppError, handle_app_error)

# What create_app hands server.edges for the people's edge.
WRITER = ErrorWriter(handle_app_error, handle_http_exception, server_error)

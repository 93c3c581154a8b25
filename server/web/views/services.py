"""The services directory: list, search, add, edit and import services."""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from server import db
from server.auth.permissions import requires
from server.bounds import MAX_PAGE
from server.cases import referral_queries
from server.errors import AppError
from server.paging import paginate
from server.services import queries, service
from server.services.schemas import TEXT_COLUMNS
from server.web.access import me
from server.web.bp import bp
from server.web.errors import flash_error

PER_PAGE = 50


def _form_data() -> dict[str, Any]:
    """The posted fields as the service schema expects them (checkboxes as booleans)."""
    form = request.form
    data: dict[str, Any] = {
        name: form.get(name, "").strip()
        for name in ("service_id", "name", "category", *TEXT_COLUMNS)
    }
    data["can_visit"] = form.get("can_visit") == "yes"
    data["internal"] = form.get("internal") == "yes"
    if form.get("agency_kind", "").strip():
        data["agency_kind"] = form["agency_kind"].strip()
    data["is_active"] = form.get("is_active", "yes") == "yes"
    return data


def _categories() -> list[tuple[str, str]]:
    """(code, label) of each category, the label translated where the catalogue has it
    (the shipped case plan's; see server.web.labels)."""
    return [(code, _(label)) for code, label in service.service_categories(db.session())]


def _field_errors(error: AppError) -> dict[str, list[str]]:
    fields = error.details.get("fields", {})
    return fields if isinstance(fields, dict) else {}


@bp.get("/services")
@requires("service.read")
def service_list() -> str:
    q = request.args.get("q", "").strip() or None
    category = request.args.get("category", "").strip() or None
    try:
        page_no = int(request.args.get("page", "1"))
    except ValueError:
        abort(400)
    if not 1 <= page_no <= MAX_PAGE:
        abort(400)
    session = db.session()
    stmt = queries.list_services(category=category, q=q)
    page = paginate(session, stmt, page_no, PER_PAGE)
    args = {k: v for k, v in {"q": q, "category": category}.items() if v}
    figures = referral_queries.referral_figures(session, [s.service_id for s in page.items])
    return render_template(
        "web/services/list.html",
        page=page,
        args=args,
        categories=queries.list_categories(session),
        figures=figures,
        # every user reads the directory: a count of one or two referrals to a small service
        # can point to a child, so figures under the reports' threshold are not shown
        min_cell=int(current_app.config["REPORT_MIN_CELL"]),
    )


@bp.route("/services/new", methods=["GET", "POST"])
@requires("service.edit")
def service_new() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return render_template(
            "web/services/edit.html", svc=None, values={}, errors={}, categories=_categories()
        )
    data = _form_data()
    try:
        created = service.create_service(db.session(), data, actor=me())
    except AppError as error:
        flash_error(error)
        page = render_template(
            "web/services/edit.html",
            svc=None,
            values=data,
            errors=_field_errors(error),
            categories=_categories(),
        )
        return page, error.http_status
    flash(_("Added %(name)s.", name=created.name), "success")
    return redirect(url_for("web.service_list"))


@bp.route("/services/<service_id>/edit", methods=["GET", "POST"])
@requires("service.edit")
def service_edit(service_id: str) -> Response | str | tuple[str, int]:
    svc = queries.get_service(db.session(), service_id)
    if svc is None:
        abort(404)
    if request.method == "GET":
        values = {
            name: getattr(svc, name)
            for name in (
                "service_id",
                "name",
                "category",
                "agency_kind",
                "internal",
                "can_visit",
                "is_active",
                *TEXT_COLUMNS,
            )
        }
        return render_template(
            "web/services/edit.html", svc=svc, values=values, errors={}, categories=_categories()
        )
    data = _form_data()
    data.pop("service_id")
    try:
        service.update_service(db.session(), service_id, data, actor=me())
    except AppError as error:
        flash_error(error)
        page = render_template(
            "web/services/edit.html",
            svc=svc,
            values=data,
            errors=_field_errors(error),
            categories=_categories(),
        )
        return page, error.http_status
    flash(_("Saved %(name)s.", name=data["name"]), "success")
    return redirect(url_for("web.service_list"))


@bp.route("/services/import", methods=["GET", "POST"])
@requires("service.edit")
def service_import() -> Response | str | tuple[str, int]:
    if request.method == "GET":
        return render_template("web/services/import.html", report=None)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(_("Choose a file to upload."), "error")
        return redirect(url_for("web.service_import"))
    content = upload.read(service.MAX_IMPORT_BYTES + 1)
    if len(content) > service.MAX_IMPORT_BYTES:
        flash_error(AppError("request.too_large"))
        return redirect(url_for("web.service_import"))
    try:
        report = service.import_services(db.session(), upload.filename, content, actor=me())
    except AppError as error:
        flash_error(error)
        return redirect(url_for("web.service_import"))
    return render_template("web/services/import.html", report=report)

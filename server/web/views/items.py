"""Plan items and referrals across cases: what is due, overdue or waiting, filtered by
team, caseworker, kind, status and due dates, within the user's case scope (a caseworker
sees their own cases' items)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, render_template, request
from marshmallow import ValidationError

from server import db
from server.auth.permissions import requires
from server.cases import lists
from server.cases.mapping import ITEM_KINDS
from server.cases.referrals import ReferralState
from server.cases.schemas import ItemQueryArgs, item_list_kwargs
from server.errors import AppError
from server.web.access import me
from server.web.bp import bp
from server.web.referral_labels import state_label
from server.web.today import today
from server.web.views.cases import _sees_others, assignable_caseworkers, team_names


def _args(*, referrals: bool) -> dict[str, Any]:
    """The filters from the query string; empty fields mean "any". The referrals page is
    the service items (a kind given there is refused)."""
    raw = {k: v for k, v in request.args.items() if v.strip()}
    if referrals and "kind" in raw:
        abort(400)
    try:
        loaded: dict[str, Any] = ItemQueryArgs().load(raw)
    except ValidationError:
        abort(400)
    if referrals:
        loaded["kind"] = "service"
    return loaded


def _page(endpoint: str, *, referrals: bool) -> str:
    args = _args(referrals=referrals)
    user = me()
    filters = item_list_kwargs(args, today())
    try:
        page = lists.paginate_items(
            db.session(),
            lists.list_items(user, **filters),
            args["cursor"],
            args["per_page"],
            page=args["page"],
            count=lists.count_items(user, **filters),
        )
    except AppError:  # a cursor garbled, or made for another list
        abort(400)
    shown_filters = {
        k: v.isoformat() if isinstance(v, date) else v
        for k, v in args.items()
        if k not in ("page", "cursor") and v and not (referrals and k == "kind")
        if (k, v) != ("per_page", 50)
    }
    return render_template(
        "web/items.html",
        page=page,
        filters=shown_filters,
        endpoint=endpoint,
        referrals=referrals,
        kinds=ITEM_KINDS,
        caseworkers=assignable_caseworkers(user) if _sees_others(user) else [],
        teams=team_names(user),
        states=[(s.value, state_label(s.value)) for s in ReferralState],
        today=today(),
    )


@bp.get("/plan-items")
@requires("case.read")
def plan_item_list() -> str:
    return _page("web.plan_item_list", referrals=False)


@bp.get("/referrals")
@requires("case.read")
def referral_list() -> str:
    return _page("web.referral_list", referrals=True)

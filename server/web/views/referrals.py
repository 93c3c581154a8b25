"""A supervisor records a referral's next state on the web, for providers who phone back
(``cases.referral_decisions``)."""

from __future__ import annotations

from flask import current_app, flash, redirect, request, url_for
from flask_babel import gettext as _
from werkzeug.wrappers import Response

from server import db
from server.auth.permissions import requires
from server.cases import referral_decisions
from server.cases.settings import CaseSettings, case_settings
from server.errors import AppError
from server.web.access import me
from server.web.bp import bp
from server.web.errors import flash_error


def _settings() -> CaseSettings:
    found: CaseSettings = case_settings(current_app)
    return found


@bp.post("/cases/<path:case_ref>/referrals/<item_id>")
@requires("referral.update")
def referral_update(case_ref: str, item_id: str) -> Response:
    try:
        result = referral_decisions.update_referral(
            db.session(),
            case_ref,
            item_id,
            request.form.get("state", ""),
            me(),
            reason=request.form.get("reason", ""),
            settings=_settings(),
        )
    except AppError as error:
        flash_error(error)
        result = None
    else:
        flash(_("The referral's state is recorded."), "success")
    return redirect(url_for("web.case_detail", case_ref=result.case_ref if result else case_ref))

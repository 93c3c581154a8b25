"""Words stored as codes (roles, states, risk levels…) that pages show translated.

Templates call ``_(code)``; listing each code here with ``lazy_gettext`` puts it in the
catalogue, which a dynamic ``_(value)`` alone would not.
"""

from __future__ import annotations

from flask_babel import lazy_gettext

CODES = (
    # roles
    lazy_gettext("admin"),
    lazy_gettext("supervisor"),
    lazy_gettext("caseworker"),
    lazy_gettext("designer"),
    # case and form states
    lazy_gettext("open"),
    lazy_gettext("closed"),
    lazy_gettext("closing"),
    # risk levels
    lazy_gettext("low"),
    lazy_gettext("medium"),
    lazy_gettext("high"),
    # plan item kinds
    lazy_gettext("need"),
    lazy_gettext("service"),
    lazy_gettext("action"),
    lazy_gettext("decision"),
    # the titles of the plan items the server makes for a care plan (cases.mapping)
    lazy_gettext("Care plan"),
    lazy_gettext("Care plan review"),
    # contribution states
    lazy_gettext("applied"),
    lazy_gettext("unlinked"),
    lazy_gettext("duplicate"),
    lazy_gettext("superseded"),
    lazy_gettext("failed"),
    # supervisor decisions
    lazy_gettext("reassign"),
    lazy_gettext("resolve"),
    lazy_gettext("close"),
    lazy_gettext("reopen"),
    lazy_gettext("link_submission"),
    lazy_gettext("merge_duplicate"),
    lazy_gettext("register_duplicate"),
    # an edit of a registration that renumbered its case
    lazy_gettext("rename"),
    # the shipped case plan's service categories (server.services.service.DEFAULT_CATEGORIES)
    lazy_gettext("Health"),
    lazy_gettext("Education"),
    lazy_gettext("Psychosocial support"),
    lazy_gettext("Alternative care"),
    lazy_gettext("Cash assistance"),
    lazy_gettext("Water, sanitation and hygiene (WASH)"),
    lazy_gettext("Food"),
    lazy_gettext("Legal aid"),
    lazy_gettext("Other service"),
)

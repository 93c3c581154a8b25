"""The consent in force and its history in words (``cases.consent``): what the case page,
its printable copy and the transfer summary say for each stored code."""

from __future__ import annotations

from typing import Any

from flask_babel import gettext as _
from flask_babel import lazy_gettext

CHANGES = {
    "given": lazy_gettext("consent given"),
    "not_possible": lazy_gettext("consent not possible"),
    "withdrawn": lazy_gettext("consent withdrawn"),
    "extended": lazy_gettext("consent extended"),
}
BY = {
    "child": lazy_gettext("the child"),
    "caregiver": lazy_gettext("a caregiver"),
    "child_and_caregiver": lazy_gettext("the child and a caregiver"),
    "not_possible": lazy_gettext("no one: consent was not possible"),
}
REASONS = {
    "too_young_no_caregiver": lazy_gettext("the child is too young and no caregiver can give it"),
    "caregiver_risk": lazy_gettext("asking the caregiver would put the child at risk"),
    "immediate_danger": lazy_gettext("the child is in immediate danger"),
    "other": lazy_gettext("another reason"),
}
AGENCY_KINDS = {
    "health": lazy_gettext("health services"),
    "education": lazy_gettext("education"),
    "justice": lazy_gettext("legal and justice"),
    "social_protection": lazy_gettext("social protection"),
    "police": lazy_gettext("police"),
    "ngo": lazy_gettext("other NGOs"),
}


def word(table: dict[str, Any], code: Any) -> str:
    """The words for a stored code; the code itself when the table has none, a dash for
    nothing."""
    if code in (None, ""):
        return "—"
    return str(table.get(str(code), code))


def share_words(kinds: Any) -> str:
    """The kinds of agency information may be shared with, in words ("no agency" for none)."""
    names = kinds.split() if isinstance(kinds, str) else list(kinds or ())
    if not names:
        return str(_("no agency"))
    return ", ".join(word(AGENCY_KINDS, k) for k in names)


def template_globals() -> dict[str, Any]:
    return {
        "consent_change": lambda code: word(CHANGES, code),
        "consent_by": lambda code: word(BY, code),
        "consent_reason": lambda code: word(REASONS, code),
        "agency_kind": lambda code: word(AGENCY_KINDS, code),
        "consent_share_words": share_words,
        "agency_kinds": tuple(AGENCY_KINDS),
    }

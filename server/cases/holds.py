"""Referrals held for consent (``cases.consent``) kept in step with the services directory.

Whether a referral is held depends on the directory as well as on the case: the kind of
agency of the service it is to, and whether that is our own agency. A rebuild derives it;
when an admin adds a service or changes either of these, the open referrals to it are held
or released here at once, as a rebuild (or ``casework reprocess --all``) would leave them.
Flush only; callers commit.
"""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy.orm import Session

from server.cases import consent, referral_queries
from server.services import queries as service_queries


def recheck_holds(session: Session, service_ids: Collection[str]) -> int:
    """Hold or release the open referrals to these services by the directory now; how many
    changed."""
    ids = {s for s in service_ids if s}
    if not ids:
        return 0
    directory = service_queries.get_agency_kinds(session, ids)
    changed = 0
    for item, status, share in session.execute(referral_queries.list_open_referrals_to(ids)):
        in_force = (
            consent.ConsentState(
                status=status,
                by=None,
                reason=None,
                services=None,
                share=consent.share_kinds(share),
                date=None,
                history=(),
            )
            if status is not None
            else None
        )
        held = consent.is_held(item, in_force, directory)
        if item.held != held:
            item.held = held
            changed += 1
    session.flush()
    return changed

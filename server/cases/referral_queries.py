"""Queries on referrals by the directory service they are to: the open referrals a change
of the directory re-derives holds for (``cases.holds``), and each service's figures for the
directory's pages (open referrals, median time to acknowledge). Both read
``ix_plan_item_referral_service``.

The referral states themselves, pure, are in ``cases.referrals``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from server.cases.models import Case, PlanItem


def list_open_referrals_to(service_ids: set[str]) -> Select[PlanItem, str | None, str | None]:
    """The open referrals to these directory services, each with its case's consent in
    force and the kinds it shares with (``ix_plan_item_referral_service``)."""
    return (
        select(PlanItem, Case.consent, Case.consent_share)
        .join(Case, Case.id == PlanItem.case_id)
        .where(PlanItem.referral_service.in_(service_ids), PlanItem.is_done.is_(False))
        .order_by(PlanItem.id)
    )


def list_referral_figures(
    service_ids: list[str],
) -> Select[str | None, bool, int | None, int]:
    """Per directory service: (service id, done, hours from referred to acknowledged, how
    many referrals), of the referrals of open cases, grouped so that a page of services
    reads a few rows per service from ``ix_plan_item_referral_service``
    (:func:`referral_figures` sums them)."""
    return (
        select(
            PlanItem.referral_service,
            PlanItem.is_done,
            PlanItem.referral_ack_hours,
            func.count(),
        )
        # the services' entries first, then each one's case by its key
        .join(Case, Case.id == PlanItem.case_id)
        .where(PlanItem.referral_service.in_(service_ids), Case.status == "open")
        .group_by(PlanItem.referral_service, PlanItem.is_done, PlanItem.referral_ack_hours)
    )


@dataclass(frozen=True)
class ReferralFigures:
    open: int = 0  # referrals not done yet
    median_ack_hours: float | None = None  # from referred to acknowledged
    acknowledged: int = 0  # how many referrals the median is of


def referral_figures(session: Session, service_ids: list[str]) -> dict[str, ReferralFigures]:
    """Each service's open referrals and median time to acknowledge, for the directory."""
    if not service_ids:
        return {}
    open_n: dict[str, int] = {}
    hours: dict[str, list[tuple[int, int]]] = {}
    for service_id, done, ack, n in session.execute(list_referral_figures(service_ids)):
        if service_id is None:
            continue
        if not done:
            open_n[service_id] = open_n.get(service_id, 0) + n
        if ack is not None:
            hours.setdefault(service_id, []).append((ack, n))
    return {
        s: ReferralFigures(
            open=open_n.get(s, 0),
            median_ack_hours=_median(hours.get(s, [])),
            acknowledged=sum(n for _, n in hours.get(s, [])),
        )
        for s in service_ids
    }


def _median(counted: list[tuple[int, int]]) -> float | None:
    """The median of values given with how many times each occurs."""
    total = sum(n for _, n in counted)
    if not total:
        return None
    ordered = sorted(counted)
    wanted = ((total - 1) // 2, total // 2)  # the middle one, or the middle two
    found: list[int] = []
    seen = 0
    for value, n in ordered:
        while len(found) < 2 and seen + n > wanted[len(found)]:
            found.append(value)
        seen += n
    return (found[0] + found[1]) / 2

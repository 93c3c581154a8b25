"""The referral states as the merge derives them (``cases.referrals``): when each state was
reached, by whom and why, from submissions and a supervisor's decision alike, whatever
order they arrive in; the next state due by urgency from the configured table; the
directory's median; a mistyped setting stops the server."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from server import create_app
from server.cases.mapping import CaseUpdate, ItemUpdate
from server.cases.merge import ActionRecord, build_case
from server.cases.referral_queries import _median
from server.cases.referrals import REFERRAL_ACTION, parse_due_setting
from server.config import ConfigError
from tests.conftest import app_config

T0 = datetime(2026, 11, 20, 9, tzinfo=UTC)


def _update(n: int, hour: int, status: str, **props: str) -> CaseUpdate:
    item = ItemUpdate(
        kind="service" if n == 0 else "",
        item_id="svc-1",
        key="health" if n == 0 else None,
        title="Clinic" if n == 0 else None,
        status=status,
        properties=props,
        is_explicit_id=n > 0,
    )
    return CaseUpdate(
        case_ref="CP-1",
        instance_id=f"uuid:{n}",
        form_id="case_plan" if n == 0 else "contact_log",
        event_at=T0.replace(hour=hour) if hour < 24 else T0.replace(day=21, hour=hour - 24),
        is_registration=n == 0,
        base_version=None if n == 0 else n,
        submitter="cw1",
        items=(item,),
    )


def _build(updates: list[CaseUpdate], actions: list[ActionRecord], due: str = "") -> object:
    (item,) = build_case(
        updates,
        actions,
        today=date(2026, 12, 1),
        default_frequency_days=14,
        review_interval_days=90,
        referrals=parse_due_setting(due),
    ).items
    return item.referral


def test_steps_come_from_the_submissions_and_a_decision_in_any_order() -> None:
    updates = [
        _update(0, 9, "referred", urgency="immediate", service="clinic-1"),
        _update(1, 15, "acknowledged"),
        _update(2, 30, "declined", state_reason="No places"),
    ]
    decision = ActionRecord(
        action_id=1, kind=REFERRAL_ACTION, at=T0.replace(day=22), actor="sup",
        payload={"item_id": "svc-1", "state": "feedback", "reason": ""},
    )  # fmt: skip
    results = {repr(_build(list(order), [decision])) for order in itertools.permutations(updates)}
    assert len(results) == 1
    referral = _build(updates, [decision])
    steps = [(s.state, s.at.isoformat(), s.by, s.reason) for s in referral.steps]  # type: ignore[attr-defined]
    assert steps == [
        ("referred", "2026-11-20T09:00:00+00:00", "cw1", None),
        ("acknowledged", "2026-11-20T15:00:00+00:00", "cw1", None),
        ("declined", "2026-11-21T06:00:00+00:00", "cw1", "No places"),
        ("feedback", "2026-11-22T09:00:00+00:00", "sup", None),
    ]
    assert referral.acknowledged_hours == 6  # type: ignore[attr-defined]
    assert referral.service_id == "clinic-1"  # type: ignore[attr-defined]
    assert referral.due is None  # type: ignore[attr-defined]


def test_the_next_state_is_due_by_urgency_from_the_setting() -> None:
    updates = [_update(0, 9, "referred", urgency="immediate"), _update(1, 15, "acknowledged")]
    assert _build(updates, []).due == date(2026, 11, 23)  # type: ignore[attr-defined]
    configured = _build(updates, [], '{"immediate": {"accepted": 1}}')
    assert configured.due == date(2026, 11, 21)  # type: ignore[attr-defined]
    no_urgency = _build([_update(0, 9, "referred"), _update(1, 15, "acknowledged")], [])
    assert no_urgency.urgency == "routine"  # type: ignore[attr-defined]
    assert no_urgency.due == date(2026, 12, 4)  # type: ignore[attr-defined]


def test_median_of_counted_values() -> None:
    assert _median([]) is None
    assert _median([(10, 1)]) == 10
    assert _median([(10, 1), (30, 1)]) == 20
    assert _median([(30, 1), (10, 2)]) == 10
    assert _median([(5, 2), (7, 2)]) == 6


def test_a_mistyped_due_setting_stops_the_server(database_url: str, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="CASEWORK_REFERRAL_DUE"):
        create_app(app_config(database_url, tmp_path / "data", REFERRAL_DUE='{"soon": 2}'))
    create_app(
        app_config(database_url, tmp_path / "data", REFERRAL_DUE='{"urgent": {"referred": 2}}')
    )


def test_a_mistyped_urgency_in_the_due_setting_stops_the_server(
    database_url: str, tmp_path: Path
) -> None:
    """An urgency the forms do not offer (a typo) would be a table no referral ever uses,
    and the days meant for it silently ignored; a long one does not fit the column."""
    for typo in ('{"imediate": {"referred": 2}}', '{"' + "u" * 40 + '": {"referred": 2}}'):
        with pytest.raises(ValueError, match="urgency"):
            parse_due_setting(typo)
        with pytest.raises(ConfigError, match="CASEWORK_REFERRAL_DUE"):
            create_app(app_config(database_url, tmp_path / "data", REFERRAL_DUE=typo))

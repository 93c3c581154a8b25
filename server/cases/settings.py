"""Case-work settings: the defaults the merge and the case pages read. The caller
reads them from config; services read no config.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from server.cases.approvals import ApprovalRules
from server.cases.limits import (
    DEFAULT_MAX_ANSWER_BYTES,
    DEFAULT_MAX_REPEAT_INSTANCES,
)
from server.cases.referrals import DEFAULT_REFERRAL_RULES, ReferralRules, parse_due_setting


@dataclass(frozen=True)
class CaseSettings:
    """Case-work defaults (the caller reads them from config; services read no config)."""

    default_contact_frequency_days: int = 14
    review_interval_days: int = 90
    # An event time (from the phone's clock) later than the time the server received the
    # submission by more than this is taken as the received time (``map_submission``).
    future_event_tolerance_hours: int = 24
    # The largest submission the merge takes (``cases.limits``): one answer's UTF-8 bytes,
    # and the instances of all its repeats.
    max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES
    max_repeat_instances: int = DEFAULT_MAX_REPEAT_INSTANCES
    # What waits for a supervisor's approval (``cases.approvals``): a closure, and a case
    # plan that leaves the case at high risk.
    approve_closure: bool = True
    approve_high_risk_plan: bool = True
    # Days from a referral's state to its next, by urgency (``cases.referrals``).
    referrals: ReferralRules = DEFAULT_REFERRAL_RULES

    @property
    def approvals(self) -> ApprovalRules:
        return ApprovalRules(
            closure=self.approve_closure, high_risk_plan=self.approve_high_risk_plan
        )

    @property
    def future_tolerance(self) -> timedelta:
        return timedelta(hours=self.future_event_tolerance_hours)


DEFAULT_SETTINGS = CaseSettings()


class Configured(Protocol):
    """An application (``flask.Flask``): what holds the configuration."""

    @property
    def config(self) -> Mapping[str, Any]: ...


def case_settings(app: Configured) -> CaseSettings:
    """The settings from the application's configuration (``server.config``), which the
    edge reads and passes in: services read no configuration themselves."""
    config = app.config
    return CaseSettings(
        default_contact_frequency_days=int(config["CONTACT_FREQUENCY_DEFAULT_DAYS"]),
        review_interval_days=int(config["REVIEW_INTERVAL_DAYS"]),
        future_event_tolerance_hours=max(0, int(config["FUTURE_EVENT_TOLERANCE_HOURS"])),
        max_answer_bytes=max(1, int(config["MAX_ANSWER_BYTES"])),
        max_repeat_instances=max(0, int(config["MAX_REPEAT_INSTANCES"])),
        approve_closure=_flag(config["APPROVE_CLOSURE"]),
        approve_high_risk_plan=_flag(config["APPROVE_HIGH_RISK_PLAN"]),
        referrals=parse_due_setting(config.get("REFERRAL_DUE")),
    )


def _flag(value: Any) -> bool:
    """A yes/no safeguard that is on unless said off: a boolean (JSON ``true`` / ``false``
    from the environment) or its text. An empty value is a variable left blank, not a "no":
    the safeguard stays on."""
    if isinstance(value, str):
        return value.strip().lower() not in ("false", "0", "no", "off")
    return bool(value)

"""Server settings a case rule reads: the approval safeguards are on unless said off."""

from __future__ import annotations

import pytest
from flask import Flask

from server.cases.settings import case_settings


@pytest.mark.parametrize(
    ("value", "on"),
    [("", True), ("  ", True), ("yes", True), (True, True), ("off", False), ("No", False),
     ("0", False), (False, False)],
)  # fmt: skip
def test_approvals_stay_on_unless_said_off(app: Flask, value: object, on: bool) -> None:
    app.config["APPROVE_CLOSURE"] = value
    app.config["APPROVE_HIGH_RISK_PLAN"] = value
    settings = case_settings(app)
    assert (settings.approve_closure, settings.approve_high_risk_plan) == (on, on)

"""What waits for a supervisor's approval, folded with the case (``cases.approvals``). Pure."""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any

from server.cases.approvals import ApprovalRules
from server.cases.mapping import CaseUpdate
from server.cases.merge import ActionRecord, CaseState, build_case
from tests.cases.test_merge import TODAY, act, reg, upd

RULES = ApprovalRules(closure=True, high_risk_plan=True)


def build(updates: list[CaseUpdate], actions: list[ActionRecord] | None = None) -> CaseState:
    return build_case(
        updates,
        actions or [],
        today=TODAY,
        default_frequency_days=14,
        review_interval_days=90,
        approvals=RULES,
    )


def closing(iid: str, when: str, **kw: Any) -> CaseUpdate:
    return upd(iid, when, close=True, **kw)


def _approval(state: CaseState) -> tuple[str, str, str] | None:
    a = state.approval
    return (a.status, a.kind, a.instance_id) if a else None


def test_a_closure_closes_only_once_approved() -> None:
    updates = [reg(), closing("c1", "2024-05-10 10:00")]
    waiting = build(updates)
    assert (waiting.status, _approval(waiting)) == ("open", ("pending", "closure", "c1"))
    assert waiting.approval is not None
    assert waiting.approval.requested_by == "amina"
    returned = build(updates, [act(1, "return", "2024-05-11 09:00", instance_id="c1")])
    assert (returned.status, _approval(returned)) == ("open", ("returned", "closure", "c1"))
    approved = build(updates, [act(1, "approve", "2024-05-11 09:00", instance_id="c1")])
    assert (approved.status, _approval(approved)) == ("closed", ("approved", "closure", "c1"))
    assert approved.closed_at == updates[1].event_at
    # without the rule, a closure closes at once (the pure default)
    plain = build_case(updates, [], today=TODAY, default_frequency_days=14, review_interval_days=90)
    assert (plain.status, plain.approval) == ("closed", None)


def test_a_plan_that_leaves_the_case_at_high_risk_waits_in_effect() -> None:
    high = replace(reg(risk_level="high"), is_plan=True)
    state = build([high])
    assert (state.risk_level, _approval(state)) == ("high", ("pending", "plan", "uuid:reg"))
    medium = build([replace(reg(), is_plan=True)])
    assert medium.approval is None
    # a contact that raises the risk is not a plan: nothing to approve
    assert build([replace(reg(), is_plan=True), upd("c1", "2024-05-10 10:00",
                  properties={"risk_level": "high"})]).approval is None  # fmt: skip


def test_the_earliest_undecided_is_shown_then_the_latest_decision() -> None:
    high = replace(reg(risk_level="high"), is_plan=True)
    updates = [high, closing("c1", "2024-05-10 10:00")]
    assert _approval(build(updates)) == ("pending", "plan", "uuid:reg")
    plan_ok = [act(1, "approve", "2024-05-11 09:00", instance_id="uuid:reg")]
    assert _approval(build(updates, plan_ok)) == ("pending", "closure", "c1")
    both = [*plan_ok, act(2, "return", "2024-05-12 09:00", instance_id="c1")]
    assert _approval(build(updates, both)) == ("returned", "closure", "c1")


def test_a_supervisors_own_closure_makes_a_waiting_one_moot() -> None:
    updates = [reg(), closing("c1", "2024-05-10 10:00")]
    state = build(updates, [act(1, "close", "2024-05-11 09:00", reason="done")])
    assert (state.status, state.approval) == ("closed", None)


def test_any_arrival_order_gives_the_same_case() -> None:
    high = replace(reg(risk_level="high"), is_plan=True)
    updates = [high, upd("c0", "2024-05-05 10:00"), closing("c1", "2024-05-10 10:00")]
    actions = [act(1, "approve", "2024-05-12 09:00", instance_id="c1")]
    states = {repr(build(list(order), actions)) for order in itertools.permutations(updates)}
    assert len(states) == 1

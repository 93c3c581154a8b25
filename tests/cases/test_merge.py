"""build_case: folding a case's contributions. Pure and table-driven, plus a property test
that the result does not depend on arrival order or resends."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.cases.mapping import CaseUpdate, ItemUpdate, map_submission
from server.cases.merge import ActionRecord, CaseState, build_case
from tests.cases import forms
from tests.cases.forms import at, envelope

TODAY = date(2024, 7, 1)
ENTITY = "6fdfa3b6-64fb-46cf-b98c-c92b57f914b1"


def build(updates: list[CaseUpdate], actions: list[ActionRecord] | None = None) -> CaseState:
    return build_case(
        updates, actions or [], today=TODAY, default_frequency_days=14, review_interval_days=90
    )


def reg(when: str = "2024-05-01 09:00", **props: Any) -> CaseUpdate:
    return CaseUpdate(
        case_ref="CP-1",
        instance_id="uuid:reg",
        form_id="case_plan",
        event_at=at(when),
        entity_id=ENTITY,
        is_registration=True,
        submitter="amina",
        properties={"risk_level": "medium", **props},
        is_review=True,
    )


def upd(iid: str, when: str, base: int | None = 1, **kw: Any) -> CaseUpdate:
    defaults: dict[str, Any] = {
        "case_ref": "CP-1",
        "instance_id": iid,
        "form_id": "contact_log",
        "event_at": at(when),
        "entity_id": ENTITY,
        "base_version": base,
        "submitter": "amina",
        "is_contact": True,
    }
    defaults.update(kw)
    return CaseUpdate(**defaults)


def act(action_id: int, kind: str, when: str, **payload: Any) -> ActionRecord:
    return ActionRecord(action_id=action_id, kind=kind, at=at(when), actor="sup", payload=payload)


# --- rules, one row each ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("updates", "expected_due"),
    [
        # no contact yet: registration + default frequency
        ([reg()], date(2024, 5, 15)),
        # the plan's frequency counts from the registration
        ([reg(contact_frequency_days=7)], date(2024, 5, 8)),
        # last contact + plan frequency
        ([reg(contact_frequency_days=7), upd("c1", "2024-05-20 10:00")], date(2024, 5, 27)),
        # the caseworker's chosen date wins
        (
            [reg(), upd("c1", "2024-05-20 10:00", properties={"next_contact": "2024-06-30"})],
            date(2024, 6, 30),
        ),
        # ... unless a later contact did not repeat it
        (
            [
                reg(contact_frequency_days=10),
                upd("c1", "2024-05-20 10:00", properties={"next_contact": "2024-06-30"}),
                upd("c2", "2024-05-25 10:00", base=2),
            ],
            date(2024, 6, 4),
        ),
    ],
)
def test_next_contact_due(updates: list[CaseUpdate], expected_due: date) -> None:
    assert build(updates).next_contact_due == expected_due


def test_later_value_wins_and_remembers_its_submission() -> None:
    state = build([reg(), upd("c1", "2024-05-02 10:00", properties={"risk_level": "high"})])
    assert state.risk_level == "high"
    assert state.provenance["risk_level"] == {
        "value": "high",
        "instance_id": "c1",
        "user": "amina",
        "at": "2024-05-02T10:00:00+00:00",
    }


def test_close_by_submission_and_reopen_by_supervisor() -> None:
    closed = build([reg(), upd("c1", "2024-05-02 10:00", close=True)])
    assert (closed.status, closed.closed_at, closed.next_contact_due) == (
        "closed",
        at("2024-05-02 10:00"),
        None,
    )
    reopened = build(
        [reg(), upd("c1", "2024-05-02 10:00", close=True)], [act(1, "reopen", "2024-05-03 08:00")]
    )
    assert reopened.status == "open"
    assert reopened.closed_at is None


def test_caseworker_from_registration_then_reassign() -> None:
    assert build([reg()]).caseworker == "amina"
    state = build([reg()], [act(1, "reassign", "2024-05-05 08:00", username="bo")])
    assert state.caseworker == "bo"


def test_items_merge_by_id_and_overdue_ignores_done() -> None:
    first = ItemUpdate("need", "n1", title="School", due=date(2024, 6, 1), owner="amina")
    later = ItemUpdate("need", "n1", status="done")
    other = ItemUpdate("service", "s1", title="Cash", due=date(2024, 6, 15))
    state = build(
        [
            replace(reg(), items=(first, other)),
            upd("c1", "2024-05-10 10:00", items=(later,)),
        ]
    )
    items = {i.item_id: i for i in state.items}
    assert (items["n1"].title, items["n1"].owner, items["n1"].status) == ("School", "amina", "done")
    assert items["n1"].is_done
    assert not items["n1"].is_overdue
    assert state.overdue_items == ("s1",)


def test_review_due_from_last_review_or_role() -> None:
    assert build([reg()]).review_due == date(2024, 5, 1) + timedelta(days=90)
    conf = upd(
        "k1", "2024-06-01 10:00", form_id="case_conference", is_contact=False, is_review=True
    )
    assert build([reg(), conf]).review_due == date(2024, 8, 30)
    assert build([reg(review_due="2024-06-15")]).review_due == date(2024, 6, 15)


def test_same_base_version_different_values_is_a_conflict() -> None:
    a = upd("a", "2024-05-02 10:00", base=1, properties={"risk_level": "high"})
    b = upd("b", "2024-05-03 10:00", base=1, properties={"risk_level": "low"})
    state = build([reg(), a, b])
    (conflict,) = state.conflicts
    assert conflict.key == "risk_level@1"
    assert [c["value"] for c in conflict.candidates] == ["high", "low"]
    assert state.risk_level == "low"
    assert state.in_conflict == ("risk_level",)


@pytest.mark.parametrize(
    ("a_props", "b_props", "b_base"),
    [
        ({"risk_level": "high"}, {"risk_level": "high"}, 1),  # same value: agreement
        ({"risk_level": "high"}, {"risk_level": "low"}, 2),  # b saw a's result: sequential
        ({"risk_level": "high"}, {"summary": "x"}, 1),  # different fields: parallel, no clash
    ],
)
def test_no_conflict(a_props: dict[str, Any], b_props: dict[str, Any], b_base: int) -> None:
    a = upd("a", "2024-05-02 10:00", base=1, properties=a_props)
    b = upd("b", "2024-05-03 10:00", base=b_base, properties=b_props)
    assert build([reg(), a, b]).conflicts == ()


def test_resolution_sets_value_until_a_later_update() -> None:
    a = upd("a", "2024-05-02 10:00", base=1, properties={"risk_level": "high"})
    b = upd("b", "2024-05-03 10:00", base=1, properties={"risk_level": "low"})
    resolve = act(7, "resolve", "2024-05-04 08:00", conflict_key="risk_level@1", value="high")
    state = build([reg(), a, b], [resolve])
    assert state.risk_level == "high"
    assert state.in_conflict == ()
    assert state.conflicts[0].is_resolved
    assert state.conflicts[0].resolved_by == "sup"
    later = upd("c", "2024-05-05 10:00", base=3, properties={"risk_level": "medium"})
    assert build([reg(), a, b, later], [resolve]).risk_level == "medium"


def test_conflicting_item_fields() -> None:
    a = upd("a", "2024-05-02 10:00", items=(ItemUpdate("need", "n1", status="done"),))
    b = upd("b", "2024-05-03 10:00", items=(ItemUpdate("need", "n1", status="cancelled"),))
    assert [c.key for c in build([reg(), a, b]).conflicts] == ["item:n1:status@1"]


# --- order independence -------------------------------------------------------------------


def _scenario() -> list[CaseUpdate]:
    """One case's submissions, mapped from real forms."""
    received = at("2024-06-30 12:00")
    out = []

    def add(definition: Any, *args: Any, **kwargs: Any) -> None:
        update = map_submission(
            definition, envelope(*args, **kwargs), submitter="amina", received_at=received
        )
        assert update is not None
        out.append(update)

    need = {"need_key": "school", "need_title": "School", "need_due": "2024-06-01"}
    add(
        forms.plan_def(),
        "case_plan",
        "uuid:reg",
        {"ref": "CP-1", "risk": "medium", "freq": "7", "plan_date": "2024-05-01"},
        entity_id=ENTITY,
        create=True,
        repeats={"needs": [need]},
    )
    add(
        forms.plan_def(),
        "case_plan",
        "uuid:rev",
        {"ref": "CP-1", "risk": "high", "plan_date": "2024-05-10"},
        entity_id=ENTITY,
        base_version=1,
        repeats={
            "needs": [{**need, "need_status": "delivered"}],
            "services": [{"svc_id": "s-9", "svc_title": "Cash"}],
        },
    )
    for i, day in enumerate(("05-12", "05-20", "06-02")):
        add(
            forms.contact_def(),
            "contact_log",
            f"uuid:c{i}",
            {"ref": "CP-1", "mode": "visit", "end": f"2024-{day}T10:00:00Z"},
            entity_id=ENTITY,
            base_version=2 + i,
        )
    add(
        forms.conference_def(),
        "case_conference",
        "uuid:conf",
        {"ref": "CP-1", "held_on": "2024-05-25", "platform": "phone"},
        entity_id=ENTITY,
        base_version=3,
        repeats={
            "decisions": [{"decision_key": "d1", "decision": "Refer", "by_when": "2024-06-10"}]
        },
    )
    # two caseworkers offline, both from version 4, disagreeing on the risk
    add(
        forms.contact_def(),
        "contact_log",
        "uuid:x1",
        {"ref": "CP-1", "risk": "low", "mode": "phone", "end": "2024-06-05T10:00:00Z"},
        entity_id=ENTITY,
        base_version=4,
    )
    add(
        forms.contact_def(),
        "contact_log",
        "uuid:x2",
        {
            "ref": "CP-1",
            "risk": "medium",
            "mode": "visit",
            "next_visit": "2024-07-20",
            "end": "2024-06-05T10:00:00Z",
        },
        entity_id=ENTITY,
        base_version=4,
    )
    return out


SCENARIO = _scenario()
ACTIONS = [
    act(1, "reassign", "2024-05-15 09:00", username="bo"),
    act(2, "resolve", "2024-06-06 09:00", conflict_key="risk_level@4", value="low"),
]


def test_scenario_baseline() -> None:
    state = build(SCENARIO, ACTIONS)
    assert state.caseworker == "bo"
    assert state.risk_level == "low"
    resolved = {c.key: c.is_resolved for c in state.conflicts}
    assert resolved == {"last_contact_mode@4": False, "risk_level@4": True}
    # unresolved: the latest by (event time, instance id) stands, flagged
    assert state.properties["last_contact_mode"] == "visit"
    assert state.in_conflict == ("last_contact_mode",)
    assert state.next_contact_due == date(2024, 7, 20)
    assert {i.kind for i in state.items} == {"need", "service", "decision"}


@settings(max_examples=200, deadline=None)
@given(
    st.permutations(SCENARIO),
    st.lists(st.sampled_from(SCENARIO), max_size=5),
    st.permutations(ACTIONS),
    st.integers(min_value=0, max_value=len(SCENARIO)),
)
def test_any_order_with_resends_gives_the_same_case(
    order: list[CaseUpdate], resends: list[CaseUpdate], actions: list[ActionRecord], cut: int
) -> None:
    mixed = order[:cut] + resends + order[cut:]
    assert build(mixed, actions + actions[:1]) == build(SCENARIO, ACTIONS)

"""build_case: folding a case's contributions. Pure and table-driven, plus a property test
that the result does not depend on arrival order or resends."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.cases.mapping import CaseUpdate, ItemUpdate, item_id_for, map_submission
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
            [reg(), upd("c1", "2024-05-20 10:00", properties={"next_contact_date": "2024-06-30"})],
            date(2024, 6, 30),
        ),
        # ... unless a later contact did not repeat it
        (
            [
                reg(contact_frequency_days=10),
                upd("c1", "2024-05-20 10:00", properties={"next_contact_date": "2024-06-30"}),
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
    assert build([reg(review_date="2024-06-15")]).review_due == date(2024, 6, 15)


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


# --- what counts as a change ----------------------------------------------------------------


@pytest.mark.parametrize("keeper_at", ["2024-05-02 10:00", "2024-05-04 10:00"])
def test_repeating_the_base_value_is_no_change(keeper_at: str) -> None:
    """Both from version 1 (risk medium): one keeps it, one raises it. No conflict, and the
    raise stands even when the keeper's contact came later."""
    keep = upd("keep", keeper_at, properties={"risk_level": "medium"})
    rise = upd("rise", "2024-05-03 10:00", submitter="bo", properties={"risk_level": "high"})
    state = build([reg(), keep, rise])
    assert state.conflicts == ()
    assert state.risk_level == "high"
    assert state.provenance["risk_level"]["instance_id"] == "rise"


def test_the_same_change_twice_is_no_conflict() -> None:
    a = upd("a", "2024-05-02 10:00", properties={"risk_level": "high"})
    b = upd("b", "2024-05-03 10:00", properties={"risk_level": "high"})
    state = build([reg(), a, b])
    assert state.conflicts == ()
    assert state.provenance["risk_level"]["instance_id"] == "b"


def test_event_fields_go_to_the_latest_event_and_never_conflict() -> None:
    a = upd(
        "a",
        "2024-05-02 10:00",
        properties={"last_contact_mode": "phone", "next_contact_date": "2024-05-20"},
        event_fields=("last_contact_mode", "next_contact_date"),
    )
    b = upd(
        "b",
        "2024-05-03 10:00",
        properties={"last_contact_mode": "visit", "next_contact_date": "2024-05-10"},
        event_fields=("last_contact_mode", "next_contact_date"),
    )
    state = build([reg(last_contact_mode="visit"), a, b])
    assert state.conflicts == ()
    assert state.properties["last_contact_mode"] == "visit"
    # an event repeats the base value and still counts: it is this contact's
    assert state.provenance["last_contact_mode"]["instance_id"] == "b"
    assert state.next_contact_due == date(2024, 5, 10)


def test_the_base_is_the_case_the_phone_could_have_seen() -> None:
    """Version 2 holds c1's change (it started from version 1); c2 and c3 both started from
    version 2, where the risk was already high."""
    c1 = upd("c1", "2024-05-02 10:00", base=1, properties={"risk_level": "high"})
    c2 = upd("c2", "2024-05-05 10:00", base=2, properties={"risk_level": "high"})
    c3 = upd("c3", "2024-05-04 10:00", base=2, properties={"risk_level": "low"})
    state = build([reg(), c1, c2, c3])
    assert state.conflicts == ()  # c2 confirmed what it saw; only c3 changed it
    assert state.risk_level == "low"
    c4 = upd("c4", "2024-05-05 10:00", base=2, properties={"risk_level": "medium"})
    (conflict,) = build([reg(), c1, c3, c4]).conflicts
    assert (conflict.key, [c["value"] for c in conflict.candidates]) == (
        "risk_level@2",
        ["low", "medium"],
    )


def test_item_fields_repeated_from_the_base_change_nothing() -> None:
    made = ItemUpdate("service", "s1", title="Clinic", owner="MoH", status="referred")
    same = ItemUpdate("service", "s1", status="referred", owner="MoH", is_explicit_id=True)
    done = ItemUpdate("service", "s1", status="delivered", is_explicit_id=True)
    state = build(
        [
            replace(reg(), items=(made,)),
            upd("a", "2024-05-04 10:00", items=(same,)),
            upd("b", "2024-05-03 10:00", items=(done,)),
        ]
    )
    assert state.conflicts == ()
    (item,) = state.items
    assert (item.status, item.provenance["status"]["instance_id"]) == ("delivered", "b")
    assert item.provenance["owner"]["instance_id"] == "uuid:reg"


def test_an_item_keeps_the_kind_it_was_made_with() -> None:
    made = ItemUpdate("need", "n1", key="school", title="School")
    picked = ItemUpdate("", "n1", status="done", is_explicit_id=True)  # "existing" repeat
    # even when the update naming it by id is folded first
    early = upd("e", "2024-04-30 10:00", base=None, items=(picked,))
    for updates in ([replace(reg(), items=(made,)), early], [early, replace(reg(), items=(made,))]):
        (item,) = build(updates).items
        assert (item.kind, item.key, item.status) == ("need", "school", "done")


def test_dates_past_the_end_of_the_calendar_do_not_break_the_fold() -> None:
    last = upd("z", "9999-12-31 22:00", properties={"contact_frequency_days": 7})
    state = build([reg(), last])
    assert state.next_contact_due is None
    assert state.contact_frequency_days == 7


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
    # a supervisor's revision from version 3 moves the need on by picking it
    add(
        forms.plan_def(),
        "case_plan",
        "uuid:rev2",
        {"ref": "CP-1", "risk": "high", "plan_date": "2024-05-26"},
        entity_id=ENTITY,
        base_version=3,
        repeats={"existing": [{"ex_id": NEED, "ex_status": "done"}]},
    )
    # two caseworkers offline, both from version 4, disagreeing on the risk; a third only
    # confirms the risk it saw (high) and so takes no side
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
    add(
        forms.contact_def(),
        "contact_log",
        "uuid:x3",
        {"ref": "CP-1", "risk": "high", "mode": "phone", "end": "2024-06-07T10:00:00Z"},
        entity_id=ENTITY,
        base_version=4,
    )
    return out


NEED = item_id_for("CP-1", "need", "school")
SCENARIO = _scenario()
ACTIONS = [
    act(1, "reassign", "2024-05-15 09:00", username="bo"),
    act(2, "resolve", "2024-06-06 09:00", conflict_key="risk_level@4", value="low"),
]


def test_scenario_baseline() -> None:
    state = build(SCENARIO, ACTIONS)
    assert state.caseworker == "bo"
    assert state.risk_level == "low"
    # only the risk, which x1 and x2 both changed from what version 4 held; how each
    # contact took place is that contact's own
    resolved = {c.key: c.is_resolved for c in state.conflicts}
    assert resolved == {"risk_level@4": True}
    (conflict,) = state.conflicts
    assert [c["instance_id"] for c in conflict.candidates] == ["uuid:x1", "uuid:x2"]
    assert state.properties["last_contact_mode"] == "phone"  # x3, the latest contact
    assert state.in_conflict == ()
    # x3 set no date and came after x2: the plan's frequency from x3 on
    assert state.next_contact_due == date(2024, 6, 14)
    assert {i.kind for i in state.items} == {"need", "service", "decision"}
    need = next(i for i in state.items if i.item_id == NEED)
    assert (need.kind, need.key, need.status) == ("need", "school", "done")


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


@st.composite
def _concurrent_updates(draw: st.DrawFn) -> list[CaseUpdate]:
    """A registration, then contacts from versions 1 to 3 (several from the same one), at
    times that may tie, setting a risk, an event field and an item's status."""
    out = [replace(reg(), items=(ItemUpdate("need", "n1", title="School"),))]
    for i in range(draw(st.integers(min_value=1, max_value=6))):
        properties: dict[str, Any] = {}
        if draw(st.booleans()):
            properties["risk_level"] = draw(st.sampled_from(["low", "medium", "high"]))
        if draw(st.booleans()):
            properties["last_contact_mode"] = draw(st.sampled_from(["phone", "visit"]))
        items: tuple[ItemUpdate, ...] = ()
        if draw(st.booleans()):
            status = draw(st.sampled_from(["planned", "done", "cancelled"]))
            items = (ItemUpdate("need", "n1", status=status, is_explicit_id=True),)
        out.append(
            upd(
                f"u{i}",
                draw(st.sampled_from(["2024-05-02 10:00", "2024-05-03 10:00", "2024-05-04 10:00"])),
                base=draw(st.integers(min_value=1, max_value=3)),
                properties=properties,
                items=items,
                event_fields=("last_contact_mode",),
            )
        )
    return out


@settings(max_examples=300, deadline=None)
@given(_concurrent_updates(), st.randoms(use_true_random=False))
def test_conflicts_are_changes_from_one_version_and_do_not_depend_on_order(
    updates: list[CaseUpdate], rng: Any
) -> None:
    state = build(updates)
    shuffled = list(updates)
    rng.shuffle(shuffled)
    assert build(shuffled) == state
    by_id = {u.instance_id: u for u in updates}
    for conflict in state.conflicts:
        assert conflict.field != "last_contact_mode"  # an event field never conflicts
        authors = [by_id[c["instance_id"]] for c in conflict.candidates]
        assert {u.base_version for u in authors} == {conflict.base_version}
        assert len({str(c["value"]) for c in conflict.candidates}) > 1
        earlier = [
            u
            for u in updates
            if u.base_version is not None and u.base_version < conflict.base_version
        ]
        if conflict.field == "risk_level" and all(
            u.properties.get("risk_level") in (None, "medium") for u in earlier
        ):
            # the case held "medium" at that version: repeating it takes no side
            assert "medium" not in {c["value"] for c in conflict.candidates}
    if all(u.properties.get("risk_level") in (None, "medium") for u in updates):
        assert state.risk_level == "medium"
        assert state.provenance["risk_level"]["instance_id"] == "uuid:reg"

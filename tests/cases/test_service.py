"""Applying submissions and supervisor decisions, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from server import intake
from server.auth.models import User
from server.cases import case_file, dashboard, decisions, device_lists, queries, rebuild
from server.cases.models import Case, CaseConflict, CaseContribution, PlanItem
from server.cases.scope import case_scope_clause
from server.errors import AppError
from tests.cases import forms
from tests.cases.conftest import World
from tests.cases.forms import at, envelope_xml

E1 = "11111111-1111-4111-8111-111111111111"
E2 = "22222222-2222-4222-8222-222222222222"
E3 = "33333333-3333-4333-8333-333333333333"


def registration(iid: str, ref: str, entity: str, day: str, **fields: object) -> bytes:
    values: dict[str, object] = {"ref": ref, "risk": "medium", "freq": "7", "plan_date": day}
    values.update(fields)
    return envelope_xml(
        "case_plan",
        iid,
        values,
        entity_id=entity,
        create=True,
        repeats={
            "needs": [{"need_key": "school", "need_title": "School", "need_due": "2024-06-01"}]
        },
    )


def contact(iid: str, ref: str, entity: str, when: str, base: int = 1, **fields: object) -> bytes:
    values: dict[str, object] = {"case": entity, "ref": ref, "mode": "visit", "end": when}
    values.update(fields)
    return envelope_xml("contact_log", iid, values, entity_id=entity, base_version=base)


def case(session: Session, ref: str) -> Case:
    found = queries.get_case_by_ref(session, ref)
    assert found is not None
    return found


def states(session: Session) -> dict[str, str]:
    rows = session.execute(select(CaseContribution.update, CaseContribution.state)).all()
    return {u["instance_id"]: s for u, s in rows}


def test_registration_creates_the_case(world: World, session: Session) -> None:
    amina = world.user("amina")
    _, result = world.submit(
        forms.CASE_PLAN, registration("r1", "CP-1", E1, "2024-05-01"), amina, at("2024-05-01 12:00")
    )
    assert result.state == "applied"
    c = case(session, "CP-1")
    assert (c.entity_id, c.caseworker_id, c.risk_level, c.version) == (E1, amina.id, "medium", 1)
    assert c.next_contact_due == date(2024, 5, 8)
    assert [p.kind for p in queries.list_plan_items(session, c.id)] == ["need"]


def test_caseworker_answer_must_name_an_active_user(world: World, session: Session) -> None:
    amina, bo = world.user("amina"), world.user("bo")
    world.submit(
        forms.CASE_PLAN,
        registration("r1", "CP-1", E1, "2024-05-01", caseworker="bo"),
        amina,
        at("2024-05-01 12:00"),
    )
    world.submit(
        forms.CASE_PLAN,
        registration("r2", "CP-2", E2, "2024-05-01", caseworker="nobody"),
        amina,
        at("2024-05-01 12:00"),
    )
    assert case(session, "CP-1").caseworker_id == bo.id
    assert case(session, "CP-2").caseworker_id == amina.id


def test_contact_before_registration_waits_then_links(world: World, session: Session) -> None:
    amina = world.user("amina")
    _, early = world.submit(
        forms.CONTACT_LOG,
        contact("c1", "CP-1", E1, "2024-05-03T10:00:00Z"),
        amina,
        at("2024-05-03 12:00"),
    )
    assert early.state == "unlinked"
    assert queries.get_case_by_ref(session, "CP-1") is None
    admin = world.user("boss", "admin", team=None)
    assert len(session.execute(queries.list_unlinked(admin)).all()) == 1

    world.submit(
        forms.CASE_PLAN, registration("r1", "CP-1", E1, "2024-05-01"), amina, at("2024-05-04 12:00")
    )
    assert states(session) == {"c1": "applied", "r1": "applied"}
    c = case(session, "CP-1")
    assert c.last_contact_at == at("2024-05-03 10:00")
    assert c.next_contact_due == date(2024, 5, 10)


def test_follow_up_found_by_entity_id_when_ref_is_blank(world: World, session: Session) -> None:
    amina = world.user("amina")
    world.submit(
        forms.CASE_PLAN, registration("r1", "CP-1", E1, "2024-05-01"), amina, at("2024-05-01 12:00")
    )
    _, result = world.submit(
        forms.CONTACT_LOG,
        contact("c1", "", E1, "2024-05-03T10:00:00Z"),
        amina,
        at("2024-05-03 12:00"),
    )
    assert (result.state, result.case_ref) == ("applied", "CP-1")


def test_second_registration_under_one_ref_is_a_duplicate(world: World, session: Session) -> None:
    amina, sup = world.user("amina"), world.user("sup", "supervisor")
    world.submit(
        forms.CASE_PLAN, registration("r1", "CP-1", E1, "2024-05-01"), amina, at("2024-05-01 12:00")
    )
    _, dup = world.submit(
        forms.CASE_PLAN,
        registration("r2", "CP-1", E2, "2024-04-30", risk="high"),
        amina,
        at("2024-05-02 12:00"),
    )
    _, follow = world.submit(
        forms.CONTACT_LOG,
        contact("c2", "CP-1", E2, "2024-05-03T10:00:00Z"),
        amina,
        at("2024-05-03 12:00"),
    )
    assert (dup.state, follow.state) == ("duplicate", "duplicate")
    c = case(session, "CP-1")
    assert (c.entity_id, c.risk_level, c.version) == (E1, "medium", 1)

    decisions.register_duplicate_as_new(session, "r2", "CP-2", sup)
    session.commit()
    new = case(session, "CP-2")
    assert (new.entity_id, new.risk_level, new.last_contact_at) == (
        E2,
        "high",
        at("2024-05-03 10:00"),
    )
    assert states(session) == {"r1": "applied", "r2": "applied", "c2": "applied"}


def test_duplicate_merged_into_the_existing_case(world: World, session: Session) -> None:
    amina, sup = world.user("amina"), world.user("sup", "supervisor")
    world.submit(
        forms.CASE_PLAN, registration("r1", "CP-1", E1, "2024-05-01"), amina, at("2024-05-01 12:00")
    )
    world.submit(
        forms.CASE_PLAN,
        registration("r2", "CP-1", E2, "2024-05-02", risk="high"),
        amina,
        at("2024-05-02 12:00"),
    )
    with pytest.raises(AppError) as err:
        decisions.merge_duplicate(session, "r2", amina, reason="same child")
    assert err.value.code == "auth.forbidden"
    result = decisions.merge_duplicate(session, "r2", sup, reason="same child")
    session.commit()
    c = case(session, "CP-1")
    assert (c.entity_id, c.risk_level, result.version) == (E1, "high", 2)
    # re-running the merged submission keeps the supervisor's decision
    intake.reprocess(session, "r2")
    session.commit()
    assert states(session)["r2"] == "applied"
    assert case(session, "CP-1").version == 2


def test_edit_supersedes_the_earlier_version(world: World, session: Session) -> None:
    amina = world.user("amina")
    world.submit(
        forms.CASE_PLAN, registration("r1", "CP-1", E1, "2024-05-01"), amina, at("2024-05-01 12:00")
    )
    edit = registration("r1b", "CP-1", E1, "2024-05-01", risk="high")
    edit = edit.replace(
        b"<instanceID>r1b</instanceID>",
        b"<instanceID>r1b</instanceID><deprecatedID>r1</deprecatedID>",
    )
    _, result = world.submit(forms.CASE_PLAN, edit, amina, at("2024-05-02 12:00"))
    assert result.state == "applied"
    assert states(session) == {"r1": "superseded", "r1b": "applied"}
    c = case(session, "CP-1")
    assert (c.risk_level, c.version, c.provenance["risk_level"]["instance_id"]) == (
        "high",
        2,
        "r1b",
    )


def test_parallel_offline_edits_conflict_until_resolved(world: World, session: Session) -> None:
    amina, sup = world.user("amina"), world.user("sup", "supervisor")
    bo = world.user("bo", "supervisor")  # a follow-up changes a case only in its author's scope
    world.submit(
        forms.CASE_PLAN, registration("r1", "CP-1", E1, "2024-05-01"), amina, at("2024-05-01 12:00")
    )
    world.submit(
        forms.CONTACT_LOG,
        contact("a", "CP-1", E1, "2024-05-05T10:00:00Z", risk="high"),
        bo,
        at("2024-05-06 12:00"),
    )
    world.submit(
        forms.CONTACT_LOG,
        contact("b", "CP-1", E1, "2024-05-04T10:00:00Z", risk="low"),
        amina,
        at("2024-05-07 12:00"),
    )
    c = case(session, "CP-1")
    (conflict,) = queries.list_conflicts(session, c.id)
    assert (conflict.conflict_key, c.risk_level, c.open_conflicts) == ("risk_level@1", "high", 1)
    assert {x["value"] for x in conflict.candidates} == {"high", "low"}

    with pytest.raises(AppError) as err:
        decisions.resolve_conflict(session, "CP-1", conflict.id, "medium", sup)
    assert err.value.code == "case.bad_value"
    decisions.resolve_conflict(session, "CP-1", conflict.id, "low", sup)
    session.commit()
    c = case(session, "CP-1")
    assert (c.risk_level, c.open_conflicts) == ("low", 0)
    version = c.version
    # rebuilding again keeps the resolution and changes nothing
    assert not rebuild.rebuild(session, "CP-1").changed
    session.commit()
    row = session.scalars(select(CaseConflict)).one()
    assert (row.resolved_value, row.resolved_by_id) == ("low", sup.id)
    assert case(session, "CP-1").version == version


def test_failed_merge_is_recorded_and_reprocess_is_idempotent(
    world: World, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    amina = world.user("amina")

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("merge exploded")

    with monkeypatch.context() as m:
        m.setattr(rebuild, "build_case", broken)
        sub, result = world.submit(
            forms.CASE_PLAN,
            registration("r1", "CP-1", E1, "2024-05-01"),
            amina,
            at("2024-05-01 12:00"),
        )
    assert result.state == "failed"
    session.refresh(sub)
    assert (sub.processing_state, sub.processing_error) == (
        "failed",
        "RuntimeError: merge exploded",
    )
    assert queries.get_case_by_ref(session, "CP-1") is None
    assert session.scalars(select(CaseContribution)).all() == []

    (again,) = intake.reprocess(session)
    session.commit()
    assert again.state == "applied"
    assert sub.processing_state == "applied"
    before = case(session, "CP-1").version
    intake.reprocess(session, "r1")
    session.commit()
    assert intake.reprocess(session) == []  # nothing failed any more
    assert case(session, "CP-1").version == before
    assert len(session.scalars(select(PlanItem)).all()) == 1


def test_form_without_case_roles_is_skipped(world: World, session: Session) -> None:
    sub, result = world.submit(
        forms.NO_CASE, envelope_xml("feedback", "f1", {"note": "hi"}), None, at("2024-05-01 12:00")
    )
    assert result.state == "skipped"
    assert sub.processing_state == "skipped"


def test_supervisor_actions(world: World, session: Session) -> None:
    amina, bo = world.user("amina"), world.user("bo")
    sup = world.user("sup", "supervisor")
    world.submit(
        forms.CASE_PLAN, registration("r1", "CP-1", E1, "2024-05-01"), amina, at("2024-05-01 12:00")
    )
    _, typo = world.submit(
        forms.CONTACT_LOG,
        contact("c1", "CP-l", E1, "2024-05-03T10:00:00Z"),
        amina,
        at("2024-05-03 12:00"),
    )
    assert typo.state == "unlinked"
    decisions.link_unlinked(session, "c1", "CP-1", sup)
    with pytest.raises(AppError) as err:
        decisions.link_unlinked(session, "c1", "CP-1", sup)
    assert err.value.code == "case.not_unlinked"
    assert case(session, "CP-1").last_contact_at == at("2024-05-03 10:00")

    decisions.reassign(session, "CP-1", "bo", sup, reason="caseload")
    assert case(session, "CP-1").caseworker_id == bo.id
    with pytest.raises(AppError):
        decisions.reassign(session, "CP-1", "ghost", sup, reason="caseload")
    decisions.close_case(session, "CP-1", sup, reason="goals met")
    assert case(session, "CP-1").status == "closed"
    decisions.reopen_case(session, "CP-1", sup, reason="new concern")
    session.commit()
    c = case(session, "CP-1")
    assert (c.status, c.closed_at) == ("open", None)
    detail = case_file.get_case_detail(session, "CP-1", sup)
    assert [a.kind for a in detail.actions] == ["link_submission", "reassign", "close", "reopen"]
    assert [t.instance_id for t in detail.timeline] == ["r1", "c1"]


def test_scope_per_role(world: World, session: Session) -> None:
    amina, bo = world.user("amina"), world.user("bo")
    carl = world.user("carl", team="south")
    sup = world.user("sup", "supervisor", team="north")
    admin = world.user("admin", "admin", team=None)
    designer = world.user("des", "designer")
    for i, (who, entity) in enumerate(((amina, E1), (bo, E2), (carl, E3))):
        world.submit(
            forms.CASE_PLAN,
            registration(f"r{i}", f"CP-{i}", entity, "2024-05-01"),
            who,
            at("2024-05-01 12:00"),
        )

    def refs(user: User) -> set[str]:
        return {c.case_ref for c in session.scalars(select(Case).where(case_scope_clause(user)))}

    assert refs(amina) == {"CP-0"}
    assert refs(sup) == {"CP-0", "CP-1"}
    assert refs(admin) == {"CP-0", "CP-1", "CP-2"}
    assert refs(designer) == set()
    with pytest.raises(AppError) as err:
        case_file.get_case_detail(session, "CP-1", amina)
    assert err.value.code == "case.not_found"
    listed = session.execute(queries.list_cases(sup, caseworker="bo")).all()
    assert [(c.case_ref, name) for c, name in listed] == [("CP-1", "bo")]
    board = dashboard.dashboard_counts(session, sup, date(2024, 6, 10))
    assert board.open_cases_by_caseworker == {"amina": 1, "bo": 1}
    assert board.contacts_overdue == 2
    assert board.overdue_items_by_kind == {"need": 2}
    # an admin's counts come another way (every case): the same items, and carl's too
    everyone = dashboard.dashboard_counts(session, admin, date(2024, 6, 10))
    assert everyone.open_cases_by_caseworker == {"amina": 1, "bo": 1, "carl": 1}
    assert everyone.overdue_items_by_kind == {"need": 3}
    # the admin's list of overdue items stops at the n-th one's due date, in due order
    until = dashboard.nth_overdue_due_date(session, date(2024, 6, 10), 2)
    listed = session.execute(
        queries.list_overdue_items(admin, date(2024, 6, 10), due_until=until)
    ).all()
    assert 2 <= len(listed) <= 3
    assert [i.due_date for i, _ in listed] == sorted(i.due_date for i, _ in listed)


def _csv(session: Session, name: str, user: object) -> list[list[str]]:
    text = "".join(device_lists.stream_list(session, name, user))  # type: ignore[arg-type]
    return [line.split(",") for line in text.splitlines()]


def test_device_lists_per_user_and_hash(world: World, session: Session) -> None:
    amina, bo = world.user("amina"), world.user("bo")
    sup = world.user("sup", "supervisor")
    world.submit(
        forms.CASE_PLAN, registration("r1", "CP-1", E1, "2024-05-01"), amina, at("2024-05-01 12:00")
    )
    world.submit(
        forms.CASE_PLAN, registration("r2", "CP-2", E2, "2024-05-01"), bo, at("2024-05-01 12:00")
    )
    rows = _csv(session, "cases.csv", amina)
    assert rows == [
        [
            "name",
            "label",
            "__version",
            "case_ref",
            "risk_level",
            "caseworker",
            "next_contact_due",
            "status",
            "contact_frequency_days",
            "approval",
            "transfer",
        ],
        [E1, "CP-1 (medium)", "1", "CP-1", "medium", "amina", "2024-05-08", "open", "7", "", ""],
    ]
    assert {r[0] for r in _csv(session, "cases.csv", sup)[1:]} == {E1, E2}
    items = _csv(session, "plan_items.csv", amina)
    assert items[0] == [
        "name", "label", "case_ref", "kind", "status", "due", "key", "next_states", "referral_due"
    ]  # fmt: skip
    assert [r[2:] for r in items[1:]] == [["CP-1", "need", "open", "2024-06-01", "school", "", ""]]

    amina_hash = _list_md5(session, amina)
    bo_hash = _list_md5(session, bo)
    assert amina_hash == _list_md5(session, amina)
    world.submit(
        forms.CONTACT_LOG,
        contact("c1", "CP-1", E1, "2024-05-03T10:00:00Z", risk="high"),
        amina,
        at("2024-05-03 12:00"),
    )
    assert _list_md5(session, amina) != amina_hash
    assert _list_md5(session, bo) == bo_hash
    decisions.reassign(session, "CP-1", "bo", sup, reason="caseload")
    session.commit()
    assert _csv(session, "cases.csv", amina)[1:] == []
    assert _list_md5(session, bo) != bo_hash
    assert device_lists.entity_states(session, "cases", [E1, E2, E3], amina) == [
        (E1, True),  # was on her list and left it
        (E2, False),  # bo's: never sent to her, so answered as an unknown id is
        (E3, False),
    ]


def _list_md5(session: Session, user: User) -> str:
    """The MD5 of the cases.csv bytes this user's phone would download."""
    text = "".join(device_lists.stream_list(session, "cases.csv", user))
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()

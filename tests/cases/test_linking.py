"""How a submission is linked to a case and whether it may change it, on SQLite and
PostgreSQL: routing by entity id, the case scope of the submitter (decided once), who may
name the caseworker, edits, renumbering, and the version devices see after a move."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from server import intake
from server.auth import queries as auth_queries
from server.auth.models import User
from server.cases import case_file, decisions, device_lists, queries, rebuild, routing, scope
from server.cases.models import CaseContribution
from tests.cases import forms
from tests.cases.conftest import World
from tests.cases.forms import at, envelope_xml
from tests.cases.test_service import E1, E2, case, contact, registration


def revision(iid: str, ref: str, entity: str, day: str, base: int = 1, **fields: object) -> bytes:
    """A plan revision (the case plan in update mode) of an existing case."""
    values: dict[str, object] = {"ref": ref, "plan_date": day}
    values.update(fields)
    return envelope_xml("case_plan", iid, values, entity_id=entity, base_version=base)


def edit_of(xml: bytes, iid: str, new_iid: str) -> bytes:
    """The same submission as an edit of ``iid`` (Collect's deprecatedID)."""
    return xml.replace(
        f"<instanceID>{iid}</instanceID>".encode(),
        f"<instanceID>{new_iid}</instanceID><deprecatedID>{iid}</deprecatedID>".encode(),
    )


def contribution(session: Session, iid: str) -> CaseContribution:
    found = queries.get_contribution_by_instance_id(session, iid)
    assert found is not None
    return found


def caseworker_of(session: Session, ref: str) -> str | None:
    c = case(session, ref)
    return auth_queries.get_usernames(session, {c.caseworker_id}).get(c.caseworker_id or 0)


def users(world: World) -> dict[str, User]:
    made = {
        "amina": world.user("amina"),
        "bo": world.user("bo"),
        "carl": world.user("carl", team="south"),
        "sup": world.user("sup", "supervisor"),
        "sup_s": world.user("sup_s", "supervisor", team="south"),
        "adm": world.user("adm", "admin", team=None),
        "des": world.user("des", "designer"),
        "gone": world.user("gone"),
    }
    made["gone"].is_active = False
    world.session.commit()
    return made


def registered(world: World, who: User, ref: str = "CP-1", entity: str = E1, **fields: object):
    return world.submit(
        forms.CASE_PLAN,
        registration(f"r-{ref}-{entity[:2]}", ref, entity, "2024-05-01", **fields),
        who,
        at("2024-05-01 12:00"),
    )


def test_follow_up_applies_only_within_its_submitters_scope(world: World, session: Session) -> None:
    u = users(world)
    registered(world, u["amina"])
    outcomes = {}
    for i, who in enumerate(("carl", "bo", "sup_s", "des", "amina", "sup", "adm")):
        _, result = world.submit(
            forms.CONTACT_LOG,
            contact(f"c-{who}", "CP-1", E1, f"2024-05-0{2 + i % 7}T10:00:00Z", risk="high"),
            u[who],
            at("2024-05-09 12:00"),
        )
        outcomes[who] = (result.state, result.hold_reason)
    held = ("unlinked", "out_of_scope")
    assert outcomes == {
        "carl": held,  # a caseworker of another team
        "bo": held,  # a caseworker of the same team: caseworkers see only their own cases
        "sup_s": held,  # a supervisor of another team
        "des": held,
        "amina": ("applied", None),
        "sup": ("applied", None),  # the case is in the supervisor's team
        "adm": ("applied", None),
    }
    c = case(session, "CP-1")
    assert c.provenance["risk_level"]["instance_id"] == "c-adm"
    waiting = {
        (contribution.case_ref, contribution.hold_reason, submission.instance_id)
        for contribution, submission, _ in session.execute(queries.list_unlinked(u["adm"])).all()
    }
    assert waiting == {("CP-1", "out_of_scope", f"c-{w}") for w in ("carl", "bo", "sup_s", "des")}


def test_out_of_scope_revision_cannot_take_the_case(world: World, session: Session) -> None:
    u = users(world)
    registered(world, u["amina"])
    _, taken = world.submit(
        forms.CASE_PLAN,
        revision("rv", "CP-1", E1, "2024-05-03", caseworker="carl", risk="low"),
        u["carl"],
        at("2024-05-03 12:00"),
    )
    assert (taken.state, taken.hold_reason) == ("unlinked", "out_of_scope")
    c = case(session, "CP-1")
    assert (caseworker_of(session, "CP-1"), c.risk_level, c.version) == ("amina", "medium", 1)

    # Re-running it keeps the decision.
    (again,) = intake.reprocess(session, "rv")
    session.commit()
    assert (again.state, again.hold_reason) == ("unlinked", "out_of_scope")

    # A supervisor files it: it applies from then on, but a caseworker's revision never
    # moves the case to someone else.
    decisions.link_unlinked(session, "rv", "CP-1", u["adm"])  # carl is of another team
    session.commit()
    c = case(session, "CP-1")
    assert (contribution(session, "rv").state, contribution(session, "rv").hold_reason) == (
        "applied",
        None,
    )
    assert (caseworker_of(session, "CP-1"), c.risk_level) == ("amina", "low")
    (again,) = intake.reprocess(session, "rv")
    session.commit()
    assert again.state == "applied"
    assert case(session, "CP-1").risk_level == "low"


def test_scope_is_decided_once_and_kept_after_reassignment(world: World, session: Session) -> None:
    u = users(world)
    registered(world, u["amina"])
    world.submit(
        forms.CONTACT_LOG,
        contact("c1", "CP-1", E1, "2024-05-03T10:00:00Z", risk="high"),
        u["amina"],
        at("2024-05-03 12:00"),
    )
    decisions.reassign(session, "CP-1", "bo", u["sup"], reason="caseload")
    session.commit()
    # amina's earlier contact stays part of the case...
    c = case(session, "CP-1")
    assert (caseworker_of(session, "CP-1"), c.risk_level) == ("bo", "high")
    assert contribution(session, "c1").state == "applied"
    # ...when the case is rebuilt or the contact re-run...
    rebuild.rebuild(session, "CP-1")
    intake.reprocess(session, "c1")
    session.commit()
    assert (contribution(session, "c1").state, case(session, "CP-1").risk_level) == (
        "applied",
        "high",
    )
    # ...but her later one is out of her scope now, and bo's is in his.
    _, late = world.submit(
        forms.CONTACT_LOG,
        contact("c2", "CP-1", E1, "2024-05-05T10:00:00Z", risk="low"),
        u["amina"],
        at("2024-05-05 12:00"),
    )
    _, his = world.submit(
        forms.CONTACT_LOG,
        contact("c3", "CP-1", E1, "2024-05-06T10:00:00Z", mode="phone"),
        u["bo"],
        at("2024-05-06 12:00"),
    )
    assert (late.hold_reason, his.state) == ("out_of_scope", "applied")
    assert case(session, "CP-1").risk_level == "high"


def test_waiting_follow_up_is_decided_when_its_registration_arrives(
    world: World, session: Session
) -> None:
    u = users(world)
    for iid, who in (("c-amina", "amina"), ("c-carl", "carl")):
        _, early = world.submit(
            forms.CONTACT_LOG,
            contact(iid, "CP-1", E1, "2024-05-03T10:00:00Z", risk="high"),
            u[who],
            at("2024-05-03 12:00"),
        )
        assert (early.state, early.hold_reason) == ("unlinked", None)
    registered(world, u["amina"])
    assert (contribution(session, "c-amina").state, contribution(session, "c-carl").state) == (
        "applied",
        "unlinked",
    )
    assert contribution(session, "c-carl").hold_reason == "out_of_scope"
    c = case(session, "CP-1")
    assert (c.risk_level, c.version, caseworker_of(session, "CP-1")) == ("high", 1, "amina")


@pytest.mark.parametrize(
    ("submitter", "named", "registers", "expected"),
    [
        # a caseworker's registration: themselves, or an eligible member of their team
        ("amina", "", True, "amina"),
        ("amina", "bo", True, "bo"),
        ("amina", "sup", True, "sup"),
        ("amina", "carl", True, "amina"),  # another team
        ("amina", "sup_s", True, "amina"),
        ("amina", "des", True, "amina"),  # a designer never holds cases
        ("amina", "adm", True, "amina"),
        ("amina", "gone", True, "amina"),  # inactive
        ("amina", "nobody", True, "amina"),
        # a caseworker's revision never moves the case
        ("amina", "bo", False, "amina"),
        # a supervisor: an eligible member of their team
        ("sup", "bo", True, "bo"),
        ("sup", "carl", True, "sup"),
        ("sup", "bo", False, "bo"),
        ("sup", "sup", False, "sup"),
        ("sup", "carl", False, "amina"),
        ("sup", "des", False, "amina"),
        # an admin: anyone eligible
        ("adm", "carl", True, "carl"),
        ("adm", "sup_s", False, "sup_s"),
        ("adm", "des", False, "amina"),
        ("adm", "gone", False, "amina"),
        ("adm", "", True, None),  # an admin's own registration with nobody named: unassigned
        ("adm", "des", True, None),
    ],
)
def test_who_may_name_the_caseworker(
    world: World,
    session: Session,
    submitter: str,
    named: str,
    registers: bool,
    expected: str | None,
) -> None:
    u = users(world)
    if registers:
        registered(world, u[submitter], caseworker=named)
    else:
        registered(world, u["amina"])
        _, result = world.submit(
            forms.CASE_PLAN,
            revision("rv", "CP-1", E1, "2024-05-03", caseworker=named),
            u[submitter],
            at("2024-05-03 12:00"),
        )
        assert result.state == "applied"
    assert caseworker_of(session, "CP-1") == expected
    # the decision is stored on the contribution: a later rebuild reads the same
    u["bo"].team = "south"
    session.commit()
    rebuild.rebuild(session, "CP-1")
    session.commit()
    assert caseworker_of(session, "CP-1") == expected


def test_entity_id_routes_and_a_disagreeing_reference_is_held(
    world: World, session: Session
) -> None:
    u = users(world)
    registered(world, u["amina"], "CP-1", E1)
    registered(world, u["amina"], "CP-2", E2)
    sent = {
        "other-case": contact("x1", "CP-2", E1, "2024-05-03T10:00:00Z", risk="high"),
        "no-case": contact("x2", "CP-9", E1, "2024-05-03T11:00:00Z", risk="high"),
        "blank": contact("x3", "", E1, "2024-05-03T12:00:00Z", mode="phone"),
    }
    results = {
        name: world.submit(forms.CONTACT_LOG, xml, u["amina"], at("2024-05-04 12:00"))[1]
        for name, xml in sent.items()
    }
    assert {k: (r.state, r.case_ref, r.hold_reason) for k, r in results.items()} == {
        "other-case": ("unlinked", "CP-2", "ref_mismatch"),
        "no-case": ("unlinked", "CP-9", "ref_mismatch"),
        "blank": ("applied", "CP-1", None),
    }
    assert (case(session, "CP-1").risk_level, case(session, "CP-2").risk_level) == (
        "medium",
        "medium",
    )
    assert queries.get_case_by_ref(session, "CP-9") is None


def test_follow_up_of_an_unknown_entity_waits_and_follows_its_registration(
    world: World, session: Session
) -> None:
    u = users(world)
    registered(world, u["amina"], "CP-1", E1)
    _, early = world.submit(
        forms.CONTACT_LOG,
        contact("c2", "CP-1", E2, "2024-05-03T10:00:00Z", risk="high"),
        u["amina"],
        at("2024-05-03 12:00"),
    )
    assert (early.state, early.hold_reason) == ("unlinked", None)
    assert case(session, "CP-1").risk_level == "medium"
    # its registration turns out to be a second registration of CP-1
    registered(world, u["amina"], "CP-1", E2)
    assert contribution(session, "c2").state == "duplicate"


def test_first_registration_to_arrive_creates_the_case(world: World, session: Session) -> None:
    """Arrival order decides, on purpose: devices start using the first case's entity id at
    once, so a later registration of the number is the duplicate, even with an earlier
    device time."""
    u = users(world)
    later_on_device = registration("ra", "CP-1", E1, "2024-05-02", risk="low")
    earlier_on_device = registration("rb", "CP-1", E2, "2024-05-01", risk="high")
    world.submit(forms.CASE_PLAN, later_on_device, u["amina"], at("2024-05-03 12:00"))
    world.submit(forms.CASE_PLAN, earlier_on_device, u["bo"], at("2024-05-03 13:00"))
    c = case(session, "CP-1")
    assert (c.entity_id, c.risk_level, caseworker_of(session, "CP-1")) == (E1, "low", "amina")
    assert (contribution(session, "ra").state, contribution(session, "rb").state) == (
        "applied",
        "duplicate",
    )
    rebuild.rebuild(session, "CP-1")
    session.commit()
    assert (case(session, "CP-1").entity_id, contribution(session, "rb").state) == (
        E1,
        "duplicate",
    )


def test_registration_reusing_another_cases_entity_is_held(world: World, session: Session) -> None:
    u = users(world)
    registered(world, u["amina"], "CP-1", E1)
    _, result = world.submit(
        forms.CASE_PLAN,
        registration("r5", "CP-5", E1, "2024-05-02"),
        u["amina"],
        at("2024-05-02 12:00"),
    )
    assert (result.state, result.hold_reason) == ("unlinked", "ref_mismatch")
    assert queries.get_case_by_ref(session, "CP-5") is None
    assert case(session, "CP-1").version == 1


def test_held_edit_leaves_the_earlier_version_in_effect_until_filed(
    world: World, session: Session
) -> None:
    u = users(world)
    registered(world, u["amina"])
    original = contact("c1", "CP-1", E1, "2024-05-03T10:00:00Z", risk="high")
    world.submit(forms.CONTACT_LOG, original, u["amina"], at("2024-05-03 12:00"))
    decisions.reassign(
        session, "CP-1", "bo", u["sup"], reason="caseload"
    )  # amina may no longer see the case
    session.commit()
    edited = edit_of(contact("c1", "CP-1", E1, "2024-05-03T10:00:00Z", risk="low"), "c1", "c1-edit")
    _, result = world.submit(forms.CONTACT_LOG, edited, u["amina"], at("2024-05-04 12:00"))
    assert (result.state, result.hold_reason) == ("unlinked", "out_of_scope")
    assert (contribution(session, "c1").state, case(session, "CP-1").risk_level) == (
        "applied",
        "high",
    )
    decisions.link_unlinked(session, "c1-edit", "CP-1", u["adm"])
    session.commit()
    assert (contribution(session, "c1").state, contribution(session, "c1-edit").state) == (
        "superseded",
        "applied",
    )
    assert case(session, "CP-1").risk_level == "low"


def test_renumbering_the_registration_renames_the_case(world: World, session: Session) -> None:
    u = users(world)
    registered(world, u["amina"], "CP-TYPO", E1)
    world.submit(
        forms.CONTACT_LOG,
        contact("c1", "CP-TYPO", E1, "2024-05-03T10:00:00Z", risk="high"),
        u["amina"],
        at("2024-05-03 12:00"),
    )
    before = case(session, "CP-TYPO")
    case_id, version = before.id, before.version
    fixed = edit_of(
        registration("r-CP-TYPO-11", "CP-FIXED", E1, "2024-05-01"), "r-CP-TYPO-11", "r-fix"
    )
    _, result = world.submit(forms.CASE_PLAN, fixed, u["amina"], at("2024-05-04 12:00"))
    assert (result.state, result.case_ref) == ("applied", "CP-FIXED")
    assert queries.get_case_by_ref(session, "CP-TYPO") is None
    c = case(session, "CP-FIXED")
    assert (c.id, c.entity_id, c.risk_level) == (case_id, E1, "high")
    assert c.version > version
    assert c.properties["case_ref"] == "CP-FIXED"
    items = queries.list_plan_items(session, c.id)
    assert [i.title for i in items] == ["School"]
    assert {
        t.instance_id: t.state
        for t in case_file.get_case_detail(session, "CP-FIXED", u["sup"]).timeline
    } == {
        "r-fix": "applied",
        "c1": "applied",
    }
    assert contribution(session, "r-CP-TYPO-11").state == "superseded"
    kinds = [a.kind for a in case_file.get_case_detail(session, "CP-FIXED", u["sup"]).actions]
    assert kinds == ["rename"]
    # idempotent
    (again,) = intake.reprocess(session, "r-fix")
    session.commit()
    assert again.state == "applied"
    assert case(session, "CP-FIXED").version == c.version


def test_renumbering_to_a_taken_number_is_held(world: World, session: Session) -> None:
    u = users(world)
    registered(world, u["amina"], "CP-1", E1)
    registered(world, u["amina"], "CP-2", E2)
    fixed = edit_of(
        registration("r-CP-1-11", "CP-2", E1, "2024-05-01", risk="high"), "r-CP-1-11", "r-fix"
    )
    _, result = world.submit(forms.CASE_PLAN, fixed, u["amina"], at("2024-05-04 12:00"))
    assert (result.state, result.hold_reason) == ("unlinked", "ref_mismatch")
    c1, c2 = case(session, "CP-1"), case(session, "CP-2")
    assert (c1.entity_id, c1.version, c2.entity_id, c2.version) == (E1, 1, E2, 1)
    # the registration it edits stays in effect: the case keeps its plan
    assert contribution(session, "r-CP-1-11").state == "applied"
    assert [i.title for i in queries.list_plan_items(session, c1.id)] == ["School"]


def test_version_jumps_past_what_the_phone_holds_after_register_new(
    world: World, session: Session
) -> None:
    u = users(world)
    registered(world, u["amina"], "CP-1", E1)
    # bo registered the same number offline and kept working on his copy (versions 1..3)
    world.submit(
        forms.CASE_PLAN,
        registration("rb", "CP-1", E2, "2024-05-02"),
        u["bo"],
        at("2024-05-02 12:00"),
    )
    for base in (1, 2):
        world.submit(
            forms.CONTACT_LOG,
            contact(f"b{base}", "CP-1", E2, f"2024-05-0{3 + base}T10:00:00Z", base=base),
            u["bo"],
            at("2024-05-06 12:00"),
        )
    result = decisions.register_duplicate_as_new(session, "rb", "CP-2", u["sup"])
    session.commit()
    assert (result.version or 0) > 3
    assert case(session, "CP-2").version == result.version
    # his phone still has the old number: the next contact is held, not filed under CP-1
    _, stale = world.submit(
        forms.CONTACT_LOG,
        contact("b3", "CP-1", E2, "2024-05-07T10:00:00Z", base=3, risk="high"),
        u["bo"],
        at("2024-05-07 12:00"),
    )
    assert (stale.state, stale.hold_reason) == ("unlinked", "ref_mismatch")
    assert (case(session, "CP-1").risk_level, case(session, "CP-2").risk_level) == (
        "medium",
        "medium",
    )


def test_merge_moves_the_version_past_both_phones_and_retires_the_duplicate(
    world: World, session: Session
) -> None:
    u = users(world)
    registered(world, u["amina"], "CP-1", E1)
    world.submit(
        forms.CASE_PLAN,
        registration("rb", "CP-1", E2, "2024-05-02", risk="high"),
        u["bo"],
        at("2024-05-02 12:00"),
    )
    for base in (1, 2, 3):
        world.submit(
            forms.CONTACT_LOG,
            contact(f"b{base}", "CP-1", E2, f"2024-05-0{3 + base}T10:00:00Z", base=base),
            u["bo"],
            at("2024-05-07 12:00"),
        )
    assert device_lists.entity_states(session, "cases", [E2], u["bo"]) == [(E2, False)]
    result = decisions.merge_duplicate(session, "rb", u["sup"], reason="same child")
    session.commit()
    assert (result.version or 0) > 4
    assert case(session, "CP-1").risk_level == "high"
    # bo's phone is told its copy is gone; a contact it still sends goes to the merged case
    # (and waits there for a supervisor: the case is not bo's)
    assert device_lists.entity_states(session, "cases", [E2], u["bo"]) == [(E2, True)]
    _, late = world.submit(
        forms.CONTACT_LOG,
        contact("b4", "CP-1", E2, "2024-05-08T10:00:00Z", base=4, risk="low"),
        u["bo"],
        at("2024-05-08 12:00"),
    )
    assert (late.state, late.case_ref, late.hold_reason) == ("unlinked", "CP-1", "out_of_scope")
    assert contribution(session, "b4").entity_id == E1
    decisions.link_unlinked(session, "b4", "CP-1", u["sup"])
    session.commit()
    assert case(session, "CP-1").risk_level == "low"


def test_only_the_registration_and_its_edits_name_like_a_registration(
    world: World, session: Session
) -> None:
    u = users(world)
    registered(world, u["amina"])
    # a second registration of her own case's entity is read like a revision
    _, again = world.submit(
        forms.CASE_PLAN,
        registration("r-again", "CP-1", E1, "2024-05-02", caseworker="bo"),
        u["amina"],
        at("2024-05-02 12:00"),
    )
    assert again.state == "applied"
    assert caseworker_of(session, "CP-1") == "amina"
    # an edit of the registration has the registration's say
    fixed = edit_of(
        registration("r-CP-1-11", "CP-1", E1, "2024-05-01", caseworker="bo"),
        "r-CP-1-11",
        "r-edit",
    )
    _, edited = world.submit(forms.CASE_PLAN, fixed, u["amina"], at("2024-05-03 12:00"))
    assert edited.state == "applied"
    assert contribution(session, "r-CP-1-11").state == "superseded"
    assert caseworker_of(session, "CP-1") == "bo"


# --- the linking rules of the service's module docstring, one test each --------------------

E3 = "33333333-3333-4333-8333-333333333333"
E4 = "44444444-4444-4444-8444-444444444444"


def test_second_registration_of_the_cases_entity_is_held_out_of_scope(
    world: World, session: Session
) -> None:
    """Scope: a second registration of the case's own entity id is a contribution like any
    other, so one from a caseworker of another team waits for a supervisor."""
    u = users(world)
    registered(world, u["amina"])
    _, result = world.submit(
        forms.CASE_PLAN,
        registration("r-carl", "CP-1", E1, "2024-05-02", risk="high", caseworker="carl"),
        u["carl"],
        at("2024-05-02 12:00"),
    )
    assert (result.state, result.hold_reason) == ("unlinked", "out_of_scope")
    c = case(session, "CP-1")
    assert (c.risk_level, c.version, caseworker_of(session, "CP-1")) == ("medium", 1, "amina")


def test_held_contribution_stays_held_after_its_submitter_gains_scope(
    world: World, session: Session
) -> None:
    """Decided once, the held side: neither a rebuild nor a re-run applies it later."""
    u = users(world)
    registered(world, u["amina"])
    _, held = world.submit(
        forms.CONTACT_LOG,
        contact("c-carl", "CP-1", E1, "2024-05-03T10:00:00Z", risk="high"),
        u["carl"],
        at("2024-05-03 12:00"),
    )
    assert (held.state, held.hold_reason) == ("unlinked", "out_of_scope")
    decisions.reassign(session, "CP-1", "carl", u["adm"], reason="caseload")
    session.commit()
    assert scope.is_case_visible(session, u["carl"], case(session, "CP-1").id) is True

    def still_held() -> None:
        found = contribution(session, "c-carl")
        assert (found.state, found.hold_reason, found.case_id) == (
            "unlinked",
            "out_of_scope",
            None,
        )
        c = case(session, "CP-1")
        assert (c.risk_level, c.last_contact_at) == ("medium", None)

    still_held()
    rebuild.rebuild(session, "CP-1")
    session.commit()
    still_held()
    (again,) = intake.reprocess(session, "c-carl")
    session.commit()
    assert (again.state, again.hold_reason) == ("unlinked", "out_of_scope")
    still_held()
    intake.reapply(session, routing.submissions_to_reapply(session))
    session.commit()
    still_held()


def test_earliest_waiting_registration_by_device_time_creates_the_case(
    world: World, session: Session
) -> None:
    """When a renumbering frees a number, the registrations waiting under it are decided
    together: the earliest by device time, then instance id, creates the case (not the
    first to arrive)."""
    u = users(world)
    registered(world, u["amina"], "CP-1", E1)
    waiting = [  # in arrival order
        ("r-late", E2, "2024-05-04"),
        ("r-z", E3, "2024-05-02"),
        ("r-a", E4, "2024-05-02"),  # ties with r-z on device time; the lower instance id
    ]
    for iid, entity, day in waiting:
        _, dup = world.submit(
            forms.CASE_PLAN,
            registration(iid, "CP-1", entity, day),
            u["amina"],
            at("2024-05-05 12:00"),
        )
        assert dup.state == "duplicate"
    fixed = edit_of(registration("r-CP-1-11", "CP-1-OLD", E1, "2024-05-01"), "r-CP-1-11", "r-fix")
    _, renamed = world.submit(forms.CASE_PLAN, fixed, u["amina"], at("2024-05-06 12:00"))
    assert (renamed.state, renamed.case_ref) == ("applied", "CP-1-OLD")
    assert case(session, "CP-1-OLD").entity_id == E1
    assert case(session, "CP-1").entity_id == E4
    assert {iid: contribution(session, iid).state for iid, _, _ in waiting} == {
        "r-late": "duplicate",
        "r-z": "duplicate",
        "r-a": "applied",
    }
    rebuild.rebuild(session, "CP-1")
    session.commit()
    assert case(session, "CP-1").entity_id == E4


def test_renumbering_edit_by_someone_who_may_not_see_the_case_does_not_rename_it(
    world: World, session: Session
) -> None:
    u = users(world)
    registered(world, u["amina"], "CP-1", E1)
    decisions.reassign(
        session, "CP-1", "bo", u["sup"], reason="caseload"
    )  # amina may no longer see the case
    session.commit()
    version = case(session, "CP-1").version
    fixed = edit_of(
        registration("r-CP-1-11", "CP-NEW", E1, "2024-05-01", risk="high"), "r-CP-1-11", "r-fix"
    )
    _, result = world.submit(forms.CASE_PLAN, fixed, u["amina"], at("2024-05-04 12:00"))
    # routed by its entity id to CP-1, while it names another number
    assert (result.state, result.case_ref, result.hold_reason) == (
        "unlinked",
        "CP-NEW",
        "ref_mismatch",
    )
    assert queries.get_case_by_ref(session, "CP-NEW") is None
    c = case(session, "CP-1")
    assert (c.entity_id, c.risk_level, c.version) == (E1, "medium", version)
    assert contribution(session, "r-CP-1-11").state == "applied"
    actions = case_file.get_case_detail(session, "CP-1", u["adm"]).actions
    assert [a.kind for a in actions] == ["reassign"]


def test_edit_supersedes_the_version_it_replaces_under_another_reference(
    world: World, session: Session
) -> None:
    u = users(world)
    registered(world, u["amina"], "CP-A", E1)
    registered(world, u["amina"], "CP-B", E2)
    world.submit(
        forms.CONTACT_LOG,
        contact("c1", "CP-A", E1, "2024-05-03T10:00:00Z", risk="high"),
        u["amina"],
        at("2024-05-03 12:00"),
    )
    assert case(session, "CP-A").risk_level == "high"
    # the contact was meant for the other child: the caseworker edits it on the phone
    moved = edit_of(contact("c1", "CP-B", E2, "2024-05-03T10:00:00Z", risk="high"), "c1", "c1-e")
    _, result = world.submit(forms.CONTACT_LOG, moved, u["amina"], at("2024-05-04 12:00"))
    assert (result.state, result.case_ref) == ("applied", "CP-B")
    assert contribution(session, "c1").state == "superseded"
    a, b = case(session, "CP-A"), case(session, "CP-B")
    assert (a.risk_level, a.last_contact_at) == ("medium", None)
    assert (b.risk_level, b.last_contact_at) == ("high", at("2024-05-03 10:00"))
    timeline = case_file.get_case_detail(session, "CP-A", u["adm"]).timeline
    assert [t.instance_id for t in timeline if t.state == "applied"] == ["r-CP-A-11"]


def test_link_moves_the_version_past_the_phones_offline_updates(
    world: World, session: Session
) -> None:
    u = users(world)
    registered(world, u["amina"], "CP-1", E1)
    assert case(session, "CP-1").version == 1
    # amina's phone had an outdated number for the case and kept working on it offline
    for base in (1, 2, 3):
        _, held = world.submit(
            forms.CONTACT_LOG,
            contact(f"o{base}", "CP-7", E1, f"2024-05-0{2 + base}T10:00:00Z", base=base),
            u["amina"],
            at("2024-05-06 12:00"),
        )
        assert held.state == "unlinked"
    result = decisions.link_unlinked(session, "o3", "CP-1", u["sup"])
    session.commit()
    assert result.version == 5  # one past the version 4 her phone holds
    assert case(session, "CP-1").version == result.version
    for iid in ("o1", "o2"):
        decisions.link_unlinked(session, iid, "CP-1", u["sup"])
        session.commit()
    assert case(session, "CP-1").version >= 5


def test_follow_up_of_a_merged_entity_naming_another_reference_is_held(
    world: World, session: Session
) -> None:
    u = users(world)
    registered(world, u["amina"], "CP-1", E1)
    registered(world, u["amina"], "CP-2", E3)
    world.submit(
        forms.CASE_PLAN,
        registration("rb", "CP-1", E2, "2024-05-02"),
        u["amina"],
        at("2024-05-02 12:00"),
    )
    decisions.merge_duplicate(session, "rb", u["sup"], reason="same child")
    session.commit()
    # the phone's copy of the merged duplicate names another case's number
    _, result = world.submit(
        forms.CONTACT_LOG,
        contact("x1", "CP-2", E2, "2024-05-03T10:00:00Z", risk="high"),
        u["amina"],
        at("2024-05-03 12:00"),
    )
    assert (result.state, result.case_ref, result.hold_reason) == (
        "unlinked",
        "CP-2",
        "ref_mismatch",
    )
    # one naming no case at all waits the same way, not for a registration
    _, nowhere = world.submit(
        forms.CONTACT_LOG,
        contact("x2", "CP-9", E2, "2024-05-03T11:00:00Z", risk="high"),
        u["amina"],
        at("2024-05-03 12:00"),
    )
    assert (nowhere.state, nowhere.hold_reason) == ("unlinked", "ref_mismatch")
    assert (case(session, "CP-1").risk_level, case(session, "CP-2").risk_level) == (
        "medium",
        "medium",
    )
    # the same entity with the case's own number still goes to the case
    _, routed = world.submit(
        forms.CONTACT_LOG,
        contact("x3", "CP-1", E2, "2024-05-03T12:00:00Z", risk="high"),
        u["amina"],
        at("2024-05-03 13:00"),
    )
    assert (routed.state, routed.case_ref) == ("applied", "CP-1")


def test_admins_edit_of_the_registration_naming_a_designer_keeps_the_caseworker(
    world: World, session: Session
) -> None:
    """Naming the caseworker: an answer that is ignored, from a submitter who may not hold
    cases either, leaves the case where it is."""
    u = users(world)
    registered(world, u["amina"])
    assert caseworker_of(session, "CP-1") == "amina"
    fixed = edit_of(
        registration("r-CP-1-11", "CP-1", E1, "2024-05-01", caseworker="des", risk="high"),
        "r-CP-1-11",
        "r-edit",
    )
    _, edited = world.submit(forms.CASE_PLAN, fixed, u["adm"], at("2024-05-03 12:00"))
    assert edited.state == "applied"
    assert contribution(session, "r-CP-1-11").state == "superseded"
    assert (case(session, "CP-1").risk_level, caseworker_of(session, "CP-1")) == ("high", "amina")
    rebuild.rebuild(session, "CP-1")
    session.commit()
    assert caseworker_of(session, "CP-1") == "amina"

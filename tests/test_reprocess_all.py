"""`casework reprocess --all`: data stored under earlier case rules takes the current shape.

Contributions stored before the merge rules changed carry no ``event_fields`` and keep the
old property keys (``next_contact``, ``review_due``). A rebuild folds the stored updates as
they are, and `casework reprocess` alone re-applies only failed merges; `--all` reads every
current submission again from its XML, keeping how each was linked and held.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from server import db
from server.cases import rebuild
from server.cases.models import CaseContribution
from tests.factories import PublishedByCli
from tests.realforms import contact_log, new_case_plan

# The keys the merge rules used before event fields (the role's name, not its case field).
OLD_KEYS = {"next_contact_date": "next_contact", "review_date": "review_due"}
# What the case record is, whatever its version and when it was last written.
RECORD_FIELDS = (
    "case_ref",
    "status",
    "caseworker",
    "risk_level",
    "contact_frequency_days",
    "last_contact_at",
    "next_contact_due",
    "review_due",
    "last_review_at",
    "properties",
    "provenance",
    "plan_items",
    "conflicts",
    "timeline",
)


def _old_shape(update: dict[str, Any]) -> dict[str, Any]:
    old = dict(update)
    old.pop("event_fields", None)
    old["properties"] = {OLD_KEYS.get(k, k): v for k, v in update["properties"].items()}
    return old


def _is_old_shape(update: dict[str, Any]) -> bool:
    return "event_fields" not in update or bool(set(OLD_KEYS.values()) & set(update["properties"]))


def test_reprocess_all_brings_contributions_stored_under_old_rules_to_the_current_shape(
    published_by_cli: PublishedByCli,
) -> None:
    world = published_by_cli
    casework, app, phone, client, boss = (
        world.casework,
        world.app,
        world.phone,
        world.client,
        world.boss,
    )

    plan, entity = new_case_plan("CP-OLD-1", frequency="14")
    other_plan, _ = new_case_plan("CP-OLD-2")
    contact_id = f"uuid:{uuid.uuid4()}"
    contact = contact_log(
        "CP-OLD-1",
        entity,
        base_version=1,
        contact_time="2026-11-24T10:00:00.000Z",
        next_contact="2026-12-01",
        instance_id=contact_id,
    )
    # an edit of the contact that names another case: held for a supervisor, so the
    # contact it replaces stays in effect although it is no longer the current version
    held_id = f"uuid:{uuid.uuid4()}"
    held = contact_log(
        "CP-OLD-2",
        entity,
        base_version=1,
        contact_time="2026-11-24T10:00:00.000Z",
        next_contact="2026-12-09",
        instance_id=held_id,
        deprecated_id=contact_id,
    )
    for xml in (plan, other_plan, contact, held):
        assert phone.submit(xml).status_code == 201

    def record() -> dict[str, Any]:
        response = client.get("/api/v1/cases/CP-OLD-1", headers=boss)
        assert response.status_code == 200, response.json
        data: dict[str, Any] = response.json
        return data

    def shown(data: dict[str, Any]) -> dict[str, Any]:
        return {k: data[k] for k in RECORD_FIELDS}

    current = record()
    assert current["next_contact_due"] == "2026-12-01"
    assert current["properties"]["next_contact_date"] == "2026-12-01"
    assert current["review_due"] == "2027-02-18"
    assert [(t["instance_id"], t["state"]) for t in current["timeline"]][-1] == (
        contact_id,
        "applied",
    )
    unlinked = client.get("/api/v1/queues/unlinked", headers=boss).json
    assert [(e["instance_id"], e["hold_reason"]) for e in unlinked] == [(held_id, "ref_mismatch")]

    # The data as the earlier rules stored it, and the case as they folded it.
    with app.app_context():
        session = db.session()
        for contribution in session.scalars(select(CaseContribution)):
            contribution.update = _old_shape(contribution.update)
        session.flush()
        for ref in ("CP-OLD-1", "CP-OLD-2"):
            rebuild.rebuild(session, ref)
        session.commit()
    before = record()
    assert "next_contact" in before["properties"]
    assert before["next_contact_due"] != "2026-12-01"

    def stored() -> list[dict[str, Any]]:
        with app.app_context():
            return [c.update for c in db.session().scalars(select(CaseContribution))]

    # Re-applying only the failed merges (there are none) leaves the old shape as it is.
    assert "0 submission(s) reprocessed." in casework("reprocess")
    assert all(_is_old_shape(u) for u in stored())

    output = casework("reprocess", "--all")
    assert "submissions/s" in output  # the progress line
    assert "4 submission(s) reprocessed: 3 applied, 1 unlinked." in output
    assert not any(_is_old_shape(u) for u in stored())
    after = record()
    assert shown(after) == shown(current)
    assert "next_contact" not in after["properties"]
    # the held edit is still held, and the contact it would replace still counts
    unlinked = client.get("/api/v1/queues/unlinked", headers=boss).json
    assert [(e["instance_id"], e["hold_reason"]) for e in unlinked] == [(held_id, "ref_mismatch")]

    # Idempotent: a second run changes nothing, not even the version phones compare.
    assert "4 submission(s) reprocessed: 3 applied, 1 unlinked." in casework("reprocess", "--all")
    assert record() == after
    # Re-running the contact in effect by its instance id keeps it in effect.
    assert f"{contact_id}: applied CP-OLD-1" in casework("reprocess", contact_id)
    assert record() == after

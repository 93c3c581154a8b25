"""`casework reprocess`: run the merge again for stored submissions."""

from __future__ import annotations

from typing import Any

import click
from flask import current_app

from server import db
from server.commands.common import ProgressLine, fail, needs_current_schema

# Submissions re-applied per transaction by `reprocess --all`: each batch is committed, so
# writers wait for one batch at most and an interrupted run keeps what it did.
REAPPLY_BATCH = 200


@click.command("reprocess")
@click.argument("instance_id", required=False)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Re-apply every current submission (after an upgrade that reads submissions anew).",
)
@needs_current_schema
def reprocess(instance_id: str | None, everything: bool) -> None:
    """Re-apply a submission to its case (default: every submission whose merge failed or
    never ran)."""
    from server import intake
    from server.cases.settings import case_settings

    session = db.session()
    settings = case_settings(current_app)
    if everything:
        if instance_id:
            fail("Give an instance ID or --all, not both.")
        reapply_all(session, settings)
        return
    results = intake.reprocess(session, instance_id, settings=settings)
    for result in results:
        suffix = f" ({result.error})" if result.error else ""
        click.echo(f"{result.instance_id}: {result.state} {result.case_ref or ''}{suffix}")
    click.echo(f"{len(results)} submission(s) reprocessed.")


def reapply_all(session: Any, settings: Any) -> None:
    """Every current submission read again from its XML (each merge committed on its own),
    a batch at a time with a progress line; failures are listed (and recorded on the
    submission) at the end."""
    from collections import Counter

    from server import intake
    from server.cases import routing as cases

    ids = cases.submissions_to_reapply(session)
    session.commit()
    states: Counter[str] = Counter()
    failed: list[Any] = []
    progress = ProgressLine("submissions")
    for start in range(0, len(ids), REAPPLY_BATCH):
        results = intake.reapply(session, ids[start : start + REAPPLY_BATCH], settings=settings)
        session.expunge_all()
        states.update(r.state for r in results)
        failed.extend(r for r in results if r.error)
        progress(start + len(results))
    progress.close()
    for result in failed:
        click.secho(f"{result.instance_id}: failed ({result.error})", fg="yellow")
    summary = ", ".join(f"{n} {state}" for state, n in sorted(states.items()))
    click.echo(f"{len(ids)} submission(s) reprocessed" + (f": {summary}." if summary else "."))

"""`casework export` and `casework export-cases`: form and case data to a file, as the
server's operator (an admin with no team scope), audited like any export."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import click

from exports.formats import CASE_FORMATS, FORM_FORMATS
from server import db
from server.auth.permissions import ADMIN
from server.commands.common import ProgressLine, check_writable, fail, needs_current_schema


def _export(kind: str, form_id: str | None, out: Path, args: dict[str, Any]) -> None:
    from server.auth.models import User
    from server.downloads import service as downloads

    check_writable(out)
    session = db.session()
    # The command line acts as the server's operator: an admin with no team scope.
    operator = User(username=f"cli:{getpass.getuser()}", role=ADMIN)
    if kind == "form":
        if form_id is None:
            raise click.UsageError("A form export names its form.")
        export = downloads.prepare_form_export(session, operator, form_id, args)
    else:
        export = downloads.prepare_case_export(session, operator, args)
    # The audit record is committed before the export reads, which then holds no write lock
    # (on SQLite that would stop every submission for as long as the export runs).
    session.commit()
    progress = ProgressLine()
    try:
        fh = out.open("wb")
    except OSError as exc:  # checked above; the folder may have changed since
        fail(f"Cannot write {out}: {exc.strerror or exc}.")
    with fh:
        summary = downloads.run_export(session, export, fh, None, progress)
    progress.close()
    session.commit()
    tables = ", ".join(f"{name}: {count:,}" for name, count in summary.tables.items())
    click.echo(f"Wrote {out} ({tables}) in {summary.elapsed_seconds:.1f} s.")


@click.command("export")
@click.argument("form_id")
@click.option(
    "--format",
    "fmt",
    default="csv",
    show_default=True,
    type=click.Choice(FORM_FORMATS),
)
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--labels", is_flag=True, help="Choice labels and question labels, not values.")
@click.option("--language", default=None, help="Label language.")
@click.option("--no-group-names", is_flag=True, help="Column headers without group names.")
@click.option("--split-select-multiple", is_flag=True, help="One 0/1 column per choice.")
@click.option("--include-sensitive", is_flag=True, help="Include fields marked sensitive.")
@click.option("--reason", default=None, help="Why sensitive fields are needed (recorded).")
@click.option(
    "--from",
    "received_from",
    type=click.DateTime(),
    default=None,
    help="Received on or after (UTC).",
)
@click.option(
    "--to", "received_before", type=click.DateTime(), default=None, help="Received before (UTC)."
)
@needs_current_schema
def export(
    form_id: str,
    fmt: str,
    out: Path,
    labels: bool,
    language: str | None,
    no_group_names: bool,
    split_select_multiple: bool,
    include_sensitive: bool,
    reason: str | None,
    received_from: Any,
    received_before: Any,
) -> None:
    """Export a form's submissions (all versions) to a file."""
    from datetime import UTC

    _export(
        "form",
        form_id,
        out,
        {
            "format": fmt,
            "labels": labels,
            "language": language,
            "group_paths": not no_group_names,
            "split_select_multiple": split_select_multiple,
            "include_sensitive": include_sensitive,
            "reason": reason,
            "received_from": received_from.replace(tzinfo=UTC) if received_from else None,
            "received_before": received_before.replace(tzinfo=UTC) if received_before else None,
        },
    )


@click.command("export-cases")
@click.option("--format", "fmt", default="csv", show_default=True, type=click.Choice(CASE_FORMATS))
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--include-sensitive", is_flag=True, help="Include sensitive case properties.")
@click.option("--reason", default=None, help="Why sensitive fields are needed (recorded).")
@click.option("--labels", is_flag=True, help="The forms' labels instead of names and codes.")
@click.option("--language", default=None, help="Label language, e.g. fr or 'French (fr)'.")
@needs_current_schema
def export_cases(
    fmt: str,
    out: Path,
    include_sensitive: bool,
    reason: str | None,
    labels: bool,
    language: str | None,
) -> None:
    """Export cases, plan items, contacts and conferences as linked tables."""
    _export(
        "cases",
        None,
        out,
        {
            "format": fmt,
            "include_sensitive": include_sensitive,
            "reason": reason,
            "labels": labels,
            "language": language,
        },
    )

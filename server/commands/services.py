"""`casework import-services`: the services directory from a spreadsheet."""

from __future__ import annotations

from pathlib import Path

import click

from server import db
from server.commands.common import needs_current_schema


@click.command("import-services")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--dry-run", is_flag=True, help="Check the file without saving anything.")
@needs_current_schema
def import_services(file: Path, dry_run: bool) -> None:
    """Import the services directory from a CSV or XLSX file (upsert by service_id)."""
    from server.services.service import import_services as run_import

    session = db.session()
    report = run_import(session, file.name, file.read_bytes(), dry_run=dry_run)
    if dry_run:
        session.rollback()
        click.echo("Dry run: nothing was saved. Importing this file would give:")
        click.echo(
            f"would create {report.created}, would update {report.updated}, "
            f"unchanged {report.unchanged}, rows with errors {len(report.errors)}"
        )
    else:
        session.commit()
        click.echo(
            f"created {report.created}, updated {report.updated}, "
            f"unchanged {report.unchanged}, rows with errors {len(report.errors)}"
        )
    for error in report.errors:
        for column, messages in error.messages.items():
            click.secho(f"  row {error.row}, {column}: {'; '.join(messages)}", fg="yellow")
    for warning in report.warnings:
        click.secho(f"  {warning}", fg="yellow")

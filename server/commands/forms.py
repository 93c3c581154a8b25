"""`casework` commands that publish XLSForms, one or a folder of them, with their media."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from server import db
from server.commands.common import needs_current_schema


@click.command("publish")
@click.argument("xlsform", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("media", nargs=-1, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-validate", is_flag=True, help="Skip ODK Validate (JavaRosa).")
@needs_current_schema
def publish(xlsform: Path, media: tuple[Path, ...], no_validate: bool) -> None:
    """Publish an XLSForm (or a new version of it) with its media files."""
    _publish(xlsform, media, validate=not no_validate and current_app.config["ODK_VALIDATE"])


def _publish(xlsform: Path, media: tuple[Path, ...], *, validate: bool) -> None:
    from server.xforms.service import publish as publish_form

    session = db.session()
    result = publish_form(
        session,
        xlsform.read_bytes(),
        xlsform.name,
        media={m.name: m.read_bytes() for m in media},
        validate=validate,
    )
    session.commit()
    form_id, version = result.version.xform.form_id, result.version.version
    if result.is_new:
        click.echo(f"Published {form_id} version {version}.")
    else:
        click.echo(f"{form_id} version {version} is already published.")
    for w in result.warnings:
        click.secho(f"  warning: {w.message}", fg="yellow")
    for name in result.inherited_media:
        click.echo(f"  media file kept from the previous version: {name}")
    for name in result.updated_media:
        click.echo(f"  media file updated: {name}")
    for name in result.missing_media:
        click.secho(f"  missing media file: {name}", fg="yellow")


@click.command("publish-xlsforms")
@click.argument(
    "folder", default="xlsforms", type=click.Path(exists=True, file_okay=False, path_type=Path)
)
@needs_current_schema
def publish_xlsforms(folder: Path) -> None:
    """Publish every XLSForm in a folder (unchanged versions are skipped), each with the
    media files in the folder named after it: case_plan.xlsx takes case_plan-media/*."""
    for path in sorted(folder.glob("*.xls*")):
        if path.name.startswith("~$"):  # Excel's lock files
            continue
        _publish(path, _media_folder(path), validate=current_app.config["ODK_VALIDATE"])


def _media_folder(xlsform: Path) -> tuple[Path, ...]:
    """The files in ``<name>-media/`` next to the spreadsheet (Collect's own layout)."""
    folder = xlsform.with_name(f"{xlsform.stem}-media")
    if not folder.is_dir():
        return ()
    return tuple(sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")))

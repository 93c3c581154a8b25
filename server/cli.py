"""The `casework` command: administer the server from a shell."""

from __future__ import annotations

import functools
import getpass
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup

from server import db
from server.errors import AppError

F = TypeVar("F", bound=Callable[..., Any])


def _create_app() -> Flask:
    from server import create_app

    return create_app()


@click.group(cls=FlaskGroup, create_app=_create_app, add_default_commands=False,
             add_version_option=False, load_dotenv=False)
def main() -> None:
    """Casework server administration."""


def init_app(app: Flask) -> None:
    """Make the same commands available as `flask …` inside the app."""
    for command in main.commands.values():
        app.cli.add_command(command)


def _fail(message: str) -> None:
    click.secho(message, fg="red", err=True)
    sys.exit(1)


def needs_current_schema(view: F) -> F:
    """Refuse to run on a database whose schema is behind the code."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from server.migrations import is_up_to_date

        if not is_up_to_date(db.get_database(current_app).engine):
            _fail("The database schema is out of date. Run `casework migrate` first.")
        try:
            return view(*args, **kwargs)
        except AppError as exc:
            db.session().rollback()
            details = exc.details.get("problems") if exc.details else None
            if details:
                for p in details:
                    where = ", ".join(
                        f"{k} {p[k]}" for k in ("sheet", "row", "column") if p.get(k) is not None
                    )
                    click.secho(f"  {where + ': ' if where else ''}{p['message']}", err=True)
            _fail(f"Error ({exc.code}): {exc.text}")

    return wrapper  # type: ignore[return-value]


@main.command("migrate")
def migrate() -> None:
    """Create or upgrade the database schema."""
    from server.migrations import upgrade

    upgrade(db.get_database(current_app).engine)
    click.echo("Database schema is up to date.")


def _settings() -> Any:
    from server.auth import auth_settings

    return auth_settings()


def _read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        _fail("The passwords do not match.")
    return first


@main.command("create-user")
@click.argument("username")
@click.option("--role", required=True,
              type=click.Choice(["admin", "supervisor", "caseworker", "designer"]))
@click.option("--team", default=None, help="Team name; supervisors see their team's cases.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@needs_current_schema
def create_user(username: str, role: str, team: str | None, password_stdin: bool) -> None:
    """Create a user who can sign in."""
    from server.auth.service import create_user as create

    password = _read_password(password_stdin)
    session = db.session()
    create(session, _settings(), username, role, password, team=team)
    session.commit()
    click.echo(f"Created {role} {username}.")


@main.command("ensure-admin")
@needs_current_schema
def ensure_admin() -> None:
    """Create a first admin with a random password when there is no admin yet."""
    from server.auth.queries import count_admins
    from server.auth.service import create_user as create

    session = db.session()
    if count_admins(session):
        return
    password = secrets.token_urlsafe(12)
    create(session, _settings(), "admin", "admin", password)
    session.commit()
    base = current_app.config["BASE_URL"]
    click.secho("A first admin was created. Sign in at "
                f"{base}/login as 'admin' with password: {password}", fg="green")
    click.echo("Change it after signing in; it is not shown again.")


@main.command("create-device")
@click.argument("label")
@click.option("--user", "username", required=True, help="The caseworker who uses the phone.")
@click.option("--qr", "qr_file", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the QR code a phone scans to this PNG file.")
@needs_current_schema
def create_device(label: str, username: str, qr_file: Path | None) -> None:
    """Register a phone; prints its server URL and Collect QR payload."""
    from server.auth import qr
    from server.auth.service import create_device as create

    session = db.session()
    provisioned = create(session, _settings(), label, username, None)
    session.commit()
    click.echo(f"Server URL: {provisioned.server_url}")
    click.echo(f"QR payload: {provisioned.qr_payload}")
    if qr_file is not None:
        qr_file.write_bytes(qr.qr_png(provisioned.qr_payload))
        os.chmod(qr_file, 0o600)  # the code is the device's credential
        click.echo(f"QR code written to {qr_file} (scan it in Collect: Add project).")
    click.echo("Keep this secret: anyone with the URL can send forms as this user.")


@main.command("revoke-device")
@click.argument("label")
@needs_current_schema
def revoke_device(label: str) -> None:
    """Stop a device at once (lost or stolen phone)."""
    from server.auth.service import revoke_device as revoke

    session = db.session()
    revoke(session, label, None)
    session.commit()
    click.echo(f"Device {label} is revoked.")


@main.command("create-token")
@click.argument("username")
@click.option("--label", default="", help="What the token is for.")
@needs_current_schema
def create_token(username: str, label: str) -> None:
    """Make an API bearer token for a user (shown once)."""
    from server.auth.service import create_api_token

    session = db.session()
    _, token = create_api_token(session, username, label)
    session.commit()
    click.echo(token)


@main.command("publish")
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
    result = publish_form(session, xlsform.read_bytes(), xlsform.name,
                          media={m.name: m.read_bytes() for m in media}, validate=validate)
    session.commit()
    form_id, version = result.version.xform.form_id, result.version.version
    if result.is_new:
        click.echo(f"Published {form_id} version {version}.")
    else:
        click.echo(f"{form_id} version {version} is already published.")
    for w in result.warnings:
        click.secho(f"  warning: {w.message}", fg="yellow")
    for name in result.missing_media:
        click.secho(f"  missing media file: {name}", fg="yellow")


@main.command("publish-xlsforms")
@click.argument("folder", default="xlsforms",
                type=click.Path(exists=True, file_okay=False, path_type=Path))
@needs_current_schema
def publish_xlsforms(folder: Path) -> None:
    """Publish every XLSForm in a folder (unchanged versions are skipped)."""
    for path in sorted(folder.glob("*.xls*")):
        if path.name.startswith("~$"):  # Excel's lock files
            continue
        _publish(path, (), validate=current_app.config["ODK_VALIDATE"])


@main.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int)
@click.option("--workers", default=None, type=int, help="Worker processes (default: 2 per core).")
@click.option("--threads", default=2, show_default=True, type=int)
def serve(host: str, port: int, workers: int | None, threads: int) -> None:
    """Serve with gunicorn, the production WSGI server."""
    from server.wsgi_server import run

    run(host=host, port=port, workers=workers or 2 * (os.cpu_count() or 1), threads=threads)


if __name__ == "__main__":
    main()

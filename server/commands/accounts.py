"""`casework` commands for who may use the server: users, teams, a first admin, phones
and API tokens."""

from __future__ import annotations

import os
import secrets
from pathlib import Path

import click
from flask import current_app

from server import db
from server.auth.permissions import ADMIN, ROLES
from server.commands.common import (
    auth_settings,
    check_writable,
    fail,
    needs_current_schema,
    read_password,
)


@click.command("create-user")
@click.argument("username")
@click.option("--role", required=True, type=click.Choice(ROLES))
@click.option(
    "--team",
    default=None,
    help="Team name, one added with create-team; supervisors see their team's cases.",
)
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@needs_current_schema
def create_user(username: str, role: str, team: str | None, password_stdin: bool) -> None:
    """Create a user who can sign in."""
    from server.auth.queries import get_team
    from server.auth.service import create_user as create

    session = db.session()
    if team and get_team(session, team.strip()) is None:
        fail(f"There is no team {team.strip()!r}. Add it first: casework create-team {team}")
    password = read_password(password_stdin)
    create(session, auth_settings(), username, role, password, team=team)
    session.commit()
    click.echo(f"Created {role} {username}.")


@click.command("create-team")
@click.argument("name")
@needs_current_schema
def create_team(name: str) -> None:
    """Add a team to the list users' teams are chosen from."""
    from server.auth.service import create_team as create

    session = db.session()
    team = create(session, name, None)
    session.commit()
    click.echo(f"Added the team {team.name}.")


@click.command("ensure-admin")
@needs_current_schema
def ensure_admin() -> None:
    """Create a first admin with a random password when there is no admin yet."""
    from server.auth.queries import count_admins
    from server.auth.service import create_user as create

    session = db.session()
    if count_admins(session):
        click.echo("An admin already exists; no admin was created.")
        return
    password = secrets.token_urlsafe(12)
    create(session, auth_settings(), "admin", ADMIN, password)
    session.commit()
    base = current_app.config["BASE_URL"]
    click.secho(
        f"A first admin was created. Sign in at {base}/login as 'admin' with password: {password}",
        fg="green",
    )
    click.echo("Change it after signing in; it is not shown again.")


@click.command("create-device")
@click.argument("label")
@click.option("--user", "username", required=True, help="The caseworker who uses the phone.")
@click.option(
    "--qr",
    "qr_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the QR code a phone scans to this PNG file.",
)
@needs_current_schema
def create_device(label: str, username: str, qr_file: Path | None) -> None:
    """Register a phone; prints its server URL and Collect QR payload."""
    from server.auth import qr
    from server.auth.devices import create_device as create

    if qr_file is not None:
        check_writable(qr_file)
    session = db.session()
    provisioned = create(session, auth_settings(), label, username, None)
    session.commit()
    click.echo(f"Server URL: {provisioned.server_url}")
    click.echo(f"QR payload: {provisioned.qr_payload}")
    if qr_file is not None:
        qr_file.write_bytes(qr.qr_png(provisioned.qr_payload))
        os.chmod(qr_file, 0o600)  # the code is the device's credential
        click.echo(f"QR code written to {qr_file} (scan it in Collect: Add project).")
    click.echo("Keep this secret: anyone with the URL can send forms as this user.")


@click.command("revoke-device")
@click.argument("label")
@needs_current_schema
def revoke_device(label: str) -> None:
    """Stop a device at once (lost or stolen phone)."""
    from server.auth.devices import revoke_device as revoke

    session = db.session()
    revoke(session, label, None)
    session.commit()
    click.echo(f"Device {label} is revoked.")


@click.command("create-token")
@click.argument("username")
@click.option("--label", default="", help="What the token is for.")
@needs_current_schema
def create_token(username: str, label: str) -> None:
    """Make an API bearer token for a user (shown once)."""
    from server.auth.devices import create_api_token

    session = db.session()
    row, token = create_api_token(session, username, label)
    session.commit()
    click.echo(token)
    # on standard error, so that `TOKEN=$(casework create-token …)` captures the token alone
    click.echo(
        f"API token {row.id} for {username}; revoke it with `casework revoke-token {row.id}`.",
        err=True,
    )


@click.command("revoke-token")
@click.argument("which", metavar="ID|USERNAME")
@needs_current_schema
def revoke_token(which: str) -> None:
    """Revoke an API token by its number (create-token prints it), or every token of a user."""
    from server.auth.devices import revoke_api_tokens

    session = db.session()
    revoked = revoke_api_tokens(session, which, None)
    session.commit()
    if not revoked:
        click.echo(f"{which} has no API token left to revoke.")
    for token in revoked:
        label = f" ({token.label})" if token.label else ""
        click.echo(f"Revoked API token {token.id}{label} of {token.user.username}.")

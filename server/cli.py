"""The `casework` command: administer the server from a shell."""

from __future__ import annotations

import functools
import getpass
import os
import secrets
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from flask import Flask, current_app

from exports.formats import CASE_FORMATS, FORM_FORMATS
from server import db
from server.auth.permissions import ADMIN, ROLES
from server.errors import AppError
from server.submissions.models import ProcessingState

F = TypeVar("F", bound=Callable[..., Any])


class _AppGroup(click.Group):
    """Runs each command inside an application context built from the environment."""

    def invoke(self, ctx: click.Context) -> Any:
        from server import create_app
        from server.config import ConfigError

        try:
            app = create_app()
        except ConfigError as exc:
            _fail(str(exc))
        with app.app_context():
            return super().invoke(ctx)


@click.group(cls=_AppGroup)
def main() -> None:
    """Casework server administration. Configuration comes from CASEWORK_* variables."""


def init_app(app: Flask) -> None:
    """Make the same commands available as `flask …` inside the app."""
    for command in main.commands.values():
        app.cli.add_command(command)


def _fail(message: str) -> NoReturn:
    click.secho(message, fg="red", err=True)
    sys.exit(1)


def _check_writable(path: Path) -> None:
    """Stop with a message (not a traceback) when ``path`` cannot be written: checked before
    anything is done or recorded."""
    folder = path.parent
    if not folder.is_dir():
        _fail(f"Cannot write {path}: the folder {folder} does not exist.")
    if path.is_dir():
        _fail(f"Cannot write {path}: it is a folder.")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        _fail(f"Cannot write {path}: permission denied.")


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

    upgrade(db.get_database(current_app).engine, analyze=True)
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
        _fail(f"There is no team {team.strip()!r}. Add it first: casework create-team {team}")
    password = _read_password(password_stdin)
    create(session, _settings(), username, role, password, team=team)
    session.commit()
    click.echo(f"Created {role} {username}.")


@main.command("create-team")
@click.argument("name")
@needs_current_schema
def create_team(name: str) -> None:
    """Add a team to the list users' teams are chosen from."""
    from server.auth.service import create_team as create

    session = db.session()
    team = create(session, name, None)
    session.commit()
    click.echo(f"Added the team {team.name}.")


@main.command("ensure-admin")
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
    create(session, _settings(), "admin", ADMIN, password)
    session.commit()
    base = current_app.config["BASE_URL"]
    click.secho(
        f"A first admin was created. Sign in at {base}/login as 'admin' with password: {password}",
        fg="green",
    )
    click.echo("Change it after signing in; it is not shown again.")


@main.command("create-device")
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
        _check_writable(qr_file)
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
    from server.auth.devices import revoke_device as revoke

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


@main.command("revoke-token")
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


@main.command("publish-xlsforms")
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


# Submissions re-applied per transaction by `reprocess --all`: each batch is committed, so
# writers wait for one batch at most and an interrupted run keeps what it did.
REAPPLY_BATCH = 200


@main.command("reprocess")
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
            _fail("Give an instance ID or --all, not both.")
        _reapply_all(session, settings)
        return
    results = intake.reprocess(session, instance_id, settings=settings)
    for result in results:
        suffix = f" ({result.error})" if result.error else ""
        click.echo(f"{result.instance_id}: {result.state} {result.case_ref or ''}{suffix}")
    click.echo(f"{len(results)} submission(s) reprocessed.")


def _reapply_all(session: Any, settings: Any) -> None:
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
    progress = _ProgressLine("submissions")
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


@main.command("import-services")
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


class _ProgressLine:
    """Rows (or other units) done and rate on one terminal line (stderr), for long runs."""

    def __init__(self, unit: str = "rows") -> None:
        import time

        self.unit = unit
        self.clock = time.perf_counter
        self.started = self.clock()

    def __call__(self, done: int) -> None:
        elapsed = max(self.clock() - self.started, 1e-6)
        rate = f"{done / elapsed:,.0f} {self.unit}/s"
        click.echo(f"\r  {done:,} {self.unit}  {rate}", nl=False, err=True)

    def close(self) -> None:
        click.echo("", err=True)


def _export(kind: str, form_id: str | None, out: Path, args: dict[str, Any]) -> None:
    from server.auth.models import User
    from server.downloads import service as downloads

    _check_writable(out)
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
    progress = _ProgressLine()
    try:
        fh = out.open("wb")
    except OSError as exc:  # checked above; the folder may have changed since
        _fail(f"Cannot write {out}: {exc.strerror or exc}.")
    with fh:
        summary = downloads.run_export(session, export, fh, None, progress)
    progress.close()
    session.commit()
    tables = ", ".join(f"{name}: {count:,}" for name, count in summary.tables.items())
    click.echo(f"Wrote {out} ({tables}) in {summary.elapsed_seconds:.1f} s.")


@main.command("export")
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


@main.command("export-cases")
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


@main.command("serve")
@click.option(
    "--host", default=None, help="Address to listen on  [default: CASEWORK_HOST or 127.0.0.1]"
)
@click.option("--port", default=None, type=int, help="Port  [default: CASEWORK_PORT or 8080]")
@click.option("--workers", default=None, type=int, help="Worker processes (default: cores + 1).")
@click.option(
    "--threads",
    default=8,
    show_default=True,
    type=int,
    help="Threads per worker, each serving one phone at a time. 1 runs sync workers, "
    "slightly faster but only behind a buffering proxy such as nginx: without one, a phone "
    "uploading slowly holds a whole worker.",
)
@needs_current_schema
def serve(host: str | None, port: int | None, workers: int | None, threads: int) -> None:
    """Serve with gunicorn, the production WSGI server."""
    from server.config import served_base_url
    from server.wsgi_server import run

    config = current_app.config
    host = host or str(config["HOST"])
    port = port or int(config["PORT"])
    overrides: dict[str, Any] = {}
    if config["BASE_URL_FROM_ADDRESS"]:
        # No CASEWORK_BASE_URL: the URLs given to phones and people name this address.
        overrides["BASE_URL"] = served_base_url(host, port)
    click.echo(f"Serving on {overrides.get('BASE_URL', config['BASE_URL'])}/")

    _merge_left_pending()
    # The workers open their own connections; none is carried across the fork.
    db.get_database(current_app).engine.dispose()

    # A submission is CPU work plus short waits on the database: one process per core and
    # one spare to cover the waits.
    run(
        host=host,
        port=port,
        workers=workers or (os.cpu_count() or 1) + 1,
        threads=threads,
        trust_proxy=bool(current_app.config["TRUST_PROXY"]),
        overrides=overrides,
    )


def _merge_left_pending() -> None:
    """Merge the submissions a stopped server stored but did not merge, once, here in the
    one process that starts the workers and before any of them takes a request."""
    from server import intake
    from server.cases.settings import case_settings

    session = db.session()
    try:
        results = intake.reprocess(
            session, states=(ProcessingState.PENDING,), settings=case_settings(current_app)
        )
    except Exception as exc:  # serve all the same; `casework reprocess` can finish the work
        session.rollback()
        click.secho(
            f"Submissions left unmerged could not be merged ({exc}).", fg="yellow", err=True
        )
        return
    if results:
        click.echo(f"{len(results)} submission(s) stored before a stop were merged.", err=True)


if __name__ == "__main__":
    main()

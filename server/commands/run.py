"""`casework migrate` and `casework serve`: the schema brought up to date, and the server
run under gunicorn."""

from __future__ import annotations

import os
from typing import Any

import click
from flask import current_app

from server import db
from server.commands.common import needs_current_schema
from server.submissions.models import ProcessingState


@click.command("migrate")
def migrate() -> None:
    """Create or upgrade the database schema."""
    from server.migrations import upgrade

    upgrade(db.get_database(current_app).engine, analyze=True)
    click.echo("Database schema is up to date.")


@click.command("serve")
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

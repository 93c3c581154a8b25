"""The `casework` command: administer the server from a shell.

The group and its wiring; the commands themselves are in ``server.commands``, by job."""

from __future__ import annotations

from typing import Any

import click
from flask import Flask

from server.commands import accounts, export, forms, run, services, submissions
from server.commands.common import fail


class _AppGroup(click.Group):
    """Runs each command inside an application context built from the environment."""

    def invoke(self, ctx: click.Context) -> Any:
        from server import create_app
        from server.config import ConfigError

        try:
            app = create_app()
        except ConfigError as exc:
            fail(str(exc))
        with app.app_context():
            return super().invoke(ctx)


@click.group(cls=_AppGroup)
def main() -> None:
    """Casework server administration. Configuration comes from CASEWORK_* variables."""


for _command in (
    run.migrate,
    accounts.create_user,
    accounts.create_team,
    accounts.ensure_admin,
    accounts.create_device,
    accounts.revoke_device,
    accounts.create_token,
    accounts.revoke_token,
    forms.publish,
    forms.publish_xlsforms,
    submissions.reprocess,
    services.import_services,
    export.export,
    export.export_cases,
    run.serve,
):
    main.add_command(_command)


def init_app(app: Flask) -> None:
    """Make the same commands available as `flask …` inside the app."""
    for command in main.commands.values():
        app.cli.add_command(command)


if __name__ == "__main__":
    main()

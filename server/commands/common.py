"""What every `casework` command shares: stopping with a message, the schema check,
the auth settings, password input and a progress line."""

from __future__ import annotations

import functools
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from flask import current_app

from server import db
from server.errors import AppError

F = TypeVar("F", bound=Callable[..., Any])


def fail(message: str) -> NoReturn:
    click.secho(message, fg="red", err=True)
    sys.exit(1)


def check_writable(path: Path) -> None:
    """Stop with a message (not a traceback) when ``path`` cannot be written: checked before
    anything is done or recorded."""
    folder = path.parent
    if not folder.is_dir():
        fail(f"Cannot write {path}: the folder {folder} does not exist.")
    if path.is_dir():
        fail(f"Cannot write {path}: it is a folder.")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        fail(f"Cannot write {path}: permission denied.")


def needs_current_schema(view: F) -> F:
    """Refuse to run on a database whose schema is behind the code."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from server.migrations import is_up_to_date

        if not is_up_to_date(db.get_database(current_app).engine):
            fail("The database schema is out of date. Run `casework migrate` first.")
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
            fail(f"Error ({exc.code}): {exc.text}")

    return wrapper  # type: ignore[return-value]


def auth_settings() -> Any:
    from server import auth

    return auth.auth_settings()


def read_password(password_stdin: bool) -> str:
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("Password: ")
    if first != getpass.getpass("Repeat password: "):
        fail("The passwords do not match.")
    return first


class ProgressLine:
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

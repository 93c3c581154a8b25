"""What the `casework` command says when something is off: an --out path it cannot write (a
message and a non-zero exit, not a traceback, and nothing recorded), a dry run that saved
nothing, an admin that already exists; and the README's way to a device matches the menu (tests/web/test_readme_menu.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from server import create_app, db
from server.audit.models import AuditEvent
from server.auth.models import Device
from server.cli import main
from server.services.models import Service

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(empty_database_url: str, tmp_path: Path) -> Any:
    env = {
        "CASEWORK_DATABASE_URL": empty_database_url,
        "CASEWORK_DATA_DIR": str(tmp_path / "data"),
        "CASEWORK_ODK_VALIDATE": "false",
    }

    def invoke(*args: str, input: str | None = None) -> Any:
        # exceptions are caught: a traceback shows as result.exception, not as a crash here
        return CliRunner().invoke(main, list(args), env=env, input=input)

    assert invoke("migrate").exit_code == 0
    return invoke


def _count(empty_database_url: str, tmp_path: Path, model: Any, *where: Any) -> int:
    app = create_app({"DATABASE_URL": empty_database_url, "DATA_DIR": str(tmp_path / "data")})
    with app.app_context():
        stmt = select(func.count()).select_from(model).where(*where)
        return int(db.session().scalar(stmt) or 0)


@pytest.mark.parametrize(
    "args",
    [
        ("export", "case_plan", "--format", "csv"),
        ("export-cases", "--format", "csv"),
    ],
)
def test_an_out_path_in_a_missing_folder_is_a_message(
    run: Any, args: tuple[str, ...], tmp_path: Path, empty_database_url: str
) -> None:
    assert run("publish-xlsforms", str(ROOT / "xlsforms")).exit_code == 0
    missing = tmp_path / "missing" / "dir" / "x.zip"
    result = run(*args, "--out", str(missing))
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert f"Cannot write {missing}: the folder {missing.parent} does not exist." in result.output
    assert "Traceback" not in result.output
    # nothing was exported, so nothing is recorded as exported
    exports = AuditEvent.action.startswith("export")
    assert _count(empty_database_url, tmp_path, AuditEvent, exports) == 0
    folder = run(*args, "--out", str(tmp_path))
    assert folder.exit_code != 0
    assert "is a directory" in folder.output  # click's own check of the option


def test_create_device_checks_its_qr_path_before_registering(
    run: Any, tmp_path: Path, empty_database_url: str
) -> None:
    run("create-user", "cw1", "--role", "caseworker", "--password-stdin", input="long password\n")
    missing = tmp_path / "missing" / "qr.png"
    result = run("create-device", "p1", "--user", "cw1", "--qr", str(missing))
    assert result.exit_code == 1
    assert "does not exist" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    assert _count(empty_database_url, tmp_path, Device) == 0  # no device without its code


def test_import_services_dry_run_says_nothing_was_saved(
    run: Any, tmp_path: Path, empty_database_url: str
) -> None:
    services = tmp_path / "services.csv"
    services.write_text("service_id,name,category\nclinic-1,Clinic,health\n")
    dry = run("import-services", "--dry-run", str(services))
    assert dry.exit_code == 0, dry.output
    assert "Dry run: nothing was saved." in dry.output
    assert "would create 1" in dry.output
    assert _count(empty_database_url, tmp_path, Service) == 0
    real = run("import-services", str(services))
    assert "nothing was saved" not in real.output
    assert "created 1" in real.output


def test_ensure_admin_says_when_an_admin_exists(run: Any) -> None:
    assert "A first admin was created" in run("ensure-admin").output
    again = run("ensure-admin")
    assert again.exit_code == 0
    assert again.output == "An admin already exists; no admin was created.\n"

"""The `casework` command, run as an administrator would."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from server.auth.qr import read_qr_payload
from server.cli import main

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(empty_database_url: str, tmp_path: Path):
    env = {
        "CASEWORK_DATABASE_URL": empty_database_url,
        "CASEWORK_DATA_DIR": str(tmp_path / "data"),
        "CASEWORK_BASE_URL": "https://casework.example.org",
        "CASEWORK_ODK_VALIDATE": "false",
    }

    def invoke(*args: str, input: str | None = None):
        return CliRunner().invoke(main, list(args), env=env, input=input, catch_exceptions=False)

    return invoke


def test_commands_refuse_an_out_of_date_schema(run):
    result = run(
        "create-user", "ann", "--role", "admin", "--password-stdin", input="a long password\n"
    )
    assert result.exit_code == 1
    assert "casework migrate" in result.output


def test_serve_refuses_an_out_of_date_schema(run, monkeypatch: pytest.MonkeyPatch):
    import server.wsgi_server

    started: list[dict[str, object]] = []
    monkeypatch.setattr(server.wsgi_server, "run", lambda **options: started.append(options))
    refused = run("serve", "--port", "8123")
    assert refused.exit_code == 1
    assert "casework migrate" in refused.output
    assert started == []
    assert run("migrate").exit_code == 0
    assert run("serve", "--port", "8123", "--workers", "2").exit_code == 0
    assert started == [
        {
            "host": "127.0.0.1",
            "port": 8123,
            "workers": 2,
            "threads": 8,
            "trust_proxy": False,
            "overrides": {},
        }
    ]


def test_admin_workflow(run, tmp_path: Path):
    assert run("migrate").exit_code == 0
    first = run("ensure-admin")
    assert "password:" in first.output
    assert run("ensure-admin").output == "An admin already exists; no admin was created.\n"

    args = ("create-user", "cw1", "--role", "caseworker", "--team", "north", "--password-stdin")
    no_team = run(*args, input="a long password\n")
    assert no_team.exit_code == 1
    assert "There is no team 'north'. Add it first: casework create-team north" in no_team.output
    assert run("create-team", "north").output == "Added the team north.\n"
    made = run(*args, input="a long password\n")
    assert made.exit_code == 0, made.output
    dup = run(
        "create-user", "cw1", "--role", "caseworker", "--password-stdin", input="a long password\n"
    )
    assert dup.exit_code == 1
    assert "already exists" in dup.output
    weak = run("create-user", "cw2", "--role", "caseworker", "--password-stdin", input="short\n")
    assert weak.exit_code == 1
    assert "10 characters" in weak.output

    qr_file = tmp_path / "phone.png"
    device = run("create-device", "phone-1", "--user", "cw1", "--qr", str(qr_file))
    assert device.exit_code == 0, device.output
    assert "Server URL: https://casework.example.org/key/" in device.output
    payload = device.output.split("QR payload: ")[1].split()[0]
    settings = read_qr_payload(payload)
    assert settings["general"]["server_url"].startswith("https://casework.example.org/key/")
    assert settings["admin"] == {}
    assert settings["project"]["name"]
    assert qr_file.read_bytes().startswith(b"\x89PNG")

    assert run("revoke-device", "phone-1").exit_code == 0
    assert run("revoke-device", "nope").exit_code == 1

    token = run("create-token", "cw1")
    assert token.exit_code == 0
    assert len(token.output.strip()) >= 40


def test_publish_xlsforms_folder_and_errors(run, tmp_path: Path):
    assert run("migrate").exit_code == 0
    result = run("publish-xlsforms", str(ROOT / "xlsforms"))
    assert result.exit_code == 0, result.output
    assert "Published case_plan" in result.output
    assert "Published care_plan" in result.output  # what `make run` publishes
    again = run("publish-xlsforms", str(ROOT / "xlsforms"))
    assert "already published" in again.output

    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a spreadsheet")
    failed = run("publish", str(broken))
    assert failed.exit_code == 1
    assert "xform.invalid" in failed.output


def test_export_import_services_and_reprocess(run, tmp_path: Path, empty_database_url: str):
    import zipfile

    from server import create_app
    from tests.factories import Factory
    from tests.realforms import new_case_plan

    assert run("migrate").exit_code == 0
    assert run("publish-xlsforms", str(ROOT / "xlsforms")).exit_code == 0
    run("create-user", "cw1", "--role", "caseworker", "--password-stdin", input="a long password\n")
    app = create_app(
        {"DATABASE_URL": empty_database_url, "DATA_DIR": str(tmp_path / "data"), "TESTING": True}
    )
    phone = Factory(app).device_client("phone", "cw1")
    plan, _ = new_case_plan("CP-CLI-1")
    assert phone.submit(plan).status_code == 201

    out = tmp_path / "plans.zip"
    result = run("export", "case_plan", "--format", "csv", "--out", str(out))
    assert result.exit_code == 0, result.output
    assert "rows/s" in result.output
    assert "Wrote" in result.output
    assert zipfile.ZipFile(out).namelist()
    cases = tmp_path / "cases.xlsx"
    assert run("export-cases", "--format", "xlsx", "--out", str(cases)).exit_code == 0
    assert cases.read_bytes()[:2] == b"PK"

    services = tmp_path / "services.csv"
    services.write_text("service_id,name,category\nclinic-1,Clinic,health\nbad,,\n")
    imported = run("import-services", str(services))
    assert "created 1" in imported.output
    assert "row 3" in imported.output

    redone = run("reprocess", "--help")
    assert redone.exit_code == 0
    assert "0 submission(s) reprocessed." in run("reprocess").output


def _media_xlsform(path: Path, version: str) -> None:
    import openpyxl

    book = openpyxl.Workbook()
    survey = book.active
    survey.title = "survey"
    survey.append(["type", "name", "label", "media::image"])
    survey.append(["note", "intro", "Welcome", "my logo.png"])
    settings = book.create_sheet("settings")
    settings.append(["form_id", "version"])
    settings.append(["welcome", version])
    book.save(path)


def test_publish_xlsforms_takes_media_from_the_form_s_media_folder(run, tmp_path: Path):
    assert run("migrate").exit_code == 0
    folder = tmp_path / "forms"
    folder.mkdir()
    _media_xlsform(folder / "welcome.xlsx", "1")
    missing = run("publish-xlsforms", str(folder))
    assert "missing media file: my logo.png" in missing.output

    (folder / "welcome-media").mkdir()
    (folder / "welcome-media" / "my logo.png").write_bytes(b"logo")
    supplied = run("publish-xlsforms", str(folder))
    assert supplied.exit_code == 0, supplied.output
    assert "media file updated: my logo.png" in supplied.output

    _media_xlsform(folder / "welcome.xlsx", "2")
    (folder / "welcome-media" / "my logo.png").unlink()
    kept = run("publish-xlsforms", str(folder))
    assert "Published welcome version 2" in kept.output
    assert "kept from the previous version: my logo.png" in kept.output
    assert "missing" not in kept.output


def test_api_tokens_can_be_revoked(run, tmp_path: Path, empty_database_url: str):
    import re

    from server import create_app

    assert run("migrate").exit_code == 0
    for name in ("cw1", "cw2"):
        made = run(
            "create-user",
            name,
            "--role",
            "caseworker",
            "--password-stdin",
            input="a long password\n",
        )
        assert made.exit_code == 0
    first = run("create-token", "cw1")
    second = run("create-token", "cw1", "--label", "nightly sync")
    other = run("create-token", "cw2")
    tokens = [r.stdout.strip() for r in (first, second, other)]
    match = re.search(r"API token (\d+) for cw1", first.stderr)
    assert match is not None
    first_id = match.group(1)

    client = create_app(
        {"DATABASE_URL": empty_database_url, "DATA_DIR": str(tmp_path / "data"), "TESTING": True}
    ).test_client()

    def status(token: str) -> int:
        return client.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code

    assert [status(t) for t in tokens] == [200, 200, 200]

    one = run("revoke-token", first_id)
    assert one.exit_code == 0
    assert one.output.strip() == f"Revoked API token {first_id} of cw1."
    assert [status(t) for t in tokens] == [401, 200, 200]

    every = run("revoke-token", "cw1")
    assert every.exit_code == 0
    assert "(nightly sync) of cw1." in every.output
    assert [status(t) for t in tokens] == [401, 401, 200]

    assert "no API token left" in run("revoke-token", "cw1").output
    assert "no API token left" in run("revoke-token", first_id).output
    unknown = run("revoke-token", "nobody")
    assert unknown.exit_code == 1
    assert "token.not_found" in unknown.output


def test_an_export_leaves_the_database_free_for_writers(
    run, tmp_path: Path, empty_database_url: str, monkeypatch: pytest.MonkeyPatch
):
    import sqlite3

    import server.downloads.service as downloads
    from tests.conftest import is_postgres

    if is_postgres():
        pytest.skip("SQLite's single writer lock")
    assert run("migrate").exit_code == 0
    export = downloads.run_export
    lock: list[str] = []

    def run_export(*args: object, **kwargs: object) -> object:
        other = sqlite3.connect(empty_database_url.removeprefix("sqlite:///"), timeout=0.2)
        try:
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            lock.append("free")
        except sqlite3.OperationalError:
            lock.append("held")
        finally:
            other.close()
        return export(*args, **kwargs)

    monkeypatch.setattr(downloads, "run_export", run_export)
    result = run("export-cases", "--out", str(tmp_path / "cases.zip"))
    assert result.exit_code == 0, result.output
    assert lock == ["free"]


def test_an_unknown_time_zone_stops_every_command_with_a_message(
    empty_database_url: str, tmp_path: Path
):
    env = {
        "CASEWORK_DATABASE_URL": empty_database_url,
        "CASEWORK_DATA_DIR": str(tmp_path / "data"),
        "CASEWORK_TIMEZONE": "Europe/Atlantis",
    }
    result = CliRunner().invoke(main, ["migrate"], env=env)
    assert result.exit_code == 1
    assert "CASEWORK_TIMEZONE='Europe/Atlantis' is not a time zone" in result.output
    assert "Traceback" not in result.output

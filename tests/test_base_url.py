"""The base URL follows the address served when CASEWORK_BASE_URL is unset: the sign-in URL
`ensure-admin` prints, `create-device`'s server URL and QR code, and the pages and device
URLs of the app `casework serve` runs all name the port (and host) actually served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask

import server.wsgi_server
from server.auth.qr import read_qr_payload
from server.cli import main
from server.config import load_config, served_base_url

EVERY_INTERFACE = "0.0.0.0"  # noqa: S104 (an address to serve on, as a person would set it)


@pytest.fixture
def run(empty_database_url: str, tmp_path: Path) -> Any:
    def invoke(*args: str, input: str | None = None, **env: str | None) -> Any:
        full: dict[str, str | None] = {
            "CASEWORK_DATABASE_URL": empty_database_url,
            "CASEWORK_DATA_DIR": str(tmp_path / "data"),
            "CASEWORK_ODK_VALIDATE": "false",
            "CASEWORK_BASE_URL": None,
            "CASEWORK_HOST": None,
            "CASEWORK_PORT": None,
            **env,
        }
        return CliRunner().invoke(main, list(args), env=full, input=input, catch_exceptions=False)

    return invoke


def test_cli_commands_name_the_port_set_by_casework_port(run: Any) -> None:
    assert run("migrate").exit_code == 0
    admin = run("ensure-admin", CASEWORK_PORT="8391")
    assert "Sign in at http://127.0.0.1:8391/login" in admin.output
    made = run(
        "create-user", "cw1", "--role", "caseworker", "--password-stdin", input="a long password\n"
    )
    assert made.exit_code == 0, made.output
    device = run("create-device", "p1", "--user", "cw1", CASEWORK_PORT="8391")
    assert device.exit_code == 0, device.output
    assert "Server URL: http://127.0.0.1:8391/key/" in device.output
    payload = device.output.split("QR payload: ")[1].split()[0]
    assert read_qr_payload(payload)["general"]["server_url"].startswith(
        "http://127.0.0.1:8391/key/"
    )
    other = run("create-device", "p2", "--user", "cw1", CASEWORK_HOST="10.0.0.5")
    assert "Server URL: http://10.0.0.5:8080/key/" in other.output


def test_serve_gives_its_workers_the_address_it_serves(
    run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(server.wsgi_server, "run", lambda **options: started.append(options))
    assert run("migrate").exit_code == 0

    served = run("serve", "--port", "8391", "--workers", "1")
    assert served.exit_code == 0, served.output
    assert "http://127.0.0.1:8391/" in served.output
    assert started[-1]["port"] == 8391
    assert started[-1]["overrides"] == {"BASE_URL": "http://127.0.0.1:8391"}

    # `make run` passes CASEWORK_PORT as --port; without it, serve reads the setting
    run("serve", "--workers", "1", CASEWORK_PORT="8392", CASEWORK_HOST=EVERY_INTERFACE)
    assert (started[-1]["host"], started[-1]["port"]) == (EVERY_INTERFACE, 8392)
    assert started[-1]["overrides"] == {"BASE_URL": "http://127.0.0.1:8392"}

    # a base URL that is set (a proxy in front) is kept as it is
    run("serve", "--port", "8391", CASEWORK_BASE_URL="https://casework.example.org")
    assert started[-1]["overrides"] == {}


def test_a_worker_app_takes_the_served_base_url(
    empty_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CASEWORK_DATABASE_URL", empty_database_url)
    monkeypatch.setenv("CASEWORK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CASEWORK_BASE_URL", raising=False)
    gunicorn = server.wsgi_server._Gunicorn(
        {"bind": "127.0.0.1:8391", "workers": 1, "threads": 1},
        {"BASE_URL": "http://127.0.0.1:8391"},
    )
    app = gunicorn.load()
    assert app.config["BASE_URL"] == "http://127.0.0.1:8391"


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 8391, "http://127.0.0.1:8391"),
        (EVERY_INTERFACE, 8080, "http://127.0.0.1:8080"),
        ("casework.lan", 80, "http://casework.lan:80"),
        ("::1", 8391, "http://[::1]:8391"),
    ],
)
def test_served_base_url(host: str, port: int, url: str) -> None:
    assert served_base_url(host, port) == url


def test_config_builds_the_base_url_from_host_and_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CASEWORK_BASE_URL", "CASEWORK_HOST", "CASEWORK_PORT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CASEWORK_PORT", "8391")
    app = Flask(__name__)
    load_config(app, {"DATA_DIR": str(tmp_path)})
    assert app.config["BASE_URL"] == "http://127.0.0.1:8391"
    monkeypatch.setenv("CASEWORK_BASE_URL", "https://casework.example.org/")
    app = Flask(__name__)
    load_config(app, {"DATA_DIR": str(tmp_path)})
    assert app.config["BASE_URL"] == "https://casework.example.org"

"""A real server process (gunicorn, as `casework serve` runs it) on a loopback port."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from server import create_app
from server.cli import main as cli_main
from server.db import get_database
from server.migrations import upgrade

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class LiveServer:
    base_url: str
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def cli(self, *args: str, input: str | None = None) -> str:
        """Runs a ``casework`` command on the server's database and data, as an admin at the
        server would, and returns what it printed. The command runs in this process: a
        process of its own cost a second and a half of both cores' time, every call."""
        # an exception raises with its traceback (caught, it became exit code 1 and no trace)
        result = CliRunner().invoke(
            cli_main, list(args), input=input, env=self.env, catch_exceptions=False
        )
        assert result.exit_code == 0, result.output
        return result.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def live_server_env() -> dict[str, str]:
    """Extra CASEWORK_* settings for the live server; a test module may override it."""
    return {}


@pytest.fixture
def live_server(
    empty_database_url: str, tmp_path: Path, live_server_env: dict[str, str]
) -> Iterator[LiveServer]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CASEWORK_DATABASE_URL": empty_database_url,
        "CASEWORK_DATA_DIR": str(tmp_path / "data"),
        "CASEWORK_BASE_URL": base_url,
        "CASEWORK_ODK_VALIDATE": "false",
        # small enough that a phone must split an upload with a photo into several POSTs
        "CASEWORK_MAX_SUBMISSION_BYTES": "200000",
        **live_server_env,
    }
    app = create_app({"DATABASE_URL": empty_database_url, "DATA_DIR": env["CASEWORK_DATA_DIR"]})
    upgrade(get_database(app).engine)
    get_database(app).engine.dispose()
    process = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--port", str(port), "--workers", "2"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base_url}/formList", timeout=2)
        except urllib.error.HTTPError:
            break  # it answered (401): up
        except OSError as exc:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(
                    "the server did not start: "
                    + (process.stderr.read() if process.stderr else b"").decode()
                ) from exc
            time.sleep(0.2)
    yield LiveServer(base_url, env, process)
    process.terminate()
    try:  # a graceful stop lets busy workers finish, which a loaded machine makes slow
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:  # the test is over and its data committed
        process.kill()
        process.wait()

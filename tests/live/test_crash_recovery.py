"""kill -9 of a real server (`casework serve`, gunicorn and its workers) while phones send
submissions: once it is started again and the phones resend, every stored submission is
merged into its case, none is stored twice."""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from server import create_app
from server.cases.models import Case
from server.db import get_database
from server.migrations import upgrade
from server.submissions.models import Submission
from tests.collect import CollectClient
from tests.live.conftest import ROOT, LiveServer, _free_port
from tests.realforms import new_case_plan

pytestmark = pytest.mark.live

ROUNDS = 12  # kill rounds at most, until one leaves a submission stored but not merged
# Far more than are answered before the kill, so that the kill lands while the phones are
# still sending (a quiet machine answers the first few dozen in a fraction of a second).
PER_ROUND = 200
KILL_AFTER = 20
SERVE = (sys.executable, "-m", "server.cli", "serve")


class Server:
    """`casework serve` in a process group of its own, so that kill -9 takes every worker."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [*SERVE, "--port", str(self.port), "--workers", "2"],
                env=self.env,
                cwd=ROOT,
                stdout=subprocess.DEVNULL,
                stderr=log,
                start_new_session=True,
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{self.port}/formList", timeout=2)
            except urllib.error.HTTPError:
                return  # it answered (401): up
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.kill()
                    raise RuntimeError(
                        "the server did not start: " + self.log.read_text()
                    ) from None
                time.sleep(0.2)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


@pytest.fixture
def server(empty_database_url: str, tmp_path: Path) -> Iterator[tuple[Server, LiveServer, Flask]]:
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "CASEWORK_DATABASE_URL": empty_database_url,
        "CASEWORK_DATA_DIR": str(tmp_path / "data"),
        "CASEWORK_BASE_URL": base_url,
        "CASEWORK_ODK_VALIDATE": "false",
    }
    app = create_app({"DATABASE_URL": empty_database_url, "DATA_DIR": env["CASEWORK_DATA_DIR"]})
    upgrade(get_database(app).engine)
    running = Server(env, port, tmp_path / "server.log")
    running.start()
    try:
        yield running, LiveServer(base_url, env, running.process), app  # type: ignore[arg-type]
    finally:
        running.kill()
        get_database(app).engine.dispose()


def _states(app: Flask) -> dict[str, str]:
    """instance id -> processing state, of every stored submission."""
    with get_database(app).sessionmaker() as session:
        rows = session.execute(select(Submission.instance_id, Submission.processing_state))
        return dict(rows.all())


def _stream(phone_url: str, plans: list[bytes], stop_after: int) -> int:
    """Send ``plans`` from four phones at once; returns how many were answered 201 by the
    time ``stop_after`` answers had come (the caller kills the server then)."""
    answered = 0
    lock = threading.Lock()
    done = threading.Event()
    queue = list(plans)

    def phone(n: int) -> None:
        nonlocal answered
        client = CollectClient(phone_url, device_id=f"collect:phone{n:012d}")
        while True:
            with lock:
                if not queue:
                    return
                xml = queue.pop(0)
            try:
                status = client.submit(xml)[-1].status
            except (OSError, http.client.HTTPException):
                return  # the server died under us: the phone keeps the form, resends it later
            with lock:
                answered += status == 201
                if answered >= stop_after:
                    done.set()

    threads = [threading.Thread(target=phone, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    done.wait(timeout=120)
    return answered


def test_after_kill_9_and_resend_every_stored_submission_is_merged(server):
    running, live, app = server
    live.cli("publish", str(ROOT / "xlsforms" / "case_plan.xlsx"), "--no-validate")
    live.cli(
        "create-user", "cw1", "--role", "caseworker", "--password-stdin", input="a long password\n"
    )
    phone_url = live.cli("create-device", "phone", "--user", "cw1").split("Server URL: ")[1]
    phone_url = phone_url.split()[0]

    plans: dict[str, bytes] = {}
    left_behind = 0
    for round_ in range(ROUNDS):
        batch = {}
        for i in range(PER_ROUND):
            ref = f"CP-KILL-{round_}-{i}"
            batch[ref] = new_case_plan(ref)[0]
        plans.update(batch)
        _stream(phone_url, list(batch.values()), stop_after=KILL_AFTER)
        running.kill()  # kill -9 of the whole process group, mid-stream
        left_behind = sum(state == "pending" for state in _states(app).values())
        running.start()
        if left_behind:
            break
    # Otherwise the kills never fell between a store and its merge: nothing was tested.
    assert left_behind, "no kill -9 left a submission stored but unmerged; raise ROUNDS"

    # Started again: what was left pending was merged before the workers took requests.
    assert "pending" not in _states(app).values()

    # Every phone resends every form it has not seen a 201 for (here: all of them).
    resender = CollectClient(phone_url)
    for xml in plans.values():
        assert resender.submit(xml)[-1].status == 201

    states = _states(app)
    assert len(states) == len(plans)  # each stored exactly once
    assert set(states.values()) == {"applied"}  # and every one merged
    with get_database(app).sessionmaker() as session:
        cases = set(session.scalars(select(Case.case_ref)))
        assert session.scalar(select(func.count()).select_from(Case)) == len(plans)
    assert cases == set(plans)

"""Identical submissions racing through several server processes make one record."""

from __future__ import annotations

import json
import threading
import urllib.request

import pytest

from tests.collect import CollectClient
from tests.live.conftest import ROOT, LiveServer
from tests.realforms import new_case_plan

pytestmark = pytest.mark.live


def test_parallel_identical_submissions_make_one_record(live_server: LiveServer):
    live_server.cli("publish", str(ROOT / "xlsforms" / "case_plan.xlsx"), "--no-validate")
    live_server.cli(
        "create-user", "cw1", "--role", "caseworker", "--password-stdin", input="a long password\n"
    )
    url = live_server.cli("create-device", "phone", "--user", "cw1").split("Server URL: ")[1]
    phone_url = url.split()[0]
    plan, _ = new_case_plan("CP-RACE-1")
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        phone = CollectClient(phone_url)
        barrier.wait()
        statuses.append(phone.submit(plan, {"photo.jpg": b"\xff\xd8" * 1000})[-1].status)

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses == [201] * 8

    token = live_server.cli("create-token", "cw1").strip()
    request = urllib.request.Request(
        f"{live_server.base_url}/api/v1/cases/CP-RACE-1",
        headers={"Authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        record = json.load(answer)
    assert len(record["timeline"]) == 1
    live_server.cli(
        "create-user", "boss", "--role", "admin", "--password-stdin", input="a long password\n"
    )
    admin = live_server.cli("create-token", "boss").strip()
    request = urllib.request.Request(
        f"{live_server.base_url}/api/v1/forms/case_plan/submissions",
        headers={"Authorization": f"Bearer {admin}"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        assert json.load(answer)["total"] == 1

"""Phones on poor networks upload slowly; `casework serve` must keep serving the others."""

from __future__ import annotations

import socket
import threading
import time
from urllib.parse import urlsplit

import pytest

from tests.collect import CollectClient, multipart
from tests.live.conftest import ROOT, LiveServer
from tests.realforms import new_case_plan

pytestmark = pytest.mark.live

SLOW_PHONES = 4  # more than the live server's worker processes
SECONDS_PER_UPLOAD = 5.0


def _slow_post(url: str, body: bytes, content_type: str, answers: list[bytes]) -> None:
    """POST like a phone on a weak signal: headers at once, the body a trickle."""
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        head = (
            f"POST {parts.path}/submission?deviceID=collect%3Aslow HTTP/1.1\r\n"
            f"Host: {parts.netloc}\r\nX-OpenRosa-Version: 1.0\r\n"
            f"Content-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n"
        )
        sock.sendall(head.encode())
        chunks = 50
        size = -(-len(body) // chunks)
        for start in range(0, len(body), size):
            sock.sendall(body[start : start + size])
            time.sleep(SECONDS_PER_UPLOAD / chunks)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        answers.append(answer)


def test_slow_uploads_do_not_hold_up_other_phones(live_server: LiveServer):
    live_server.cli("publish", str(ROOT / "xlsforms" / "case_plan.xlsx"), "--no-validate")
    live_server.cli(
        "create-user", "cw1", "--role", "caseworker", "--password-stdin", input="a long password\n"
    )
    url = live_server.cli("create-device", "phone", "--user", "cw1").split("Server URL: ")[1]
    phone_url = url.split()[0]

    answers: list[bytes] = []
    slow = []
    for n in range(SLOW_PHONES):
        plan, _ = new_case_plan(f"CP-SLOW-{n}")
        body, content_type = multipart(
            plan, [("photo.jpg", b"\xff\xd8" * 20_000)], incomplete=False
        )
        slow.append(
            threading.Thread(target=_slow_post, args=(phone_url, body, content_type, answers))
        )
    for thread in slow:
        thread.start()
    time.sleep(0.5)  # every slow upload has begun

    phone = CollectClient(phone_url)
    started = time.monotonic()
    assert phone.form_list().status == 200
    plan, _ = new_case_plan("CP-FAST-1")
    assert [r.status for r in phone.submit(plan)] == [201]
    waited = time.monotonic() - started
    still_uploading = sum(thread.is_alive() for thread in slow)

    for thread in slow:
        thread.join(timeout=60)
    assert waited < SECONDS_PER_UPLOAD / 2, f"a quick phone waited {waited:.1f} s behind slow ones"
    assert still_uploading == SLOW_PHONES, "the slow uploads ended too soon to prove anything"
    assert len(answers) == SLOW_PHONES
    assert all(answer.startswith(b"HTTP/1.1 201") for answer in answers), answers

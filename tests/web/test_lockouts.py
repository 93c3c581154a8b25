"""An admin sees the sign-in lock-outs in force on the Users page, and lifts one: its
owner can sign in again at once, and the lifting is in the audit log in words."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from tests.factories import PASSWORD
from tests.web.conftest import Web
from tests.web.test_case_decisions import _flashes, _text

OWNER = "198.51.100.20"


def _from(app: Flask, address: str) -> Web:
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return Web(client)


def _lock(app: Flask, username: str, address: str) -> Web:
    web = _from(app, address)
    for _ in range(5):
        assert web.login(username, "a wrong password").status_code == 401
    assert web.login(username).status_code == 429
    return web


def _section(page: str) -> str:
    return page.split('id="lockouts"')[1].split("</table>")[0]


def test_an_admin_sees_and_lifts_a_lock_out(app: Flask, make: Any, web_as: Any) -> None:
    make.user("amina", "caseworker", team="north")
    admin = web_as("adm", "admin")
    assert "No sign-in is locked." in _text(_section(admin.text("/users")))
    owner = _lock(app, "amina", OWNER)

    shown = _section(admin.text("/users"))
    assert f"amina {OWNER} this account from this address" in _text(shown)
    keys = re.findall(r'name="key" value="([0-9a-f]{64})"', shown)
    assert len(keys) == 1
    assert 'aria-label="Lift the lock-out of amina"' in shown

    lifted = admin.post("/users/lockouts/lift", {"key": keys[0]})
    assert lifted.headers["Location"] == "/users#lockouts"
    assert "The lock-out of amina is lifted." in _flashes(admin, "/users")
    assert "No sign-in is locked." in _text(_section(admin.text("/users")))
    assert owner.login("amina", PASSWORD).status_code == 302

    again = admin.post("/users/lockouts/lift", {"key": keys[0]})
    assert again.status_code == 302
    assert "already ended or been lifted" in _flashes(admin, "/users")

    audit = _text(admin.text("/audit?action=auth.lockout"))
    assert "adm Lifted a sign-in lock-out auth.lockout_lift user amina" in audit
    assert f"Address: {OWNER}" in audit
    assert "Locked for: this account from this address" in audit
    assert "User: amina" in audit


def test_an_address_locked_for_every_account_is_shown_and_lifted(
    app: Flask, make: Any, web_as: Any
) -> None:
    """Twenty wrong sign-ins from one address, under names that exist or not, lock the
    address for every account; the admin sees the address, with no account named."""
    make.user("amina", "caseworker", team="north")
    guesser = _from(app, "203.0.113.7")
    for n in range(20):
        guesser.login(f"name{n}", "a wrong password")
    assert guesser.login("amina").status_code == 429
    admin = web_as("adm", "admin")
    shown = _section(admin.text("/users"))
    assert "— 203.0.113.7 every account from this address" in _text(shown)
    row = next(r for r in shown.split("<tr>") if "every account from this address" in r)
    (key,) = re.findall(r'name="key" value="([0-9a-f]{64})"', row)
    admin.post("/users/lockouts/lift", {"key": key})
    assert "every account from this address" not in _section(admin.text("/users"))
    assert guesser.login("amina").status_code == 302

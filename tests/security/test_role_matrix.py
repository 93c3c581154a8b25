"""Who may call what: every route of the app, every method, for every kind of caller.

The table below is the rule. The test enumerates ``app.url_map``, so a route added without
a line here fails the suite, and so does a line for a route that no longer exists. Each
caller is refused (401/403, or a redirect to the sign-in page) wherever the table does not
list it, and is let past the door (any other answer but a 5xx) wherever it does. Whether a
caller then sees a given case is the scope rule's business (tests/api/test_cases_api.py);
this test is about the door.

Callers: anonymous; a browser session of each role (pages); an API token of each role
(``/api``); each role by Basic over HTTPS (device routes without a key, as Digest is tried
in tests/auth); and a device key (``/key/<token>``), held by a caseworker's phone. A caller
without the kind of credential a route takes sends what it has, which must not be enough:
a device key opens nothing outside ``/key``, and a session opens no device route.

OPTIONS is answered by Flask itself (the Allow header, no data) and is not listed.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from server import create_app
from server.db import get_database
from tests.conftest import app_config
from tests.factories import PASSWORD, Factory, bearer
from tests.realforms import new_case_plan, xlsform_bytes

ADMIN, SUPERVISOR, CASEWORKER, DESIGNER, DEVICE = (
    "admin",
    "supervisor",
    "caseworker",
    "designer",
    "device",
)
ROLES = (ADMIN, SUPERVISOR, CASEWORKER, DESIGNER)
CALLERS = (*ROLES, DEVICE)

PUBLIC = "public"  # no credential needed; only checked never to fail with a 5xx
EVERYONE = frozenset(ROLES)
CASE_READERS = frozenset({ADMIN, SUPERVISOR, CASEWORKER})
SUPERVISORS = frozenset({ADMIN, SUPERVISOR})
FORM_READERS = frozenset({ADMIN, SUPERVISOR, DESIGNER})
FORM_WRITERS = frozenset({ADMIN, DESIGNER})
ADMINS = frozenset({ADMIN})
SUBMITTERS = frozenset({ADMIN, SUPERVISOR, CASEWORKER})
DEVICE_KEY = frozenset({DEVICE})

LIST_ATTACHMENT = (
    'GET /forms/<form_id>/attachments/<any("cases.csv", "plan_items.csv", "services.csv", '
    '"transfer_targets.csv"):list_name>'
)

# "METHOD rule" -> who may pass. HEAD goes with GET.
EXPECTED: dict[str, frozenset[str] | str] = {
    # pages
    "GET /": EVERYONE,
    "GET /login": PUBLIC,
    "POST /login": PUBLIC,
    "POST /logout": PUBLIC,
    "GET /account": EVERYONE,
    "POST /account": EVERYONE,
    "POST /account/password": EVERYONE,
    "GET /favicon.ico": PUBLIC,
    "GET /static/<path:filename>": PUBLIC,
    "GET /web/static/<path:filename>": PUBLIC,
    "GET /dashboard": CASE_READERS,
    "GET /plan-items": CASE_READERS,
    "GET /referrals": CASE_READERS,
    "GET /audit": ADMINS,
    "GET /cases": CASE_READERS,
    "GET /cases/<path:case_ref>": CASE_READERS,
    "GET /cases/<path:case_ref>/print": CASE_READERS,
    "GET /cases/<path:case_ref>/close": SUPERVISORS,
    "POST /cases/<path:case_ref>/close": SUPERVISORS,
    "POST /cases/<path:case_ref>/approval": SUPERVISORS,
    "POST /cases/<path:case_ref>/reopen": SUPERVISORS,
    "GET /cases/<path:case_ref>/reassign": SUPERVISORS,
    "POST /cases/<path:case_ref>/reassign": SUPERVISORS,
    "POST /cases/<path:case_ref>/resolve": SUPERVISORS,
    "GET /cases/<path:case_ref>/transfer": SUPERVISORS,
    "POST /cases/<path:case_ref>/transfer": SUPERVISORS,
    "POST /cases/<path:case_ref>/transfer/accept": SUPERVISORS,
    "POST /cases/<path:case_ref>/transfer/decline": SUPERVISORS,
    "POST /cases/<path:case_ref>/transfer/withdraw": SUPERVISORS,
    "GET /cases/<path:case_ref>/transfer/summary": SUPERVISORS,
    "POST /cases/<path:case_ref>/referrals/<item_id>": SUPERVISORS,
    "GET /queues": SUPERVISORS,
    "POST /queues/link": SUPERVISORS,
    "POST /queues/duplicate": SUPERVISORS,
    "GET /queues/duplicate/preview": SUPERVISORS,
    "GET /exports": SUPERVISORS,
    "POST /exports": SUPERVISORS,
    "GET /reports": SUPERVISORS,
    "GET /reports.csv": SUPERVISORS,
    "GET /forms": FORM_READERS,
    "GET /forms/<form_id>": FORM_READERS,
    "GET /forms/<form_id>/versions/<int(max=2147483647):version_id>/xform": FORM_READERS,
    "GET /forms/<form_id>/versions/<int(max=2147483647):version_id>/xlsform": FORM_READERS,
    "POST /forms/preview": FORM_WRITERS,
    "POST /forms/publish": FORM_WRITERS,
    "POST /forms/<form_id>/state": FORM_WRITERS,
    "POST /forms/<form_id>/attachments": FORM_WRITERS,
    "GET /services": CASE_READERS,
    "GET /services/new": SUPERVISORS,
    "POST /services/new": SUPERVISORS,
    "GET /services/<service_id>/edit": SUPERVISORS,
    "POST /services/<service_id>/edit": SUPERVISORS,
    "GET /services/import": SUPERVISORS,
    "POST /services/import": SUPERVISORS,
    "GET /users": ADMINS,
    "POST /users": ADMINS,
    "GET /users/<username>": ADMINS,
    "POST /users/<username>": ADMINS,
    "POST /users/<username>/password": ADMINS,
    "POST /users/lockouts/lift": ADMINS,
    "GET /teams": ADMINS,
    "POST /teams": ADMINS,
    "POST /teams/delete": ADMINS,
    "GET /devices": ADMINS,
    "POST /devices": ADMINS,
    "POST /devices/revoke": ADMINS,
    # the JSON API
    "GET /api/v1/cases": CASE_READERS,
    "GET /api/v1/cases/<path:case_ref>": CASE_READERS,
    "GET /api/v1/cases/<path:case_ref>/history": CASE_READERS,
    "GET /api/v1/followups": CASE_READERS,
    "POST /api/v1/cases/<path:case_ref>/close": SUPERVISORS,
    "POST /api/v1/cases/<path:case_ref>/approval": SUPERVISORS,
    "POST /api/v1/cases/<path:case_ref>/reopen": SUPERVISORS,
    "POST /api/v1/cases/<path:case_ref>/reassign": SUPERVISORS,
    "POST /api/v1/cases/<path:case_ref>/transfer": SUPERVISORS,
    "POST /api/v1/cases/<path:case_ref>/transfer/accept": SUPERVISORS,
    "POST /api/v1/cases/<path:case_ref>/transfer/decline": SUPERVISORS,
    "POST /api/v1/cases/<path:case_ref>/transfer/withdraw": SUPERVISORS,
    "POST /api/v1/cases/<path:case_ref>/conflicts/resolve": SUPERVISORS,
    "GET /api/v1/cases/export": SUPERVISORS,
    "GET /api/v1/reports": SUPERVISORS,
    "GET /api/v1/queues/unlinked": SUPERVISORS,
    "GET /api/v1/queues/duplicates": SUPERVISORS,
    "POST /api/v1/queues/unlinked/link": SUPERVISORS,
    "POST /api/v1/queues/duplicates/resolve": SUPERVISORS,
    "POST /api/v1/queues/duplicates/preview": SUPERVISORS,
    "GET /api/v1/forms": FORM_READERS,
    "GET /api/v1/forms/<form_id>": FORM_READERS,
    "POST /api/v1/forms": FORM_WRITERS,
    "POST /api/v1/forms/<form_id>/state": FORM_WRITERS,
    "GET /api/v1/forms/<form_id>/export": SUPERVISORS,
    "GET /api/v1/forms/<form_id>/submissions": SUPERVISORS,
    "GET /api/v1/forms/<form_id>/submissions/<instance_id>": SUPERVISORS,
    "GET /api/v1/forms/<form_id>/submissions/<instance_id>/attachments/<name>": SUPERVISORS,
    "GET /api/v1/services": CASE_READERS,
    "POST /api/v1/services": SUPERVISORS,
    "PATCH /api/v1/services/<service_id>": SUPERVISORS,
    "POST /api/v1/services/import": SUPERVISORS,
    # the device protocol, by user name and password (any account may read the forms; the
    # lists it gets hold only its own cases, none for a designer)
    "GET /formList": EVERYONE,
    "GET /forms/<form_id>.xml": EVERYONE,
    "GET /forms/<form_id>/manifest": EVERYONE,
    "GET /forms/<form_id>/attachments/<name>": EVERYONE,  # uploaded media
    # the lists the server builds for phones: for those who hold cases, never a designer
    LIST_ATTACHMENT: CASE_READERS,
    "GET /datasets/<dataset>/integrity": CASE_READERS,
    "GET /submission": EVERYONE,
    "POST /submission": SUBMITTERS,
    # ... and by device key
    "GET /key/<token>/formList": DEVICE_KEY,
    "GET /key/<token>/forms/<form_id>.xml": DEVICE_KEY,
    "GET /key/<token>/forms/<form_id>/manifest": DEVICE_KEY,
    "GET /key/<token>/forms/<form_id>/attachments/<name>": DEVICE_KEY,
    LIST_ATTACHMENT.replace("GET ", "GET /key/<token>", 1): DEVICE_KEY,
    "GET /key/<token>/datasets/<dataset>/integrity": DEVICE_KEY,
    "GET /key/<token>/submission": DEVICE_KEY,
    "POST /key/<token>/submission": DEVICE_KEY,
}

INSTANCE = "uuid:5f0c1a52-3b9e-4d57-9d1c-0d1e2f3a4b5c"


def _rules(app: Flask) -> Iterator[tuple[str, str]]:
    for rule in app.url_map.iter_rules():
        for method in sorted(rule.methods - {"OPTIONS", "HEAD"}):
            yield method, rule.rule


@pytest.fixture
def app(database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """CSRF off: the door is what is tested here (CSRF is tested on its own)."""
    application = create_app(app_config(database_url, tmp_path / "data", WTF_CSRF_ENABLED=False))
    yield application
    get_database(application).engine.dispose()


class World:
    def __init__(self, app: Flask, make: Factory) -> None:
        self.app = app
        for form_id in ("case_plan", "contact_log"):
            make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
        make.user("adm", ADMIN)
        make.user("sup", SUPERVISOR, team="north")
        make.user("cw", CASEWORKER, team="north")
        make.user("des", DESIGNER)
        make.user("target", CASEWORKER, team="north")  # the account user pages act on
        self.usernames = {ADMIN: "adm", SUPERVISOR: "sup", CASEWORKER: "cw", DESIGNER: "des"}
        phone = make.device_client("phone-cw", "cw")
        xml = new_case_plan("CP-1", caseworker="cw", instance_id=INSTANCE)[0]
        assert phone.submit(xml).status_code == 201
        self.device_token = phone.token
        self.api = {role: bearer(make.api_token(name)) for role, name in self.usernames.items()}
        self.sessions: dict[str, FlaskClient] = {}
        for role, name in self.usernames.items():
            client = app.test_client()
            response = client.post("/login", data={"username": name, "password": PASSWORD})
            assert response.status_code == 302
            self.sessions[role] = client

    def url(self, rule: str, caller: str) -> str:
        values = {
            "case_ref": "CP-1",
            "form_id": "case_plan",
            "version_id": "1",
            "instance_id": INSTANCE,
            # an uploaded medium (none is uploaded: the door is what is tested), or a list
            "name": "photo.jpg" if rule.startswith("/api/") else "areas.csv",
            "list_name": "cases.csv",
            "service_id": "s1",
            "item_id": "00000000-0000-0000-0000-000000000000",
            "username": "target",
            "dataset": "cases",
            "filename": "style.css",
            "token": self.device_token if caller == DEVICE else "not-a-device-key",
        }

        def fill(match: re.Match[str]) -> str:
            return values[match.group(1)]

        return re.sub(r"<(?:[^:<>]+:)?([a-z_]+)(?:\([^)]*\))?>", fill, rule)

    def ways(self, endpoint: str, rule: str, caller: str) -> list[str]:
        """The credentials ``caller`` tries on this route: what it holds."""
        if caller == DEVICE:
            return ["key"]
        if endpoint.startswith("openrosa."):
            return ["basic", "session"]
        if rule.startswith("/api/"):
            return ["bearer", "session"]
        return ["session"]

    def call(
        self, method: str, rule: str, endpoint: str, caller: str | None, via: str = ""
    ) -> TestResponse:
        url = self.url(rule, caller or "")
        headers: dict[str, str] = {}
        kw: dict[str, Any] = {"method": method}
        client = self.app.test_client()
        if via == "session" and caller in ROLES:
            client = self.sessions[caller]
        if via == "bearer" and caller in ROLES:
            headers.update(self.api[caller])
        if via == "basic" and caller in ROLES:
            basic = f"{self.usernames[caller]}:{PASSWORD}".encode()
            headers["Authorization"] = f"Basic {base64.b64encode(basic).decode()}"
        if endpoint.startswith("openrosa."):
            headers["X-OpenRosa-Version"] = "1.0"
            kw["base_url"] = "https://localhost"  # Basic is taken over HTTPS only
            if method == "POST":
                kw["data"] = {}
                kw["content_type"] = "multipart/form-data"
        elif rule.startswith("/api/"):
            if method in ("POST", "PATCH"):
                kw["json"] = {}
        elif method == "POST":
            kw["data"] = {}
        response = client.open(url, headers=headers, **kw)
        # Read and close every answer: a streamed download left open keeps its request
        # context pushed, and the next request would run inside it.
        response.get_data()
        response.close()
        return response


def _refused(response: TestResponse) -> bool:
    if response.status_code in (401, 403):
        return True
    if response.status_code in (301, 302, 303, 307, 308):
        return urlsplit(response.headers.get("Location", "")).path == "/login"
    return False


def test_every_route_has_a_rule(app: Flask) -> None:
    found = {f"{method} {rule}" for method, rule in _rules(app)}
    missing = sorted(found - EXPECTED.keys())
    stale = sorted(EXPECTED.keys() - found)
    assert not missing, f"routes with no line in EXPECTED (say who may call them): {missing}"
    assert not stale, f"lines in EXPECTED for routes that no longer exist: {stale}"


@pytest.mark.slow
def test_each_caller_passes_only_the_doors_the_table_opens(app: Flask, make: Factory) -> None:
    world = World(app, make)
    endpoints = {(m, r.rule): r.endpoint for r in app.url_map.iter_rules() for m in r.methods}
    wrong: list[str] = []
    for method, rule in sorted(_rules(app), key=lambda mr: (mr[1] == "/logout", mr)):
        allowed = EXPECTED.get(f"{method} {rule}")
        assert allowed is not None, f"{method} {rule} has no rule"
        endpoint = endpoints[(method, rule)]
        device = endpoint.startswith("openrosa.")
        methods = [method, "HEAD"] if method == "GET" else [method]
        for verb in methods:
            anonymous = world.call(verb, rule, endpoint, None)
            assert anonymous.status_code < 500, (verb, rule, anonymous.status_code)
            if allowed == PUBLIC:
                continue
            if not _refused(anonymous):
                wrong.append(f"anonymous passed {verb} {rule} ({anonymous.status_code})")
            for caller in CALLERS:
                for via in world.ways(endpoint, rule, caller):
                    response = world.call(verb, rule, endpoint, caller, via)
                    status = response.status_code
                    assert status < 500, (caller, via, verb, rule, status)
                    # a browser session never opens a device route
                    may = caller in allowed and not (device and via == "session")
                    if may and _refused(response):
                        wrong.append(f"{caller} ({via}) refused {verb} {rule} ({status})")
                    if not may and not _refused(response):
                        wrong.append(f"{caller} ({via}) passed {verb} {rule} ({status})")
    assert not wrong, "\n".join(wrong)

"""Small explicit builders for test data."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from pyxform.xls2xform import convert
from werkzeug.test import TestResponse

from server import db
from server.auth import auth_settings
from server.auth.devices import create_api_token, create_device
from server.auth.models import User
from server.auth.queries import get_team
from server.auth.service import create_team, create_user
from server.xforms.service import publish

PASSWORD = "correct horse battery"


def xform_from_md(md: str) -> str:
    """Convert a markdown XLSForm with real pyxform."""
    xml: str = convert(xlsform=md, file_type=".md").xform
    return xml


SIMPLE_FORM = """
| settings |
| | form_id | version | form_title |
| | simple | 1 | Simple form |
| survey |
| | type | name | label |
| | text | note_text | Note |
| | image | photo | Photo |
| | begin_repeat | visits | Visits |
| | date | visit_date | Date |
| | end_repeat | | |
"""


def submission_xml(
    form_id: str = "simple",
    version: str = "1",
    instance_id: str | None = None,
    *,
    body: str = "<note_text>hello</note_text>",
    deprecated_id: str | None = None,
) -> bytes:
    instance_id = instance_id or f"uuid:{uuid.uuid4()}"
    deprecated = f"<deprecatedID>{deprecated_id}</deprecatedID>" if deprecated_id else ""
    return (
        f'<?xml version=\'1.0\' ?><data id="{form_id}" version="{version}" '
        f'xmlns:orx="http://openrosa.org/xforms">{body}'
        f"<meta><instanceID>{instance_id}</instanceID>{deprecated}</meta></data>"
    ).encode()


@dataclass
class DeviceClient:
    """Sends requests the way Collect does: key prefix, OpenRosa header, deviceID."""

    client: FlaskClient
    token: str
    prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self.prefix = f"/key/{self.token}"

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.client.get(self._url(path), headers=self._headers(kw), **kw)

    def head(self, path: str, **kw: Any) -> TestResponse:
        return self.client.head(self._url(path), headers=self._headers(kw), **kw)

    def submit(
        self,
        xml: bytes,
        files: dict[str, bytes] | None = None,
        *,
        incomplete: bool = False,
        path: str = "/submission",
    ) -> TestResponse:
        data: dict[str, Any] = {
            "xml_submission_file": (io.BytesIO(xml), "instance.xml", "text/xml")
        }
        for name, content in (files or {}).items():
            data[name] = (io.BytesIO(content), name)
        if incomplete:
            data["*isIncomplete*"] = "yes"
        return self.client.post(
            self._url(path),
            data=data,
            headers={"X-OpenRosa-Version": "1.0"},
            content_type="multipart/form-data",
        )

    def _url(self, path: str) -> str:
        sep = "&" if "?" in path else "?"
        return f"{self.prefix}{path}{sep}deviceID=collect%3AAbCdEfGh12345678"

    @staticmethod
    def _headers(kw: dict[str, Any]) -> dict[str, str]:
        headers = {"X-OpenRosa-Version": "1.0"}
        headers.update(kw.pop("headers", {}) or {})
        return headers


class Factory:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def _run(self, fn: Any) -> Any:
        with self.app.app_context():
            session = db.session()
            result = fn(session)
            session.commit()
            return result

    def user(
        self, username: str, role: str, *, team: str | None = None, password: str = PASSWORD
    ) -> User:
        """A user; their team is added to the list of teams first if it is not there."""

        def make(s: Any) -> User:
            if team and get_team(s, team) is None:
                create_team(s, team, None)
            return create_user(s, auth_settings(), username, role, password, team=team)

        return self._run(make)  # type: ignore[no-any-return]

    def team(self, name: str) -> None:
        self._run(lambda s: create_team(s, name, None))

    def device_token(self, label: str, username: str) -> str:
        with self.app.app_context():
            session = db.session()
            provisioned = create_device(session, auth_settings(), label, username, None)
            session.commit()
            return provisioned.token

    def device_client(self, label: str, username: str) -> DeviceClient:
        return DeviceClient(self.app.test_client(), self.device_token(label, username))

    def api_token(self, username: str) -> str:
        def go(session: Any) -> str:
            _, token = create_api_token(session, username)
            return token

        return self._run(go)  # type: ignore[no-any-return]

    def publish_md(self, md: str, media: dict[str, bytes] | None = None) -> Any:
        xml = xform_from_md(md)
        return self._run(
            lambda s: publish(s, xml.encode(), "form.xml", media=media, validate=False)
        )

    def publish_bytes(self, content: bytes, filename: str, **kw: Any) -> Any:
        return self._run(lambda s: publish(s, content, filename, validate=False, **kw))


@dataclass
class PublishedByCli:
    """A database migrated, and xlsforms/ published, by the real `casework` command; an app
    over it with caseworker cw1 (team north) on phone p1 and an admin, boss."""

    casework: Callable[..., str]  # runs a `casework` command, returns its output
    app: Flask
    make: Factory
    phone: DeviceClient
    client: FlaskClient
    boss: dict[str, str]  # the admin's Authorization header


def bearer(token: str) -> dict[str, str]:
    """The Authorization header of an API token."""
    return {"Authorization": f"Bearer {token}"}


def link_unlinked(
    client: FlaskClient, headers: dict[str, str], instance_id: str, case_ref: str
) -> TestResponse:
    """A supervisor's decision over the API: file a waiting submission under a case."""
    return client.post(
        "/api/v1/queues/unlinked/link",
        headers=headers,
        json={"instance_id": instance_id, "case_ref": case_ref},
    )


def approve_all(client: FlaskClient, case_ref: str, headers: dict[str, str]) -> int:
    """A supervisor approves, one by one, everything waiting for approval on the case (a
    high-risk plan, a closure); returns how many."""
    for n in range(20):
        seen = client.get(f"/api/v1/cases/{case_ref}", headers=headers).json
        body = {"decision": "approve", "instance_id": seen.get("approval_instance_id") or "-"}
        response = client.post(f"/api/v1/cases/{case_ref}/approval", json=body, headers=headers)
        if response.status_code == 409:
            assert response.json["code"] == "case.not_pending", response.json
            return n
        assert response.status_code == 200, response.json
    raise AssertionError("still waiting for approval after 20 approvals")

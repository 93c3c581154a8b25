"""The lists a phone downloads (cases, plan items, services, transfer targets) are for
the people who hold cases: a designer, who may download forms to try them, gets none of
them through the device routes, and the manifest does not announce them to a designer."""

from __future__ import annotations

import base64

from flask import Flask

from tests.factories import PASSWORD, Factory


def _basic(username: str) -> dict[str, str]:
    token = base64.b64encode(f"{username}:{PASSWORD}".encode()).decode()
    return {"Authorization": f"Basic {token}", "X-OpenRosa-Version": "1.0"}


def _get(app: Flask, path: str, username: str) -> tuple[int, str]:
    client = app.test_client()
    response = client.get(path, headers=_basic(username), base_url="https://localhost")
    text = response.get_data(as_text=True)
    response.close()
    return response.status_code, text


def test_a_designer_gets_no_list_through_the_device_routes(
    app: Flask, published: None, make: Factory
) -> None:
    make.user("des", "designer")
    make.user("cw9", "caseworker", team="north")
    for name in ("services.csv", "cases.csv", "plan_items.csv"):
        status, _ = _get(app, f"/forms/contact_log/attachments/{name}", "des")
        assert status == 403, name
        status, _ = _get(app, f"/forms/contact_log/attachments/{name}", "cw9")
        assert status == 200, name
    assert _get(app, "/datasets/cases/integrity?id=x", "des")[0] == 403
    assert _get(app, "/datasets/cases/integrity?id=x", "cw9")[0] == 200
    status, manifest = _get(app, "/forms/contact_log/manifest", "des")
    assert status == 200
    assert "services.csv" not in manifest
    assert "cases.csv" not in manifest
    status, manifest = _get(app, "/forms/contact_log/manifest", "cw9")
    assert "services.csv" in manifest
    assert "cases.csv" in manifest

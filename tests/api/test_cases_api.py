"""The cases API: reference numbers with slashes."""

from __future__ import annotations

import uuid

from tests.factories import Factory
from tests.realforms import new_case_plan, xlsform_bytes


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class People:
    """API headers per user name, made on first use."""

    def __init__(self, make: Factory) -> None:
        self.make = make
        self.tokens: dict[str, str] = {}

    def __getitem__(self, username: str) -> dict[str, str]:
        if username not in self.tokens:
            self.tokens[username] = self.make.api_token(username)
        return _auth(self.tokens[username])


def _send(make: Factory, username: str, xml: bytes) -> None:
    phone = make.device_client(f"{username}-{uuid.uuid4().hex[:8]}", username)
    response = phone.submit(xml)
    assert response.status_code == 201, response.get_data(as_text=True)


# --- reference numbers with slashes ---------------------------------------------------------


def test_every_case_route_takes_a_reference_number_with_slashes(make: Factory, client):
    for form_id in ("case_plan", "contact_log"):
        make.publish_bytes(xlsform_bytes(form_id), f"{form_id}.xlsx")
    make.user("cw-n", "caseworker", team="north")
    make.user("cw-n2", "caseworker", team="north")
    make.user("sup-n", "supervisor", team="north")
    _send(make, "cw-n", new_case_plan("CP/2026/0042", caseworker="cw-n")[0])
    who = People(make)["sup-n"]

    listed = client.get("/api/v1/cases", headers=who).json["items"]
    assert [c["case_ref"] for c in listed] == ["CP/2026/0042"]
    for path in ("/api/v1/cases/CP/2026/0042", "/api/v1/cases/CP%2F2026%2F0042"):
        response = client.get(path, headers=who)
        assert response.status_code == 200, response.json
        assert response.json["case_ref"] == "CP/2026/0042"
    history = client.get("/api/v1/cases/CP/2026/0042/history", headers=who)
    assert history.status_code == 200
    assert set(history.json) == {"case_ref", "timeline", "actions", "provenance"}

    def post(action: str, body: dict[str, object]) -> int:
        r = client.post(f"/api/v1/cases/CP/2026/0042/{action}", headers=who, json=body)
        assert r.status_code == 200, (action, r.json)
        assert r.json["case_ref"] == "CP/2026/0042"
        return r.status_code

    post("reassign", {"username": "cw-n2"})
    post("close", {"reason": "goals met"})
    post("reopen", {"reason": "new concern"})
    record = client.get("/api/v1/cases/CP/2026/0042", headers=who).json
    assert record["caseworker"] == "cw-n2"
    assert record["status"] == "open"
    assert [a["kind"] for a in record["actions"]] == ["reassign", "close", "reopen"]
    conflict = client.post(
        "/api/v1/cases/CP/2026/0042/conflicts/resolve",
        headers=who,
        json={"conflict_id": 999, "value": "x"},
    )
    assert conflict.status_code == 404
    assert conflict.json["code"] == "case.conflict_not_found"  # the route, not "no page"
    # the static routes next to them still win
    make.user("adm", "admin")
    assert client.get("/api/v1/cases/export", headers=People(make)["adm"]).status_code == 200
    missing = client.get("/api/v1/cases/CP/2026/9999/history", headers=who)
    assert missing.status_code == 404
    assert missing.json["code"] == "case.not_found"

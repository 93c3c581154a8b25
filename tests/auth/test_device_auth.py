"""How devices and users authenticate to the OpenRosa endpoints (protocol notes §5)."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from server import db
from server.auth.digest import make_nonce
from server.auth.models import User
from server.auth.service import update_user
from server.errors import AppError
from tests.factories import PASSWORD, SIMPLE_FORM, Factory

H = {"X-OpenRosa-Version": "1.0"}


def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def _digest_header(
    challenge: str, method: str, uri: str, username: str, password: str, nc: str = "00000001"
) -> str:
    params = dict(re.findall(r'(\w+)="?([^",]+)"?', challenge.removeprefix("Digest ")))
    ha1 = _md5(f"{username}:{params['realm']}:{password}")
    ha2 = _md5(f"{method}:{uri}")
    cnonce = "0a4f113b"
    response = _md5(f"{ha1}:{params['nonce']}:{nc}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{username}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{uri}", qop=auth, nc={nc}, cnonce="{cnonce}", response="{response}", '
        f'opaque="{params["opaque"]}", algorithm=MD5'
    )


def test_no_credentials_gets_a_digest_challenge_not_basic_over_http(client: FlaskClient):
    response = client.head("/submission", headers=H)
    assert response.status_code == 401
    challenges = response.headers.get_all("WWW-Authenticate")
    assert len(challenges) == 1
    assert challenges[0].startswith('Digest realm="casework", qop="auth"')


def test_digest_flow_head_then_post_like_collect(make: Factory, client: FlaskClient):
    make.publish_md(SIMPLE_FORM)
    make.user("cw", "caseworker")
    uri = "/submission?deviceID=collect%3Aabc"
    challenge = client.head(uri, headers=H).headers["WWW-Authenticate"]
    auth = _digest_header(challenge, "HEAD", uri, "cw", PASSWORD)
    assert client.head(uri, headers={**H, "Authorization": auth}).status_code == 204
    assert (
        client.get(
            "/formList",
            headers={
                **H,
                # the same nonce again, with the next count, as Collect does
                "Authorization": _digest_header(
                    challenge, "GET", "/formList", "cw", PASSWORD, nc="00000002"
                ),
            },
        ).status_code
        == 200
    )


def test_digest_with_wrong_password_or_uri_is_refused(make: Factory, client: FlaskClient):
    make.user("cw", "caseworker")
    challenge = client.head("/submission", headers=H).headers["WWW-Authenticate"]
    wrong = _digest_header(challenge, "HEAD", "/submission", "cw", "not the password")
    assert client.head("/submission", headers={**H, "Authorization": wrong}).status_code == 401
    other_uri = _digest_header(challenge, "HEAD", "/formList", "cw", PASSWORD)
    assert client.head("/submission", headers={**H, "Authorization": other_uri}).status_code == 401


def test_expired_nonce_is_answered_stale(make: Factory, client: FlaskClient):
    make.user("cw", "caseworker")
    challenge = client.head("/submission", headers=H).headers["WWW-Authenticate"]
    old = make_nonce("test-secret-key", now=1_000_000)
    challenge = re.sub(r'nonce="[^"]+"', f'nonce="{old}"', challenge)
    auth = _digest_header(challenge, "HEAD", "/submission", "cw", PASSWORD)
    response = client.head("/submission", headers={**H, "Authorization": auth})
    assert response.status_code == 401
    assert "stale=true" in response.headers["WWW-Authenticate"]


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_basic_is_refused_over_plain_http(make: Factory, client: FlaskClient):
    make.user("cw", "caseworker")
    response = client.head("/submission", headers={**H, "Authorization": _basic("cw", PASSWORD)})
    assert response.status_code == 401
    assert (
        b"HTTPS"
        in client.get("/formList", headers={**H, "Authorization": _basic("cw", PASSWORD)}).data
    )


def test_basic_over_https_works_and_locks_out_after_failures(make: Factory, client: FlaskClient):
    make.user("cw", "caseworker")
    https = {"base_url": "https://localhost"}
    ok = client.head("/submission", headers={**H, "Authorization": _basic("cw", PASSWORD)}, **https)
    assert ok.status_code == 204
    for _ in range(5):
        bad = client.head(
            "/submission", headers={**H, "Authorization": _basic("cw", "wrong")}, **https
        )
        assert bad.status_code == 401
    locked = client.head(
        "/submission", headers={**H, "Authorization": _basic("cw", PASSWORD)}, **https
    )
    assert locked.status_code == 429


def test_forwarded_proto_from_a_trusted_proxy_allows_basic(make: Factory, tmp_path, database_url):
    from server import create_app
    from tests.conftest import app_config

    proxied = create_app(app_config(database_url, tmp_path / "p", TRUST_PROXY=True))
    make.user("cw", "caseworker")
    response = proxied.test_client().head(
        "/submission",
        headers={**H, "Authorization": _basic("cw", PASSWORD), "X-Forwarded-Proto": "https"},
    )
    assert response.status_code == 204


def test_unknown_or_revoked_device_key_is_403_without_challenge(make: Factory, client):
    make.user("cw", "caseworker")
    token = make.device_token("phone", "cw")
    assert client.head(f"/key/{token}/submission", headers=H).status_code == 204
    unknown = client.get("/key/not-a-real-token/formList", headers=H)
    assert unknown.status_code == 403
    assert "WWW-Authenticate" not in unknown.headers
    with make.app.app_context():
        from server import db
        from server.auth.devices import revoke_device

        revoke_device(db.session(), "phone", None)
        db.session().commit()
    revoked = client.get(f"/key/{token}/formList", headers=H)
    assert revoked.status_code == 403
    assert b"revoked" in revoked.data


def test_a_phone_is_never_registered_for_a_designer(make: Factory):
    make.user("des", "designer")
    with pytest.raises(AppError, match="registered for a caseworker, supervisor or admin"):
        make.device_client("designer-phone", "des")


def test_a_phone_whose_holder_became_a_designer_cannot_submit(make: Factory, app: Flask):
    from tests.factories import submission_xml

    make.publish_md(SIMPLE_FORM)
    make.user("des", "caseworker")
    phone = make.device_client("designer-phone", "des")
    with app.app_context():
        session = db.session()
        user = session.query(User).filter_by(username="des").one()
        update_user(session, user, role="designer", team=None, actor=None)
        session.commit()
    assert phone.get("/formList").status_code == 200
    assert phone.submit(submission_xml()).status_code == 403

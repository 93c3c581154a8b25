"""A Digest answer is good once: each nonce count is accepted a single time, in increasing
order, so a captured Authorization header cannot be replayed (with another body or not)."""

from __future__ import annotations

from datetime import timedelta

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from server.auth.models import DigestNonceUse
from server.submissions.models import Submission
from server.timeutil import utcnow
from tests.auth.test_device_auth import H, _digest_header
from tests.factories import PASSWORD, SIMPLE_FORM, Factory, submission_xml


def _challenge(client: FlaskClient) -> str:
    return client.head("/submission", headers=H).headers["WWW-Authenticate"]


def test_the_same_header_twice_is_refused_the_second_time_with_a_stale_challenge(
    make: Factory, client: FlaskClient
):
    make.user("cw", "caseworker")
    auth = _digest_header(_challenge(client), "GET", "/formList", "cw", PASSWORD)
    assert client.get("/formList", headers={**H, "Authorization": auth}).status_code == 200
    replay = client.get("/formList", headers={**H, "Authorization": auth})
    assert replay.status_code == 401
    # stale: Collect answers the fresh nonce at once, without asking for the password
    assert "stale=true" in replay.headers["WWW-Authenticate"]


def test_counts_must_increase_as_collect_sends_them(make: Factory, client: FlaskClient):
    make.user("cw", "caseworker")
    challenge = _challenge(client)

    def head(nc: str) -> int:
        auth = _digest_header(challenge, "HEAD", "/submission", "cw", PASSWORD, nc=nc)
        return client.head("/submission", headers={**H, "Authorization": auth}).status_code

    assert [head("00000001"), head("00000002"), head("00000005")] == [204, 204, 204]
    assert head("00000003") == 401  # lower than one already accepted
    assert head("00000006") == 204


def test_a_captured_submission_header_cannot_carry_another_body(
    make: Factory, client: FlaskClient, db_session: Session
):
    make.publish_md(SIMPLE_FORM)
    make.user("cw", "caseworker")
    uri = "/submission?deviceID=collect%3Aabc"
    auth = _digest_header(_challenge(client), "POST", uri, "cw", PASSWORD)
    headers = {**H, "Authorization": auth}
    first = client.post(
        uri, headers=headers, data={"xml_submission_file": (_xml(), "s.xml", "text/xml")}
    )
    assert first.status_code == 201
    forged = client.post(
        uri, headers=headers, data={"xml_submission_file": (_xml(), "s.xml", "text/xml")}
    )
    assert forged.status_code == 401
    db_session.rollback()
    assert len(db_session.scalars(select(Submission)).all()) == 1


def test_records_of_expired_nonces_are_cleared(
    make: Factory, client: FlaskClient, db_session: Session
):
    make.user("cw", "caseworker")
    db_session.add(
        DigestNonceUse(nonce="1.expired", nc=1, expires_at=utcnow() - timedelta(seconds=1))
    )
    db_session.commit()
    auth = _digest_header(_challenge(client), "GET", "/formList", "cw", PASSWORD)
    assert client.get("/formList", headers={**H, "Authorization": auth}).status_code == 200
    db_session.rollback()
    assert [row.nonce for row in db_session.scalars(select(DigestNonceUse))] == [
        auth.split('nonce="')[1].split('"')[0]
    ]


def _xml():  # type: ignore[no-untyped-def]
    import io

    return io.BytesIO(submission_xml())

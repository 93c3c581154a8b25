"""Digest headers as Collect writes and reads them (protocol notes §5).

Collect's digest library (okhttp-digest, from Apache HttpClient) quotes every value but
``qop``, ``nc`` and ``algorithm``, escaping ``"`` and ``\\`` with a backslash; OkHttp sends
ASCII header values only. The server reads them with werkzeug's ``Authorization`` and writes
its challenge with ``WWWAuthenticate``.
"""

from __future__ import annotations

import hashlib
import re

from flask.testing import FlaskClient
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.datastructures import WWWAuthenticate

from server.auth import digest
from tests.factories import PASSWORD, Factory

H = {"X-OpenRosa-Version": "1.0"}
UNQUOTED = {"qop", "nc", "algorithm"}


def _quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def collect_header(values: dict[str, str]) -> str:
    """An Authorization value as okhttp-digest formats it."""
    items = [f"{k}={v if k in UNQUOTED else _quoted(v)}" for k, v in values.items()]
    return "Digest " + ", ".join(items)


def _md5(s: str) -> str:
    return hashlib.md5(s.encode()).hexdigest()


def _answer(challenge: str, method: str, uri: str, username: str, password: str) -> str:
    params = WWWAuthenticate.from_header(challenge)
    assert params is not None
    realm, nonce = params["realm"], params["nonce"]
    assert realm is not None
    assert nonce is not None
    ha1 = _md5(f"{username}:{realm}:{password}")
    response = _md5(f"{ha1}:{nonce}:00000001:0a4f113b:auth:{_md5(f'{method}:{uri}')}")
    return collect_header(
        {
            "username": username,
            "realm": realm,
            "nonce": nonce,
            "uri": uri,
            "response": response,
            "qop": "auth",
            "nc": "00000001",
            "cnonce": "0a4f113b",
            "algorithm": "MD5",
            "opaque": params["opaque"] or "",
        }
    )


ascii_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)


@settings(max_examples=200, deadline=None)
@given(
    username=ascii_text,
    realm=ascii_text,
    nonce=ascii_text,
    uri=ascii_text,
    response=st.text("0123456789abcdef", min_size=32, max_size=32),
    cnonce=ascii_text,
    opaque=st.one_of(st.none(), ascii_text),
    algorithm=st.sampled_from(["MD5", "MD5-sess"]),
    nc=st.integers(1, 0xFFFFFFFF).map(lambda n: f"{n:08x}"),
)
def test_the_answer_collect_writes_is_read_back_exactly(
    username: str,
    realm: str,
    nonce: str,
    uri: str,
    response: str,
    cnonce: str,
    opaque: str | None,
    algorithm: str,
    nc: str,
) -> None:
    values = {
        "username": username,
        "realm": realm,
        "nonce": nonce,
        "uri": uri,
        "response": response,
        "qop": "auth",
        "nc": nc,
        "cnonce": cnonce,
        "algorithm": algorithm,
    }
    if opaque is not None:
        values["opaque"] = opaque
    creds = digest.parse_authorization(collect_header(values))
    assert creds == digest.DigestCredentials(**{"opaque": None, **values})


def test_answers_that_are_not_digest_or_lack_a_value_are_none() -> None:
    assert digest.parse_authorization("Basic Y3c6cHc=") is None
    assert digest.parse_authorization("Digest") is None
    assert digest.parse_authorization('Digest username="cw", realm="r"') is None
    assert (
        digest.parse_authorization('Digest username, realm="r", nonce="n", uri="/", response="x"')
        is None
    )


def test_the_challenge_has_the_shape_collect_has_met() -> None:
    shape = r'Digest realm="casework", qop="auth", algorithm=MD5, nonce="([^"]+)", opaque="[^"]+"'
    nonce = re.fullmatch(shape, digest.challenge("casework", "k"))
    assert nonce is not None
    assert digest.nonce_state("k", nonce[1]) == "valid"
    assert re.fullmatch(shape + ", stale=true", digest.challenge("casework", "k", stale=True))
    # a realm with a quote stays one quoted string
    parsed = WWWAuthenticate.from_header(digest.challenge('say "hi"', "k"))
    assert parsed is not None
    assert parsed["realm"] == 'say "hi"'


def test_nonces_are_signed_and_age() -> None:
    nonce = digest.make_nonce("k", now=1_000_000)
    assert len(nonce) <= 64  # what digest_nonce_use stores
    assert digest.nonce_state("k", nonce, now=1_000_000 + 10) == "valid"
    assert digest.nonce_state("k", nonce, now=1_000_000 + 3601) == "stale"
    assert digest.nonce_state("k", nonce, now=1_000_000 - 10) == "stale"
    assert digest.nonce_state("other key", nonce) == "invalid"
    stamp, unique, sig = nonce.split(".")
    assert digest.nonce_state("k", f"{stamp}.{unique}x.{sig}") == "invalid"
    assert digest.nonce_stamp(nonce) == 1_000_000
    # signed as before itsdangerous (still held by a phone): stale, so it retries at once
    legacy = "1000000.0123456789abcdef"
    assert digest.nonce_state("k", f"{legacy}.{digest._legacy_signature('k', legacy)}") == "stale"
    assert digest.nonce_state("k", f"{legacy}.{'0' * 32}") == "invalid"


def test_a_user_name_with_a_backslash_or_quote_signs_in_as_collect_sends_it(
    make: Factory, client: FlaskClient
) -> None:
    # Collect escapes "\" and '"' inside quoted values; the escapes are not part of the name
    for username in ("north\\amina", 'amina "a"'):
        make.user(username, "caseworker")
        challenge = client.head("/submission", headers=H).headers["WWW-Authenticate"]
        auth = _answer(challenge, "HEAD", "/submission", username, PASSWORD)
        assert client.head("/submission", headers={**H, "Authorization": auth}).status_code == 204

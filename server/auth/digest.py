"""HTTP Digest authentication (RFC 7616, MD5, qop=auth) with stateless signed nonces. Pure.

Collect answers Digest challenges over plain HTTP as well as HTTPS, so this is how users
with a password connect a phone when they do not use a device QR code.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass

NONCE_LIFETIME_SECONDS = 3600

_PARAM = re.compile(r'(\w+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]+))')


@dataclass(frozen=True)
class DigestCredentials:
    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    qop: str | None
    nc: str | None
    cnonce: str | None
    opaque: str | None
    algorithm: str


def _sign(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()[:32]


def _equal(a: str, b: str) -> bool:
    """Constant-time comparison that any header text can go through (compare_digest refuses
    str with non-ASCII characters)."""
    return hmac.compare_digest(
        a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass")
    )


def make_nonce(secret: str, now: float | None = None) -> str:
    """``time.random.signature``: every challenge its own nonce, since the counts accepted
    with each nonce are recorded (a count is accepted once)."""
    stamp = str(int(now if now is not None else time.time()))
    text = f"{stamp}.{secrets.token_hex(8)}"
    return f"{text}.{_sign(secret, text)}"


def nonce_stamp(nonce: str) -> int:
    """When a nonce that :func:`nonce_state` accepted was made (Unix time)."""
    return int(nonce.partition(".")[0])


def nonce_state(secret: str, nonce: str, now: float | None = None) -> str:
    """'valid', 'stale' (ours but expired, or of the older shape made without a random
    part: the client may retry at once) or 'invalid'."""
    text, _, sig = nonce.rpartition(".")
    stamp, _, unique = text.partition(".")
    if not (stamp.isascii() and stamp.isdigit()) or not _equal(sig, _sign(secret, text)):
        return "invalid"
    age = (now if now is not None else time.time()) - int(stamp)
    fresh = 0 <= age <= NONCE_LIFETIME_SECONDS and unique != ""
    return "valid" if fresh else "stale"


def challenge(realm: str, secret: str, *, stale: bool = False) -> str:
    opaque = _sign(secret, "opaque:" + realm)
    header = (
        f'Digest realm="{realm}", qop="auth", algorithm=MD5, '
        f'nonce="{make_nonce(secret)}", opaque="{opaque}"'
    )
    return header + (", stale=true" if stale else "")


def parse_authorization(header: str) -> DigestCredentials | None:
    scheme, _, rest = header.partition(" ")
    if scheme.lower() != "digest":
        return None
    params: dict[str, str] = {}
    for m in _PARAM.finditer(rest):
        value = m.group(2) if m.group(2) is not None else m.group(3)
        params[m.group(1).lower()] = value.replace('\\"', '"')
    try:
        return DigestCredentials(
            username=params["username"],
            realm=params["realm"],
            nonce=params["nonce"],
            uri=params["uri"],
            response=params["response"],
            qop=params.get("qop"),
            nc=params.get("nc"),
            cnonce=params.get("cnonce"),
            opaque=params.get("opaque"),
            algorithm=params.get("algorithm", "MD5"),
        )
    except KeyError:
        return None


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()  # noqa: S324  (Digest's own MD5)


def expected_response(creds: DigestCredentials, ha1: str, method: str) -> str:
    if creds.algorithm.upper() == "MD5-SESS":
        ha1 = _md5(f"{ha1}:{creds.nonce}:{creds.cnonce}")
    ha2 = _md5(f"{method}:{creds.uri}")
    if creds.qop in ("auth", "auth-int"):
        return _md5(f"{ha1}:{creds.nonce}:{creds.nc}:{creds.cnonce}:{creds.qop}:{ha2}")
    return _md5(f"{ha1}:{creds.nonce}:{ha2}")


def is_offered(creds: DigestCredentials) -> bool:
    """The answer uses what our challenge offers: MD5 (or MD5-sess) with qop=auth."""
    return creds.algorithm.upper() in ("MD5", "MD5-SESS") and creds.qop in (None, "auth")


def verify(creds: DigestCredentials, ha1: str, method: str, request_uri: str) -> bool:
    """The response matches and it was computed for this request's URI."""
    if creds.uri != request_uri:
        return False
    return _equal(expected_response(creds, ha1, method), creds.response)

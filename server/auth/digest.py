"""HTTP Digest authentication (RFC 7616, MD5, qop=auth) with stateless signed nonces. Pure.

Collect answers Digest challenges over plain HTTP as well as HTTPS, so this is how users
with a password connect a phone when they do not use a device QR code. The headers are read
and written by werkzeug (``Authorization``, ``WWWAuthenticate``); nonces are signed with
itsdangerous.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from itsdangerous import BadSignature, Signer
from werkzeug.datastructures import Authorization, WWWAuthenticate

NONCE_LIFETIME_SECONDS = 3600


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


def _nonce_signer(secret: str) -> Signer:
    # HMAC-SHA1 (itsdangerous' default): a nonce stays within the 64 characters stored for it
    return Signer(secret, salt="casework.digest.nonce")


def _legacy_signature(secret: str, text: str) -> str:
    """How nonces were signed before itsdangerous: such a nonce, still held by a phone, is
    answered ``stale`` so that the phone retries with a fresh one without a prompt."""
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
    return _nonce_signer(secret).sign(f"{stamp}.{secrets.token_hex(8)}").decode("ascii")


def nonce_stamp(nonce: str) -> int:
    """When a nonce that :func:`nonce_state` accepted was made (Unix time)."""
    return int(nonce.partition(".")[0])


def nonce_state(secret: str, nonce: str, now: float | None = None) -> str:
    """'valid', 'stale' (ours but expired, or signed the way nonces were before: the client
    may retry at once) or 'invalid'."""
    try:
        text = _nonce_signer(secret).unsign(nonce.encode("utf-8", "surrogatepass"))
    except BadSignature:
        legacy, _, sig = nonce.rpartition(".")
        stamp = legacy.partition(".")[0]
        ours = (
            stamp.isascii() and stamp.isdigit() and _equal(sig, _legacy_signature(secret, legacy))
        )
        return "stale" if ours else "invalid"
    stamp, _, unique = text.decode("ascii", "replace").partition(".")
    if not (stamp.isascii() and stamp.isdigit()) or not unique:
        return "invalid"
    age = (now if now is not None else time.time()) - int(stamp)
    return "valid" if 0 <= age <= NONCE_LIFETIME_SECONDS else "stale"


def challenge(realm: str, secret: str, *, stale: bool = False) -> str:
    """The ``WWW-Authenticate`` value: ``Digest realm="…", qop="auth", algorithm=MD5,
    nonce="…", opaque="…"`` (and ``stale=true``), the order and quoting Collect has met."""
    opaque = Signer(secret, salt="casework.digest.opaque").get_signature(realm).decode("ascii")
    values: dict[str, str | None] = {
        "realm": realm,
        "qop": "auth",
        "algorithm": "MD5",
        "nonce": make_nonce(secret),
        "opaque": opaque,
    }
    if stale:
        values["stale"] = "true"
    return WWWAuthenticate("digest", values).to_header()


def parse_authorization(header: str) -> DigestCredentials | None:
    """The Digest answer in an ``Authorization`` value; None if it is not one."""
    auth = Authorization.from_header(header)
    if auth is None or auth.type != "digest":
        return None
    params = {k.lower(): v for k, v in auth.parameters.items() if v is not None}
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

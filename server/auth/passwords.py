"""The one place for credential cryptography."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters

MIN_PASSWORD_LENGTH = 10


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    if not password_hash:
        # Spend comparable time so that unknown users cannot be told apart by timing.
        _hasher.hash(password)
        return False
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A URL-safe secret for device keys and API tokens (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are high-entropy, so a plain SHA-256 is enough to keep them out of the DB."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _fernet(secret_key: str) -> Fernet:
    key = hashlib.sha256(b"casework-digest-ha1:" + secret_key.encode("utf-8")).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def digest_ha1(username: str, realm: str, password: str) -> str:
    # MD5 is what HTTP Digest (RFC 7616 MD5, the only algorithm Collect offers) requires.
    return hashlib.md5(f"{username}:{realm}:{password}".encode()).hexdigest()  # noqa: S324


def seal_ha1(ha1: str, secret_key: str) -> str:
    return _fernet(secret_key).encrypt(ha1.encode("ascii")).decode("ascii")


def open_ha1(sealed: str | None, secret_key: str) -> str | None:
    if not sealed:
        return None
    try:
        return _fernet(secret_key).decrypt(sealed.encode("ascii")).decode("ascii")
    except InvalidToken:
        return None


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))

"""Password hashing (Argon2id, RFC 9106, argon2-cffi's defaults) and random bearer secrets.

Session cookies and API tokens are 256-bit random secrets (``secrets.token_urlsafe(32)``); the store keeps
their SHA-256 only (see :mod:`swarmscope.store.access.schema`).
"""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# A hash to verify against when the user does not exist, so an unknown name costs as long as a wrong
# password (no user-name oracle by timing).
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD = 12  # characters (NIST SP 800-63B asks for at least 8; we ask more of staff accounts)


def hash_password(password: str) -> str:
    """The Argon2id PHC string of ``password``."""
    return _HASHER.hash(password)


def check_password(stored: str | None, password: str) -> bool:
    """True when ``password`` matches the stored hash (None: no password set, always False)."""
    try:
        return _HASHER.verify(stored or _DUMMY, password) and stored is not None
    except (VerificationError, InvalidHashError):
        return False


def new_secret() -> str:
    """A fresh 256-bit secret, URL-safe text (a session cookie or an API token)."""
    return secrets.token_urlsafe(32)


def secret_sha256(secret: str) -> str:
    """The hex SHA-256 of a secret, as the store keeps it."""
    return hashlib.sha256(secret.encode()).hexdigest()

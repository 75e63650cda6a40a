"""Password hashing (Argon2id, RFC 9106, argon2-cffi's defaults) and random bearer secrets.

Session cookies and API tokens are 256-bit random secrets (``secrets.token_urlsafe(32)``); the store keeps
their SHA-256 only (see :mod:`swarmscope.store.access.schema`).
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
# A hash to verify against when the user does not exist, so an unknown name costs as long as a wrong
# password (no user-name oracle by timing).
_DUMMY = _HASHER.hash(secrets.token_urlsafe(16))
MIN_PASSWORD = 12  # characters (NIST SP 800-63B asks for at least 8; we ask more of staff accounts)
MAX_PASSWORD = 1024  # characters (NIST SP 800-63B: allow at least 64); percent-encoded (at most 12 bytes a
# character) it stays far inside the login form's body bound (web/input_guard.MAX_BODY_BYTES, 1 MiB)
# Password checks running at once, at most: each Argon2id check takes argon2-cffi's memory_cost, 64 MiB, and
# about a second of a core, so unbounded parallel logins could take gigabytes (OWASP Password Storage Cheat
# Sheet: limit a memory-hard hash's concurrency). A login beyond them is refused at once, not queued.
MAX_VERIFYING = 2
_VERIFYING = threading.BoundedSemaphore(MAX_VERIFYING)


class VerifierBusy(Exception):
    """:data:`MAX_VERIFYING` password checks are running: try again in a moment."""


@contextmanager
def verifying_slot() -> Iterator[None]:
    """Hold one of the :data:`MAX_VERIFYING` password-check slots for the block.

    Raises:
        VerifierBusy: every slot is taken (nothing waits).
    """
    if not _VERIFYING.acquire(blocking=False):
        raise VerifierBusy("too many logins are being checked at once; try again in a second")
    try:
        yield
    finally:
        _VERIFYING.release()


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


def new_password() -> str:
    """A generated password: 20 URL-safe characters, 120 random bits (to type in once, then change)."""
    return secrets.token_urlsafe(15)


def secret_sha256(secret: str) -> str:
    """The hex SHA-256 of a secret, as the store keeps it."""
    return hashlib.sha256(secret.encode()).hexdigest()

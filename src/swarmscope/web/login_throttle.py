"""Login throttling: failed logins counted per user name and, more loosely, per client address, with
device cookies exempting known browsers from the address counter.

OWASP Authentication Cheat Sheet, "Account Lockout": the failure counter belongs to the account (the
name tried), not to the source address, which an attacker changes at will and which many honest users
share. Here every user shares one address: the console listens on loopback, or sits behind the TLS proxy
that ``serve --allow-remote`` asks for (uvicorn ignores ``X-Forwarded-For``, rightly), so a refusing
address counter alone would let anyone lock every user out with wrong logins under made-up names. Hence:

- per user name: :data:`MAX_FAILURES_PER_NAME` failures in :data:`WINDOW_SECONDS` refuse that name, the
  right password included, until the oldest failure leaves the window. A name with no account counts
  the same way and gets the same line (no user-name oracle). Names are counted as a login compares
  them (:func:`swarmscope.web.user_names.login_name`), so ``Counsel`` and ``counsel`` share one counter.
- per address: :data:`MAX_FAILURES_PER_ADDRESS` failures in the window refuse logins from the address,
  except from a browser that shows a valid device cookie for the name it logs in as. The device cookie
  follows OWASP, "Slow Down Online Guessing Attacks with Device Cookies": a successful login sets it
  (``name``, expiry, Ed25519 signature by the node key, :func:`device_cookie`); it exempts that
  browser+name from the address counter only, never from the name counter. So a flood of made-up names
  stops unknown browsers guessing, and users who logged in from their browser before still log in.
  A user on a new browser during such a flood waits for the window to end (the documented cost).

Each attempt is counted as a failure BEFORE its password is checked, in one serialised transaction with
the check of both counters (:func:`begin`), and cleared when it succeeds: concurrent attempts cannot all
read the same count and all be checked. And at most :data:`swarmscope.web.passwords.MAX_VERIFYING`
password checks run at once (Argon2id costs 64 MiB each; OWASP Password Storage Cheat Sheet): a login
beyond them is answered 429 with ``Retry-After`` before anything is counted or checked.

The cheat sheet's caveat holds for the name counter: anyone can lock a known name out for the window
(documented in README; the window ends it without an administrator).
"""

from __future__ import annotations

import base64
import binascii

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from swarmscope.store.access import sessions as session_store
from swarmscope.store.database import Store

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_NAME = 5  # failed logins per user name in the window before refusing that name
MAX_FAILURES_PER_ADDRESS = 100  # per client address (one host guessing many names), device cookies exempt
DEVICE_COOKIE = "swarmscope_device"
DEVICE_SECONDS = 90 * 86400  # a device cookie's life (seconds)
_DOMAIN = b"swarmscope device cookie\x00"  # signature domain: no other signed bytes start so


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signed(name: str, expires_us: int) -> bytes:
    return _DOMAIN + name.encode() + b"\x00" + str(expires_us).encode()


def device_cookie(key: Ed25519PrivateKey, name: str, now_us: int) -> str:
    """The device cookie for login name ``name``: ``<b64 name>.<expiry UTC µs>.<b64 Ed25519 signature>``."""
    expires = now_us + DEVICE_SECONDS * 1_000_000
    return f"{_b64(name.encode())}.{expires}.{_b64(key.sign(_signed(name, expires)))}"


def device_trusted(public_key: bytes, cookie: str | None, name: str, now_us: int) -> bool:
    """Whether ``cookie`` is an unexpired device cookie for ``name`` signed by the node key (32 raw bytes)."""
    parts = (cookie or "").split(".")
    if len(parts) != 3 or not parts[1].isdigit():
        return False
    try:
        if _unb64(parts[0]) != name.encode() or int(parts[1]) <= now_us:
            return False
        Ed25519PublicKey.from_public_bytes(public_key).verify(_unb64(parts[2]), _signed(name, int(parts[1])))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def begin(store: Store, name: str, address: str, now_us: int, trusted_device: bool = False) -> int | str:
    """Count a login of ``name`` from ``address`` at ``now_us`` (UTC µs) before its password is checked:
    its attempt row id (a failure until :func:`swarmscope.store.access.sessions.settle_attempt` marks it
    a success), or the one line refusing it (nothing counted). ``trusted_device``: the browser showed a
    valid device cookie for ``name`` (no address limit)."""
    since = now_us - WINDOW_SECONDS * 1_000_000
    per_address = None if trusted_device else MAX_FAILURES_PER_ADDRESS
    limits = session_store.AttemptLimits(since, MAX_FAILURES_PER_NAME, per_address)
    counted = session_store.begin_attempt(store, name, address, now_us, limits)
    if isinstance(counted, int):
        return counted
    whom = "for this user name" if counted == "name" else "from this address"
    return f"too many failed logins {whom}; try again in {WINDOW_SECONDS // 60} minutes"

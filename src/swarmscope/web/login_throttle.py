"""Login throttling: failed logins counted per user name and, much more loosely, per client address.

OWASP Authentication Cheat Sheet, "Account Lockout": the failure counter belongs to the account (the
name tried), not to the source address, which an attacker changes at will and which many honest users
share. Here every user shares one address: the console listens on loopback, or sits behind the TLS proxy
that ``serve --allow-remote`` asks for (uvicorn ignores ``X-Forwarded-For``, rightly), so an address
counter as tight as the name counter would let anyone lock every user out with a few wrong logins under
made-up names. Hence:

- per user name: :data:`MAX_FAILURES_PER_NAME` failures in :data:`WINDOW_SECONDS` refuse that name, the
  right password included, until the oldest failure leaves the window. A name with no account counts
  the same way and gets the same line (no user-name oracle). Names are counted as a login compares
  them (:func:`swarmscope.web.user_names.login_name`), so ``Counsel`` and ``counsel`` share one counter.
- per address: :data:`MAX_FAILURES_PER_ADDRESS` failures in the window, five times a whole office's
  honest typos, only against one host spraying many names fast.

The cheat sheet's caveat holds for the name counter: anyone can lock a known name out for the window
(documented in README; the window ends it without an administrator).
"""

from __future__ import annotations

from swarmscope.store.access import sessions as session_store
from swarmscope.store.database import Store

WINDOW_SECONDS = 15 * 60
MAX_FAILURES_PER_NAME = 5  # failed logins per user name in the window before refusing that name
MAX_FAILURES_PER_ADDRESS = 100  # per client address (one host guessing many names)


def refusal(store: Store, name: str, address: str, now_us: int) -> str | None:
    """The one line refusing a login of ``name`` from ``address`` at ``now_us`` (UTC µs), or None."""
    since = now_us - WINDOW_SECONDS * 1_000_000
    minutes = WINDOW_SECONDS // 60
    if session_store.failures_since(store, since, name=name) >= MAX_FAILURES_PER_NAME:
        return f"too many failed logins for this user name; try again in {minutes} minutes"
    if session_store.failures_since(store, since, address=address) >= MAX_FAILURES_PER_ADDRESS:
        return f"too many failed logins from this address; try again in {minutes} minutes"
    return None

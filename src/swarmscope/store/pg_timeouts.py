"""How long a connection to PostgreSQL waits on a database that does not answer.

Without these, a call on a database behind a network partition waits for the kernel: about 127 s of SYN
retries to connect (``net.ipv4.tcp_syn_retries`` = 6), about 15 minutes of retransmits for a write
(``tcp_retries2`` = 15), and for ever for an answer to a request that was sent (keepalive is off by
default, 2 h when on). A fleet node blocked so long goes on believing it holds leases that others took.

Connection level, every PostgreSQL engine with a libpq driver (psycopg 3, psycopg2), and the job queue's
connections (``store.fleet.jobs``); a parameter the URL names (``?connect_timeout=30``) wins:

- ``connect_timeout=10`` (seconds): a connection attempt gives up after 10 s (libpq section 34.1.2).
- ``keepalives=1``, ``keepalives_idle=10``, ``keepalives_interval=5``, ``keepalives_count=3``: a connection
  waiting for an answer whose peer vanished is found dead after about 25 s. A live server's kernel answers
  the probes however long its statement runs, so a long evidence commit is never cut by them.
- ``tcp_user_timeout=30000`` (ms, Linux ``TCP_USER_TIMEOUT``, RFC 5482): data unacknowledged for 30 s ends
  the connection instead of 15 minutes of retransmits.

All of them are ignored on a Unix-domain socket (libpq), where the kernel reports a dead peer at once.

Transaction level, the fleet's lease transactions only (:func:`limit_transaction`, PostgreSQL
``set_config(..., true)``, the function form of ``SET LOCAL``: it ends with the transaction, so a pooled
connection used next for evidence carries no limit): ``statement_timeout`` and ``lock_timeout``, a renewal
period (a third of the node's lease length), so a renewal or take waiting on a row lock (another
session's, an old holder's batch in flight) fails while the leases still hold, and the round is retried.
The evidence writer's commits get no statement timeout: a large batch on a loaded server commits however
long it takes (its lease tokens are checked in its own transaction: fencing, not a clock, decides).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import URL

LIBPQ_DRIVERS = frozenset({"psycopg", "psycopg2"})
CONNECT_DEFAULTS: dict[str, int] = {
    "connect_timeout": 10,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 30_000,
}


def connect_args(url: URL) -> dict[str, int]:
    """The libpq parameters of the module docstring that ``url`` does not name itself; {} for any other
    database or driver (SQLite, asyncpg...)."""
    if url.get_backend_name() != "postgresql" or url.get_driver_name() not in LIBPQ_DRIVERS:
        return {}
    return {key: value for key, value in CONNECT_DEFAULTS.items() if key not in url.query}


def with_connect_defaults(url: URL) -> URL:
    """``url`` with :func:`connect_args` in its query (for a libpq URI handed to another client)."""
    return url.update_query_dict({key: str(value) for key, value in connect_args(url).items()})


def limit_transaction(conn: sa.Connection, seconds: float) -> None:
    """Limit every statement, and every wait for a lock, of ``conn``'s transaction under way to
    ``seconds`` (rounded to ms, at least 1 ms); PostgreSQL then cancels it (SQLSTATE 57014 or 55P03)
    and the transaction fails. Lifted at its end (``set_config`` local)."""
    value = f"{max(1, round(seconds * 1000))}ms"
    conn.execute(
        sa.text("SELECT set_config('statement_timeout', :v, true), set_config('lock_timeout', :v, true)"),
        {"v": value},
    )

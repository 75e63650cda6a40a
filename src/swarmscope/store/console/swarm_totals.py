"""Per-swarm totals kept up to date by the fold (``console_swarm``, ``console_client``).

The fold (:mod:`.fold`) knows each changed peer's ``console_peer`` values before and after a transaction;
the difference is added to its swarm's row: one more address (a new peer), one address moved from its
old best tier to its new one, one more address per discovery source it gained, one more address with a
hash failure (its first), the bytes it added, the latest time seen, and one address moved from its old
client string to its new one. The overview then reads one row per swarm (:mod:`.overview`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from swarmscope.store.console.schema import SOURCE_BITS, TIER_NAMES, console_client, console_swarm

Values = dict[str, Any]  # a console_peer row's values (fold._PEER_COLUMNS)
_COUNTS = ("peers", *(f"tier_{t}" for t in TIER_NAMES), *(f"source_{s}" for s in SOURCE_BITS),
           "hash_failure_peers", "bytes_received")  # fmt: skip


def _delta(before: Values | None, after: Values, out: Counter[str]) -> None:
    """Add one peer's change to its swarm's counts."""
    if before is None:
        out["peers"] += 1
    else:
        out[f"tier_{TIER_NAMES[int(before['tier'])]}"] -= 1
    out[f"tier_{TIER_NAMES[int(after['tier'])]}"] += 1
    had = 0 if before is None else int(before["sources"])
    for name, bit in SOURCE_BITS.items():
        if int(after["sources"]) & bit and not had & bit:
            out[f"source_{name}"] += 1
    if int(after["hash_failures"]) > 0 and (before is None or int(before["hash_failures"]) == 0):
        out["hash_failure_peers"] += 1
    out["bytes_received"] += int(after["bytes_received"]) - (
        0 if before is None else int(before["bytes_received"])
    )


def write_totals(conn: sa.Connection, changes: Iterable[tuple[str, Values | None, Values]]) -> None:
    """Add (swarm infohash, peer values before or None for a new peer, values after) to the totals."""
    counts: dict[str, Counter[str]] = {}
    seen: dict[str, int] = {}
    clients: Counter[tuple[str, str]] = Counter()
    for infohash, before, after in changes:
        _delta(before, after, counts.setdefault(infohash, Counter()))
        seen[infohash] = max(seen.get(infohash, 0), int(after["last_seen_us"]))
        old = None if before is None else before["client"]
        if old != after["client"]:
            if old is not None:
                clients[(infohash, old)] -= 1
            if after["client"] is not None:
                clients[(infohash, after["client"])] += 1
    _write_swarms(conn, counts, seen)
    _write_clients(conn, clients)


def _write_swarms(conn: sa.Connection, counts: dict[str, Counter[str]], seen: dict[str, int]) -> None:
    c = console_swarm.c
    for infohash, delta in counts.items():
        row = conn.execute(sa.select(console_swarm).where(c.infohash == infohash)).first()
        if row is None:
            values = {name: delta[name] for name in _COUNTS}
            conn.execute(
                console_swarm.insert().values(infohash=infohash, last_seen_us=seen[infohash], **values)
            )
            continue
        values = {name: getattr(row, name) + delta[name] for name in _COUNTS}
        last = max(seen[infohash], row.last_seen_us or 0)
        conn.execute(console_swarm.update().where(c.infohash == infohash).values(last_seen_us=last, **values))


def _write_clients(conn: sa.Connection, clients: Counter[tuple[str, str]]) -> None:
    c = console_client.c
    for (infohash, client), n in clients.items():
        if n == 0:
            continue
        where = sa.and_(c.infohash == infohash, c.client == client)
        row = conn.execute(sa.select(c.peers).where(where)).first()
        if row is None:
            conn.execute(console_client.insert().values(infohash=infohash, client=client, peers=n))
        elif int(row.peers) + n > 0:
            conn.execute(console_client.update().where(where).values(peers=int(row.peers) + n))
        else:
            conn.execute(console_client.delete().where(where))

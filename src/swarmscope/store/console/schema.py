"""Tables of the console's read models (migration 0010): derived, rebuildable, never evidence.

The web console (``swarmscope serve``) must list a swarm's peers at a million observations as fast as at a
hundred, so per-peer aggregates are folded once from the sealed ledger (:mod:`.fold`) instead of grouped on
every page:

- ``console_peer``: one row per (swarm, peer address) of the rows in SEALED batches (ledger state, see
  :mod:`swarmscope.store.ledger.seal_state`): best tier (``Tier`` value 0..3), the discovery sources as a
  bit mask (:data:`SOURCE_BITS`), first and last seen (UTC µs), observations, bytes received (payload
  bytes), hash failures, the latest client string, whether any probe was encrypted. Indexed per sort key
  with ``id`` last, so keyset pagination (:mod:`.peers`) reads one index range per page.
- ``console_place``: the latest sealed attribution per IP literal (country ISO 3166-1 alpha-2, ISP, ASN).
- ``console_minute``: per swarm and UTC minute (``minute_us``, a multiple of 60,000,000 µs): peers seen,
  peers verified, observations, bytes received, hash failures (swarm size over time).
- ``console_swarm`` and ``console_client``: per swarm, the overview's numbers (addresses per tier and
  source, with a hash failure, bytes, last seen) and addresses per latest client string, kept up to date
  by the fold, so the overview reads a row per swarm rather than every peer of it.
- ``console_batch``: the ``ledger_batch`` ids already folded (a set, not a high-water mark: on PostgreSQL a
  batch with a lower id may commit after a higher one).
- ``monitor_stat``: what lives only in a running monitor's memory (probes, writer queue, commit latency,
  tracker and DHT errors), sampled by the monitor (:mod:`swarmscope.monitor.live_stats`) for ``/metrics``.

Dropping these tables (downgrade) loses nothing: every number but ``monitor_stat`` is folded again from
the ledger. This module mirrors ``migrations/versions/0010_console.py``.
"""

from __future__ import annotations

import sqlalchemy as sa

from swarmscope.store.metadata import metadata

# Discovery source → its bit in ``console_peer.sources`` (records.Source values; anything else: "other").
SOURCE_BITS = {"tracker": 1, "dht": 2, "pex": 4, "inbound": 8, "manual": 16, "other": 32}
MINUTE_US = 60_000_000
TIER_NAMES = ("listed", "connected", "has_pieces", "verified")  # Tier values 0..3, in order

console_peer = sa.Table(
    "console_peer",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("infohash", sa.Text, nullable=False),
    sa.Column("ip", sa.Text, nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("tier", sa.Integer, nullable=False),  # Tier value: 0 listed .. 3 verified
    sa.Column("sources", sa.Integer, nullable=False),  # SOURCE_BITS mask
    sa.Column("first_seen_us", sa.BigInteger, nullable=False),
    sa.Column("last_seen_us", sa.BigInteger, nullable=False),
    sa.Column("observations", sa.Integer, nullable=False),
    sa.Column("bytes_received", sa.BigInteger, nullable=False),
    sa.Column("hash_failures", sa.Integer, nullable=False),
    sa.Column("client", sa.Text),  # "name version" of the latest observation naming one
    sa.Column("client_at_us", sa.BigInteger),  # start of that observation
    sa.Column("encrypted", sa.Boolean, nullable=False),
    sa.Column("minute_us", sa.BigInteger),  # the latest minute this peer counted in console_minute.peers
    sa.Column("verified_minute_us", sa.BigInteger),  # ... and in console_minute.verified_peers
    sa.UniqueConstraint("infohash", "ip", "port"),
    sa.Index(None, "infohash", "last_seen_us", "id"),
    sa.Index(None, "infohash", "first_seen_us", "id"),
    sa.Index(None, "infohash", "bytes_received", "id"),
    sa.Index(None, "infohash", "observations", "id"),
    sa.Index(None, "infohash", "tier", "id"),
)

console_place = sa.Table(
    "console_place",
    metadata,
    sa.Column("ip", sa.Text, primary_key=True),
    sa.Column("observed_at_us", sa.BigInteger, nullable=False),
    sa.Column("country", sa.Text),
    sa.Column("isp", sa.Text),
    sa.Column("asn", sa.BigInteger),
)

console_minute = sa.Table(
    "console_minute",
    metadata,
    sa.Column("infohash", sa.Text, primary_key=True),
    sa.Column("minute_us", sa.BigInteger, primary_key=True),
    sa.Column("peers", sa.Integer, nullable=False),
    sa.Column("verified_peers", sa.Integer, nullable=False),
    sa.Column("observations", sa.Integer, nullable=False),
    sa.Column("bytes_received", sa.BigInteger, nullable=False),
    sa.Column("hash_failures", sa.Integer, nullable=False),
)

# Per swarm, kept up to date by the fold (so the overview reads one row, not every peer of the swarm):
# peer addresses, addresses per best tier and per discovery source, addresses with a hash failure,
# payload bytes, the latest sighting or observation (UTC µs).
console_swarm = sa.Table(
    "console_swarm",
    metadata,
    sa.Column("infohash", sa.Text, primary_key=True),
    sa.Column("peers", sa.Integer, nullable=False),
    *(sa.Column(f"tier_{name}", sa.Integer, nullable=False) for name in TIER_NAMES),
    *(sa.Column(f"source_{name}", sa.Integer, nullable=False) for name in SOURCE_BITS),
    sa.Column("hash_failure_peers", sa.Integer, nullable=False),
    sa.Column("bytes_received", sa.BigInteger, nullable=False),
    sa.Column("last_seen_us", sa.BigInteger),
)

# Peer addresses per swarm and latest client string (the overview's top clients).
console_client = sa.Table(
    "console_client",
    metadata,
    sa.Column("infohash", sa.Text, primary_key=True),
    sa.Column("client", sa.Text, primary_key=True),
    sa.Column("peers", sa.Integer, nullable=False),
    sa.Index(None, "infohash", "peers"),
)

console_batch = sa.Table(
    "console_batch",
    metadata,
    sa.Column("batch_id", sa.Integer, primary_key=True),
)

monitor_stat = sa.Table(
    "monitor_stat",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("probes", sa.BigInteger, nullable=False),  # probes finished in this run so far
    sa.Column("writer_queue", sa.Integer, nullable=False),  # records queued, not yet committed
    sa.Column("batches", sa.BigInteger, nullable=False),  # sealed batches committed in this run
    sa.Column("commit_seconds_last", sa.Float, nullable=False),  # the last batch commit, seconds
    sa.Column("commit_seconds_total", sa.Float, nullable=False),  # all batch commits of the run, seconds
    sa.Column("tracker_errors", sa.BigInteger, nullable=False),
    sa.Column("dht_errors", sa.BigInteger, nullable=False),
    sa.Index(None, "run_id", "at_us"),
)

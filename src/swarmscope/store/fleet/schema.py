"""Tables of the fleet: many monitor nodes sharing one PostgreSQL store, swarms leased to them.

Same conventions as :mod:`swarmscope.store.ledger.schema` (portable column types, ``*_us`` integer UTC
microseconds), registered on the one ``metadata``; mirrored by migration 0011. Every ``*_us`` here is
DATABASE time (``swarmscope_now_us()``, PostgreSQL ``clock_timestamp()``), never a node's clock: nodes
disagree about the time, the database is the one arbiter of who holds a lease.

- ``fleet_node``: one row per node name: the fingerprint of its Ed25519 key (the public key itself is in
  ``node_key``; no private key is ever stored), its source address, listen port, capacity in swarms, and
  its heartbeat (renewed with its leases) and, reported with it, its writer lag (migration 0018).
- ``fleet_swarm``: a registered swarm: infohash, the exact .torrent bytes or the magnet URI, the work it
  carries (free text: when it is a work's title, nodes use their copy of that work's reference content),
  how many vantage points (distinct nodes) should watch it.
- ``fleet_lease``: a node's lease on a swarm. ``token`` comes from the sequence ``fleet_lease_token`` and
  grows on every take or takeover (a fencing token: Kleppmann, "How to do distributed locking", 2016).
  At most ``fleet_swarm.vantages`` leases per swarm and one per (swarm, node): refused by a trigger and
  a unique key. ``handoff``: the rebalancing job asks the holder to give it back (``fleet_node.share``
  says how many leases each live node should hold).
- ``lease_fence``: the lease tokens an evidence batch was written under, inserted in the batch's own
  transaction; a trigger refuses a token that is not the current one of a live lease of the batch's node
  (the lease row is locked ``FOR SHARE`` so a takeover waits for the batch or the batch sees the takeover).
- ``fleet_duty`` (migration 0013): the fleet's periodic duties (RFC 3161 timestamping, retention purges),
  their period and settings, and who ran each last: claimed by one node per period
  (:mod:`swarmscope.store.fleet.duties`).

The triggers and the token sequence exist on PostgreSQL only: the fleet refuses SQLite.
"""

from __future__ import annotations

import sqlalchemy as sa

from swarmscope.store.metadata import metadata

fleet_node = sa.Table(
    "fleet_node",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    # hex SHA-256 of the node's raw Ed25519 public key (node_key holds the key; never a private key)
    sa.Column("fingerprint", sa.Text, sa.ForeignKey("node_key.fingerprint"), nullable=False),
    sa.Column("source_ip", sa.Text),  # the --bind address its probes leave from (None: the default route)
    sa.Column("listen_port", sa.Integer, nullable=False),  # 0: no inbound listener
    sa.Column("capacity", sa.Integer, nullable=False),  # swarms it may lease at once
    sa.Column("started_us", sa.BigInteger, nullable=False),  # database time of its last start
    sa.Column("heartbeat_us", sa.BigInteger, nullable=False),  # database time of its last renewal
    sa.Column("stopped_us", sa.BigInteger),  # database time of its last clean stop (None: running or died)
    sa.Column("share", sa.Integer),  # leases it should hold, set by the rebalancing job (None: its capacity)
    # µs its oldest uncommitted evidence had waited at its last heartbeat (0: none; None: not reported)
    sa.Column("writer_lag_us", sa.BigInteger),
    # incremented by the database on each start under this name: the process holding the current value is
    # the node; an older one (paused, then resumed) is refused every renewal, take and batch (migration 0020)
    sa.Column("incarnation", sa.BigInteger, nullable=False, server_default=sa.text("0")),
    # database time minus the node's clock, µs, measured at its last lease round (None: not reported), and
    # the node's clock threshold, µs (migration 0020): ``fleet status`` flags |offset| above it
    sa.Column("clock_offset_us", sa.BigInteger),
    sa.Column("clock_threshold_us", sa.BigInteger),
    sa.Column("lease_us", sa.BigInteger),  # its lease length, µs (None: unknown); dead after DEAD_LEASES
)

fleet_swarm = sa.Table(
    "fleet_swarm",
    metadata,
    # the swarm id, lower-case hex: v1, or v2 for v2-only torrents (BEP 3 / BEP 52), as ``swarm.infohash``
    sa.Column("infohash", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("metainfo", sa.LargeBinary),  # the exact .torrent bytes
    sa.Column("magnet", sa.Text),  # or the magnet URI (BEP 9)
    sa.Column("work", sa.Text),  # the work it carries (free text; a work's title names its reference copy)
    sa.Column("vantages", sa.Integer, nullable=False),  # nodes wanted on it at once
    sa.Column("added_us", sa.BigInteger, nullable=False),
    sa.CheckConstraint("vantages >= 1", name="vantages_positive"),
    sa.CheckConstraint("metainfo IS NOT NULL OR magnet IS NOT NULL", name="has_source"),
)

fleet_lease = sa.Table(
    "fleet_lease",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "infohash",
        sa.Text,
        sa.ForeignKey("fleet_swarm.infohash", ondelete="CASCADE"),
        nullable=False,
    ),
    sa.Column("node_name", sa.Text, sa.ForeignKey("fleet_node.name"), nullable=False),
    sa.Column("token", sa.BigInteger, nullable=False, unique=True),  # from sequence fleet_lease_token
    sa.Column("taken_us", sa.BigInteger, nullable=False),
    sa.Column("expires_us", sa.BigInteger, nullable=False),
    # set by the rebalancing job: the holder stops monitoring the swarm and releases the lease cleanly
    sa.Column("handoff", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.UniqueConstraint("infohash", "node_name"),
)

lease_fence = sa.Table(
    "lease_fence",
    metadata,
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("ledger_batch.id"), primary_key=True),
    sa.Column("infohash", sa.Text, primary_key=True),
    sa.Column("token", sa.BigInteger, nullable=False),
)

fleet_duty = sa.Table(
    "fleet_duty",
    metadata,
    # a periodic duty of the fleet, run once per period by whichever node's worker claims it first
    sa.Column("name", sa.Text, primary_key=True),  # "timestamp" or "purge"
    sa.Column("every_s", sa.Integer, nullable=False),  # its period, seconds
    sa.Column("settings", sa.Text, nullable=False),  # JSON: what the run needs (TSA URL; retention periods)
    sa.Column("started_us", sa.BigInteger),  # database time of the last claim (None: never ran)
    sa.Column("node_name", sa.Text),  # the node whose worker claimed it last
    sa.Column("finished_us", sa.BigInteger),  # database time that run finished (None: running, or died)
    sa.Column("outcome", sa.Text),  # that run's one-line outcome (or its error)
    sa.CheckConstraint("every_s >= 1", name="every_positive"),
)

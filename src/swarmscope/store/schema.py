"""SQLAlchemy Core tables of the evidence store.

Portable by construction: only generic column types (Integer/BigInteger, Text, LargeBinary, Boolean,
Float, JSON) so the same metadata serves SQLite (embedded default) and PostgreSQL. Timestamps are integer
microseconds since the Unix epoch, UTC (``*_us``), exactly as in :mod:`swarmscope.evidence.records`, so
no driver-specific datetime conversion can shift or truncate them.

``sighting`` and ``observation`` are append-only evidence tables (one row per event, never updated or
deleted; the initial migration installs triggers that refuse UPDATE/DELETE). ``swarm`` and
``monitor_run`` are bookkeeping rows (a run's ``ended_us`` is filled in when the run ends).

List-valued fields (piece indices, quirk names, the BEP 10 ``m`` dictionary) are stored as JSON in the
observation row rather than in child tables: they are small, always read together with their observation,
and one row per observation keeps a batch to one ``executemany`` (50,000 probes must commit in well under a
second). Per-piece questions can still be asked in SQL (``json_each`` on SQLite, ``jsonb`` on PostgreSQL).

This module mirrors ``migrations/versions``; ``tests/store/test_migrations.py`` fails when they drift.
"""

from __future__ import annotations

import sqlalchemy as sa

from swarmscope.evidence.records import Tier

metadata = sa.MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

TIER_LABELS = tuple(t.label for t in Tier)
TIER_CHECK = "tier IN (" + ", ".join(f"'{label}'" for label in TIER_LABELS) + ")"

# Append-only evidence tables (no UPDATE/DELETE, enforced by triggers from migration 0001).
APPEND_ONLY_TABLES = ("sighting", "observation")

swarm = sa.Table(
    "swarm",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # The swarm id: v1 hex, or v2 hex for v2-only torrents (BEP 3 / BEP 52); lower case.
    sa.Column("infohash", sa.Text, nullable=False, unique=True),
    sa.Column("v1", sa.Text),
    sa.Column("v2", sa.Text),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("num_pieces", sa.Integer, nullable=False),
    sa.Column("piece_length", sa.BigInteger, nullable=False),
    sa.Column("total_size", sa.BigInteger, nullable=False),
    sa.Column("metainfo", sa.LargeBinary),  # the exact .torrent bytes, when known
    sa.Column("magnet", sa.Text),
    sa.Column("added_us", sa.BigInteger, nullable=False),
)

monitor_run = sa.Table(
    "monitor_run",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("started_us", sa.BigInteger, nullable=False),
    sa.Column("ended_us", sa.BigInteger),
    sa.Column("settings", sa.JSON, nullable=False),
    sa.Column("software_version", sa.Text, nullable=False),
)

sighting = sa.Table(
    "sighting",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("monitor_run.id"), nullable=False, index=True),
    sa.Column("infohash", sa.Text, sa.ForeignKey("swarm.infohash"), nullable=False),
    sa.Column("ip", sa.Text, nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("detail", sa.Text, nullable=False),
    sa.Column("seen_at_us", sa.BigInteger, nullable=False),
    sa.Column("peer_id", sa.LargeBinary),
    sa.Index(None, "infohash", "ip", "port"),
)

observation = sa.Table(
    "observation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("monitor_run.id"), nullable=False, index=True),
    sa.Column("infohash", sa.Text, sa.ForeignKey("swarm.infohash"), nullable=False),
    sa.Column("ip", sa.Text, nullable=False),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("started_us", sa.BigInteger, nullable=False),
    sa.Column("ended_us", sa.BigInteger, nullable=False),
    sa.Column("tier", sa.Text, nullable=False),
    sa.Column("failure", sa.Text),
    sa.Column("failure_detail", sa.Text),
    sa.Column("remote_infohash", sa.Text),
    sa.Column("peer_id", sa.LargeBinary),
    sa.Column("reserved", sa.LargeBinary),
    sa.Column("client", sa.Text),
    sa.Column("client_version", sa.Text),
    # BEP 10 extension handshake: NULL when none arrived, else {"m", "p", "reqq", "metadata_size"} as
    # JSON (integers the peer chose may exceed 64 bits; JSON keeps them exactly). The raw "v" bytes
    # (interop PW-10) and "yourip" get their own columns.
    sa.Column("extension", sa.JSON(none_as_null=True)),
    sa.Column("ext_v", sa.LargeBinary),
    sa.Column("ext_yourip", sa.Text),
    sa.Column("num_pieces", sa.Integer, nullable=False),
    sa.Column("pieces_have", sa.Integer, nullable=False),
    sa.Column("bitfield", sa.LargeBinary),
    sa.Column("completion", sa.Float),
    sa.Column("bytes_received", sa.BigInteger, nullable=False),
    sa.Column("wire_bytes_in", sa.BigInteger, nullable=False),
    sa.Column("wire_bytes_out", sa.BigInteger, nullable=False),
    sa.Column("payload_bytes_sent", sa.BigInteger, nullable=False),
    sa.Column("verified_pieces", sa.JSON, nullable=False),
    sa.Column("failed_pieces", sa.JSON, nullable=False),
    sa.Column("encrypted", sa.Boolean, nullable=False),
    sa.Column("quirks", sa.JSON, nullable=False),
    sa.CheckConstraint(TIER_CHECK, name="tier_label"),
    sa.Index(None, "infohash", "ip", "port"),
)

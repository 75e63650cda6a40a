"""The web console's read models and the monitor's live stats (store/console/schema.py).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06

Adds the derived tables ``console_peer``, ``console_place``, ``console_minute``, ``console_swarm``,
``console_client``, ``console_batch`` (folded
from sealed batches, rebuildable, never evidence) and ``monitor_stat`` (samples of a running monitor's
counters for ``/metrics``), and an index on ``(ledger_node, ledger_index)`` of ``observation``,
``sighting`` and ``attribution`` so the rows of one sealed batch are read by an index range. Same DDL on
SQLite and PostgreSQL. A frozen snapshot (no import of ``schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"  # chained after the access control's 0009 (two heads otherwise)
branch_labels = None
depends_on = None

_PEER_INDEXES = ("last_seen_us", "first_seen_us", "bytes_received", "observations", "tier")
_LEDGER_TABLES = ("observation", "sighting", "attribution")


def upgrade() -> None:
    for table in _LEDGER_TABLES:
        op.create_index(f"ix_{table}_ledger_node_ledger_index", table, ["ledger_node", "ledger_index"])
    _create_console_peer()
    _create_the_totals()
    _create_the_others()


def _create_console_peer() -> None:
    op.create_table(
        "console_peer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("infohash", sa.Text(), nullable=False),
        sa.Column("ip", sa.Text(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("tier", sa.Integer(), nullable=False),
        sa.Column("sources", sa.Integer(), nullable=False),
        sa.Column("first_seen_us", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("bytes_received", sa.BigInteger(), nullable=False),
        sa.Column("hash_failures", sa.Integer(), nullable=False),
        sa.Column("client", sa.Text(), nullable=True),
        sa.Column("client_at_us", sa.BigInteger(), nullable=True),
        sa.Column("encrypted", sa.Boolean(), nullable=False),
        sa.Column("minute_us", sa.BigInteger(), nullable=True),
        sa.Column("verified_minute_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_console_peer"),
        sa.UniqueConstraint("infohash", "ip", "port", name="uq_console_peer_infohash_ip_port"),
    )
    for column in _PEER_INDEXES:
        op.create_index(f"ix_console_peer_infohash_{column}_id", "console_peer", ["infohash", column, "id"])


_TIER_NAMES = ("listed", "connected", "has_pieces", "verified")
_SOURCE_NAMES = ("tracker", "dht", "pex", "inbound", "manual", "other")


def _create_the_totals() -> None:
    op.create_table(
        "console_swarm",
        sa.Column("infohash", sa.Text(), nullable=False),
        sa.Column("peers", sa.Integer(), nullable=False),
        *(sa.Column(f"tier_{name}", sa.Integer(), nullable=False) for name in _TIER_NAMES),
        *(sa.Column(f"source_{name}", sa.Integer(), nullable=False) for name in _SOURCE_NAMES),
        sa.Column("hash_failure_peers", sa.Integer(), nullable=False),
        sa.Column("bytes_received", sa.BigInteger(), nullable=False),
        sa.Column("last_seen_us", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("infohash", name="pk_console_swarm"),
    )
    op.create_table(
        "console_client",
        sa.Column("infohash", sa.Text(), nullable=False),
        sa.Column("client", sa.Text(), nullable=False),
        sa.Column("peers", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("infohash", "client", name="pk_console_client"),
    )
    op.create_index("ix_console_client_infohash_peers", "console_client", ["infohash", "peers"])


def _create_the_others() -> None:
    op.create_table(
        "console_place",
        sa.Column("ip", sa.Text(), nullable=False),
        sa.Column("observed_at_us", sa.BigInteger(), nullable=False),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column("isp", sa.Text(), nullable=True),
        sa.Column("asn", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("ip", name="pk_console_place"),
    )
    op.create_table(
        "console_minute",
        sa.Column("infohash", sa.Text(), nullable=False),
        sa.Column("minute_us", sa.BigInteger(), nullable=False),
        sa.Column("peers", sa.Integer(), nullable=False),
        sa.Column("verified_peers", sa.Integer(), nullable=False),
        sa.Column("observations", sa.Integer(), nullable=False),
        sa.Column("bytes_received", sa.BigInteger(), nullable=False),
        sa.Column("hash_failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("infohash", "minute_us", name="pk_console_minute"),
    )
    op.create_table(
        "console_batch",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("batch_id", name="pk_console_batch"),
    )
    op.create_table(
        "monitor_stat",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("probes", sa.BigInteger(), nullable=False),
        sa.Column("writer_queue", sa.Integer(), nullable=False),
        sa.Column("batches", sa.BigInteger(), nullable=False),
        sa.Column("commit_seconds_last", sa.Float(), nullable=False),
        sa.Column("commit_seconds_total", sa.Float(), nullable=False),
        sa.Column("tracker_errors", sa.BigInteger(), nullable=False),
        sa.Column("dht_errors", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_stat"),
    )
    op.create_index("ix_monitor_stat_run_id_at_us", "monitor_stat", ["run_id", "at_us"])


def downgrade() -> None:
    for table in ("monitor_stat", "console_batch", "console_client", "console_swarm", "console_minute",
                  "console_place", "console_peer"):  # fmt: skip
        op.drop_table(table)
    for table in _LEDGER_TABLES:
        op.drop_index(f"ix_{table}_ledger_node_ledger_index", table_name=table)

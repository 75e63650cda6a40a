"""Initial evidence store: swarm, monitor_run, append-only sighting and observation.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

A frozen snapshot (no import of ``schema.py``): later schema changes get a new revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_APPEND_ONLY = ("sighting", "observation")
_TIER_CHECK = "tier IN ('listed', 'connected', 'has_pieces', 'verified')"


def _evidence_key(table: str) -> list[sa.schema.SchemaItem]:
    """Columns every evidence row starts with: run, swarm and peer address."""
    return [
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("infohash", sa.Text, nullable=False),
        sa.Column("ip", sa.Text, nullable=False),
        sa.Column("port", sa.Integer, nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name=f"pk_{table}"),
        sa.ForeignKeyConstraint(["run_id"], ["monitor_run.id"], name=f"fk_{table}_run_id_monitor_run"),
        sa.ForeignKeyConstraint(["infohash"], ["swarm.infohash"], name=f"fk_{table}_infohash_swarm"),
    ]


def _create_bookkeeping() -> None:
    op.create_table(
        "swarm",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("infohash", sa.Text, nullable=False),
        sa.Column("v1", sa.Text),
        sa.Column("v2", sa.Text),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("num_pieces", sa.Integer, nullable=False),
        sa.Column("piece_length", sa.BigInteger, nullable=False),
        sa.Column("total_size", sa.BigInteger, nullable=False),
        sa.Column("metainfo", sa.LargeBinary),
        sa.Column("magnet", sa.Text),
        sa.Column("added_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_swarm"),
        sa.UniqueConstraint("infohash", name="uq_swarm_infohash"),
    )
    op.create_table(
        "monitor_run",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("started_us", sa.BigInteger, nullable=False),
        sa.Column("ended_us", sa.BigInteger),
        sa.Column("settings", sa.JSON, nullable=False),
        sa.Column("software_version", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_monitor_run"),
    )


def _create_evidence() -> None:
    op.create_table(
        "sighting",
        *_evidence_key("sighting"),
        sa.Column("detail", sa.Text, nullable=False),
        sa.Column("seen_at_us", sa.BigInteger, nullable=False),
        sa.Column("peer_id", sa.LargeBinary),
    )
    op.create_table(
        "observation",
        *_evidence_key("observation"),
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
        sa.CheckConstraint(_TIER_CHECK, name=op.f("ck_observation_tier_label")),
    )
    for table in _APPEND_ONLY:
        op.create_index(f"ix_{table}_run_id", table, ["run_id"])
        op.create_index(f"ix_{table}_infohash_ip_port", table, ["infohash", "ip", "port"])


def _create_append_only_triggers() -> None:
    """Refuse UPDATE and DELETE on evidence tables at the database, not only in our code."""
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION swarmscope_append_only() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"
        )
    for table in _APPEND_ONLY:
        for action in ("UPDATE", "DELETE"):
            name = f"{table}_append_only_{action.lower()}"
            if dialect == "sqlite":
                op.execute(
                    f"CREATE TRIGGER {name} BEFORE {action} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
            elif dialect == "postgresql":
                op.execute(
                    f"CREATE TRIGGER {name} BEFORE {action} ON {table} "
                    "FOR EACH ROW EXECUTE FUNCTION swarmscope_append_only()"
                )


def upgrade() -> None:
    _create_bookkeeping()
    _create_evidence()
    _create_append_only_triggers()


def downgrade() -> None:
    for table in ("observation", "sighting", "monitor_run", "swarm"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION swarmscope_append_only()")

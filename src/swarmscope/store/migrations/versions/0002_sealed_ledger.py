"""Sealed ledger: node keys, chain entries, sealed batches, timestamps, captures, blobs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Adds to ``observation`` the block proofs (JSON), the capture hash and the ledger link; to ``sighting``
the ledger link; new tables ``node_key``, ``ledger_batch``, ``ledger_entry``, ``batch_timestamp``,
``capture``, ``blob``, ``reference_piece``, ``clock_sample``, ``run_started``, ``quarantined_row``.
Columns are added with plain ``ALTER TABLE ADD COLUMN`` (no table rebuild), so 0001's append-only
triggers stay in place. New evidence tables get the same UPDATE/DELETE-refusing triggers.

A frozen snapshot (no import of ``schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_APPEND_ONLY = (
    "ledger_entry",
    "ledger_batch",
    "capture",
    "blob",
    "clock_sample",
    "batch_timestamp",
    "run_started",
    "quarantined_row",
)
_NEW_TABLES = (
    "quarantined_row",
    "run_started",
    "clock_sample",
    "reference_piece",
    "blob",
    "capture",
    "batch_timestamp",
    "ledger_entry",
    "ledger_batch",
    "node_key",
)


def _ledger_link() -> list[sa.Column[int]]:
    return [sa.Column("ledger_node", sa.Integer), sa.Column("ledger_index", sa.BigInteger)]


def _add_columns() -> None:
    op.add_column("observation", sa.Column("verified_blocks", sa.JSON, nullable=False, server_default="[]"))
    op.add_column("observation", sa.Column("failed_blocks", sa.JSON, nullable=False, server_default="[]"))
    op.add_column("observation", sa.Column("capture_sha256", sa.LargeBinary))
    for table in ("observation", "sighting"):
        for column in _ledger_link():
            op.add_column(table, column)


def _create_ledger() -> None:
    op.create_table(
        "node_key",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("fingerprint", sa.Text, nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("public_key_pem", sa.Text, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_node_key"),
        sa.UniqueConstraint("fingerprint", name="uq_node_key_fingerprint"),
    )
    op.create_table(
        "ledger_batch",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("node_id", sa.Integer, nullable=False),
        sa.Column("first_index", sa.BigInteger, nullable=False),
        sa.Column("last_index", sa.BigInteger, nullable=False),
        sa.Column("head_hash", sa.LargeBinary, nullable=False),
        sa.Column("sealed_at_us", sa.BigInteger, nullable=False),
        sa.Column("batch_bytes", sa.LargeBinary, nullable=False),
        sa.Column("signature", sa.LargeBinary, nullable=False),
        sa.Column("public_key", sa.LargeBinary, nullable=False),
        sa.Column("clock", sa.JSON(none_as_null=True)),
        sa.Column("recovered", sa.Boolean, nullable=False),
        sa.Column("recovered_detail", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_batch"),
        sa.ForeignKeyConstraint(["node_id"], ["node_key.id"], name="fk_ledger_batch_node_id_node_key"),
        sa.UniqueConstraint("node_id", "last_index", name="uq_ledger_batch_node_id_last_index"),
    )
    op.create_table(
        "ledger_entry",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("node_id", sa.Integer, nullable=False),
        sa.Column("idx", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.Text, nullable=False),
        sa.Column("record_hash", sa.LargeBinary, nullable=False),
        sa.Column("prev_hash", sa.LargeBinary, nullable=False),
        sa.Column("entry_hash", sa.LargeBinary, nullable=False),
        sa.Column("canonical", sa.LargeBinary, nullable=False),
        sa.Column("batch_id", sa.Integer),
        sa.PrimaryKeyConstraint("id", name="pk_ledger_entry"),
        sa.ForeignKeyConstraint(["node_id"], ["node_key.id"], name="fk_ledger_entry_node_id_node_key"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["ledger_batch.id"], name="fk_ledger_entry_batch_id_ledger_batch"
        ),
        sa.UniqueConstraint("node_id", "idx", name="uq_ledger_entry_node_id_idx"),
    )
    op.create_table(
        "batch_timestamp",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("batch_id", sa.Integer, nullable=False),
        sa.Column("tsa_url", sa.Text, nullable=False),
        sa.Column("token", sa.LargeBinary, nullable=False),
        sa.Column("added_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_batch_timestamp"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["ledger_batch.id"], name="fk_batch_timestamp_batch_id_ledger_batch"
        ),
    )
    op.create_index("ix_batch_timestamp_batch_id", "batch_timestamp", ["batch_id"])


def _create_content() -> None:
    for table in ("capture", "blob"):
        op.create_table(
            table,
            sa.Column("sha256", sa.LargeBinary, primary_key=True),
            sa.Column("data", sa.LargeBinary, nullable=False),
            sa.PrimaryKeyConstraint("sha256", name=f"pk_{table}"),
        )
    op.create_table(
        "reference_piece",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("infohash", sa.Text, nullable=False),
        sa.Column("piece", sa.Integer, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_reference_piece"),
        sa.UniqueConstraint("infohash", "piece", name="uq_reference_piece_infohash_piece"),
    )


def _create_records() -> None:
    op.create_table(
        "clock_sample",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("server", sa.Text, nullable=False),
        sa.Column("measured_at_us", sa.BigInteger, nullable=False),
        sa.Column("offset_us", sa.BigInteger),
        sa.Column("delay_us", sa.BigInteger),
        sa.Column("stratum", sa.Integer),
        sa.Column("leap", sa.Integer),
        sa.Column("error", sa.Text),
        *_ledger_link(),
        sa.PrimaryKeyConstraint("id", name="pk_clock_sample"),
        sa.ForeignKeyConstraint(["run_id"], ["monitor_run.id"], name="fk_clock_sample_run_id_monitor_run"),
    )
    op.create_index("ix_clock_sample_run_id", "clock_sample", ["run_id"])
    op.create_table(
        "run_started",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer, nullable=False),
        sa.Column("started_us", sa.BigInteger, nullable=False),
        sa.Column("software_version", sa.Text, nullable=False),
        sa.Column("software_commit", sa.Text),
        sa.Column("settings_json", sa.Text, nullable=False),
        *_ledger_link(),
        sa.PrimaryKeyConstraint("id", name="pk_run_started"),
    )
    op.create_index("ix_run_started_run_id", "run_started", ["run_id"])
    op.create_table(
        "quarantined_row",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("table_name", sa.Text, nullable=False),
        sa.Column("row_id", sa.Integer, nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("detected_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_quarantined_row"),
        sa.UniqueConstraint("table_name", "row_id", name="uq_quarantined_row_table_name_row_id"),
    )


def _create_append_only_triggers() -> None:
    """The same UPDATE/DELETE-refusing triggers as 0001 (PostgreSQL reuses its function)."""
    dialect = op.get_bind().dialect.name
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
    _add_columns()
    _create_ledger()
    _create_content()
    _create_records()
    _create_append_only_triggers()


def downgrade() -> None:
    for table in _NEW_TABLES:
        op.drop_table(table)
    with op.batch_alter_table("sighting") as batch:
        for column in ("ledger_index", "ledger_node"):
            batch.drop_column(column)
    with op.batch_alter_table("observation") as batch:
        for column in ("ledger_index", "ledger_node", "capture_sha256", "failed_blocks", "verified_blocks"):
            batch.drop_column(column)
    _restore_0001_triggers()


def _restore_0001_triggers() -> None:
    """SQLite batch mode rebuilds a table and drops its triggers; put 0001's back."""
    if op.get_bind().dialect.name != "sqlite":
        return
    for table in ("sighting", "observation"):
        for action in ("UPDATE", "DELETE"):
            name = f"{table}_append_only_{action.lower()}"
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
            op.execute(
                f"CREATE TRIGGER {name} BEFORE {action} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
            )

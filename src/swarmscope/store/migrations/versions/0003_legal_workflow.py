"""The legal workflow: attribution, campaigns, ISPs, cases, identities, notices, letters.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

New tables only (see ``store/legal/schema.py``); the append-only ones get the same UPDATE/DELETE-refusing
triggers as 0001/0002. A frozen snapshot (no import of ``schema.py``).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_APPEND_ONLY = ("attribution", "disclosure_event", "case_event", "audit_log", "purge_log")
_NEW_TABLES = (
    "subscriber",
    "payment",
    "notice",
    "letter",
    "dispute",
    "case_event",
    "work_torrent",
    "legal_case",
    "disclosure_event",
    "work",
    "disclosure_request",
    "purge_log",
    "isp",
    "dataset",
    "client",
    "audit_log",
    "attribution",
)


def _create_tables() -> None:
    """Create the new tables in an order that satisfies their foreign keys."""
    _create_attribution_tables()
    _create_registry_tables()
    _create_case_tables()
    _create_case_history_tables()
    _create_letter_tables()
    _create_payment_tables()


def _create_attribution_tables() -> None:
    """Sealed IP attributions, the audit log, API clients and the IP datasets."""
    op.create_table(
        "attribution",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=True),
        sa.Column("ip", sa.Text(), nullable=False),
        sa.Column("observed_at_us", sa.BigInteger(), nullable=False),
        sa.Column("asn", sa.BigInteger(), nullable=True),
        sa.Column("as_org", sa.Text(), nullable=True),
        sa.Column("isp", sa.Text(), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("accuracy_radius_km", sa.Integer(), nullable=True),
        sa.Column("flags", sa.JSON(), nullable=False),
        sa.Column("datasets", sa.JSON(), nullable=False),
        sa.Column("ledger_node", sa.Integer(), nullable=True),
        sa.Column("ledger_index", sa.BigInteger(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_attribution")),
    )
    op.create_index(op.f("ix_attribution_ip"), "attribution", ["ip"], unique=False)
    op.create_table(
        "audit_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_table(
        "client",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("contact", sa.Text(), nullable=True),
        sa.Column("added_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_client")),
        sa.UniqueConstraint("name", name=op.f("uq_client_name")),
    )
    op.create_table(
        "dataset",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("database_type", sa.Text(), nullable=True),
        sa.Column("build_us", sa.BigInteger(), nullable=True),
        sa.Column("sha256", sa.Text(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("added_us", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset")),
        sa.UniqueConstraint("sha256", name=op.f("uq_dataset_sha256")),
    )


def _create_registry_tables() -> None:
    """ISPs, the purge log, disclosure requests and works."""
    op.create_table(
        "isp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("asns", sa.JSON(), nullable=False),
        sa.Column("abuse_email", sa.Text(), nullable=True),
        sa.Column("legal_address", sa.Text(), nullable=True),
        sa.Column("country", sa.Text(), nullable=True),
        sa.Column("added_us", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_isp")),
        sa.UniqueConstraint("name", name=op.f("uq_isp_name")),
    )
    op.create_table(
        "purge_log",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_purge_log")),
    )
    op.create_table(
        "disclosure_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("isp_id", sa.Integer(), nullable=False),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("status_us", sa.BigInteger(), nullable=False),
        sa.Column("exhibit_sha256", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["isp_id"], ["isp.id"], name=op.f("fk_disclosure_request_isp_id_isp")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_request")),
    )
    op.create_table(
        "work",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("registration", sa.Text(), nullable=True),
        sa.Column("reference_path", sa.Text(), nullable=True),
        sa.Column("added_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["client_id"], ["client.id"], name=op.f("fk_work_client_id_client")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work")),
        sa.UniqueConstraint("client_id", "title", name=op.f("uq_work_client_id_title")),
    )


def _create_case_tables() -> None:
    """Disclosure events and the cases (they name requests, ISPs and works)."""
    op.create_table(
        "disclosure_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["disclosure_request.id"],
            name=op.f("fk_disclosure_event_request_id_disclosure_request"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disclosure_event")),
    )
    op.create_index(op.f("ix_disclosure_event_request_id"), "disclosure_event", ["request_id"], unique=False)
    op.create_table(
        "legal_case",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("doe", sa.Text(), nullable=False),
        sa.Column("ip", sa.Text(), nullable=False),
        sa.Column("port", sa.Integer(), nullable=False),
        sa.Column("infohash", sa.Text(), nullable=False),
        sa.Column("work_id", sa.Integer(), nullable=True),
        sa.Column("isp_id", sa.Integer(), nullable=True),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("first_hit_us", sa.BigInteger(), nullable=False),
        sa.Column("last_hit_us", sa.BigInteger(), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("region", sa.Text(), nullable=True),
        sa.Column("city", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("status_us", sa.BigInteger(), nullable=False),
        sa.Column("closed_us", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(["isp_id"], ["isp.id"], name=op.f("fk_legal_case_isp_id_isp")),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["disclosure_request.id"],
            name=op.f("fk_legal_case_request_id_disclosure_request"),
        ),
        sa.ForeignKeyConstraint(["work_id"], ["work.id"], name=op.f("fk_legal_case_work_id_work")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_legal_case")),
        sa.UniqueConstraint("doe", name=op.f("uq_legal_case_doe")),
        sa.UniqueConstraint(
            "ip", "infohash", "first_hit_us", name=op.f("uq_legal_case_ip_infohash_first_hit_us")
        ),
    )
    op.create_index(op.f("ix_legal_case_ip"), "legal_case", ["ip"], unique=False)


def _create_case_history_tables() -> None:
    """Work-torrent links, case events and disputes."""
    op.create_table(
        "work_torrent",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("work_id", sa.Integer(), nullable=False),
        sa.Column("infohash", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("checked_pieces", sa.Integer(), server_default="0", nullable=False),
        sa.Column("matched_pieces", sa.Integer(), server_default="0", nullable=False),
        sa.Column("checked_us", sa.BigInteger(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("linked_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["work_id"], ["work.id"], name=op.f("fk_work_torrent_work_id_work")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_work_torrent")),
        sa.UniqueConstraint("work_id", "infohash", name=op.f("uq_work_torrent_work_id_infohash")),
    )
    op.create_index(op.f("ix_work_torrent_infohash"), "work_torrent", ["infohash"], unique=False)
    op.create_table(
        "case_event",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("at_us", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["case_id"], ["legal_case.id"], name=op.f("fk_case_event_case_id_legal_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_event")),
    )
    op.create_index(op.f("ix_case_event_case_id"), "case_event", ["case_id"], unique=False)
    op.create_table(
        "dispute",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("received_us", sa.BigInteger(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("recorded_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["legal_case.id"], name=op.f("fk_dispute_case_id_legal_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dispute")),
    )
    op.create_index(op.f("ix_dispute_case_id"), "dispute", ["case_id"], unique=False)


def _create_letter_tables() -> None:
    """Letters and notices of a case."""
    op.create_table(
        "letter",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("deadline_us", sa.BigInteger(), nullable=False),
        sa.Column("payment_reference", sa.Text(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("approved_by", sa.Text(), nullable=True),
        sa.Column("approved_us", sa.BigInteger(), nullable=True),
        sa.Column("sent_us", sa.BigInteger(), nullable=True),
        sa.Column("pdf_sha256", sa.Text(), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["legal_case.id"], name=op.f("fk_letter_case_id_legal_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_letter")),
        sa.UniqueConstraint("payment_reference", name=op.f("uq_letter_payment_reference")),
    )
    op.create_index(op.f("ix_letter_case_id"), "letter", ["case_id"], unique=False)
    op.create_table(
        "notice",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("isp_id", sa.Integer(), nullable=False),
        sa.Column("notice_id", sa.Text(), nullable=False),
        sa.Column("created_us", sa.BigInteger(), nullable=False),
        sa.Column("xml_sha256", sa.Text(), nullable=False),
        sa.Column("to_address", sa.Text(), nullable=True),
        sa.Column("sent_us", sa.BigInteger(), nullable=True),
        sa.Column("message_id", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["legal_case.id"], name=op.f("fk_notice_case_id_legal_case")),
        sa.ForeignKeyConstraint(["isp_id"], ["isp.id"], name=op.f("fk_notice_isp_id_isp")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice")),
        sa.UniqueConstraint("notice_id", name=op.f("uq_notice_notice_id")),
    )
    op.create_index(op.f("ix_notice_case_id"), "notice", ["case_id"], unique=False)


def _create_payment_tables() -> None:
    """Payments and the disclosed subscriber of a case."""
    op.create_table(
        "payment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("amount_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("received_us", sa.BigInteger(), nullable=False),
        sa.Column("reference", sa.Text(), nullable=False),
        sa.Column("method", sa.Text(), nullable=True),
        sa.Column("recorded_us", sa.BigInteger(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["legal_case.id"], name=op.f("fk_payment_case_id_legal_case")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment")),
    )
    op.create_index(op.f("ix_payment_case_id"), "payment", ["case_id"], unique=False)
    op.create_table(
        "subscriber",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("window_start_us", sa.BigInteger(), nullable=False),
        sa.Column("window_end_us", sa.BigInteger(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.Text(), nullable=False),
        sa.Column("imported_us", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["legal_case.id"], name=op.f("fk_subscriber_case_id_legal_case")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscriber")),
        sa.UniqueConstraint("case_id", name=op.f("uq_subscriber_case_id")),
    )


def _create_append_only_triggers() -> None:
    """UPDATE/DELETE-refusing triggers (PostgreSQL reuses 0001's function)."""
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
    _create_tables()
    _create_append_only_triggers()


def downgrade() -> None:
    for table in _NEW_TABLES:
        op.drop_table(table)

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

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from swarmscope.evidence.declarations import (
    ATTRIBUTION,
    CLOCK_SAMPLE,
    OBSERVATION,
    REDACTION,
    RUN_STARTED,
    SIGHTING,
    WORKFLOW_EVENT,
)
from swarmscope.evidence.records import Tier
from swarmscope.store.ledger.record_rows import record_columns
from swarmscope.store.metadata import metadata  # the tables are registered on it

TIER_LABELS = tuple(t.label for t in Tier)
TIER_CHECK = "tier IN (" + ", ".join(f"'{label}'" for label in TIER_LABELS) + ")"

# Append-only evidence tables (no UPDATE/DELETE, enforced by triggers from migrations 0001, 0002, 0006).
APPEND_ONLY_TABLES: tuple[str, ...] = (
    "sighting",
    "observation",
    "ledger_entry",
    "ledger_batch",
    "capture",
    "blob",
    "clock_sample",
    "batch_timestamp",
    "run_started",
    "quarantined_row",
    "attribution",  # trigger from migration 0003
    "redaction",
    "workflow_event",  # trigger from migration 0008
)

# The foreign keys PostgreSQL enforces by statement-level triggers instead (migration 0017: one anti-join
# per COPY or INSERT, the same refusals; SQLite keeps them as foreign keys). Alembic's comparison of the
# schema with a PostgreSQL database leaves these out (:func:`compared_on`).
STATEMENT_CHECKED_FKS = frozenset(
    [
        *(
            f"fk_{table}_{column}_{parent}"
            for table in ("observation", "sighting")
            for column, parent in (("run_id", "monitor_run"), ("infohash", "swarm"))
        ),
        "fk_ledger_entry_node_id_node_key",
        "fk_ledger_entry_batch_id_ledger_batch",
    ]
)


def compared_on(dialect: str) -> Callable[..., bool]:
    """Alembic ``include_object`` for comparing this schema with a database of ``dialect``: everything,
    except on PostgreSQL the foreign keys of :data:`STATEMENT_CHECKED_FKS` (triggers stand in for them)."""

    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return not (
            dialect == "postgresql" and type_ == "foreign_key_constraint" and name in STATEMENT_CHECKED_FKS
        )

    return include


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

# The evidence tables: ``run_id``, the columns declared for the record (evidence.declarations), then the
# ledger entry (node_key.id, index) that seals the row, checked by verify_ledger.
sighting = sa.Table(
    "sighting",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("monitor_run.id"), nullable=False, index=True),
    *record_columns(SIGHTING, {"infohash": (sa.ForeignKey("swarm.infohash"),)}),
    sa.Column("ledger_node", sa.Integer),
    sa.Column("ledger_index", sa.BigInteger),
    sa.Index(None, "infohash", "ip", "port"),
    sa.Index(
        None, "ledger_node", "ledger_index"
    ),  # one sealed batch's rows (0010; the fleet's fencing check)
)

# The BEP 10 handshake is three columns: ``extension`` JSON {"m", "p", "reqq", "metadata_size"} (integers a
# peer chose may exceed 64 bits; JSON keeps them exactly), the raw ``ext_v`` bytes (interop PW-10) and
# ``ext_yourip``. Block proofs are JSON [[piece, begin, length, "sha256 hex"], ...]; the wire capture's
# bytes are in ``capture``, by ``capture_sha256``.
observation = sa.Table(
    "observation",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("monitor_run.id"), nullable=False, index=True),
    *record_columns(
        OBSERVATION,
        {"infohash": (sa.ForeignKey("swarm.infohash"),)},
        {"verified_blocks": {"server_default": "[]"}, "failed_blocks": {"server_default": "[]"}},
    ),
    sa.Column("ledger_node", sa.Integer),
    sa.Column("ledger_index", sa.BigInteger),
    sa.CheckConstraint(TIER_CHECK, name="tier_label"),
    sa.Index(None, "infohash", "ip", "port"),
    sa.Index(
        None, "ledger_node", "ledger_index"
    ),  # one sealed batch's rows (0010; the fleet's fencing check)
)

# ---- The sealed ledger (migration 0002; see swarmscope.store.ledger.commit) ----

node_key = sa.Table(
    "node_key",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("fingerprint", sa.Text, nullable=False, unique=True),  # hex SHA-256 of public_key
    sa.Column("public_key", sa.LargeBinary, nullable=False),  # 32 raw bytes (RFC 8032 5.1.5)
    sa.Column("public_key_pem", sa.Text, nullable=False),  # SubjectPublicKeyInfo (RFC 8410)
    sa.Column("created_us", sa.BigInteger, nullable=False),
)

ledger_batch = sa.Table(
    "ledger_batch",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("node_id", sa.Integer, sa.ForeignKey("node_key.id"), nullable=False),
    sa.Column("first_index", sa.BigInteger, nullable=False),
    sa.Column("last_index", sa.BigInteger, nullable=False),
    sa.Column("head_hash", sa.LargeBinary, nullable=False),
    sa.Column("sealed_at_us", sa.BigInteger, nullable=False),
    sa.Column("batch_bytes", sa.LargeBinary, nullable=False),  # exactly the signed message
    sa.Column("signature", sa.LargeBinary, nullable=False),
    sa.Column("public_key", sa.LargeBinary, nullable=False),
    sa.Column("clock", sa.JSON(none_as_null=True)),
    sa.Column("recovered", sa.Boolean, nullable=False),
    sa.Column("recovered_detail", sa.Text),
    sa.UniqueConstraint("node_id", "last_index"),
)

ledger_entry = sa.Table(
    "ledger_entry",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("node_id", sa.Integer, sa.ForeignKey("node_key.id"), nullable=False),
    sa.Column("idx", sa.BigInteger, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),  # observation, sighting, clock_sample, run_started
    sa.Column("record_hash", sa.LargeBinary, nullable=False),
    sa.Column("prev_hash", sa.LargeBinary, nullable=False),
    sa.Column("entry_hash", sa.LargeBinary, nullable=False),
    # NULL once redacted by a retention purge (migration 0004): the index and hashes stay, so the chain and
    # its seals still verify; ``redacted_rule`` / ``redacted_us`` say under which rule and when (UTC µs).
    sa.Column("canonical", sa.LargeBinary),
    # The batch sealed in the same transaction; NULL for entries sealed later by recovery (batch index
    # ranges are authoritative, and this table is append-only).
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("ledger_batch.id")),
    sa.Column("redacted_rule", sa.Text),
    sa.Column("redacted_us", sa.BigInteger),
    sa.UniqueConstraint("node_id", "idx"),
)

batch_timestamp = sa.Table(
    "batch_timestamp",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("batch_id", sa.Integer, sa.ForeignKey("ledger_batch.id"), nullable=False, index=True),
    sa.Column("tsa_url", sa.Text, nullable=False),
    sa.Column("token", sa.LargeBinary, nullable=False),  # RFC 3161 TimeStampToken, DER
    sa.Column("added_us", sa.BigInteger, nullable=False),
)

capture = sa.Table(
    "capture",
    metadata,
    sa.Column("sha256", sa.LargeBinary, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

blob = sa.Table(
    "blob",
    metadata,
    sa.Column("sha256", sa.LargeBinary, primary_key=True),
    sa.Column("data", sa.LargeBinary, nullable=False),
)

reference_piece = sa.Table(
    "reference_piece",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("infohash", sa.Text, nullable=False),
    sa.Column("piece", sa.Integer, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.UniqueConstraint("infohash", "piece"),
)

clock_sample = sa.Table(
    "clock_sample",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer, sa.ForeignKey("monitor_run.id"), nullable=False, index=True),
    *record_columns(CLOCK_SAMPLE),
    sa.Column("ledger_node", sa.Integer),
    sa.Column("ledger_index", sa.BigInteger),
)

# ``run_id`` is the record's own field, as recorded (no foreign key: the record is evidence).
run_started = sa.Table(
    "run_started",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    *record_columns(RUN_STARTED, options={"run_id": {"index": True}}),
    sa.Column("ledger_node", sa.Integer),
    sa.Column("ledger_index", sa.BigInteger),
)

# A retention purge's sealed record (migration 0006; store/legal/purge.py): what it redacted, under which
# rule.
# Append-only and never redactable itself; no run of its own.
redaction = sa.Table(
    "redaction",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    *record_columns(REDACTION),
    sa.Column("ledger_node", sa.Integer),
    sa.Column("ledger_index", sa.BigInteger),
)

# A sealed decision of the legal workflow (migration 0008; store/legal/workflow_seals.py): letters approved
# and sent, payments, disputes, escalations, ISP and work directory entries. Append-only; no run of its own.
workflow_event = sa.Table(
    "workflow_event",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    *record_columns(WORKFLOW_EVENT),
    sa.Column("ledger_node", sa.Integer),
    sa.Column("ledger_index", sa.BigInteger),
)

# Evidence rows recovery found without a ledger entry (written before migration 0002, or half-written):
# never exported as sealed evidence; listed here so the exclusion is durable and reported.
quarantined_row = sa.Table(
    "quarantined_row",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("table_name", sa.Text, nullable=False),
    sa.Column("row_id", sa.Integer, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("detected_us", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("table_name", "row_id"),
)

# --- attribution (sealed records) and the datasets they cite ---------------------------------------

dataset = sa.Table(
    "dataset",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),  # e.g. "GeoLite2-ASN", or the list file's name
    # "asn" | "city" | "isp" | "country" | "anonymous" (MMDB) | "hosting" | "vpn" | "tor" (list files)
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("database_type", sa.Text),  # MMDB metadata database_type
    sa.Column("build_us", sa.BigInteger),  # MMDB build_epoch (or the list file's mtime), UTC µs
    sa.Column("sha256", sa.Text, nullable=False, unique=True),  # hex; the dataset fingerprint
    sa.Column("size", sa.BigInteger, nullable=False),
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("added_us", sa.BigInteger, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
)

# The record's declared columns (evidence.declarations): ``observed_at_us`` is the observation time it
# applies to, ``country`` ISO 3166-1 alpha-2, ``region``/``city`` advisory, ``flags`` a subset of
# ["hosting", "vpn", "tor"], ``datasets`` the SHA-256 hex of every dataset consulted.
attribution = sa.Table(
    "attribution",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("run_id", sa.Integer),  # the monitor run that attributed it (None: attributed later)
    *record_columns(ATTRIBUTION, options={"ip": {"index": True}}),
    sa.Column("ledger_node", sa.Integer),
    sa.Column("ledger_index", sa.BigInteger),
    sa.Index(None, "ledger_node", "ledger_index"),  # rows of one sealed batch (migration 0010)
)

"""Tables of the legal workflow: campaigns, ISPs, cases, identities, letters, purges.

Same conventions as :mod:`swarmscope.store.ledger.schema`: portable column types, UTC microseconds in ``*_us``
integer columns, money in integer cents with an ISO 4217 ``currency``. Registered on the same
``metadata`` (every table is registered by :mod:`swarmscope.store.database`); mirrored by migration 0003.
The sealed ``attribution`` records and the ``dataset`` fingerprints they cite are evidence: they live in
:mod:`swarmscope.store.ledger.schema`.

Separation of personal data (README "Identities"): the only table naming a person is ``subscriber``, whose
identity fields are one authenticated ciphertext (``ciphertext``; the key lives in a key file or the
environment, never in the database). Every read of it is written to ``audit_log``. Everything else
refers to a subscriber through the case (an IP address is *associated with* a subscriber's account;
nothing here asserts who did anything).

Append-only (triggers from migration 0003): ``disclosure_event``, ``case_event``,
``audit_log``, ``purge_log``. Workflow rows (``legal_case``, ``letter``, ...) carry a current status
and keep their history in the ``*_event`` tables.
"""

from __future__ import annotations

import sqlalchemy as sa

from swarmscope.store.metadata import metadata

CASE_APPEND_ONLY_TABLES: tuple[str, ...] = (
    "disclosure_event",
    "case_event",
    "audit_log",
    "purge_log",
)

# --- campaigns --------------------------------------------------------------------------------------

client = sa.Table(
    "client",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),  # the rights holder
    sa.Column("contact", sa.Text),
    sa.Column("added_us", sa.BigInteger, nullable=False),
)

work = sa.Table(
    "work",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("client_id", sa.Integer, sa.ForeignKey("client.id"), nullable=False),
    sa.Column("title", sa.Text, nullable=False),
    sa.Column("registration", sa.Text),  # copyright registration number
    sa.Column("reference_path", sa.Text),  # reference content (a copy of the work), optional: the registering
    # machine's path; a fleet node names its own copy (``node --reference``), checked against:
    sa.Column("reference_sha256", sa.Text),  # hex SHA-256 of that content (workflow_seals.reference_sha256)
    sa.Column("added_us", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("client_id", "title"),
)

work_torrent = sa.Table(
    "work_torrent",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("work_id", sa.Integer, sa.ForeignKey("work.id"), nullable=False),
    sa.Column("infohash", sa.Text, nullable=False, index=True),
    # "linked" (not checked) | "confirmed" (verified pieces match the reference) | "fake" (they do not)
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("checked_pieces", sa.Integer, nullable=False, server_default="0"),
    sa.Column("matched_pieces", sa.Integer, nullable=False, server_default="0"),
    sa.Column("checked_us", sa.BigInteger),
    sa.Column("detail", sa.Text),
    sa.Column("linked_us", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("work_id", "infohash"),
)

# --- ISPs and disclosure requests -------------------------------------------------------------------

isp = sa.Table(
    "isp",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("asns", sa.JSON, nullable=False),  # [int, ...]
    sa.Column("abuse_email", sa.Text),
    sa.Column("legal_address", sa.Text),
    sa.Column("country", sa.Text),
    sa.Column("added_us", sa.BigInteger, nullable=False),
)

disclosure_request = sa.Table(
    "disclosure_request",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("isp_id", sa.Integer, sa.ForeignKey("isp.id"), nullable=False),
    sa.Column("region", sa.Text),  # an exhibit per region when asked for
    # drafted → served → complied | partially_complied | contested | quashed
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("status_us", sa.BigInteger, nullable=False),
    sa.Column("exhibit_sha256", sa.Text),  # hex SHA-256 of the exhibit CSV (printed in every PDF footer)
    sa.Column("note", sa.Text),
)

disclosure_event = sa.Table(
    "disclosure_event",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("disclosure_request.id"), nullable=False, index=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("note", sa.Text),
)

# --- cases (README "Thresholds", "Cases") -----------------------------------------------------------

legal_case = sa.Table(
    "legal_case",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("doe", sa.Text, nullable=False, unique=True),  # "DOE-000001": the name in exhibits
    sa.Column("ip", sa.Text, nullable=False, index=True),
    sa.Column("port", sa.Integer, nullable=False),
    sa.Column("infohash", sa.Text, nullable=False),
    sa.Column("work_id", sa.Integer, sa.ForeignKey("work.id")),
    sa.Column("isp_id", sa.Integer, sa.ForeignKey("isp.id")),
    sa.Column("request_id", sa.Integer, sa.ForeignKey("disclosure_request.id")),
    sa.Column("first_hit_us", sa.BigInteger, nullable=False),
    sa.Column("last_hit_us", sa.BigInteger, nullable=False),
    sa.Column("hits", sa.Integer, nullable=False),  # verified hits
    sa.Column("region", sa.Text),  # advisory geolocation at the first hit
    sa.Column("city", sa.Text),  # advisory
    # candidate → requested → identified → drafted → approved → sent → paid | disputed | no_response
    # → escalated | withdrawn; closed (see cases/workflow.py)
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("status_us", sa.BigInteger, nullable=False),
    sa.Column("closed_us", sa.BigInteger),
    sa.UniqueConstraint("ip", "infohash", "first_hit_us"),
)

case_event = sa.Table(
    "case_event",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("legal_case.id"), nullable=False, index=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),  # who approved / recorded it (human approval)
    sa.Column("note", sa.Text),
)

# --- subscriber identities, kept apart (README "Identities") ----------------------------------------

subscriber = sa.Table(
    "subscriber",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("legal_case.id"), nullable=False, unique=True),
    sa.Column("window_start_us", sa.BigInteger, nullable=False),  # the ISP's stated time window
    sa.Column("window_end_us", sa.BigInteger, nullable=False),
    # migration 0007: the address and port the ISP disclosed (NULL ip: imported before, bound to nothing)
    sa.Column("ip", sa.Text),
    sa.Column("port", sa.Integer),  # NULL: the disclosure named no port
    sa.Column("ciphertext", sa.LargeBinary, nullable=False),  # name, postal address, e-mail (encrypted)
    sa.Column("key_id", sa.Text, nullable=False),  # fingerprint of the key that encrypted it
    sa.Column("source_sha256", sa.Text, nullable=False),  # the disclosure file it came from
    sa.Column("imported_us", sa.BigInteger, nullable=False),
)

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("actor", sa.Text, nullable=False),
    sa.Column("action", sa.Text, nullable=False),  # "read" | "import" | "purge" | ...
    sa.Column("subject", sa.Text, nullable=False),  # e.g. "subscriber:12" (never the personal data)
    sa.Column("detail", sa.Text),
)

# --- notices, letters, payments (README "ACNS notices", "Letters") ----------------------------------

notice = sa.Table(
    "notice",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("legal_case.id"), nullable=False, index=True),
    sa.Column("isp_id", sa.Integer, sa.ForeignKey("isp.id"), nullable=False),
    sa.Column("notice_id", sa.Text, nullable=False, unique=True),  # ACNS Case/ID
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("xml_sha256", sa.Text, nullable=False),
    sa.Column("to_address", sa.Text),
    sa.Column("sent_us", sa.BigInteger),
    sa.Column("message_id", sa.Text),
)

letter = sa.Table(
    "letter",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("legal_case.id"), nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False),  # "initial" | "reminder"
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("deadline_us", sa.BigInteger, nullable=False),
    sa.Column("payment_reference", sa.Text, nullable=False, unique=True),
    sa.Column("created_us", sa.BigInteger, nullable=False),
    sa.Column("approved_by", sa.Text),
    sa.Column("approved_us", sa.BigInteger),
    sa.Column("sent_us", sa.BigInteger),
    sa.Column("pdf_sha256", sa.Text),
    sa.Column("message_id", sa.Text),
    # migration 0005: what an approval binds (see swarmscope.cases.letters)
    sa.Column("settings_json", sa.Text),  # the letter settings frozen at drafting (canonical JSON)
    sa.Column("approved_sha256", sa.Text),  # hex SHA-256 of the content approved (approval_digest)
    sa.Column("voided_us", sa.BigInteger),  # an unsent letter voided (redraft, dispute): never sent
)

payment = sa.Table(
    "payment",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("legal_case.id"), nullable=False, index=True),
    sa.Column("amount_cents", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("received_us", sa.BigInteger, nullable=False),
    sa.Column("reference", sa.Text, nullable=False),
    sa.Column("method", sa.Text),
    sa.Column("recorded_us", sa.BigInteger, nullable=False),
    sa.Column("note", sa.Text),
)

dispute = sa.Table(
    "dispute",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("case_id", sa.Integer, sa.ForeignKey("legal_case.id"), nullable=False, index=True),
    sa.Column("received_us", sa.BigInteger, nullable=False),
    sa.Column("summary", sa.Text, nullable=False),
    sa.Column("recorded_us", sa.BigInteger, nullable=False),
)

# --- retention (README "Retention") -----------------------------------------------------------------

purge_log = sa.Table(
    "purge_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("at_us", sa.BigInteger, nullable=False),
    sa.Column("rule", sa.Text, nullable=False),  # which schedule applied, with its parameters
    sa.Column("kind", sa.Text, nullable=False),  # what was purged ("ip_evidence", "identity", ...)
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("detail", sa.Text),  # never personal data (case DOE numbers at most)
)

# A purge's authorization (migration 0004): one row exists only INSIDE a purge transaction (inserted at its
# start, deleted before commit). While it exists the triggers let the purge redact ledger entries of
# observations, sightings and attributions and delete those rows and their unreferenced captures/blobs;
# every other UPDATE/DELETE on append-only tables stays refused (see store/legal/purge.py).
purge_authorization = sa.Table(
    "purge_authorization",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("at_us", sa.BigInteger, nullable=False),
)

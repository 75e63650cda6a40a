"""One declaration per record type: canonical tags, database columns, conversions, views.

Adding a field to a record is one line here (plus the dataclass attribute in
:mod:`swarmscope.evidence.records`, which mypy and every caller need to see, and an Alembic migration
adding its column): the canonical bytes and their documented layout, the row builder and reader, the
table's columns and the bundle views all follow from this table (:mod:`swarmscope.evidence.record_spec`
says what each entry means). ``tests/store/test_record_declarations.py`` walks every declaration against
the SQLAlchemy schema and against the byte layout documented in :mod:`swarmscope.evidence.canonical`;
``tests/store/test_record_versions.py`` performs the whole procedure on a throwaway version 2 field.

A field added to a record that is already sealed somewhere declares ``since=N`` (N = the newest version
of :func:`latest_version` over all types, plus one) and ``before=`` the value older records hold for it
(None, ``()``): records sealed before keep their bytes and hashes (they decode with ``version`` set to
their old version and re-encode byte-exact), new ones are written in version N. The record's table then
also holds a ``version`` column (the migration adds it, ``NOT NULL`` with server default 1, along with the
field's own column(s), nullable or with a server default: older rows have no value for them; with
``op.add_column``, since a ``batch_alter_table`` rebuild of an evidence table on SQLite trips the
append-only triggers of the tables that refer to it). Then ``make golden`` pins the golden vectors of
version N (``tests/evidence/record_vectors.json``). The order of ``fields`` must stay the dataclass
attribute order.
"""

from __future__ import annotations

from swarmscope.evidence import row_codecs as rc
from swarmscope.evidence.record_spec import Column, RecordSpec, field
from swarmscope.evidence.record_spec import latest_version as _latest
from swarmscope.evidence.records import (
    Attribution,
    BlockProof,
    ClockSample,
    ExtensionInfo,
    Observation,
    RedactedEntry,
    Redaction,
    RunStarted,
    Sighting,
    Tier,
    WorkflowEvent,
)

# Canonical tag sets (notation of evidence.canonical): text, text or None, integer, integer or None,
# bytes or None.
TXT, TXT_N, INT, INT_N, BYT_N = ("s",), ("n", "s"), ("i",), ("n", "i"), ("n", "b")

# records/observations.csv, in column order (time fields by their view name).
_OBSERVATION_CSV = (
    "infohash", "ip", "port", "source", "started", "ended", "tier", "failure", "client", "client_version",
    "peer_id", "completion", "pieces_have", "num_pieces", "bytes_received", "verified_pieces",
    "verified_blocks", "failed_pieces", "failed_blocks", "encrypted", "capture_sha256",
)  # fmt: skip
# Left to observations.json (nested, binary or diagnostic: no flat cell reads well).
_OBSERVATION_NOT_CSV = (
    "failure_detail", "remote_infohash", "reserved", "extension", "bitfield", "wire_bytes_in",
    "wire_bytes_out", "payload_bytes_sent", "quirks",
    # version 2: the CSV's columns are those of every version (a bundle exported before verifies byte for
    # byte), so an inbound probe's observed source port is in observations.json
    "source_port",
)  # fmt: skip

OBSERVATION = RecordSpec(
    Observation,
    "observation",
    (
        field("infohash", TXT, "text"),
        field("ip", TXT, "text"),
        field("port", INT, "int"),
        field("source", TXT, "text"),
        field("started_us", INT, "bigint", time=True),
        field("ended_us", INT, "bigint", time=True),
        field("tier", INT, "text", to_row=rc.tier_label, from_row=Tier.from_label, choices=Tier),
        field("failure", TXT_N, "text"),
        field("failure_detail", TXT_N, "text"),
        field("remote_infohash", TXT_N, "text"),
        field("peer_id", BYT_N, "bytes"),
        field("reserved", BYT_N, "bytes"),
        field("client", TXT_N, "text"),
        field("client_version", TXT_N, "text"),
        field(
            "extension",
            ("n", "r:extension_info"),
            to_row=rc.extension_columns,
            from_row=rc.extension_of,
            columns=(
                Column("extension", "json", True),
                Column("ext_v", "bytes", True),
                Column("ext_yourip", "text", True),
            ),
        ),
        field("num_pieces", INT, "int"),
        field("pieces_have", INT, "int"),
        field("bitfield", BYT_N, "bytes"),
        field("completion", ("n", "f"), "float"),
        field("bytes_received", INT, "bigint"),
        field("wire_bytes_in", INT, "bigint"),
        field("wire_bytes_out", INT, "bigint"),
        field("payload_bytes_sent", INT, "bigint"),
        field("verified_pieces", ("l:i",), "json", to_row=rc.json_ints, from_row=tuple),
        field("failed_pieces", ("l:i",), "json", to_row=rc.json_ints, from_row=tuple),
        field("encrypted", ("o",), "bool", from_row=bool),
        field("quirks", ("l:s",), "json", to_row=rc.json_texts, from_row=tuple),
        field("verified_blocks", ("l:r:block_proof",), "json", to_row=rc.json_blocks, from_row=rc.blocks_of),
        field("failed_blocks", ("l:r:block_proof",), "json", to_row=rc.json_blocks, from_row=rc.blocks_of),
        field("capture_sha256", BYT_N, "bytes"),
        field("source_port", INT_N, "int", since=2, before=None),
    ),
    table="observation",
    csv=_OBSERVATION_CSV,
    csv_omitted=_OBSERVATION_NOT_CSV,
)

SIGHTING = RecordSpec(
    Sighting,
    "sighting",
    (
        field("infohash", TXT, "text"),
        field("ip", TXT, "text"),
        field("port", INT, "int"),
        field("source", TXT, "text"),
        field("detail", TXT, "text"),
        field("seen_at_us", INT, "bigint", time=True),
        field("peer_id", BYT_N, "bytes"),
    ),
    table="sighting",
)

CLOCK_SAMPLE = RecordSpec(
    ClockSample,
    "clock_sample",
    (
        field("server", TXT, "text"),
        field("measured_at_us", INT, "bigint", time=True),
        field("offset_us", INT_N, "bigint"),
        field("delay_us", INT_N, "bigint"),
        field("stratum", INT_N, "int"),
        field("leap", INT_N, "int"),
        field("error", TXT_N, "text"),
    ),
    table="clock_sample",
)

RUN_STARTED = RecordSpec(
    RunStarted,
    "run_started",
    (
        field("run_id", INT, "int"),
        field("started_us", INT, "bigint", time=True),
        field("software_version", TXT, "text"),
        field("software_commit", TXT_N, "text"),
        field("settings_json", TXT, "text"),
    ),
    table="run_started",
    run_column=False,  # the record's own run_id is the column, kept as recorded
)

ATTRIBUTION = RecordSpec(
    Attribution,
    "attribution",
    (
        field("ip", TXT, "text"),
        field("observed_at_us", INT, "bigint", time=True),
        field("asn", INT_N, "bigint"),
        field("as_org", TXT_N, "text"),
        field("isp", TXT_N, "text"),
        field("country", TXT_N, "text"),
        field("region", TXT_N, "text"),
        field("city", TXT_N, "text"),
        field("accuracy_radius_km", INT_N, "int"),
        field("flags", ("l:s",), "json", to_row=rc.json_list, from_row=tuple),
        field("datasets", ("l:s",), "json", to_row=rc.json_list, from_row=tuple),
    ),
    table="attribution",
)

# A retention purge (store/legal/purge.py): no run of its own; its entries are a JSON column (row_codecs).
REDACTION = RecordSpec(
    Redaction,
    "redaction",
    (
        field("rule", TXT, "text"),
        field("purged_at_us", INT, "bigint", time=True),
        field(
            "entries",
            ("l:r:redacted_entry",),
            "json",
            to_row=rc.json_redacted,
            from_row=rc.redacted_of,
        ),
    ),
    table="redaction",
    run_column=False,
)

# A sealed decision of the legal workflow (store/legal/workflow_seals.py): no run of its own.
WORKFLOW_EVENT = RecordSpec(
    WorkflowEvent,
    "workflow_event",
    (
        field("subject", TXT, "text"),
        field("step", TXT, "text"),
        field("at_us", INT, "bigint", time=True),
        field("sha256", ("b",), "bytes"),
    ),
    table="workflow_event",
    run_column=False,
)

# Records that only appear nested inside others (canonical ``[r, NAME, {..}]``); no table of their own.
EXTENSION_INFO = RecordSpec(
    ExtensionInfo,
    "extension_info",
    (
        field("m", ("d:i",)),
        field("v", BYT_N),
        field("p", INT_N),
        field("yourip", TXT_N),
        field("reqq", INT_N),
        field("metadata_size", INT_N),
    ),
)

BLOCK_PROOF = RecordSpec(
    BlockProof,
    "block_proof",
    (field("piece", INT), field("begin", INT), field("length", INT), field("sha256", ("b",))),
)

REDACTED_ENTRY = RecordSpec(
    RedactedEntry,
    "redacted_entry",
    (field("node", TXT), field("index", INT), field("kind", TXT), field("record_hash", ("b",))),
)

# The top-level evidence records, in the order the canonical envelope documents them.
EVIDENCE_SPECS: tuple[RecordSpec, ...] = (
    OBSERVATION, SIGHTING, CLOCK_SAMPLE, RUN_STARTED, ATTRIBUTION, REDACTION, WORKFLOW_EVENT,
)  # fmt: skip
NESTED_SPECS: tuple[RecordSpec, ...] = (EXTENSION_INFO, BLOCK_PROOF, REDACTED_ENTRY)
SPECS: dict[type[object], RecordSpec] = {spec.cls: spec for spec in EVIDENCE_SPECS + NESTED_SPECS}
NESTED: dict[str, RecordSpec] = {spec.kind: spec for spec in NESTED_SPECS}


def latest_version(spec: RecordSpec) -> int:
    """The newest canonical format version of ``spec``'s record type (its nested records included): the
    version new records of that type are written in."""
    return _latest(spec, NESTED)


# The newest canonical format version of any record type: a decoder reads versions 1 to VERSION.
VERSION = max(latest_version(spec) for spec in EVIDENCE_SPECS)
LATEST: dict[type[object], int] = {cls: latest_version(spec) for cls, spec in SPECS.items()}

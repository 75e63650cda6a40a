"""Adding a field to a sealed record, the whole procedure, on a throwaway copy of the observation:

1. the dataclass attribute (here a copy of :class:`Observation` with ``rtt_us: int | None = None``);
2. its declaration line, ``since=2`` (a copy of the observation declaration plus that line);
3. the migration adding its column and the table's ``version`` column (the recipe of the declarations'
   docstring, run with Alembic's operations on a store migrated to head).

Nothing else is edited, and then: every version 1 golden observation still decodes (as version 1) and
re-encodes byte-exact, so its sealed hash still matches; a version 2 record round-trips through bytes and
through its row; rows written before the migration rebuild their exact version 1 record; the migrated table
matches the declaration; the documented layout names the new field and its version; an unknown version is
refused.
"""

from __future__ import annotations

import dataclasses
import hashlib

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from swarmscope.errors import DecodeError
from swarmscope.evidence.bundle.exhibits import record_view
from swarmscope.evidence.canonical import as_version, canonical_bytes, decode_record, encode_record
from swarmscope.evidence.canonical_layout import schema_text, versions_text
from swarmscope.evidence.declarations import INT_N, OBSERVATION, latest_version
from swarmscope.evidence.record_spec import RecordSpec, field
from swarmscope.evidence.records import Observation
from swarmscope.store.database import Store
from swarmscope.store.ledger import writer
from swarmscope.store.ledger.record_rows import (
    SQL_TYPES,
    record_columns,
    row_builder,
    row_columns,
    row_reader,
    stored_columns,
)
from tests.evidence.record_samples import SAMPLES
from tests.evidence.test_record_golden import CANONICAL_SHA256

# Edit 1: the dataclass attribute, after the last field (``version`` is keyword-only, so it stays last).
_ATTRIBUTES = [
    (
        f.name,
        f.type,
        dataclasses.field(default=f.default, default_factory=f.default_factory, kw_only=f.kw_only),
    )
    for f in dataclasses.fields(Observation)
]
ObservationV2 = dataclasses.make_dataclass(
    "ObservationV2", [*_ATTRIBUTES, ("rtt_us", "int | None", None)], frozen=True, slots=True
)
# Edit 2: the declaration line.
OBSERVATION_V2 = RecordSpec(
    ObservationV2,
    "observation",
    (*OBSERVATION.fields, field("rtt_us", INT_N, "bigint", since=2, before=None)),
    table="observation",
    csv=OBSERVATION.csv,
)
OLD = {name: record for name, record in SAMPLES.items() if isinstance(record, Observation)}


def _migrate(conn: sa.Connection) -> None:
    """Edit 3: the migration (what ``upgrade()`` of a new revision file holds)."""
    op = Operations(MigrationContext.configure(conn))
    op.add_column("observation", sa.Column("rtt_us", sa.BigInteger(), nullable=True))
    op.add_column("observation", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def _as_v2(record: Observation, **changes: object) -> object:
    values = {f.name: getattr(record, f.name) for f in OBSERVATION.fields}
    return ObservationV2(**{**values, "infohash": "aa" * 20, **changes})


def test_the_copy_is_a_version_2_declaration() -> None:
    assert latest_version(OBSERVATION) == 1
    assert latest_version(OBSERVATION_V2) == 2
    assert [c.name for c in stored_columns(OBSERVATION_V2)][-2:] == ["rtt_us", "version"]


@pytest.mark.parametrize("name", sorted(OLD))
def test_version_1_golden_observations_still_decode_byte_exact(name: str) -> None:
    data = canonical_bytes(OLD[name])
    assert hashlib.sha256(data).hexdigest() == CANONICAL_SHA256[name]
    old = decode_record(OBSERVATION_V2, data)
    assert old.version == 1 and old.rtt_us is None
    assert encode_record(OBSERVATION_V2, old) == data
    assert record_view(old, OBSERVATION_V2)["rtt_us"] is None


@pytest.mark.parametrize("rtt_us", [None, 12_345])
def test_a_version_2_record_round_trips(rtt_us: int | None) -> None:
    new = _as_v2(OLD["observation-full"], rtt_us=rtt_us)
    data = encode_record(OBSERVATION_V2, new)
    assert b"7:versioni2e" in data
    assert b"6:rtt_usl1:n" in data if rtt_us is None else b"6:rtt_usl1:ii12345ee" in data
    back = decode_record(OBSERVATION_V2, data)
    assert back == new and back.version is None
    assert record_view(back, OBSERVATION_V2)["rtt_us"] == rtt_us


def test_versions_other_than_the_known_ones_are_refused() -> None:
    v2 = encode_record(OBSERVATION_V2, _as_v2(OLD["observation-full"], rtt_us=1))
    v1 = canonical_bytes(OLD["observation-full"])
    for version in (b"i3e", b"i0e", b"i-1e"):
        with pytest.raises(DecodeError, match="unsupported version"):
            decode_record(OBSERVATION_V2, v2.replace(b"7:versioni2e", b"7:version" + version))
    with pytest.raises(DecodeError, match="unsupported version 2 of observation"):
        decode_record(OBSERVATION, v2)  # the code before the edit: version 2 is from the future
    with pytest.raises(DecodeError, match="missing fields"):
        decode_record(OBSERVATION_V2, v1.replace(b"7:versioni1e", b"7:versioni2e"))
    with pytest.raises(DecodeError, match="unknown fields"):
        decode_record(OBSERVATION_V2, v2.replace(b"7:versioni2e", b"7:versioni1e"))


def test_an_old_version_holds_nothing_added_after_it() -> None:
    pinned = _as_v2(OLD["observation-minimal"], version=1)
    assert encode_record(OBSERVATION_V2, pinned) == canonical_bytes(
        dataclasses.replace(OLD["observation-minimal"], infohash="aa" * 20)
    )
    with pytest.raises(ValueError, match="rtt_us was added in version 2"):
        encode_record(OBSERVATION_V2, dataclasses.replace(pinned, rtt_us=5))
    with pytest.raises(ValueError, match="no older version 2"):
        encode_record(OBSERVATION_V2, dataclasses.replace(pinned, version=2))  # the newest is None


def test_the_documented_layout_follows_the_declaration() -> None:
    schema = schema_text((OBSERVATION_V2,))
    assert "failure failure_detail remote_infohash client client_version`` n or s" in schema
    assert "``rtt_us`` n or i" in schema
    history = versions_text((OBSERVATION_V2,), {"observation": 2})
    assert "observation 2" in history
    assert "Version 2 added observation ``rtt_us`` (older: None)." in history


def test_rows_before_and_after_the_migration_rebuild_their_records(store: Store, run_id: int) -> None:
    old = dataclasses.replace(OLD["observation-full"], infohash="aa" * 20)
    with store.engine.begin() as conn:
        writer.insert_records(conn, run_id, [old], [(None, None)])  # written by the code before the edit
        _migrate(conn)
    inspected = {c["name"]: c for c in sa.inspect(store.engine).get_columns("observation")}
    assert set(inspected) == {"id", *row_columns(OBSERVATION_V2)}
    for column in stored_columns(OBSERVATION_V2):
        assert inspected[column.name]["nullable"] == column.nullable, column.name
        assert isinstance(inspected[column.name]["type"], SQL_TYPES[column.kind]), column.name
    table = sa.Table(  # what schema.py makes of the declaration
        "observation",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer),
        *record_columns(OBSERVATION_V2),
        sa.Column("ledger_node", sa.Integer),
        sa.Column("ledger_index", sa.BigInteger),
    )
    new = _as_v2(OLD["observation-minimal"], rtt_us=77)
    pinned = _as_v2(OLD["observation-minimal"], version=1)
    build = row_builder(OBSERVATION_V2)
    with store.engine.begin() as conn:
        writer.insert_many(conn, table, [build(run_id, r, (None, None)) for r in (new, pinned)])
        stored = conn.execute(sa.select(table).order_by(table.c.id)).all()
    read = row_reader(OBSERVATION_V2)
    back = [read(row) for row in stored]
    assert [row.version for row in stored] == [1, 2, 1]
    assert back[1:] == [new, pinned]
    assert back[0].version == 1 and back[0].rtt_us is None
    assert encode_record(OBSERVATION_V2, back[0]) == canonical_bytes(old)
    assert [encode_record(OBSERVATION_V2, r) for r in back[1:]] == [
        encode_record(OBSERVATION_V2, new),
        encode_record(OBSERVATION_V2, pinned),
    ]
    with store.engine.begin() as conn, pytest.raises(sa.exc.DatabaseError, match="append-only"):
        conn.execute(sa.delete(table))  # the migration kept the evidence table append-only


def test_a_record_derived_anew_is_compared_in_its_sealed_version() -> None:
    """A capture replayed by the newer code derives the new field too (``swarmscope verify`` of a bundle
    sealed before the upgrade); seen in the version the observation was sealed under, it gives exactly
    the sealed bytes."""
    data = canonical_bytes(dataclasses.replace(OLD["observation-full"], infohash="aa" * 20))
    sealed = decode_record(OBSERVATION_V2, data)
    replayed = _as_v2(OLD["observation-full"], rtt_us=900)
    assert encode_record(OBSERVATION_V2, replayed) != data
    assert as_version(OBSERVATION_V2, replayed, sealed.version) == sealed
    assert encode_record(OBSERVATION_V2, as_version(OBSERVATION_V2, replayed, sealed.version)) == data
    assert as_version(OBSERVATION_V2, replayed, None) is replayed
    assert as_version(OBSERVATION_V2, replayed, 2) is replayed

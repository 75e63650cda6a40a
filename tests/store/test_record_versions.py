"""Adding a field to a sealed record, the whole procedure, on a throwaway copy of the observation:

1. the dataclass attribute (here a copy of :class:`Observation` with one more optional field);
2. its declaration line, ``since=NEW`` (a copy of the observation declaration plus that line);
3. the migration adding its column, and the table's ``version`` column the first time the table gets a
   later version (the recipe of the declarations' docstring, run with Alembic's operations on a store
   migrated to head).

Everything follows the declarations as they are: ``NEW`` is one above the newest format version in use
(:data:`swarmscope.evidence.declarations.VERSION`), the observation's own versions are 1 to
``OBS_NEWEST``, and the golden vectors are the pinned ones of every version (``record_vectors.json``), so
this test keeps working after a real field is added. Nothing else is edited, and then: every golden
observation of every version still decodes (as that version) and re-encodes byte-exact, so its sealed hash
still matches, and its bundle view is the one the code before the edit wrote; a record of version NEW
round-trips through bytes and through its row; rows written before the migration rebuild their exact
records; the migrated table matches the declaration; the documented layout names the new field and its
version; an unknown version is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re

import pytest
import sqlalchemy as sa
from alembic.migration import MigrationContext
from alembic.operations import Operations

from swarmscope.errors import DecodeError
from swarmscope.evidence.bundle.exhibits import record_view
from swarmscope.evidence.canonical import as_version, canonical_bytes, decode_record, encode_record
from swarmscope.evidence.canonical_layout import schema_text, versions_text
from swarmscope.evidence.declarations import INT_N, OBSERVATION, VERSION, latest_version
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
from tests.evidence.golden_vectors import pinned
from tests.evidence.record_samples import SAMPLES

NEW = VERSION + 1  # the format version the throwaway field is added in
OBS_NEWEST = latest_version(OBSERVATION)  # the observation's versions before the edit: 1 to this
NAME = "throwaway_rtt_us"  # the added field
TAG = f"{len(NAME)}:{NAME}".encode()
CANONICAL = pinned()["canonical"]


def _version(number: int) -> bytes:
    return b"7:versioni%de" % number


# Edit 1: the dataclass attribute, after the last field (``version`` is keyword-only, so it stays last).
_ATTRIBUTES = [
    (
        f.name,
        f.type,
        dataclasses.field(default=f.default, default_factory=f.default_factory, kw_only=f.kw_only),
    )
    for f in dataclasses.fields(Observation)
]
ObservationNew = dataclasses.make_dataclass(
    "ObservationNew", [*_ATTRIBUTES, (NAME, "int | None", None)], frozen=True, slots=True
)
# Edit 2: the declaration line.
OBSERVATION_NEW = RecordSpec(
    ObservationNew,
    "observation",
    (*OBSERVATION.fields, field(NAME, INT_N, "bigint", since=NEW, before=None)),
    table="observation",
    csv=OBSERVATION.csv,
    csv_omitted=(*OBSERVATION.csv_omitted, NAME),  # the CSV view: a decision of the same edit
)
OLD = {name: record for name, record in SAMPLES.items() if isinstance(record, Observation)}
PINNED_OLD = [(name, version) for name in sorted(OLD) for version in range(1, OBS_NEWEST + 1)]


def _migrate(conn: sa.Connection) -> None:
    """Edit 3: the migration (what ``upgrade()`` of a new revision file holds). ``op.add_column`` is a
    plain ``ALTER TABLE ... ADD COLUMN`` on SQLite and PostgreSQL (a batch rebuild of an evidence table
    would drop it under the append-only triggers of the tables that refer to it)."""
    op = Operations(MigrationContext.configure(conn))
    op.add_column("observation", sa.Column(NAME, sa.BigInteger(), nullable=True))
    if OBS_NEWEST == 1:  # the table's first later version: it gets the version column
        op.add_column("observation", sa.Column("version", sa.Integer(), nullable=False, server_default="1"))


def _as_new(record: Observation, **changes: object) -> object:
    values = {f.name: getattr(record, f.name) for f in OBSERVATION.fields}
    return ObservationNew(**{**values, "infohash": "aa" * 20, **changes})


def test_the_copy_is_a_new_version_declaration() -> None:
    assert NAME not in {f.name for f in OBSERVATION.fields}
    assert OBS_NEWEST <= VERSION < NEW
    assert latest_version(OBSERVATION_NEW) == NEW
    assert [c.name for c in stored_columns(OBSERVATION_NEW)][-2:] == [NAME, "version"]


@pytest.mark.parametrize(("name", "version"), PINNED_OLD, ids=[f"{n}-v{v}" for n, v in PINNED_OLD])
def test_golden_observations_still_decode_byte_exact(name: str, version: int) -> None:
    """Each golden observation, in every version it has, decodes as that version under the new
    declaration, re-encodes byte-exact, and shows the bundle view the code before the edit wrote (a
    bundle exported before an upgrade still verifies)."""
    data = canonical_bytes(as_version(OBSERVATION, OLD[name], version))
    assert hashlib.sha256(data).hexdigest() == CANONICAL[str(version)][name]
    old = decode_record(OBSERVATION_NEW, data)
    assert old.version == version and getattr(old, NAME) is None
    assert encode_record(OBSERVATION_NEW, old) == data
    view = record_view(old, OBSERVATION_NEW)
    assert NAME not in view  # the version it was sealed under has no such field
    assert view == record_view(decode_record(OBSERVATION, data), OBSERVATION)


@pytest.mark.parametrize("value", [None, 12_345])
def test_a_new_version_record_round_trips(value: int | None) -> None:
    new = _as_new(OLD["observation-full"], **{NAME: value})
    data = encode_record(OBSERVATION_NEW, new)
    assert _version(NEW) in data
    assert TAG + (b"l1:ne" if value is None else b"l1:ii12345ee") in data
    back = decode_record(OBSERVATION_NEW, data)
    assert back == new and back.version is None
    assert record_view(back, OBSERVATION_NEW)[NAME] == value


def test_versions_other_than_the_known_ones_are_refused() -> None:
    new = encode_record(OBSERVATION_NEW, _as_new(OLD["observation-full"], **{NAME: 1}))
    old = canonical_bytes(OLD["observation-full"])
    for version in (b"i%de" % (NEW + 1), b"i0e", b"i-1e"):
        with pytest.raises(DecodeError, match="unsupported version"):
            decode_record(OBSERVATION_NEW, new.replace(_version(NEW), b"7:version" + version))
    with pytest.raises(DecodeError, match=f"unsupported version {NEW} of observation"):
        decode_record(OBSERVATION, new)  # the code before the edit: version NEW is from the future
    with pytest.raises(DecodeError, match="missing fields"):
        decode_record(OBSERVATION_NEW, old.replace(_version(OBS_NEWEST), _version(NEW)))
    with pytest.raises(DecodeError, match="unknown fields"):
        decode_record(OBSERVATION_NEW, new.replace(_version(NEW), _version(OBS_NEWEST)))


def test_an_old_version_holds_nothing_added_after_it() -> None:
    pinned_old = _as_new(OLD["observation-minimal"], version=OBS_NEWEST)
    assert encode_record(OBSERVATION_NEW, pinned_old) == canonical_bytes(
        dataclasses.replace(OLD["observation-minimal"], infohash="aa" * 20)
    )
    with pytest.raises(ValueError, match=f"{NAME} was added in version {NEW}"):
        encode_record(OBSERVATION_NEW, dataclasses.replace(pinned_old, **{NAME: 5}))
    with pytest.raises(ValueError, match=f"no older version {NEW}"):
        encode_record(OBSERVATION_NEW, dataclasses.replace(pinned_old, version=NEW))  # the newest is None


def test_the_documented_layout_follows_the_declaration() -> None:
    schema = schema_text((OBSERVATION_NEW,))  # fields of the same tags are listed together, in order
    assert re.search(r"``failure failure_detail remote_infohash client client_version[\w ]*`` n or s", schema)
    assert re.search(rf"``[\w ]*\b{NAME}`` n or i", schema)
    history = versions_text((OBSERVATION_NEW,), {"observation": NEW})
    assert f"observation {NEW}" in history
    assert f"Version {NEW} added observation ``{NAME}`` (older: None)." in history


def test_rows_before_and_after_the_migration_rebuild_their_records(store: Store, run_id: int) -> None:
    old = dataclasses.replace(OLD["observation-full"], infohash="aa" * 20)
    with store.engine.begin() as conn:
        writer.insert_records(conn, run_id, [old], [(None, None)])  # written by the code before the edit
        _migrate(conn)
    inspected = {c["name"]: c for c in sa.inspect(store.engine).get_columns("observation")}
    assert set(inspected) == {"id", *row_columns(OBSERVATION_NEW)}
    for column in stored_columns(OBSERVATION_NEW):
        assert inspected[column.name]["nullable"] == column.nullable, column.name
        assert isinstance(inspected[column.name]["type"], SQL_TYPES[column.kind]), column.name
    table = sa.Table(  # what schema.py makes of the declaration
        "observation",
        sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("run_id", sa.Integer),
        *record_columns(OBSERVATION_NEW),
        sa.Column("ledger_node", sa.Integer),
        sa.Column("ledger_index", sa.BigInteger),
    )
    new = _as_new(OLD["observation-minimal"], **{NAME: 77})
    pinned_old = _as_new(OLD["observation-minimal"], version=OBS_NEWEST)
    build = row_builder(OBSERVATION_NEW)
    with store.engine.begin() as conn:
        writer.insert_many(conn, table, [build(run_id, r, (None, None)) for r in (new, pinned_old)])
        stored = conn.execute(sa.select(table).order_by(table.c.id)).all()
    read = row_reader(OBSERVATION_NEW)
    back = [read(row) for row in stored]
    assert [row.version for row in stored] == [OBS_NEWEST, NEW, OBS_NEWEST]
    assert back[1:] == [new, pinned_old]
    assert back[0].version == OBS_NEWEST and getattr(back[0], NAME) is None
    assert encode_record(OBSERVATION_NEW, back[0]) == canonical_bytes(old)
    assert [encode_record(OBSERVATION_NEW, r) for r in back[1:]] == [
        encode_record(OBSERVATION_NEW, new),
        encode_record(OBSERVATION_NEW, pinned_old),
    ]
    with store.engine.begin() as conn, pytest.raises(sa.exc.DatabaseError, match="append-only"):
        conn.execute(sa.delete(table))  # the migration kept the evidence table append-only


def test_a_record_derived_anew_is_compared_in_its_sealed_version() -> None:
    """A capture replayed by the newer code derives the new field too (``swarmscope verify`` of a bundle
    sealed before the upgrade); seen in the version the observation was sealed under, it gives exactly
    the sealed bytes."""
    data = canonical_bytes(dataclasses.replace(OLD["observation-full"], infohash="aa" * 20))
    sealed = decode_record(OBSERVATION_NEW, data)
    replayed = _as_new(OLD["observation-full"], **{NAME: 900})
    assert encode_record(OBSERVATION_NEW, replayed) != data
    assert as_version(OBSERVATION_NEW, replayed, sealed.version) == sealed
    assert encode_record(OBSERVATION_NEW, as_version(OBSERVATION_NEW, replayed, sealed.version)) == data
    assert as_version(OBSERVATION_NEW, replayed, None) is replayed
    assert as_version(OBSERVATION_NEW, replayed, NEW) is replayed

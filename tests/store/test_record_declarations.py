"""The record declarations against what they must agree with: the SQLAlchemy schema, the canonical byte
layout documented in :mod:`swarmscope.evidence.canonical`, the stored rows (exact round trips); and
"adding a record type or a field is one declaration": a throwaway record declared here gets canonical
bytes, a table, a row and its round trip, and bundle views, with no other edit."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence import canonical
from swarmscope.evidence.bundle.exhibits import record_view
from swarmscope.evidence.canonical import canonical_bytes, decode_record, encode_record
from swarmscope.evidence.declarations import BLOCK_PROOF, EVIDENCE_SPECS, NESTED_SPECS, OBSERVATION, SPECS
from swarmscope.evidence.record_spec import Column, RecordSpec, field
from swarmscope.evidence.records import BlockProof, Observation, Tier
from swarmscope.evidence.row_codecs import json_ints
from swarmscope.store.database import Store
from swarmscope.store.ledger import queries, writer
from swarmscope.store.ledger.record_rows import READERS, SQL_TYPES, row_builder, row_columns, row_reader
from swarmscope.store.metadata import metadata
from tests.evidence.record_samples import SAMPLES


@pytest.mark.parametrize("spec", EVIDENCE_SPECS, ids=lambda s: s.kind)
def test_declaration_matches_the_table(spec: RecordSpec) -> None:
    """Every declared column exists with its kind and nullability, in row order, and nothing else."""
    assert spec.table is not None
    table = metadata.tables[spec.table]
    assert [c.name for c in table.columns if c.name != "id"] == list(row_columns(spec))
    for column in spec.columns:
        actual = table.c[column.name]
        assert type(actual.type) is SQL_TYPES[column.kind], column.name
        assert actual.nullable == column.nullable, column.name


def _documented_schema() -> dict[str, dict[str, tuple[str, ...]]]:
    """The "Schema" paragraph of canonical.py: {type: {field: tags}}, declaration notation."""
    doc = canonical.__doc__ or ""
    text = " ".join(doc.split("**Schema.**")[1].split("**Versions.**")[0].split())
    kinds = {"Observation": "observation", "Sighting": "sighting"}
    out: dict[str, dict[str, tuple[str, ...]]] = {}
    for label, body in re.findall(r"(\w+): (.*?)(?=(?: \w+: ``)|$)", text.split("reject anything else. ")[1]):
        fields: dict[str, tuple[str, ...]] = {}
        for names, tags in re.findall(r"``([^`]+)`` ([^;]+?)(?:;|\.$|\. )", body.strip() + " "):
            tags = re.sub(r" \(0 listed.*", "", tags.strip().rstrip("."))
            parsed = re.fullmatch(r"(?:(l|d) of )?(\w)(?: \((\w+)\))?(?: or (\w))?", tags)
            assert parsed is not None, tags
            container, first, nested, second = parsed.groups()
            if container:
                allowed: tuple[str, ...] = (f"{container}:{first}" + (f":{nested}" if nested else ""),)
            else:
                allowed = (first, second) if second else (first,)
            fields.update(dict.fromkeys(names.split(), allowed))
        out[kinds.get(label, label)] = fields
    return out


def _tags_match(documented: tuple[str, ...], declared: tuple[str, ...]) -> bool:
    """Documented ``r`` (no record name given) matches a declared ``r:<name>``."""
    return len(documented) == len(declared) and all(
        d == t or (d == "r" and t.startswith("r:")) for d, t in zip(documented, declared, strict=True)
    )


def test_declarations_match_the_documented_canonical_layout() -> None:
    documented = _documented_schema()
    specs = EVIDENCE_SPECS + NESTED_SPECS
    assert sorted(documented) == sorted(spec.kind for spec in specs)
    for spec in specs:
        declared = spec.canonical_schema
        assert sorted(documented[spec.kind]) == sorted(declared), spec.kind
        for name, tags in declared.items():
            assert _tags_match(documented[spec.kind][name], tags), (spec.kind, name, tags)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_canonical_bytes_carry_exactly_the_declared_fields(name: str) -> None:
    record = SAMPLES[name]
    spec = SPECS[type(record)]
    assert decode_record(spec, canonical_bytes(record)) == record
    assert encode_record(spec, record) == canonical_bytes(record)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_stored_rows_read_back_exactly(store: Store, run_id: int, name: str) -> None:
    """Every sample goes through the real store (SQLite here; the PostgreSQL suite runs the same writer)
    and its reader gives back the same record and the same canonical bytes."""
    record = SAMPLES[name]
    spec = SPECS[type(record)]
    if isinstance(record, Observation) or spec.kind == "sighting":
        record = dataclasses.replace(record, infohash="aa" * 20)  # type: ignore[type-var]  # a stored swarm
    assert spec.table is not None
    table = metadata.tables[spec.table]
    with store.engine.begin() as conn:
        writer.insert_records(conn, run_id, [record], [(None, None)])
        row = conn.execute(sa.select(table).order_by(table.c.id.desc())).first()
    assert row is not None
    back = READERS[type(record)](row)
    assert back == record
    assert canonical_bytes(back) == canonical_bytes(record)


def test_public_row_functions_are_the_derived_ones() -> None:
    record = SAMPLES["observation-full"]
    assert writer.observation_row(1, record, (2, 3)) == row_builder(OBSERVATION)(1, record, (2, 3))
    assert queries.observation_from_row is READERS[Observation]


# ---- "one edit": a record type that exists only in this test ----


@dataclasses.dataclass(frozen=True, slots=True)
class Handover:
    """A throwaway record: every kind of field the declarations support."""

    ip: str
    handed_at_us: int
    tier: Tier
    note: str | None = None
    score: float | None = None
    pieces: tuple[int, ...] = ()
    proofs: tuple[BlockProof, ...] = ()
    raw: bytes | None = None
    ok: bool = False


HANDOVER = RecordSpec(
    Handover,
    "handover",
    (
        field("ip", ("s",), "text"),
        field("handed_at_us", ("i",), "bigint", time=True),
        field("tier", ("i",), "text", to_row=lambda t: t.label, from_row=Tier.from_label, choices=Tier),
        field("note", ("n", "s"), "text"),
        field("score", ("n", "f"), "float"),
        field("pieces", ("l:i",), "json", to_row=json_ints, from_row=tuple),
        field(
            "proofs",
            ("l:r:block_proof",),
            to_row=lambda ps: (
                len(ps),
                json.dumps([[p.piece, p.begin, p.length, p.sha256.hex()] for p in ps]),
            ),
            from_row=lambda _n, ps: tuple(BlockProof(a, b, c, bytes.fromhex(d)) for a, b, c, d in ps),
            columns=(Column("proof_count", "int", False), Column("proofs", "json", False)),
        ),
        field("raw", ("n", "b"), "bytes"),
        field("ok", ("o",), "bool", from_row=bool),
    ),
    table="handover",
)
SAMPLE = Handover(
    "::1",
    1_796_000_000_000_000,
    Tier.VERIFIED,
    "ünï",
    0.5,
    (1, 2),
    (BlockProof(1, 0, 9, bytes(32)),),
    b"\0",
    True,
)


def _table(meta: sa.MetaData, spec: RecordSpec) -> sa.Table:
    """A table made from nothing but the declaration (what a migration for it would create)."""
    assert spec.table is not None
    columns = [sa.Column(c.name, SQL_TYPES[c.kind], nullable=c.nullable) for c in spec.columns]
    return sa.Table(
        spec.table, meta, sa.Column("id", sa.Integer, primary_key=True), sa.Column("run_id", sa.Integer),
        *columns, sa.Column("ledger_node", sa.Integer), sa.Column("ledger_index", sa.BigInteger),
    )  # fmt: skip


@pytest.mark.parametrize("record", [SAMPLE, Handover("1.2.3.4", 0, Tier.LISTED)], ids=["full", "defaults"])
def test_a_new_record_type_is_one_declaration(record: Handover) -> None:
    data = encode_record(HANDOVER, record)
    assert data.startswith(b"d6:fieldsd") and b"4:type8:handover" in data
    assert b"12:handed_at_usl1:ii" in data
    assert (b"6:proofsl1:lll1:r11:block_proof" in data) == bool(record.proofs)
    assert decode_record(HANDOVER, data) == record
    with pytest.raises(DecodeError, match="unknown tier"):
        decode_record(HANDOVER, data.replace(b"4:tierl1:ii", b"4:tierl1:ii9", 1))
    meta = sa.MetaData()
    table = _table(meta, HANDOVER)
    engine = sa.create_engine("sqlite://")
    meta.create_all(engine)
    with engine.begin() as conn:
        writer.insert_many(conn, table, [row_builder(HANDOVER)(5, record, (1, 7))])
        row = conn.execute(sa.select(table)).one()
    engine.dispose()
    assert (row.run_id, row.ledger_node, row.ledger_index) == (5, 1, 7)
    assert row.proof_count == len(record.proofs)
    assert row_reader(HANDOVER)(row) == record
    view = record_view(record, HANDOVER)
    assert view["handed_at"] == (
        "2026-11-30T00:53:20.000000Z" if record.handed_at_us else "1970-01-01T00:00:00.000000Z"
    )
    assert view["tier"] == record.tier.label and view["proofs"] == [
        dataclasses.asdict(p) | {"sha256": p.sha256.hex()} for p in record.proofs
    ]


def test_a_declaration_that_misses_a_field_is_refused() -> None:
    with pytest.raises(TypeError, match="declared fields"):
        RecordSpec(Handover, "handover", HANDOVER.fields[:-1], table="handover")
    with pytest.raises(TypeError, match="a column for every field"):
        RecordSpec(BlockProof, "block_proof", BLOCK_PROOF.fields, table="block_proof")


def test_the_declared_float_field_seals_an_int_as_a_float() -> None:
    data = encode_record(HANDOVER, dataclasses.replace(SAMPLE, score=1))  # type: ignore[arg-type]
    assert b"5:scorel1:f3:1.0e" in data


def test_a_csv_view_that_neither_lists_nor_omits_a_field_is_refused() -> None:
    """A field added to a record with a CSV view is put in the view or left out of it explicitly."""
    with pytest.raises(TypeError, match=r"fields \['capture_sha256'\] must be in exactly one"):
        RecordSpec(Observation, "observation", OBSERVATION.fields, table="observation",
                   csv=OBSERVATION.csv[:-1], csv_omitted=OBSERVATION.csv_omitted)  # fmt: skip
    with pytest.raises(TypeError, match=r"fields \['quirks'\] must be in exactly one"):
        RecordSpec(Observation, "observation", OBSERVATION.fields, table="observation",
                   csv=(*OBSERVATION.csv, "quirks"), csv_omitted=OBSERVATION.csv_omitted)  # fmt: skip

"""Database rows of the evidence records, derived from their declarations
(:mod:`swarmscope.evidence.declarations`): one row builder and one row reader per record type.

A row is a tuple in table column order without ``id``: ``run_id`` (unless the record carries its own),
then each field's column(s), then the ledger link ``(ledger_node, ledger_index)``. The builder is on the
monitor's hot path (50,000 observations per batch), so each plan is made once at import: one
``operator.attrgetter`` fetches every field in C, and only the fields with a conversion (JSON lists, the
tier label, the BEP 10 handshake's three columns) run Python code; nothing is looked up per call.

A record type with fields added after format version 1 (``since`` > 1, its nested records included) also
stores the format version each row was sealed under, in a ``version`` column after its fields (rows from
before the migration that added it hold the server default 1): the reader gives a row of an older version
the declared ``before`` of every later field and sets the record's ``version``, so the row rebuilds the
exact record, and its exact canonical bytes.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from swarmscope.evidence.canonical_decode import newest_version
from swarmscope.evidence.declarations import EVIDENCE_SPECS
from swarmscope.evidence.record_spec import VERSION_ATTRIBUTE, Column, RecordSpec

# (node_key.id, ledger index) of the chain entry sealing a row; (None, None) only for pre-ledger rows.
LedgerLink = tuple[int, int] | tuple[None, None]
RowBuilder = Callable[[int, Any, LedgerLink], tuple[Any, ...]]
RowReader = Callable[[sa.Row[Any]], Any]

# The SQLAlchemy type of each portable column kind (:data:`swarmscope.evidence.record_spec.COLUMN_KINDS`).
SQL_TYPES: dict[str, type[sa.types.TypeEngine[Any]]] = {
    "text": sa.Text,
    "int": sa.Integer,
    "bigint": sa.BigInteger,
    "bytes": sa.LargeBinary,
    "float": sa.Float,
    "bool": sa.Boolean,
    "json": sa.JSON,
}
LEDGER_COLUMNS = ("ledger_node", "ledger_index")
# The format version column of a record type with more than one version (module docstring).
VERSION_COLUMN = Column(VERSION_ATTRIBUTE, "int", False)


def stored_columns(spec: RecordSpec) -> tuple[Column, ...]:
    """The columns of a record's row after ``run_id``: its fields', then ``version`` when it has several."""
    return (*spec.columns, VERSION_COLUMN) if newest_version(spec) > 1 else spec.columns


def record_columns(
    spec: RecordSpec,
    args: dict[str, tuple[Any, ...]] | None = None,
    options: dict[str, dict[str, Any]] | None = None,
) -> list[sa.Column[Any]]:
    """The ``sa.Column`` of every declared column of ``spec``, in row order: its kind's SQL type (a NULL-able
    JSON column stores None as SQL NULL, not JSON ``null``) and nullability. ``args`` / ``options`` add
    positional arguments (a ``ForeignKey``) / keyword arguments (``index``, ``server_default``) by name."""
    out: list[sa.Column[Any]] = []
    for column in stored_columns(spec):
        kind: Any = SQL_TYPES[column.kind]
        if column.kind == "json" and column.nullable:
            kind = sa.JSON(none_as_null=True)
        extra_args = (args or {}).get(column.name, ())
        extra = (options or {}).get(column.name, {})
        out.append(sa.Column(column.name, kind, *extra_args, nullable=column.nullable, **extra))
    return out


def row_columns(spec: RecordSpec) -> tuple[str, ...]:
    """The column names of a record's row, in row order (what :func:`row_builder` fills)."""
    head = ("run_id",) if spec.run_column else ()
    return (*head, *(c.name for c in stored_columns(spec)), *LEDGER_COLUMNS)


def _getter(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """``attrgetter`` that always gives a tuple (it gives the bare value for a single name)."""
    if len(names) == 1:
        return lambda record: (getattr(record, names[0]),)
    return operator.attrgetter(*names)


def row_builder(spec: RecordSpec) -> RowBuilder:
    """``build(run_id, record, link)`` → the row tuple of one record of ``spec`` (module docstring)."""
    latest = newest_version(spec)
    names = tuple(f.name for f in spec.fields) + ((VERSION_ATTRIBUTE,) if latest > 1 else ())
    fetch = _getter(names)
    first = 1 if spec.run_column else 0  # row position of the first field
    converted = [(first + i, f, f.to_row) for i, f in enumerate(spec.fields) if f.to_row is not None]
    single = tuple((i, to_row) for i, f, to_row in converted if len(f.columns) == 1)
    if latest > 1:  # the version value sits after every field's value, before the spreading
        single += ((first + len(spec.fields), lambda version: latest if version is None else version),)
    # Several columns from one field: spliced from the right so earlier positions stay put.
    spread = tuple((i, to_row) for i, f, to_row in reversed(converted) if len(f.columns) > 1)

    def build(run_id: int, record: Any, link: LedgerLink) -> tuple[Any, ...]:
        values = [run_id, *fetch(record), *link] if first else [*fetch(record), *link]
        for i, convert in single:
            values[i] = convert(values[i])
        for i, convert in spread:
            values[i : i + 1] = convert(values[i])
        return tuple(values)

    build.__doc__ = f"The ``{spec.table}`` row of one {spec.cls.__name__} (table column order, no ``id``)."
    return build


def row_reader(spec: RecordSpec) -> RowReader:
    """``read(row)`` → the record a :func:`row_builder` row stored (an exact round trip)."""
    plan = tuple((tuple(c.name for c in f.columns), f.from_row or (lambda value: value)) for f in spec.fields)
    make = spec.cls
    latest = newest_version(spec)
    if latest > 1:
        return _versioned_reader(spec, plan, latest)

    def read(row: sa.Row[Any]) -> Any:
        m = row._mapping
        return make(*[convert(*[m[name] for name in names]) for names, convert in plan])

    read.__doc__ = f"Rebuild the {spec.cls.__name__} that its ``{spec.table}`` row stored."
    return read


def _versioned_reader(spec: RecordSpec, plan: tuple[tuple[Any, Any], ...], latest: int) -> RowReader:
    """:func:`row_reader` of a record type with several format versions (module docstring)."""
    pairs = zip(spec.fields, plan, strict=True)
    steps = tuple((f.name, f.since, f.before, names, convert) for f, (names, convert) in pairs)

    def read(row: sa.Row[Any]) -> Any:
        m = row._mapping
        version = m[VERSION_ATTRIBUTE]
        values = {
            name: before if since > version else convert(*[m[column] for column in names])
            for name, since, before, names, convert in steps
        }
        return spec.cls(**values, **{VERSION_ATTRIBUTE: None if version == latest else version})

    read.__doc__ = f"Rebuild the {spec.cls.__name__} that its ``{spec.table}`` row stored, in its version."
    return read


BUILDERS: dict[type[Any], RowBuilder] = {spec.cls: row_builder(spec) for spec in EVIDENCE_SPECS}
READERS: dict[type[Any], RowReader] = {spec.cls: row_reader(spec) for spec in EVIDENCE_SPECS}

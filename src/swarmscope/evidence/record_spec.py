"""The shape of a record declaration: one table per record type, from which every form of it derives.

A :class:`RecordSpec` lists, in the record's attribute order, one :class:`FieldSpec` per field. Each field
says, once:

- ``tags``: which tagged values its canonical encoding may carry (notation of
  :mod:`swarmscope.evidence.canonical`: ``("n", "s")`` text or None, ``("l:i",)`` a tuple of integers,
  ``("n", "r:extension_info")`` a nested record or None);
- ``columns``: the database column(s) it is stored in, each with a portable column kind
  (:data:`COLUMN_KINDS`; the store maps them to SQLAlchemy types) and whether it may be NULL;
- ``to_row`` / ``from_row``: the conversion between the value and those columns (JSON text for lists, a
  label for the tier, several columns for the BEP 10 handshake), or None when the value is stored as is;
- ``time``: a UTC microsecond instant, which the bundle views also render in ISO 8601 under the name
  without ``_us`` (``started_us`` → ``started``); durations such as ``offset_us`` are not times;
- ``choices``: an enum the canonical integer must name (the tier);
- ``since`` / ``before``: the canonical format version the field was added in (1: there from the start)
  and the value a record sealed under an older version holds for it (None, ``()``, 0): such a record's
  bytes carry no key for it, its row no value (module :mod:`swarmscope.evidence.canonical`, "Versions").

A top-level record type also has a ``version`` attribute (keyword only, not a declared field): None for a
record written by this code, in the newest version of its type (:func:`latest_version`), or the older
version it was sealed under, so that it re-encodes to exactly its sealed bytes.

From the spec come the canonical field plan (:mod:`swarmscope.evidence.canonical`), the row builder and
reader (:mod:`swarmscope.store.ledger.record_rows`), and the bundle's JSONL/CSV views
(:mod:`swarmscope.evidence.bundle.exhibits`). The spec is checked against the dataclass when it is made,
so a field added to the record but not to its declaration fails at import.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from typing import Any

# The attribute of a top-level record naming the format version it was sealed under (None: the newest).
VERSION_ATTRIBUTE = "version"
# Portable column kinds (the SQLAlchemy type each maps to lives in the store).
COLUMN_KINDS = ("text", "int", "bigint", "bytes", "float", "bool", "json")


@dataclass(frozen=True, slots=True)
class Column:
    """One database column of a field: its name, its kind (:data:`COLUMN_KINDS`), whether NULL is allowed."""

    name: str
    kind: str
    nullable: bool


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a record: canonical tags, database column(s) and conversions, view rendering.

    ``to_row`` maps the value to one column value, or to a tuple with one value per column when the field
    has several; ``from_row`` takes the column values (in ``columns`` order) and gives the value back.
    """

    name: str
    tags: tuple[str, ...]
    columns: tuple[Column, ...] = ()
    to_row: Callable[[Any], Any] | None = None
    from_row: Callable[..., Any] | None = None
    time: bool = False
    choices: type[enum.Enum] | None = None
    since: int = 1
    before: Any = None

    @property
    def nested_kinds(self) -> tuple[str, ...]:
        """The record types this field may hold (``"r:extension_info"``, ``"l:r:block_proof"``)."""
        return tuple(tag.split("r:", 1)[1] for tag in self.tags if tag.startswith(("r:", "l:r:")))

    @property
    def is_float(self) -> bool:
        """True for a float field (canonical tags ``n`` / ``f``): an int value is sealed as a float."""
        return self.tags == ("n", "f")

    @property
    def view_time_name(self) -> str:
        """The ISO 8601 rendering's key in the views (``started_us`` → ``started``)."""
        return self.name.removesuffix("_us")


def field(
    name: str,
    tags: tuple[str, ...],
    kind: str | None = None,
    *,
    to_row: Callable[[Any], Any] | None = None,
    from_row: Callable[..., Any] | None = None,
    time: bool = False,
    choices: type[enum.Enum] | None = None,
    columns: tuple[Column, ...] | None = None,
    since: int = 1,
    before: Any = None,
) -> FieldSpec:
    """A :class:`FieldSpec` stored in one column named like the field (NULL allowed when ``n`` is a tag),
    or in the explicit ``columns``; ``kind`` None: no column (a record only nested in others). ``since``:
    the format version that added it; ``before``: its value in records sealed under an older version."""
    if columns is None:
        columns = () if kind is None else (Column(name, kind, "n" in tags),)
    for column in columns:
        if column.kind not in COLUMN_KINDS:
            raise ValueError(f"{name}: unknown column kind {column.kind!r}")
    if since < 1:
        raise ValueError(f"{name}: format versions start at 1, not {since}")
    return FieldSpec(name, tags, columns, to_row, from_row, time, choices, since, before)


@dataclass(frozen=True, slots=True)
class RecordSpec:
    """The declaration of one record type.

    Args:
        cls: the frozen dataclass. kind: its canonical ``type`` name (``observation``, ``block_proof``).
        fields: one :class:`FieldSpec` per dataclass field, in attribute order.
        table: the database table holding it, or None for a record only nested in others.
        run_column: the row starts with the monitor run's id (``run_id``), which is not a record field.
        csv: the fields of the bundle's CSV view, in column order (time fields by their view name);
            empty when the record has no CSV view.
        csv_omitted: the fields a CSV view leaves out (the JSON view carries every field). With a CSV
            view every field is in exactly one of the two, so a new field is a decision, not an omission.
    """

    cls: type[Any]
    kind: str
    fields: tuple[FieldSpec, ...]
    table: str | None = None
    run_column: bool = True
    csv: tuple[str, ...] = ()
    csv_omitted: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        names = tuple(f.name for f in fields(self.cls) if f.name != VERSION_ATTRIBUTE)
        declared = tuple(f.name for f in self.fields)
        if names != declared:
            raise TypeError(
                f"{self.kind}: declared fields {declared} differ from {self.cls.__name__} {names}"
            )
        if self.table is not None and any(not f.columns for f in self.fields):
            raise TypeError(f"{self.kind}: a stored record needs a column for every field")
        views = [f.view_time_name if f.time else f.name for f in self.fields]
        undecided = [v for v in views if self.csv and (v in self.csv) == (v in self.csv_omitted)]
        if undecided:
            raise TypeError(f"{self.kind}: fields {undecided} must be in exactly one of csv and csv_omitted")

    @property
    def columns(self) -> tuple[Column, ...]:
        """Every column the record's fields occupy, in row order (without ``id``, ``run_id``, ledger link)."""
        return tuple(column for f in self.fields for column in f.columns)

    @property
    def canonical_schema(self) -> dict[str, tuple[str, ...]]:
        """``{field name: allowed canonical tags}`` in field order."""
        return {f.name: f.tags for f in self.fields}

    def fields_at(self, version: int) -> tuple[FieldSpec, ...]:
        """The fields a record sealed under format ``version`` carries (``since`` <= ``version``)."""
        return tuple(f for f in self.fields if f.since <= version)

    def field(self, name: str) -> FieldSpec:
        """The field called ``name``. Raises ``KeyError``."""
        for spec in self.fields:
            if spec.name == name:
                return spec
        raise KeyError(name)


def latest_version(spec: RecordSpec, nested: Mapping[str, RecordSpec]) -> int:
    """The newest canonical format version of a record type: the latest ``since`` among its fields and
    the fields of every record type it may hold (looked up by kind in ``nested``). Raises ``KeyError``
    for a nested kind ``nested`` does not hold."""
    out = 1
    for item in spec.fields:
        out = max(out, item.since, *(latest_version(nested[kind], nested) for kind in item.nested_kinds))
    return out

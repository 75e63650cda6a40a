"""Canonical bytes of evidence records: one exact, versioned, self-describing encoding per record.

These bytes are what the ledger hashes and signs (see :mod:`swarmscope.evidence.chain` and
:mod:`swarmscope.evidence.seal`), so an opposing expert must be able to re-derive them from a record
without our code. The format:

**Envelope.** A bencoded dictionary (BEP 3: keys are byte strings sorted by raw bytes, integers in
decimal without leading zeros, no whitespace) with exactly four keys::

    d 6:fields d ... e   6:format 19:swarmscope-evidence   4:type <type>   7:version i<N> e

``type`` is ``observation`` (:class:`~swarmscope.evidence.records.Observation`), ``sighting``
(:class:`~swarmscope.evidence.records.Sighting`), ``clock_sample``
(:class:`~swarmscope.evidence.records.ClockSample`), ``run_started``
(:class:`~swarmscope.evidence.records.RunStarted`), ``attribution``
(:class:`~swarmscope.evidence.records.Attribution`), ``redaction``
(:class:`~swarmscope.evidence.records.Redaction`, a retention purge) or ``workflow_event``
(:class:`~swarmscope.evidence.records.WorkflowEvent`, a sealed decision of the legal workflow).
``fields`` maps every field name of the record (the Python attribute name in UTF-8, e.g. ``started_us``) to
a *tagged value*; every field of the record's version (**Versions**) is present, even when it holds its
default.

**Tagged values.** A bencoded list whose first element is a one-byte byte-string tag; ``[n]`` is
``l1:ne``, ``[i, 5]`` is ``l1:ii5ee``, ``[s, "ab"]`` is ``l1:s2:abe``. In the schema below, "l of i"
means ``[l, [[i, N], ...]]`` and "d of i" means ``[d, {K: [i, N], ...}]``.

====================  =========================================================================
``[n]``               None (absent). Distinct from every empty value below.
``[o, 0|1]``          bool (False / True).
``[i, N]``            integer, any sign, at most 1000 decimal digits.
``[f, S]``            float (IEEE 754 double): ``S`` is ASCII, Python's ``repr``: see below.
``[b, B]``            byte string, raw (e.g. a peer id; may be empty: ``[b, ""]`` is not ``[n]``).
``[s, B]``            text: ``B`` is its strict UTF-8 encoding.
``[l, [V, ...]]``     tuple: a list of tagged values, in order.
``[d, {K: V, ...}]``  dict with text keys: ``K`` the UTF-8 key, ``V`` a tagged value.
``[r, NAME, {..}]``   nested record: ``NAME`` ``extension_info``, ``block_proof`` or ``redacted_entry``,
                      its ``fields`` dict.
====================  =========================================================================

**Float spelling.** Take the shortest digit string ``D = d1 d2 ... dn`` (no trailing zeros) that reads
back to the same double, and its exponent ``x`` such that the value is ``d1.d2...dn × 10^x``. When
``-4 <= x <= 15``, write it positionally with at least one digit on each side of the point (``1.0``,
``0.0001``, ``123.5``, ``1000000000000000.0``); otherwise write ``d1[.d2...dn]e`` then the sign and at
least two exponent digits (``1e-05``, ``1e+16``, ``5e-324``, ``1.5e+300``). A leading ``-`` for
negative values including ``-0.0``; ``inf``, ``-inf``, ``nan`` for the non-finite ones (any NaN).

**Schema.** Which tags each field may carry in the newest version; a decoder must reject anything else.
(Written at import from the ``tags`` of :mod:`swarmscope.evidence.declarations` by
:mod:`swarmscope.evidence.canonical_layout`; read it with ``help(swarmscope.evidence.canonical)``.)
@SCHEMA@

**Versions.** ``version`` is the format version the record was sealed under: a record is written in the
newest version of its type (below), and a record sealed under an older one keeps its bytes forever. A
version adds fields and never changes or removes one; a record of version N carries exactly the fields
added in versions 1 to N (nested records too), the others hold the value given below. A decoder accepts
every version from 1 to the newest of the type and rejects any other. @VERSIONS@

**Canonicity.** Exactly one byte string encodes a record: a decoder re-encodes what it decoded and
rejects the input unless the bytes are identical (this rejects unsorted keys, float spellings other
than the shortest, extra keys and trailing bytes). Example (a sighting)::

    d6:fieldsd6:detaill1:s17:udp://t.example/ae8:infohashl1:s40:<hex>e2:ipl1:s9:192.0.2.7e
    7:peer_idl1:ne4:portl1:ii6881ee10:seen_at_usl1:ii1700000000000000ee6:sourcel1:s7:trackeree
    6:format19:swarmscope-evidence4:type8:sighting7:versioni1ee

Source: BEP 3 ("bencoding"); README "Sealed ledger".
"""

from __future__ import annotations

from dataclasses import replace
from textwrap import fill
from typing import Any

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical_decode import (
    FORMAT,
    envelope_of,
    float_text,
    newest_version,
    pinned_record_of,
)
from swarmscope.evidence.canonical_layout import schema_text, versions_text
from swarmscope.evidence.declarations import EVIDENCE_SPECS, LATEST, NESTED_SPECS, SPECS, VERSION
from swarmscope.evidence.record_spec import VERSION_ATTRIBUTE, RecordSpec
from swarmscope.evidence.records import (
    Attribution,
    ClockSample,
    Observation,
    Redaction,
    RunStarted,
    Sighting,
    Tier,
    WorkflowEvent,
)
from swarmscope.wire.bencode import MAX_INT_DIGITS, encode

_INT_LIMIT = 10**MAX_INT_DIGITS
# type name -> class, and back; every record type that the declarations name (nested ones included).
_RECORDS: dict[bytes, type[Any]] = {spec.kind.encode("ascii"): cls for cls, spec in SPECS.items()}
_NAMES = {cls: name for name, cls in _RECORDS.items()}
# Top-level evidence records (the rest only appear nested inside them).
EVIDENCE_TYPES: tuple[type[Any], ...] = tuple(spec.cls for spec in EVIDENCE_SPECS)
_TOP_LEVEL = frozenset(_NAMES[cls] for cls in EVIDENCE_TYPES)
EvidenceRecord = Observation | Sighting | ClockSample | RunStarted | Attribution | Redaction | WorkflowEvent


def record_kind(record: EvidenceRecord) -> str:
    """The ``type`` name of an evidence record in its canonical envelope (``"observation"``, ...).

    Raises:
        KeyError: not an evidence record type.
    """
    return _NAMES[type(record)].decode("ascii")


def value_to_bencode(value: Any, version: int | None = None) -> list[Any]:
    """Encode one Python value as a *tagged value* (see the module docstring for the tags).

    Args:
        value: None, bool, int, float, str, bytes, a tuple of those, a dict with str keys, or an
            :class:`ExtensionInfo`. version: the format version of the enclosing record (which fields a
            nested record carries); None: the newest.

    Returns:
        A list ready for :func:`swarmscope.wire.bencode.encode`.

    Raises:
        TypeError: an unsupported type (our own misuse). ValueError: an integer above 1000 digits or
            text that is not encodable as UTF-8 (lone surrogates).

    Source: README "Sealed ledger"; BEP 3 ("bencoding").
    """
    if value is None:
        return [b"n"]
    if isinstance(value, bool):
        return [b"o", int(value)]
    if isinstance(value, int):
        if not -_INT_LIMIT < value < _INT_LIMIT:
            raise ValueError(f"canonical: integer longer than {MAX_INT_DIGITS} digits")
        return [b"i", int(value)]
    if isinstance(value, float):
        return [b"f", float_text(value)]
    if isinstance(value, bytes):
        return [b"b", value]
    if isinstance(value, str):
        return [b"s", value.encode("utf-8")]
    if isinstance(value, tuple):
        return [b"l", [value_to_bencode(item, version) for item in value]]
    if isinstance(value, dict):
        return [b"d", {_key(key): value_to_bencode(item, version) for key, item in value.items()}]
    if type(value) in _NAMES:
        nested = _record_fields(value) if version is None else _nested_fields(value, version)
        return [b"r", _NAMES[type(value)], nested]
    raise TypeError(f"canonical: cannot encode a {type(value).__name__}")


def _key(key: Any) -> bytes:
    """A dict key as UTF-8 bytes; only text keys are allowed."""
    if not isinstance(key, str):
        raise TypeError(f"canonical: dict key must be str, not {type(key).__name__}")
    return key.encode("utf-8")


_NONE = [b"n"]  # shared: the bencode encoder never mutates its input
# (attribute, key bytes, is-a-float-field) per field, in field order: built once from the declarations.
Plan = tuple[tuple[str, bytes, bool], ...]


def field_plan(spec: RecordSpec, version: int = VERSION) -> Plan:
    """(attribute, key bytes, is-a-float-field) per field a record of format ``version`` carries."""
    return tuple((f.name, f.name.encode("ascii"), f.is_float) for f in spec.fields_at(version))


_PLANS: dict[type[Any], Plan] = {cls: field_plan(spec) for cls, spec in SPECS.items()}


def _check_before(record: Any, spec: RecordSpec, version: int) -> None:
    """Raise ``ValueError`` unless every field added after ``version`` holds its ``before`` value: a
    record sealed under ``version`` has no place for anything else (its bytes must stay its sealed ones)."""
    for f in spec.fields:
        if f.since > version and getattr(record, f.name) != f.before:
            raise ValueError(
                f"canonical: {spec.kind}.{f.name} was added in version {f.since}; "
                f"a version {version} record holds {f.before!r}"
            )


def _nested_fields(record: Any, version: int) -> dict[bytes, Any]:
    """The ``fields`` dict of a nested record inside a record of format ``version``."""
    if version >= LATEST[type(record)]:
        return _record_fields(record, None, version)
    spec = SPECS[type(record)]
    _check_before(record, spec, version)
    return _record_fields(record, field_plan(spec, version), version)


def _record_fields(record: Any, plan: Plan | None = None, version: int | None = None) -> dict[bytes, Any]:
    """Every field of a record as ``{name: tagged value}``, coerced to the schema's type.

    The common scalar types take a fast path (exact ``type`` checks); anything else goes through
    :func:`value_to_bencode`, so the bytes are the same either way (the golden vectors pin them).
    """
    out: dict[bytes, Any] = {}
    for name, key, is_float in _PLANS[type(record)] if plan is None else plan:
        value = getattr(record, name)
        kind = type(value)
        if kind is str:
            out[key] = [b"s", value.encode("utf-8")]
        elif kind is int and not is_float and -_INT_LIMIT < value < _INT_LIMIT:
            out[key] = [b"i", value]
        elif value is None:
            out[key] = _NONE
        elif kind is bytes:
            out[key] = [b"b", value]
        elif kind is Tier:
            out[key] = [b"i", int(value)]
        elif is_float and isinstance(value, int) and not isinstance(value, bool):
            out[key] = value_to_bencode(float(value))  # a float field given an int (``completion=1``)
        else:
            out[key] = value_to_bencode(value, version)
    return out


def canonical_bytes(record: EvidenceRecord) -> bytes:
    """The canonical bytes of an evidence record (the format in the module docstring), in the format
    version it was sealed under (``record.version``; None: the newest of its type).

    Args:
        record: an :class:`Observation`, :class:`Sighting`, :class:`ClockSample`, :class:`RunStarted`,
            :class:`Attribution` or :class:`Redaction`.

    Returns:
        The bencoded envelope; equal records give equal bytes.

    Raises:
        TypeError: not a record, or a field holds an unsupported type. ValueError: see
            :func:`value_to_bencode`; a ``version`` the type does not have before its newest, or a field
            added after that version holding anything but its declared ``before`` value.

    Source: README "Sealed ledger" (canonical bytes for every evidence record); BEP 3 ("bencoding").
    """
    cls = type(record)
    if cls not in EVIDENCE_TYPES:
        raise TypeError(f"canonical: not an evidence record: {cls.__name__}")
    if record.version is not None:
        return encode_record(SPECS[cls], record)
    envelope = {
        b"format": FORMAT,
        b"version": LATEST[cls],
        b"type": _NAMES[cls],
        b"fields": _record_fields(record),
    }
    return encode(envelope)


def encode_record(spec: RecordSpec, record: Any) -> bytes:
    """The canonical envelope of ``record`` under any declaration ``spec`` (``type`` is ``spec.kind``):
    what :func:`canonical_bytes` gives for the declared evidence records, for one not (yet) declared in
    :mod:`swarmscope.evidence.declarations` too. Raises as :func:`canonical_bytes`."""
    if type(record) is not spec.cls:
        raise TypeError(f"canonical: not a {spec.cls.__name__}: {type(record).__name__}")
    latest = newest_version(spec)
    version = getattr(record, VERSION_ATTRIBUTE, None)
    if version is None:
        version = latest
    elif type(version) is not int or not 1 <= version < latest:
        raise ValueError(
            f"canonical: {spec.kind} has no older version {version!r} (newest {latest}: version None)"
        )
    _check_before(record, spec, version)
    fields_ = _record_fields(record, field_plan(spec, version), version)
    return encode(
        {b"format": FORMAT, b"version": version, b"type": spec.kind.encode("ascii"), b"fields": fields_}
    )


def as_version(spec: RecordSpec, record: Any, version: int | None) -> Any:
    """``record`` (of declaration ``spec``) as a record sealed under format ``version`` holds it: every
    field added after ``version`` (nested records' too) set to its declared ``before``, and ``version``
    pinned; None or the newest version gives ``record`` unchanged. What a record this code derives anew
    (a capture replayed by ``swarmscope verify``) is compared as, against one sealed before an upgrade
    that added a field. Raises ``ValueError``: a version below 1."""
    if version is None or version >= newest_version(spec):
        return record
    if version < 1:
        raise ValueError(f"canonical: no format version {version}")
    return replace(_projected(spec, record, version), **{VERSION_ATTRIBUTE: version})


def _projected(spec: RecordSpec, record: Any, version: int) -> Any:
    changes = {
        f.name: f.before if f.since > version else _value_at(getattr(record, f.name), version)
        for f in spec.fields
    }
    return replace(record, **changes)


def _value_at(value: Any, version: int) -> Any:
    if type(value) in _NAMES and version < LATEST[type(value)]:
        return _projected(SPECS[type(value)], value, version)
    if isinstance(value, tuple):
        return tuple(_value_at(item, version) for item in value)
    if isinstance(value, dict):
        return {key: _value_at(item, version) for key, item in value.items()}
    return value


def record_from_canonical(data: bytes) -> EvidenceRecord:
    """Decode canonical bytes back into the record (the exact inverse of :func:`canonical_bytes`).

    Args:
        data: canonical bytes, any format version from 1 to the newest of their record type.

    Returns:
        The record, its ``version`` set when older than the newest of its type (fields added since hold
        their declared ``before`` values).

    Raises:
        DecodeError: malformed bencode, an unknown format/version/type, a field missing, unknown or
            of the wrong tag, or bytes that are not the canonical encoding of what they decode to.

    Source: README "Sealed ledger"; BEP 3 ("bencoding").
    """
    kind, version, raw_fields = envelope_of(data)
    if kind not in _TOP_LEVEL:
        raise DecodeError(f"canonical: unknown record type {str(kind)[:40]}")
    spec = SPECS[_RECORDS[kind]]
    record: EvidenceRecord = pinned_record_of(spec, version, raw_fields, kind.decode("ascii"))
    if canonical_bytes(record) != data:
        raise DecodeError("canonical: bytes are not in canonical form (key order, float spelling)")
    return record


def decode_record(spec: RecordSpec, data: bytes) -> Any:
    """The inverse of :func:`encode_record`: the record of declaration ``spec`` that ``data`` encodes.

    Raises:
        DecodeError: as :func:`record_from_canonical`, or a ``type`` other than ``spec.kind``.
    """
    kind, version, raw_fields = envelope_of(data)
    if kind != spec.kind.encode("ascii"):
        raise DecodeError(f"canonical: record type {str(kind)[:40]} is not {spec.kind}")
    record = pinned_record_of(spec, version, raw_fields, spec.kind)
    if encode_record(spec, record) != data:
        raise DecodeError("canonical: bytes are not in canonical form (key order, float spelling)")
    return record


_LATEST_BY_KIND = {spec.kind: LATEST[spec.cls] for spec in EVIDENCE_SPECS}
__doc__ = (
    (__doc__ or "")
    .replace("@SCHEMA@", fill(schema_text(EVIDENCE_SPECS + NESTED_SPECS), 108))
    .replace("@VERSIONS@", versions_text(EVIDENCE_SPECS, _LATEST_BY_KIND))
)

__all__ = [
    "EVIDENCE_TYPES",
    "EvidenceRecord",
    "as_version",
    "canonical_bytes",
    "decode_record",
    "encode_record",
    "field_plan",
    "record_from_canonical",
    "record_kind",
    "value_to_bencode",
]

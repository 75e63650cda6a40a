"""Decoding canonical bytes (the format of :mod:`swarmscope.evidence.canonical`): tagged values checked
against the declared tags of each field (:mod:`swarmscope.evidence.declarations`), envelopes checked for
format and version. A record sealed under an older format version decodes with the declared ``before``
value for every field added since, and its ``version`` set to that version (None for the newest of its
type). Every malformed input raises :class:`~swarmscope.errors.DecodeError`, never another
exception. Source: BEP 3 ("bencoding").
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from swarmscope.errors import DecodeError
from swarmscope.evidence.declarations import LATEST, SPECS, VERSION, latest_version
from swarmscope.evidence.record_spec import VERSION_ATTRIBUTE, RecordSpec
from swarmscope.wire.bencode import decode

FORMAT = b"swarmscope-evidence"
# type name -> declaration, for every declared record type (nested ones included).
KINDS: dict[bytes, RecordSpec] = {spec.kind.encode("ascii"): spec for spec in SPECS.values()}


def float_text(value: float) -> bytes:
    """The shortest round-tripping decimal of a double (``repr``), ``inf``/``-inf``/``nan`` included."""
    return repr(float(value)).encode("ascii")


def _untag(obj: Any, where: str) -> tuple[bytes, list[Any]]:
    """Split a tagged value into its tag and its payload list, checking the shape."""
    if not isinstance(obj, list) or not obj or not isinstance(obj[0], bytes):
        raise DecodeError(f"canonical: {where}: not a tagged value")
    return obj[0], obj[1:]


def _payload(rest: list[Any], kind: type[Any], where: str) -> Any:
    """The single payload element of a tagged value, of type ``kind``."""
    if len(rest) != 1 or not isinstance(rest[0], kind):
        raise DecodeError(f"canonical: {where}: malformed payload")
    return rest[0]


def _text(raw: bytes, where: str) -> str:
    """Strict UTF-8 decoding of a text payload."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError(f"canonical: {where}: text is not valid UTF-8") from exc


def _float(raw: bytes, where: str) -> float:
    """A float from its shortest decimal spelling; any other spelling is rejected."""
    try:
        value = float(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise DecodeError(f"canonical: {where}: not a float") from exc
    if float_text(value) != raw:
        raise DecodeError(f"canonical: {where}: float is not in shortest form")
    return value


def _scalar(tag: bytes, rest: list[Any], where: str) -> Any:
    """Decode a tagged scalar (n, o, i, f, b, s)."""
    if tag == b"n":
        if rest:
            raise DecodeError(f"canonical: {where}: None carries a payload")
        return None
    if tag == b"o":
        flag = _payload(rest, int, where)
        if flag not in (0, 1):
            raise DecodeError(f"canonical: {where}: bool must be 0 or 1")
        return bool(flag)
    if tag == b"i":
        return _payload(rest, int, where)
    if tag == b"f":
        return _float(_payload(rest, bytes, where), where)
    if tag == b"b":
        return _payload(rest, bytes, where)
    return _text(_payload(rest, bytes, where), where)


def value_from_bencode(obj: Any, allowed: tuple[str, ...], where: str, version: int = VERSION) -> Any:
    """Decode a tagged value whose tag must be one of ``allowed`` (schema notation of this module).

    Args:
        obj: the decoded bencode list. allowed: the accepted tags, e.g. ``("n", "s")``; ``"l:i"`` a tuple of
            ints, ``"d:i|s"`` a dict of ints or texts, ``"r:extension_info"`` that nested record.
        where: the field path, for error messages. version: the format version of the enclosing record
            (which fields a nested record carries).

    Returns:
        The Python value.

    Raises:
        DecodeError: wrong tag for the field, or a malformed payload.

    Source: BEP 3 ("bencoding"), the tagged-value format of swarmscope.evidence.canonical.
    """
    tag, rest = _untag(obj, where)
    found = _allowed_tags(allowed).get(tag)
    if found is None:
        raise DecodeError(f"canonical: {where}: tag {tag[:8]!r} not allowed (expected {'/'.join(allowed)})")
    kind, inner, inner_allowed = found
    if kind == "l":
        items = _payload(rest, list, where)
        return tuple(
            value_from_bencode(item, inner_allowed, f"{where}[{n}]", version) for n, item in enumerate(items)
        )
    if kind == "d":
        mapping = _payload(rest, dict, where)
        return {
            _text(key, f"{where} key"): value_from_bencode(
                item, inner_allowed, f"{where}.{key[:40]!r}", version
            )
            for key, item in mapping.items()
        }
    if kind == "r":
        if len(rest) != 2 or rest[0] != inner.encode("ascii"):
            raise DecodeError(f"canonical: {where}: expected a {inner} record")
        return record_of(KINDS[rest[0]], rest[1], where, version)
    return _scalar(tag, rest, where)


@functools.cache
def _allowed_tags(allowed: tuple[str, ...]) -> dict[bytes, tuple[str, str, tuple[str, ...]]]:
    """tag -> (kind, inner spec, inner allowed tags) of a field's ``allowed`` notation, parsed once per
    notation (the first spelling of a tag wins, as a linear search over ``allowed`` would find it)."""
    parsed: dict[bytes, tuple[str, str, tuple[str, ...]]] = {}
    for spec in allowed:
        kind, _, inner = spec.partition(":")
        parsed.setdefault(kind.encode("ascii"), (kind, inner, tuple(inner.split("|"))))
    return parsed


def record_of(spec: RecordSpec, raw_fields: Any, where: str, version: int) -> Any:
    """Build a record of ``spec`` sealed under format ``version`` from its ``fields`` dict, checking every
    field it carries against the declaration; a field added after ``version`` takes its ``before``.

    Fields in their common shapes take the compiled path (:func:`fast_record_of`); anything else, and
    every refusal, goes through :func:`checked_record_of`, whose answer the compiled path only repeats."""
    record = fast_record_of(spec, raw_fields, version)
    return checked_record_of(spec, raw_fields, where, version) if record is MISS else record


def checked_record_of(spec: RecordSpec, raw_fields: Any, where: str, version: int) -> Any:
    """:func:`record_of` field by field and tag by tag, each refusal named by its field path."""
    if not isinstance(raw_fields, dict):
        raise DecodeError(f"canonical: {where}: fields is not a dict")
    carried = spec.fields_at(version)
    expected = {f.name.encode("ascii") for f in carried}
    if set(raw_fields) != expected:
        missing = sorted(expected - set(raw_fields))
        extra = sorted(set(raw_fields) - expected)
        raise DecodeError(f"canonical: {where}: missing fields {missing[:5]}, unknown fields {extra[:5]}")
    values = {f.name: f.before for f in spec.fields if f.since > version}
    for f in carried:
        value = value_from_bencode(raw_fields[f.name.encode("ascii")], f.tags, f"{where}.{f.name}", version)
        values[f.name] = value if f.choices is None else _choice(f.choices, value, f"{where}.{f.name}")
    return spec.cls(**values)


# --- the compiled path: the common shapes of a field, checked by one closure per declared tag set -----------

# What a compiled decoder answers for a shape it does not take: the checked path then decides (and names
# the refusal). It never answers MISS for input the checked path would decode to another value.
MISS: Any = object()
# (tagged value as bencode decoded it, format version) -> the value, or MISS.
FastDecoder = Callable[[Any, int], Any]
# (key bytes, attribute, its compiled decoder, its enum or None), per field a record of one version carries.
FieldStep = tuple[bytes, str, FastDecoder, type[enum.Enum] | None]
# (the declaration, the keys its fields dict must have, one step per field, the ``before`` of later fields)
RecordPlan = tuple[RecordSpec, frozenset[bytes], tuple[FieldStep, ...], dict[str, Any]]
_RECORD_PLANS: dict[tuple[str, int], RecordPlan] = {}  # by (type name, version); the declaration checked


def fast_record_of(spec: RecordSpec, raw_fields: Any, version: int) -> Any:
    """The record :func:`checked_record_of` gives for ``raw_fields`` when every field is in a common shape
    (exact key set, each payload of its tag's type, text valid UTF-8, a float in shortest form), else MISS.
    One compiled plan per (declaration, version): no field path strings, no tag parsing per field."""
    plan = _RECORD_PLANS.get((spec.kind, version))
    if plan is None or plan[0] is not spec:  # first use, or another declaration of the type (decode_record)
        plan = _RECORD_PLANS[(spec.kind, version)] = _record_plan(spec, version)
    _, keys, steps, befores = plan
    if type(raw_fields) is not dict or raw_fields.keys() != keys:
        return MISS
    values = dict(befores)
    for key, name, step, choices in steps:
        value = step(raw_fields[key], version)
        if value is MISS:
            return MISS
        if choices is not None:
            try:
                value = choices(value)
            except ValueError:
                return MISS
        values[name] = value
    return spec.cls(**values)


def _record_plan(spec: RecordSpec, version: int) -> RecordPlan:
    carried = spec.fields_at(version)
    steps = tuple((f.name.encode("ascii"), f.name, _fast(f.tags), f.choices) for f in carried)
    befores = {f.name: f.before for f in spec.fields if f.since > version}
    return spec, frozenset(key for key, *_ in steps), steps, befores


@functools.cache
def _fast(allowed: tuple[str, ...]) -> FastDecoder:
    """The compiled decoder of a field's ``allowed`` tags (notation of :func:`value_from_bencode`), built
    from the same tag table as the checked path, so the first spelling of a tag wins in both."""
    tags = _allowed_tags(allowed)
    plain = [kind for kind in tags if kind != b"n"]
    if len(plain) == 1 and plain[0] in _PAYLOAD_TYPES:  # most fields: one of i/b/s, or None
        return _fast_scalar(plain[0], b"n" in tags)
    pairs: dict[bytes, Callable[[Any, int], Any]] = {}
    for tag, (kind, _inner, inner_allowed) in tags.items():
        if kind in ("i", "b", "s", "o", "f"):
            pairs[tag] = _SCALARS[kind]
        elif kind in ("l", "d"):
            pairs[tag] = (_fast_list if kind == "l" else _fast_dict)(_fast(inner_allowed))
    nested = tags.get(b"r")
    name = nested[1].encode("ascii") if nested else None
    takes_none = b"n" in tags

    def decode_value(obj: Any, version: int) -> Any:
        if type(obj) is not list:
            return MISS
        size = len(obj)
        if size == 2:
            tag = obj[0]
            step = pairs.get(tag) if type(tag) is bytes else None
            return MISS if step is None else step(obj[1], version)
        if size == 1:
            return None if takes_none and obj[0] == b"n" else MISS
        if size == 3 and name is not None and obj[0] == b"r" and obj[1] == name:
            return fast_record_of(KINDS[name], obj[2], version)
        return MISS

    return decode_value


_PAYLOAD_TYPES: dict[bytes, type[Any]] = {b"i": int, b"b": bytes, b"s": bytes}


def _fast_scalar(tag: bytes, takes_none: bool) -> FastDecoder:
    """The compiled decoder of a field of one scalar tag (``i``, ``b`` or ``s``), None too when
    ``takes_none``: one call per field, the payload checked inline."""
    payload_type, text = _PAYLOAD_TYPES[tag], tag == b"s"

    def decode_scalar(obj: Any, _version: int) -> Any:
        if type(obj) is list:
            size = len(obj)
            if size == 2:
                value = obj[1]
                if obj[0] == tag and type(value) is payload_type:
                    if not text:
                        return value
                    try:
                        return value.decode("utf-8")
                    except UnicodeDecodeError:
                        return MISS
            elif size == 1 and takes_none and obj[0] == b"n":
                return None
        return MISS

    return decode_scalar


def _fast_int(value: Any, _version: int) -> Any:
    return value if type(value) is int else MISS


def _fast_bytes(value: Any, _version: int) -> Any:
    return value if type(value) is bytes else MISS


def _fast_text(value: Any, _version: int) -> Any:
    if type(value) is not bytes:
        return MISS
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return MISS


def _fast_bool(value: Any, _version: int) -> Any:
    if type(value) is not int or value not in (0, 1):
        return MISS
    return value == 1


def _fast_float(value: Any, _version: int) -> Any:
    if type(value) is not bytes:
        return MISS
    try:
        number = float(value.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return MISS
    return number if float_text(number) == value else MISS


_SCALARS: dict[str, FastDecoder] = {
    "i": _fast_int,
    "b": _fast_bytes,
    "s": _fast_text,
    "o": _fast_bool,
    "f": _fast_float,
}


def _fast_list(inner: FastDecoder) -> FastDecoder:
    def decode_list(items: Any, version: int) -> Any:
        if type(items) is not list:
            return MISS
        out = []
        for item in items:
            value = inner(item, version)
            if value is MISS:
                return MISS
            out.append(value)
        return tuple(out)

    return decode_list


def _fast_dict(inner: FastDecoder) -> FastDecoder:
    def decode_dict(mapping: Any, version: int) -> Any:
        if type(mapping) is not dict:
            return MISS
        out = {}
        for key, item in mapping.items():
            value = inner(item, version)
            if value is MISS:
                return MISS
            try:
                out[key.decode("utf-8")] = value
            except UnicodeDecodeError:
                return MISS
        return out

    return decode_dict


def pinned_record_of(spec: RecordSpec, version: Any, raw_fields: Any, where: str) -> Any:
    """The top-level record of ``spec`` an envelope of ``version`` holds, its ``version`` attribute None
    when that is the newest of its type. Raises ``DecodeError``: a version this software does not know
    for the type (a later one, or one the type never had), or a field as :func:`record_of`."""
    latest = newest_version(spec)
    if type(version) is not int or not 1 <= version <= latest:
        raise DecodeError(
            f"canonical: unsupported version {str(version)[:20]} of {where} "
            f"(this software reads 1 to {latest})"
        )
    record = record_of(spec, raw_fields, where, version)
    if version < latest:
        record = replace(record, **{VERSION_ATTRIBUTE: version})
    return record


def _choice(choices: type[enum.Enum], value: Any, where: str) -> Any:
    """The member of ``choices`` (an int enum such as :class:`Tier`) whose value is ``value``."""
    try:
        return choices(value)
    except ValueError:
        name = where.rsplit(".", 1)[-1]
        raise DecodeError(f"canonical: {where}: unknown {name} {str(value)[:40]}") from None


def newest_version(spec: RecordSpec) -> int:
    """:func:`~swarmscope.evidence.declarations.latest_version` of ``spec``, looked up for a declared one."""
    return LATEST[spec.cls] if SPECS.get(spec.cls) is spec else latest_version(spec)


def envelope_of(data: bytes) -> tuple[Any, Any, Any]:
    """(type, version, fields) of an envelope, its format checked (the version is checked per type by
    :func:`pinned_record_of`)."""
    envelope = decode(data)
    if not isinstance(envelope, dict) or set(envelope) != {b"format", b"version", b"type", b"fields"}:
        raise DecodeError("canonical: envelope must be a dict with format, version, type, fields")
    if envelope[b"format"] != FORMAT:
        raise DecodeError("canonical: format is not swarmscope-evidence")
    return envelope[b"type"], envelope[b"version"], envelope[b"fields"]

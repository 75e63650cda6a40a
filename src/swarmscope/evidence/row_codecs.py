"""Conversions between record values and database column values, named by the record declarations.

Encoders produce exactly the column values the store has always written (existing databases keep
verifying, and :mod:`tests.evidence.test_record_golden` pins them); decoders take what the driver returns
(SQLAlchemy's JSON type gives lists and dicts back) and rebuild the value the record held.

Lists are JSON arrays built directly: ``json.dumps`` per row dominated batch time on the monitor's hot
path (50,000 observations per commit must stay well under a second).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from swarmscope.evidence.records import BlockProof, ExtensionInfo, RedactedEntry, Tier

_JSON = json.JSONEncoder(separators=(",", ":"), check_circular=False)
_PLAIN_QUIRKS = re.compile(r"[A-Za-z0-9_.:/ -]*")  # quirk ids (interop rows) need no JSON escaping
_M_CACHE_MAX = 4096
_m_cache: dict[tuple[tuple[str, int], ...], str] = {}


# The tier's label column value (``"has_pieces"``): a dict lookup, not the ``label`` property per row.
tier_label = {tier: tier.label for tier in Tier}.__getitem__


def json_ints(values: Sequence[int]) -> str:
    """JSON array of integers (piece indices), compact."""
    return "[" + ",".join(map(str, values)) + "]" if values else "[]"


def json_texts(values: tuple[str, ...]) -> str:
    """JSON array of texts, compact (quirk ids need no escaping, so they skip the encoder)."""
    if not values:
        return "[]"
    if _PLAIN_QUIRKS.fullmatch("".join(values)):
        return '["' + '","'.join(values) + '"]'
    return _JSON.encode(values)


def json_list(values: tuple[str, ...]) -> str:
    """JSON array with ``json.dumps``'s default spacing (``["a", "b"]``), as attribution rows hold."""
    return json.dumps(list(values))


def json_blocks(blocks: tuple[BlockProof, ...]) -> str:
    """Block proofs as JSON ``[[piece, begin, length, "sha256 hex"], ...]``."""
    if not blocks:
        return "[]"
    return "[" + ",".join(f'[{b.piece},{b.begin},{b.length},"{b.sha256.hex()}"]' for b in blocks) + "]"


def blocks_of(value: list[list[Any]]) -> tuple[BlockProof, ...]:
    """Inverse of :func:`json_blocks` (the JSON column as the driver returns it)."""
    return tuple(BlockProof(int(p), int(b), int(n), bytes.fromhex(h)) for p, b, n, h in value)


def json_redacted(entries: tuple[RedactedEntry, ...]) -> str:
    """Redacted entries as JSON ``[["node hex", index, "kind", "record hash hex"], ...]``."""
    return _JSON.encode([[e.node, e.index, e.kind, e.record_hash.hex()] for e in entries])


def redacted_of(value: list[list[Any]]) -> tuple[RedactedEntry, ...]:
    """Inverse of :func:`json_redacted` (the JSON column as the driver returns it)."""
    return tuple(RedactedEntry(str(n), int(i), str(k), bytes.fromhex(h)) for n, i, k, h in value)


def _json_int(value: int | None) -> str:
    return "null" if value is None else int.__repr__(value)


def _json_m(m: dict[str, int]) -> str:
    """The BEP 10 ``m`` dictionary as JSON; peers of one client send the same few, so keep them."""
    key = tuple(m.items())
    text = _m_cache.get(key)
    if text is None:
        if len(_m_cache) >= _M_CACHE_MAX:
            _m_cache.clear()
        text = _m_cache[key] = _JSON.encode(m)
    return text


def extension_columns(ext: ExtensionInfo | None) -> tuple[str | None, bytes | None, str | None]:
    """The BEP 10 handshake as three columns: JSON text of ``m``, ``p``, ``reqq``, ``metadata_size``
    (integers a peer chose may exceed 64 bits; JSON keeps them exactly), the raw ``v`` bytes (interop
    PW-10) and ``yourip``; all NULL when no handshake arrived."""
    if ext is None:
        return (None, None, None)
    text = (
        f'{{"m":{_json_m(ext.m)},"p":{_json_int(ext.p)},"reqq":{_json_int(ext.reqq)},'
        f'"metadata_size":{_json_int(ext.metadata_size)}}}'
    )
    return (text, ext.v, ext.yourip)


def extension_of(ext: dict[str, Any] | None, v: bytes | None, yourip: str | None) -> ExtensionInfo | None:
    """Inverse of :func:`extension_columns`."""
    if ext is None:
        return None
    return ExtensionInfo(
        m=dict(ext["m"]), v=v, p=ext["p"], yourip=yourip, reqq=ext["reqq"], metadata_size=ext["metadata_size"]
    )

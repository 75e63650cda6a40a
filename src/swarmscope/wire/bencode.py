"""Bencode (BEP 3, "bencoding"): strict decoding, prefix decoding and raw value spans.

Values: byte strings and dict keys are ``bytes``, integers ``int``, lists ``list``, dicts ``dict``.

Strictness (interop-quirks META-09): leading zeros (``i03e``, ``01:a``), ``i-0e``, a leading ``+``,
empty ``ie``, negative string lengths, unknown type bytes, truncated values and nesting deeper than
:data:`MAX_DEPTH` are rejected with :class:`~swarmscope.errors.DecodeError`. Dict keys that are out of
order or repeated are accepted (META-01, libtorrent's bdecode does the same) and recorded as a
"soft error": :func:`has_unsorted_keys` tells whether a span holds any. The first occurrence of a
repeated key wins, as in libtorrent's ``dict_find``.

The common, canonical case is decoded by the C extension ``bencode2``; a pure-Python scanner finds
where values end (:func:`decode_prefix`, :func:`value_span`) and handles non-canonical dicts.
"""

from __future__ import annotations

import re
from typing import Any

from bencode2 import BencodeDecodeError, BencodeEncodeError, bdecode, bencode

from swarmscope.errors import DecodeError

MAX_DEPTH = 100  # libtorrent load_torrent_limits.max_decode_depth
_INT = re.compile(rb"i(0|-?[1-9][0-9]*)e")
_LEN = re.compile(rb"(0|[1-9][0-9]{0,18}):")
_LIST, _KEY, _VALUE = 0, 1, 2


def _int_error(data: bytes, pos: int) -> DecodeError:
    end = data.find(b"e", pos + 1, pos + 64)
    if end < 0:
        return DecodeError("bencode: truncated or unterminated integer", pos)
    body = data[pos + 1 : end]
    if not body:
        return DecodeError("bencode: empty integer 'ie'", pos)
    if body.startswith(b"+"):
        return DecodeError("bencode: integer with a leading '+'", pos)
    if body in (b"-0", b"-") or body.startswith(b"-0"):
        return DecodeError("bencode: negative zero or '-' without digits", pos)
    if body.startswith(b"0"):
        return DecodeError("bencode: integer with a leading zero", pos)
    return DecodeError(f"bencode: invalid integer {body[:20]!r}", pos)


def _string_end(data: bytes, pos: int) -> int:
    match = _LEN.match(data, pos)
    if match is None:
        if data.startswith(b"0", pos) and pos + 1 < len(data) and data[pos + 1] != 0x3A:
            raise DecodeError("bencode: string length with a leading zero", pos)
        raise DecodeError("bencode: truncated or invalid string length", pos)
    end = match.end() + int(match.group(1))
    if end > len(data):
        raise DecodeError("bencode: string longer than the remaining input", pos)
    return end


def _scan(data: bytes, pos: int) -> tuple[int, bool]:
    """Find the end of the value starting at ``pos``; also report unsorted/duplicate dict keys."""
    stack: list[int] = []
    last_keys: list[bytes | None] = []
    unsorted = False
    n = len(data)
    while True:
        if pos >= n:
            raise DecodeError("bencode: truncated input", pos)
        c = data[pos]
        state = stack[-1] if stack else _LIST
        if c == 0x65 and stack and state != _VALUE:  # 'e'
            stack.pop()
            if state == _KEY:
                last_keys.pop()
            pos += 1
        elif state == _KEY:
            if not 0x30 <= c <= 0x39:
                raise DecodeError("bencode: dict key is not a byte string", pos)
            end = _string_end(data, pos)
            key = data[data.index(b":", pos) + 1 : end]
            prev = last_keys[-1]
            if prev is not None and key <= prev:
                unsorted = True
            last_keys[-1] = key
            stack[-1] = _VALUE
            pos = end
            continue
        elif c == 0x69:  # 'i'
            match = _INT.match(data, pos)
            if match is None:
                raise _int_error(data, pos)
            pos = match.end()
        elif 0x30 <= c <= 0x39:
            pos = _string_end(data, pos)
        elif c in (0x6C, 0x64):  # 'l', 'd'
            if len(stack) >= MAX_DEPTH:
                raise DecodeError(f"bencode: nesting deeper than {MAX_DEPTH}", pos)
            stack.append(_LIST if c == 0x6C else _KEY)
            if c == 0x64:
                last_keys.append(None)
            pos += 1
            continue
        elif c == 0x65 and state == _VALUE:
            raise DecodeError("bencode: dict key without a value", pos)
        elif c == 0x2D:  # '-'
            raise DecodeError("bencode: negative string length", pos)
        else:
            raise DecodeError(f"bencode: invalid type byte {bytes([c])!r}", pos)
        if not stack:
            return pos, unsorted
        if stack[-1] == _VALUE:
            stack[-1] = _KEY


def _build(data: bytes, pos: int) -> tuple[Any, int]:
    """Decode an already-validated value at ``pos`` without bencode2 (non-canonical dicts)."""
    c = data[pos]
    if c == 0x69:
        end = data.index(b"e", pos)
        return int(data[pos + 1 : end]), end + 1
    if c == 0x6C or c == 0x64:
        items: list[Any] = []
        pos += 1
        while data[pos] != 0x65:
            item, pos = _build(data, pos)
            items.append(item)
        if c == 0x6C:
            return items, pos + 1
        result: dict[bytes, Any] = {}
        for key, value in zip(items[::2], items[1::2], strict=True):
            result.setdefault(key, value)
        return result, pos + 1
    colon = data.index(b":", pos)
    end = colon + 1 + int(data[pos:colon])
    return data[colon + 1 : end], end


def _materialise(data: bytes, start: int, end: int, unsorted: bool) -> Any:
    if not unsorted:
        try:
            return bdecode(data[start:end])
        except BencodeDecodeError:
            pass  # checked by _scan already; fall through to the lenient builder
    return _build(data, start)[0]


def decode(data: bytes) -> Any:
    """Decode one bencoded value that spans the whole input.

    Args:
        data: the encoded bytes.

    Returns:
        The value (bytes / int / list / dict with bytes keys).

    Raises:
        DecodeError: malformed (META-09 cases), truncated, too deep, or trailing bytes after the value.

    Source: BEP 3 ("bencoding"); interop-quirks META-01, META-09.
    """
    end, unsorted = _scan(data, 0)
    if end != len(data):
        raise DecodeError(f"bencode: {len(data) - end} trailing bytes after the value", end)
    return _materialise(data, 0, end, unsorted)


def decode_prefix(data: bytes, start: int = 0) -> tuple[Any, int]:
    """Decode the first complete value starting at ``start`` and ignore what follows.

    Args:
        data: bytes holding a bencoded value at ``start``, possibly followed by anything.
        start: byte offset of the value.

    Returns:
        ``(value, end)`` where ``end`` is the offset just after the value.

    Raises:
        DecodeError: the value at ``start`` is malformed or truncated.

    Source: BEP 9 (ut_metadata data messages: a dict followed by raw bytes); interop-quirks TRK-03.
    """
    if not 0 <= start < len(data):
        raise DecodeError("bencode: truncated input (no value at offset)", start)
    end, unsorted = _scan(data, start)
    return _materialise(data, start, end, unsorted), end


def value_span(data: bytes, *key_path: bytes, start: int = 0) -> tuple[int, int] | None:
    """Find the exact raw byte span of a nested dict value, e.g. ``value_span(torrent, b"info")``.

    Args:
        data: bytes holding a bencoded dict at ``start``.
        key_path: dict keys to follow from the outer dict; the first occurrence of a key wins.
        start: byte offset of the outer dict.

    Returns:
        ``(begin, end)`` offsets of the value, or None when a key is missing or a level is no dict.

    Raises:
        DecodeError: the bytes are malformed.

    Source: interop-quirks META-01 (the infohash is the hash of the raw info bytes, never re-encoded).
    """
    begin = start
    end = _scan(data, begin)[0]
    for key in key_path:
        if data[begin] != 0x64:
            return None
        pos = begin + 1
        found = None
        while data[pos] != 0x65:
            key_end = _string_end(data, pos)
            this_key = data[data.index(b":", pos) + 1 : key_end]
            value_end = _scan(data, key_end)[0]
            if this_key == key:
                found = (key_end, value_end)
                break
            pos = value_end
        if found is None:
            return None
        begin, end = found
    return begin, end


def has_unsorted_keys(data: bytes, start: int = 0) -> bool:
    """Tell whether the value at ``start`` holds a dict with unsorted or duplicate keys (a soft error).

    Raises:
        DecodeError: the bytes are malformed.

    Source: BEP 3 (keys must be sorted); libtorrent rejects this only inside v2 info dicts (BEP 52).
    """
    return _scan(data, start)[1]


def encode(value: Any) -> bytes:
    """Encode a value; dict keys are sorted, ``str`` is encoded as UTF-8.

    Args:
        value: bytes, str, int, bool, list/tuple or dict with bytes/str keys.

    Returns:
        The canonical bencoding.

    Raises:
        TypeError: a value of an unsupported type (our own misuse, not remote input).

    Source: BEP 3 ("bencoding").
    """
    try:
        return bencode(value)
    except BencodeEncodeError as exc:
        raise TypeError(f"bencode: cannot encode: {exc}") from exc

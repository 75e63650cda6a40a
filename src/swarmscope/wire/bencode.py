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
MAX_INT_DIGITS = 1000  # longer integers are refused (CPython's int() stops at 4,300 digits with ValueError)
_TOKEN = re.compile(rb"i(0|-?[1-9][0-9]{0,%d})e|(0|[1-9][0-9]{0,18}):|([lde])" % (MAX_INT_DIGITS - 1))
_INT_PREFIX = re.compile(rb"i([^e]{0,64})e")
_LONG_INT = re.compile(rb"i-?[0-9]{%d}" % (MAX_INT_DIGITS + 1))
_LIST, _KEY, _VALUE = 0, 1, 2  # container states; _KEY and _VALUE alternate (3 - state)


def _token_error(data: bytes, pos: int) -> DecodeError:
    """Explain why no token starts at ``pos`` (META-09 cases get their own message)."""
    if pos >= len(data):
        return DecodeError("bencode: truncated input", pos)
    c = data[pos : pos + 1]
    if c == b"i":
        if _LONG_INT.match(data, pos):
            return DecodeError(f"bencode: integer longer than {MAX_INT_DIGITS} digits", pos)
        match = _INT_PREFIX.match(data, pos)
        if match is None:
            return DecodeError("bencode: truncated or unterminated integer", pos)
        body = match.group(1)
        if not body:
            return DecodeError("bencode: empty integer 'ie'", pos)
        if body.startswith(b"+"):
            return DecodeError("bencode: integer with a leading '+'", pos)
        if body == b"-" or body.startswith(b"-0"):
            return DecodeError("bencode: negative zero or '-' without digits", pos)
        if body.startswith(b"0") and body.isdigit():
            return DecodeError("bencode: integer with a leading zero", pos)
        return DecodeError(f"bencode: invalid integer {body[:20]!r}", pos)
    if c.isdigit():
        if c == b"0" and data[pos + 1 : pos + 2].isdigit():
            return DecodeError("bencode: string length with a leading zero", pos)
        return DecodeError("bencode: truncated or invalid string length", pos)
    if c == b"-":
        return DecodeError("bencode: negative string length", pos)
    return DecodeError(f"bencode: invalid type byte {c!r}", pos)


def _scan(data: bytes, pos: int) -> int:
    """Validate the value starting at ``pos`` and return the offset just after it."""
    stack: list[int] = []
    match = _TOKEN.match
    n = len(data)
    while True:
        token = match(data, pos)
        if token is None:
            raise _token_error(data, pos)
        kind = token.lastindex
        state = stack[-1] if stack else _LIST
        if kind == 2:
            pos = token.end() + int(token.group(2))
            if pos > n:
                raise DecodeError("bencode: string longer than the remaining input", token.start())
        elif data[pos] == 0x65:  # 'e'
            if not stack or state == _VALUE:
                message = "dict key without a value" if stack else "invalid type byte b'e'"
                raise DecodeError(f"bencode: {message}", pos)
            stack.pop()
            pos += 1
        elif state == _KEY:
            raise DecodeError("bencode: dict key is not a byte string", pos)
        elif kind == 1:
            pos = token.end()
        else:  # 'l' or 'd'
            if len(stack) >= MAX_DEPTH:
                raise DecodeError(f"bencode: nesting deeper than {MAX_DEPTH}", pos)
            stack.append(_LIST if data[pos] == 0x6C else _KEY)
            pos += 1
            continue
        if not stack:
            return pos
        if stack[-1]:
            stack[-1] = 3 - stack[-1]


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


def _materialise(chunk: bytes) -> Any:
    """Decode a validated value: bencode2 when canonical, else the lenient builder (META-01)."""
    try:
        return bdecode(chunk)
    except BencodeDecodeError:  # only unsorted or repeated keys get here: _scan validated the rest
        return _build(chunk, 0)[0]


def decode_canonical(chunk: bytes) -> Any:
    """The value of ``chunk`` when it is exactly one canonical value (bencode2, the C decoder), else None.

    None means "not decided here": malformed input, trailing bytes, unsorted or repeated keys (META-01),
    more than :data:`MAX_DEPTH` list/dict openers anywhere in ``chunk``, or an integer beyond CPython's
    digit limit. :func:`decode` and :func:`decode_prefix` return this same value whenever it is not None
    (they try it first), so a caller may take this fast path and fall back to them on None.
    """
    if chunk.count(b"l") + chunk.count(b"d") > MAX_DEPTH:
        return None
    try:
        return bdecode(chunk)
    except (BencodeDecodeError, ValueError):  # ValueError: an integer beyond CPython's digit limit
        return None


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
    value = decode_canonical(data)
    if value is not None:
        return value
    end = _scan(data, 0)
    if end != len(data):
        raise DecodeError(f"bencode: {len(data) - end} trailing bytes after the value", end)
    return _materialise(data)


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
    if data.endswith(b"e"):  # a message that is one dict/list: try bencode2 on all of it
        value = decode_canonical(data[start:] if start else data)
        if value is not None:
            return value, len(data)
    end = _scan(data, start)
    return _materialise(data[start:end]), end


def value_end(data: bytes, start: int = 0, expected: int | None = None) -> int:
    """Validate the value starting at ``start`` as :func:`decode_prefix` does and return where it ends.

    Nothing is built and nothing after the value is read, so a caller walking a file of many values
    (the length-prefixed records of a bundle ledger) does work linear in the file. ``expected`` is where
    a framing says the value ends (a length prefix): when the bytes up to it are one canonical value
    (one bencode2 call, within :data:`MAX_DEPTH` and :data:`MAX_INT_DIGITS`) that is the answer; any
    other case (unsorted keys, a wrong prefix, long integers) takes the pure-Python scan.

    Raises:
        DecodeError: the value at ``start`` is malformed or truncated (the :func:`decode_prefix` cases).

    Source: BEP 3 ("bencoding"); interop-quirks META-01, META-09.
    """
    if not 0 <= start < len(data):
        raise DecodeError("bencode: truncated input (no value at offset)", start)
    if expected is not None and start < expected <= len(data):
        chunk = data[start:expected]
        if decode_canonical(chunk) is not None and _LONG_INT.search(chunk) is None:
            return expected
    return _scan(data, start)


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
    end = _scan(data, begin)
    for key in key_path:
        if data[begin] != 0x64:
            return None
        pos = begin + 1
        found = None
        while data[pos] != 0x65:
            colon = data.index(b":", pos)
            key_end = colon + 1 + int(data[pos:colon])
            this_key = data[colon + 1 : key_end]
            value_end = _scan(data, key_end)
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
    end = _scan(data, start)
    try:
        bdecode(data[start:end])
    except BencodeDecodeError:  # _scan validated everything else bencode2 checks
        return True
    return False


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

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

Cost bound: a decode builds one Python object per value, and ``le`` (2 bytes) is a 56-byte list and an
8-byte slot, 32 times its size. So what a decode would allocate is weighed before anything is built, and
a value over :data:`COST_FACTOR` times the input's size plus :data:`COST_SLACK` (16 times and 1 MiB, as
the bundle's JSON files, ``evidence/bundle/json_bound.py``) is refused with a one-line DecodeError: a
decode allocates at most that. Weights, CPython 3.11 64-bit as built by bencode2 or :func:`_build`
(measured with ``tracemalloc``): :data:`COST_LIST` per list (56 + its slot + margin), :data:`COST_DICT`
per dict (64 + its first key table of 160 bytes, up to 5 bytes keys, + its slot), :data:`COST_KEY` per
key after the :data:`FREE_KEYS`-th of a dict (a 24-byte entry and its index in a table kept up to 3 to 4
times the keys, and the old table while it grows), :data:`COST_STRING` + its length per string of 2
bytes or more (33-byte header rounded to 8, a slot over-allocated by ``list.append``), :data:`COST_INT`
+ half its digits per integer outside -9..99, and :data:`COST_SLOT` for the cached rest (``b""``, one-byte
strings, small ints). Inputs under :data:`ALWAYS_WITHIN` bytes cannot exceed the slack; larger ones are
first weighed from byte counts (``bytes.count``, C speed), and only when that over-estimate is over the
bound does the scanner weigh the values exactly. A caller may also cap the number of values
(``max_values``, libtorrent's ``token_limit``), which bounds the scan's time: the scanner stops there.
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
COST_FACTOR = 16  # a value costing more than this times the input's size (plus COST_SLACK) is refused
COST_SLACK = 1 << 20  # bytes allowed beyond COST_FACTOR times the size: what a small input may cost
COST_LIST = 80  # bytes per list: 56, its slot in the parent (8 to 18 while appended), margin
COST_DICT = 232  # bytes per dict: 64 + its first key table (160, up to 5 bytes keys) + its slot
COST_KEY = 88  # bytes per dict key after the FREE_KEYS-th: entry + index, table over-allocation, resizing
FREE_KEYS = 4  # keys a dict's first table holds at no extra cost (5 in CPython 3.11; one kept as margin)
COST_STRING = 56  # bytes per string of 2+ bytes, plus its length: header rounded to 8, its slot
COST_INT = 48  # bytes per integer outside -9..99, plus half its digits: the int (32 below 2**60), its slot
COST_SLOT = 16  # bytes per cached value (b"", one-byte strings, small ints): its slot only
ALWAYS_WITHIN = COST_SLACK // (COST_DICT // 2)  # bytes: an input this small costs at most COST_SLACK
UNBOUNDED = 1 << 62  # "no cap" for max_values
_LIST = 0  # stack state of a list; a dict's is 1 + 2 * (its keys so far) awaiting a key, + 1 its value


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


def _over(cost: int, budget: int, values: int, max_values: int, pos: int) -> DecodeError:
    """The one-line refusal naming the bound that was passed (module docstring, "Cost bound")."""
    if values > max_values:
        return DecodeError(f"bencode: more than {max_values} values (this message's bound)", pos)
    return DecodeError(
        f"bencode: decoding would allocate over {budget} bytes (the bound for an input this size: a multiple"
        f" of it + {COST_SLACK >> 20} MiB)",
        pos,
    )


def _scan(data: bytes, pos: int, budget: int = UNBOUNDED, max_values: int = UNBOUNDED) -> int:
    """Validate the value starting at ``pos`` and return the offset just after it.

    Weighs what building it would cost (module docstring) and raises DecodeError once that is over
    ``budget`` bytes or the values are more than ``max_values``, before reading further.
    """
    stack: list[int] = []
    match = _TOKEN.match
    n = len(data)
    cost = values = 0
    while True:
        if cost > budget or values > max_values:
            raise _over(cost, budget, values, max_values, pos)
        token = match(data, pos)
        if token is None:
            raise _token_error(data, pos)
        kind = token.lastindex
        state = stack[-1] if stack else _LIST
        if kind == 2:
            size = int(token.group(2))
            pos = token.end() + size
            if pos > n:
                raise DecodeError("bencode: string longer than the remaining input", token.start())
            cost += COST_SLOT if size < 2 else COST_STRING + size
            if state > 2 * FREE_KEYS and state & 1:  # a key after the FREE_KEYS-th of its dict
                cost += COST_KEY
            values += 1
        elif data[pos] == 0x65:  # 'e'
            if not stack or (state and not state & 1):
                message = "dict key without a value" if stack else "invalid type byte b'e'"
                raise DecodeError(f"bencode: {message}", pos)
            stack.pop()
            pos += 1
        elif state & 1:
            raise DecodeError("bencode: dict key is not a byte string", pos)
        elif kind == 1:
            size = token.end() - pos
            pos += size
            cost += COST_SLOT if size < 5 else COST_INT + size // 2
            values += 1
        else:  # 'l' or 'd'
            if len(stack) >= MAX_DEPTH:
                raise DecodeError(f"bencode: nesting deeper than {MAX_DEPTH}", pos)
            is_list = data[pos] == 0x6C
            stack.append(_LIST if is_list else 1)
            cost += COST_LIST if is_list else COST_DICT
            values += 1
            pos += 1
            continue
        if not stack:
            if cost > budget:
                raise _over(cost, budget, values, max_values, pos)
            return pos
        if stack[-1]:
            stack[-1] += 1


def _within(chunk: bytes, max_values: int, factor: int = COST_FACTOR) -> bool:
    """True when byte counts alone show ``chunk`` within :func:`_budget` and ``max_values`` (an
    over-estimate: every ``:`` weighed as a string that is a dict key, every ``i`` as a large integer)."""
    n = len(chunk)
    if n <= ALWAYS_WITHIN and n <= 2 * max_values:  # a value takes 2 bytes or more
        return True
    count = chunk.count
    lists, dicts, colons, ints = count(b"l"), count(b"d"), count(b":"), count(b"i")
    cost = lists * COST_LIST + dicts * COST_DICT + colons * (COST_STRING + COST_KEY) + ints * COST_INT
    return lists + dicts + colons + ints <= max_values and cost + 2 * n <= _budget(n, factor)


def _budget(size: int, factor: int = COST_FACTOR) -> int:
    """Bytes a decode of ``size`` input bytes may allocate: ``factor * size + COST_SLACK``."""
    return factor * size + COST_SLACK


def _build(data: bytes, pos: int) -> tuple[Any, int]:
    """Decode an already-validated value at ``pos`` without bencode2 (non-canonical dicts)."""
    c = data[pos]
    if c == 0x69:
        end = data.index(b"e", pos)
        return int(data[pos + 1 : end]), end + 1
    if c == 0x6C:
        items: list[Any] = []
        pos += 1
        while data[pos] != 0x65:
            item, pos = _build(data, pos)
            items.append(item)
        return items, pos + 1
    if c == 0x64:  # pairs set as read: no list of all keys and values (the cost the scanner weighed)
        result: dict[bytes, Any] = {}
        pos += 1
        while data[pos] != 0x65:
            key, pos = _build(data, pos)
            value, pos = _build(data, pos)
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


def decode_canonical(chunk: bytes, max_values: int = UNBOUNDED, factor: int = COST_FACTOR) -> Any:
    """The value of ``chunk`` when it is exactly one canonical value (bencode2, the C decoder), else None.

    None means "not decided here": malformed input, trailing bytes, unsorted or repeated keys (META-01),
    more than :data:`MAX_DEPTH` list/dict openers anywhere in ``chunk``, an integer beyond CPython's
    digit limit, or byte counts that do not show the chunk within the cost bound and ``max_values``
    (module docstring; an input under :data:`ALWAYS_WITHIN` bytes and ``2 * max_values`` needs no
    count). :func:`decode` and :func:`decode_prefix` return this same value whenever it is not None
    (they try it first), so a caller may take this fast path and fall back to them on None.
    """
    if chunk.count(b"l") + chunk.count(b"d") > MAX_DEPTH:
        return None
    n = len(chunk)  # the small case inline: this is the DHT's hot path
    if (n > ALWAYS_WITHIN or n > 2 * max_values) and not _within(chunk, max_values, factor):
        return None
    try:
        return bdecode(chunk)
    except (BencodeDecodeError, ValueError):  # ValueError: an integer beyond CPython's digit limit
        return None


def decode(data: bytes, max_values: int = UNBOUNDED) -> Any:
    """Decode one bencoded value that spans the whole input.

    Args:
        data: the encoded bytes.
        max_values: the caller's cap on the number of values (libtorrent's ``token_limit``).

    Returns:
        The value (bytes / int / list / dict with bytes keys).

    Raises:
        DecodeError: malformed (META-09 cases), truncated, too deep, trailing bytes after the value, or
            over the cost bound or ``max_values`` (module docstring).

    Source: BEP 3 ("bencoding"); interop-quirks META-01, META-09.
    """
    value = decode_canonical(data, max_values)
    if value is not None:
        return value
    end = _scan(data, 0, _budget(len(data)), max_values)
    if end != len(data):
        raise DecodeError(f"bencode: {len(data) - end} trailing bytes after the value", end)
    return _materialise(data)


def decode_prefix(
    data: bytes, start: int = 0, max_values: int = UNBOUNDED, factor: int = COST_FACTOR
) -> tuple[Any, int]:
    """Decode the first complete value starting at ``start`` and ignore what follows.

    Args:
        data: bytes holding a bencoded value at ``start``, possibly followed by anything.
        start: byte offset of the value.
        max_values: the caller's cap on the number of values (libtorrent's ``token_limit``).
        factor: the cost bound's multiple of the input (default :data:`COST_FACTOR`; a torrent's is
            :data:`swarmscope.wire.metainfo.COST_FACTOR`).

    Returns:
        ``(value, end)`` where ``end`` is the offset just after the value.

    Raises:
        DecodeError: the value at ``start`` is malformed or truncated, or over the cost bound (weighed
            against the bytes from ``start`` on) or ``max_values`` (module docstring).

    Source: BEP 9 (ut_metadata data messages: a dict followed by raw bytes); interop-quirks TRK-03.
    """
    if not 0 <= start < len(data):
        raise DecodeError("bencode: truncated input (no value at offset)", start)
    if data.endswith(b"e"):  # a message that is one dict/list: try bencode2 on all of it
        value = decode_canonical(data[start:] if start else data, max_values, factor)
        if value is not None:
            return value, len(data)
    end = _scan(data, start, _budget(len(data) - start, factor), max_values)
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


def has_unsorted_keys(data: bytes, start: int = 0, factor: int = COST_FACTOR) -> bool:
    """Tell whether the value at ``start`` holds a dict with unsorted or duplicate keys (a soft error).

    ``factor``: the caller's cost bound (:func:`_budget`; a torrent's info dict is weighed at the
    torrent's, ``wire.metainfo.COST_FACTOR``).

    Raises:
        DecodeError: the bytes are malformed, or over the cost bound (module docstring).

    Source: BEP 3 (keys must be sorted); libtorrent rejects this only inside v2 info dicts (BEP 52).
    """
    end = _scan(data, start, _budget(len(data) - start, factor))
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

"""Parse a JSON file of a bundle in memory bounded by its size: one bound for every JSON file verify reads.

``json.loads`` builds one Python object per JSON value, and what a value costs does not follow its size in
the file: ``{}`` (2 bytes) is a 64-byte dict, ``"0000000":0,`` (12 bytes) a str, a dict slot and an entry
of the decoder's key memo (about 180 bytes). A hostile bundle of such values made ``swarmscope verify``
take 15 to 28 times the file's size (103 MB of short distinct keys in manifest.json: 2.34 GB of RSS;
50 MB of ``[{},{},...]`` in methodology.json: 1.46 GB). So every JSON text verify parses is first held
to two limits, before any object is built:

- a size cap per kind of file (:class:`JsonKind`), far above any genuine file of that kind;
- :func:`parse_cost`, an upper bound of the bytes CPython allocates while ``json.loads`` parses the text
  and holds its value, computed from counts of the structural characters, each weighed by the most it can
  cost (:data:`COST_OBJECT` per ``{``, :data:`COST_LIST` per ``[``, :data:`COST_PAIR` per ``:``,
  :data:`COST_QUOTE` per ``"``, :data:`COST_SLOT` per ``,``, and :func:`byte_weight` per byte for the
  decoded text and the strings' characters). A text whose cost is over :data:`COST_FACTOR` times its
  size (plus :data:`COST_SLACK`) is refused.

So a parse that runs allocates at most ``COST_FACTOR * size + COST_SLACK`` bytes (16 times the file and
1 MiB; the raw bytes not counted: the caller holds them), and the largest is 16 times its kind's cap:
1 GiB for the largest manifest.json (the cap was 256 MiB with no such bound: about 6 GB). What a refused
text costs is what ``bytes.count`` and one regular-expression scan cost: nothing allocated. Genuine
bundle files cost under 10 times their size by this measure (the real parse takes 3 to 4 times; below
1 MiB the slack admits anything): a manifest lists one file in about 180 bytes (``{"path": ...,
"sha256": <64 hex>, "size": N}``, indented), 9.7 times; a hits.jsonl line is one flat object of about
300 bytes, within the slack. attribution/datasets.json costs 15.6 to 17.8 times (8 keys of short values
in an entry of about 250 bytes), so only one listing over 2,000 datasets would be refused.

The weights are CPython 3.11's (64-bit, the interpreter the project pins): a dict is 64 bytes and its
first key table 120 (up to 5 str keys), a key added to a large dict up to 88 bytes in its table (resized
to 3 times the keys in use, up to 6 after rounding to a power of two, 16 bytes an entry and up to 8 an
index) and as much again in the decoder's memo of keys (``_json.c`` ``scan_once_unicode`` keeps every
distinct key until the parse ends), a list 56 bytes plus 8 a slot over-allocated by up to 1/8, a str 49
to 76 bytes plus 1, 2 or 4 a character (:func:`char_width`), an int or float at most 32 bytes below
2**60 (a longer number costs under half a byte a digit, besides the copy of its digits). Measured peaks
(``tracemalloc``) stay at or below 0.9 of :func:`parse_cost` over hostile shapes and random JSON
(tests/evidence/test_json_bound.py checks it is an upper bound).

Source: the fuzz rule for bundle verification (tests/fuzz/README.md): a hostile bundle is refused within
bounded time and memory, never a crash; CPython 3.11 Objects/dictobject.c, listobject.c,
unicodeobject.c and Modules/_json.c for the object sizes.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

COST_OBJECT = 200  # bytes per "{": the dict (64) and its first key table (120 for up to 5 str keys)
COST_LIST = 112  # bytes per "[": the list (56) and its first slots (4 of 8 bytes), rounded up
COST_PAIR = 224  # bytes per ":": the key's slot in a large dict and in the decoder's memo, and the value
COST_QUOTE = 40  # bytes per '"': half of a str's header (49 to 76 bytes) and allocator rounding
COST_SLOT = 48  # bytes per ",": a list slot over-allocated and the value, an int or float (at most 32)
COST_BASE = 4096  # bytes: the fixed cost of any parse (the decoder's scanner and memo, first tables)
COST_FACTOR = 16  # a text costing more than this times its size (plus COST_SLACK) is refused
COST_SLACK = 1 << 20  # bytes allowed beyond COST_FACTOR times the size: what a small text may cost

_ASTRAL = re.compile(rb"[\xf0-\xff]|\\u[dD][89abAB]")
_WIDE = re.compile(rb"[\xc4-\xef]|\\u(?!00)")


class JsonBoundError(ValueError):
    """A JSON text over its kind's size cap, or whose parse would cost over :data:`COST_FACTOR` times its
    size (the message is one line naming the file and both numbers)."""


@dataclass(frozen=True, slots=True)
class JsonKind:
    """A kind of JSON text verify reads: ``name`` as messages print it, ``max_bytes`` its size cap."""

    name: str
    max_bytes: int


MANIFEST = JsonKind("manifest.json", 1 << 26)  # 64 MiB: ~370,000 listed files, ~150,000 observations
METHODOLOGY = JsonKind("methodology.json", 1 << 24)  # 16 MiB: ~5 KiB + ~1.5 KiB a run + ~200 B a window
DATASETS = JsonKind("attribution/datasets.json", 1 << 22)  # 4 MiB: ~300 bytes a cited dataset
HITS_LINE = JsonKind("hits.jsonl line", 1 << 16)  # 64 KiB: a line is one hit, about 300 bytes
RUN_SETTINGS = JsonKind("run settings", 1 << 22)  # 4 MiB: a run's sealed settings, ~1 KiB + its references


def char_width(raw: bytes) -> int:
    """The widest character ``raw`` can decode to, in bytes (1, 2 or 4; PEP 393 stores a str that wide).

    UTF-8 lead bytes from 0xC4 (U+0100 and up) make 2, from 0xF0 (beyond the BMP) 4; a ``\\u`` escape
    from ``\\u0100`` makes 2, a surrogate escape (``\\ud800`` to ``\\udbff``) 4. Over-estimates only
    (an escaped backslash before a ``u`` counts as an escape).
    """
    if _ASTRAL.search(raw):
        return 4
    return 2 if _WIDE.search(raw) else 1


def byte_weight(raw: bytes) -> int:
    """Bytes per byte of ``raw`` for its decoded text, its strings' characters and its numbers' digits.

    ``1 + 2 * char_width(raw)``: the decoded text (one character per byte at most, each as wide as the
    widest), a string's characters (as wide, the decoder's buffer over-allocated by up to 1/4 while it
    grows) and a number's digits (copied once before ``int()``; an int takes under half a byte a digit).
    """
    return 1 + 2 * char_width(raw)


def parse_cost(raw: bytes) -> int:
    """An upper bound, in bytes, of what ``json.loads(raw.decode())`` allocates at its peak (module
    docstring), the raw bytes not counted.

    Counts each structural character wherever it is (inside strings too, which only over-estimates).
    Linear in ``len(raw)``, in C (``bytes.count``, one regular-expression scan); allocates nothing.
    """
    return (
        COST_BASE
        + byte_weight(raw) * len(raw)
        + COST_OBJECT * raw.count(b"{")
        + COST_LIST * raw.count(b"[")
        + COST_PAIR * raw.count(b":")
        + COST_QUOTE * raw.count(b'"')
        + COST_SLOT * raw.count(b",")
    )


def check_bound(raw: bytes, kind: JsonKind) -> None:
    """Refuse ``raw`` before it is parsed when over ``kind``'s size cap or its cost bound.

    Raises:
        JsonBoundError: one line, e.g. ``methodology.json of 8388608 bytes: parsing it would take up to
            205 MiB, over 12 times its size (not a bundle file)``.
    """
    if len(raw) > kind.max_bytes:
        raise JsonBoundError(
            f"{kind.name} of {len(raw)} bytes: over its {kind.max_bytes}-byte bound (not a bundle file)"
        )
    cost = parse_cost(raw)
    if cost > COST_FACTOR * len(raw) + COST_SLACK:
        raise JsonBoundError(
            f"{kind.name} of {len(raw)} bytes: parsing it would take up to {cost >> 20} MiB,"
            f" over {COST_FACTOR} times its size (not a bundle file)"
        )


def loads_bounded(raw: bytes, kind: JsonKind) -> Any:
    """``json.loads(raw)`` (UTF-8) after :func:`check_bound`.

    Raises:
        JsonBoundError: over the bound (see :func:`check_bound`).
        ValueError: not UTF-8 or not JSON. RecursionError: nested deeper than the interpreter allows.
    """
    check_bound(raw, kind)
    return json.loads(raw.decode("utf-8"))


def loads_text_bounded(text: str, kind: JsonKind) -> Any:
    """``json.loads(text)`` of a JSON text held as a str (a sealed record's field), under the same bound
    measured on its UTF-8 encoding (surrogates passed through, as the decoder accepts them).

    Raises:
        JsonBoundError: over the bound. ValueError: not JSON. RecursionError: nested too deep.
    """
    if len(text) > kind.max_bytes:
        raise JsonBoundError(
            f"{kind.name} of {len(text)} characters: over its {kind.max_bytes}-byte bound (not a bundle file)"
        )
    check_bound(text.encode("utf-8", "surrogatepass"), kind)
    return json.loads(text)

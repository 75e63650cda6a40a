"""The frames between a monitor and its evidence writer process: bytes over a pipe, never pickled objects.

A frame is a 4-byte big-endian length then that many bytes of one bencoded dict (BEP 3). The monitor (the
probe side) sends requests on the writer's standard input and reads one reply per request on its standard
output (:mod:`swarmscope.monitor.writer_process`, :mod:`swarmscope.monitor.writer_main`):

* hello (first frame): ``{db: URL or path, key: the node's Ed25519 private key as PKCS#8 PEM (RFC 8410),
  witness: the chain-head witness file or ""}``; reply ``{ok: 1}`` once the store is open.
* commit: ``{op: "commit", run: N, records: [canonical bytes, ...], captures: [[sha256, bytes], ...],
  blobs: [[sha256, bytes], ...], pieces: [[infohash hex, index, bytes], ...], sealed_at: UTC µs,
  clock: tagged value}``, the arguments of ``Store.commit_evidence``; reply ``{ok: 1, sealed: the sealed
  batch's stored form}`` (``evidence.seal.sealed_bytes``; ``""`` when no record was sealed). A fleet
  node's commit also carries ``fence: {tokens: [[infohash hex, lease token], ...], node: name,
  incarnation: N}`` (``node`` and ``incarnation`` only once it registered): the writer seals it with the
  fleet's fenced commit (``store.fleet.fencing.commit_fenced``), so the database refuses it when a token is
  no longer current, whichever process of the node made the records.
* find: ``{op: "find", records: [...], sealed_at: UTC µs}``, ``Store.committed_batch``; reply as commit.
* any refusal: ``{error: one line}``; a refusal by fencing adds ``fenced: [infohash hex, ...]`` (the
  swarms lost) and ``reason: the database's line``, one because another process registered under the
  node's name adds ``replaced: name``: the sender raises ``FencingRefused`` or ``NodeReplaced`` as the
  in-process fenced store does, and its ``LedgerWriter`` handles them the same way.

Records travel as their canonical bytes (:mod:`swarmscope.evidence.canonical`), and the writer decodes each
with the strict decoder (:func:`~swarmscope.evidence.canonical.record_from_canonical`, which re-encodes and
compares) before it commits the decoded record: the rows derive from that record, and the chain entry and
the seal from the bytes it was proven to encode exactly (so the store need not encode them again), so the
monitor cannot make the writer seal bytes that do not describe the rows it stores.
Captures and blobs are checked against their SHA-256 key by the store itself (``ledger.commit``); the batch
clock is a tagged value as in a sealed batch (:mod:`swarmscope.evidence.seal`).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import (
    EvidenceRecord,
    canonical_bytes,
    record_from_canonical,
    value_to_bencode,
)
from swarmscope.evidence.canonical_decode import value_from_bencode
from swarmscope.evidence.seal import SealedBatch, sealed_bytes, sealed_from_bytes
from swarmscope.store.fleet.fencing import Fence, FencingRefused
from swarmscope.store.fleet.leases import NodeReplaced
from swarmscope.wire.bencode import decode, encode

HEADER = struct.Struct(">I")  # frame length in bytes, big-endian
MAX_FRAME = 1 << 30  # bytes: a batch of 5,000 records with their captures and 16 KiB blocks is ≈ 100 MB
CLOCK_TAGS = ("n", "d:n|o|i|f|b|s")  # the batch clock: None or a flat dict of scalars (evidence.seal)


@dataclass(frozen=True, slots=True)
class CommitRequest:
    """A decoded commit (or find: ``run`` 0, no content) request: the arguments of ``commit_evidence``."""

    run_id: int
    records: list[EvidenceRecord]
    captures: dict[bytes, bytes]
    blobs: dict[bytes, bytes]
    pieces: list[tuple[str, int, bytes]]
    sealed_at_us: int
    clock: dict[str, Any] | None
    canonical: list[bytes]  # each record's bytes as sent: the strict decoder proved them its canonical bytes
    fence: Fence | None = None  # a fleet node's lease tokens: sealed with the fenced commit


def frame(body: bytes) -> bytes:
    """``body`` with its length prefix."""
    return HEADER.pack(len(body)) + body


def frame_length(header: bytes) -> int:
    """The body length a 4-byte header announces. Raises DecodeError: above :data:`MAX_FRAME`."""
    (length,) = HEADER.unpack(header)
    if length > MAX_FRAME:
        raise DecodeError(f"writer frame: {length} bytes is more than {MAX_FRAME}")
    return int(length)


def hello(db: str, key_pem: bytes, witness: str) -> bytes:
    """The first request: where the store is, the signing key, the witness file ("" for none)."""
    return encode({b"db": db.encode(), b"key": key_pem, b"witness": witness.encode()})


def read_hello(body: bytes) -> tuple[str, bytes, str]:
    """(db, key PEM, witness path) of a hello. Raises DecodeError: not a hello."""
    raw = _dict(body, {b"db", b"key", b"witness"})
    return _text(raw[b"db"]), _bytes(raw[b"key"]), _text(raw[b"witness"])


def commit_request(
    run_id: int,
    records: Sequence[EvidenceRecord],
    captures: Mapping[bytes, bytes] | None,
    blobs: Mapping[bytes, bytes] | None,
    pieces: Sequence[tuple[str, int, bytes]],
    sealed_at_us: int,
    clock: dict[str, Any] | None,
    fence: Fence | None = None,
) -> bytes:
    """The commit request for ``Store.commit_evidence`` with these arguments (records as canonical bytes),
    fenced by ``fence`` when given (a fleet node).

    Raises:
        TypeError, ValueError: a record :func:`canonical_bytes` refuses, a clock value that is not a scalar.
    """
    request = {
        b"op": b"commit",
        b"run": run_id,
        b"records": [canonical_bytes(r) for r in records],
        b"captures": [[k, v] for k, v in (captures or {}).items()],
        b"blobs": [[k, v] for k, v in (blobs or {}).items()],
        b"pieces": [[swarm.encode("ascii"), index, data] for swarm, index, data in pieces],
        b"sealed_at": sealed_at_us,
        b"clock": value_to_bencode(clock),
    }
    if fence is not None:
        request[b"fence"] = _fence_value(fence)
    return encode(request)


def _fence_value(fence: Fence) -> dict[bytes, Any]:
    value: dict[bytes, Any] = {b"tokens": [[s.encode("ascii"), t] for s, t in sorted(fence.tokens.items())]}
    if fence.identity is not None:
        value[b"node"], value[b"incarnation"] = fence.identity[0].encode(), fence.identity[1]
    return value


def _read_fence(value: Any) -> Fence | None:
    if value is None:
        return None
    if not isinstance(value, dict) or not isinstance(value.get(b"tokens"), list):
        raise DecodeError("writer frame: fence is not {tokens: [[infohash, token], ...]}")
    pairs = value[b"tokens"]
    if any(not isinstance(p, list) or len(p) != 2 for p in pairs):
        raise DecodeError("writer frame: a fence token is not [infohash, token]")
    tokens = {_text(swarm): _int(token) for swarm, token in pairs}
    if b"node" not in value:
        return Fence(tokens)
    return Fence(tokens, (_text(value[b"node"]), _int(value.get(b"incarnation"))))


def find_request(records: Sequence[EvidenceRecord], sealed_at_us: int) -> bytes:
    """The request for ``Store.committed_batch(records, sealed_at_us)``."""
    records_ = [canonical_bytes(r) for r in records]
    return encode({b"op": b"find", b"records": records_, b"sealed_at": sealed_at_us})


def read_request(body: bytes) -> tuple[str, CommitRequest]:
    """("commit" or "find", its arguments), every record decoded strictly from its canonical bytes.

    Raises:
        DecodeError: not a request, a record's bytes not canonical, a malformed field.
    """
    raw = _dict(body, None)
    op = raw.get(b"op")
    records, canonical = _records(raw)
    if op == b"find":
        return "find", CommitRequest(0, records, {}, {}, [], _int(raw.get(b"sealed_at")), None, canonical)
    if op != b"commit":
        raise DecodeError(f"writer frame: unknown request {str(op)[:40]}")
    pieces = [(_text(p[0]), _int(p[1]), _bytes(p[2])) for p in _triples(raw.get(b"pieces"))]
    clock = value_from_bencode(raw.get(b"clock"), CLOCK_TAGS, "writer frame clock")
    return "commit", CommitRequest(
        _int(raw.get(b"run")),
        records,
        _pairs(raw.get(b"captures")),
        _pairs(raw.get(b"blobs")),
        pieces,
        _int(raw.get(b"sealed_at")),
        clock,
        canonical,
        _read_fence(raw.get(b"fence")),
    )


def sealed_reply(sealed: SealedBatch | None) -> bytes:
    """The reply to a commit or find that succeeded: its sealed batch, or none."""
    return encode({b"ok": 1, b"sealed": b"" if sealed is None else sealed_bytes(sealed)})


def error_reply(message: str) -> bytes:
    """The reply to a refused request: one line."""
    return encode({b"error": message.encode("utf-8", "replace")})


def fenced_reply(refused: FencingRefused) -> bytes:
    """The reply to a commit refused by fencing: its line, the swarms lost, the tokens the batch named
    for them and the database's reason."""
    swarms = [s.encode("ascii") for s in sorted(refused.swarms)]
    reason = refused.reason.encode("utf-8", "replace")
    tokens = {swarm.encode("ascii"): token for swarm, token in refused.tokens.items()}
    error = str(refused).encode("utf-8", "replace")
    return encode({b"error": error, b"fenced": swarms, b"reason": reason, b"tokens": tokens})


def replaced_reply(replaced: NodeReplaced) -> bytes:
    """The reply to a commit refused because a newer process registered under the node's name."""
    return encode({b"error": str(replaced).encode("utf-8", "replace"), b"replaced": replaced.name.encode()})


def ok_reply() -> bytes:
    """The reply to a hello once the store is open."""
    return encode({b"ok": 1})


def read_reply(body: bytes) -> SealedBatch | None:
    """The sealed batch of a reply (None: nothing sealed, or a hello's ``ok``).

    Raises:
        FencingRefused: fencing refused the commit (the swarms lost). NodeReplaced: a newer process runs
            under the node's name. WriterRefused: the writer refused the request otherwise (its line).
        DecodeError: a malformed reply.
    """
    raw = _dict(body, None)
    if b"fenced" in raw:
        swarms = raw[b"fenced"] if isinstance(raw[b"fenced"], list) else []
        named = raw.get(b"tokens", {})
        tokens = {_text(s): _int(t) for s, t in named.items()} if isinstance(named, dict) else {}
        raise FencingRefused(frozenset(_text(s) for s in swarms), _text(raw.get(b"reason", b"")), tokens)
    if b"replaced" in raw:
        raise NodeReplaced(_text(raw[b"replaced"]))
    if b"error" in raw:
        raise WriterRefused(_bytes(raw[b"error"]).decode("utf-8", "replace"))
    sealed = _bytes(raw.get(b"sealed", b""))
    return sealed_from_bytes(sealed) if sealed else None


class WriterRefused(Exception):
    """The writer process refused a request (the store refused the commit, a frame did not decode)."""


def _dict(body: bytes, keys: set[bytes] | None) -> dict[bytes, Any]:
    raw = decode(body)
    if not isinstance(raw, dict) or (keys is not None and set(raw) != keys):
        raise DecodeError("writer frame: not the expected dict")
    return raw


def _records(raw: dict[bytes, Any]) -> tuple[list[EvidenceRecord], list[bytes]]:
    """The records of a request, each decoded strictly, and their bytes (proven canonical by that decode)."""
    items = raw.get(b"records")
    if not isinstance(items, list):
        raise DecodeError("writer frame: records is not a list")
    canonical = [_bytes(item) for item in items]
    return [record_from_canonical(item) for item in canonical], canonical


def _pairs(value: Any) -> dict[bytes, bytes]:
    if not isinstance(value, list) or any(not isinstance(p, list) or len(p) != 2 for p in value):
        raise DecodeError("writer frame: content is not a list of [sha256, bytes]")
    return {_bytes(k): _bytes(v) for k, v in value}


def _triples(value: Any) -> list[list[Any]]:
    if not isinstance(value, list) or any(not isinstance(p, list) or len(p) != 3 for p in value):
        raise DecodeError("writer frame: pieces is not a list of [infohash, index, bytes]")
    return value


def _int(value: Any) -> int:
    if not isinstance(value, int):
        raise DecodeError("writer frame: an integer field is missing")
    return value


def _bytes(value: Any) -> bytes:
    if not isinstance(value, bytes):
        raise DecodeError("writer frame: a byte-string field is missing")
    return value


def _text(value: Any) -> str:
    try:
        return _bytes(value).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DecodeError("writer frame: text is not UTF-8") from exc

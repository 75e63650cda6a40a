"""One fuzz target per parser, shared by hypothesis (``make test``) and atheris (``make fuzz``).

A target takes the raw bytes a hostile party controls (a datagram, a peer's stream, a file, a bundle file)
and feeds them to the parser the way the monitor or ``swarmscope verify`` does. The rule every target
enforces (issue scope "fuzzing"): the parser returns a value or raises the protocol's own error type —
:class:`~swarmscope.errors.DecodeError` for wire and capture bytes, ``InputError`` for dataset files,
``DisclosureError`` for disclosure CSVs, a :class:`Verdict` (never an exception) for an existing bundle —
and anything else (``KeyError``, ``IndexError``, ``RecursionError``, ``MemoryError``, ...) is a crash.
Time and memory are bounded by the runner: :data:`MAX_SECONDS` per input here, libFuzzer's ``-timeout``
and ``-rss_limit_mb`` under atheris (see tests/fuzz/run.py).

Seed inputs (valid encodings from the project's encoders and fixtures) live in :mod:`tests.fuzz.seeds`.
"""

from __future__ import annotations

import atexit
import hashlib
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path

from swarmscope.attribution.datasets import read_flag_list, read_mmdb_metadata
from swarmscope.cases.identities import parse_disclosure
from swarmscope.errors import DecodeError, InputError
from swarmscope.evidence.bundle.nodes_verify import verify_export
from swarmscope.evidence.bundle.verify import verify_bundle
from swarmscope.evidence.canonical import record_from_canonical
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.capture.format import MAGIC, VERSION
from swarmscope.wire import bencode, extension, http_tracker, krpc, magnet, metainfo, mse, pex, udp_tracker
from swarmscope.wire import krpc_query as kq
from swarmscope.wire import mse_cipher as mc
from swarmscope.wire import peer as pw
from swarmscope.wire.metadata import MetadataAssembler
from swarmscope.wire.peer_session import PeerSession
from swarmscope.wire.rc4 import Rc4
from tests.fuzz import bundle_stages as bs
from tests.fuzz import small_parsers as sp
from tests.fuzz.bundle_stages import bundle_files
from tests.fuzz.nodes_stages import NODES_STAGES, nodes_bundle_files

MAX_SECONDS = 5.0  # wall time one input may take (hypothesis and replay; atheris uses -timeout)

INFOHASH = hashlib.sha1(b"swarmscope fuzz").digest()  # the swarm the stateful targets expect
PEER_ID = b"-SS0100-fuzzfuzzfuzz"
XA = bytes(range(1, 21))  # fixed MSE private keys: the fuzzer then controls every other byte
XB = bytes(range(21, 41))


class Crash(AssertionError):
    """A target broke its rule: a foreign exception, or more than :data:`MAX_SECONDS` on one input."""


@dataclass(frozen=True)
class Target:
    """A parser under fuzz: ``run`` feeds it one input; ``allowed`` are the errors its contract names."""

    name: str
    run: Callable[[bytes], object]
    allowed: tuple[type[BaseException], ...]


def check(target: Target, data: bytes) -> None:
    """Run ``target`` on ``data``; raise :class:`Crash` (chaining the cause) when the rule is broken."""
    start = time.monotonic()
    try:
        target.run(data)
    except target.allowed:
        pass
    except Exception as exc:
        raise Crash(f"{target.name}: {type(exc).__name__}: {exc}"[:500]) from exc
    elapsed = time.monotonic() - start
    if elapsed > MAX_SECONDS:
        raise Crash(f"{target.name}: {elapsed:.1f} s on one input of {len(data)} bytes")


def memoise_dh() -> None:
    """Memoise MSE's Diffie-Hellman (pure: same inputs, same output; ~1 ms of pow() over the 768-bit
    prime) for this process, so the MSE targets spend atheris's time in the handshake parser. Only the
    atheris child calls it; the test session keeps the real functions."""
    mc.public_key = cache(mc.public_key)
    mc.shared_secret = lru_cache(maxsize=4096)(mc.shared_secret)


def chunks(data: bytes, sizes: bytes) -> Iterator[bytes]:
    """Split ``data`` by the sizes 1..256 read from ``sizes`` (cycled): how a stream arrives in segments.
    Lazy, so a consumer that stops early does not pay for slicing the rest."""
    if not sizes:
        yield data
        return
    pos, k = 0, 0
    while pos < len(data):
        n = sizes[k % len(sizes)] + 1
        yield data[pos : pos + n]
        pos, k = pos + n, k + 1


# --- wire -------------------------------------------------------------------------------------------


def _bencode(data: bytes) -> None:
    value = bencode.decode(data)
    if bencode.encode(value) != data and not bencode.has_unsorted_keys(data):
        raise AssertionError("bencode: a strict decode does not re-encode to the same bytes")
    bencode.decode_prefix(data + b"trailer")


def _magnet(data: bytes) -> None:
    magnet.parse_magnet(data.decode("utf-8", errors="surrogateescape"))


def _peer_framer(data: bytes) -> None:
    """First byte: segment sizes; the rest: the stream after the handshake, framed and decoded."""
    framer = pw.MessageFramer(max_length=1 << 16)
    for part in chunks(data[1:], data[:1]):
        for body in framer.feed(part):
            pw.decode_message(body)


def _peer_session(data: bytes) -> None:
    """A whole connection from the handshake on: first 2 bytes = piece count, third = segment size."""
    if len(data) < 3:
        return
    num_pieces = int.from_bytes(data[:2], "big") + 1
    session = PeerSession(INFOHASH, PEER_ID, num_pieces, reserved=pw.reserved_bytes())
    session.request(0, 0, 16384)
    session.request(0, 16384, 16384)
    for part in chunks(data[3:], data[2:3]):
        session.receive(part)


def _ut_metadata(data: bytes) -> None:
    message = extension.decode_metadata_message(data)
    if message.msg_type == 1:
        MetadataAssembler().add(message)


def _krpc(data: bytes) -> None:
    """The general decoder, and the node's fast path of plain queries checked against it: what the fast path
    accepts, the general decoder must accept as the same query (else an AssertionError, a crash)."""
    payload = data[1:]
    quick = kq.parse_query(bencode.decode_canonical(payload), payload)
    try:
        message = krpc.decode_message(payload, from_v6=bool(data[:1]) and data[0] & 1 == 1)
    except DecodeError:
        assert quick is None, "the KRPC fast path accepted a datagram the decoder refuses"
        raise
    if quick is not None:
        assert isinstance(message, krpc.Query) and message.quirks == ()
        key = message.target if message.method == krpc.FIND_NODE else message.info_hash
        seen = (message.transaction_id, message.method, message.node_id, key, message.want, message.read_only)
        assert quick[:6] == seen, "the KRPC fast path read a query differently"


def _udp_tracker(data: bytes) -> None:
    udp_tracker.parse_response(data[1:], ipv6=bool(data[:1]) and data[0] & 1 == 1)


def _http_scrape(data: bytes) -> None:
    http_tracker.parse_scrape_response(data, [INFOHASH])


def _feed(machine: mse.MseInitiator | mse.MseResponder, data: bytes, sizes: bytes) -> None:
    """The handshake arrives in segments (:func:`chunks`); once it is established, the rest of ``data`` is
    decrypted in one call. Past the handshake nothing is parsed: the stream is RC4 (split-invariant, tested
    in tests/wire/test_mse.py) or plaintext, and cutting it into 1-byte segments cost ~1.5 µs a byte under
    atheris, so inputs libFuzzer had grown to 60 KiB ran at ~10 a second."""
    pos = 0
    for part in chunks(data, sizes):
        if machine.done:
            break
        machine.receive(part)
        pos += len(part)
    if machine.established is not None:
        machine.established.stream.decrypt(data[pos:])


def _responder() -> mse.MseResponder:
    return mse.MseResponder(skeys=[INFOHASH], private_key=XB)


def _mse_responder(data: bytes) -> None:
    """Raw bytes at an inbound MSE listener (Ya, PadA, ...): first byte = segment size."""
    _feed(_responder(), data[1:], data[:1])


def _mse_initiator(data: bytes) -> None:
    """Raw bytes answering our outgoing MSE handshake (Yb, PadB, ENCRYPT(VC ...)); first byte: segments."""
    initiator = mse.MseInitiator(skey=INFOHASH, private_key=XA)
    initiator.start()
    _feed(initiator, data[1:], data[:1])


@cache
def _step3_prefix() -> tuple[bytes, bytes]:
    """(Ya + HASH('req1', S) + HASH('req2', SKEY) xor HASH('req3', S), RC4 key A) for the fixed keys."""
    ya = mc.public_key(XA)
    secret = mc.shared_secret(XA, mc.public_key(XB), "Yb")
    key_a, _ = mc.stream_keys(secret, INFOHASH)
    return ya + mc.req1_hash(secret) + mc.skey_hash(INFOHASH, secret), key_a


def _mse_step3(data: bytes) -> None:
    """A valid step 1 and req1/req2, then ``data`` as the PLAINTEXT of step 3 (VC, crypto_provide, PadC,
    len(IA), IA, stream), encrypted here with the right RC4 key so the fuzzer reaches the inner fields."""
    prefix, key_a = _step3_prefix()
    _feed(_responder(), prefix + Rc4(key_a).process(data[1:]), data[:1])


# --- evidence and files -------------------------------------------------------------------------------


def _capture_body(data: bytes) -> None:
    """``data`` is the bencoded body: wrapped in the capture envelope (zlib + CRC-32) so the decoder's
    field checks, not the CRC, meet the mutations."""
    out = MAGIC + bytes([VERSION]) + zlib.compress(data, 1)
    decode_capture(out + zlib.crc32(out).to_bytes(4, "big"))


def _bundle(data: bytes) -> None:
    """First byte picks a file of the valid bundle (sorted paths); the rest replaces its bytes."""
    if not data:
        return
    files = bundle_files()
    paths = sorted(files)
    verify_bundle({**files, paths[data[0] % len(paths)]: data[1:]})


def _bundle_nodes(data: bytes) -> None:
    """As ``bundle``, on the bundle across two nodes (the top files and every node's files)."""
    if not data:
        return
    files = nodes_bundle_files()
    paths = sorted(files)
    verify_export({**files, paths[data[0] % len(paths)]: data[1:]})


@cache
def _scratch() -> Path:
    """A private directory for the file-reading targets: in memory (/dev/shm) when there is one; removed
    when the process exits."""
    shm = Path("/dev/shm")
    path = Path(tempfile.mkdtemp(prefix="swarmscope-fuzz-", dir=shm if shm.is_dir() else None))
    atexit.register(shutil.rmtree, path, ignore_errors=True)
    return path


def _flag_list(data: bytes) -> None:
    path = _scratch() / "list.txt"
    path.write_bytes(data)
    read_flag_list(path)


def _mmdb(data: bytes) -> None:
    path = _scratch() / "data.mmdb"
    path.write_bytes(data)
    read_mmdb_metadata(path)


def _disclosure_error() -> type[BaseException]:
    from swarmscope.cases.identities import DisclosureError

    return DisclosureError


WIRE = (DecodeError,)
TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target("bencode", _bencode, WIRE),
        Target("metainfo", metainfo.parse_metainfo, WIRE),
        Target("magnet", _magnet, WIRE),
        Target("peer_handshake", pw.decode_handshake, WIRE),
        Target("peer_message", pw.decode_message, WIRE),
        Target("peer_framer", _peer_framer, WIRE),
        Target("peer_session", _peer_session, WIRE),
        Target("ext_handshake", extension.decode_handshake, WIRE),
        Target("ut_metadata", _ut_metadata, WIRE),
        Target("pex", pex.decode_pex, WIRE),
        Target("krpc", _krpc, WIRE),
        Target("udp_tracker", _udp_tracker, WIRE),
        Target("http_announce", http_tracker.parse_announce_response, WIRE),
        Target("http_scrape", _http_scrape, WIRE),
        Target("mse_responder", _mse_responder, WIRE),
        Target("mse_initiator", _mse_initiator, WIRE),
        Target("mse_step3", _mse_step3, WIRE),
        Target("client_id", sp.client_id_target, ()),
        Target("mse_classify", sp.mse_classify_target, ()),
        Target("ntp_reply", sp.ntp_reply_target, ()),
        Target("dht_bloom", sp.dht_bloom_target, ()),
        Target("http_body", sp.http_body_target, ()),
        Target("capture", decode_capture, WIRE),
        Target("capture_body", _capture_body, WIRE),
        Target("bundle", _bundle, ()),
        Target("bundle_nodes", _bundle_nodes, ()),
        Target("bundle_manifest", bs.manifest_stage, ()),
        Target("bundle_ledger", bs.ledger_stage, ()),
        Target("bundle_chain", bs.chain_stage, ()),
        Target("bundle_batches", bs.batches_stage, ()),
        Target("bundle_record", record_from_canonical, WIRE),
        *(Target(name, stage, ()) for name, stage in NODES_STAGES.items()),
        Target("disclosure_csv", parse_disclosure, (_disclosure_error(),)),
        Target("flag_list", _flag_list, (InputError,)),
        Target("mmdb", _mmdb, (InputError,)),
    )
}

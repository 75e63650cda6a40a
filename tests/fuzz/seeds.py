"""Valid inputs for every fuzz target, made by the project's own encoders or taken from its fixtures.

Both runners start from these: hypothesis mutates them (tests/fuzz/test_fuzz_targets.py), atheris writes
them into each target's corpus before fuzzing (tests/fuzz/run.py). Committed crashers
(tests/fuzz/vectors/<target>/) are added on top by :func:`seeds_for`.
"""

from __future__ import annotations

import os
import struct
import zlib
from collections.abc import Callable
from functools import cache
from pathlib import Path

from swarmscope.evidence.capture.format import MAGIC
from swarmscope.wire import bencode, extension, krpc, mse, pex
from swarmscope.wire import mse_cipher as mc
from swarmscope.wire import peer as pw
from swarmscope.wire.types import Endpoint
from tests.fuzz import small_parsers
from tests.fuzz.bundle_stages import STAGE_NAMES, bundle_files, stage_seeds
from tests.fuzz.nodes_stages import NODES_STAGES, nodes_bundle_files, nodes_stage_seeds
from tests.fuzz.targets import INFOHASH, PEER_ID, XA, XB

VECTORS = Path(__file__).parent / "vectors"
# ../shared beside the project, or $SWARMSCOPE_SHARED (as tests/conftest.py); absent: own encodings only
TORRENTS = Path(os.environ.get("SWARMSCOPE_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
TORRENTS = TORRENTS / "fixtures" / "torrents"

V1_INFO = {b"name": b"a.bin", b"piece length": 16384, b"length": 20000, b"pieces": bytes(40)}
V2_TREE = {b"a.bin": {b"": {b"length": 20000, b"pieces root": bytes(32)}}}
V2_INFO = {b"name": b"a.bin", b"piece length": 16384, b"meta version": 2, b"file tree": V2_TREE}
HYBRID_INFO = {**V1_INFO, **V2_INFO}
PEERS = [Endpoint("10.0.0.1", 6881), Endpoint("10.0.0.2", 51413)]
PEERS6 = [Endpoint("2001:db8::1", 6881)]


def _torrents() -> list[bytes]:
    own = [
        bencode.encode({b"announce": b"http://127.0.0.1/a", b"info": info})
        for info in (V1_INFO, V2_INFO, HYBRID_INFO)
    ]
    files = sorted(TORRENTS.rglob("*.torrent"))[:40] if TORRENTS.is_dir() else []
    return own + [p.read_bytes() for p in files]


def _messages() -> list[bytes]:
    bodies = [
        pw.encode_message(pw.Simple(pw.UNCHOKE)),
        pw.encode_message(pw.Have(pw.HAVE, 3)),
        pw.encode_message(pw.Bitfield(b"\xff\x80")),
        pw.encode_request(0, 0, 16384),
        pw.encode_reject(0, 0, 16384),
        pw.encode_message(pw.Piece(0, 0, b"x" * 64)),
        pw.encode_message(pw.Extended(0, extension.encode_handshake({"ut_metadata": 3}, metadata_size=5))),
        pw.encode_message(pw.Simple(pw.HAVE_ALL)),
        pw.encode_message(pw.Port(6881)),
        bytes(4),
    ]
    return bodies


def _handshake() -> bytes:
    return pw.Handshake(pw.reserved_bytes(), INFOHASH, PEER_ID).encode()


def _ext_handshakes() -> list[bytes]:
    return [
        extension.encode_handshake({"ut_metadata": 3, "ut_pex": 1}, v=b"qB 4.6", reqq=250, metadata_size=99),
        extension.encode_handshake({}, yourip=bytes([127, 0, 0, 1])),
    ]


def _ut_metadata() -> list[bytes]:
    return [
        extension.encode_metadata_request(0),
        extension.encode_metadata_reject(1),
        extension.encode_metadata_data(0, 20, b"d4:name3:abce" + bytes(7)),
    ]


def _krpc() -> list[bytes]:
    nodes = bytes(26 * 2)
    return [
        b"\x00" + krpc.encode_message(krpc.Query(b"aa", b"get_peers", bytes(20), info_hash=INFOHASH)),
        b"\x00" + krpc.encode_message(krpc.Query(b"ab", b"find_node", bytes(20), target=INFOHASH)),
        b"\x00"
        + bencode.encode(
            {
                b"t": b"aa",
                b"y": b"r",
                b"r": {b"id": bytes(20), b"nodes": nodes, b"values": [bytes(6)], b"token": b"tok"},
            }
        ),
        b"\x01" + bencode.encode({b"t": b"aa", b"y": b"r", b"r": {b"id": bytes(20), b"values": [bytes(18)]}}),
        b"\x00" + bencode.encode({b"t": b"aa", b"y": b"e", b"e": [201, b"Generic Error"]}),
    ]


def _udp() -> list[bytes]:
    return [
        b"\x00" + struct.pack(">IIQ", 0, 7, 0x41727101980),
        b"\x00" + struct.pack(">IIIII", 1, 7, 1800, 3, 9) + bytes([10, 0, 0, 1, 0x1A, 0xE1]),
        b"\x01" + struct.pack(">IIIII", 1, 7, 1800, 3, 9) + bytes(18),
        b"\x00" + struct.pack(">II", 2, 7) + struct.pack(">III", 5, 100, 2),
        b"\x00" + struct.pack(">II", 3, 7) + b"torrent not registered\x00",
    ]


def _http() -> list[bytes]:
    compact = bytes([10, 0, 0, 1, 0x1A, 0xE1])
    return [
        bencode.encode({b"interval": 1800, b"peers": compact, b"peers6": bytes(18), b"complete": 3}),
        bencode.encode(
            {b"interval": 900, b"peers": [{b"ip": b"10.0.0.1", b"port": 6881, b"peer id": PEER_ID}]}
        ),
        bencode.encode({b"failure reason": b"unregistered torrent"}),
        bencode.encode({b"files": {INFOHASH: {b"complete": 5, b"incomplete": 1, b"downloaded": 9}}}),
    ]


def _mse_transcript() -> tuple[bytes, bytes]:
    """(bytes the responder receives, bytes the initiator receives) of a complete handshake + payload."""
    a = mse.MseInitiator(skey=INFOHASH, private_key=XA, initial_payload=_handshake())
    b = mse.MseResponder(skeys=[INFOHASH], private_key=XB)
    to_b = a.start()
    to_a = b.receive(to_b)
    step3 = a.receive(to_a)
    step4 = b.receive(step3)
    a.receive(step4)
    return to_b + step3, to_a + step4


def _mse_step3_plain() -> bytes:
    provide = mc.CRYPTO_METHODS.to_bytes(4, "big")
    ia = _handshake()
    return mc.VC + provide + (0).to_bytes(2, "big") + len(ia).to_bytes(2, "big") + ia


def _captures() -> list[bytes]:
    return [v for k, v in sorted(bundle_files().items()) if k.startswith("captures/")]


def _capture_bodies() -> list[bytes]:
    return [zlib.decompress(c[len(MAGIC) + 1 : -4]) for c in _captures()]


def _bundle() -> list[bytes]:
    return [bytes([i]) + data for i, (_, data) in enumerate(sorted(bundle_files().items()))]


def _bundle_nodes() -> list[bytes]:
    paths = sorted(nodes_bundle_files())
    picked = [
        n for n, path in enumerate(paths) if not path.startswith(("nodes/", "keys/")) or "/records/" in path
    ]
    return [bytes([n]) + nodes_bundle_files()[paths[n]] for n in picked]


def _csv() -> list[bytes]:
    return [
        b"ip,start,end,name,postal_address,email,port\r\n"
        b"10.0.0.1,2026-01-01T00:00:00Z,2026-01-02T00:00:00+00:00,Jo Doe,"
        b'"1 Road\r\nTown",jo@example.org,6881\r\n',
        b"\xef\xbb\xbfip,start,end,name,postal_address\n"
        b"2001:db8::1,2026-01-01T00:00:00Z,2026-01-01T01:00:00Z,A,B\n",
    ]


def _mmdb() -> list[bytes]:
    import tempfile

    from swarmscope.testbed.mmdb import build_mmdb

    with tempfile.TemporaryDirectory() as tmp:
        return [build_mmdb(Path(tmp) / "asn.mmdb", "GeoLite2-ASN").read_bytes()]


def _mse_pair() -> list[bytes]:
    to_b, to_a = _mse_transcript()
    return [b"\x00" + to_b, b"\x07" + to_b, b"\x00" + to_a, b"\x07" + to_a]


_SEEDS: dict[str, Callable[[], list[bytes]]] = {
    "bencode": lambda: [bencode.encode({b"a": [1, b"xy", {b"b": -3}]}), *_torrents()[:3]],
    "metainfo": _torrents,
    "magnet": lambda: [
        b"magnet:?xt=urn:btih:" + INFOHASH.hex().encode() + b"&dn=a&tr=udp%3A%2F%2F127.0.0.1%3A6969",
        b"magnet:?xt=urn:btmh:1220" + bytes(32).hex().encode() + b"&x.pe=127.0.0.1:6881",
    ],
    "peer_handshake": lambda: [_handshake()],
    "peer_message": lambda: [m[4:] for m in _messages()],
    "peer_framer": lambda: [b"\x00" + b"".join(_messages()), b"\x05" + b"".join(_messages())],
    "peer_session": lambda: [
        b"\x00\x0f\xff" + _handshake() + b"".join(_messages()),
        b"\x00\x0f\x03" + _handshake() + b"".join(_messages()),
    ],
    "ext_handshake": _ext_handshakes,
    "ut_metadata": _ut_metadata,
    "pex": lambda: [pex.encode_pex(PEERS, [1, 2], PEERS6, [0], PEERS[:1], PEERS6)],
    "krpc": _krpc,
    "udp_tracker": _udp,
    "http_announce": _http,
    "http_scrape": _http,
    "mse_responder": lambda: _mse_pair()[:2],
    "mse_initiator": lambda: _mse_pair()[2:],
    "mse_step3": lambda: [b"\xff" + _mse_step3_plain() + pw.encode_message(pw.Simple(pw.UNCHOKE))],
    **{
        name: (lambda name=name: small_parsers.seeds()[name])
        for name in ("client_id", "mse_classify", "ntp_reply", "dht_bloom", "http_body")
    },
    "capture": _captures,
    "capture_body": _capture_bodies,
    "bundle": _bundle,
    "bundle_nodes": _bundle_nodes,
    **{name: (lambda name=name: stage_seeds()[name]) for name in STAGE_NAMES},
    **{name: (lambda name=name: nodes_stage_seeds()[name]) for name in NODES_STAGES},
    "disclosure_csv": _csv,
    "flag_list": lambda: [b"# hosting\n10.0.0.0/8\n192.0.2.7\n2001:db8::/32  # doc\n"],
    "mmdb": _mmdb,
}


def vectors_for(name: str) -> list[Path]:
    """Committed regression inputs of one target (files under tests/fuzz/vectors/<name>/, not README)."""
    folder = VECTORS / name
    return sorted(p for p in folder.glob("*") if p.is_file() and p.suffix != ".md") if folder.is_dir() else []


@cache
def seeds_for(name: str) -> tuple[bytes, ...]:
    """Seed inputs of one target: valid encodings, then every committed regression vector."""
    return tuple(_SEEDS[name]()) + tuple(p.read_bytes() for p in vectors_for(name))

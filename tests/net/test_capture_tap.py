"""Wire captures of probes of real libtorrent 2.1.1 peers (private netns), replayed to the same record.

Outgoing probes in plaintext and with forced encryption (libtorrent ``pe_forced``/``pe_rc4``, as in
test_mse_real), inbound probes through the listener in plaintext and MSE. Every capture is replayed through
the pure run and must give the canonical bytes of the live observation; a flipped byte must not replay.
Prints the capture size per verified peer (informational, not asserted beyond a generous bound).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import cast

import pytest

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.capture.format import CaptureHeader, EventKind
from swarmscope.evidence.capture.recording import Capture, ReplayError, replay
from swarmscope.evidence.probe.metadata_fetch import MetadataFetch, MetadataOutcome, MetadataPolicy
from swarmscope.evidence.probe.pieces import MetainfoPieces
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Failure, Observation, Source, Tier
from swarmscope.net.capture_tap import CaptureTap, TappedRun
from swarmscope.net.clock import Clock
from swarmscope.net.listener import PeerListener
from swarmscope.net.mse_conn import EncryptionPolicy, probe_with_encryption
from swarmscope.net.peer_conn import probe
from swarmscope.wire import bencode
from swarmscope.wire.metainfo import Metainfo, parse_metainfo
from tests.net.lt_seed import make_torrent, seed
from tests.net.probe_runs import TEST_POLICY, probe_run
from tests.net.test_listener import FORCED as FORCED_INBOUND
from tests.net.test_listener import PLAIN, Harness, dialling_seed, serve
from tests.net.test_mse_real import FORCED

pytestmark = pytest.mark.realclients

PEER_ID = b"-SS0100-capturecaptu"


def new_run(meta: Metainfo, ip: str, port: int, *, seed_: int = 0) -> ProbeRun:
    return probe_run(
        meta,
        ip,
        port,
        peer_id=PEER_ID,
        source=Source.TRACKER.value,
        policy=replace(TEST_POLICY, pex_wait=0.5),
        piece_seed=seed_,
        extension_handshake=bencode.encode({b"m": {b"ut_pex": 1}, b"v": b"swarmscope/0.1.0"}),
        pex_id=1,
    )


def assert_replays(meta: Metainfo, obs: Observation, cap: Capture) -> None:
    """Replay equals the live record; every flipped byte (sampled) is refused."""
    assert obs.capture_sha256 == cap.sha256
    again = replay(cap.data, MetainfoPieces(meta), cap.blobs.get)
    assert canonical_bytes(again) == canonical_bytes(obs)
    for i in range(0, len(cap.data), max(1, len(cap.data) // 200)):
        bad = bytearray(cap.data)
        bad[i] ^= 0x80
        with pytest.raises((DecodeError, ReplayError)):
            replay(bytes(bad), MetainfoPieces(meta), cap.blobs.get)


def test_outgoing_plaintext_and_encrypted_probes_replay(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    clock = Clock()
    tap = CaptureTap(clock)
    with seed(torrent, tmp_path, "127.0.9.1", 6881):
        plain = asyncio.run(probe(new_run(meta, "127.0.9.1", 6881, seed_=4), clock=clock, tap=tap))
    with seed(torrent, tmp_path, "127.0.9.2", 6881, **FORCED):
        enc = asyncio.run(
            probe_with_encryption(
                lambda: new_run(meta, "127.0.9.2", 6881, seed_=4),
                EncryptionPolicy.REQUIRE,
                clock=clock,
                tap=tap,
            )
        )[-1]
    assert plain.tier is Tier.VERIFIED and not plain.encrypted, plain
    assert enc.tier is Tier.VERIFIED and enc.encrypted, enc
    cap_plain, cap_enc = tap.captures
    assert_replays(meta, plain, cap_plain)
    assert_replays(meta, enc, cap_enc)
    assert cap_plain.blobs and not cap_enc.blobs  # plaintext blocks lifted out; MSE ciphertext verbatim
    blob_bytes = sum(map(len, cap_plain.blobs.values()))
    print(f"\ncapture bytes per verified peer: plaintext {len(cap_plain.data)} (+{blob_bytes} B of blobs)")
    print(f"capture bytes per verified peer: MSE {len(cap_enc.data)} (ciphertext verbatim)")
    assert len(cap_plain.data) < 4096


def test_refused_connection_is_captured_and_replays(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    tap = CaptureTap(Clock())
    obs = asyncio.run(probe(new_run(meta, "127.0.9.3", 6881), clock=Clock(), tap=tap))
    assert obs.failure == Failure.CONNECT_REFUSED.value
    assert_replays(meta, obs, tap.captures[0])


def test_inbound_plaintext_and_mse_runs_replay(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    results: list[tuple[Observation, Capture, ProbeRun]] = []
    for ip, settings, encryption in (
        ("127.0.9.4", PLAIN, "prefer"),
        ("127.0.9.5", FORCED_INBOUND, "require"),
    ):
        caps: list[Capture] = []
        tap = CaptureTap(Clock(), caps.append)
        h = Harness(meta, encryption=encryption, tap=tap)
        with dialling_seed(torrent, tmp_path, ip, 6881, **settings) as handle:

            async def body(lst: PeerListener, handle: object = handle, h: Harness = h) -> None:
                handle.connect_peer(lst.address)  # type: ignore[attr-defined]
                await h.until(lambda: bool(h.done))

            serve(h, body)
        ((run, obs),) = h.done
        assert isinstance(run, ProbeRun) and not isinstance(run, TappedRun)  # on_done gets the inner run
        results.append((obs, caps[0], run))
    (plain, cap_plain, _), (enc, cap_enc, _) = results
    assert plain.tier is Tier.VERIFIED and not plain.encrypted, plain
    assert enc.tier is Tier.VERIFIED and enc.encrypted, enc
    assert_replays(meta, plain, cap_plain)
    assert_replays(meta, enc, cap_enc)
    doc = decode_capture(cap_enc.data)
    assert isinstance(doc.header, CaptureHeader)
    assert doc.header.mse_responder is not None and doc.header.inbound is False  # accepted() sets inbound
    kinds = [e.kind for e in doc.events]
    first_run_call = kinds.index(EventKind.ACCEPTED)
    assert kinds[first_run_call + 1] is EventKind.PAYLOAD and first_run_call >= 1
    assert sum(doc.received_lengths[:first_run_call]) >= 96 + 20 + 20  # Ya + the hashes: raw MSE bytes
    assert cap_plain.blobs and not cap_enc.blobs
    print(
        f"\ninbound capture bytes per verified peer: plaintext {len(cap_plain.data)}, MSE {len(cap_enc.data)}"
    )


def new_fetch(meta: Metainfo, ip: str) -> MetadataFetch:
    return MetadataFetch(
        swarm=meta.swarm_id.hex,
        v1=meta.wire_infohash,
        v2=None,
        peer_id=PEER_ID,
        ip=ip,
        port=6881,
        source=Source.DHT.value,
        started_us=Clock().now_us(),
        policy=MetadataPolicy(handshake_timeout=10.0, ext_timeout=5.0),
        client=b"swarmscope/0.1.0",
    )


def test_metadata_fetches_plaintext_and_encrypted_replay(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    tap = CaptureTap(Clock())
    fetches: list[MetadataFetch] = []

    def factory(ip: str) -> Callable[[], ProbeRun]:
        def make() -> ProbeRun:
            fetches.append(new_fetch(meta, ip))
            return cast(ProbeRun, fetches[-1])  # the driver only needs the ProbeDriven interface

        return make

    with seed(torrent, tmp_path, "127.0.9.6", 6881):
        plain = asyncio.run(
            probe_with_encryption(factory("127.0.9.6"), EncryptionPolicy.DISABLE, clock=Clock(), tap=tap)
        )
    with seed(torrent, tmp_path, "127.0.9.7", 6881, **FORCED):
        enc = asyncio.run(
            probe_with_encryption(factory("127.0.9.7"), EncryptionPolicy.REQUIRE, clock=Clock(), tap=tap)
        )
    assert [f.outcome for f in fetches] == [MetadataOutcome.VERIFIED] * 2
    assert enc[-1].encrypted and not plain[-1].encrypted
    for obs, cap in zip((plain[-1], enc[-1]), tap.captures, strict=True):
        assert obs.capture_sha256 == cap.sha256
        again = replay(cap.data, None, cap.blobs.get)
        assert canonical_bytes(again) == canonical_bytes(obs)

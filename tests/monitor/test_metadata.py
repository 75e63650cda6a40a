"""Magnet → metadata from a REAL libtorrent 2.1.1 seed on loopback (v1, hybrid via btih / btmh / both).

No tracker: the seed's address is the only lead. The resulting Metainfo's infohashes must equal the ones
libtorrent computed for the torrent it seeds. A scripted liar on loopback serves metadata that does not hash
to the infohash and must be recorded as such, never accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from swarmscope.evidence.probe.metadata_fetch import MISMATCH_DETAIL, MetadataPolicy
from swarmscope.evidence.records import Failure, Tier
from swarmscope.monitor.metadata import (
    dht_candidates,
    fetch_metadata,
    metainfo_from_info,
    tracker_candidates,
)
from swarmscope.net.clock import Clock
from swarmscope.net.dht_node import DhtNode
from swarmscope.net.mse_conn import EncryptionPolicy
from swarmscope.net.tracker_client import TrackerClient
from swarmscope.wire.magnet import parse_magnet
from tests.evidence.test_metadata_fetch import INFO, V1, MetadataPeer
from tests.net.lt_seed import lt, seed, session
from tests.net.opentracker import free_port, start_opentracker

pytestmark = pytest.mark.realclients

OUR_ID = b"-SS0100-metadatatest"
PIECE = 16 * 1024


def make_torrent(workdir: Path, *, pieces: int, hybrid: bool) -> Path:
    """Content of ``pieces`` 16 KiB pieces in two files, and a v1-only or hybrid .torrent for it."""
    content = workdir / "content"
    content.mkdir()
    block = bytes(range(256)) * (PIECE // 256)
    (content / "a.bin").write_bytes(b"".join(i.to_bytes(4, "big") + block[4:] for i in range(pieces - 1)))
    (content / "b.txt").write_bytes(b"tail " * 300)
    flags = 0 if hybrid else lt.create_torrent.v1_only
    ct = lt.create_torrent(lt.list_files(str(content)), PIECE, flags=flags)
    lt.set_piece_hashes(ct, str(workdir))
    path = workdir / "content.torrent"
    path.write_bytes(lt.bencode(ct.generate()))
    return path


def hashes(handle: Any) -> tuple[bytes | None, bytes | None]:
    ih = handle.info_hashes()
    return (ih.v1.to_bytes() if ih.has_v1() else None, ih.v2.to_bytes() if ih.has_v2() else None)


def fetch(magnet_uri: str, candidates: Any, **kw: Any) -> Any:
    return asyncio.run(
        fetch_metadata(
            parse_magnet(magnet_uri), candidates, clock=Clock(), peer_id=OUR_ID, bind_ip="127.0.0.1", **kw
        )
    )


def test_v1_magnet_from_a_real_seed_multi_piece_metadata(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path, pieces=1500, hybrid=False)  # 30 kB of piece hashes: 2 metadata pieces
    with seed(torrent, tmp_path, "127.0.4.1", 6881) as handle:
        v1, v2 = hashes(handle)
        assert v1 is not None and v2 is None
        out = fetch(f"magnet:?xt=urn:btih:{v1.hex()}&tr=http://127.0.0.1:1/announce", [("127.0.4.1", 6881)])
    assert out.info is not None and len(out.info) > 16 * 1024
    assert out.meta is not None and out.meta.v1 is not None and out.meta.v1.raw == v1 and out.meta.v2 is None
    assert out.meta.info_raw == out.info and out.meta.num_pieces == 1500
    assert out.meta.trackers == (("http://127.0.0.1:1/announce",),)
    assert out.served_by == ("127.0.4.1", 6881)
    (obs,) = out.observations
    assert obs.tier is Tier.CONNECTED and obs.failure is None and obs.client == "libtorrent"
    assert obs.extension is not None and obs.extension.metadata_size == len(out.info)
    assert obs.bytes_received == len(out.info) and obs.payload_bytes_sent == 0
    assert lt.torrent_info(str(torrent)).info_section() == out.info


@pytest.mark.parametrize("which", ["hybrid", "btih-only", "btmh-only"])
def test_hybrid_torrent_from_a_real_seed(tmp_path: Path, netns: bool, which: str) -> None:
    torrent = make_torrent(tmp_path, pieces=40, hybrid=True)
    with seed(torrent, tmp_path, "127.0.4.2", 6881) as handle:
        v1, v2 = hashes(handle)
        assert v1 is not None and v2 is not None
        xt = {
            "hybrid": f"xt=urn:btih:{v1.hex()}&xt=urn:btmh:1220{v2.hex()}",
            "btih-only": f"xt=urn:btih:{v1.hex()}",
            "btmh-only": f"xt=urn:btmh:1220{v2.hex()}",  # handshake with the truncated v2 hash (BEP 52)
        }[which]
        out = fetch(f"magnet:?{xt}&x.pe=127.0.4.2:6881", [])
    assert out.meta is not None, out.observations
    assert out.meta.version == "hybrid"
    assert out.meta.v1 is not None and out.meta.v1.raw == v1
    assert out.meta.v2 is not None and out.meta.v2.raw == v2
    assert out.served_by == ("127.0.4.2", 6881)


async def _liar_server(host: str, port: int, peer: MetadataPeer) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(peer.opening())
        try:
            for _ in range(200):
                data = await asyncio.wait_for(reader.read(65536), 10)
                if not data:
                    break
                writer.write(peer.feed(data))
                await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)


async def _lead(cands: list[tuple[str, int]]) -> AsyncIterator[tuple[str, int]]:
    for cand in cands:
        await asyncio.sleep(0)
        yield cand


def test_liar_refused_and_wrong_swarm_are_recorded_and_the_real_seed_wins(
    tmp_path: Path, netns: bool
) -> None:
    torrent = make_torrent(tmp_path, pieces=30, hybrid=False)
    lie = INFO.replace(b"x.bin", b"y.bin")
    with seed(torrent, tmp_path, "127.0.4.3", 6881) as handle:
        v1, _ = hashes(handle)
        assert v1 is not None

        async def scenario() -> Any:
            liar = await _liar_server("127.0.4.4", 6881, MetadataPeer(info=lie, infohash=v1))
            other = await _liar_server("127.0.4.5", 6881, MetadataPeer(infohash=V1))  # another swarm
            try:
                leads = [("127.0.4.4", 6881), ("127.0.4.6", 6881), ("127.0.4.5", 6881), ("127.0.4.3", 6881)]
                return await fetch_metadata(
                    parse_magnet(f"magnet:?xt=urn:btih:{v1.hex()}"),
                    _lead(leads),
                    clock=Clock(),
                    peer_id=OUR_ID,
                    parallel=1,
                    timeout=60,
                )
            finally:
                for server in (liar, other):
                    server.close()
                    with contextlib.suppress(Exception):
                        await server.wait_closed()

        out = asyncio.run(scenario())
    assert out.meta is not None and out.meta.v1 is not None and out.meta.v1.raw == v1
    assert out.served_by == ("127.0.4.3", 6881)
    by_ip = {o.ip: o for o in out.observations}
    assert by_ip["127.0.4.4"].failure == Failure.METADATA_MISMATCH.value
    assert (by_ip["127.0.4.4"].failure_detail or "").startswith(MISMATCH_DETAIL)
    assert by_ip["127.0.4.4"].tier is Tier.CONNECTED
    assert by_ip["127.0.4.6"].failure == Failure.CONNECT_REFUSED.value
    assert by_ip["127.0.4.5"].failure == Failure.INFOHASH_MISMATCH.value
    assert by_ip["127.0.4.3"].failure is None


def test_real_peer_without_metadata_rejects_then_the_seed_serves(tmp_path: Path, netns: bool) -> None:
    """PW-12 with real software: a libtorrent peer added by magnet has no metadata yet; it offers
    ut_metadata without metadata_size and rejects our requests. Rejects are retried, then it is given up."""
    torrent = make_torrent(tmp_path, pieces=30, hybrid=False)
    with seed(torrent, tmp_path, "127.0.4.10", 6881) as handle:
        v1, _ = hashes(handle)
        assert v1 is not None
        uri = f"magnet:?xt=urn:btih:{v1.hex()}"
        empty = session("127.0.4.11", 6881)
        try:
            params = lt.parse_magnet_uri(uri)
            params.save_path = str(tmp_path / "empty")
            # not paused, not auto-managed: else it refuses peers ("no active torrents") until a queue tick
            params.flags &= ~(lt.torrent_flags.paused | lt.torrent_flags.auto_managed)
            handle_empty = empty.add_torrent(params)
            deadline = time.monotonic() + 15
            while str(handle_empty.status().state) != "downloading_metadata" and time.monotonic() < deadline:
                time.sleep(0.05)
            policy = MetadataPolicy(reject_backoff=0.2, max_rejects=3)
            cands = [("127.0.4.11", 6881), ("127.0.4.10", 6881)]
            out = fetch(uri, cands, parallel=1, policy=policy, timeout=60)
        finally:
            del empty
    first, second = out.observations
    assert first.ip == "127.0.4.11" and first.failure == Failure.REJECTED.value, first
    assert first.tier is Tier.CONNECTED and first.extension is not None
    assert "ut_metadata" in first.extension.m and first.extension.metadata_size is None
    assert any("PW-12" in q for q in first.quirks)
    assert second.failure is None and out.served_by == ("127.0.4.10", 6881)
    assert out.meta is not None and out.meta.v1 is not None and out.meta.v1.raw == v1


def test_a_failing_candidate_source_ends_the_leads_then_propagates(netns: bool) -> None:
    async def leads() -> AsyncIterator[tuple[str, int]]:
        yield ("127.0.4.12", 6881)
        raise RuntimeError("DHT lookup broke")

    with pytest.raises(RuntimeError, match="DHT lookup broke"):
        fetch(f"magnet:?xt=urn:btih:{V1.hex()}", leads(), timeout=20)


DHT_SETTINGS = {
    "enable_dht": True,
    "dht_bootstrap_nodes": "127.0.4.20:6881",  # our own node: the only DHT node the seed knows
    "dht_restrict_routing_ips": False,
    "dht_restrict_search_ips": False,
    "dht_enforce_node_id": False,
    "dht_prefer_verified_node_ids": False,
    "dht_ignore_dark_internet": False,
    "dht_announce_interval": 5,
}


def test_v2_magnet_with_no_tracker_found_through_the_dht(tmp_path: Path, netns: bool) -> None:
    """No tracker, no x.pe: the seed announces to the DHT; our node's get_peers leads to it (BEP 5, 52)."""
    torrent = make_torrent(tmp_path, pieces=40, hybrid=True)

    async def scenario() -> tuple[Any, bytes, bytes]:
        stack = contextlib.ExitStack()
        first = DhtNode(bind=("127.0.4.20", 6881), query_timeout=1.0)
        await first.start()
        ours: DhtNode | None = None
        try:
            handle = await asyncio.to_thread(
                stack.enter_context, seed(torrent, tmp_path, "127.0.4.21", 6881, **DHT_SETTINGS)
            )
            v1, v2 = hashes(handle)
            assert v1 is not None and v2 is not None
            for _ in range(600):  # ≤ 60 s for libtorrent's announce_peer to land on our node
                if first.stats["announces_stored"]:
                    break
                await asyncio.sleep(0.1)
            ours = DhtNode(bind=("127.0.4.22", 0), bootstrap=[first.address], query_timeout=1.0)
            await ours.start()
            magnet = parse_magnet(f"magnet:?xt=urn:btmh:1220{v2.hex()}")
            out = await fetch_metadata(
                magnet, dht_candidates(ours, magnet, lookups=3, interval=2.0),
                clock=Clock(), peer_id=OUR_ID, timeout=60,
            )  # fmt: skip
            return out, v1, v2
        finally:
            if ours is not None:
                ours.stop()
            first.stop()
            await asyncio.to_thread(stack.close)

    out, v1, v2 = asyncio.run(scenario())
    assert out.served_by == ("127.0.4.21", 6881), out.observations
    assert out.meta is not None and out.meta.v2 is not None and out.meta.v2.raw == v2
    assert out.meta.v1 is not None and out.meta.v1.raw == v1
    assert out.observations[-1].infohash == v2.hex()


def test_magnet_trackers_lead_to_the_seed(tmp_path: Path, netns: bool) -> None:
    """tracker_candidates: one announce to each ``tr`` of the magnet (real opentracker), peers → fetch."""
    torrent = make_torrent(tmp_path, pieces=30, hybrid=False)
    v1 = lt.torrent_info(str(torrent)).info_hashes().v1.to_bytes()
    (tmp_path / "ot").mkdir()
    tracker = start_opentracker(tmp_path / "ot", [v1.hex()], free_port())
    try:
        with seed(torrent, tmp_path, "127.0.4.31", 6881) as handle:
            handle.add_tracker({"url": tracker.http_url})
            handle.force_reannounce()
            magnet = parse_magnet(f"magnet:?xt=urn:btih:{v1.hex()}&tr={tracker.http_url}")

            async def scenario() -> Any:
                client = TrackerClient(OUR_ID, bind_ip="127.0.4.30", timeout=10)
                try:
                    for _ in range(100):  # ≤ ~10 s until the seed's own announce is in
                        if [c async for c in tracker_candidates(client, magnet, port=6881)]:
                            break
                        await asyncio.sleep(0.1)
                    leads = tracker_candidates(client, magnet, port=6881)
                    return await fetch_metadata(magnet, leads, clock=Clock(), peer_id=OUR_ID, timeout=60)
                finally:
                    await client.aclose()

            out = asyncio.run(scenario())
    finally:
        tracker.stop()
    assert out.served_by == ("127.0.4.31", 6881), out.observations
    assert out.meta is not None and out.meta.v1 is not None and out.meta.v1.raw == v1
    assert out.meta.trackers == ((tracker.http_url,),)


FORCED_ENCRYPTION = {
    "out_enc_policy": int(lt.enc_policy.pe_forced),
    "in_enc_policy": int(lt.enc_policy.pe_forced),
    "allowed_enc_level": int(lt.enc_level.pe_rc4),
}


def test_encryption_only_seed_serves_metadata_over_mse(tmp_path: Path, netns: bool) -> None:
    """A libtorrent seed that accepts only MSE/PE: plaintext fails, PREFER/REQUIRE fetch over RC4."""
    torrent = make_torrent(tmp_path, pieces=30, hybrid=True)
    with seed(torrent, tmp_path, "127.0.4.40", 6881, **FORCED_ENCRYPTION) as handle:
        v1, v2 = hashes(handle)
        assert v1 is not None and v2 is not None
        uri = f"magnet:?xt=urn:btih:{v1.hex()}&xt=urn:btmh:1220{v2.hex()}"
        cands = [("127.0.4.40", 6881)]
        plain = fetch(uri, cands, encryption=EncryptionPolicy.DISABLE, timeout=30)
        prefer = fetch(uri, cands, encryption=EncryptionPolicy.PREFER, timeout=30)
        allow = fetch(uri, cands, encryption=EncryptionPolicy.ALLOW, timeout=30)
    assert plain.info is None and plain.observations[0].tier is Tier.LISTED
    for out in (prefer, allow):
        assert out.meta is not None and out.meta.v1 is not None and out.meta.v1.raw == v1
        assert out.meta.v2 is not None and out.meta.v2.raw == v2
        assert out.observations[-1].encrypted and out.observations[-1].failure is None
    assert len(allow.observations) == 2 and not allow.observations[0].encrypted  # plaintext tried first


def test_no_peer_serves_the_metadata(tmp_path: Path, netns: bool) -> None:
    magnet = f"magnet:?xt=urn:btih:{V1.hex()}"
    out = fetch(magnet, [("127.0.4.7", 6881), ("127.0.4.8", 6881)], timeout=20)
    assert out.info is None and out.meta is None and out.served_by is None
    assert sorted(o.ip for o in out.observations) == ["127.0.4.7", "127.0.4.8"]
    assert {o.failure for o in out.observations} == {Failure.CONNECT_REFUSED.value}


def test_overall_timeout_stops_running_fetches(netns: bool) -> None:
    async def scenario() -> Any:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                await reader.read(1 << 16)
                await asyncio.sleep(30)
            writer.close()

        server = await asyncio.start_server(silent, "127.0.4.9", 6881)
        try:
            return await fetch_metadata(
                parse_magnet(f"magnet:?xt=urn:btih:{V1.hex()}"),
                [("127.0.4.9", 6881)],
                clock=Clock(),
                peer_id=OUR_ID,
                timeout=1.0,
            )
        finally:
            server.close()

    out = asyncio.run(scenario())
    (obs,) = out.observations
    assert out.info is None and obs.failure == Failure.DEADLINE.value and obs.tier is Tier.LISTED


def test_metainfo_from_info_keeps_the_raw_span() -> None:
    meta = metainfo_from_info(INFO, ["http://127.0.0.1:1/a", "udp://127.0.0.1:2", "http://127.0.0.1:1/a"])
    assert meta.info_raw == INFO and meta.v1 is not None and meta.v1.raw == V1
    assert meta.trackers == (("http://127.0.0.1:1/a",), ("udp://127.0.0.1:2",))
    assert metainfo_from_info(INFO).trackers == ()

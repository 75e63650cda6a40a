"""The asyncio probe driver against a real libtorrent 2.1.1 seed on loopback (private netns)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from swarmscope.evidence.probe.policy import Depth, ProbePolicy
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Failure, Tier
from swarmscope.net.clock import Clock
from swarmscope.net.peer_conn import probe
from swarmscope.wire.metainfo import Metainfo, parse_metainfo
from tests.net.lt_seed import make_torrent, seed
from tests.net.probe_runs import probe_run

pytestmark = pytest.mark.realclients


def new_run(meta: Metainfo, ip: str, port: int, depth: Depth = Depth.VERIFIED, seed_: int = 0) -> ProbeRun:
    return probe_run(
        meta,
        ip,
        port,
        peer_id=b"-SS0100-testtesttest",
        policy=ProbePolicy(depth=depth, claims_wait=1.0, unchoke_timeout=5.0),
        piece_seed=seed_,
    )


def test_probe_verifies_a_real_libtorrent_seed(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    with seed(torrent, tmp_path, "127.0.3.1", 6881) as handle:
        obs = asyncio.run(
            probe(
                new_run(meta, "127.0.3.1", 6881, seed_=meta.num_pieces - 1),
                clock=Clock(),
                bind_ip="127.0.0.1",
            )
        )
        peers = handle.get_peer_info()
    assert obs.tier is Tier.VERIFIED, obs
    assert obs.verified_pieces == (meta.num_pieces - 1,)
    assert obs.bytes_received == meta.piece_size(meta.num_pieces - 1)
    assert obs.client == "libtorrent" and obs.client_version == "2.1.1.0"
    assert obs.peer_id is not None and obs.peer_id.startswith(b"-LT2110-")
    assert obs.reserved == bytes.fromhex("0000000000100005")
    assert obs.extension is not None and obs.extension.v == b"libtorrent/2.1.1.0"
    assert "ut_metadata" in obs.extension.m and obs.extension.yourip == "127.0.0.1"
    assert obs.completion == 1.0
    # the seed's own view: it uploaded to us, and we sent it no payload
    assert all(p.total_download == 0 for p in peers)


def test_probe_handshake_depth_and_refused_port(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    with seed(torrent, tmp_path, "127.0.3.2", 6881):
        obs = asyncio.run(probe(new_run(meta, "127.0.3.2", 6881, Depth.CONNECTED), clock=Clock()))
    assert obs.tier is Tier.CONNECTED and obs.failure is None
    refused = asyncio.run(probe(new_run(meta, "127.0.3.3", 6999), clock=Clock()))
    assert refused.tier is Tier.LISTED and refused.failure == Failure.CONNECT_REFUSED.value


def test_probe_of_wrong_infohash_is_recorded(tmp_path: Path, netns: bool) -> None:
    """libtorrent drops a handshake for a torrent it does not have; nothing is 'connected'."""
    torrent = make_torrent(tmp_path)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = parse_metainfo(make_torrent(other_dir, pieces=3).read_bytes())
    with seed(torrent, tmp_path, "127.0.3.4", 6881):
        obs = asyncio.run(probe(new_run(other, "127.0.3.4", 6881), clock=Clock()))
    assert obs.tier is Tier.LISTED
    assert obs.failure in {Failure.CLOSED_BY_PEER.value, Failure.INFOHASH_MISMATCH.value}

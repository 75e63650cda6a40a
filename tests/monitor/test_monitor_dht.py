"""The monitor finds and verifies peers that only the Mainline DHT knows (real libtorrent 2.1.1 mesh)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.errors import InputError
from swarmscope.evidence.records import Tier
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.targets import load_target
from swarmscope.net.clock import Clock
from swarmscope.store.database import open_store
from swarmscope.store.ledger import queries
from tests.net.lt_dht import Mesh, dht_mesh
from tests.net.lt_seed import make_torrent

lt = pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients
SEEDS = 4


@pytest.fixture(scope="module")
def swarm(netns: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Mesh, Path]]:
    """A 20-node DHT mesh; the first SEEDS nodes seed a torrent that names no tracker at all."""
    workdir = tmp_path_factory.mktemp("dht-swarm")
    torrent = make_torrent(workdir)
    with dht_mesh(20) as mesh:
        handles = []
        for ses in mesh.sessions[:SEEDS]:
            params = lt.add_torrent_params()
            params.ti = lt.torrent_info(str(torrent))
            params.save_path = str(workdir)
            handles.append(ses.add_torrent(params))
        deadline = time.monotonic() + 30
        while not all(h.status().is_seeding for h in handles) and time.monotonic() < deadline:
            time.sleep(0.1)
        for handle in handles:
            handle.force_dht_announce()
        time.sleep(3.0)  # announce_peer messages land on the closest nodes
        yield mesh, torrent


def _monitor(tmp_path: Path, torrent: Path, mesh: Mesh, *, dht: bool) -> list[Any]:
    db = tmp_path / f"dht-{dht}.db"
    store = open_store(str(db), node_key=Ed25519PrivateKey.generate())
    config = MonitorConfig(
        peer_id=b"-SS0100-dhttestdhtte",
        duration=15.0,
        bind_ip="127.0.0.1",
        listen_port=0,
        dht=dht,
        dht_bootstrap=[mesh.bootstrap_address],
    )
    monitor = Monitor([load_target(str(torrent))], store, config, Clock())
    asyncio.run(monitor.run())
    observations = queries.load_observations(store)
    store.close()
    if dht:  # BEP 33: the lookups scraped the swarm size from the mesh's bloom filters
        (stats,) = monitor.stats.values()
        assert stats.dht_estimate is not None and (stats.dht_estimate[0] or 0) >= 1, stats.dht_estimate
    return observations


def test_dht_only_peers_are_found_and_verified(swarm: tuple[Mesh, Path], tmp_path: Path) -> None:
    mesh, torrent = swarm
    seeds = {f"127.0.1.{i + 1}" for i in range(SEEDS)}
    observations = _monitor(tmp_path, torrent, mesh, dht=True)
    verified = {o.ip for o in observations if o.tier is Tier.VERIFIED}
    assert seeds <= verified, (seeds, sorted((o.ip, o.tier, o.failure) for o in observations))
    assert {o.source for o in observations if o.ip in seeds} == {"dht"}


def test_without_the_dht_nobody_is_found(swarm: tuple[Mesh, Path], tmp_path: Path) -> None:
    """No tracker and no DHT: no channel can name a peer, so the run is refused and nothing is sealed."""
    mesh, torrent = swarm
    with pytest.raises(InputError, match="no discovery channel"):
        _monitor(tmp_path, torrent, mesh, dht=False)
    store = open_store(str(tmp_path / "dht-False.db"), node_key=Ed25519PrivateKey.generate())
    try:
        assert queries.load_observations(store) == [] and queries.run_rows(store) == []
    finally:
        store.close()


def test_a_magnet_with_no_tracker_is_monitored_to_verified(swarm: tuple[Mesh, Path], tmp_path: Path) -> None:
    """BEP 9 through DHT leads only: metadata fetched, checked against the infohash, then probes verify."""
    mesh, torrent = swarm
    infohash = str(lt.torrent_info(str(torrent)).info_hashes().v1)
    store = open_store(str(tmp_path / "magnet.db"), node_key=Ed25519PrivateKey.generate())
    config = MonitorConfig(
        peer_id=b"-SS0100-magnetmagnet",
        duration=60.0,  # metadata first (DHT lookup + BEP 9), then probes: 30 s proved short at load 6
        bind_ip="127.0.0.1",
        listen_port=0,
        dht=True,
        dht_bootstrap=[mesh.bootstrap_address],
    )
    target = load_target(f"magnet:?xt=urn:btih:{infohash}&dn=dht-only")
    assert target.meta is None
    monitor = Monitor([target], store, config, Clock())
    asyncio.run(monitor.run())
    observations = queries.load_observations(store)
    swarms = {row.infohash: row for row in queries.swarm_rows(store)}
    store.close()
    assert target.meta is not None and target.meta.v1 is not None and target.meta.v1.hex == infohash
    seeds = {f"127.0.1.{i + 1}" for i in range(SEEDS)}
    verified = {o.ip for o in observations if o.tier is Tier.VERIFIED}
    t0 = min(o.started_us for o in observations)
    timeline = sorted(((o.started_us - t0) / 1e6, o.ip, o.tier.label, o.failure) for o in observations)
    assert seeds & verified, timeline
    assert infohash in swarms

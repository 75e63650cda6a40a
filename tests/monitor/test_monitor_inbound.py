"""The monitor accepts peers that dial it (source inbound), plaintext and encrypted (real libtorrent)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.records import Tier
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.targets import load_target
from swarmscope.net.clock import Clock
from swarmscope.store.database import open_store
from swarmscope.store.ledger import queries
from tests.net.lt_seed import make_torrent, seed

lt = pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients
LISTEN = 7131
FORCED: dict[str, Any] = {
    "out_enc_policy": int(lt.enc_policy.forced),
    "in_enc_policy": int(lt.enc_policy.forced),
    "allowed_enc_level": int(lt.enc_level.rc4),
    "enable_outgoing_utp": False,
}


def _run_with_dialler(tmp_path: Path, torrent: Path, handles: list[Any], listen: bool) -> list[Any]:
    store = open_store(str(tmp_path / f"inbound-{listen}.db"), node_key=Ed25519PrivateKey.generate())
    config = MonitorConfig(
        peer_id=b"-SS0100-inboundinbou",
        duration=10.0,
        bind_ip="127.0.0.1",
        listen_port=LISTEN,
        listen=listen,
    )
    # no tracker and no DHT: the peers are told to dial us by hand
    monitor = Monitor([load_target(str(torrent))], store, config, Clock(), leads_from_caller=True)

    async def main() -> None:
        task = asyncio.create_task(monitor.run())
        await asyncio.sleep(1.0)
        for handle in handles:  # the peers learn of us (as from a tracker) and dial
            handle.connect_peer(("127.0.0.1", LISTEN))
        await task

    asyncio.run(main())
    observations = queries.load_observations(store)
    store.close()
    return observations


def test_peers_that_dial_us_are_verified(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    with (
        seed(
            torrent,
            tmp_path,
            "127.0.6.1",
            6881,
            enable_outgoing_utp=False,
            out_enc_policy=int(lt.enc_policy.disabled),
        ) as plain,
        seed(torrent, tmp_path, "127.0.6.2", 6881, **FORCED) as forced,
    ):
        observations = _run_with_dialler(tmp_path, torrent, [plain, forced], listen=True)
    by_ip = {o.ip: o for o in observations if o.source == "inbound"}
    assert set(by_ip) == {"127.0.6.1", "127.0.6.2"}, observations
    assert by_ip["127.0.6.1"].tier is Tier.VERIFIED and not by_ip["127.0.6.1"].encrypted
    assert by_ip["127.0.6.2"].tier is Tier.VERIFIED and by_ip["127.0.6.2"].encrypted
    assert all(o.port == 6881 for o in by_ip.values())  # recorded under the BEP 10 listen port `p`


def test_without_a_listener_nobody_dials_in(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    with seed(torrent, tmp_path, "127.0.6.3", 6881, enable_outgoing_utp=False) as plain:
        observations = _run_with_dialler(tmp_path, torrent, [plain], listen=False)
    assert observations == []


def test_dual_stack_listener_takes_an_ipv6_peer_on_loopback(tmp_path: Path, netns: bool) -> None:
    """Without --bind the listener is on `::`: a libtorrent peer on ::1 dials in and is verified."""
    torrent = make_torrent(tmp_path)
    try:
        ctx = seed(
            torrent,
            tmp_path,
            "::1",
            6890,
            listen_interfaces="[::1]:6890",
            outgoing_interfaces="",
            enable_outgoing_utp=False,
            out_enc_policy=int(lt.enc_policy.disabled),
        )
        handle = ctx.__enter__()
    except Exception as exc:  # pragma: no cover - hosts without IPv6 on lo
        pytest.skip(f"no IPv6 loopback for libtorrent: {exc}")
    try:
        store = open_store(str(tmp_path / "v6.db"), node_key=Ed25519PrivateKey.generate())
        config = MonitorConfig(
            peer_id=b"-SS0100-ipv6ipv6ipv6", duration=10.0, listen_port=LISTEN, listen=True
        )
        monitor = Monitor([load_target(str(torrent))], store, config, Clock(), leads_from_caller=True)

        async def main() -> None:
            task = asyncio.create_task(monitor.run())
            await asyncio.sleep(1.0)
            handle.connect_peer(("::1", LISTEN))
            await task

        asyncio.run(main())
        observations = queries.load_observations(store)
        store.close()
    finally:
        ctx.__exit__(None, None, None)
    v6 = [o for o in observations if o.ip == "::1"]
    assert v6 and v6[0].tier is Tier.VERIFIED and v6[0].source == "inbound", observations

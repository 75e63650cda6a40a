"""Every observation the monitor seals replays from its own capture, whatever channel found the peer.

Two channels whose records used to be finished outside the pure run (so their captures re-derived another
record): a magnet's BEP 9 metadata fetch from a peer the DHT named (sealed with source ``dht``, the capture
said ``manual``), and a peer that dialled our listener (sealed under its BEP 10 listen port ``p``, the
capture said its ephemeral TCP source port). Scripted peers on loopback play the peers; the monitor runs
for real (listener, fetch, probes, sealed store) and each stored capture is replayed against the stored row.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from swarmscope.cli.export import run_export
from swarmscope.cli.verify import run_verify
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.capture.recording import replay
from swarmscope.evidence.probe.pieces import MetainfoPieces
from swarmscope.evidence.records import Observation, Source
from swarmscope.evidence.seal import private_key_pem
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.metadata import metainfo_from_info
from swarmscope.monitor.targets import load_target
from swarmscope.net.clock import Clock
from swarmscope.store.database import open_store
from swarmscope.store.ledger.entries import load_blob, load_capture
from swarmscope.store.ledger.node_key import default_key_path
from swarmscope.store.ledger.queries import load_observations
from swarmscope.wire import extension
from swarmscope.wire import peer as pw
from tests.evidence.test_metadata_fetch import INFO, LT_ID, V1, MetadataPeer

LISTEN = 7141  # the monitor's listen port (loopback)
PEER_LISTEN = 6999  # the BEP 10 ``p`` the dialling peer announces
PEER_ID = b"-SS0100-replayreplay"


def _monitor(tmp_path: Path, target: str, body: Callable[[Monitor], Awaitable[None]], **cfg: object) -> Path:
    """Run a monitor on ``target`` for 3 s while ``body`` plays the peers; returns the database path (its
    node key in the file beside it, where ``export`` looks)."""
    db = tmp_path / "replay.db"
    key = Ed25519PrivateKey.generate()
    default_key_path(str(db)).write_bytes(private_key_pem(key))
    default_key_path(str(db)).chmod(0o600)
    store = open_store(str(db), node_key=key)
    config = MonitorConfig(peer_id=PEER_ID, duration=3.0, bind_ip="127.0.0.1", pex=False, **cfg)  # type: ignore[arg-type]
    monitor = Monitor([load_target(target)], store, config, Clock(), leads_from_caller=True)  # the test dials

    async def main() -> None:
        task = asyncio.create_task(monitor.run())
        await body(monitor)
        await task

    asyncio.run(main())
    store.close()
    return db


def _replayed(db: Path) -> list[tuple[Observation, str]]:
    """Each stored observation (with its capture kind), after checking it replays to its canonical bytes."""
    pieces = MetainfoPieces(metainfo_from_info(INFO))
    out = []
    with open_store(str(db), create=False) as store:
        for obs in load_observations(store):
            assert obs.capture_sha256 is not None, obs
            data = load_capture(store, obs.capture_sha256)
            assert data is not None
            again = replay(data, pieces, lambda h, s=store: load_blob(s, h))
            assert canonical_bytes(again) == canonical_bytes(obs), (again, obs)
            out.append((obs, decode_capture(data).header.kind))
    return out


def test_a_metadata_fetch_from_a_dht_peer_replays_with_its_source(tmp_path: Path) -> None:
    async def body(monitor: Monitor) -> None:
        server = await asyncio.start_server(_serve(MetadataPeer()), "127.0.4.21", 6881)
        try:
            (swarm,) = monitor.targets
            await asyncio.sleep(0.3)
            monitor.discovered(swarm, [("127.0.4.21", 6881, None)], Source.DHT, "127.0.4.1:6881")
            await asyncio.sleep(3.0)
        finally:
            server.close()

    db = _monitor(tmp_path, f"magnet:?xt=urn:btih:{V1.hex()}", body)
    records = _replayed(db)
    fetches = [obs for obs, kind in records if kind == "metadata"]
    assert fetches and all(o.source == Source.DHT.value for o in fetches), records
    assert any(o.failure is None for o in fetches), fetches  # the fetch served the verified info dict


def test_a_peer_that_dials_in_replays_under_its_listen_port(tmp_path: Path) -> None:
    """... and with the TCP source port its connection came from (RFC 6302), which its capture header
    holds too; a bundle exported with that record verifies (capture replay included), and its JSON view
    names both ports."""
    torrent = tmp_path / "x.torrent"
    torrent.write_bytes(b"d4:info" + INFO + b"e")
    came_from: list[int] = []

    async def body(monitor: Monitor) -> None:
        for _ in range(100):  # until the listener is up and the run is sealed (earlier dials are refused)
            if monitor._listener is not None and monitor.run_id is not None:
                break
            await asyncio.sleep(0.05)
        reader, writer = await asyncio.open_connection("127.0.0.1", LISTEN, local_addr=("127.0.4.31", 0))
        came_from.append(writer.get_extra_info("sockname")[1])
        writer.write(_dialler_opening())
        with contextlib.suppress(TimeoutError, ConnectionError):
            while await asyncio.wait_for(reader.read(65536), 5.0):
                pass  # never unchoke: the probe waits until the monitor stops it
        writer.close()

    db = _monitor(tmp_path, str(torrent), body, listen=True, listen_port=LISTEN)
    ((obs, kind),) = _replayed(db)
    assert kind == "probe" and obs.source == Source.INBOUND.value
    assert obs.ip == "127.0.4.31" and obs.port == PEER_LISTEN, obs
    assert obs.source_port == came_from[0] != PEER_LISTEN and obs.version is None  # the newest format
    bundle = tmp_path / "bundle"
    run_export(db=str(db), out=bundle, console=None)
    assert run_verify(bundle, console=Console(file=io.StringIO())) == 0
    (row,) = [json.loads(line) for line in (bundle / "records/observations.jsonl").read_text().splitlines()]
    assert (row["port"], row["source_port"]) == (PEER_LISTEN, came_from[0])


def _dialler_opening() -> bytes:
    """A peer dialling us: BEP 3 handshake (extension bit set), have_all, BEP 10 handshake naming ``p``."""
    ext = extension.encode_handshake({}, v=b"libtorrent/2.1.1.0", p=PEER_LISTEN)
    out = pw.Handshake(bytes.fromhex("0000000000100005"), V1, LT_ID).encode()
    return out + pw.encode_message(pw.Simple(pw.HAVE_ALL)) + pw.encode_message(pw.Extended(0, ext))


def _serve(peer: MetadataPeer) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]:
    """A connection handler playing ``peer`` (metadata served; the probe after it is never unchoked)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        script = MetadataPeer(info=peer.info, infohash=peer.infohash)  # one script per connection
        writer.write(script.opening())
        with contextlib.suppress(TimeoutError, ConnectionError):
            while data := await asyncio.wait_for(reader.read(65536), 5.0):
                writer.write(script.feed(data))
                await writer.drain()
        writer.close()

    return handle

"""Inbound connections: real libtorrent 2.1.1 peers dial our PeerListener on loopback (private netns).

The libtorrent seeds are told to connect to us (``torrent_handle.connect_peer``); their own listen port is
made unreachable for a dialer with an ``ip_filter`` that admits only the listener's address, so the
verification comes through the inbound connection alone. Raw asyncio clients play the garbage client and
the slowloris. Loopback settings follow ../shared/testbed/NOTES.md.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest

from swarmscope.errors import DecodeError
from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Failure, Observation, Source, Tier
from swarmscope.net.clock import Clock
from swarmscope.net.listener import MAX_PREFIX, PeerListener, peer_address
from swarmscope.net.mse_conn import mse_initiate
from swarmscope.net.peer_conn import probe
from swarmscope.wire.metainfo import Metainfo, parse_metainfo
from swarmscope.wire.mse_cipher import CRYPTO_METHODS, CRYPTO_PLAINTEXT, SkeyIndex
from tests.net.lt_seed import lt, make_torrent, seed
from tests.net.probe_runs import probe_run

pytestmark = pytest.mark.realclients

PEER_ID = b"-SS0100-inbdinbdinbd"
PROTOCOL = b"\x13BitTorrent protocol"
# libtorrent dials uTP first and falls back to TCP after peer_connect_timeout (~5 s); we listen on TCP only
TCP_FIRST: dict[str, Any] = {"enable_outgoing_utp": False}
PLAIN: dict[str, Any] = {**TCP_FIRST, "out_enc_policy": int(lt.enc_policy.pe_disabled)}
FORCED: dict[str, Any] = {
    **TCP_FIRST,
    "out_enc_policy": int(lt.enc_policy.pe_forced),
    "in_enc_policy": int(lt.enc_policy.pe_forced),
    "allowed_enc_level": int(lt.enc_level.pe_rc4),
}


def new_run(meta: Metainfo, ip: str, port: int, policy: ProbePolicy | None = None) -> ProbeRun:
    return probe_run(meta, ip, port, peer_id=PEER_ID, source=Source.INBOUND.value, policy=policy)


class Harness:
    """A PeerListener for one torrent that records every run it reports."""

    def __init__(self, meta: Metainfo, host: str = "127.0.0.1", **kwargs: Any) -> None:
        self.meta = meta
        self.swarms = {meta.wire_infohash: meta}  # more may be added before start()
        self.done: list[tuple[ProbeRun, Observation]] = []
        self.asked: list[tuple[bytes, str, int]] = []
        self.policy: ProbePolicy | None = kwargs.pop("policy", None)
        kwargs.setdefault("skeys", SkeyIndex([meta.wire_infohash]))
        self.listener = PeerListener(
            host=host, port=0, clock=Clock(), make_run=self.make_run, on_done=self.on_done, **kwargs
        )

    def make_run(self, infohash: bytes, ip: str, port: int) -> ProbeRun | None:
        self.asked.append((infohash, ip, port))
        meta = self.swarms.get(infohash)
        return None if meta is None else new_run(meta, ip, port, self.policy)

    def on_done(self, run: ProbeRun, obs: Observation) -> None:
        self.done.append((run, obs))

    async def until(self, cond: Callable[[], bool], timeout: float = 30.0) -> None:
        """Wait (bounded) until ``cond()`` holds."""
        async with asyncio.timeout(timeout):
            while not cond():
                await asyncio.sleep(0.05)


def serve(
    harness: Harness,
    body: Callable[[PeerListener], Awaitable[None]],
    loop_factory: Callable[[], asyncio.AbstractEventLoop] | None = None,
) -> None:
    """Start the listener, run ``body``, always stop the listener (on ``loop_factory``'s loop if given)."""

    async def main() -> None:
        await harness.listener.start()
        try:
            await body(harness.listener)
        finally:
            await harness.listener.stop()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main())


@contextmanager
def dialling_seed(torrent: Path, content_dir: Path, ip: str, port: int, **extra: Any) -> Iterator[Any]:
    """A libtorrent seed that admits only 127.0.0.1 (our listener): a dialler elsewhere is turned away.

    libtorrent makes outgoing connections only from a listen socket, so the socket stays open; its
    ``ip_filter`` blocks every other IPv4 address in both directions. Yields the torrent handle.
    """
    with seed(torrent, content_dir, ip, port, admit_only="127.0.0.1", **extra) as handle:
        yield handle


def test_libtorrent_dials_us_in_plaintext_and_is_verified(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    h = Harness(meta)
    seed_ip, seed_port = "127.0.8.1", 6881
    dialled: list[Observation] = []
    utp_first = dict(PLAIN, enable_outgoing_utp=True)  # libtorrent's default: our TCP port still gets it
    with dialling_seed(torrent, tmp_path, seed_ip, seed_port, **utp_first) as handle:

        async def body(lst: PeerListener) -> None:
            # an outgoing probe (from 127.0.0.9) cannot get this peer: only the inbound path can
            dialled.append(await probe(new_run(meta, seed_ip, seed_port), clock=Clock(), bind_ip="127.0.0.9"))
            handle.connect_peer(lst.address)
            await h.until(lambda: bool(h.done))

        serve(h, body)
    assert dialled[0].tier is Tier.LISTED, dialled
    ((_run, obs),) = h.done
    assert obs.tier is Tier.VERIFIED and obs.failure is None, obs
    assert not obs.encrypted and obs.ip == seed_ip and obs.port != seed_port  # TCP source port
    assert obs.peer_id is not None and obs.peer_id.startswith(b"-LT2110-")
    assert obs.payload_bytes_sent == 0 and obs.verified_pieces
    assert h.asked == [(meta.wire_infohash, seed_ip, obs.port)]
    stats = h.listener.stats
    assert stats.accepted == 1 and stats.runs == 1 and stats.encrypted == 0


def test_peer_address_unmaps_ipv4_mapped_ipv6() -> None:
    assert peer_address(("::ffff:127.0.0.5", 7000, 0, 0)) == ("127.0.0.5", 7000)
    assert peer_address(("::1", 7001, 0, 0)) == ("::1", 7001)
    assert peer_address(("127.0.0.6", 7002)) == ("127.0.0.6", 7002)


def test_forced_encryption_libtorrent_is_verified_and_marked_encrypted(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    h = Harness(meta, encryption="require")
    with seed(torrent, tmp_path, "127.0.8.2", 6881, **FORCED) as handle:

        async def body(lst: PeerListener) -> None:
            handle.connect_peer(lst.address)
            await h.until(lambda: bool(h.done))

        serve(h, body)
    ((_run, obs),) = h.done
    assert obs.tier is Tier.VERIFIED and obs.failure is None, obs
    assert obs.encrypted
    assert obs.wire_bytes_in > obs.bytes_received  # MSE handshake + framing counted on the wire
    assert obs.wire_bytes_out >= 96  # at least Yb
    assert h.listener.stats.encrypted == 1 and h.listener.stats.runs == 1


def test_require_closes_a_plaintext_libtorrent(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    h = Harness(meta, encryption="require")
    with seed(torrent, tmp_path, "127.0.8.3", 6881, **PLAIN) as handle:

        async def body(lst: PeerListener) -> None:
            handle.connect_peer(lst.address)
            await h.until(lambda: lst.stats.refused_by_policy >= 1)

        serve(h, body)
    assert h.done == [] and h.asked == []


def test_disable_closes_an_encrypting_libtorrent(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    h = Harness(meta, encryption="disable")
    with seed(torrent, tmp_path, "127.0.8.4", 6881, **FORCED) as handle:

        async def body(lst: PeerListener) -> None:
            handle.connect_peer(lst.address)
            await h.until(lambda: lst.stats.refused_by_policy >= 1)

        serve(h, body)
    assert h.done == [] and h.listener.stats.encrypted == 0


@pytest.mark.parametrize("settings", [PLAIN, FORCED], ids=["plaintext", "encrypted"])
def test_unknown_infohash_is_closed_and_counted(
    tmp_path: Path, netns: bool, settings: dict[str, Any]
) -> None:
    torrent = make_torrent(tmp_path)
    other_dir = tmp_path / "other"
    other_dir.mkdir()
    other = parse_metainfo(make_torrent(other_dir, pieces=3).read_bytes())
    h = Harness(other)  # monitors another swarm only
    with seed(torrent, tmp_path, "127.0.8.5", 6881, **settings) as handle:

        async def body(lst: PeerListener) -> None:
            handle.connect_peer(lst.address)
            await h.until(lambda: lst.stats.unknown_infohash >= 1)

        serve(h, body)
    assert h.done == [] and h.listener.stats.runs == 0


async def read_until_closed(reader: asyncio.StreamReader, timeout: float) -> bytes:
    """Everything the listener sends until it closes (bounded by ``timeout``)."""
    got = bytearray()
    async with asyncio.timeout(timeout):
        while True:
            try:
                data = await reader.read(4096)
            except ConnectionResetError:
                break
            if not data:
                break
            got += data
    return bytes(got)


def test_garbage_clients_are_closed(tmp_path: Path, netns: bool) -> None:
    meta = parse_metainfo(make_torrent(tmp_path, pieces=3).read_bytes())
    h = Harness(meta)

    async def body(lst: PeerListener) -> None:
        host, port = lst.address
        # an HTTP request: not plaintext BitTorrent, so it is read as MSE Ya; the req1 sync fails
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 8)
        await read_until_closed(reader, 10)
        writer.close()
        # a plaintext handshake for a swarm we do not monitor
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(PROTOCOL + bytes(8) + b"\xee" * 20 + PEER_ID)
        assert await read_until_closed(reader, 10) == b""
        writer.close()
        # a flood of zero bytes (longer than any MSE handshake, MAX_PREFIX) is closed as an invalid MSE Ya
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for _ in range(MAX_PREFIX // 65536 + 4):
                writer.write(b"\x00" * 65536)
                await writer.drain()
        except ConnectionError:
            pass
        await read_until_closed(reader, 10)
        writer.close()
        # our handshake answer, then garbage messages: the run ends with a protocol error
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(PROTOCOL + bytes(8) + meta.wire_infohash + PEER_ID)
        answer = await reader.readexactly(68)
        assert answer[:20] == PROTOCOL and answer[28:48] == meta.wire_infohash
        writer.write(b"\xff\xff\xff\xff" + b"x" * 64)  # a 4 GiB message length
        await read_until_closed(reader, 10)
        writer.close()
        await h.until(lambda: len(h.done) == 1)

    serve(h, body)
    stats = h.listener.stats
    assert stats.bad_handshake == 2 and stats.unknown_infohash == 1 and stats.accepted == 4
    ((_run, obs),) = h.done
    assert obs.tier is Tier.CONNECTED and obs.failure == Failure.PROTOCOL_ERROR.value, obs


def test_slowloris_is_bounded_before_and_after_the_infohash(tmp_path: Path, netns: bool) -> None:
    meta = parse_metainfo(make_torrent(tmp_path, pieces=3).read_bytes())
    policy = ProbePolicy(handshake_timeout=2.0, claims_wait=1.0)
    h = Harness(meta, handshake_timeout=2.0, policy=policy)
    handshake = PROTOCOL + bytes(8) + meta.wire_infohash + PEER_ID

    async def dribble(host: str, port: int, burst: bytes, data: bytes) -> float:
        """Send ``burst``, then one byte of ``data`` per second; returns seconds until we were closed."""
        loop = asyncio.get_running_loop()
        reader, writer = await asyncio.open_connection(host, port)
        start = loop.time()
        closed = asyncio.ensure_future(read_until_closed(reader, 20))
        try:
            writer.write(burst)
            for b in data:
                if closed.done():
                    break
                writer.write(bytes([b]))
                await asyncio.sleep(1.0)
            await closed
        finally:
            writer.close()
        return loop.time() - start

    async def body(lst: PeerListener) -> None:
        host, port = lst.address
        # the swarm is never known (48 bytes would take 48 s): the listener's handshake_timeout ends it
        assert await dribble(host, port, b"", handshake) < 6.0
        # the swarm is known at once, the rest of the handshake dribbles: the run's handshake timeout
        assert await dribble(host, port, handshake[:48], handshake[48:]) < 6.0
        await h.until(lambda: len(h.done) == 1)

    serve(h, body)
    stats = h.listener.stats
    assert stats.timed_out == 1 and stats.runs == 1
    ((_run, obs),) = h.done
    assert obs.failure == Failure.HANDSHAKE_TIMEOUT.value and obs.tier is Tier.LISTED


def test_max_connections_and_stop_reports_runs_in_flight(tmp_path: Path, netns: bool) -> None:
    meta = parse_metainfo(make_torrent(tmp_path, pieces=3).read_bytes())
    h = Harness(meta, max_connections=2, policy=ProbePolicy(claims_wait=60.0, handshake_timeout=60.0))

    async def body(lst: PeerListener) -> None:
        host, port = lst.address
        r1, w1 = await asyncio.open_connection(host, port)
        w1.write(PROTOCOL + bytes(8) + meta.wire_infohash + PEER_ID)  # a run, waiting for claims
        assert (await r1.readexactly(68))[28:48] == meta.wire_infohash
        r2, w2 = await asyncio.open_connection(host, port)  # silent, counted against the limit
        await h.until(lambda: len(lst.active) == 2)
        r3, w3 = await asyncio.open_connection(host, port)
        assert await read_until_closed(r3, 10) == b""
        assert lst.stats.refused_over_limit == 1 and h.done == []
        await lst.stop()  # the run in flight is stopped and reported; the silent one is closed
        await read_until_closed(r1, 10)  # (our opening messages, then the close)
        assert await read_until_closed(r2, 10) == b""
        for w in (w1, w2, w3):
            w.close()

    serve(h, body)
    ((_run, obs),) = h.done
    assert obs.tier is Tier.CONNECTED and obs.failure == Failure.DEADLINE.value, obs
    assert h.listener.stats.accepted == 2 and not h.listener.active


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def test_libtorrent_on_ipv6_loopback_is_verified(tmp_path: Path, netns: bool) -> None:
    if not ipv6_loopback():
        pytest.skip("::1 is not available in this network namespace")
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    h = Harness(meta, host="::1")
    extra = dict(PLAIN, listen_interfaces="[::1]:6991", outgoing_interfaces="")
    with seed(torrent, tmp_path, "::1", 6991, **extra) as handle:

        async def body(lst: PeerListener) -> None:
            assert lst.address[0] == "::1"
            handle.connect_peer(lst.address)
            await h.until(lambda: bool(h.done))

        serve(h, body)
    ((_run, obs),) = h.done
    assert obs.tier is Tier.VERIFIED and obs.ip == "::1" and obs.failure is None, obs


def loop_factories() -> list[Any]:
    out: list[Any] = [pytest.param(None, id="asyncio")]
    try:
        import uvloop

        out.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    except ImportError:
        out.append(pytest.param(None, id="uvloop", marks=pytest.mark.skip(reason="uvloop not installed")))
    return out


@pytest.mark.parametrize("loop_factory", loop_factories())
def test_one_port_serves_several_swarms_at_once(tmp_path: Path, netns: bool, loop_factory: Any) -> None:
    """Two monitored swarms, a plaintext and a forced-RC4 libtorrent seed of each, all dialling one port."""
    metas: list[Metainfo] = []
    torrents: list[tuple[Path, Path]] = []
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        torrents.append((make_torrent(d, pieces=4 + len(metas)), d))
        metas.append(parse_metainfo(torrents[-1][0].read_bytes()))
    skeys = SkeyIndex()
    h = Harness(metas[0], skeys=skeys)
    for meta in metas:
        h.swarms[meta.wire_infohash] = meta
        skeys.add(meta.wire_infohash)  # the index is shared: swarms can be added while listening
    with ExitStack() as stack:
        handles = [
            stack.enter_context(seed(t, d, f"127.0.9.{10 * i + j}", 6881, **mode))
            for i, (t, d) in enumerate(torrents)
            for j, mode in enumerate((PLAIN, FORCED))
        ]

        async def body(lst: PeerListener) -> None:
            for handle in handles:
                handle.connect_peer(lst.address)
            await h.until(lambda: len(h.done) == 4)

        serve(h, body, loop_factory)
    by_ip = {obs.ip: obs for _run, obs in h.done}
    assert sorted(by_ip) == ["127.0.9.0", "127.0.9.1", "127.0.9.10", "127.0.9.11"]
    for ip, obs in by_ip.items():
        assert obs.tier is Tier.VERIFIED and obs.failure is None, obs
        assert obs.encrypted is ip.endswith("1")  # j == 1: forced RC4
        assert obs.infohash == metas[0 if ip in ("127.0.9.0", "127.0.9.1") else 1].swarm_id.hex
    assert h.listener.stats.encrypted == 2 and h.listener.stats.runs == 4


def test_handshake_split_at_every_byte_and_our_own_mse_initiator(tmp_path: Path, netns: bool) -> None:
    """Plaintext handshakes arriving in two segments split anywhere, and MSE from our own initiator."""
    meta = parse_metainfo(make_torrent(tmp_path, pieces=3).read_bytes())
    h = Harness(meta)
    handshake = PROTOCOL + bytes(8) + meta.wire_infohash + PEER_ID

    async def body(lst: PeerListener) -> None:
        host, port = lst.address
        for cut in range(1, len(handshake)):
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(handshake[:cut])
            await writer.drain()
            await asyncio.sleep(0.002)
            writer.write(handshake[cut:])
            async with asyncio.timeout(10):
                answer = await reader.readexactly(68)
            assert answer[:20] == PROTOCOL and answer[28:48] == meta.wire_infohash, cut
            writer.close()  # the run ends as "closed by peer" (closed before any piece claim)
        for provide, encrypted in ((CRYPTO_METHODS, True), (CRYPTO_PLAINTEXT, False)):
            reader, writer = await asyncio.open_connection(host, port)
            est = await mse_initiate(
                reader, writer, skey=meta.wire_infohash, initial_payload=handshake, crypto_provide=provide
            )
            assert est.encrypted is encrypted
            answer = est.received
            async with asyncio.timeout(10):
                while len(answer) < 68:
                    answer += est.stream.decrypt(await reader.read(4096))
            assert answer[:20] == PROTOCOL and answer[28:48] == meta.wire_infohash
            writer.close()
        await h.until(lambda: len(h.done) == len(handshake) + 1)

    serve(h, body)
    closed = Failure.CLOSED_BY_PEER.value
    assert all(obs.tier is Tier.CONNECTED and obs.failure == closed for _run, obs in h.done)
    assert [obs.encrypted for _run, obs in h.done[-2:]] == [True, False]
    assert h.listener.stats.encrypted == 1


def test_mse_is_refused_without_skeys_and_plaintext_only_mse_under_require(
    tmp_path: Path, netns: bool
) -> None:
    meta = parse_metainfo(make_torrent(tmp_path, pieces=3).read_bytes())
    no_skeys = Harness(meta, skeys=None)
    require = Harness(meta, encryption="require")

    async def attempt(lst: PeerListener, provide: int) -> None:
        host, port = lst.address
        reader, writer = await asyncio.open_connection(host, port)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError, DecodeError)):
            await mse_initiate(reader, writer, skey=meta.wire_infohash, crypto_provide=provide, timeout=10)
        writer.close()

    async def without_skeys(lst: PeerListener) -> None:
        await attempt(lst, CRYPTO_METHODS)
        await no_skeys.until(lambda: lst.stats.refused_by_policy == 1)

    async def plaintext_offer(lst: PeerListener) -> None:
        await attempt(lst, CRYPTO_PLAINTEXT)  # "require" allows RC4 only: crypto_provide has no match
        await require.until(lambda: lst.stats.bad_handshake == 1)

    serve(no_skeys, without_skeys)
    serve(require, plaintext_offer)
    assert no_skeys.done == [] and require.done == []


def test_mse_with_an_empty_ia_is_driven_and_bounded(tmp_path: Path, netns: bool) -> None:
    """MSE lets IA be empty: the handshake then follows encrypted, or never comes (the run times out)."""
    meta = parse_metainfo(make_torrent(tmp_path, pieces=3).read_bytes())
    h = Harness(meta, policy=ProbePolicy(handshake_timeout=1.0, claims_wait=1.0))
    handshake = PROTOCOL + bytes(8) + meta.wire_infohash + PEER_ID

    async def body(lst: PeerListener) -> None:
        host, port = lst.address
        for late in (handshake, b""):
            reader, writer = await asyncio.open_connection(host, port)
            est = await mse_initiate(reader, writer, skey=meta.wire_infohash, timeout=10)
            writer.write(est.stream.encrypt(late))
            await read_until_closed(reader, 10)
            writer.close()
        await h.until(lambda: len(h.done) == 2)

    serve(h, body)
    (_r1, with_late), (_r2, silent) = h.done
    assert with_late.tier is Tier.CONNECTED and with_late.encrypted, with_late
    assert silent.tier is Tier.LISTED and silent.failure == Failure.HANDSHAKE_TIMEOUT.value, silent
    assert silent.encrypted

"""Our DHT node on loopback: against itself, and against a mesh of real libtorrent 2.1.1 DHT nodes.

The libtorrent tests need the private network namespace (conftest) and use 127.0.1.x / 127.0.2.x.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from swarmscope.net.dht_bootstrap import PUBLIC_ROUTERS, resolve_bootstrap
from swarmscope.net.dht_node import DhtNode
from swarmscope.wire import krpc
from swarmscope.wire.krpc import KrpcError, Query, Response
from swarmscope.wire.types import Endpoint

from .lt_dht import Mesh, dht_mesh, dht_settings, live_nodes, lt, stop_sessions

IH = hashlib.sha1(b"swarmscope dht test swarm").digest()
ANNOUNCERS = 10
MESH_SIZE = 50


@pytest.fixture
async def pair() -> AsyncIterator[tuple[DhtNode, DhtNode]]:
    first = DhtNode(bind=("127.0.0.1", 0), query_timeout=1.0)
    await first.start()
    second = DhtNode(bind=("127.0.0.1", 0), bootstrap=[first.address], query_timeout=1.0)
    try:
        await second.start()
        yield first, second
    finally:
        first.stop()
        second.stop()


async def test_join_ping_and_find_node_between_our_nodes(pair: tuple[DhtNode, DhtNode]) -> None:
    first, second = pair
    assert second.routing.get(first.node_id) is not None  # joined through `first`
    assert await second.ping(first.address) == first.node_id
    for _ in range(50):  # `first` verifies the node that queried it with a ping (bounded wait)
        if first.routing.get(second.node_id) is not None:
            break
        await asyncio.sleep(0.05)
    assert first.routing.get(second.node_id) is not None


async def test_get_peers_token_announce_and_values(pair: tuple[DhtNode, DhtNode]) -> None:
    first, second = pair
    announced: list[tuple[bytes, list[Endpoint]]] = []
    first.on_peers = lambda ih, peers: announced.append((ih, peers))
    first.monitor(IH)
    result = await second.lookup(IH, announce_port=7777, seed=True)
    assert result.tokens and Endpoint(*first.address) in result.tokens
    assert first.stats["announces_stored"] == 1
    assert (IH, [Endpoint("127.0.0.1", 7777)]) in announced  # an announce to us is a DHT listing
    again = await second.lookup(IH, scrape=True)
    assert again.peers == (Endpoint("127.0.0.1", 7777),)
    assert again.seeds_estimate is not None and 0.5 < again.seeds_estimate < 2


async def test_bad_token_refused_with_protocol_error(pair: tuple[DhtNode, DhtNode]) -> None:
    first, second = pair
    for token in (b"", b"x" * 8, b"wrong length token"):  # DHT-08
        query = Query(b"", krpc.ANNOUNCE_PEER, second.node_id, info_hash=IH, token=token, port=1)
        reply = await second.query(first.address, query)
        assert isinstance(reply, KrpcError) and reply.code == krpc.ERROR_PROTOCOL
    assert first.stats["announces_stored"] == 0


async def test_sample_infohashes_and_unknown_method(pair: tuple[DhtNode, DhtNode]) -> None:
    first, second = pair
    first.store.add(IH, Endpoint("127.0.0.9", 9), False, 0.0)
    reply = await second.sample_infohashes(first.address, IH)
    assert reply is not None and reply.samples == (IH,) and reply.num == 1 and reply.interval == 300
    unknown = await second.query(first.address, Query(b"", b"vote", second.node_id))
    assert isinstance(unknown, KrpcError) and unknown.code == krpc.ERROR_METHOD


def _raw_exchange(address: tuple[str, int], payloads: list[bytes], wait: float = 0.5) -> list[bytes]:
    """Send datagrams from a plain socket; return whatever came back within ``wait`` seconds."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(wait)
        for payload in payloads:
            sock.sendto(payload, address)
        replies = []
        try:
            for _ in range(len(payloads)):
                replies.append(sock.recv(2048))
        except TimeoutError:
            pass
        return replies


async def test_malformed_datagrams_dropped_silently_and_rate_limit() -> None:
    node = DhtNode(bind=("127.0.0.1", 0), answer_rate=1.0, answer_burst=3.0)
    await node.start()
    try:
        junk = [b"", b"garbage", b"d1:y1:qe", b"d1:t2:aa1:y1:q1:q4:pinge"]
        assert await asyncio.to_thread(_raw_exchange, node.address, junk) == []
        assert node.stats["dropped_decode"] == len(junk)
        ping = krpc.encode_message(Query(b"pp", krpc.PING, b"z" * 20, read_only=True))
        replies = await asyncio.to_thread(_raw_exchange, node.address, [ping] * 10)
        assert len(replies) == 3 and node.stats["dropped_rate"] == 7
        reply = krpc.decode_message(replies[0])
        assert isinstance(reply, Response) and reply.external_ip is not None
        assert node.routing.get(b"z" * 20) is None  # DHT-07: read-only senders are not added
    finally:
        node.stop()


async def test_read_only_node_sends_ro_and_answers_nothing(pair: tuple[DhtNode, DhtNode]) -> None:
    first, _ = pair
    ro = DhtNode(bind=("127.0.0.1", 0), bootstrap=[first.address], read_only=True, query_timeout=0.5)
    await ro.start()
    try:
        assert ro.routing.get(first.node_id) is not None  # it can still look things up
        await asyncio.sleep(0.2)
        assert first.routing.get(ro.node_id) is None  # BEP 43: not added by the node it queried
        assert await first.ping(ro.address) is None  # and it answers no query
    finally:
        ro.stop()


# ---- real libtorrent ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mesh(netns: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """50 libtorrent DHT nodes; the first ANNOUNCERS hold a torrent for IH with no tracker at all,
    so the DHT is the only way to find them (libtorrent announces its listen port, 6881)."""
    with dht_mesh(MESH_SIZE) as built:
        handles = []
        for ses in built.sessions[:ANNOUNCERS]:
            params = lt.add_torrent_params()
            params.info_hashes = lt.info_hash_t(lt.sha1_hash(IH))
            params.save_path = str(tmp_path_factory.mktemp("dht-torrent"))
            handles.append(ses.add_torrent(params))
        for handle in handles:
            handle.force_dht_announce()
        heard: set[str] = set()  # announcer IPs some mesh node stored (incoming dht_announce_alert)
        deadline = time.monotonic() + 30
        while len(heard) < ANNOUNCERS and time.monotonic() < deadline:
            time.sleep(0.2)
            for ses in [built.bootstrap, *built.sessions]:
                heard |= {str(a.ip) for a in ses.pop_alerts() if isinstance(a, lt.dht_announce_alert)}
        time.sleep(1.0)  # let the remaining announce_peer messages land
        yield built


def _announced() -> set[Endpoint]:
    return {Endpoint(f"127.0.1.{i + 1}", 6881) for i in range(ANNOUNCERS)}


async def _ours(mesh: Mesh, ip: str = "127.0.0.1") -> DhtNode:
    node = DhtNode(bind=(ip, 0), bootstrap=[mesh.bootstrap_address], query_timeout=2.0)
    await node.start()
    return node


async def test_iterative_get_peers_finds_every_libtorrent_announcer(mesh: Mesh) -> None:
    node = await _ours(mesh)
    try:
        batches = [batch async for batch in node.get_peers(IH)]
        found = {peer for batch in batches for peer in batch}
        assert found >= _announced()
        result = node.results[IH]
        assert result.nodes_responded >= 8 and len(result.tokens) >= 4
        assert len(node.routing) >= 8
    finally:
        node.stop()


async def test_bep33_scrape_estimate_from_libtorrent(mesh: Mesh) -> None:
    node = await _ours(mesh, "127.0.0.3")
    try:
        result = await node.lookup(IH, scrape=True)  # libtorrent answers a scrape with filters only
        assert result.peers_estimate is not None or result.seeds_estimate is not None
        estimate = (result.peers_estimate or 0.0) + (result.seeds_estimate or 0.0)
        assert ANNOUNCERS - 2 <= estimate <= ANNOUNCERS + 4
    finally:
        node.stop()


async def _alert(ses: Any, kind: type, timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for alert in ses.pop_alerts():
            if isinstance(alert, kind):
                return alert
        await asyncio.sleep(0.1)
    return None


async def test_libtorrent_bootstrapped_only_from_us_builds_a_table_and_finds_peers(mesh: Mesh) -> None:
    node = await _ours(mesh, "127.0.0.4")
    try:
        await node.lookup(IH)  # fills our table
        ses = mesh.add_session("127.0.2.1", f"{node.address[0]}:{node.address[1]}")
        count = 0
        for _ in range(40):
            await asyncio.sleep(0.5)
            count = await asyncio.to_thread(live_nodes, ses, 1.0)
            if count >= 4:
                break
        assert count >= 4, "libtorrent learned no nodes from our answers"
        assert node.stats["answered"] >= 1
        found: set[Endpoint] = set()
        deadline = time.monotonic() + 30
        while not found >= _announced() and time.monotonic() < deadline:
            ses.dht_get_peers(
                lt.sha1_hash(IH)
            )  # one reply alert per lookup; lookups improve as its table fills
            reply = await _alert(ses, lt.dht_get_peers_reply_alert, 5.0)
            if reply is not None:
                found |= {Endpoint(ip, port) for ip, port in reply.peers()}
        assert found >= _announced()
    finally:
        node.stop()


async def test_libtorrent_accepts_our_sample_infohashes_and_announce(mesh: Mesh) -> None:
    node = await _ours(mesh, "127.0.0.5")
    try:
        node.store.add(IH, Endpoint("127.0.0.99", 9999), False, 0.0)
        ses = mesh.sessions[-1]
        ses.dht_sample_infohashes(node.address, lt.sha1_hash(IH))
        alert = await _alert(ses, lt.dht_sample_infohashes_alert, 10.0)
        assert alert is not None and alert.num_samples == 1
        assert [bytes(s.to_bytes()) for s in alert.samples] == [IH]
        other = hashlib.sha1(b"announced by swarmscope").digest()
        result = await node.lookup(other, announce_port=4321)
        acks = await node.announce(result, 4321)
        assert acks >= 4  # libtorrent nodes accepted our tokens (DHT-08)
        probe = mesh.sessions[ANNOUNCERS]
        probe.dht_get_peers(lt.sha1_hash(other))
        reply = await _alert(probe, lt.dht_get_peers_reply_alert, 10.0)
        assert reply is not None and ("127.0.0.5", 4321) in reply.peers()
    finally:
        node.stop()


async def test_our_sample_infohashes_query_to_libtorrent(mesh: Mesh) -> None:
    node = await _ours(mesh, "127.0.0.6")
    try:
        result = await node.lookup(IH)
        samples: set[bytes] = set()
        for _, endpoint in result.closest:
            reply = await node.sample_infohashes((endpoint.host, endpoint.port), IH)
            if reply is not None and reply.samples:
                samples.update(reply.samples)
        assert IH in samples
    finally:
        node.stop()


async def test_ipv6_nodes6_and_values_on_loopback(netns: bool) -> None:
    """BEP 32: two of our nodes on ::1 join through nodes6, announce and find an IPv6 peer."""
    first = DhtNode(bind=("::1", 0), query_timeout=1.0)
    await first.start()
    second = DhtNode(bind=("::1", 0), bootstrap=[first.address], query_timeout=1.0)
    third = DhtNode(bind=("::1", 0), bootstrap=[first.address], query_timeout=1.0)
    try:
        await second.start()
        await third.start()
        await second.lookup(IH, announce_port=6886)
        result = await third.lookup(IH)
        assert Endpoint("::1", 6886) in result.peers
        reply = await third.query(first.address, Query(b"", krpc.FIND_NODE, third.node_id, target=IH))
        assert (
            isinstance(reply, Response) and reply.nodes6 and not reply.nodes
        )  # no want: family of the socket
        assert all(endpoint.is_v6 for _, endpoint in reply.nodes6)
    finally:
        for node in (first, second, third):
            node.stop()


async def test_libtorrent_on_ipv6_accepts_our_nodes6_and_announces_to_us(netns: bool) -> None:
    """A libtorrent node on [::1] bootstrapped only from our IPv6 node learns our other nodes (nodes6)
    and its announce_peer (with our tokens) is accepted and served back by a lookup."""
    ours = [DhtNode(bind=("::1", 0), query_timeout=1.0)]
    await ours[0].start()
    ses = None
    try:
        for _ in range(2):
            ours.append(DhtNode(bind=("::1", 0), bootstrap=[ours[0].address], query_timeout=1.0))
            await ours[-1].start()
        settings = dht_settings("::1", 6990, f"[::1]:{ours[0].address[1]}")
        settings.update(listen_interfaces="[::1]:6990", outgoing_interfaces="")
        ses = lt.session(settings)
        count = 0
        for _ in range(40):
            await asyncio.sleep(0.25)
            count = await asyncio.to_thread(live_nodes, ses, 1.0)
            if count >= 2:
                break
        assert count >= 2
        ih6 = hashlib.sha1(b"ipv6 swarm").digest()
        ses.dht_announce(lt.sha1_hash(ih6), 7777, 0)
        for _ in range(40):
            await asyncio.sleep(0.25)
            if sum(node.stats["announces_stored"] for node in ours):
                break
        result = await ours[-1].lookup(ih6)
        assert Endpoint("::1", 7777) in result.peers
    finally:
        if ses is not None:
            stop_sessions([ses])
        for node in ours:
            node.stop()


async def test_maintenance_refreshes_stale_buckets_and_rotates_tokens() -> None:
    """BEP 5: a bucket unchanged for 15 minutes is refreshed with a find_node; tokens rotate (DHT-08)."""
    now = [1000.0]
    first = DhtNode(bind=("127.0.0.1", 0), query_timeout=1.0)
    await first.start()
    second = DhtNode(bind=("127.0.0.1", 0), bootstrap=[first.address], clock=lambda: now[0])
    try:
        await second.start()
        token = second.tokens.issue("127.0.0.1", IH)
        sent = second.stats["sent_queries"]
        now[0] += 15 * 60 + 1
        for _ in range(40):  # the maintenance loop ticks once a second
            await asyncio.sleep(0.1)
            if second.stats["sent_queries"] > sent and not second.routing.stale_buckets(now[0]):
                break
        assert second.stats["sent_queries"] > sent  # the refresh lookup went out
        assert second.routing.stale_buckets(now[0]) == []
        assert second.tokens.issue("127.0.0.1", IH) != token  # rotated …
        assert second.tokens.verify(token, "127.0.0.1", IH)  # … and the previous one still accepted
    finally:
        first.stop()
        second.stop()


async def test_monitored_infohash_is_looked_up_periodically(mesh: Mesh) -> None:
    seen: list[tuple[bytes, Endpoint]] = []
    node = DhtNode(
        bind=("127.0.0.7", 0), bootstrap=[mesh.bootstrap_address], relookup_interval=1.0,
        on_peers=lambda ih, peers: seen.extend((ih, p) for p in peers),
    )  # fmt: skip
    await node.start()
    try:
        node.monitor(IH)
        for _ in range(60):
            await asyncio.sleep(0.25)
            if IH in node.results and set(node.results[IH].peers) >= _announced():
                break
        assert set(node.results[IH].peers) >= _announced()
        assert {p for ih, p in seen if ih == IH} >= _announced()  # delivered to the monitor's callback
        node.unmonitor(IH)
        assert IH not in node.monitored
    finally:
        node.stop()


async def test_global_query_budget_paces_outgoing_queries(pair: tuple[DhtNode, DhtNode]) -> None:
    """A budget of 5 queries/s (burst 10) cannot send 20 pings in less than 2 s (a lower bound, not speed)."""
    first, _ = pair
    slow = DhtNode(bind=("127.0.0.1", 0), queries_per_second=5.0, query_timeout=1.0)
    await slow.start()  # no bootstrap: no query sent yet
    try:
        started = time.monotonic()
        ids = await asyncio.gather(*(slow.ping(first.address) for _ in range(20)))
        assert ids == [first.node_id] * 20
        assert time.monotonic() - started >= 1.9
    finally:
        slow.stop()


def _scripted_responder(sock: socket.socket, liar: socket.socket) -> bytes:
    """Answer one query three ways: from another port (spoofed), with a wrong tid, then correctly."""
    data, address = sock.recvfrom(2048)
    query = krpc.decode_message(data)
    assert isinstance(query, Query) and len(query.transaction_id) == 2  # DHT-04: we issue 2-byte tids
    liar.sendto(krpc.encode_message(Response(query.transaction_id, b"L" * 20)), address)
    sock.sendto(krpc.encode_message(Response(b"zz", b"W" * 20)), address)
    sock.sendto(b"d1:y1:r1:t2:" + query.transaction_id + b"e", address)  # no r: dropped, never raised
    sock.sendto(krpc.encode_message(Response(query.transaction_id, b"R" * 20)), address)
    return query.transaction_id


async def test_dht04_replies_matched_by_tid_and_source_address() -> None:
    node = DhtNode(bind=("127.0.0.1", 0), query_timeout=3.0)
    await node.start()
    with (
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock,
        socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as liar,
    ):
        sock.bind(("127.0.0.1", 0))
        liar.bind(("127.0.0.1", 0))
        sock.settimeout(3.0)
        try:
            responder = asyncio.create_task(asyncio.to_thread(_scripted_responder, sock, liar))
            node_id = await node.ping(sock.getsockname())
            await responder
            assert node_id == b"R" * 20
            assert node.stats["dropped_decode"] == 1
        finally:
            node.stop()


async def test_bootstrap_names_resolved_and_unresolvable_skipped(netns: bool) -> None:
    """Inside the private namespace no resolver is reachable: a public router name just drops out."""
    resolved = await resolve_bootstrap(
        [("localhost", 6881), ("127.0.0.2", 6881), ("127.0.0.2", 6881), PUBLIC_ROUTERS[0]], v6=False
    )
    assert resolved == [("127.0.0.1", 6881), ("127.0.0.2", 6881)]

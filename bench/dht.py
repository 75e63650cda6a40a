"""DHT benchmark: KRPC queries parsed and answered per second on one core, next to a UDP echo ceiling.

Run: ``.venv/bin/python bench/dht.py [--seconds 5] [--uvloop]`` (loopback only; 127.0.0.1).

Three numbers, all measured in the same run:

* ``codec``: decode + answer + encode in-process (no socket) — the pure cost of a reply.
* ``echo``: a raw asyncio UDP echo server pinned to one core, driven by a client on another core — the
  ceiling of Python datagram I/O on this machine.
* ``node``: our :class:`DhtNode` pinned to one core answering the same client (a mix of ping, find_node
  and get_peers with ``ro=1``, so the node does not ping the client back).

Goal context: a mature Java DHT node (mldht) handles ~20,000 packets/s per core.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from swarmscope.net.dht_answer import answer
from swarmscope.net.dht_node import DhtNode
from swarmscope.wire import krpc
from swarmscope.wire.krpc import Query

JAVA_REFERENCE = 20_000  # packets/s per core (mldht, goal context from the issue)
WINDOW = 64  # queries in flight from the client


def queries(count: int) -> list[bytes]:
    """A mix of read-only ping / find_node / get_peers datagrams with distinct 2-byte tids."""
    out = []
    for i in range(count):
        tid, sender, key = (i & 0xFFFF).to_bytes(2, "big"), (b"c%019d" % (i % 97)), os.urandom(20)
        method = (krpc.PING, krpc.FIND_NODE, krpc.GET_PEERS)[i % 3]
        query = Query(tid, method, sender, read_only=True, want=(b"n4",) if i % 3 else ())
        if method == krpc.FIND_NODE:
            query = Query(tid, method, sender, target=key, want=(b"n4",), read_only=True)
        elif method == krpc.GET_PEERS:
            query = Query(tid, method, sender, info_hash=key, want=(b"n4",), read_only=True)
        out.append(krpc.encode_message(query))
    return out


def filled_node() -> DhtNode:
    """A node whose routing table holds 300 contacts (so find_node/get_peers answers carry 8 nodes)."""
    node = DhtNode(bind=("127.0.0.1", 0), answer_rate=1e9, answer_burst=1e9)
    for i in range(300):
        node.routing.observe_response(os.urandom(20), (f"127.0.{i // 250}.{i % 250 + 1}", 6881), 0.0)
    return node


def bench_codec(seconds: float) -> float:
    """Decode + answer + encode per second, in-process."""
    node, data = filled_node(), queries(3000)
    address, done, start = ("127.0.0.1", 40000), 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for datagram in data:
            message = krpc.decode_message(datagram)
            assert isinstance(message, Query)
            krpc.encode_message(answer(node, message, address, 0.0))
        done += len(data)
    return done / (time.perf_counter() - start)


class _Echo(asyncio.DatagramProtocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.transport.sendto(data, addr)  # type: ignore[attr-defined]


async def _serve(kind: str, port: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    if kind == "echo":
        transport, _ = await loop.create_datagram_endpoint(_Echo, local_addr=("127.0.0.1", port))
        await asyncio.sleep(seconds)
        transport.close()
        return
    node = filled_node()
    node.bind = ("127.0.0.1", port)
    await node.start()
    await asyncio.sleep(seconds)
    node.stop()


def drive(port: int, seconds: float, data: list[bytes]) -> float:
    """Keep WINDOW queries in flight against 127.0.0.1:port for ``seconds``; replies per second."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(0.2)
    sent = received = 0
    start = time.perf_counter()
    for _ in range(WINDOW):
        sock.sendto(data[sent % len(data)], ("127.0.0.1", port))
        sent += 1
    while time.perf_counter() - start < seconds:
        try:
            sock.recv(4096)
            received += 1
        except TimeoutError:  # a lost datagram: refill the window
            for _ in range(WINDOW - (sent - received) % WINDOW or WINDOW):
                sock.sendto(data[sent % len(data)], ("127.0.0.1", port))
                sent += 1
            continue
        sock.sendto(data[sent % len(data)], ("127.0.0.1", port))
        sent += 1
    elapsed = time.perf_counter() - start
    sock.close()
    return received / elapsed


def bench_udp(kind: str, seconds: float, use_uvloop: bool) -> float:
    """Start a server process pinned to core 0 and drive it from this process on core 1."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    cmd = [sys.executable, __file__, "--serve", kind, "--port", str(port), "--seconds", str(seconds + 3)]
    server = subprocess.Popen(cmd + (["--uvloop"] if use_uvloop else []))
    try:
        time.sleep(1.5)
        return drive(port, seconds, queries(3000))
    finally:
        server.terminate()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=5)


def _pin(core: int) -> None:
    if hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) > 1:
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[core]})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--uvloop", action="store_true", help="run the servers on uvloop")
    parser.add_argument("--serve", choices=["echo", "node"], help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        _pin(0)
        if args.uvloop:
            import uvloop

            uvloop.install()
        asyncio.run(_serve(args.serve, args.port, args.seconds))
        return
    _pin(1)
    codec = bench_codec(args.seconds)
    echo = bench_udp("echo", args.seconds, args.uvloop)
    node = bench_udp("node", args.seconds, args.uvloop)
    loop = "uvloop" if args.uvloop else "asyncio"
    print(f"codec (decode+answer+encode, 1 core):   {codec:10,.0f} msg/s")
    print(f"UDP echo ceiling ({loop}, 1 core):     {echo:10,.0f} pkt/s")
    print(f"DhtNode answering ({loop}, 1 core):    {node:10,.0f} pkt/s")
    print(f"ratio node / echo ceiling:              {node / echo:10.2f}")
    print(f"ratio node / Java DHT reference (20k):  {node / JAVA_REFERENCE:10.2f}")


if __name__ == "__main__":
    main()

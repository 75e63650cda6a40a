"""Hostile trackers (BEP 3 HTTP announce): a reply naming 50,000 peers, and a redirect without end.

The tracker is a ThreadingHTTPServer on 127.0.24.1 in a thread of the test; the swarm's torrent names it
as its only tracker. Same shared assertions as test_peer_wire.py; bounds in each docstring and in
tests/hostile/README.md.
"""

from __future__ import annotations

import asyncio
import gzip
import socket
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from swarmscope.evidence.records import Source
from swarmscope.monitor.crawler import Monitor
from swarmscope.wire import bencode
from tests.hostile.conftest import Honest
from tests.hostile.harness import HONEST, check, run_monitor
from tests.net.scripted_tracker import http_server

pytest.importorskip("libtorrent")
pytestmark = pytest.mark.realclients
TRACKER_IP = "127.0.24.1"
Reply = Callable[[BaseHTTPRequestHandler], None]


@contextmanager
def tracker(reply: Reply) -> Iterator[tuple[str, list[str]]]:
    """An HTTP tracker answering every GET with ``reply``; yields its announce URL and the paths asked."""
    asked: list[str] = []

    def do_get(handler: BaseHTTPRequestHandler) -> None:
        asked.append(handler.path)
        reply(handler)

    with http_server(TRACKER_IP, do_get) as base:
        yield f"{base}/announce", asked


def with_tracker(honest: Honest, tmp_path: Path, url: str) -> Path:
    """The honest torrent with ``url`` as its only tracker."""
    meta = bencode.decode(honest.torrent.read_bytes())
    meta[b"announce"] = url.encode()
    path = tmp_path / "tracked.torrent"
    path.write_bytes(bencode.encode(meta))
    return path


def compact(ip: str, port: int) -> bytes:
    return socket.inet_aton(ip) + struct.pack(">H", port)


def test_a_tracker_returning_50000_peers(honest: Honest, tmp_path: Path) -> None:
    """One announce reply names 50,000 peers (127.0.1.x .. 127.0.19.x, 11 ports each, nothing listens:
    each probe is refused at once; all sort before the honest seed in the probe schedule); the honest
    seed itself is named last, and by hand as any other channel would. The reply is cut to the numwant
    (200) we asked for, so the seed is probed and verified within the 6 s run.

    Bounds: RSS +64 MiB, descriptors +80 (max_peers 50 probes at once); at most 200 tracker sightings.
    """
    junk = [(f"127.0.{1 + i // 2794}.{1 + (i // 11) % 254}", 7000 + i % 11) for i in range(50_000)]
    peers = b"".join(compact(ip, port) for ip, port in junk) + compact(*HONEST)

    def reply(handler: BaseHTTPRequestHandler) -> None:
        body = bencode.encode({b"interval": 1800, b"peers": peers})
        handler.send_response(200)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with tracker(reply) as (url, asked):
        torrent = with_tracker(honest, tmp_path, url)

        async def honest_lead(monitor: Monitor) -> None:
            while not monitor.stats[next(iter(monitor.stats))].trackers_ok:
                await asyncio.sleep(0.05)
            monitor.discovered(next(iter(monitor.stats)), [(*HONEST, None)], Source.DHT, "by hand")

        out = run_monitor(tmp_path, torrent, leads=[], duration=6.0, during=honest_lead)
    check(out, sorted({ip for ip, _ in junk}), rss_mib=64, fds=80)
    from_tracker = [s for s in out.sightings if s.source == "tracker"]
    assert 0 < len(from_tracker) <= 200, len(from_tracker)
    assert asked


def test_a_tracker_reply_inflating_to_millions_of_values(honest: Honest, tmp_path: Path) -> None:
    """A 4 KB gzip body inflating to 4 MiB of empty lists under ``peers`` (2,097,120 values; it blocked
    the event loop ~7 s and took ~200 MiB at every announce): refused past the reply's 20,000-value cap
    in one line, a tracker error, and the honest seed given by hand is monitored as before.

    Bounds: RSS +64 MiB, descriptors +16.
    """
    body = gzip.compress(b"d8:intervali1800e5:peersl" + b"le" * ((2 << 20) - 32) + b"ee", 9)  # < 4 MiB

    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Encoding", "gzip")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    with tracker(reply) as (url, asked):
        out = run_monitor(tmp_path, with_tracker(honest, tmp_path, url), duration=4.0)
    check(out, [], rss_mib=64, fds=16)
    (stats,) = out.monitor.stats.values()
    assert stats.tracker_errors >= 1 and "more than 20000 values" in (stats.last_tracker_error or ""), stats
    assert "\n" not in (stats.last_tracker_error or "") and asked


def test_a_tracker_redirecting_forever(honest: Honest, tmp_path: Path) -> None:
    """Every announce is answered by a 302 to another path of the same tracker: the client gives up
    after MAX_REDIRECTS (5) per announce, warns, and monitoring goes on (the seed is a lead given by
    hand). Bounds: RSS +64 MiB, descriptors +16; at most 6 GETs per announce attempt.
    """

    def reply(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(302)
        handler.send_header("Location", f"/announce/{len(handler.path)}?{handler.path.split('?', 1)[-1]}")
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    with tracker(reply) as (url, asked):
        out = run_monitor(tmp_path, with_tracker(honest, tmp_path, url), duration=4.0)
    check(out, [], rss_mib=64, fds=16)
    (stats,) = out.monitor.stats.values()
    assert stats.tracker_errors >= 1 and "redirect" in (stats.last_tracker_error or ""), stats
    assert 0 < len(asked) <= 6 * (stats.tracker_errors + 1), len(asked)  # + the event=stopped one

"""A minimal in-process HTTP tracker: the demo's fallback when opentracker is not installed.

Only what the scenario needs from BEP 3 "Trackers" (with BEP 23 compact peer lists): an ``/announce``
that records the connection's source address with the announced ``port`` (like opentracker, the query's
``ip`` is ignored), forgets a peer on ``event=stopped`` and answers with up to ``numwant`` other peers of
the same infohash. It serves only the infohashes it was given (a whitelist, like the Debian opentracker).
No UDP (BEP 15), no scrape. Runs in a daemon thread of the calling process; ``stop()`` joins it.
"""

from __future__ import annotations

import ipaddress
import threading
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import bencode2

from swarmscope.testbed.process import free_port

ANNOUNCE_INTERVAL = 300  # seconds, sent as "interval"
DEFAULT_NUMWANT = 50  # peers per reply when the client does not say (BEP 3 convention)
UNAUTHORIZED: dict[bytes, object] = {
    b"failure reason": b"Requested download is not authorized for use with this tracker."
}


@dataclass
class MiniTracker:
    """A running in-process tracker; same surface as ``Opentracker`` where the testbed needs it."""

    ip: str
    port: int
    allowed: frozenset[bytes]
    swarms: dict[bytes, dict[tuple[str, int], bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None
    thread: threading.Thread | None = None
    proc: None = None  # no process: nothing to stop by PID

    @property
    def http_url(self) -> str:
        """HTTP announce URL."""
        return f"http://{self.ip}:{self.port}/announce"

    @property
    def udp_url(self) -> None:
        """No UDP tracker here."""
        return None

    def announce(self, query: dict[str, bytes], source_ip: str) -> dict[bytes, object]:
        """Apply one announce and build the reply dict (BEP 3; compact peers per BEP 23)."""
        if query.get("info_hash", b"") not in self.allowed:
            return UNAUTHORIZED
        try:
            port = int(query.get("port", b""))
            numwant = int(query.get("numwant", str(DEFAULT_NUMWANT).encode()))
        except ValueError:
            return {b"failure reason": b"bad port or numwant"}
        others, complete = self.record(query, (source_ip, port))
        others = others[: max(0, numwant)]
        compact = b"".join(ipaddress.IPv4Address(ip).packed + port.to_bytes(2, "big") for ip, port in others)
        return {b"interval": ANNOUNCE_INTERVAL, b"complete": 0, b"incomplete": complete, b"peers": compact}

    def record(self, query: dict[str, bytes], me: tuple[str, int]) -> tuple[list[tuple[str, int]], int]:
        """Record (or, on ``event=stopped``, forget) ``me`` in the announced infohash's swarm (BEP 3).

        Args:
            query: the announce's decoded query (``info_hash`` already checked against the whitelist).
            me: (source ip, announced port) of the announcing peer.

        Returns:
            The swarm's other (ip, port) pairs, and how many peers the swarm holds after this announce.
        """
        with self.lock:
            peers = self.swarms.setdefault(query.get("info_hash", b""), {})
            if query.get("event") == b"stopped":
                peers.pop(me, None)
            else:
                peers[me] = query.get("peer_id", b"")
            return [p for p in peers if p != me], len(peers)

    def stop(self) -> None:
        """Shut the server down and join its thread (bounded)."""
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
        if self.thread is not None:
            self.thread.join(5.0)
        self.server = self.thread = None


def _handler(tracker: MiniTracker) -> type[BaseHTTPRequestHandler]:
    class AnnounceHandler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/announce":
                self.send_error(404)
                return
            pairs = urllib.parse.parse_qsl(url.query, encoding="latin-1")
            query = {k: v.encode("latin-1") for k, v in pairs}
            body = bencode2.bencode(tracker.announce(query, self.client_address[0]))
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    return AnnounceHandler


def start_mini_tracker(ip: str, infohashes: Iterable[str], *, port: int | None = None) -> MiniTracker:
    """Start the in-process tracker on ``ip`` for ``infohashes`` (40 hex digits each); call ``stop()``.

    Args:
        ip: loopback address to bind.
        infohashes: the only infohashes it serves.
        port: TCP port; a free one is picked when None.

    Returns:
        The running MiniTracker.
    """
    tracker = MiniTracker(ip, port or free_port(ip), frozenset(bytes.fromhex(h) for h in infohashes))
    tracker.server = ThreadingHTTPServer((ip, tracker.port), _handler(tracker))
    tracker.server.daemon_threads = True
    tracker.thread = threading.Thread(target=tracker.server.serve_forever, name="mini-tracker", daemon=True)
    tracker.thread.start()
    return tracker

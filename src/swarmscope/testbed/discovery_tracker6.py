"""An in-process HTTP tracker on ``::1`` for the discovery scenario's IPv6 peer (BEP 7 ``peers6``).

The Debian opentracker is built IPv4-only ("V4 Tracker is V4 only!" for ``-i ::1``, measured), so the
IPv6 peer announces here. Same rules as ``mini_tracker`` (source address recorded with the announced
port, whitelist, ``event=stopped`` forgets), but peers are answered in a compact ``peers6`` string
(18 bytes each: 16-byte address, 2-byte port; BEP 7) next to the IPv4 ``peers``.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterable
from http.server import ThreadingHTTPServer

from swarmscope.testbed.mini_tracker import ANNOUNCE_INTERVAL, UNAUTHORIZED, MiniTracker, _handler


class _Server6(ThreadingHTTPServer):
    address_family = socket.AF_INET6
    daemon_threads = True


class Tracker6(MiniTracker):
    """``MiniTracker`` answering with both ``peers`` (IPv4) and ``peers6`` (IPv6, BEP 7)."""

    @property
    def http_url(self) -> str:
        """HTTP announce URL with the bracketed IPv6 host."""
        return f"http://[{self.ip}]:{self.port}/announce"

    def announce(self, query: dict[str, bytes], source_ip: str) -> dict[bytes, object]:
        """Apply one announce (see ``MiniTracker.announce``) and answer with compact v4 and v6 lists."""
        if query.get("info_hash", b"") not in self.allowed:
            return UNAUTHORIZED
        try:
            port = int(query.get("port", b""))
        except ValueError:
            return {b"failure reason": b"bad port"}
        source = ipaddress.ip_address(source_ip)
        if isinstance(source, ipaddress.IPv6Address) and source.ipv4_mapped is not None:
            source = source.ipv4_mapped
        others, complete = self.record(query, (str(source), port))
        v4, v6 = b"", b""
        for ip, peer_port in others:
            address = ipaddress.ip_address(ip)
            if address.version == 4:
                v4 += address.packed + peer_port.to_bytes(2, "big")
            else:
                v6 += address.packed + peer_port.to_bytes(2, "big")
        return {
            b"interval": ANNOUNCE_INTERVAL,
            b"complete": 0,
            b"incomplete": complete,
            b"peers": v4,
            b"peers6": v6,
        }


def ipv6_loopback_works() -> str | None:
    """None when a TCP socket can listen on ``::1`` here, else the reason it cannot (for a skip)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as sock:
            sock.bind(("::1", 0))
            sock.listen(1)
    except OSError as exc:
        return f"IPv6 loopback ::1 unusable in this network namespace: {exc}"
    return None


def free_port6() -> int:
    """A TCP port (also free for UDP) on ``::1``."""
    for _ in range(50):
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as tcp:
            tcp.bind(("::1", 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind(("::1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port found on ::1")


def start_tracker6(infohashes: Iterable[str], *, port: int | None = None) -> Tracker6:
    """Start the IPv6 tracker on ``[::1]`` for ``infohashes`` (40 hex digits each); call ``stop()``."""
    tracker = Tracker6("::1", port or free_port6(), frozenset(bytes.fromhex(h) for h in infohashes))
    tracker.server = _Server6(("::1", tracker.port), _handler(tracker))
    tracker.thread = threading.Thread(target=tracker.server.serve_forever, name="tracker6", daemon=True)
    tracker.thread.start()
    return tracker

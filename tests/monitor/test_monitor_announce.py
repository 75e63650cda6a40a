"""The monitor's announces: event=started first, our listen port, and event=stopped when the run ends."""

from __future__ import annotations

import asyncio
import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.targets import load_target
from swarmscope.net.clock import Clock
from swarmscope.store.database import open_store
from swarmscope.wire import bencode


def _announces(tmp_path: Path, config: MonitorConfig) -> list[dict[str, list[str]]]:
    """Run a monitor against a local HTTP tracker; returns the query of every announce it received."""
    seen: list[dict[str, list[str]]] = []

    class Tracker(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # http.server API name
            seen.append(parse_qs(urlsplit(self.path).query))
            body = bencode.encode({b"interval": 1800, b"peers": b""})
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Tracker)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        data = b"y" * 20000
        info = {
            b"name": b"a.bin",
            b"piece length": 16384,
            b"length": len(data),
            b"pieces": b"".join(
                hashlib.sha1(data[i : i + 16384]).digest() for i in range(0, len(data), 16384)
            ),
        }
        url = f"http://127.0.0.1:{server.server_address[1]}/announce"
        torrent = tmp_path / "a.torrent"
        torrent.write_bytes(bencode.encode({b"announce": url.encode(), b"info": info}))
        store = open_store(str(tmp_path / "a.db"), node_key=Ed25519PrivateKey.generate())
        asyncio.run(Monitor([load_target(str(torrent))], store, config, Clock()).run())
        store.close()
    finally:
        server.shutdown()
        server.server_close()
    return seen


def test_announces_start_with_started_and_end_with_stopped(tmp_path: Path, netns: bool) -> None:
    config = MonitorConfig(
        peer_id=b"-SS0100-announceanno", duration=2.0, listen_port=7151, listen=True, bind_ip="127.0.0.1"
    )
    seen = _announces(tmp_path, config)
    events = [q.get("event", [None])[0] for q in seen]
    assert events[0] == "started" and events[-1] == "stopped", events
    assert all(q["port"] == ["7151"] for q in seen)
    assert all(q["uploaded"] == ["0"] and q["left"] == ["20000"] for q in seen)


def test_without_a_listener_we_announce_port_0(tmp_path: Path, netns: bool) -> None:
    """No tracker may hand peers a port where nothing of ours listens (libtorrent announces 0 too)."""
    config = MonitorConfig(
        peer_id=b"-SS0100-announceanno", duration=2.0, listen_port=6881, listen=False, bind_ip="127.0.0.1"
    )
    seen = _announces(tmp_path, config)
    assert seen and all(q["port"] == ["0"] for q in seen), seen

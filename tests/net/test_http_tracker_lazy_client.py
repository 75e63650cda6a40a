"""The HTTP tracker client makes its pooled httpx client (and its TLS context) at the first request, so a
process that never announces over HTTP pays neither; a request still goes through it (loopback only)."""

from __future__ import annotations

import asyncio
import http.server
import threading

from swarmscope.net.http_tracker_client import HttpTrackerClient
from swarmscope.net.tracker_client import TrackerClient
from swarmscope.wire.tracker import TrackerFault


class _Reply(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"d8:intervali60e5:peers0:e"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return


def test_no_client_until_the_first_request_and_closing_an_unused_one_is_fine() -> None:
    client = HttpTrackerClient(bind_ip="127.0.0.1", timeout=5)
    assert client._client is None
    asyncio.run(client.aclose())
    tracker = TrackerClient(b"-SS0001-abcdefghijkl", timeout=5)
    assert tracker._http._client is None
    asyncio.run(tracker.aclose())


def test_the_first_request_makes_the_client_and_gets_the_reply() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Reply)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:

        async def go() -> tuple[object, object, object]:
            client = HttpTrackerClient(bind_ip="127.0.0.1", timeout=5)
            reply = await client.get(f"http://127.0.0.1:{server.server_port}/announce")
            refused = await client.get("http://127.0.0.1:1/announce")
            made = client._client
            await client.aclose()
            return reply, refused, made

        reply, refused, made = asyncio.run(go())
        assert made is not None
        assert not isinstance(reply, TrackerFault) and reply.status == 200
        assert isinstance(refused, TrackerFault) and refused.error == "connection refused"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)

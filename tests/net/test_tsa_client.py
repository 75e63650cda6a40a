"""RFC 3161 client against a real TSA on loopback (OpenSSL behind HTTP) and against misbehaving servers."""

from __future__ import annotations

import hashlib
import shutil
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from swarmscope.errors import InputError
from swarmscope.evidence.timestamp.certificate import TimestampError
from swarmscope.evidence.timestamp.token import verify_token
from swarmscope.net.tsa_client import (
    TimestampNotConfiguredError,
    request_token,
    require_tsa_url,
    stamp_sealed_batch,
)
from swarmscope.testbed.tsa import TsaServer, start_tsa

DIGEST = hashlib.sha256(b"batch").digest()
needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[TsaServer]:
    with start_tsa(tmp_path) as server:
        yield server


class _Canned:
    """A loopback HTTP server answering every POST with one canned status/content type/body (or stalling)."""

    def __init__(self, status: int, content_type: str, body: bytes, *, stall: float = 0.0) -> None:
        release = self.release = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                if stall:
                    release.wait(stall)
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/tsa"

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@needs_openssl
async def test_request_token_round_trip(tsa: TsaServer) -> None:
    token = await request_token(tsa.url, DIGEST, nonce=99, timeout=30.0, trusted=[tsa.ca_cert_der])
    info = verify_token(token, DIGEST, trusted=[tsa.ca_cert_der])
    assert info.nonce == 99


@needs_openssl
async def test_stamp_sealed_batch(tsa: TsaServer) -> None:
    stamped = await stamp_sealed_batch(tsa.url, b"sealed batch bytes", timeout=30.0)
    assert stamped.digest == hashlib.sha256(b"sealed batch bytes").digest()
    assert verify_token(stamped.token, stamped.digest) == stamped.info
    assert stamped.info.nonce is not None


@needs_openssl
async def test_untrusted_tsa_is_refused(tsa: TsaServer, tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()
    other = start_tsa(tmp_path / "other")
    try:
        with pytest.raises(TimestampError, match="chain"):
            await request_token(other.url, DIGEST, nonce=1, timeout=30.0, trusted=[tsa.ca_cert_der])
    finally:
        other.stop()


@needs_openssl
async def test_rejection_status_is_a_timestamp_error(tmp_path: Path) -> None:
    server = start_tsa(tmp_path, digests=("sha384",))
    try:
        with pytest.raises(TimestampError, match=r"refused: status rejection.*bad_alg"):
            await request_token(server.url, DIGEST, nonce=1, timeout=30.0)
    finally:
        server.stop()


async def test_nothing_listening_is_a_timestamp_error() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(TimestampError, match="cannot connect"):
        await request_token(f"http://127.0.0.1:{port}/", DIGEST, nonce=1, timeout=10.0)


@pytest.mark.parametrize(
    ("status", "content_type", "body", "message"),
    [
        (200, "text/html; charset=utf-8", b"<html>TSA</html>", "Content-Type 'text/html'"),
        (500, "application/timestamp-reply", b"", "HTTP 500"),
        (404, "text/plain", b"no", "HTTP 404"),
        (200, "application/timestamp-reply", b"\x30\x03\x02\x01", "malformed reply"),
        (200, "application/timestamp-reply", b"", "malformed reply"),
    ],
)
async def test_misbehaving_servers(status: int, content_type: str, body: bytes, message: str) -> None:
    server = _Canned(status, content_type, body)
    try:
        with pytest.raises(TimestampError, match=message):
            await request_token(server.url, DIGEST, nonce=1, timeout=10.0)
    finally:
        server.stop()


async def test_timeout_is_a_timestamp_error() -> None:
    server = _Canned(200, "application/timestamp-reply", b"", stall=30.0)
    try:
        with pytest.raises(TimestampError, match=r"no reply within 0.5 s"):
            await request_token(server.url, DIGEST, nonce=1, timeout=0.5)
    finally:
        server.stop()


@pytest.mark.parametrize("url", [None, "", "   "])
async def test_no_tsa_configured(url: str | None) -> None:
    with pytest.raises(
        TimestampNotConfiguredError, match="no time-stamp authority configured: pass --tsa-url"
    ):
        require_tsa_url(url)
    with pytest.raises(TimestampNotConfiguredError) as caught:
        await stamp_sealed_batch(url, b"x")
    assert isinstance(caught.value, InputError) and isinstance(caught.value, TimestampError)


@pytest.mark.parametrize(
    ("url", "ok"), [("http://127.0.0.1:1/", True), (" https://tsa.example/ ", True), ("ftp://x/", False)]
)
def test_require_tsa_url(url: str, ok: bool) -> None:
    if ok:
        assert require_tsa_url(url) == url.strip()
    else:
        with pytest.raises(TimestampNotConfiguredError, match="http"):
            require_tsa_url(url)

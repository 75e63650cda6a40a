"""MaxMind download against a real HTTP server on loopback (never the internet), and the offline case."""

from __future__ import annotations

import hashlib
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from swarmscope.net.maxmind_download import DownloadError, download_edition
from swarmscope.testbed.mmdb import build_mmdb

KEY = "test-licence-key"


def make_archive(edition: str, members: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(f"{edition}_20260101/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


@dataclass
class FakeMaxMind:
    """What the loopback server answers: archive bytes per edition, checksum lines, the request log."""

    archives: dict[str, bytes] = field(default_factory=dict)
    checksums: dict[str, str] = field(default_factory=dict)
    requests: list[dict[str, list[str]]] = field(default_factory=list)
    base_url: str = ""


def _handler(state: FakeMaxMind) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlparse(self.path)
            query = parse_qs(url.query)
            state.requests.append(query)
            edition, suffix = query.get("edition_id", [""])[0], query.get("suffix", [""])[0]
            if url.path != "/app/geoip_download":
                self._send(404, b"not found")
            elif query.get("license_key") != [KEY]:
                self._send(401, b"Invalid license key\n")
            elif edition not in state.archives:
                self._send(400, b"Invalid product ID or subscription expired\n")
            elif suffix == "tar.gz":
                self._send(200, state.archives[edition])
            elif suffix == "tar.gz.sha256" and edition in state.checksums:
                self._send(200, state.checksums[edition].encode())
            else:
                self._send(404, b"no such file")

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def server() -> Iterator[FakeMaxMind]:
    state = FakeMaxMind()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


@pytest.fixture
def asn_mmdb(tmp_path: Path) -> bytes:
    return build_mmdb(tmp_path / "src.mmdb", "GeoLite2-ASN").read_bytes()


def _publish(server: FakeMaxMind, edition: str, mmdb: bytes, checksum: bool = True) -> bytes:
    archive = make_archive(edition, {"COPYRIGHT.txt": b"test", f"{edition}.mmdb": mmdb, "LICENSE.txt": b"x"})
    server.archives[edition] = archive
    if checksum:
        server.checksums[edition] = f"{hashlib.sha256(archive).hexdigest()}  {edition}_20260101.tar.gz\n"
    return archive


def test_download_with_checksum(server: FakeMaxMind, asn_mmdb: bytes, tmp_path: Path) -> None:
    archive = _publish(server, "GeoLite2-ASN", asn_mmdb)
    got = download_edition(KEY, "GeoLite2-ASN", tmp_path / "out", base_url=server.base_url)
    assert got.path == tmp_path / "out" / "GeoLite2-ASN.mmdb"
    assert got.path.read_bytes() == asn_mmdb
    assert got.archive_sha256 == hashlib.sha256(archive).hexdigest() and got.checksum_verified
    assert [q["suffix"] for q in server.requests] == [["tar.gz.sha256"], ["tar.gz"]]
    assert all(q["edition_id"] == ["GeoLite2-ASN"] and q["license_key"] == [KEY] for q in server.requests)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["GeoLite2-ASN.mmdb"]


def test_download_without_checksum_file(server: FakeMaxMind, asn_mmdb: bytes, tmp_path: Path) -> None:
    _publish(server, "GeoLite2-ASN", asn_mmdb, checksum=False)
    got = download_edition(KEY, "GeoLite2-ASN", tmp_path, base_url=server.base_url)
    assert not got.checksum_verified and got.path.read_bytes() == asn_mmdb


def test_checksum_mismatch_writes_nothing(server: FakeMaxMind, asn_mmdb: bytes, tmp_path: Path) -> None:
    _publish(server, "GeoLite2-ASN", asn_mmdb)
    server.checksums["GeoLite2-ASN"] = "0" * 64 + "  x.tar.gz\n"
    with pytest.raises(DownloadError, match="differs from the checksum file"):
        download_edition(KEY, "GeoLite2-ASN", tmp_path / "out", base_url=server.base_url)
    assert not (tmp_path / "out").exists()


def test_garbage_checksum_file(server: FakeMaxMind, asn_mmdb: bytes, tmp_path: Path) -> None:
    _publish(server, "GeoLite2-ASN", asn_mmdb)
    server.checksums["GeoLite2-ASN"] = "<html>maintenance</html>"
    with pytest.raises(DownloadError, match="not a SHA-256 line"):
        download_edition(KEY, "GeoLite2-ASN", tmp_path, base_url=server.base_url)


def test_wrong_key_is_http_401(server: FakeMaxMind, asn_mmdb: bytes, tmp_path: Path) -> None:
    _publish(server, "GeoLite2-ASN", asn_mmdb)
    with pytest.raises(DownloadError, match=r"refused the licence key \(HTTP 401\)"):
        download_edition("wrong", "GeoLite2-ASN", tmp_path, base_url=server.base_url)


def test_unknown_edition(server: FakeMaxMind, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 400 for edition 'GeoLite2-Nope'"):
        download_edition(KEY, "GeoLite2-Nope", tmp_path, base_url=server.base_url)


@pytest.mark.parametrize("key", [None, "", "   "])
def test_missing_licence_key(key: str | None, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="licence key is required"):
        download_edition(key, "GeoLite2-ASN", tmp_path, base_url="http://127.0.0.1:9")


def test_offline(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match=rf"cannot reach 127\.0\.0\.1:{port}: .*\(offline\?\)"):
        download_edition(KEY, "GeoLite2-ASN", tmp_path, base_url=f"http://127.0.0.1:{port}", timeout=5)


@pytest.mark.parametrize(
    ("members", "problem"),
    [({"README": b"x"}, "holds 0 .mmdb files"), ({"a.mmdb": b"1", "b.mmdb": b"2"}, "holds 2 .mmdb files")],
)
def test_archive_without_one_mmdb(
    server: FakeMaxMind, tmp_path: Path, members: dict[str, bytes], problem: str
) -> None:
    server.archives["GeoLite2-ASN"] = make_archive("GeoLite2-ASN", members)
    with pytest.raises(DownloadError, match=problem):
        download_edition(KEY, "GeoLite2-ASN", tmp_path, base_url=server.base_url)


def test_not_an_archive(server: FakeMaxMind, tmp_path: Path) -> None:
    server.archives["GeoLite2-ASN"] = b"not gzip at all"
    with pytest.raises(DownloadError, match=r"not a readable tar\.gz archive"):
        download_edition(KEY, "GeoLite2-ASN", tmp_path, base_url=server.base_url)


def test_member_path_cannot_escape(server: FakeMaxMind, asn_mmdb: bytes, tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../evil/GeoLite2-ASN.mmdb")
        info.size = len(asn_mmdb)
        tar.addfile(info, io.BytesIO(asn_mmdb))
    server.archives["GeoLite2-ASN"] = out.getvalue()
    got = download_edition(KEY, "GeoLite2-ASN", tmp_path / "out", base_url=server.base_url)
    assert got.path == tmp_path / "out" / "GeoLite2-ASN.mmdb" and not (tmp_path / "evil").exists()

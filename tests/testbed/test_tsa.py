"""The loopback TSA testbed: OpenSSL answers over HTTP; ``openssl ts -verify`` accepts what we verify."""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from swarmscope.evidence.timestamp.certificate import TimestampError
from swarmscope.evidence.timestamp.token import (
    _TimeStampResp,
    parse_response,
    timestamp_request,
    verify_token,
)
from swarmscope.testbed.tsa import TsaServer, start_tsa

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

DATA = b"a sealed batch, as bytes"
DIGEST = hashlib.sha256(DATA).digest()
HEADERS = {"Content-Type": "application/timestamp-query"}


@pytest.fixture
def tsa(tmp_path: Path) -> Iterator[TsaServer]:
    with start_tsa(tmp_path) as server:
        yield server


def _post(url: str, body: bytes, headers: dict[str, str] = HEADERS) -> httpx.Response:
    return httpx.post(url, content=body, headers=headers, timeout=30.0, trust_env=False)


def test_serves_on_loopback_with_a_tsa_certificate(tsa: TsaServer) -> None:
    assert tsa.url.startswith("http://127.0.0.1:")
    cert = x509.load_pem_x509_certificate(tsa.tsa_cert_pem)
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical and list(eku.value) == [x509.oid.ExtendedKeyUsageOID.TIME_STAMPING]
    ca = x509.load_pem_x509_certificate(tsa.ca_cert_pem)
    cert.verify_directly_issued_by(ca)


def test_reply_round_trip_and_openssl_verify_accepts_our_token(tsa: TsaServer, tmp_path: Path) -> None:
    reply = _post(tsa.url, timestamp_request(DIGEST, 77))
    assert reply.status_code == 200
    assert reply.headers["Content-Type"] == "application/timestamp-reply"
    token = parse_response(reply.content, digest=DIGEST, nonce=77)
    info = verify_token(token, DIGEST, trusted=[tsa.ca_cert_der])
    assert info.nonce == 77
    (tmp_path / "token.der").write_bytes(token)
    (tmp_path / "data").write_bytes(DATA)
    (tmp_path / "other").write_bytes(DATA + b"!")
    command = ["openssl", "ts", "-verify", "-token_in", "-in", str(tmp_path / "token.der")]
    command += ["-CAfile", str(tsa.directory / "ca.crt")]
    accepted = subprocess.run([*command, "-data", str(tmp_path / "data")], capture_output=True, timeout=30)
    assert accepted.returncode == 0, accepted.stderr
    assert b"Verification: OK" in accepted.stdout
    refused = subprocess.run([*command, "-data", str(tmp_path / "other")], capture_output=True, timeout=30)
    assert refused.returncode != 0
    with pytest.raises(TimestampError, match="messageImprint"):
        verify_token(token, hashlib.sha256(DATA + b"!").digest())


def test_serials_increase(tsa: TsaServer) -> None:
    serials = []
    for nonce in range(3):
        token = parse_response(
            _post(tsa.url, timestamp_request(DIGEST, nonce)).content, digest=DIGEST, nonce=nonce
        )
        serials.append(verify_token(token, DIGEST).serial)
    assert serials == sorted(serials) and len(set(serials)) == 3


def test_unsupported_digest_gets_a_real_rejection(tmp_path: Path) -> None:
    server = start_tsa(tmp_path, digests=("sha512",))
    try:
        reply = _post(server.url, timestamp_request(DIGEST, 5))
    finally:
        server.stop()
    assert reply.status_code == 200
    status = _TimeStampResp.load(reply.content)["status"]
    assert status["status"].native == "rejection"
    with pytest.raises(TimestampError, match=r"rejection.*bad_alg"):
        parse_response(reply.content, digest=DIGEST, nonce=5)


@pytest.mark.parametrize(
    ("body", "headers", "status"),
    [
        (b"", HEADERS, 400),
        (b"\x30\x00", {"Content-Type": "text/plain"}, 415),
    ],
)
def test_bad_queries_get_http_errors(
    tsa: TsaServer, body: bytes, headers: dict[str, str], status: int
) -> None:
    assert _post(tsa.url, body, headers).status_code == status


def test_garbage_query_gets_a_rejection_reply(tsa: TsaServer) -> None:
    reply = _post(tsa.url, b"not DER at all")
    assert reply.status_code == 200
    with pytest.raises(TimestampError, match=r"rejection.*bad_data_format"):
        parse_response(reply.content, digest=DIGEST, nonce=1)


def test_stop_closes_the_port(tmp_path: Path) -> None:
    server = start_tsa(tmp_path)
    port = int(server.url.rsplit(":", 1)[1].strip("/"))
    server.stop()
    assert not server.thread.is_alive()
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=5):
        pass

"""RFC 3161 codec and offline verification, against tokens from OpenSSL's real TSA (``openssl ts -reply``).

Tokens come from :func:`swarmscope.testbed.tsa.start_tsa` (test CA + TSA certificate generated per
module); the request encoder is cross-checked by ``openssl ts -query -in``.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from asn1crypto import tsp
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from swarmscope.errors import DecodeError, SwarmscopeError
from swarmscope.evidence.timestamp.certificate import TimestampError
from swarmscope.evidence.timestamp.token import (
    _TimeStampResp,
    parse_response,
    timestamp_request,
    verify_token,
)
from swarmscope.testbed.tsa import POLICY_OID, start_tsa

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")

DIGEST = hashlib.sha256(b"sealed batch bytes").digest()
NONCE = 0x1234_5678_9ABC_DEF0


@dataclass(frozen=True)
class Issued:
    """One real TSA exchange: the reply DER, its token and the TSA's certificates."""

    reply: bytes
    token: bytes
    ca_der: bytes
    tsa_der: bytes
    directory: Path


def _der(pem: bytes) -> bytes:
    return x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)


def _issue(directory: Path, *, key_type: str, ess: str, digest: bytes = DIGEST, nonce: int = NONCE) -> Issued:
    server = start_tsa(directory, key_type=key_type, ess_cert_id_alg=ess)
    try:
        reply = httpx.post(
            server.url,
            content=timestamp_request(digest, nonce),
            headers={"Content-Type": "application/timestamp-query"},
            timeout=30.0,
            trust_env=False,
        ).content
    finally:
        server.stop()
    token = parse_response(reply, digest=digest, nonce=nonce)
    return Issued(reply, token, _der(server.ca_cert_pem), _der(server.tsa_cert_pem), directory)


@pytest.fixture(
    scope="module", params=[("rsa", "sha1"), ("ec", "sha256")], ids=["rsa-esscertid", "ec-esscertidv2"]
)
def issued(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Issued]:
    key_type, ess = request.param
    yield _issue(tmp_path_factory.mktemp(f"tsa-{key_type}"), key_type=key_type, ess=ess)


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A second, unrelated test CA (for "does not chain" checks)."""
    return _issue(tmp_path_factory.mktemp("tsa-other"), key_type="rsa", ess="sha1").ca_der


# --- TimeStampReq -------------------------------------------------------------------------------------

REQUEST_VECTORS = [  # (nonce, cert_req)
    (0, True),
    (1, False),
    (2**63, True),
    (2**160 - 1, True),
]


@pytest.mark.parametrize(("nonce", "cert_req"), REQUEST_VECTORS)
def test_request_fields(nonce: int, cert_req: bool) -> None:
    der = timestamp_request(DIGEST, nonce, cert_req=cert_req)
    request = tsp.TimeStampReq.load(der, strict=True)
    assert request["version"].native == "v1"
    assert request["message_imprint"]["hash_algorithm"]["algorithm"].native == "sha256"
    assert request["message_imprint"]["hashed_message"].native == DIGEST
    assert request["nonce"].native == nonce
    assert request["cert_req"].native is cert_req
    assert request["req_policy"].native is None


def test_request_is_read_by_openssl(tmp_path: Path) -> None:
    query = tmp_path / "q.tsq"
    query.write_bytes(timestamp_request(DIGEST, 0xABCDEF))
    text = subprocess.run(
        ["openssl", "ts", "-query", "-in", str(query), "-text"], capture_output=True, text=True, timeout=30
    ).stdout
    assert "Hash Algorithm: sha256" in text
    assert "Nonce: 0xABCDEF" in text
    assert "Certificate required: yes" in text
    assert DIGEST[:8].hex(" ") in text.replace("-", " ").lower()


@pytest.mark.parametrize(
    ("digest", "nonce"), [(b"\x00" * 20, 1), (b"\x00" * 33, 1), (DIGEST, -1), (DIGEST, 2**160)]
)
def test_request_rejects_bad_arguments(digest: bytes, nonce: int) -> None:
    with pytest.raises(ValueError, match=r"digest|nonce"):
        timestamp_request(digest, nonce)


# --- TimeStampResp ------------------------------------------------------------------------------------


def test_parse_response_returns_the_token_bytes_as_sent(issued: Issued) -> None:
    assert issued.reply.endswith(issued.token)
    assert parse_response(issued.reply, digest=DIGEST, nonce=NONCE) == issued.token


def test_parse_response_every_truncation_is_a_decode_error(issued: Issued) -> None:
    for size in range(len(issued.reply)):
        with pytest.raises(DecodeError):
            parse_response(issued.reply[:size], digest=DIGEST, nonce=NONCE)


@pytest.mark.parametrize("tail", [b"\x00", b"\x30\x00", b"garbage"])
def test_parse_response_trailing_bytes_are_a_decode_error(issued: Issued, tail: bytes) -> None:
    with pytest.raises(DecodeError):
        parse_response(issued.reply + tail, digest=DIGEST, nonce=NONCE)


def test_parse_response_checks_digest_and_nonce(issued: Issued) -> None:
    with pytest.raises(TimestampError, match="messageImprint"):
        parse_response(issued.reply, digest=hashlib.sha256(b"other").digest(), nonce=NONCE)
    with pytest.raises(TimestampError, match="nonce"):
        parse_response(issued.reply, digest=DIGEST, nonce=NONCE + 1)


def _status_reply(status: str, texts: list[str] | None, fail_info: set[str] | None) -> bytes:
    info: dict[str, object] = {"status": status}
    if texts is not None:
        info["status_string"] = texts
    if fail_info is not None:
        info["fail_info"] = fail_info
    return bytes(_TimeStampResp({"status": info}).dump())


REFUSALS = [  # (status, status texts, failInfo, words the error must contain)
    (
        "rejection",
        ["Message digest algorithm is not supported."],
        {"bad_alg"},
        ["rejection", "supported", "bad_alg"],
    ),
    ("rejection", None, {"unaccepted_policy"}, ["rejection", "unaccepted_policy"]),
    ("waiting", None, None, ["waiting"]),
    ("revocation_warning", ["soon"], None, ["revocation_warning", "soon"]),
    ("revocation_notification", None, {"system_failure"}, ["revocation_notification", "system_failure"]),
]


@pytest.mark.parametrize(("status", "texts", "fail_info", "words"), REFUSALS)
def test_parse_response_refusals(
    status: str, texts: list[str] | None, fail_info: set[str] | None, words: list[str]
) -> None:
    with pytest.raises(TimestampError) as caught:
        parse_response(_status_reply(status, texts, fail_info), digest=DIGEST, nonce=NONCE)
    for word in words:
        assert word in str(caught.value)


def test_parse_response_granted_without_token_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="timeStampToken"):
        parse_response(_status_reply("granted", None, None), digest=DIGEST, nonce=NONCE)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=400))
def test_parse_response_property_arbitrary_bytes(data: bytes) -> None:
    """Arbitrary bytes: a token, DecodeError, or (for a well-formed refusal/mismatch) TimestampError."""
    with contextlib.suppress(DecodeError, TimestampError):
        parse_response(data, digest=DIGEST, nonce=NONCE)


# --- verify_token -------------------------------------------------------------------------------------


def test_verify_real_token(issued: Issued) -> None:
    for trusted in ([], [issued.ca_der], [issued.tsa_der]):
        info = verify_token(issued.token, DIGEST, trusted=trusted)
        assert info.nonce == NONCE
        assert info.policy_oid == POLICY_OID
        assert info.serial > 0
        assert info.tsa_name is not None and "swarmscope test TSA" in info.tsa_name
        assert info.cert_fingerprint == hashlib.sha256(issued.tsa_der).hexdigest()
        assert info.accuracy_us == 1_000_000
        assert abs(info.gen_time_us - time.time() * 1e6) < 3600 * 1e6  # same hour as the test run


def test_verify_rejects_another_digest(issued: Issued) -> None:
    with pytest.raises(TimestampError, match="messageImprint"):
        verify_token(issued.token, hashlib.sha256(b"another batch").digest())


def test_verify_honours_the_imprint_algorithm(issued: Issued) -> None:
    with pytest.raises(TimestampError, match="messageImprint: hash algorithm sha256, expected sha512"):
        verify_token(issued.token, DIGEST, hash_algorithm="sha512")


def test_verify_rejects_an_untrusted_chain(issued: Issued, other_ca: bytes) -> None:
    with pytest.raises(TimestampError, match="chain"):
        verify_token(issued.token, DIGEST, trusted=[other_ca])


def test_verify_rejects_a_malformed_trusted_certificate(issued: Issued) -> None:
    with pytest.raises(DecodeError, match=r"trusted\[0\]"):
        verify_token(issued.token, DIGEST, trusted=[b"not a certificate"])


def test_verify_every_truncation_is_a_decode_error(issued: Issued) -> None:
    for size in range(len(issued.token)):
        with pytest.raises(DecodeError):
            verify_token(issued.token[:size], DIGEST)


@pytest.mark.parametrize("tail", [b"\x00", b"\x05\x00", b"x" * 17])
def test_verify_trailing_bytes_are_a_decode_error(issued: Issued, tail: bytes) -> None:
    with pytest.raises(DecodeError):
        verify_token(issued.token + tail, DIGEST)


@pytest.mark.parametrize("trusted_ca", [False, True], ids=["embedded-only", "trusted-ca"])
def test_verify_no_flipped_bit_passes(issued: Issued, trusted_ca: bool) -> None:
    """Flip the low bit of every byte (bounded: one pass over the token): never verifies."""
    trusted = [issued.ca_der] if trusted_ca else []
    for position in range(len(issued.token)):
        flipped = bytearray(issued.token)
        flipped[position] ^= 0x01
        with pytest.raises((TimestampError, DecodeError)):
            verify_token(bytes(flipped), DIGEST, trusted=trusted)


@pytest.mark.parametrize("mask", [0xFF, 0x80, 0x02])
def test_verify_sampled_flips_never_pass(issued: Issued, mask: int) -> None:
    for position in range(0, len(issued.token), 7):  # bounded sample of positions
        flipped = bytearray(issued.token)
        flipped[position] ^= mask
        with pytest.raises((TimestampError, DecodeError)):
            verify_token(bytes(flipped), DIGEST)


def _flip_inside(token: bytes, needle: bytes, *, offset: int = 0) -> bytes:
    at = token.index(needle) + offset
    flipped = bytearray(token)
    flipped[at] ^= 0x01
    return bytes(flipped)


def test_verify_names_the_failed_check(issued: Issued) -> None:
    tst_der = tsp.TSTInfo.load(
        tsp.TimeStampResp.load(issued.reply)["time_stamp_token"]["content"]["encap_content_info"][
            "content"
        ].contents
    ).dump()
    cases = [
        (_flip_inside(issued.token, tst_der, offset=len(tst_der) - 1), "messageDigest"),
        (_flip_inside(issued.token, issued.tsa_der, offset=len(issued.tsa_der) - 1), "signingCertificate"),
        (issued.token[:-1] + bytes([issued.token[-1] ^ 0x01]), "signature"),
        (_flip_inside(issued.token, issued.ca_der, offset=len(issued.ca_der) - 1), "chain"),
    ]
    for token, check in cases:
        with pytest.raises(TimestampError, match=check):
            verify_token(token, DIGEST)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_verify_property_mutations(issued: Issued, data: st.DataObject) -> None:
    """Random byte edits of a real token: DecodeError or TimestampError, never another error or a pass."""
    token = bytearray(issued.token)
    position = data.draw(st.integers(0, len(token) - 1))
    value = data.draw(st.integers(0, 255).filter(lambda v: v != token[position]))
    token[position] = value
    with pytest.raises((DecodeError, TimestampError)):
        verify_token(bytes(token), DIGEST)


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=600))
def test_verify_property_arbitrary_bytes(data: bytes) -> None:
    with pytest.raises(SwarmscopeError) as caught:
        verify_token(data, DIGEST)
    assert isinstance(caught.value, DecodeError | TimestampError)

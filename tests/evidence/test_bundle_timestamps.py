"""RFC 3161 tokens in a bundle, from a real TSA (OpenSSL ``ts -reply`` on loopback, testbed.tsa).

A token over SHA-256 of each batch's canonical bytes verifies; a flipped token, a token moved to another
batch's name, or a TSA root that did not issue it fails and names the token file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.verify import verify_bundle
from swarmscope.evidence.seal import batch_bytes
from swarmscope.evidence.timestamp.token import parse_response, timestamp_request
from swarmscope.testbed.tsa import start_tsa
from tests.evidence.test_bundle import T0, World, content_of, make_world


def stamped(world: World, directory: Path) -> tuple[dict[str, bytes], bytes]:
    """A bundle of the world with a real token per batch, and the TSA CA certificate (DER)."""
    server = start_tsa(directory)
    tokens: dict[tuple[int, int], bytes] = {}
    try:
        for n, sealed in enumerate(world.batches):
            digest = hashlib.sha256(batch_bytes(sealed.batch)).digest()
            reply = httpx.post(
                server.url,
                content=timestamp_request(digest, n + 1),
                headers={"Content-Type": "application/timestamp-query"},
                timeout=30.0,
                trust_env=False,
            ).content
            tokens[(sealed.batch.first_index, sealed.batch.last_index)] = parse_response(
                reply, digest=digest, nonce=n + 1
            )
    finally:
        server.stop()
    content = replace(content_of(world), tokens=tokens)
    files = b.build_bundle(content, private_key=world.key, created_us=T0, software_version="0.1.0")
    ca = x509.load_pem_x509_certificate(server.ca_cert_pem).public_bytes(serialization.Encoding.DER)
    return files, ca


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, bytes], bytes]]:
    yield stamped(make_world(), tmp_path_factory.mktemp("tsa"))


def token_paths(files: dict[str, bytes]) -> list[str]:
    return sorted(p for p in files if p.startswith("records/timestamps/"))


def test_tokens_verify(bundle: tuple[dict[str, bytes], bytes]) -> None:
    files, ca = bundle
    assert len(token_paths(files)) == 3
    verdict = verify_bundle(files, tsa_roots=[ca])
    assert verdict.ok, verdict.problems
    assert next(c for c in verdict.checks if c.name == "timestamps").detail == "3 RFC 3161 tokens"
    untrusted = verify_bundle(files)
    assert untrusted.ok and any("certificate they carry" in note for note in untrusted.notes)


def test_flipped_token_is_named(bundle: tuple[dict[str, bytes], bytes]) -> None:
    files, ca = bundle
    path = token_paths(files)[0]
    for offset in (0, len(files[path]) // 2, len(files[path]) - 1):
        data = bytearray(files[path])
        data[offset] ^= 0x01
        verdict = verify_bundle({**files, path: bytes(data)}, tsa_roots=[ca])
        named = [p for p in verdict.problems if p.file == path and p.check == "timestamps"]
        assert named and named[0].record is not None, (offset, verdict.problems)


def test_token_of_another_batch_is_named(bundle: tuple[dict[str, bytes], bytes]) -> None:
    files, ca = bundle
    first, second = token_paths(files)[:2]
    verdict = verify_bundle({**files, second: files[first]}, tsa_roots=[ca])
    assert any(p.file == second and p.check == "timestamps" for p in verdict.problems)


def test_untrusted_root_fails(bundle: tuple[dict[str, bytes], bytes], tmp_path: Path) -> None:
    files, _ = bundle
    other = start_tsa(tmp_path)
    other.stop()
    wrong = x509.load_pem_x509_certificate(other.ca_cert_pem).public_bytes(serialization.Encoding.DER)
    verdict = verify_bundle(files, tsa_roots=[wrong])
    assert {p.file for p in verdict.problems if p.check == "timestamps"} == set(token_paths(files))


def test_cli_tsa_root(bundle: tuple[dict[str, bytes], bytes], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from swarmscope.cli import register_commands
    from swarmscope.cli.app import app

    files, ca = bundle
    for rel, data in files.items():
        (tmp_path / "b" / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "b" / rel).write_bytes(data)
    (tmp_path / "ca.der").write_bytes(ca)
    register_commands()
    result = CliRunner().invoke(app, ["verify", str(tmp_path / "b"), "--tsa-root", str(tmp_path / "ca.der")])
    assert result.exit_code == 0, result.output
    assert "ok   timestamps" in result.output and "3 RFC 3161 tokens" in result.output

"""MSE/PE against real libtorrent 2.1.1 on loopback (private netns), with encryption forced on its side.

Settings (libtorrent ``settings_pack``): ``out_enc_policy`` = ``in_enc_policy`` = pe_forced,
``allowed_enc_level`` = pe_rc4 — libtorrent then refuses plaintext connections and offers/accepts RC4 only.
Loopback settings follow ../shared/testbed/NOTES.md (one 127.x address per session, DHT/LSD/UPnP/NAT-PMP off).
"""

from __future__ import annotations

import asyncio
import struct
from pathlib import Path
from typing import Any

import pytest

from swarmscope.evidence.probe.encrypted import EncryptedProbeRun
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Failure, Tier
from swarmscope.net.clock import Clock
from swarmscope.net.mse_conn import (
    EncryptionPolicy,
    attempts,
    mse_accept,
    mse_initiate,
    probe_with_encryption,
    random_pad,
    random_private_key,
)
from swarmscope.net.peer_conn import probe
from swarmscope.wire.metainfo import Metainfo, parse_metainfo
from swarmscope.wire.mse import IncomingKind, classify_incoming
from swarmscope.wire.mse_cipher import CRYPTO_METHODS, CRYPTO_RC4
from swarmscope.wire.peer import decode_handshake, reserved_bytes
from tests.net.lt_seed import lt, make_torrent, seed, session
from tests.net.probe_runs import probe_run

pytestmark = pytest.mark.realclients

FORCED: dict[str, Any] = {
    "out_enc_policy": int(lt.enc_policy.pe_forced),
    "in_enc_policy": int(lt.enc_policy.pe_forced),
    "allowed_enc_level": int(lt.enc_level.pe_rc4),
}
PLAIN_ONLY: dict[str, Any] = {
    "out_enc_policy": int(lt.enc_policy.pe_disabled),
    "in_enc_policy": int(lt.enc_policy.pe_disabled),
}
PEER_ID = b"-SS0100-msemsemsemse"
PROTOCOL = b"\x13BitTorrent protocol"


def our_handshake(infohash: bytes) -> bytes:
    """A BEP 3 handshake with no extension bits, so a libtorrent seed answers with a plain bitfield."""
    return PROTOCOL + reserved_bytes(extension=False, fast=False) + infohash + PEER_ID


def frames(stream: bytes) -> list[tuple[int, bytes]]:
    """Complete length-prefixed messages (id, payload) after a 68-byte handshake; keep-alives skipped."""
    out, i = [], 68
    while i + 4 <= len(stream):
        (n,) = struct.unpack(">I", stream[i : i + 4])
        if i + 4 + n > len(stream):
            break
        if n:
            out.append((stream[i + 4], stream[i + 5 : i + 4 + n]))
        i += 4 + n
    return out


def new_run(meta: Metainfo, ip: str, port: int) -> ProbeRun:
    return probe_run(meta, ip, port, peer_id=PEER_ID)


async def read_plain_until_bitfield(
    reader: asyncio.StreamReader, decrypt: Any, plain: bytes, raw: bytearray
) -> bytes:
    """Read and decrypt until the stream holds the handshake and a bitfield message (bounded: 10 s)."""
    async with asyncio.timeout(10):
        while not any(mid == 5 for mid, _ in frames(plain)):
            data = await reader.read(4096)
            assert data, f"libtorrent closed after {len(plain)} plaintext bytes"
            raw += data
            plain += decrypt(data)
    return plain


def test_our_initiator_reads_a_forced_encryption_seed(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    ih = meta.wire_infohash

    async def main() -> tuple[Any, bytes, bytes]:
        reader, writer = await asyncio.open_connection("127.0.5.1", 6881, local_addr=("127.0.0.1", 0))
        try:
            est = await mse_initiate(reader, writer, skey=ih, initial_payload=our_handshake(ih), timeout=10)
            raw = bytearray()
            plain = await read_plain_until_bitfield(reader, est.stream.decrypt, est.received, raw)
            return est, plain, bytes(raw)
        finally:
            writer.close()

    with seed(torrent, tmp_path, "127.0.5.1", 6881, **FORCED):
        est, plain, raw = asyncio.run(main())
    assert est.skey == ih and est.method == CRYPTO_RC4 and est.encrypted
    hs = decode_handshake(plain[:68])
    assert hs.infohash == ih and hs.peer_id.startswith(b"-LT2110-")
    bitfield = next(payload for mid, payload in frames(plain) if mid == 5)
    assert len(bitfield) == (meta.num_pieces + 7) // 8
    assert bin(int.from_bytes(bitfield, "big")).count("1") == meta.num_pieces  # a seed: every piece
    assert PROTOCOL not in raw  # what crossed the wire after the handshake was RC4, not plaintext


def test_probe_driver_verifies_a_forced_encryption_seed_through_mse(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    with seed(torrent, tmp_path, "127.0.5.2", 6881, **FORCED):
        plain = asyncio.run(probe(new_run(meta, "127.0.5.2", 6881), clock=Clock()))
        wrapped = EncryptedProbeRun(
            new_run(meta, "127.0.5.2", 6881), private_key=random_private_key(), pad_a=random_pad()
        )
        obs = asyncio.run(probe(wrapped, clock=Clock()))  # type: ignore[arg-type]
    assert plain.tier is Tier.LISTED and not plain.encrypted  # forced: libtorrent refuses plaintext
    assert obs.tier is Tier.VERIFIED and obs.encrypted and obs.failure is None, obs
    assert obs.peer_id is not None and obs.peer_id.startswith(b"-LT2110-")
    assert obs.wire_bytes_in > obs.bytes_received and obs.wire_bytes_out >= 96 + 40 + 16 + 68


def test_policy_prefer_falls_back_to_plaintext_and_require_does_not(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    ip = "127.0.5.3"
    with seed(torrent, tmp_path, ip, 6881, **PLAIN_ONLY):
        prefer = asyncio.run(
            probe_with_encryption(lambda: new_run(meta, ip, 6881), EncryptionPolicy.PREFER, clock=Clock())
        )
        require = asyncio.run(
            probe_with_encryption(lambda: new_run(meta, ip, 6881), EncryptionPolicy.REQUIRE, clock=Clock())
        )
    assert [o.tier for o in prefer] == [Tier.LISTED, Tier.VERIFIED], prefer
    assert prefer[0].failure in {Failure.CLOSED_BY_PEER.value, Failure.HANDSHAKE_INVALID.value}
    assert not prefer[1].encrypted
    assert len(require) == 1 and require[0].tier is Tier.LISTED


def test_forced_libtorrent_initiator_is_recognised_by_our_responder(tmp_path: Path, netns: bool) -> None:
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    ih = meta.wire_infohash
    other = bytes(20)
    listen_ip, port = "127.0.5.20", 7001

    async def main(handle: Any) -> tuple[IncomingKind, Any, bytes]:
        result: asyncio.Future[tuple[IncomingKind, Any, bytes]] = asyncio.get_running_loop().create_future()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                prefix = await reader.read(20)
                kind = classify_incoming(prefix)
                est = await mse_accept(reader, writer, skeys=[other, ih], prefix=prefix, timeout=10)
                writer.write(est.stream.encrypt(our_handshake(est.skey)))
                plain = est.initial_payload + est.received
                # IA normally holds libtorrent's handshake; were it empty, the handshake follows in the stream
                plain = await read_plain_until_bitfield(reader, est.stream.decrypt, plain, bytearray())
                if not result.done():
                    result.set_result((kind, est, plain))
            except Exception as exc:  # hand the failure to the test instead of losing it in the server task
                if not result.done():
                    result.set_exception(exc)
            finally:
                writer.close()

        server = await asyncio.start_server(on_connect, listen_ip, port)
        try:
            handle.connect_peer((listen_ip, port))
            async with asyncio.timeout(20):
                return await result
        finally:
            server.close()
            await server.wait_closed()

    with seed(torrent, tmp_path, "127.0.5.21", 6881, **FORCED) as handle:
        kind, est, plain = asyncio.run(main(handle))
    assert kind is IncomingKind.ENCRYPTED
    assert est.skey == ih and est.encrypted
    assert est.initial_payload[:20] == PROTOCOL  # libtorrent sends its BEP 3 handshake as IA
    hs = decode_handshake(plain[:68])
    assert hs.infohash == ih and hs.peer_id.startswith(b"-LT2110-")
    assert any(mid == 5 for mid, _ in frames(plain))


def test_session_helper_accepts_forced_settings() -> None:
    """The settings names used above exist in this libtorrent build (a rename would look like a hang)."""
    ses = session("127.0.5.30", 6881, **FORCED)
    try:
        pack = ses.get_settings()
        assert pack["out_enc_policy"] == FORCED["out_enc_policy"]
        assert pack["allowed_enc_level"] == FORCED["allowed_enc_level"]
    finally:
        del ses


def test_encrypted_run_records_a_bad_mse_answer_and_the_policy_table(tmp_path: Path) -> None:
    """No network: a peer answering Ya with bytes that never contain ENCRYPT(VC) is handshake_invalid."""
    meta = parse_metainfo(make_torrent(tmp_path, pieces=2).read_bytes())
    wrapped = EncryptedProbeRun(new_run(meta, "127.0.5.40", 6881), private_key=bytes(range(1, 21)), pad_a=b"")
    first = wrapped.connected(1_000_000)
    assert len(first) == 96 and not wrapped.done
    assert len(wrapped.received(bytes(range(2, 98)), 1_000_001)) == 40 + 16 + 68  # Yb: step 3 with our IA
    assert wrapped.received(bytes(600), 1_000_002) == b"" and wrapped.done
    obs = wrapped.observation()
    assert obs.tier is Tier.LISTED and obs.failure == Failure.HANDSHAKE_INVALID.value and not obs.encrypted
    assert obs.wire_bytes_in == 96 + 600 and obs.wire_bytes_out == 96 + 40 + 16 + 68
    assert attempts(EncryptionPolicy.PREFER) == (CRYPTO_METHODS, None)
    assert attempts(EncryptionPolicy.ALLOW) == (None, CRYPTO_METHODS)
    assert attempts(EncryptionPolicy.REQUIRE) == (CRYPTO_RC4,)
    assert attempts(EncryptionPolicy.DISABLE) == (None,)


def test_policy_allow_tries_plaintext_then_encrypts_for_a_forced_peer(tmp_path: Path, netns: bool) -> None:
    """ALLOW (the monitor's default) costs no Diffie-Hellman for plaintext peers, and still reaches peers that
    require encryption through the retry."""
    torrent = make_torrent(tmp_path)
    meta = parse_metainfo(torrent.read_bytes())
    ip = "127.0.5.4"
    with seed(torrent, tmp_path, ip, 6881, **FORCED):
        allow = asyncio.run(
            probe_with_encryption(lambda: new_run(meta, ip, 6881), EncryptionPolicy.ALLOW, clock=Clock())
        )
    assert [o.tier for o in allow] == [Tier.LISTED, Tier.VERIFIED], allow
    assert not allow[0].encrypted and allow[1].encrypted

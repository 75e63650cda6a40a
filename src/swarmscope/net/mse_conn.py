"""MSE/PE on real connections: asyncio handshakes over streams, and encryption for the probe driver.

Three pieces, all thin over the pure :mod:`swarmscope.wire.mse` state machines:

* :func:`mse_initiate` / :func:`mse_accept` run a handshake over an asyncio ``StreamReader``/``StreamWriter``
  pair and hand back the :class:`~swarmscope.wire.mse.MseEstablished` (its ``stream`` encrypts/decrypts
  the rest of the connection).
* the pure :class:`~swarmscope.evidence.probe.encrypted.EncryptedProbeRun` (it wraps a ProbeRun so that the
  unchanged outgoing probe, :func:`swarmscope.net.peer_conn.probe`, speaks MSE) is given its randomness here.
* :func:`probe_with_encryption` applies an :class:`EncryptionPolicy` (``--encryption prefer|require|
  disable``): encrypted first and plaintext on failure, encrypted only, or plaintext only (README
  ``--encryption``).

Randomness (DH private keys, PadA/PadB) is drawn here with :mod:`secrets` and passed into the pure code.
"""

from __future__ import annotations

import asyncio
import enum
import secrets
from collections.abc import Callable, Iterable

from swarmscope.evidence.probe.encrypted import EncryptedProbeRun
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Failure, Observation, Tier
from swarmscope.net.clock import Clock
from swarmscope.net.peer_conn import probe
from swarmscope.net.stream_shell import Tap
from swarmscope.wire.mse import MseEstablished, MseInitiator, MseResponder
from swarmscope.wire.mse_cipher import CRYPTO_METHODS, CRYPTO_RC4, MAX_PAD, SkeyIndex

PRIVATE_KEY_BYTES = 20  # 160-bit DH exponent (MSE: "anything beyond 180 bit" adds nothing)
READ_CHUNK = 4096  # bytes per read while handshaking
HANDSHAKE_TIMEOUT = 30.0  # seconds; MSE: "if A sent less than 96 bytes within 30 seconds" → give up


def random_private_key() -> bytes:
    """A fresh DH private key (20 random bytes) for one connection."""
    return secrets.token_bytes(PRIVATE_KEY_BYTES)


def random_pad(max_len: int = MAX_PAD) -> bytes:
    """PadA/PadB: 0..``max_len`` random bytes (MSE: "random data with a random length of 0 to 512")."""
    return secrets.token_bytes(secrets.randbelow(max_len + 1))


async def _drive(
    machine: MseInitiator | MseResponder, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> MseEstablished:
    """Feed ``machine`` from ``reader`` and write its replies until it is established."""
    while machine.established is None:
        data = await reader.read(READ_CHUNK)
        if not data:
            raise ConnectionResetError("peer closed the connection during the MSE handshake")
        out = machine.receive(data)
        if out:
            writer.write(out)
            await writer.drain()
    return machine.established


async def mse_initiate(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    skey: bytes,
    initial_payload: bytes = b"",
    crypto_provide: int = CRYPTO_METHODS,
    timeout: float = HANDSHAKE_TIMEOUT,
) -> MseEstablished:
    """Run the initiator (outgoing) MSE handshake on a connected stream pair.

    Args:
        reader, writer: a freshly connected TCP stream. skey: the 20-byte wire infohash.
        initial_payload: IA, normally our BEP 3 handshake. crypto_provide: CRYPTO_RC4 and/or CRYPTO_PLAINTEXT.
        timeout: seconds for the whole handshake.

    Returns:
        The established handshake; ``received`` holds decrypted payload bytes that came with it, and
        ``stream`` encrypts/decrypts everything after.

    Raises:
        DecodeError: the peer's bytes are not a valid MSE handshake. ConnectionResetError: the peer closed.
        TimeoutError: no complete handshake within ``timeout``.

    Source: Vuze wiki "Message Stream Encryption".
    """
    machine = MseInitiator(
        skey=skey,
        private_key=random_private_key(),
        pad_a=random_pad(),
        initial_payload=initial_payload,
        crypto_provide=crypto_provide,
    )
    async with asyncio.timeout(timeout):
        writer.write(machine.start())
        await writer.drain()
        return await _drive(machine, reader, writer)


async def mse_accept(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    *,
    skeys: Iterable[bytes] | SkeyIndex,
    prefix: bytes = b"",
    crypto_allowed: int = CRYPTO_METHODS,
    prefer: int = CRYPTO_RC4,
    timeout: float = HANDSHAKE_TIMEOUT,
) -> MseEstablished:
    """Run the responder (incoming) MSE handshake; find which of ``skeys`` the initiator wants.

    Args:
        reader, writer: an accepted TCP stream. skeys: 20-byte wire infohashes we serve (or a shared
            SkeyIndex).
        prefix: bytes already read from ``reader`` (e.g. to classify the connection). crypto_allowed /
        prefer: methods we accept and the one chosen when both are offered. timeout: seconds in all.

    Returns:
        The established handshake: ``skey`` is the swarm, ``initial_payload`` the decrypted IA (normally
        the peer's BEP 3 handshake), ``received`` any decrypted bytes after IA.

    Raises:
        DecodeError: not a valid MSE handshake, or for an infohash not in ``skeys``.
        ConnectionResetError: the peer closed. TimeoutError: no complete handshake within ``timeout``.

    Source: Vuze wiki "Message Stream Encryption".
    """
    machine = MseResponder(
        skeys=skeys,
        private_key=random_private_key(),
        pad_b=random_pad(),
        crypto_allowed=crypto_allowed,
        prefer=prefer,
    )
    async with asyncio.timeout(timeout):
        out = machine.receive(prefix) if prefix else b""
        if out:
            writer.write(out)
            await writer.drain()
        return await _drive(machine, reader, writer)


class EncryptionPolicy(enum.Enum):
    """How outgoing probes use MSE (CLI ``--encryption``)."""

    ALLOW = "allow"  # plaintext BEP 3 first; on a handshake failure retry with MSE (cheap for most peers)
    PREFER = "prefer"  # MSE offering RC4 and plaintext; on a handshake failure retry in plaintext
    REQUIRE = "require"  # MSE with RC4 only; no plaintext attempt
    DISABLE = "disable"  # plaintext BEP 3 only


RETRY_FAILURES = {
    Failure.CLOSED_BY_PEER.value,
    Failure.HANDSHAKE_INVALID.value,
    Failure.HANDSHAKE_TIMEOUT.value,
}


def attempts(policy: EncryptionPolicy) -> tuple[int | None, ...]:
    """The attempts a policy makes, in order: crypto_provide for an MSE attempt, None for plaintext."""
    if policy is EncryptionPolicy.PREFER:
        return (CRYPTO_METHODS, None)
    if policy is EncryptionPolicy.ALLOW:
        return (None, CRYPTO_METHODS)
    return (CRYPTO_RC4,) if policy is EncryptionPolicy.REQUIRE else (None,)


async def probe_with_encryption(
    make_run: Callable[[], ProbeRun],
    policy: EncryptionPolicy,
    *,
    clock: Clock,
    connect_timeout: float = 5.0,
    bind_ip: str | None = None,
    tap: Tap | None = None,
) -> list[Observation]:
    """Probe one peer under an encryption policy, retrying with the other mode when the first fails early.

    A retry happens only when the first attempt connected but got no handshake (closed, invalid or
    timed out with tier LISTED): the signature of a peer that refuses our mode.

    Args:
        make_run: builds a fresh ProbeRun per attempt. policy: see :class:`EncryptionPolicy`.
        clock, connect_timeout, bind_ip, tap: as for :func:`swarmscope.net.peer_conn.probe` (the tap wraps
            each attempt's outermost run, the EncryptedProbeRun for MSE, so captures hold wire bytes).

    Returns:
        One observation per attempt, in order; the last one is the outcome.
    """
    out: list[Observation] = []
    for provide in attempts(policy):
        run = make_run()
        if provide is None:
            obs = await probe(run, clock=clock, connect_timeout=connect_timeout, bind_ip=bind_ip, tap=tap)
        else:
            wrapped = EncryptedProbeRun(
                run, private_key=random_private_key(), pad_a=random_pad(), crypto_provide=provide
            )
            obs = await probe(wrapped, clock=clock, connect_timeout=connect_timeout, bind_ip=bind_ip, tap=tap)
        out.append(obs)
        if obs.tier is not Tier.LISTED or obs.failure not in RETRY_FAILURES:
            break
    return out

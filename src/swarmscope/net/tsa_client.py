"""RFC 3161 time-stamp client: POST a TimeStampReq to a configured TSA over HTTP and keep the verified token.

One ``httpx.AsyncClient`` per request (a batch is sealed every few minutes at most), no redirects, no
proxies from the environment (``trust_env=False``), the reply body capped, and the whole exchange bounded
by ``timeout`` seconds. Every failure — no URL configured, connection refused, timeout, an HTTP status
other than 200, a wrong Content-Type, a refusal status, a malformed or non-verifying token — is a
:class:`~swarmscope.evidence.timestamp.token.TimestampError` with a message naming the TSA and the cause;
httpx exceptions never escape.

For the monitor: ``await stamp_sealed_batch(settings.tsa_url, sealed_bytes(sealed))`` returns the
token and what it asserts; it raises :class:`TimestampNotConfiguredError` when no URL was given.

Sources: RFC 3161 2.4.1, 2.4.2, 3.4 (``application/timestamp-query`` / ``-reply`` over HTTP).
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

from swarmscope.errors import DecodeError, InputError
from swarmscope.evidence.timestamp.certificate import TimestampError
from swarmscope.evidence.timestamp.token import TokenInfo, parse_response, timestamp_request, verify_token

QUERY_TYPE = "application/timestamp-query"  # RFC 3161 3.4
REPLY_TYPE = "application/timestamp-reply"  # RFC 3161 3.4
MAX_REPLY = 1024 * 1024  # bytes; a token with a certificate chain is a few KiB
NONCE_BITS = 64  # RFC 3161 2.4.1: a large random number; 64 bits as OpenSSL's own client sends
USER_AGENT = "swarmscope/0.1"


class TimestampNotConfiguredError(TimestampError, InputError):
    """A time-stamp token was asked for but no time-stamp authority URL is configured."""


@dataclass(frozen=True, slots=True)
class StampedBatch:
    """A verified time-stamp token for a sealed batch.

    Args:
        digest: SHA-256 of the sealed batch bytes (the message imprint).
        token: the TimeStampToken DER, exactly as the TSA sent it (store this).
        info: what the token asserts (genTime, serial, policy, TSA name, nonce, signer fingerprint).
    """

    digest: bytes
    token: bytes
    info: TokenInfo


def require_tsa_url(url: str | None) -> str:
    """Return the configured TSA URL, or raise a clear error when there is none or it is not HTTP(S).

    Raises:
        TimestampNotConfiguredError: ``url`` is None, empty, or not an http:// or https:// URL.

    Source: RFC 3161; README "Sealed ledger" (a clear error when no authority is configured).
    """
    if url is None or not url.strip():
        raise TimestampNotConfiguredError(
            "no time-stamp authority configured: pass --tsa-url URL (an RFC 3161 TSA accepting "
            "application/timestamp-query over HTTP) to obtain RFC 3161 tokens for sealed batches"
        )
    url = url.strip()
    if not url.lower().startswith(("http://", "https://")):
        raise TimestampNotConfiguredError(
            f"time-stamp authority URL must be http:// or https://, got {url!r}"
        )
    return url


async def request_token(
    url: str, digest: bytes, *, nonce: int, timeout: float = 10.0, trusted: Sequence[bytes] = ()
) -> bytes:
    """Ask the TSA at ``url`` to stamp ``digest``; return the token DER after checking and verifying it.

    Args:
        url: the TSA's HTTP(S) URL.
        digest: SHA-256 of the data to stamp (32 bytes).
        nonce: random integer 0 <= nonce < 2**160 (echoed in the token; checked).
        timeout: seconds for the whole exchange.
        trusted: DER certificates to chain the TSA certificate to (none: the embedded one is used).

    Returns:
        The TimeStampToken DER, verified with ``verify_token(token, digest, trusted=trusted)``.

    Raises:
        TimestampError: unreachable, timed out, HTTP status not 200, Content-Type not
            ``application/timestamp-reply``, reply too large, refused, malformed, or not verifying.

    Source: RFC 3161 2.4, 3.4.
    """
    body = await _post(url, timestamp_request(digest, nonce), timeout)
    try:
        token = parse_response(body, digest=digest, nonce=nonce)
        verify_token(token, digest, trusted=trusted)
    except DecodeError as exc:
        raise TimestampError(f"TSA {url}: malformed reply: {exc}") from exc
    except TimestampError as exc:
        raise TimestampError(f"TSA {url}: {exc}") from exc
    return token


async def stamp_sealed_batch(
    url: str | None, sealed: bytes, *, timeout: float = 10.0, trusted: Sequence[bytes] = ()
) -> StampedBatch:
    """Obtain a verified RFC 3161 token over SHA-256 of a sealed batch's bytes (random 64-bit nonce).

    Args:
        url: the configured TSA URL (``--tsa-url``), or None.
        sealed: the sealed batch bytes (``evidence.seal.sealed_bytes``).
        timeout: seconds for the whole exchange. trusted: see :func:`request_token`.

    Raises:
        TimestampNotConfiguredError: no URL. TimestampError: see :func:`request_token`.

    Source: README "Sealed ledger"; RFC 3161.
    """
    target = require_tsa_url(url)
    digest = hashlib.sha256(sealed).digest()
    token = await request_token(
        target, digest, nonce=secrets.randbits(NONCE_BITS), timeout=timeout, trusted=trusted
    )
    return StampedBatch(digest, token, verify_token(token, digest, trusted=trusted))


async def _post(url: str, query: bytes, timeout: float) -> bytes:
    import httpx  # at the first request: the monitor's processes load this module whether or not a TSA is set

    headers = {"Content-Type": QUERY_TYPE, "Accept": REPLY_TYPE, "User-Agent": USER_AGENT}
    try:
        async with (
            asyncio.timeout(timeout),
            httpx.AsyncClient(timeout=httpx.Timeout(timeout), trust_env=False) as client,
            client.stream("POST", url, content=query, headers=headers) as response,
        ):
            if response.status_code != 200:
                raise TimestampError(f"TSA {url}: HTTP {response.status_code} {response.reason_phrase}")
            content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if content_type != REPLY_TYPE:
                raise TimestampError(
                    f"TSA {url}: Content-Type {content_type or '(none)'!r}, expected {REPLY_TYPE}"
                )
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > MAX_REPLY:
                    raise TimestampError(f"TSA {url}: reply larger than {MAX_REPLY} bytes")
            return bytes(body)
    except (TimeoutError, httpx.TimeoutException) as exc:
        raise TimestampError(f"TSA {url}: no reply within {timeout} s") from exc
    except httpx.ConnectError as exc:
        raise TimestampError(f"TSA {url}: cannot connect: {exc or type(exc).__name__}") from exc
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise TimestampError(f"TSA {url}: HTTP exchange failed: {type(exc).__name__}: {exc}") from exc

"""Rate limits and write tokens of our DHT node: per-address limits, global budgets, HMAC tokens.

Sources: BEP 5 "announce_peer" (tokens bound to the requester's IP, valid for a while after rotation);
interop-quirks DHT-08 (libtorrent keeps the previous secret; tokens are opaque bytes); libtorrent
``settings_pack::dht_upload_rate_limit`` and ``dht_tracker::has_quota`` (a node-wide byte budget on what
the DHT sends, 8,000 bytes/s with 3 s of burst).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import math
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache

TOKEN_LEN = 8  # bytes of HMAC-SHA1 sent as our token
TOKEN_ROTATE = 300.0  # seconds; BEP 5 suggests 5 minutes, tokens valid up to 10 minutes
ANSWER_BYTES_PER_SECOND = 8_000.0  # libtorrent's dht_upload_rate_limit default (why: DhtNode)
ANSWER_BURST_BYTES = 24_000.0  # 3 s of it, as libtorrent's has_quota allows
_SHA1_BLOCK = 64  # bytes; RFC 2104 "B" for SHA-1
_IPAD = bytes(x ^ 0x36 for x in range(256))  # RFC 2104 inner pad, as a bytes.translate table
_OPAD = bytes(x ^ 0x5C for x in range(256))  # RFC 2104 outer pad


class TokenBucket:
    """A token bucket: ``rate`` tokens per second up to ``burst``; ``take`` spends one."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, now

    def _fill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now

    def take(self, now: float) -> bool:
        """Spend one token if available."""
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)  # _fill, inlined
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_time(self, now: float) -> float:
        """Seconds until one token is available (0 when one is)."""
        self._fill(now)
        return 0.0 if self.tokens >= 1.0 else (1.0 - self.tokens) / self.rate

    async def acquire(self, clock: Callable[[], float], max_waits: int = 100) -> bool:
        """Spend one token, sleeping until one is free; False after ``max_waits`` sleeps (bounded)."""
        for _ in range(max_waits):
            wait = self.wait_time(clock())
            if wait <= 0:
                return self.take(clock())
            await asyncio.sleep(wait)
        return False


class AddressLimiter:
    """Per-IP token buckets, at most ``max_addresses`` remembered (oldest forgotten first)."""

    def __init__(self, rate: float, burst: float, max_addresses: int = 10_000) -> None:
        self.rate, self.burst, self.max_addresses = rate, burst, max_addresses
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, host: str, now: float) -> bool:
        """True when ``host`` may be answered now."""
        bucket = self._buckets.get(host)
        if bucket is None:
            bucket = self._buckets[host] = TokenBucket(self.rate, self.burst, now)
            while len(self._buckets) > self.max_addresses:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(host)
        return bucket.take(now)


class ByteBudget:
    """A node-wide budget of bytes per second (token bucket) on what we send because others sent to us.

    As libtorrent's ``dht_tracker::has_quota``: an answer is built and sent only while the bucket holds
    more than 0 bytes, and its whole size is then spent (the bucket may go below 0, so nothing more goes
    out until the refill covers it). Checking before the answer is built keeps a flood cheap to refuse.
    Bytes sent in any ``t`` seconds: at most ``burst + rate * t`` plus one datagram, whatever the number
    of (forged) source addresses.

    Args:
        rate: bytes per second; finite, > 0.
        burst: bytes the bucket holds (it starts full); finite, > 0.
        now: seconds on the node's clock (monotonic).

    Raises:
        ValueError: a rate or burst that is not finite or not > 0 (one line).
    """

    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        for name, value in (("bytes per second", rate), ("burst bytes", burst)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"DHT answer budget: {name} must be finite and > 0, not {value!r}")
        self.rate, self.burst = float(rate), float(burst)
        self.tokens, self.stamp = self.burst, now

    def ready(self, now: float) -> bool:
        """Refill up to ``now``; True when the bucket holds more than 0 bytes."""
        if now > self.stamp:
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
        return self.tokens > 0

    def spend(self, size: int) -> None:
        """Spend ``size`` bytes just sent (after :meth:`ready` said yes); the bucket may go below 0."""
        self.tokens -= size


class AnswerGate:
    """What our node may send because of incoming traffic: the source's own limit, then the byte budget.

    Counts its refusals in ``stats``: ``dropped_rate`` (the source address is over its own limit),
    ``dropped_budget`` (an answer or error reply the node-wide budget had no room for) and
    ``verify_over_budget`` (a verification ping an incoming query would have triggered).

    Args:
        rate, burst: per-IP limit of queries answered (per second, burst; :class:`AddressLimiter`).
        bytes_per_second, burst_bytes: node-wide budget of answers, error replies and verification pings
            (:class:`ByteBudget`; ValueError unless finite and > 0).
        now: seconds on the node's clock. stats: the node's counters (updated in place).
    """

    __slots__ = ("budget", "per_address", "stats")

    def __init__(
        self, rate: float, burst: float, bytes_per_second: float, burst_bytes: float, now: float,
        stats: dict[str, int],
    ) -> None:  # fmt: skip
        self.per_address = AddressLimiter(rate, burst)
        self.budget = ByteBudget(bytes_per_second, burst_bytes, now)
        self.stats = stats

    def admit(self, host: str, now: float) -> bool:
        """True when a query from ``host`` may be answered now (then :meth:`ByteBudget.spend` its reply)."""
        if not self.per_address.allow(host, now):
            self.stats["dropped_rate"] += 1
            return False
        if not self.budget.ready(now):
            self.stats["dropped_budget"] += 1
            return False
        return True

    def verify(self, size: int, now: float) -> bool:
        """Spend ``size`` bytes of a verification ping when the budget has room; counted when not."""
        if self.budget.ready(now):
            self.budget.spend(size)
            return True
        self.stats["verify_over_budget"] += 1
        return False


@lru_cache(maxsize=65536)
def _packed(host: str) -> bytes:
    """Packed address bytes of an IP literal (cached: the same requesters ask again and again)."""
    return ipaddress.ip_address(host).packed


class _Sha1Hmac:
    """HMAC-SHA1 with one key, its padded key blocks hashed once (RFC 2104): same bytes as ``hmac.digest``.

    ``hmac.digest`` sets the key up again on every call; a DHT node makes a token for every get_peers.
    """

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _SHA1_BLOCK:
            key = hashlib.sha1(key).digest()
        key = key.ljust(_SHA1_BLOCK, b"\0")
        self._inner = hashlib.sha1(key.translate(_IPAD))
        self._outer = hashlib.sha1(key.translate(_OPAD))

    def digest(self, message: bytes) -> bytes:
        """HMAC-SHA1(key, message), 20 bytes."""
        inner = self._inner.copy()
        inner.update(message)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class TokenIssuer:
    """Write tokens: HMAC-SHA1(secret, requester IP ‖ infohash), truncated, with a rotating secret.

    Args:
        secret: initial secret bytes (from the caller's randomness).
        now: seconds, monotonic.
    """

    def __init__(self, secret: bytes, now: float) -> None:
        self._current = self._previous = _Sha1Hmac(secret)
        self._rotated = now

    def rotate_if_due(self, new_secret: bytes, now: float) -> bool:
        """Replace the secret when :data:`TOKEN_ROTATE` has passed; the previous one stays valid."""
        if now - self._rotated < TOKEN_ROTATE:
            return False
        self._previous, self._current, self._rotated = self._current, _Sha1Hmac(new_secret), now
        return True

    @staticmethod
    def _mac(secret: _Sha1Hmac, host: str, info_hash: bytes) -> bytes:
        return secret.digest(_packed(host) + info_hash)[:TOKEN_LEN]

    def issue(self, host: str, info_hash: bytes) -> bytes:
        """The token to hand to ``host`` for ``info_hash``."""
        return self._current.digest(_packed(host) + info_hash)[:TOKEN_LEN]  # _mac, inlined

    def verify(self, token: bytes, host: str, info_hash: bytes) -> bool:
        """True when ``token`` was issued to ``host`` for ``info_hash`` (current or previous secret)."""
        if len(token) != TOKEN_LEN:
            return False  # DHT-08: wrong length (including empty) is rejected
        return any(
            hmac.compare_digest(token, self._mac(secret, host, info_hash))
            for secret in (self._current, self._previous)
        )

"""Rate limits, write tokens (DHT-08) and the announce store of our DHT node — explicit clocks, no sleeps."""

from __future__ import annotations

import hmac

from swarmscope.net.dht_limits import TOKEN_LEN, TOKEN_ROTATE, AddressLimiter, TokenBucket, TokenIssuer
from swarmscope.net.dht_store import PEER_LIFETIME, PeerStore
from swarmscope.wire.dht_scrape import bloom_estimate
from swarmscope.wire.types import Endpoint

IH = b"i" * 20


def test_token_bucket_burst_then_rate() -> None:
    bucket = TokenBucket(rate=2.0, burst=3.0, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.wait_time(0.0) == 0.5
    assert bucket.take(0.5) and not bucket.take(0.5)
    assert bucket.take(100.0) and bucket.tokens <= 3.0


def test_address_limiter_is_per_ip_and_bounded() -> None:
    limiter = AddressLimiter(rate=1.0, burst=2.0, max_addresses=3)
    assert [limiter.allow("10.0.0.1", 0.0) for _ in range(3)] == [True, True, False]
    assert limiter.allow("10.0.0.2", 0.0)
    for i in range(10):
        limiter.allow(f"10.0.1.{i}", 0.0)
    assert len(limiter._buckets) == 3
    assert limiter.allow("10.0.0.1", 0.0)  # forgotten, so a fresh bucket


def test_dht08_token_bound_to_ip_infohash_and_rotation() -> None:
    issuer = TokenIssuer(b"secret-1", now=0.0)
    token = issuer.issue("10.0.0.1", IH)
    assert len(token) == TOKEN_LEN
    assert issuer.verify(token, "10.0.0.1", IH)
    assert not issuer.verify(token, "10.0.0.2", IH)  # another IP
    assert not issuer.verify(token, "10.0.0.1", b"j" * 20)  # another infohash
    assert not issuer.verify(b"", "10.0.0.1", IH)  # zero-length token
    assert not issuer.rotate_if_due(b"secret-2", TOKEN_ROTATE - 1)
    assert issuer.rotate_if_due(b"secret-2", TOKEN_ROTATE)
    assert issuer.verify(token, "10.0.0.1", IH)  # previous secret still accepted
    assert issuer.rotate_if_due(b"secret-3", 2 * TOKEN_ROTATE)
    assert not issuer.verify(token, "10.0.0.1", IH)  # two rotations later it expired
    assert issuer.verify(issuer.issue("::1", IH), "::1", IH)


def test_peer_store_bounds_expiry_blooms_and_noseed() -> None:
    store = PeerStore(max_infohashes=1, max_peers=2)
    assert store.add(IH, Endpoint("10.0.0.1", 1), True, 0.0)
    assert store.add(IH, Endpoint("10.0.0.2", 2), False, 10.0)
    assert not store.add(IH, Endpoint("10.0.0.3", 3), False, 10.0)  # per-infohash bound
    assert not store.add(b"j" * 20, Endpoint("10.0.0.4", 4), False, 10.0)  # infohash bound
    assert store.peers(IH, noseed=True) == [Endpoint("10.0.0.2", 2), Endpoint("10.0.0.1", 1)]
    blooms = store.blooms(IH)
    assert blooms is not None
    assert 0.5 < bloom_estimate(blooms[0]) < 1.5 and 0.5 < bloom_estimate(blooms[1]) < 1.5
    store.expire(PEER_LIFETIME + 5.0)
    assert store.peers(IH) == [Endpoint("10.0.0.2", 2)]
    store.expire(PEER_LIFETIME + 11.0)
    assert store.infohashes() == [] and store.blooms(IH) is None


def test_tokens_are_hmac_sha1_of_packed_ip_and_infohash_truncated() -> None:
    """The precomputed key blocks give RFC 2104 HMAC-SHA1, for short, block-sized and long secrets."""
    for secret in (b"", b"s", b"k" * 64, b"L" * 65, bytes(range(200))):
        issuer = TokenIssuer(secret, now=0.0)
        for host, packed in (("10.0.0.1", bytes([10, 0, 0, 1])), ("::1", bytes(15) + b"\x01")):
            expected = hmac.digest(secret, packed + IH, "sha1")[:TOKEN_LEN]
            assert issuer.issue(host, IH) == expected
            assert issuer.verify(expected, host, IH)

"""Rate limits, write tokens (DHT-08) and the announce store of our DHT node — explicit clocks, no sleeps."""

from __future__ import annotations

import hmac

from swarmscope.net.dht_limits import (
    TOKEN_LEN,
    TOKEN_ROTATE,
    AddressLimiter,
    AnswerGate,
    ByteBudget,
    TokenBucket,
    TokenIssuer,
)
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


def test_byte_budget_sends_while_above_zero_then_waits_for_the_refill() -> None:
    budget = ByteBudget(rate=1_000.0, burst=2_500.0, now=0.0)
    sent = 0
    while budget.ready(0.0):  # libtorrent has_quota: the last datagram may overdraw the bucket
        budget.spend(1_000)
        sent += 1
    assert sent == 3 and budget.tokens == -500.0
    assert not budget.ready(0.4) and budget.ready(0.6)
    assert budget.ready(100.0) and budget.tokens == 2_500.0  # never more than the burst


def test_answer_gate_counts_each_refusal() -> None:
    stats = {"dropped_rate": 0, "dropped_budget": 0, "verify_over_budget": 0}
    gate = AnswerGate(rate=1.0, burst=2.0, bytes_per_second=100.0, burst_bytes=300.0, now=0.0, stats=stats)
    assert gate.admit("10.0.0.1", 0.0) and gate.admit("10.0.0.1", 0.0)
    assert not gate.admit("10.0.0.1", 0.0) and stats["dropped_rate"] == 1  # its own limit first
    gate.budget.spend(300)
    assert not gate.admit("10.0.0.2", 0.0) and stats["dropped_budget"] == 1
    assert not gate.verify(60, 0.0) and stats["verify_over_budget"] == 1
    assert gate.verify(60, 1.0) and gate.budget.tokens == 40.0


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

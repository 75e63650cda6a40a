"""RFC 3161 tokens for sealed batches that have none yet, from any node's chain: ``swarmscope timestamp``
and the fleet's periodic timestamping duty.

The monitor asks its authority for a token right after each sealed batch
(:mod:`swarmscope.monitor.ledger_writer`); an authority that was down, or a fleet node that stamps
nothing itself, leaves batches without one. Each token proves the batch's sealed bytes existed no later
than the token's time (a late token is weaker, never false: RFC 3161 2.4.2). A token is the authority's
signature over a batch's bytes, so stamping another node's batch signs nothing in that node's chain.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from swarmscope.evidence.timestamp.certificate import TimestampError
from swarmscope.net.clock import Clock
from swarmscope.net.tsa_client import require_tsa_url, stamp_sealed_batch
from swarmscope.store.database import Store
from swarmscope.store.ledger.entries import load_batches


@dataclass(frozen=True, slots=True)
class TimestampOutcome:
    """What one stamping run did: the authority used, batches stamped, batches that failed (one line each)."""

    tsa_url: str
    stamped: int
    failed: list[str]


def stamp_unstamped(store: Store, tsa_url: str | None, clock: Clock, *, timeout: float) -> TimestampOutcome:
    """Stamp every sealed batch of ``store`` (every node's chain) without a token, one request each.

    Blocking: each request runs its own event loop, so call it from a thread without a running loop.

    Args:
        tsa_url: the authority. clock: the time of each token row (UTC µs). timeout: seconds per request.

    Raises:
        TimestampNotConfiguredError: ``tsa_url`` is None or not http(s). StoreError: a token row refused.
        DecodeError: a stored batch does not decode (tampering).
    """
    url = require_tsa_url(tsa_url)
    stamped, failed = 0, []
    for batch in load_batches(store):
        if batch.tokens:
            continue
        where = f"batch {batch.sealed.batch.first_index}..{batch.sealed.batch.last_index}"
        try:
            token = asyncio.run(stamp_sealed_batch(url, batch.batch_bytes, timeout=timeout))
        except TimestampError as exc:
            failed.append(f"{where}: {exc}")
            continue
        store.add_timestamp_token(batch.id, url, token.token, clock.now_us())
        stamped += 1
    return TimestampOutcome(url, stamped, failed)

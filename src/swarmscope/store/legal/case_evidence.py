"""Verified observation rows AS STORED (unproven: for refusal wording only). Read-only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.evidence.records import Tier
from swarmscope.store.ledger.schema import observation

if TYPE_CHECKING:
    from swarmscope.store.database import Store


@dataclass(frozen=True, slots=True)
class VerifiedObservation:
    """A sealed observation that reached tier VERIFIED: its run, swarm, address and interval (UTC µs)."""

    run_id: int
    infohash: str
    ip: str
    port: int
    started_us: int
    ended_us: int


def verified_observations(store: Store, *, infohash: str | None = None) -> list[VerifiedObservation]:
    """Every observation row with tier ``verified`` and a ledger link, in insertion order — AS STORED.

    Nothing here is proven: a row may have been altered or invented by whoever can write the database.
    Only wording about a refusal may use it (the disclosure intake's "covers N of M hits"); whatever can
    accuse someone reads :func:`swarmscope.store.ledger.proven.proven_observations` instead.
    """
    cols = observation.c
    query = sa.select(cols.run_id, cols.infohash, cols.ip, cols.port, cols.started_us, cols.ended_us)
    query = query.where(cols.tier == Tier.VERIFIED.label, cols.ledger_index.is_not(None)).order_by(cols.id)
    if infohash is not None:
        query = query.where(cols.infohash == infohash.lower())
    with store.engine.connect() as conn:
        return [VerifiedObservation(*r) for r in conn.execute(query)]

"""What case building reads from the evidence besides the proven hits: clock samples per run, attributions
per IP, and (unproven, for refusal wording only) verified observation rows. Read-only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import sqlalchemy as sa

from swarmscope.evidence.records import ClockSample, Tier
from swarmscope.store.queries import clock_sample_from_row
from swarmscope.store.schema import clock_sample, observation
from swarmscope.store.schema_cases import attribution

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


@dataclass(frozen=True, slots=True)
class AttributionRow:
    """One stored attribution (fields of :class:`swarmscope.evidence.records.Attribution`)."""

    ip: str
    observed_at_us: int
    asn: int | None
    as_org: str | None
    isp: str | None
    country: str | None
    region: str | None
    city: str | None
    accuracy_radius_km: int | None
    flags: tuple[str, ...]
    datasets: tuple[str, ...]


def verified_observations(store: Store, *, infohash: str | None = None) -> list[VerifiedObservation]:
    """Every observation row with tier ``verified`` and a ledger link, in insertion order — AS STORED.

    Nothing here is proven: a row may have been altered or invented by whoever can write the database.
    Only wording about a refusal may use it (the disclosure intake's "covers N of M hits"); whatever can
    accuse someone reads :func:`swarmscope.store.proven_evidence.proven_observations` instead.
    """
    cols = observation.c
    query = sa.select(cols.run_id, cols.infohash, cols.ip, cols.port, cols.started_us, cols.ended_us)
    query = query.where(cols.tier == Tier.VERIFIED.label, cols.ledger_index.is_not(None)).order_by(cols.id)
    if infohash is not None:
        query = query.where(cols.infohash == infohash.lower())
    with store.engine.connect() as conn:
        return [VerifiedObservation(*r) for r in conn.execute(query)]


def clock_samples_by_run(store: Store) -> dict[int, list[ClockSample]]:
    """Clock samples grouped by monitor run, in insertion order."""
    out: dict[int, list[ClockSample]] = {}
    with store.engine.connect() as conn:
        for row in conn.execute(sa.select(clock_sample).order_by(clock_sample.c.id)):
            out.setdefault(row.run_id, []).append(clock_sample_from_row(row))
    return out


def attributions_by_ip(store: Store, ips: Iterable[str] | None = None) -> dict[str, list[AttributionRow]]:
    """Stored attributions per IP, sorted by ``observed_at_us`` (then insertion order).

    Args:
        ips: only these addresses (None: all).
    """
    query = sa.select(attribution).order_by(attribution.c.observed_at_us, attribution.c.id)
    if ips is not None:
        query = query.where(attribution.c.ip.in_(sorted(set(ips))))
    out: dict[str, list[AttributionRow]] = {}
    with store.engine.connect() as conn:
        for r in conn.execute(query):
            row = AttributionRow(
                r.ip, r.observed_at_us, r.asn, r.as_org, r.isp, r.country, r.region, r.city,
                r.accuracy_radius_km, tuple(r.flags or ()), tuple(r.datasets or ()),
            )  # fmt: skip
            out.setdefault(r.ip, []).append(row)
    return out

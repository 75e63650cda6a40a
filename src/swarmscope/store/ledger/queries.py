"""Reading rows back: exact round trips of the evidence dataclasses, and swarm/run listings.

Rows come back in insertion order (row id), so "latest" in :mod:`swarmscope.evidence.summary` ties break
the way the monitor wrote them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.evidence.records import Attribution, ClockSample, Observation, RunStarted, Sighting
from swarmscope.store.ledger.record_rows import READERS
from swarmscope.store.ledger.schema import attribution, monitor_run, observation, sighting, swarm
from swarmscope.store.ledger.snapshot import Source, reading
from swarmscope.store.ledger.writer import SwarmInfo

if TYPE_CHECKING:
    from swarmscope.store.database import Store


@dataclass(frozen=True, slots=True)
class RunRow:
    """One monitor run: UTC microseconds (``ended_us`` None while running), settings, software version."""

    id: int
    started_us: int
    ended_us: int | None
    settings: dict[str, Any]
    software_version: str


# The row readers of the evidence records, derived from their declarations (evidence.declarations):
# ``reader(row)`` rebuilds exactly the record that the matching ``writer.*_row`` stored.
observation_from_row = READERS[Observation]
sighting_from_row = READERS[Sighting]
clock_sample_from_row = READERS[ClockSample]
run_started_from_row = READERS[RunStarted]
attribution_from_row = READERS[Attribution]


def _filtered(query: sa.Select[Any], table: sa.Table, infohash: str | None) -> sa.Select[Any]:
    if infohash is not None:
        query = query.where(table.c.infohash == infohash.lower())
    return query.order_by(table.c.id)


def load_sightings(store: Store, *, infohash: str | None = None, run_id: int | None = None) -> list[Sighting]:
    """Every stored sighting (optionally of one swarm / one run), in insertion order.

    Args:
        store: an open store. infohash: swarm id hex to filter on. run_id: monitor run to filter on.

    Returns:
        :class:`Sighting` values equal to those written.
    """
    query = _filtered(sa.select(sighting), sighting, infohash)
    if run_id is not None:
        query = query.where(sighting.c.run_id == run_id)
    with store.engine.connect() as conn:
        return [sighting_from_row(r) for r in conn.execute(query)]


def load_observations(
    store: Store, *, infohash: str | None = None, run_id: int | None = None
) -> list[Observation]:
    """Every stored observation (optionally of one swarm / one run), in insertion order.

    Args:
        store: an open store. infohash: swarm id hex to filter on. run_id: monitor run to filter on.

    Returns:
        :class:`Observation` values equal to those written (every field, incl. extension and lists).
    """
    query = _filtered(sa.select(observation), observation, infohash)
    if run_id is not None:
        query = query.where(observation.c.run_id == run_id)
    with store.engine.connect() as conn:
        return [observation_from_row(r) for r in conn.execute(query)]


def swarm_rows(store: Source) -> list[SwarmInfo]:
    """Every stored swarm (with its row ``id``), in the order they were added (a store or a snapshot)."""
    with reading(store) as conn:
        rows = conn.execute(sa.select(swarm).order_by(swarm.c.id))
        return [SwarmInfo(**r._asdict()) for r in rows]


def resolve_infohash(store: Store, infohash: str) -> str | None:
    """The stored swarm id of ``infohash`` (hex, any case): a swarm's id, or its v1 or v2 infohash (a
    hybrid torrent, BEP 52, has both); None when no stored swarm has it."""
    wanted = infohash.lower()
    query = sa.select(swarm.c.infohash).where(
        sa.or_(swarm.c.infohash == wanted, swarm.c.v1 == wanted, swarm.c.v2 == wanted)
    )
    with store.engine.connect() as conn:
        found = conn.execute(query.order_by(swarm.c.id)).scalars().first()
    return None if found is None else str(found)


def run_rows(store: Store) -> list[RunRow]:
    """Every monitor run, oldest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(monitor_run).order_by(monitor_run.c.id))
        return [RunRow(**r._asdict()) for r in rows]


def load_attributions(store: Store, *, ip: str | None = None, run_id: int | None = None) -> list[Attribution]:
    """Stored attribution records (optionally of one IP literal / one run), in insertion order.

    Args:
        store: an open store. ip: the normalised literal to filter on. run_id: the monitor run.

    Returns:
        :class:`Attribution` values equal to those written.
    """
    query = sa.select(attribution).order_by(attribution.c.id)
    if ip is not None:
        query = query.where(attribution.c.ip == ip)
    if run_id is not None:
        query = query.where(attribution.c.run_id == run_id)
    with store.engine.connect() as conn:
        return [attribution_from_row(r) for r in conn.execute(query)]

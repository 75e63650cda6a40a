"""Read the proven evidence of a store and pseudonymise it at once: the one place raw addresses exist.

Only evidence proven against the sealed ledger under a trusted node key counts, exactly as ``report``
proves it (:func:`swarmscope.store.ledger.seal_state.proven_peer_records`: a row is ``sealed`` only when
it equals its sealed record under a trusted seal whose chain holds), and the attributions the workflow
trusts (:func:`swarmscope.store.ledger.proven_records.proven_attributions`). Every other row (unsealed,
quarantined by crash recovery, altered after sealing) is counted by state and left out. Each address is
replaced by its keyed pseudonym (:class:`swarmscope.research.pseudonym.Pseudonymiser`) before anything
else sees it; what leaves this module holds no address.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from swarmscope.evidence.records import Observation, Tier
from swarmscope.evidence.summary import ALTERED, SEALED
from swarmscope.research.aggregate import PeerEvent, Place
from swarmscope.research.pseudonym import Pseudonymiser
from swarmscope.research.readme import DatasetLine
from swarmscope.store.ledger.datasets import list_datasets
from swarmscope.store.ledger.proven import EvidenceTrust
from swarmscope.store.ledger.proven_records import AttributionRow, proven_attributions
from swarmscope.store.ledger.queries import swarm_rows
from swarmscope.store.ledger.seal_state import proven_peer_records

if TYPE_CHECKING:
    from swarmscope.store.database import Store

IP_CHUNK = 10_000  # addresses per attribution query


@dataclass(slots=True)
class Collected:
    """The pseudonymised study input: events, places per unit pseudonym, swarm names, the rows left out
    per state (``unsealed``, ``quarantined``, ``altered``), the datasets cited, and the records counted."""

    events: list[PeerEvent] = field(default_factory=list)
    places: dict[str, Place] = field(default_factory=dict)
    names: dict[str, str] = field(default_factory=dict)
    left_out: Counter[str] = field(default_factory=Counter)
    datasets: list[DatasetLine] = field(default_factory=list)
    sightings: int = 0
    observations: int = 0


def _seed(o: Observation) -> bool | None:
    """Whether the probe saw the peer hold every piece (BEP 3 bitfield / have_all), None when unknown."""
    if o.tier < Tier.CONNECTED or not o.num_pieces:
        return None
    return o.pieces_have >= o.num_pieces


def collect(
    store: Store, trust: EvidenceTrust, pseudonyms: Pseudonymiser, swarms: Iterable[str] | None = None
) -> Collected:
    """The proven sightings and observations of ``swarms`` (every swarm when None; filtered in the store,
    one swarm at a time), pseudonymised, with the places of their connected units."""
    out = Collected(names={s.infohash: s.name for s in swarm_rows(store)})
    wanted = sorted(out.names) if swarms is None else sorted({s.lower() for s in swarms} & set(out.names))
    connected: dict[str, str] = {}  # raw ip → unit pseudonym (attribution lookup only; never returned)
    for infohash in wanted:
        records = proven_peer_records(store, trust, infohash=infohash)
        out.left_out["altered"] += len(records.altered)
        for s in records.sightings:
            if s.state != SEALED:
                _leave_out(out, s.state)
                continue
            out.sightings += 1
            item = s.sighting
            out.events.append(
                PeerEvent(item.infohash, pseudonyms.address(item.ip), pseudonyms.peer(item.ip, item.port),
                          item.seen_at_us, item.source, Tier.LISTED)
            )  # fmt: skip
        for o in records.observations:
            if o.state != SEALED:
                _leave_out(out, o.state)
                continue
            out.observations += 1
            r = o.observation
            unit = pseudonyms.address(r.ip)
            if r.tier >= Tier.CONNECTED:
                connected[r.ip] = unit
            out.events.append(
                PeerEvent(r.infohash, unit, pseudonyms.peer(r.ip, r.port), r.started_us, r.source, r.tier,
                          _seed(r), r.client)
            )  # fmt: skip
    _places(store, trust, connected, out)
    out.names = {h: n for h, n in out.names.items() if h in wanted}
    return out


def _leave_out(out: Collected, state: str) -> None:
    """Count a row that is not evidence by its state (altered rows are counted from the named list)."""
    if state != ALTERED:
        out.left_out[state] += 1


def _places(store: Store, trust: EvidenceTrust, connected: dict[str, str], out: Collected) -> None:
    """The latest proven attribution of each connected unit, and the datasets those attributions cite."""
    if not connected:
        return
    latest: dict[str, AttributionRow] = {}
    ips = sorted(connected)
    for start in range(0, len(ips), IP_CHUNK):  # a bounded IN list (PostgreSQL takes 65,535 parameters)
        proven = proven_attributions(store, trust, set(ips[start : start + IP_CHUNK]))
        for ip, rows in proven.by_ip.items():
            unit, row = connected[ip], rows[-1]  # rows are sorted by observed_at_us
            if unit not in latest or row.observed_at_us >= latest[unit].observed_at_us:
                latest[unit] = row
    out.places = {unit: Place(r.country, r.asn, r.as_org) for unit, r in latest.items()}
    cited = {sha for r in latest.values() for sha in r.datasets}
    out.datasets = [
        DatasetLine(d.name, d.kind, d.build_us, d.sha256) for d in list_datasets(store) if d.sha256 in cited
    ]

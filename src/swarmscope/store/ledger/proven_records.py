"""Clock samples, run settings and attributions proven against the sealed ledger (what the workflow reads
besides the proven hits; README "Only proven evidence").

- **Clock and runs** (:func:`proven_clock`): read from the LEDGER, never from the ``clock_sample`` or
  ``run_started`` / ``monitor_run`` rows: every entry of kind ``clock_sample`` or ``run_started`` whose
  canonical bytes hash to the entry's record hash, under a batch sealed by a trusted key whose chain holds
  (:class:`swarmscope.store.ledger.proven.LedgerProver`, the prover of the observations), decoded with
  the canonical decoder (:func:`swarmscope.evidence.canonical.record_from_canonical`). A deleted
  or edited row changes nothing; a sealed record is never lost with its row. A node whose ledger as stored
  is not wholly proven (a failing batch, indices no batch covers, a redacted clock record) has an
  *incomplete* clock record: the workflow then flags every hit of that node (conservative).
- **Attributions** (:func:`proven_attributions`): each ``attribution`` row is rebuilt into its record
  (:data:`swarmscope.store.ledger.record_rows.READERS`) and must equal the sealed record of its ledger entry
  (same canonical SHA-256, entry of kind ``attribution``, trusted seal). A row that does not is REFUSED
  and named; its address is then *unproven*: it is neither clean nor flagged, and gets no case. A node
  whose ledger as stored is not wholly proven (as for the clock) may hide a sealed attribution of any
  address, so every requested address is then unproven, naming the node's problem.

Source: the sealed ledger (SHA-256 chain, Ed25519 seals, RFC 8032).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from swarmscope.errors import DecodeError
from swarmscope.evidence.canonical import canonical_bytes, record_from_canonical
from swarmscope.evidence.records import Attribution, ClockSample, RunStarted
from swarmscope.store.ledger.proven import EvidenceTrust, LedgerProver
from swarmscope.store.ledger.purge_records import typed
from swarmscope.store.ledger.record_rows import READERS
from swarmscope.store.ledger.schema import attribution, ledger_entry, node_key, observation

if TYPE_CHECKING:
    from swarmscope.store.database import Store

CLOCK_KINDS = ("clock_sample", "run_started")
CHUNK = 10_000
_CLASSES = {"clock_sample": "ClockSample", "run_started": "RunStarted"}


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


@dataclass(slots=True)
class NodeClock:
    """The proven clock records of one signing node: (ledger index, record) pairs in chain order."""

    samples: list[tuple[int, ClockSample]] = field(default_factory=list)
    runs: list[tuple[int, RunStarted]] = field(default_factory=list)
    incomplete: str | None = None  # why the node's clock record cannot be relied on (None: it can)


def proven_clock(store: Store, trust: EvidenceTrust, nodes: set[int]) -> dict[int, NodeClock]:
    """The proven clock samples and run records of each of ``nodes`` (``node_key.id``), from the ledger."""
    out = {node: NodeClock() for node in nodes}
    e = ledger_entry.c
    query = sa.select(e.node_id, e.idx, e.kind, e.canonical)
    clock_entries = sa.or_(e.kind.in_(CLOCK_KINDS), typed(e.canonical, CLOCK_KINDS))
    query = query.where(clock_entries, e.node_id.in_(sorted(nodes)))
    with store.engine.connect() as conn, store.engine.connect() as reader:
        prover = LedgerProver(conn, trust.fingerprints, trust.now_us)
        for node, clock in out.items():
            clock.incomplete = prover.node_problem(node)
        for row in reader.execute(query.order_by(e.node_id, e.idx)):
            clock = out[int(row.node_id)]
            record = _proven_record(prover, int(row.node_id), int(row.idx), row.kind, row.canonical)
            if isinstance(record, str):
                clock.incomplete = clock.incomplete or f"ledger index {row.idx}: {record}"
            elif type(record).__name__ != _CLASSES.get(row.kind, ""):
                clock.incomplete = clock.incomplete or f"ledger index {row.idx}: its kind column is altered"
            elif isinstance(record, ClockSample):
                clock.samples.append((int(row.idx), record))
            elif isinstance(record, RunStarted):
                clock.runs.append((int(row.idx), record))
    return out


def _proven_record(prover: LedgerProver, node: int, index: int, kind: str, canonical: Any) -> Any:
    """The record a ledger entry seals under a trusted key, or why it is not proven."""
    if canonical is None:
        return f"its {kind} record was redacted"
    data = canonical if isinstance(canonical, bytes) else bytes(canonical)
    sealed = prover.sealed_entry(node, index)
    if isinstance(sealed, str):
        return sealed
    if sealed[0] != kind or hashlib.sha256(data).digest() != sealed[1]:
        return "its record differs from the sealed record hash"
    try:
        return record_from_canonical(data)
    except DecodeError as exc:
        return f"its record does not decode ({exc})"


def observation_nodes(store: Store, ids: set[int]) -> dict[int, int]:
    """The signing node (``ledger_node``) of each observation id: for proven hits, the node the prover
    checked them against."""
    out: dict[int, int] = {}
    ordered = sorted(ids)
    with store.engine.connect() as conn:
        for start in range(0, len(ordered), CHUNK):
            chunk = ordered[start : start + CHUNK]
            query = sa.select(observation.c.id, observation.c.ledger_node).where(observation.c.id.in_(chunk))
            out.update({int(r.id): int(r.ledger_node) for r in conn.execute(query)})
    return out


@dataclass(frozen=True, slots=True)
class ProvenAttributions:
    """Attributions per IP (sorted by ``observed_at_us``) proven against the ledger, and refused rows
    (IP → the reasons, one per refused row: ``attribution 4 (ledger index 9): row altered ...``)."""

    by_ip: dict[str, list[AttributionRow]]
    refused: dict[str, list[str]]


def proven_attributions(store: Store, trust: EvidenceTrust, ips: set[str]) -> ProvenAttributions:
    """The sealed attributions of ``ips`` read from the ledger (a deleted row is not lost), and every
    ``attribution`` row of ``ips`` not equal to a proven sealed record, refused and named (module doc)."""
    by_ip: dict[str, list[tuple[int, int, Attribution]]] = {}
    refused: dict[str, list[str]] = {}
    e = ledger_entry.c
    entries = sa.select(e.node_id, e.idx, e.kind, e.canonical)
    entries = entries.where(sa.or_(e.kind == "attribution", typed(e.canonical, ("attribution",))))
    rows = sa.select(attribution).where(attribution.c.ip.in_(sorted(ips))).order_by(attribution.c.id)
    with store.engine.connect() as conn, store.engine.connect() as reader:
        prover = LedgerProver(conn, trust.fingerprints, trust.now_us)
        for entry in reader.execute(entries.order_by(e.node_id, e.idx)):
            record = _proven_record(prover, int(entry.node_id), int(entry.idx), entry.kind, entry.canonical)
            if isinstance(record, Attribution) and record.ip in ips:
                by_ip.setdefault(record.ip, []).append((int(entry.node_id), int(entry.idx), record))
        trusted = sorted(f.lower() for f in trust.fingerprints)  # an untrusted node's records never count
        nodes = sa.select(node_key.c.id).where(node_key.c.fingerprint.in_(trusted)).order_by(node_key.c.id)
        for node in reader.execute(nodes).scalars():
            problem = prover.node_problem(int(node))
            if problem is not None:  # a hidden sealed attribution names no address: every one is unproven
                for ip in sorted(ips):
                    refused.setdefault(ip, []).append(f"the ledger of node {node} is incomplete: {problem}")
        read = READERS[Attribution]
        for row in reader.execute(rows):
            problem = _attribution(prover, row, read)
            if problem is not None:
                where = "not sealed" if row.ledger_index is None else f"ledger index {row.ledger_index}"
                refused.setdefault(row.ip, []).append(f"attribution {row.id} ({where}) {row.ip}: {problem}")
    out = {
        ip: [_row(r) for _n, _i, r in sorted(found, key=lambda t: (t[2].observed_at_us, t[0], t[1]))]
        for ip, found in by_ip.items()
    }
    return ProvenAttributions(out, refused)


def _row(record: Attribution) -> AttributionRow:
    return AttributionRow(
        record.ip, record.observed_at_us, record.asn, record.as_org, record.isp, record.country,
        record.region, record.city, record.accuracy_radius_km, tuple(record.flags), tuple(record.datasets),
    )  # fmt: skip


def _attribution(prover: LedgerProver, row: Any, read: Any) -> str | None:
    """Why one attribution row is refused (None: it equals its sealed record)."""
    if row.ledger_node is None or row.ledger_index is None:
        return "not sealed in the ledger"
    sealed = prover.sealed_entry(int(row.ledger_node), int(row.ledger_index))
    if isinstance(sealed, str):
        return sealed
    if sealed[0] != "attribution":
        return f"its ledger entry is a {sealed[0]}, not an attribution"
    try:
        record = read(row)
        digest = hashlib.sha256(canonical_bytes(record)).digest()
    except (DecodeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        return f"row altered: it no longer rebuilds into a record ({type(exc).__name__})"
    if digest != sealed[1]:
        return "row altered: it differs from its sealed record"
    return None

"""Sealed evidence for case tests: verified observations, clock samples, attributions (commit_evidence), and
the proven inputs behind a case's ISP, region/city and work (:func:`prove_case_inputs`)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.cases.campaigns import link_work, reference_check
from swarmscope.cases.case_binding import built_sha256
from swarmscope.evidence.records import (
    Attribution,
    ClockSample,
    Observation,
    RunStarted,
    Source,
    Tier,
    WorkflowEvent,
)
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.node_key import default_key_path, load_or_create_node_key
from swarmscope.store.ledger.proven import store_trust
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as case_rows
from swarmscope.store.legal.workflow_seals import (
    CASE_BUILT,
    seal_batch,
    seal_current_entry,
    workflow_history,
)

IH = "aa" * 20
OTHER_IH = "cc" * 20
T0 = 1_796_000_000_000_000
MIN = 60 * 10**6


def hit(
    ip: str, minute: float, *, infohash: str = IH, tier: Tier = Tier.VERIFIED, port: int = 6881
) -> Observation:
    start = T0 + int(minute * MIN)
    verified = tier is Tier.VERIFIED
    return Observation(
        infohash=infohash,
        ip=ip,
        port=port,
        source=Source.TRACKER.value,
        started_us=start,
        ended_us=start + 3_000_000,
        tier=tier,
        failure=None if verified else "choked",
        verified_pieces=(0,) if verified else (),
        bytes_received=16384 if verified else 0,
    )


def sample(minute: float, offset_ms: float, server: str = "127.0.0.1:123") -> ClockSample:
    return ClockSample(server, T0 + int(minute * MIN), int(offset_ms * 1000), 1000, 2, 0, None)


def attributed(
    ip: str, minute: float, asn: int | None, flags: tuple[str, ...] = (), **kw: Any
) -> Attribution:
    return Attribution(ip, T0 + int(minute * MIN), asn, f"AS{asn} org", None, "DE", flags=flags, **kw)


def seal(
    store: Store,
    records: Sequence[Any],
    *,
    settings: dict[str, Any] | None = None,
    swarms: Sequence[str] = (IH,),
    sealed_at_us: int = T0 + 10**12,
) -> int:
    """One monitor run holding ``records``, sealed in one batch after its RunStarted record (as the monitor
    seals its settings first) at ``sealed_at_us`` (after a sealed workflow event: no earlier than it, or
    the batch proves a clock set back); returns the run id."""
    for infohash in swarms:
        store.add_swarm(infohash, infohash, None, "work.bin", 4, 16384, 65536, None, None, T0)
    chosen = settings if settings is not None else {"clock_threshold_ms": 100.0}
    run = store.start_run(chosen, "0.1.0", T0)
    started = RunStarted(run, T0, "0.1.0", None, json.dumps(chosen, sort_keys=True))
    store.commit_evidence(run, records=[started, *records], sealed_at_us=sealed_at_us)
    return run


def node_key_for(db: Path | str) -> Ed25519PrivateKey:
    """The node key at the monitor's default place beside ``db`` (created on first use): the key the
    workflow commands trust by default."""
    return load_or_create_node_key(default_key_path(str(db)))


def fresh_store(tmp_path: Path) -> Iterator[Store]:
    """A new writable store (a fresh Ed25519 node key beside it) under ``tmp_path``; a fixture body."""
    db = tmp_path / "cases.db"
    with open_store(str(db), node_key=node_key_for(db), now_us=T0) as s:
        yield s


@dataclass(frozen=True, slots=True)
class Place:
    """What the sealed attribution of a case's address says at its first hit (UTC µs): ASN (the directory
    ISP listing it is the case's ISP; None: no ISP) and the advisory region/city the case states."""

    ip: str
    at_us: int
    asn: int | None
    region: str | None = None
    city: str | None = None


def prove_case_inputs(
    store: Store, run_id: int, places: Sequence[Place], *, work_id: int, infohash: str, sealed_at_us: int
) -> None:
    """Back cases' ISP, region/city and work the honest way, so the document gate
    (:func:`swarmscope.cases.case_links.link_problem`) finds them proven: one attribution per place sealed
    into run ``run_id`` through the evidence API (a batch of its own, as the monitor's evidence sink seals
    what its attributor says), and the work linked to the torrent as ``swarmscope works link`` does."""
    records = [
        Attribution(p.ip, p.at_us, p.asn, f"AS{p.asn} org", None, "DE", p.region, p.city) for p in places
    ]
    store.commit_evidence(run_id, records=records, sealed_at_us=sealed_at_us)
    link_work(store, work_id, infohash, sealed_at_us, compare=reference_check)
    seal_directory(store, sealed_at_us)


def seal_directory(store: Store, at_us: int) -> None:
    """Seal every ISP and work entry as stored now (as ``isps seal`` / ``works seal`` do): worlds that insert
    directory rows with SQL get the sealed entries ``isps add`` / ``works add`` would have sealed."""
    for isp in case_rows.list_isps(store):
        seal_current_entry(store, "isp", isp.id, at_us)
    for work in case_rows.work_rows(store):
        seal_current_entry(store, "work", work.id, at_us)
    seal_case_builds(store, at_us)


def seal_case_builds(store: Store, at_us: int) -> None:
    """Seal a ``case_built`` event for every case row as stored now that has none (as ``cases build`` seals
    the cases it creates, :mod:`swarmscope.cases.case_binding`): worlds that insert case rows with SQL."""
    history = workflow_history(store, store_trust(store, None))
    events = [
        WorkflowEvent(c.doe, CASE_BUILT, at_us, built_sha256(c))
        for c in case_status.list_cases(store)
        if history.latest(c.doe, CASE_BUILT) is None
    ]
    seal_batch(store, "sealing case builds", events)

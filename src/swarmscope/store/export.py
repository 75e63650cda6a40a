"""Select what goes into an export bundle: records by filter, the batches around them, their content.

Reads the sealed ledger of ONE signing node (chain indices are per node) and returns a
:class:`~swarmscope.evidence.bundle.BundleContent`; :func:`swarmscope.evidence.bundle.build_bundle` turns
it into files. Selection:

- observations and sightings matching every given filter (infohash, ip, since/until on ``started_us`` /
  ``seen_at_us``, inclusive); with ``exclude_clock_flagged`` observations that started in a clock flag
  window (recomputed from every clock sample of the ledger) are left out;
- every clock sample (the flag windows depend on all of them) and every run configuration record (the
  methodology statement is generated from them);
- every chain entry of each sealed batch holding a selected record (others' records only as hashes),
  those batches and their RFC 3161 tokens;
- the captures of selected observations, the blobs they reference, the reference pieces backing their
  block proofs, and the .torrent of every swarm named by a selected record.

Source: issue 4 item 5.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from swarmscope.errors import DecodeError
from swarmscope.evidence.bundle import BundleContent
from swarmscope.evidence.bundle_exhibits import DEFAULT_CLOCK_THRESHOLD_US, clock_policy_of
from swarmscope.evidence.canonical import record_from_canonical
from swarmscope.evidence.capture_decode import decode_capture
from swarmscope.evidence.chain import ChainEntry
from swarmscope.evidence.clock_policy import flag_windows, flagged
from swarmscope.evidence.records import ClockSample, Observation, Sighting
from swarmscope.store import ledger_queries as lq
from swarmscope.store import queries
from swarmscope.store.database import Store, StoreError


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """What ``swarmscope export`` selects (None: no restriction).

    Args:
        infohash: swarm id hex. ip: normalised IP literal. since_us / until_us: UTC microseconds,
            inclusive. exclude_clock_flagged: leave out observations in a clock flag window.
        clock_threshold_us: the clock policy threshold (microseconds). node: signer fingerprint (hex);
            None: the only node of the store (StoreError when there are several).
    """

    infohash: str | None = None
    ip: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    exclude_clock_flagged: bool = False
    clock_threshold_us: int = DEFAULT_CLOCK_THRESHOLD_US
    node: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The filters as recorded (and signed) in the manifest."""
        return dataclasses.asdict(self)

    def matches(self, record: Observation | Sighting) -> bool:
        """True when a peer record passes every filter but the clock one."""
        t = record.started_us if isinstance(record, Observation) else record.seen_at_us
        return (
            (self.infohash is None or record.infohash == self.infohash.lower())
            and (self.ip is None or record.ip == self.ip)
            and (self.since_us is None or t >= self.since_us)
            and (self.until_us is None or t <= self.until_us)
        )


def _node(store: Store, node: str | None) -> str:
    keys = lq.node_keys(store)
    if node is not None:
        if not any(k.fingerprint == node.lower() for k in keys):
            raise StoreError(f"no signing node {node} in this store")
        return node.lower()
    if len(keys) != 1:
        raise StoreError(f"this store has {len(keys)} signing nodes; choose one with --node")
    return keys[0].fingerprint


def _select(
    store: Store, node: str, filters: ExportFilters
) -> tuple[dict[int, bytes], dict[int, Observation]]:
    """Selected chain index → canonical bytes, and the selected observations decoded."""
    selected: dict[int, bytes] = {}
    observations: dict[int, Observation] = {}
    samples: list[ClockSample] = []
    for entry, kind, canonical in lq.load_ledger(store, node=node):
        if kind in ("run_started", "clock_sample"):
            selected[entry.index] = canonical
            if kind == "clock_sample":
                sample = record_from_canonical(canonical)
                assert isinstance(sample, ClockSample)
                samples.append(sample)
            continue
        record = record_from_canonical(canonical)
        if isinstance(record, Observation | Sighting) and filters.matches(record):
            selected[entry.index] = canonical
            if isinstance(record, Observation):
                observations[entry.index] = record
    if filters.exclude_clock_flagged:
        windows = flag_windows(samples, clock_policy_of(filters.as_json()))
        for index, o in list(observations.items()):
            if flagged(o.started_us, windows) is not None:
                del observations[index], selected[index]
    return selected, observations


def _batches(store: Store, node: str, indices: list[int]) -> list[lq.StoredBatch]:
    """The stored batches holding any of ``indices`` (sorted), ascending."""
    batches = lq.load_batches(store, node)
    starts = [s.sealed.batch.first_index for s in batches]
    chosen: dict[int, lq.StoredBatch] = {}
    for index in indices:
        pos = bisect.bisect_right(starts, index) - 1
        if pos < 0 or batches[pos].sealed.batch.last_index < index:
            raise StoreError(f"ledger entry {index} is not sealed yet (run the monitor's recovery)")
        chosen[pos] = batches[pos]
    return [chosen[pos] for pos in sorted(chosen)]


def _content(store: Store, observations: Mapping[int, Observation]) -> dict[str, Any]:
    captures: dict[bytes, bytes] = {}
    blobs: dict[bytes, bytes] = {}
    pieces: dict[tuple[str, int], bytes] = {}
    references: dict[str, dict[int, bytes]] = {}
    for o in observations.values():
        if o.capture_sha256 is not None and o.capture_sha256 not in captures:
            data = lq.load_capture(store, o.capture_sha256)
            if data is None:
                raise StoreError(f"capture {o.capture_sha256.hex()} of an observation is not stored")
            captures[o.capture_sha256] = data
            for segment in decode_capture(data).received:
                if isinstance(segment, tuple):
                    blobs[segment[0]] = lq.load_blob(store, segment[0]) or b""
        for proof in o.verified_blocks:
            blobs[proof.sha256] = lq.load_blob(store, proof.sha256) or b""
            if o.infohash not in references:
                references[o.infohash] = lq.load_reference_pieces(store, o.infohash)
            if proof.piece in references[o.infohash]:
                pieces[(o.infohash, proof.piece)] = references[o.infohash][proof.piece]
    missing = [sha.hex() for sha, data in blobs.items() if not data]
    if missing:
        raise StoreError(f"{len(missing)} referenced blocks are not stored (first {missing[0]})")
    return {"captures": captures, "blobs": blobs, "reference_pieces": pieces}


def collect_bundle_content(store: Store, filters: ExportFilters) -> BundleContent:
    """Everything a bundle holds for ``filters`` (selection rules in the module docstring).

    Args:
        store: an open store (no node key needed: this only reads). filters: the selection.

    Returns:
        The :class:`BundleContent`, its ``filters`` the JSON form of ``filters``.

    Raises:
        StoreError: no or several signing nodes (and none chosen), a selected record not sealed yet,
            or a referenced capture/blob missing. DecodeError: a stored record or capture does not decode.

    Source: issue 4 item 5.
    """
    node = _node(store, filters.node)
    filters = dataclasses.replace(filters, node=node)
    selected, observations = _select(store, node, filters)
    batches = _batches(store, node, sorted(selected))
    entries: list[ChainEntry] = []
    for stored in batches:
        first, last = stored.sealed.batch.first_index, stored.sealed.batch.last_index
        entries += [entry for entry, _kind, _data in lq.load_ledger(store, node=node, first=first, last=last)]
    swarms = {o.infohash for o in observations.values()}
    metainfo = {row.infohash: row.metainfo for row in queries.swarm_rows(store) if row.infohash in swarms}
    tokens = {
        (s.sealed.batch.first_index, s.sealed.batch.last_index): s.tokens[0].token
        for s in batches
        if s.tokens
    }
    try:
        content = _content(store, observations)
    except DecodeError as exc:
        raise StoreError(f"a stored capture does not decode: {exc}") from exc
    return BundleContent(
        entries=tuple(entries),
        records=selected,
        batches=tuple(s.sealed for s in batches),
        tokens=tokens,
        metainfo={ih: data for ih, data in metainfo.items() if data is not None},
        filters=filters.as_json(),
        **content,
    )

"""Select what goes into an export bundle: records by filter, the batches around them, their content.

Reads the sealed ledger of ONE signing node (chain indices are per node) and returns a
:class:`~swarmscope.evidence.bundle.layout.BundleContent`;
:func:`swarmscope.evidence.bundle.layout.build_bundle` turns
it into files. Selection:

- nothing at all unless the node's whole ledger verifies (:func:`store.ledger.verify.verify_ledger`);
- observations and sightings matching every given filter (infohash, ip, since/until on ``started_us`` /
  ``seen_at_us``, inclusive); with ``exclude_clock_flagged`` observations that started in a clock flag
  window (recomputed from every clock sample of the ledger) are left out; the clock threshold is the
  strictest one sealed in the settings of the runs whose observations are selected (an export may ask
  for a stricter one, never a looser one), and a run sealed with the commercial-anchor policy has its
  flagged observations left out always (:mod:`swarmscope.evidence.bundle.settings`);
- every clock sample (the flag windows depend on all of them) and every run configuration record (the
  methodology statement is generated from them);
- the attribution records of the selected observations' addresses, or every one when
  the export has no swarm, address or time filter; and, from the ``dataset`` table, the fingerprint of
  every dataset they cite (a cited dataset missing from the table is a StoreError);
- every chain entry of each sealed batch holding a selected record (others' records only as hashes),
  those batches and their RFC 3161 tokens; entries redacted by a retention purge (no record bytes) are
  never selected, they appear only as hashes;
- the captures of selected observations, the blobs they reference, the reference pieces backing their
  block proofs, and the .torrent of every swarm named by a selected record.

What matches the filters but is left out is counted per reason (:func:`left_out`): rows without a ledger
entry (quarantined by crash recovery, or not yet checked by it), clock-flagged observations, records of a
late-sealed batch (:func:`~swarmscope.evidence.seal.late_seal`: not evidence), duplicate captures.

Source: README "Export and verify"; README "The legal workflow" (attribution).
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from swarmscope.errors import DecodeError
from swarmscope.evidence.bundle.clock_judgement import judge_clock
from swarmscope.evidence.bundle.datasets import dataset_json
from swarmscope.evidence.bundle.layout import BundleContent
from swarmscope.evidence.bundle.settings import COMMERCIAL_ANCHOR, RunIndex
from swarmscope.evidence.canonical import record_from_canonical
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.chain import ChainEntry
from swarmscope.evidence.clock_policy import ClockPolicy
from swarmscope.evidence.duplicates import drop_duplicate_captures
from swarmscope.evidence.records import Attribution, ClockSample, Observation, RunStarted, Sighting
from swarmscope.evidence.seal import NOT_EVIDENCE, late_seal
from swarmscope.store.database import Store, StoreError
from swarmscope.store.ledger import entries as lq
from swarmscope.store.ledger import queries, seal_state
from swarmscope.store.ledger.datasets import list_datasets
from swarmscope.store.ledger.snapshot import Source, read_snapshot
from swarmscope.store.ledger.verify import verify_ledger
from swarmscope.store.ledger.witness_reset import reset_records


@dataclass(frozen=True, slots=True)
class ExportFilters:
    """What ``swarmscope export`` selects (None: no restriction).

    Args:
        infohash: swarm id hex. ip: normalised IP literal. since_us / until_us: UTC microseconds,
            inclusive. exclude_clock_flagged: leave out observations in a clock flag window.
        clock_threshold_us: the clock policy threshold (microseconds); None: the strictest threshold
            sealed in the settings of the runs whose observations are selected; a value may only be
            stricter (smaller) than that (InputError otherwise). node: signer fingerprint (hex); None: the
            only node of the store (StoreError when there are several). clock_policy, clock_max_age_us:
            set by the export from the sealed settings (commercial-anchor also excludes flagged ones).
    """

    infohash: str | None = None
    ip: str | None = None
    since_us: int | None = None
    until_us: int | None = None
    exclude_clock_flagged: bool = False
    clock_threshold_us: int | None = None
    node: str | None = None
    clock_policy: str = "default"
    clock_max_age_us: int | None = None

    def as_json(self) -> dict[str, Any]:
        """The filters as recorded (and signed) in the manifest."""
        return dataclasses.asdict(self)

    def selects_every_address(self) -> bool:
        """True when no swarm, address or time filter narrows the export (all attributions go in)."""
        return self.infohash is None and self.ip is None and self.since_us is None and self.until_us is None

    def matches(self, record: Observation | Sighting) -> bool:
        """True when a peer record passes every filter but the clock one."""
        t = record.started_us if isinstance(record, Observation) else record.seen_at_us
        return (
            (self.infohash is None or record.infohash == self.infohash.lower())
            and (self.ip is None or record.ip == self.ip)
            and (self.since_us is None or t >= self.since_us)
            and (self.until_us is None or t <= self.until_us)
        )


def _select(
    store: Source, node: str, filters: ExportFilters
) -> tuple[dict[int, bytes], dict[int, Observation], ExportFilters, int]:
    """Selected chain index → canonical bytes, the selected observations decoded, the effective filters,
    and how many matching observations were left out as clock-flagged."""
    selected: dict[int, bytes] = {}
    observations: dict[int, Observation] = {}
    samples: list[ClockSample] = []
    runs: list[tuple[int, RunStarted]] = []
    attributions: list[tuple[int, bytes, Attribution]] = []
    late = _late_spans(store, node)
    for entry, kind, canonical in lq.load_ledger(store, node=node):
        if canonical is None or any(first <= entry.index <= last for first, last in late):
            continue  # redacted by a purge, or sealed late by recovery: in a bundle only as chain hashes
        if kind == "attribution":
            record = record_from_canonical(canonical)
            assert isinstance(record, Attribution)
            attributions.append((entry.index, canonical, record))
            continue
        if kind in ("run_started", "clock_sample"):
            selected[entry.index] = canonical
            record = record_from_canonical(canonical)
            if isinstance(record, ClockSample):
                samples.append(record)
            elif isinstance(record, RunStarted):
                runs.append((entry.index, record))
            continue
        record = record_from_canonical(canonical)
        if isinstance(record, Observation | Sighting) and filters.matches(record):
            selected[entry.index] = canonical
            if isinstance(record, Observation):
                observations[entry.index] = record
    judgement = judge_clock(RunIndex(runs), samples, sorted(observations), filters.clock_threshold_us)
    filters = effective_filters(filters, judgement.policy)
    matched = len(observations)
    if filters.exclude_clock_flagged:
        for index, o in list(observations.items()):
            if judgement.flag_of(o.started_us) is not None:
                del observations[index], selected[index]
    addresses = {o.ip for o in observations.values()}
    for index, canonical, a in attributions:
        if (filters.selects_every_address() or a.ip in addresses) and filters.ip in (None, a.ip):
            selected[index] = canonical
    return selected, observations, filters, matched - len(observations)


def _late_spans(store: Source, node: str) -> list[tuple[int, int]]:
    """(first, last) chain indices of the node's batches crash recovery sealed late (not evidence)."""
    batches = [s.sealed.batch for s in lq.load_batches(store, node)]
    return [(b.first_index, b.last_index) for b in batches if late_seal(b) is not None]


def _late_matches(store: Source, filters: ExportFilters) -> int:
    """Records of late-sealed batches the filters would have selected (:func:`left_out`)."""
    spans = _late_spans(store, str(filters.node))
    found = (d for f, t in spans for _e, _k, d in lq.load_ledger(store, node=filters.node, first=f, last=t))
    return sum(1 for d in found if d is not None and _outside_matches(record_from_canonical(d), filters))


def effective_filters(filters: ExportFilters, sealed: ClockPolicy) -> ExportFilters:
    """``filters`` with the clock policy the sealed settings demand, as judged by
    :func:`swarmscope.evidence.bundle.clock_judgement.judge_clock` (which refuses a looser threshold)."""
    return dataclasses.replace(
        filters,
        clock_threshold_us=sealed.threshold_us,
        clock_policy=sealed.name,
        clock_max_age_us=sealed.max_age_us,
        exclude_clock_flagged=filters.exclude_clock_flagged or sealed.name == COMMERCIAL_ANCHOR,
    )


def _batches(store: Source, node: str, indices: list[int]) -> list[lq.StoredBatch]:
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


def _content(store: Source, observations: Mapping[int, Observation]) -> dict[str, Any]:
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


def cited_datasets(store: Source, records: Mapping[int, bytes]) -> tuple[dict[str, Any], ...]:
    """The ``attribution/datasets.json`` entries of every dataset the attribution records cite.

    Args:
        store: an open store. records: selected chain index → canonical bytes.

    Returns:
        One :func:`swarmscope.evidence.bundle.datasets.dataset_json` object per cited SHA-256, sorted.

    Raises:
        StoreError: a cited dataset is not in the ``dataset`` table (naming the chain index).
    """
    cited: dict[str, int] = {}
    for index, canonical in sorted(records.items()):
        record = record_from_canonical(canonical)
        if isinstance(record, Attribution):
            for sha in record.datasets:
                cited.setdefault(sha, index)
    rows = {row.sha256: row for row in list_datasets(store)}
    out = []
    for sha in sorted(cited):
        row = rows.get(sha)
        if row is None:
            raise StoreError(
                f"attribution at chain index {cited[sha]} cites dataset {sha}, which is not registered"
            )
        out.append(
            dataset_json(
                name=row.name,
                kind=row.kind,
                database_type=row.database_type,
                build_us=row.build_us,
                sha256=row.sha256,
                size=row.size,
                active=row.active,
            )
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class ExportSelection:
    """What an export selected: the bundle content, how many observations, the signers left out, how many
    attribution records, and the matching records left out: ``(count, why)`` pairs, one per reason."""

    content: BundleContent
    observations: int
    other_signers: tuple[str, ...]
    attributions: int = 0
    left_out: tuple[tuple[int, str], ...] = ()


def _outside_matches(record: object, filters: ExportFilters) -> bool:
    """Would the export have selected this record, were it evidence? (clock samples, run records: always)"""
    if isinstance(record, Observation | Sighting):
        return filters.matches(record)
    if isinstance(record, Attribution):
        return filters.ip in (None, record.ip)
    return True


def left_out(store: Source, filters: ExportFilters, flagged_out: int) -> tuple[tuple[int, str], ...]:
    """The records matching ``filters`` that the bundle cannot or must not hold, counted per reason.

    Rows without a ledger entry (never in a bundle: it is built from the sealed canonical bytes), per
    table and recovery's quarantine reason (:mod:`swarmscope.store.ledger.seal_state`); and the observations
    left out as clock-flagged (``flagged_out``).
    """
    counts: dict[tuple[str, str | None], int] = {}
    for row in seal_state.rows_outside_ledger(store):
        if _outside_matches(row.record, filters):
            counts[(row.table, row.quarantined)] = counts.get((row.table, row.quarantined), 0) + 1
    out = [
        (n, f"{table} rows quarantined by crash recovery ({reason})")
        if reason is not None
        else (n, f"{table} rows without a ledger entry, not yet checked by crash recovery (never sealed)")
        for (table, reason), n in sorted(counts.items(), key=lambda item: (item[0][0], item[0][1] or ""))
    ]
    late = _late_matches(store, filters)
    if late:
        out.append((late, f"records {NOT_EVIDENCE} (their batch's signed bytes say so)"))
    if flagged_out:
        policy = f"{filters.clock_policy} policy, {(filters.clock_threshold_us or 0) / 1000:g} ms"
        out.append((flagged_out, f"observations that started in a clock flag window ({policy})"))
    return tuple(out)


def check_ledger(store: Source, node: str) -> None:
    """Refuse to export from a ledger that does not verify in full (:func:`ledger.verify.verify_ledger`).

    Raises:
        StoreError: naming the first problems (node, chain index, what, detail).
    """
    verdict = verify_ledger(store, node)
    if not verdict.ok:
        shown = "; ".join(
            f"index {p.index}: {p.what} ({p.detail})" if p.index is not None else f"{p.what} ({p.detail})"
            for p in verdict.problems[:5]
        )
        more = len(verdict.problems) - 5
        raise StoreError(
            f"the ledger of node {node} does not verify, refusing to export: {shown}"
            + (f"; and {more} more" if more > 0 else "")
        )


def collect_export(store: Store, filters: ExportFilters) -> ExportSelection:
    """Everything a bundle holds for ``filters`` (selection rules in the module docstring).

    The node's whole ledger is verified first (every entry, seal and row; see
    :func:`swarmscope.store.ledger.verify.verify_ledger`); a ledger that does not verify is never
    exported. The check and the selection read one snapshot (:mod:`swarmscope.store.ledger.snapshot`):
    a batch a live writer commits meanwhile is neither exported unchecked nor seen in part.

    Args:
        store: an open store (no node key needed: this only reads). filters: the selection.

    Returns:
        The :class:`ExportSelection`; its content's ``filters`` are the effective filters (node and
        clock policy filled in).

    Raises:
        StoreError: the ledger does not verify; no or several signing nodes (and none chosen), a selected
            record not sealed yet, or a referenced capture/blob missing. InputError: a clock threshold
            looser than sealed. DecodeError: a stored record or capture does not decode.

    Source: README "Export and verify".
    """
    with read_snapshot(store.engine) as snapshot:  # the check and the selection see one state
        return _collect(snapshot, filters)


def _collect(store: Source, filters: ExportFilters) -> ExportSelection:
    """:func:`collect_export` inside its snapshot."""
    node = lq.export_signer(store, filters.node)
    check_ledger(store, node)
    filters = dataclasses.replace(filters, node=node)
    selected, observations, filters, flagged_out = _select(store, node, filters)
    duplicates = drop_duplicate_captures(selected, observations)  # one hit sealed twice: the later copies
    selected.update(reset_records(store, node))  # a bundle says its chain's witness was re-created
    batches = _batches(store, node, sorted(selected))
    entries: list[ChainEntry] = []
    for stored in batches:
        first, last = stored.sealed.batch.first_index, stored.sealed.batch.last_index
        entries += [entry for entry, _kind, _data in lq.load_ledger(store, node=node, first=first, last=last)]
    swarms = {o.infohash for o in observations.values()}
    metainfo = {row.infohash: row.metainfo for row in queries.swarm_rows(store) if row.infohash in swarms}
    spans = {(s.sealed.batch.first_index, s.sealed.batch.last_index): s for s in batches}
    tokens = {span: s.tokens[0].token for span, s in spans.items() if s.tokens}
    try:
        content = _content(store, observations)
    except DecodeError as exc:
        raise StoreError(f"a stored capture does not decode: {exc}") from exc
    bundle = BundleContent(
        entries=tuple(entries),
        records=selected,
        batches=tuple(s.sealed for s in batches),
        tokens=tokens,
        metainfo={ih: data for ih, data in metainfo.items() if data is not None},
        filters=filters.as_json(),
        datasets=cited_datasets(store, selected),
        **content,
    )
    others = tuple(fp for fp in lq.sealing_nodes(store) if fp != node)  # a key that sealed nothing: none
    attributions = sum(
        1 for data in selected.values() if isinstance(record_from_canonical(data), Attribution)
    )
    skipped = left_out(store, filters, flagged_out) + duplicates
    return ExportSelection(bundle, len(observations), others, attributions, skipped)


def collect_bundle_content(store: Store, filters: ExportFilters) -> BundleContent:
    """The bundle content of :func:`collect_export` (same arguments, errors and checks)."""
    return collect_export(store, filters).content

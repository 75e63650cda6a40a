"""Bundle checks that re-derive the evidence itself: capture replay, piece/block proofs, views, methodology.

Each check takes the verification :class:`~swarmscope.evidence.bundle.context.Context` (files, decoded
records, problems found so far) and the decoded records as the views see them, and returns a
:class:`~swarmscope.evidence.bundle.context.CheckResult`; problems name the file and the record.

Source: README "Export and verify" (verify re-derives every record from the captures, checks piece/block
hashes); "Wire captures" (capture replay); "Blocks proving distribution" (block proofs); "Honest clock"
(clock flags).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import fields

from swarmscope.errors import DecodeError, SwarmscopeError
from swarmscope.evidence.bundle import exhibits, methodology
from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.attribution import check_attribution
from swarmscope.evidence.bundle.clock import check_clock
from swarmscope.evidence.bundle.context import CheckResult, Context, count_problems
from swarmscope.evidence.bundle.exhibits import ExhibitInput, Indexed, exhibit_segments, iso
from swarmscope.evidence.bundle.json_bound import METHODOLOGY, JsonBoundError, loads_bounded
from swarmscope.evidence.bundle.methodology import VERSION, VERSIONS, methodology_files
from swarmscope.evidence.canonical import as_version, canonical_bytes
from swarmscope.evidence.capture.recording import replay
from swarmscope.evidence.declarations import OBSERVATION
from swarmscope.evidence.duplicates import CaptureIndex
from swarmscope.evidence.probe.pieces import MetainfoPieces
from swarmscope.evidence.records import BlockProof, Observation
from swarmscope.evidence.seal import SealedBatch, batch_bytes
from swarmscope.evidence.timestamp.token import verify_token
from swarmscope.wire.metainfo import parse_metainfo

MAX_TSA_LEAD_US = 60 * 1_000_000  # a token stamped this long before its batch's sealed_at is worth a note


def _observations(exhibit: ExhibitInput) -> list[tuple[Indexed, Observation]]:
    return [(item, item.record) for item in exhibit.observations if isinstance(item.record, Observation)]


def _pieces(ctx: Context, infohash: str) -> MetainfoPieces | None:
    """The swarm's pieces from ``metainfo/<infohash>.torrent``; None (and a problem once) when unusable.

    Parsed once per verification (``ctx.pieces``), shared by capture replay and block proofs.
    """
    cache = ctx.pieces
    if infohash in cache:
        return cache[infohash]
    path = b.metainfo_path(infohash)
    data = ctx.get(path)
    pieces: MetainfoPieces | None = None
    if data is None:
        ctx.problem("metainfo", path, "missing: the swarm's pieces cannot be checked")
    else:
        try:
            meta = parse_metainfo(data)
        except DecodeError as exc:
            ctx.problem("metainfo", path, f"does not parse: {exc}")
        else:
            if infohash not in {meta.swarm_id.hex, meta.v1, meta.v2}:
                ctx.problem("metainfo", path, f"its infohash is {meta.swarm_id.hex}, not {infohash}")
            else:
                pieces = MetainfoPieces(meta)
    cache[infohash] = pieces
    return pieces


def _blob_reader(ctx: Context, item: Indexed) -> Callable[[bytes], bytes | None]:
    """Blob lookup for replay: ``blobs/<sha256>.bin`` only when its bytes hash to its name."""

    def blob(sha256: bytes) -> bytes | None:
        data = ctx.get(b.blob_path(sha256))
        if data is not None and hashlib.sha256(data).digest() != sha256:
            ctx.problem(
                "capture replay", b.blob_path(sha256), "block bytes do not hash to their name", item.index
            )
            return None
        return data

    return blob


def _differing_fields(a: Observation, c: Observation) -> str:
    names = [f.name for f in fields(Observation) if getattr(a, f.name) != getattr(c, f.name)]
    return ", ".join(names[:8]) or "canonical bytes"


def _replay_one(ctx: Context, item: Indexed, o: Observation, pieces: MetainfoPieces | None) -> bool:
    assert o.capture_sha256 is not None
    path = b.capture_path(o.capture_sha256)
    data = ctx.get(path)
    if data is None:
        ctx.problem("capture replay", path, "capture missing", item.index)
        return False
    if hashlib.sha256(data).digest() != o.capture_sha256:
        ctx.problem(
            "capture replay", path, "capture bytes do not hash to the record's capture_sha256", item.index
        )
        return False
    if pieces is None:
        ctx.problem(
            "capture replay", b.metainfo_path(o.infohash), "no usable metainfo to replay with", item.index
        )
        return False
    try:
        # compared in the format version the observation was sealed under (a field added since is not in it)
        replayed = as_version(OBSERVATION, replay(data, pieces, _blob_reader(ctx, item)), o.version)
    except (SwarmscopeError, ValueError) as exc:
        ctx.problem("capture replay", path, f"replay failed: {exc}", item.index)
        return False
    if canonical_bytes(replayed) != ctx.canonical[item.index]:
        ctx.problem(
            "capture replay", path, f"replay differs in: {_differing_fields(replayed, o)}", item.index
        )
        return False
    return True


def check_captures(ctx: Context, exhibit: ExhibitInput) -> CheckResult:
    """Every observation replays from its capture to exactly its canonical bytes.

    An observation without a capture is a problem unless the sealed settings of its run say
    ``"capture": false``; then it is counted (and noted) as not re-derivable, and does not fail the bundle.
    Two observations carrying one capture are a problem: the later one is a duplicate that would count
    one hit twice (:mod:`swarmscope.evidence.duplicates`, the rule ``export`` and ``verify --db`` share).
    """
    runs = exhibit.run_index()
    replayed = disabled = 0
    seen = CaptureIndex()
    for item, o in _observations(exhibit):
        first = seen.add(item.index, o)
        if first is not None and o.capture_sha256 is not None:
            message = f"duplicate: the observation at chain index {first} carries the same capture"
            ctx.problem("capture replay", b.capture_path(o.capture_sha256), message, item.index)
        if o.capture_sha256 is not None:
            replayed += _replay_one(ctx, item, o, _pieces(ctx, o.infohash))
        elif (runs.settings_at(item.index) or {}).get("capture") is False:
            disabled += 1
        else:
            ctx.problem(
                "capture replay",
                b.LEDGER,
                "observation carries no capture, and its run's sealed settings do not disable capture",
                item.index,
            )
    total = len(exhibit.observations)
    if disabled:
        ctx.notes.append(
            f"NOT RE-DERIVABLE: {disabled} of {total} observation(s) carry no capture because their run's"
            ' sealed settings say "capture": false; they rest on the signed record alone'
        )
    ok = not any(p.check in ("capture replay", "metainfo") for p in ctx.problems)
    detail = f"{replayed} of {total} observations replayed exactly; not re-derivable: {total - replayed}"
    if disabled:
        detail += f" ({disabled} capture disabled by sealed setting)"
    return CheckResult("capture replay", ok, detail)


def _check_block(
    ctx: Context, item: Indexed, o: Observation, proof: BlockProof, pieces: MetainfoPieces | None
) -> None:
    blob = ctx.get(b.blob_path(proof.sha256))
    if blob is None or len(blob) != proof.length or hashlib.sha256(blob).digest() != proof.sha256:
        ctx.problem("block proofs", b.blob_path(proof.sha256), "proving block missing or altered", item.index)
    path = b.piece_path(o.infohash, proof.piece)
    piece = ctx.get(path)
    if piece is None:
        ctx.problem("block proofs", path, f"reference piece {proof.piece} missing", item.index)
        return
    if (
        pieces is None
        or not 0 <= proof.piece < pieces.num_pieces
        or not pieces.check_piece(proof.piece, piece)
    ):
        ctx.problem(
            "block proofs", path, f"reference piece {proof.piece} fails the metainfo hash", item.index
        )
    block = piece[proof.begin : proof.begin + proof.length]
    if len(block) != proof.length or hashlib.sha256(block).digest() != proof.sha256:
        ctx.problem(
            "block proofs",
            path,
            f"block {proof.piece}:{proof.begin} of the reference piece differs",
            item.index,
        )


def check_blocks(ctx: Context, exhibit: ExhibitInput) -> CheckResult:
    """Every verified block re-hashes, and sits in a reference piece that matches the metainfo."""
    count = 0
    for item, o in _observations(exhibit):
        for proof in o.verified_blocks:
            count += 1
            _check_block(ctx, item, o, proof, _pieces(ctx, o.infohash))
    ok = not any(p.check == "block proofs" for p in ctx.problems)
    return CheckResult("block proofs", ok, f"{count} verified blocks re-checked against reference pieces")


def _compare_segments(ctx: Context, path: str, segments: list[tuple[Indexed | None, bytes]]) -> None:
    """Compare a view file with its re-derived segments, naming each differing line's record."""
    data = ctx.get(path)
    expected = b"".join(seg for _, seg in segments)
    if data == expected:
        return
    if data is None:
        ctx.problem("views", path, "missing")
        return
    pos, named = 0, False
    for item, seg in segments:
        if data[pos : pos + len(seg)] != seg:
            named = True
            where = "header" if item is None else "line"
            ctx.problem(
                "views",
                path,
                f"{where} differs from the canonical record",
                None if item is None else item.index,
            )
            if len(data) != len(expected):
                break
        pos += len(seg)
    if not named:
        ctx.problem("views", path, f"{len(data) - len(expected):+d} bytes beyond the canonical records")


def _check_missing_tokens(ctx: Context, exhibit: ExhibitInput, present: set[str]) -> None:
    """A batch of a run whose sealed settings name a ``tsa_url`` must carry a token (stripped or failed)."""
    runs = exhibit.run_index()
    configured = [s for s in runs.all_settings() if s.get("tsa_url")]
    if not configured:
        ctx.notes.append("no RFC 3161 timestamps (none configured in the sealed run settings)")
        return
    missing: list[SealedBatch] = []
    for sealed in ctx.batches:
        settings = runs.settings_at(sealed.batch.last_index + 1) or {}
        if settings.get("tsa_url") and b.token_path(*_span(sealed)) not in present:
            missing.append(sealed)
    for first, last in _token_gaps(missing):
        ctx.problem(
            "timestamps",
            b.BATCHES,
            f"batches chain {first.batch.first_index}..{last.batch.last_index}: their run's sealed settings"
            " name an RFC 3161 authority (tsa_url) but they carry no token (stripped, or the request failed)",
            first.batch.last_index,
        )


def _span(sealed: SealedBatch) -> tuple[int, int]:
    return sealed.batch.first_index, sealed.batch.last_index


def _token_gaps(missing: list[SealedBatch]) -> list[tuple[SealedBatch, SealedBatch]]:
    """Consecutive batches (each starting where the previous ended) grouped as (first, last)."""
    runs: list[tuple[SealedBatch, SealedBatch]] = []
    for sealed in sorted(missing, key=_span):
        if runs and runs[-1][1].batch.last_index + 1 == sealed.batch.first_index:
            runs[-1] = (runs[-1][0], sealed)
        else:
            runs.append((sealed, sealed))
    return runs


def check_timestamps(ctx: Context, exhibit: ExhibitInput) -> CheckResult:
    """Every RFC 3161 token is over SHA-256 of its batch's canonical bytes and verifies; every batch of a
    run configured with a ``tsa_url`` has one."""
    by_range = {(s.batch.first_index, s.batch.last_index): s for s in ctx.batches}
    paths = sorted(p for p in ctx.files if p.startswith("records/timestamps/"))
    for path in paths:
        match = re.fullmatch(r"records/timestamps/(\d{1,20})-(\d{1,20})\.tsr", path)
        sealed = by_range.get((int(match[1]), int(match[2]))) if match else None
        token = ctx.get(path)
        if sealed is None or token is None:
            ctx.problem("timestamps", path, "names no sealed batch of this bundle")
            continue
        digest = hashlib.sha256(batch_bytes(sealed.batch)).digest()
        try:
            info = verify_token(token, digest, trusted=ctx.tsa_roots)
        except (SwarmscopeError, ValueError) as exc:
            ctx.problem("timestamps", path, f"token does not verify: {exc}", sealed.batch.last_index)
            continue
        lead_us = sealed.batch.sealed_at_us - info.gen_time_us
        if lead_us > MAX_TSA_LEAD_US:  # the node's clock ran ahead of the TSA's: say so, the seal still holds
            ctx.notes.append(
                f"{path}: TSA time {iso(info.gen_time_us)} is {lead_us // 1_000_000} s before"
                f" the batch's sealed_at {iso(sealed.batch.sealed_at_us)} (node clock ahead)"
            )
    if paths and not ctx.tsa_roots:
        ctx.notes.append(
            "RFC 3161 tokens were checked against the TSA certificate they carry (no --tsa-root)"
        )
    _check_missing_tokens(ctx, exhibit, {p for p in paths if p in ctx.files})
    ok = count_problems(ctx, "timestamps") == 0
    return CheckResult("timestamps", ok, f"{len(paths)} RFC 3161 tokens" if paths else "none in this bundle")


def check_views(ctx: Context, exhibit: ExhibitInput) -> CheckResult:
    """observations.jsonl/.csv, sightings.jsonl, clock.jsonl and attributions.jsonl equal their
    re-derivation from the records."""
    segments = exhibit_segments(exhibit)
    if not exhibit.attributions and ctx.get(exhibits.ATTRIBUTIONS_JSONL) is None:
        del segments[exhibits.ATTRIBUTIONS_JSONL]  # a bundle exported before attribution views, holding none
    for path, segs in sorted(segments.items()):
        _compare_segments(ctx, path, segs)
    ok = not any(p.check == "views" for p in ctx.problems)
    return CheckResult(
        "views", ok, f"{len(segments)} files agree with the canonical records" if ok else "differ"
    )


_VERSION_TAIL = re.compile(rb'\n  "version": ([0-9]{1,6})\n}\n\Z')  # json_bytes's last line of a statement


def _methodology_version(ctx: Context) -> tuple[int, str | None]:
    """The statement version the bundle's methodology.json claims (a known one; else the current), and
    why it was not read when it had to be parsed and is over the JSON bound.

    A methodology.json in the bundle's JSON spelling (``layout.json_bytes``: sorted keys, so ``version``
    is the last line before the closing brace) is read from its last 64 bytes, whatever its size; any
    other text is parsed under the bound of :mod:`~swarmscope.evidence.bundle.json_bound` (16 MiB, or
    too costly to parse: then it is compared with the current version's statement).
    """
    raw = ctx.get(methodology.METHODOLOGY_JSON) or b"{}"
    tail = _VERSION_TAIL.search(raw[-64:])
    try:
        version = int(tail[1]) if tail else loads_bounded(raw, METHODOLOGY).get("version")
    except JsonBoundError as exc:
        return VERSION, str(exc)
    except (ValueError, AttributeError, RecursionError):
        return VERSION, None
    return (version if version in VERSIONS and isinstance(version, int) else VERSION), None


def check_methodology(ctx: Context, exhibit: ExhibitInput) -> CheckResult:
    """methodology.md/.json equal their regeneration from the sealed run records and the filters."""
    fingerprint = str(ctx.manifest.get("signing_key", ""))
    version, refused = _methodology_version(ctx)
    for path, data in sorted(methodology_files(exhibit, fingerprint, version).items()):
        if path == methodology.METHODOLOGY_JSON and refused is not None:
            ctx.problem("methodology", path, f"not read: {refused}")
        elif ctx.get(path) != data:
            ctx.problem(
                "methodology", path, "differs from the statement generated from the sealed run records"
            )
    ok = not any(p.check == "methodology" for p in ctx.problems)
    return CheckResult("methodology", ok, f"{len(exhibit.runs)} run configuration records")


def check_layout(ctx: Context, _exhibit: ExhibitInput) -> CheckResult:
    """Every file sits where the layout puts it (no stray names a reader could be misled by)."""
    pattern = re.compile(
        r"manifest\.(json|sig)|methodology\.(md|json)|attribution/datasets\.json|records/(ledger|chain|batches)\.bin"
        r"|records/(observations|sightings|clock|attributions)\.jsonl|records/observations\.csv"
        r"|records/timestamps/\d+-\d+\.tsr|captures/[0-9a-f]{64}\.cap|blobs/[0-9a-f]{64}\.bin"
        r"|pieces/[0-9a-f]{40,64}/\d+\.bin|metainfo/[0-9a-f]{40,64}\.torrent|keys/[0-9a-f]{64}\.pem"
    )
    stray = [path for path in sorted(ctx.files) if not pattern.fullmatch(path)]
    for path in stray:
        ctx.problem("layout", path, "not a file of the bundle layout")
    return CheckResult("layout", not stray, f"{len(stray)} stray files")


PROOF_CHECKS: tuple[Callable[[Context, ExhibitInput], CheckResult], ...] = (
    check_timestamps,
    check_captures,
    check_blocks,
    check_views,
    check_methodology,
    check_clock,
    check_attribution,
    check_layout,
)

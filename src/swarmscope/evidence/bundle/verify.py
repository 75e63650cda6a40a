"""Verify an export bundle with nothing but the bundle: manifest, signatures, ledger, chain and seals.

:func:`verify_bundle` re-derives everything a bundle claims (layout in
:mod:`swarmscope.evidence.bundle.layout`)
and returns a :class:`Verdict`: one :class:`CheckResult` per check, and one :class:`Problem` per defect
naming the FILE and, when the defect concerns a record, the RECORD (chain index, kind, ip:port,
infohash). The checks of captures, proofs, views and methodology live in
:mod:`swarmscope.evidence.bundle.proofs`. Nothing here trusts the manifest's listing for anything but
the file hashes: every other check recomputes from the files themselves, so one altered byte is named by
the manifest check AND by the check of the record it belongs to.

Source: README "Export and verify" (``swarmscope verify DIR`` re-derives every record, checks chain,
signatures, piece/block hashes and manifest hashes, and prints a precise verdict; it needs nothing but the
bundle).
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature

from swarmscope.errors import DecodeError, SwarmscopeError
from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.context import CheckResult, Context, Problem, count_problems
from swarmscope.evidence.bundle.datasets import parse_datasets
from swarmscope.evidence.bundle.exhibits import ExhibitInput, Indexed
from swarmscope.evidence.bundle.manifest_json import parse_manifest
from swarmscope.evidence.bundle.proofs import PROOF_CHECKS
from swarmscope.evidence.canonical import record_from_canonical
from swarmscope.evidence.chain import GENESIS, ChainEntry, link_hash
from swarmscope.evidence.records import WITNESS_RESET_STEP, WorkflowEvent, us_to_iso
from swarmscope.evidence.seal import (
    NOT_EVIDENCE,
    SealedBatch,
    key_fingerprint,
    late_seal,
    load_public_key,
    verify_seal,
)
from swarmscope.wire.bencode import value_end


class BundleUnusableError(SwarmscopeError):
    """The input is not a bundle at all (no manifest.json): nothing to verify (CLI exit status 2)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """Everything :func:`verify_bundle` found. ``ok`` only when no check found a problem."""

    checks: tuple[CheckResult, ...]
    problems: tuple[Problem, ...]
    notes: tuple[str, ...] = ()
    signing_keys: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """True when every check held."""
        return not self.problems and all(c.ok for c in self.checks)


def check_manifest(ctx: Context, version: int = b.VERSION) -> CheckResult:
    """Manifest format (``version``: 1 for one node, 2 across nodes) and the size and SHA-256 of every
    listed file; no unlisted file."""
    raw = ctx.get(b.MANIFEST)
    assert raw is not None
    try:
        manifest = parse_manifest(raw)
        if not isinstance(manifest, dict) or manifest.get("format") != b.FORMAT:
            raise ValueError("not a swarmscope-bundle manifest")
        if manifest.get("version") != version:
            raise ValueError(f"unsupported version {str(manifest.get('version'))[:20]}")
        listing = {str(item["path"]): item for item in manifest["files"]}
    except (ValueError, KeyError, TypeError, RecursionError) as exc:
        ctx.problem("manifest", b.MANIFEST, f"unreadable manifest: {exc}")
        return CheckResult("manifest", False, "manifest unreadable; file hashes not checked")
    ctx.manifest = manifest
    for path, item in sorted(listing.items()):
        data = ctx.get(path)
        if data is None:
            ctx.problem("manifest", path, "listed in the manifest but missing (or an unsafe path)")
        elif len(data) != item.get("size") or hashlib.sha256(data).hexdigest() != item.get("sha256"):
            ctx.problem("manifest", path, "size or SHA-256 differs from the manifest")
    for path in sorted(set(ctx.files) - set(listing) - {b.MANIFEST, b.MANIFEST_SIG}):
        ctx.problem("manifest", path, "file present but not listed in the manifest")
    n = count_problems(ctx, "manifest")
    return CheckResult("manifest", n == 0, f"{len(listing)} files listed, {n} bad")


def _trusted_key(ctx: Context, check: str, raw: bytes | None, fingerprint: str, file: str) -> bytes | None:
    """The bundled PEM of ``fingerprint``, checked against the raw key and ``--expect-key``."""
    pem = ctx.get(b.key_path(fingerprint)) if re.fullmatch(r"[0-9a-f]{64}", fingerprint) else None
    if pem is None:
        ctx.problem(check, file, f"public key {fingerprint[:64]} is not in keys/")
        return None
    try:
        key_raw = b.public_key_raw_of(load_public_key(pem))
    except DecodeError as exc:
        ctx.problem(check, b.key_path(fingerprint), f"unusable public key: {exc}")
        return None
    if key_fingerprint(key_raw) != fingerprint or (raw is not None and raw != key_raw):
        ctx.problem(check, b.key_path(fingerprint), "key file does not hold the key its name says")
        return None
    if ctx.expect_keys and fingerprint not in ctx.expect_keys:
        expected = (
            f"the expected {ctx.expect_keys[0]}"
            if len(ctx.expect_keys) == 1
            else f"one of the {len(ctx.expect_keys)} expected keys"
        )
        ctx.problem(check, file, f"signed by key {fingerprint}, not {expected}")
    ctx.keys.add(fingerprint)
    return pem


def check_manifest_signature(ctx: Context) -> CheckResult:
    """manifest.sig is an Ed25519 signature by the bundled signing key over manifest.json's bytes."""
    manifest, sig = ctx.get(b.MANIFEST), ctx.get(b.MANIFEST_SIG)
    assert manifest is not None
    fingerprint = str(ctx.manifest.get("signing_key", ""))
    pem = _trusted_key(ctx, "manifest signature", None, fingerprint, b.MANIFEST)
    if sig is None:
        ctx.problem("manifest signature", b.MANIFEST_SIG, "missing")
    elif pem is not None:
        try:
            load_public_key(pem).verify(sig, manifest)
        except InvalidSignature:
            for path in (b.MANIFEST, b.MANIFEST_SIG):  # either one was altered; the signature cannot tell
                ctx.problem("manifest signature", path, "manifest.sig does not verify over manifest.json")
    ok = count_problems(ctx, "manifest signature") == 0
    return CheckResult("manifest signature", ok, f"Ed25519 by key {fingerprint[:64] or '(none)'}")


def _record_end(data: bytes, start: int, length: int) -> int | None:
    """Where the bencoded record starting at ``start`` ends (its header says ``length`` bytes), or None
    when it does not parse. One bencode2 call when the header is right, the token scan otherwise."""
    try:
        return value_end(data, start, start + length)
    except DecodeError:
        return None


def _consistent(data: bytes, pos: int) -> bool:
    """True when a ledger record header at ``pos`` agrees with the record after it (or ``pos`` is the end)."""
    if pos == len(data):
        return True
    if len(data) - pos < 12:
        return False
    length = int.from_bytes(data[pos + 8 : pos + 12], "big")
    return _record_end(data, pos + 12, length) == pos + 12 + length


def scan_ledger(ctx: Context, data: bytes) -> list[tuple[int, bytes]]:
    """Parse ``records/ledger.bin`` leniently, naming every damaged header and resynchronising after it.

    A length field that disagrees with the bencoded record it announces is repaired from the record's own
    extent when that leads to a consistent next header; an index out of order is reported and kept. Work
    is linear in the file: each record is validated once, where the header before it points, and its
    own extent is scanned only when that header is wrong.
    """
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < 12:
            ctx.problem("records", b.LEDGER, f"truncated record header at offset {pos}")
            break
        index = int.from_bytes(data[pos : pos + 8], "big")
        length = int.from_bytes(data[pos + 8 : pos + 12], "big")
        start = pos + 12
        end = None if _consistent(data, start + length) else _record_end(data, start, length)
        if end is not None and _consistent(data, end):
            ctx.problem("records", b.LEDGER, f"length field at offset {pos + 8} says {length} bytes", index)
            length = end - start
        elif start + length > len(data):
            ctx.problem("records", b.LEDGER, f"record at offset {pos} overruns the file", index)
            break
        if out and index <= out[-1][0]:
            message = f"record header at offset {pos} says index {index} after index {out[-1][0]}"
            ctx.problem("records", b.LEDGER, message)
        out.append((index, data[start : start + length]))
        pos = start + length
    return out


def check_records(ctx: Context) -> CheckResult:
    """records/ledger.bin parses and every record decodes from its canonical bytes."""
    data = ctx.get(b.LEDGER)
    if data is None:
        ctx.problem("records", b.LEDGER, "missing")
    pairs = ctx.ledger = scan_ledger(ctx, data or b"")
    for index, canonical in pairs:
        ctx.canonical[index] = canonical
        try:
            record = record_from_canonical(canonical)
        except DecodeError as exc:
            ctx.records.pop(index, None)  # an index repeated in the ledger: its last bytes are the record
            ctx.problem("records", b.LEDGER, f"record does not decode: {exc}", index)
            continue
        ctx.records[index] = Indexed(index, record, hashlib.sha256(canonical).digest())
        if isinstance(record, WorkflowEvent) and record.step == WITNESS_RESET_STEP:
            ctx.notes.append(
                f"chain-head witness re-created at chain head {record.subject.removeprefix('witness:')}"
                f" ({us_to_iso(record.at_us)}, sealed reset at index {index}): the node lost its witness, so"
                " the tail of its chain before the reset cannot be proven complete"
            )
    ok = count_problems(ctx, "records") == 0
    return CheckResult("records", ok, f"{len(ctx.records)} of {len(pairs)} records decode")


def _check_entry(ctx: Context, entry: ChainEntry) -> None:
    """One entry: its record hash (when the record is included), its link hash, its predecessor."""
    canonical = ctx.canonical.get(entry.index)
    if canonical is not None and hashlib.sha256(canonical).digest() != entry.record_hash:
        ctx.problem("chain", b.LEDGER, "record bytes do not hash to the chain's record_hash", entry.index)
    if link_hash(entry.prev_hash, entry.index, entry.record_hash) != entry.entry_hash:
        ctx.problem("chain", b.CHAIN, "entry_hash is not SHA-256(prev || index || record_hash)", entry.index)
    before = ctx.entries.get(entry.index - 1)
    expected = GENESIS if entry.index == 0 else (None if before is None else before.entry_hash)
    if expected is not None and entry.prev_hash != expected:
        ctx.problem("chain", b.CHAIN, "prev_hash does not link to the previous entry", entry.index)


def check_chain(ctx: Context) -> CheckResult:
    """Every included entry hashes and links; every included record is in the chain."""
    data = ctx.get(b.CHAIN)
    try:
        entries = b.chain_from_bytes(data if data is not None else b"")
    except DecodeError as exc:
        ctx.problem("chain", b.CHAIN, str(exc))
        entries = b.chain_from_bytes((data or b"")[: len(data or b"") // 104 * 104])
    for previous, entry in itertools.pairwise(entries):
        if entry.index <= previous.index:
            ctx.problem(
                "chain", b.CHAIN, f"index {entry.index} after {previous.index}: not ascending", entry.index
            )
    ctx.chain, ctx.entries = entries, {entry.index: entry for entry in entries}
    for entry in entries:
        _check_entry(ctx, entry)
    by_hash = {entry.record_hash: entry.index for entry in entries}
    for index in sorted(set(ctx.canonical) - set(ctx.entries)):
        true = by_hash.get(hashlib.sha256(ctx.canonical[index]).digest())
        hint = "" if true is None else f" (its bytes are those of chain index {true})"
        ctx.problem("chain", b.LEDGER, f"record has no chain entry{hint}", index)
    ok = count_problems(ctx, "chain") == 0
    return CheckResult("chain", ok, f"{len(entries)} entries, {len(ctx.canonical)} with disclosed records")


def _check_batch(ctx: Context, position: int, sealed: SealedBatch, covered: set[int]) -> None:
    batch = sealed.batch
    where = f"batch #{position} (chain {batch.first_index}..{batch.last_index})"
    fingerprint = key_fingerprint(sealed.public_key_bytes)
    pem = _trusted_key(ctx, "batch seals", sealed.public_key_bytes, fingerprint, b.BATCHES)
    if pem is not None and not verify_seal(sealed, pem):
        ctx.problem("batch seals", b.BATCHES, f"{where}: Ed25519 signature does not verify")
    span = range(batch.first_index, batch.last_index + 1)
    if covered & set(span):
        ctx.problem("batch seals", b.BATCHES, f"{where}: overlaps another batch")
    covered.update(span)
    missing = [i for i in span if i not in ctx.entries]
    if missing:
        ctx.problem("batch seals", b.CHAIN, f"{where}: {len(missing)} entries missing", missing[0])
    head = ctx.entries.get(batch.last_index)
    if head is not None and head.entry_hash != batch.head_hash:
        ctx.problem("batch seals", b.CHAIN, f"{where}: last entry is not the signed head", batch.last_index)
    if late_seal(batch) is not None:  # it only keeps the chain tiling: its records must not be disclosed
        for index in (i for i in span if i in ctx.canonical):
            ctx.problem("batch seals", b.LEDGER, f"{where}: record {NOT_EVIDENCE}", index)
        ctx.notes.append(f"{where}: {len(span)} entries {NOT_EVIDENCE} (hashes only)")


def _runs(indices: list[int]) -> list[tuple[int, int]]:
    """Sorted indices as (first, last) runs of consecutive values."""
    runs: list[tuple[int, int]] = []
    for index in indices:
        if runs and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index)
        else:
            runs.append((index, index))
    return runs


def check_batches(ctx: Context) -> CheckResult:
    """Every batch's signature by a bundled key; each batch's entries chain to its signed head."""
    data = ctx.get(b.BATCHES)
    try:
        ctx.batches = b.batches_from_bytes(data if data is not None else b"")
    except DecodeError as exc:
        ctx.problem("batch seals", b.BATCHES, str(exc))
        ctx.batches = b.batches_prefix(data or b"")
    covered: set[int] = set()
    for position, sealed in enumerate(ctx.batches):
        _check_batch(ctx, position, sealed, covered)
    for first, last in _runs(sorted(set(ctx.entries) - covered)):
        ctx.problem(
            "batch seals", b.CHAIN, f"chain entries {first}..{last}: not covered by a sealed batch", first
        )
    ok = count_problems(ctx, "batch seals") == 0
    return CheckResult("batch seals", ok, f"{len(ctx.batches)} batches")


def exhibit_of(ctx: Context) -> ExhibitInput:
    """The decoded records as the views and the methodology see them."""
    decoded = [ctx.records[i] for i in sorted(ctx.records)]  # decoded once, by check_records
    datasets = parse_datasets(ctx.get(b.DATASETS))[0]
    return ExhibitInput.from_indexed(decoded, ctx.filters(), datasets)


def expected_keys(expect_key: str | None, expect_keys: Sequence[str]) -> tuple[str, ...]:
    """The trusted fingerprints, lower-cased, distinct, in the order given (``expect_key`` first)."""
    given = ([] if expect_key is None else [expect_key]) + list(expect_keys)
    return tuple(dict.fromkeys(key.lower() for key in given))


def verify_bundle(
    files: Mapping[str, bytes],
    *,
    expect_key: str | None = None,
    tsa_roots: Sequence[bytes] = (),
    expect_keys: Sequence[str] = (),
) -> Verdict:
    """Check every claim of an export bundle (see the module docstring).

    Args:
        files: bundle path → bytes (a dict, or a lazy reader of a directory); iterating it lists every
            file present. expect_key: the fingerprint the operator trusts (hex SHA-256 of the raw key);
            every signature must be by it. None: the bundle's own key is reported, not trusted.
            expect_keys: more trusted fingerprints (every signature must be by one of them).
        tsa_roots: DER certificates of trusted time-stamp authorities (or their roots); empty: each RFC
            3161 token is checked against the certificate it carries (reported in the notes).

    Returns:
        The :class:`Verdict`.

    Raises:
        BundleUnusableError: there is no manifest.json (not a bundle).

    Source: README "Export and verify".
    """
    if b.MANIFEST not in files:
        raise BundleUnusableError("not a swarmscope bundle: no manifest.json")
    expected = expected_keys(expect_key, expect_keys)
    ctx = Context(files, expected, tuple(tsa_roots))
    checks = run_checks(ctx)
    if not expected:
        ctx.notes.append(
            "no --expect-key: the signing key was taken from the bundle; compare its fingerprint"
        )
    return Verdict(tuple(checks), tuple(ctx.problems), tuple(ctx.notes), tuple(sorted(ctx.keys)))


def run_checks(ctx: Context) -> list[CheckResult]:
    """Every check of a one-node bundle on ``ctx`` (one fresh :class:`Context` per bundle), in order: its
    problems, notes and keys are left in ``ctx``, as are the parsed ledger, chain and batches (a bundle
    across nodes reads them again for its cross-node checks instead of re-parsing the files)."""
    checks = [
        check_manifest(ctx),
        check_manifest_signature(ctx),
        check_records(ctx),
        check_chain(ctx),
        check_batches(ctx),
    ]
    exhibit = exhibit_of(ctx)
    return checks + [check(ctx, exhibit) for check in PROOF_CHECKS]

"""Fuzz targets for the parsing stages of bundle verification, one bundle file each.

The ``bundle`` target (:mod:`tests.fuzz.targets`) runs the whole of
:func:`~swarmscope.evidence.bundle.verify.verify_bundle` per input: ~150 inputs a CPU second under
atheris, most of it spent re-deriving captures, proofs and views the replaced file does not touch. The
targets here run only the checks that read the replaced file, on a
:class:`~swarmscope.evidence.bundle.context.Context` where the stages before them already ran on the
valid bundle (so a mutated chain still meets disclosed records, a mutated batch file still meets a valid
chain):

- ``bundle_manifest``: manifest.json → ``check_manifest`` + ``check_manifest_signature``;
- ``bundle_ledger``: records/ledger.bin → ``check_records`` (``scan_ledger``, every record decoded) +
  ``check_chain`` (record hashes against the valid chain);
- ``bundle_chain``: records/chain.bin → ``check_chain`` + ``check_batches`` (signed heads);
- ``bundle_batches``: records/batches.bin → ``check_batches``;
- ``bundle_record``: one ledger record's canonical bytes → ``record_from_canonical``.

The rule is the bundle's: a check reports problems and returns, it never raises (``record_from_canonical``
may raise its :class:`~swarmscope.errors.DecodeError`, which ``check_records`` turns into a problem).
Source: README "Export and verify" (``swarmscope verify`` prints a verdict for any bundle).
"""

from __future__ import annotations

from functools import cache

from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.context import Context
from swarmscope.evidence.bundle.verify import (
    check_batches,
    check_chain,
    check_manifest,
    check_manifest_signature,
    check_records,
    scan_ledger,
)


@cache
def bundle_files() -> dict[str, bytes]:
    """A valid, sealed export bundle (the world of tests/evidence/test_bundle.py), path → bytes."""
    from tests.evidence.test_bundle import build, make_world

    return build(make_world())


@cache
def _verified() -> Context:
    """The context after manifest, records, chain and seals ran on the valid bundle (no problem found)."""
    ctx = Context(bundle_files(), ())
    for check in (check_manifest, check_manifest_signature, check_records, check_chain, check_batches):
        check(ctx)
    if ctx.problems:  # the world changed under us: every stage target would start from a broken bundle
        raise RuntimeError(f"the valid bundle does not verify: {ctx.problems[:3]}")
    return ctx


def _context(path: str, data: bytes, *, records: bool = False, chain: bool = False) -> Context:
    """A context over the valid bundle with ``path`` replaced by ``data``; ``records``/``chain``: start
    from the valid bundle's decoded ledger / chain entries (their stages already ran)."""
    valid = _verified()
    ctx = Context({**bundle_files(), path: data}, (), manifest=valid.manifest)
    if records:
        ctx.canonical, ctx.records = dict(valid.canonical), dict(valid.records)
    if chain:
        ctx.entries = dict(valid.entries)
    return ctx


def manifest_stage(data: bytes) -> None:
    ctx = Context({**bundle_files(), b.MANIFEST: data}, ())
    check_manifest(ctx)
    check_manifest_signature(ctx)


def ledger_stage(data: bytes) -> None:
    ctx = _context(b.LEDGER, data)
    check_records(ctx)
    check_chain(ctx)


def chain_stage(data: bytes) -> None:
    ctx = _context(b.CHAIN, data, records=True)
    check_chain(ctx)
    check_batches(ctx)


def batches_stage(data: bytes) -> None:
    check_batches(_context(b.BATCHES, data, records=True, chain=True))


def record_seeds() -> list[bytes]:
    """The canonical bytes of every record of the valid ledger."""
    return [canonical for _, canonical in scan_ledger(Context({}, ()), bundle_files()[b.LEDGER])]


def _ledger_prefix(n: int) -> bytes:
    """The valid ledger cut after its first ``n`` records (a partial disclosure; ~10 times faster to scan
    than all of it, so libFuzzer mutates headers and records more often)."""
    records = record_seeds()[:n]
    return bundle_files()[b.LEDGER][: sum(12 + len(r) for r in records)]


STAGE_NAMES = ("bundle_manifest", "bundle_ledger", "bundle_chain", "bundle_batches", "bundle_record")


def stage_seeds() -> dict[str, list[bytes]]:
    """Seeds of each stage target: the valid file it replaces (records: every ledger record)."""
    files = bundle_files()
    return {
        "bundle_manifest": [files[b.MANIFEST]],
        "bundle_ledger": [files[b.LEDGER], _ledger_prefix(2)],
        "bundle_chain": [files[b.CHAIN]],
        "bundle_batches": [files[b.BATCHES]],
        "bundle_record": record_seeds(),
    }

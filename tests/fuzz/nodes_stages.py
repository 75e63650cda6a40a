"""Fuzz targets for the stages of verifying a bundle across nodes (format version 3), one file each.

The ``bundle_nodes`` target (:mod:`tests.fuzz.targets`) runs the whole of
:func:`~swarmscope.evidence.bundle.nodes_verify.verify_export` per input: every node's one-node bundle
verified in full (captures replayed, views and methodology re-derived), 50-75 inputs a CPU second under
atheris. The one-node stages are :mod:`tests.fuzz.bundle_stages`; the targets here run only the checks of
the multi-node layer that read the replaced file, on a context where the stages before them already ran
on the valid two-node bundle (every node verified, its parsed ledger, chain and batches kept):

- ``nodes_manifest``: the top manifest.json → ``manifest_version`` (which verifier), ``check_manifest``
  (version 3, or 2 as written before) + ``check_manifest_signature`` + ``named_nodes`` + ``check_nodes``
  + each node's ``check_node_seals`` (its manifest signed by the exporting key the top manifest names);
  a manifest of another version meets the one-node verifier's manifest checks (and the whole
  ``verify_bundle`` when it is a readable version-1 manifest, whose filters and key the rest of it reads);
- ``nodes_keys``: byte 0 picks manifest.sig or a node's keys/<fingerprint>.pem (sorted paths), the rest
  replaces it → ``check_manifest_signature`` + ``check_nodes``;
- ``nodes_hits``: hits.jsonl → ``check_hits`` (re-derived from the nodes' records, compared; a line
  claiming corroboration the records do not show is named);
- ``nodes_cross``: byte 0 picks a node's records/chain.bin or records/ledger.bin (sorted paths) →
  that node's ``scan_ledger`` + ``check_hits`` (ledger) / ``check_chain``, then ``check_moved``. The
  node's records as the valid bundle decoded them stay in its context: ``check_hits`` looks the ledger's
  records up there and decodes only bytes it does not hold (a record's decoding is pure, so this is what
  the whole verification computes; ``check_records``' own decoding is ``bundle_ledger``'s stage);
- ``nodes_signers``: byte 0 picks a node's records/batches.bin or manifest.json (sorted paths) → that
  node's ``check_batches`` / ``check_manifest``, then ``check_node_seals``.

The rule is the bundle's: a check reports problems and returns, it never raises.
Source: README "A fleet" (export across nodes) and "Export and verify".
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.context import Context
from swarmscope.evidence.bundle.nodes import HITS, NODES, node_prefix
from swarmscope.evidence.bundle.nodes_verify import (
    NODES_VERSIONS,
    NodeFiles,
    check_hits,
    check_moved,
    check_node_seals,
    check_nodes,
    manifest_version,
    named_nodes,
)
from swarmscope.evidence.bundle.verify import (
    check_batches,
    check_chain,
    check_manifest,
    check_manifest_signature,
    run_checks,
    scan_ledger,
    verify_bundle,
)


@cache
def nodes_bundle_files() -> dict[str, bytes]:
    """A valid bundle across two nodes (tests/evidence/test_bundle_nodes.py), path → bytes."""
    from tests.evidence.test_bundle import make_world
    from tests.evidence.test_bundle_nodes import bundle, contents

    return bundle(contents(make_world(), "AB"))


@cache
def _verified() -> tuple[Context, dict[str, Context]]:
    """(the top context after manifest, signature and nodes ran; each node's context after its own
    verification) on the valid bundle, with no problem found."""
    files = nodes_bundle_files()
    top = Context(files, ())
    check_manifest(top, b.VERSION_NODES)
    check_manifest_signature(top)
    nodes = named_nodes(top)
    check_nodes(top, nodes)
    own = {node: Context(NodeFiles(files, node_prefix(node)), ()) for node in nodes}
    for ctx in own.values():
        run_checks(ctx)
    problems = top.problems + [p for ctx in own.values() for p in ctx.problems]
    if problems or len(own) != 2:  # the world changed: every stage would start from a broken bundle
        raise RuntimeError(f"the valid two-node bundle does not verify: {problems[:3]}")
    return top, own


def _top(files: dict[str, bytes]) -> Context:
    """A top context over ``files`` (the valid bundle with one file replaced), its manifest as parsed."""
    return Context(files, (), manifest=_verified()[0].manifest)


def _own(node: str, files: dict[str, bytes], *, records: bool, chain: bool, batches: bool) -> Context:
    """A context over ``node``'s files starting from the valid node's parsed records / chain / batches."""
    valid = _verified()[1][node]
    ctx = Context(NodeFiles(files, node_prefix(node)), (), manifest=valid.manifest)
    if records:
        ctx.ledger, ctx.canonical, ctx.records = (
            list(valid.ledger),
            dict(valid.canonical),
            dict(valid.records),
        )
    if chain:
        ctx.chain, ctx.entries = list(valid.chain), dict(valid.entries)
    if batches:
        ctx.batches = list(valid.batches)
    return ctx


def _node_paths(suffixes: tuple[str, ...]) -> list[str]:
    """The sorted paths under nodes/ ending in one of ``suffixes`` (what byte 0 of an input picks)."""
    return sorted(p for p in nodes_bundle_files() if p.startswith(NODES) and p.endswith(suffixes))


def _picked(data: bytes, suffixes: tuple[str, ...]) -> tuple[str, str, dict[str, bytes]] | None:
    """(node, path under its prefix, the valid files with that path replaced): byte 0 picks one of
    :func:`_node_paths`, the rest is its new bytes; None for an empty input."""
    if not data:
        return None
    paths = _node_paths(suffixes)
    path = paths[data[0] % len(paths)]
    node = path.split("/")[1]
    return node, path[len(node_prefix(node)) :], {**nodes_bundle_files(), path: data[1:]}


def manifest_stage(data: bytes) -> None:
    files = {**nodes_bundle_files(), b.MANIFEST: data}
    version = manifest_version(files)
    if not isinstance(version, int) or version not in NODES_VERSIONS:  # verify_export: one-node verifier
        one = Context(files, ())
        check_manifest(one)
        check_manifest_signature(one)
        if one.manifest:  # a readable version-1 manifest: the rest of verify_bundle reads it too
            verify_bundle(files)
        return
    top, own = Context(files, ()), _verified()[1]
    check_manifest(top, version)
    check_manifest_signature(top)
    nodes = named_nodes(top)
    check_nodes(top, nodes)
    for node in nodes:
        if node in own:
            check_node_seals(top, node, own[node])


def _key_paths() -> list[str]:
    return sorted(p for p in nodes_bundle_files() if p == b.MANIFEST_SIG or p.startswith("keys/"))


def keys_stage(data: bytes) -> None:
    if not data:
        return
    paths = _key_paths()
    top = _top({**nodes_bundle_files(), paths[data[0] % len(paths)]: data[1:]})
    check_manifest_signature(top)
    check_nodes(top, list(_verified()[1]))


def hits_stage(data: bytes) -> None:
    check_hits(_top({**nodes_bundle_files(), HITS: data}), _verified()[1])


CROSS = (b.CHAIN, b.LEDGER)
SIGNERS = (b.BATCHES, f"/{b.MANIFEST}")


def cross_stage(data: bytes) -> None:
    picked = _picked(data, CROSS)
    if picked is None:
        return
    node, path, files = picked
    own = _own(node, files, records=True, chain=False, batches=False)
    verified = {**_verified()[1], node: own}
    if path == b.LEDGER:  # decoding and naming its records is bundle_ledger's stage
        own.ledger = scan_ledger(own, files[node_prefix(node) + b.LEDGER])
        check_hits(_top(files), verified)
    check_chain(own)  # check_hits reads no chain: a replaced chain meets the others only
    check_moved(_top(files), verified)


def signers_stage(data: bytes) -> None:
    picked = _picked(data, SIGNERS)
    if picked is None:
        return
    node, path, files = picked
    own = _own(node, files, records=True, chain=True, batches=True)
    if path == b.BATCHES:
        check_batches(own)
    else:
        own.manifest = {}
        check_manifest(own)
    check_node_seals(_top(files), node, own)


def _node_seeds(suffixes: tuple[str, ...]) -> list[bytes]:
    """Byte 0 naming each of :func:`_node_paths`, then its valid bytes."""
    files = nodes_bundle_files()
    return [bytes([n]) + files[p] for n, p in enumerate(_node_paths(suffixes))]


def _short_ledgers() -> list[bytes]:
    """Each node's ledger cut after its first two records (a partial disclosure, faster to scan)."""
    out = []
    for seed in _node_seeds(CROSS):
        if _node_paths(CROSS)[seed[0]].endswith(b.LEDGER):
            records = scan_ledger(Context({}, ()), seed[1:])[:2]
            out.append(seed[: 1 + sum(12 + len(r) for _, r in records)])
    return out


NODES_STAGES: dict[str, Callable[[bytes], None]] = {
    "nodes_manifest": manifest_stage,
    "nodes_keys": keys_stage,
    "nodes_hits": hits_stage,
    "nodes_cross": cross_stage,
    "nodes_signers": signers_stage,
}


def nodes_stage_seeds() -> dict[str, list[bytes]]:
    """Seeds of each stage target: the valid file(s) it replaces."""
    files = nodes_bundle_files()
    return {
        "nodes_manifest": [files[b.MANIFEST]],
        "nodes_keys": [bytes([n]) + files[p] for n, p in enumerate(_key_paths())],
        "nodes_hits": [files[HITS]],
        "nodes_cross": _node_seeds(CROSS) + _short_ledgers(),
        "nodes_signers": _node_seeds(SIGNERS),
    }

"""Verify any export bundle: one node's (version 1, :func:`swarmscope.evidence.bundle.verify.verify_bundle`)
or one across nodes (version 5, or 4, 3 or 2 as written before; layout in
:mod:`swarmscope.evidence.bundle.nodes`).

A bundle across nodes is checked as a whole and per node:

- the top manifest (every file's size and SHA-256, nothing unlisted) and its Ed25519 signature by the
  exporting node's bundled key;
- ``nodes`` names distinct key fingerprints; each has its one-node bundle under ``nodes/<fingerprint>/``
  and its public key under ``keys/``; a ``nodes/`` directory the manifest does not name is refused;
- each node's bundle is verified in full, on its own (its chain slice, every record against its own
  node's chain, its seals, captures, proofs, views), its checks and problems prefixed with the node;
- every batch of a node's slice is sealed by that node's key, and its manifest by the exporting key;
- a record of one node's slice whose bytes are in another node's chain is named as moved;
- ``hits.jsonl`` is re-derived from the nodes' records and compared byte for byte: each hit's vantage
  from its node's sealed RunStarted records (never from hits.jsonl), ``corroborated`` from two or more
  node keys and two or more distinct vantages; a line that claims corroboration the records do not show
  is named. Each node's verified hits, and how many of them are corroborated, are one ``node
  <fingerprint> hits`` check line. A version-2 bundle's hits.jsonl is re-derived as written then (node
  keys counted as vantages), a version-3 one too (vantages by the sealed --bind alone, node keys not
  counted), and a note says so, with how many of its addresses today's rule corroborates; a version-4
  one's too (an inbound claimed port counted when our probe checked that ip:port, whatever peer id
  answered), its note with how many hits today's rule (the same peer id) counts under another port.

With expected keys (``--expect-key``, repeatable) every node and the exporting key must be among them.

Source: README "A fleet" and "Export and verify".
"""

from __future__ import annotations

import hashlib
import itertools
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from swarmscope.errors import DecodeError
from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.context import CheckResult, Context, Problem, count_problems
from swarmscope.evidence.bundle.json_bound import HITS_LINE, loads_bounded
from swarmscope.evidence.bundle.manifest_json import parse_manifest
from swarmscope.evidence.bundle.nodes import (
    HITS,
    NODES,
    Group,
    NodeHit,
    Seen,
    hits_bytes,
    node_hits,
    node_prefix,
    seen_by,
)
from swarmscope.evidence.bundle.verify import (
    BundleUnusableError,
    Verdict,
    check_manifest,
    check_manifest_signature,
    expected_keys,
    run_checks,
    verify_bundle,
)
from swarmscope.evidence.canonical import EvidenceRecord, record_from_canonical
from swarmscope.evidence.seal import key_fingerprint, load_public_key

_FINGERPRINT = re.compile(r"[0-9a-f]{64}")
# the manifest versions of bundles across nodes
NODES_VERSIONS = (
    b.VERSION_NODES,
    b.VERSION_NODES_BY_ADDRESS,
    b.VERSION_NODES_BY_NETWORK,
    b.VERSION_NODES_BY_KEY,
)


class NodeFiles(Mapping[str, bytes]):
    """The files of one node's bundle inside a bundle across nodes, by their paths under its prefix."""

    def __init__(self, files: Mapping[str, bytes], prefix: str) -> None:
        self.files, self.prefix = files, prefix

    def __iter__(self) -> Iterator[str]:
        return (path[len(self.prefix) :] for path in self.files if path.startswith(self.prefix))

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __getitem__(self, key: str) -> bytes:
        return self.files[self.prefix + key]

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (self.prefix + key) in self.files


def manifest_version(files: Mapping[str, bytes]) -> object:
    """The ``version`` of ``manifest.json`` (None when it is unreadable: the verifier names that)."""
    try:
        manifest = parse_manifest(files[b.MANIFEST])
    except (ValueError, KeyError, RecursionError):
        return None
    return manifest.get("version") if isinstance(manifest, dict) else None


def verify_export(
    files: Mapping[str, bytes], *, expect_keys: Sequence[str] = (), tsa_roots: Sequence[bytes] = ()
) -> Verdict:
    """Verify a bundle of either version (see the module docstring).

    Args:
        files: bundle path → bytes (a dict or a lazy directory reader). expect_keys: trusted key
            fingerprints (hex); empty: the bundle's keys are reported, not trusted. tsa_roots: DER
            certificates of trusted time-stamp authorities.

    Raises:
        BundleUnusableError: there is no manifest.json (not a bundle).
    """
    if b.MANIFEST not in files:
        raise BundleUnusableError("not a swarmscope bundle: no manifest.json")
    version = manifest_version(files)
    if not isinstance(version, int) or version not in NODES_VERSIONS:
        return verify_bundle(files, expect_keys=expect_keys, tsa_roots=tsa_roots)
    ctx = Context(files, expected_keys(None, expect_keys), tuple(tsa_roots))
    checks = [check_manifest(ctx, version), check_manifest_signature(ctx)]
    nodes = named_nodes(ctx)
    checks.append(check_nodes(ctx, nodes))
    verified: dict[str, Context] = {}  # node → its own verification's context (parsed files, records)
    notes: dict[str, list[str]] = {}  # a node's note → the nodes that have it
    for node in nodes:
        checks += _verify_node(ctx, node, verified, notes)
    checks.append(check_moved(ctx, verified))
    checks += check_hits(ctx, verified)
    for note, who in notes.items():
        ctx.notes.append(
            f"every node: {note}" if len(who) == len(nodes) else f"node {', '.join(who)}: {note}"
        )
    if not ctx.expect_keys:
        ctx.notes.append("no --expect-key: the keys were taken from the bundle; compare their fingerprints")
    for unused in sorted(set(ctx.expect_keys) - ctx.keys):
        ctx.notes.append(f"expected key {unused} signs nothing in this bundle")
    return Verdict(tuple(checks), tuple(ctx.problems), tuple(ctx.notes), tuple(sorted(ctx.keys)))


def named_nodes(ctx: Context) -> list[str]:
    """The distinct, well-formed fingerprints of the manifest's ``nodes`` (a problem for any other)."""
    named = ctx.manifest.get("nodes")
    if not isinstance(named, list) or len(named) < 2:
        ctx.problem("nodes", b.MANIFEST, "a bundle across nodes must name two or more nodes")
        return []
    out: list[str] = []
    for node in named:
        if not isinstance(node, str) or not _FINGERPRINT.fullmatch(node) or node in out:
            ctx.problem("nodes", b.MANIFEST, f"node {str(node)[:70]!r}: not a distinct key fingerprint")
        else:
            out.append(node)
    return out


def check_nodes(ctx: Context, nodes: list[str]) -> CheckResult:
    """Every named node has its bundle and public key; every node directory is named."""
    present = {path[len(NODES) :].split("/", 1)[0] for path in ctx.files if path.startswith(NODES)}
    for stray in sorted(present - set(nodes)):
        message = f"chain slice of node {stray[:70]}, which the manifest does not name"
        ctx.problem("nodes", f"{NODES}{stray[:70]}/", message)
    for node in nodes:
        if ctx.get(node_prefix(node) + b.MANIFEST) is None:
            message = f"node {node} is named in the manifest but its bundle is missing"
            ctx.problem("nodes", node_prefix(node) + b.MANIFEST, message)
        _trusted_node_key(ctx, node)
    n = count_problems(ctx, "nodes")
    return CheckResult("nodes", n == 0, f"{len(nodes)} nodes named, {n} problems")


def _trusted_node_key(ctx: Context, node: str) -> None:
    """The node's bundled public key is the one its fingerprint names (and expected, when keys are)."""
    pem = ctx.get(b.key_path(node))
    try:
        raw = b.public_key_raw_of(load_public_key(pem)) if pem is not None else None
    except DecodeError:
        raw = None
    if raw is None or key_fingerprint(raw) != node:
        ctx.problem("nodes", b.key_path(node), f"no usable public key of node {node}")
    elif ctx.expect_keys and node not in ctx.expect_keys:
        ctx.problem("nodes", b.MANIFEST, f"node {node} is not among the expected keys")
    else:
        ctx.keys.add(node)


def _verify_node(
    ctx: Context, node: str, verified: dict[str, Context], notes: dict[str, list[str]]
) -> list[CheckResult]:
    """The node's own bundle, verified in full (as :func:`verify_bundle` would); its seals by its own key.
    Its context (parsed ledger, chain, batches, decoded records) is kept in ``verified`` for the
    cross-node checks, so no node file is parsed or decoded twice."""
    prefix = node_prefix(node)
    files = NodeFiles(ctx.files, prefix)
    if b.MANIFEST not in files:
        return []
    own = verified[node] = Context(files, ctx.expect_keys, ctx.tsa_roots)
    label = f"node {node[:16]}"
    checks = [CheckResult(f"{label} {c.name}", c.ok, c.detail) for c in run_checks(own)]
    ctx.problems += [
        Problem(f"{label} {p.check}", prefix + p.file, p.message, p.record) for p in own.problems
    ]
    for note in dict.fromkeys(own.notes):
        notes.setdefault(note, []).append(node[:16])
    ctx.keys.update(own.keys)
    checks.append(check_node_seals(ctx, node, own))
    return checks


def check_node_seals(ctx: Context, node: str, own: Context) -> CheckResult:
    """Every batch of the node's slice (as its own verification parsed them: ``own.batches``) is sealed
    by the node's key; its manifest by the exporting key."""
    check, prefix = f"node {node[:16]} signers", node_prefix(node)
    for position, sealed in enumerate(own.batches):
        signer = key_fingerprint(sealed.public_key_bytes)
        if signer != node:
            batch = sealed.batch
            where = f"batch #{position} (chain {batch.first_index}..{batch.last_index})"
            ctx.problem(check, prefix + b.BATCHES, f"{where} is sealed by key {signer}, not by node {node}")
    manifest_signer = own.manifest.get("signing_key") if own.manifest else _signing_key(own.files)
    exporter = ctx.manifest.get("signing_key")
    if manifest_signer is not None and manifest_signer != exporter:
        message = f"signed by key {str(manifest_signer)[:64]}, not by the exporting key {str(exporter)[:64]}"
        ctx.problem(check, prefix + b.MANIFEST, message)
    n = count_problems(ctx, check)
    return CheckResult(check, n == 0, f"{len(own.batches)} batches sealed by {node[:16]}, {n} by another key")


def _signing_key(files: Mapping[str, bytes]) -> object:
    """The ``signing_key`` of a bundle's manifest its verification could not use (wrong format, version
    or listing); None when it is unreadable (its verification says so)."""
    try:
        manifest = parse_manifest(files[b.MANIFEST])
    except (ValueError, KeyError, RecursionError):
        return None
    return manifest.get("signing_key") if isinstance(manifest, dict) else None


def check_moved(ctx: Context, verified: Mapping[str, Context]) -> CheckResult:
    """A record of one node's slice whose bytes another node's chain holds was moved between chains."""
    chains = {node: {entry.record_hash: entry.index for entry in own.chain} for node, own in verified.items()}
    for node, own in verified.items():
        for index, canonical in own.ledger:
            digest = hashlib.sha256(canonical).digest()
            if chains[node].get(digest) == index:
                continue
            for other in sorted(set(chains) - {node}):
                if digest in chains[other]:
                    message = (
                        f"record at chain index {index} of node {node} is chain index "
                        f"{chains[other][digest]} of node {other}: moved from another node's chain"
                    )
                    ctx.problem("cross-node", node_prefix(node) + b.LEDGER, message)
    n = count_problems(ctx, "cross-node")
    return CheckResult("cross-node", n == 0, f"every record in its own node's chain; {n} moved")


def _decoder(verified: Mapping[str, Context]) -> Callable[[bytes], EvidenceRecord]:
    """Canonical bytes → record: the nodes' verifications decoded each record once already (the same
    bytes decode to the same record); bytes they did not keep are decoded here."""
    known = {own.canonical[i]: item.record for own in verified.values() for i, item in own.records.items()}

    def decode(canonical: bytes) -> EvidenceRecord:
        record = known.get(canonical)
        return record_from_canonical(canonical) if record is None else record

    return decode


def check_hits(ctx: Context, verified: Mapping[str, Context]) -> list[CheckResult]:
    """``hits.jsonl`` is exactly the view re-derived from the nodes' records (its format by the manifest's
    version), then one ``node <fingerprint> hits`` line per node: its verified hits, how many corroborated."""
    ledgers = {node: own.ledger for node, own in verified.items()}
    version = ctx.manifest.get("version")
    version = version if version in NODES_VERSIONS else b.VERSION_NODES
    written = node_hits(ledgers, _decoder(verified), version=version)
    given = ctx.get(HITS)
    if given != hits_bytes(written, version):
        ctx.problem("hits", HITS, _hits_difference(given, seen_by(written, version), version))
    hits = written if version == b.VERSION_NODES else node_hits(ledgers, _decoder(verified))
    groups = seen_by(hits)
    corroborated = sum(1 for seen in groups.values() if seen.corroborated)
    detail = (
        f"{len(hits)} verified hits from {len({h.node for h in hits})} nodes; {corroborated} of "
        f"{len(groups)} addresses corroborated (seen by >= 2 node keys from >= 2 vantages: distinct source"
        " networks)"
    )
    if version == b.VERSION_NODES_BY_ADDRESS:
        ctx.notes.append(_claims_note(written, hits, corroborated))
    elif version != b.VERSION_NODES:
        ctx.notes.append(_legacy_note(version, seen_by(written, version), corroborated))
    results = [CheckResult("hits", count_problems(ctx, "hits") == 0, detail)]
    return results + [_node_hits_line(node, hits, groups) for node in verified]


def _legacy_note(version: int, written: Mapping[Group, Seen], corroborated: int) -> str:
    """What a bundle of an earlier format ``version`` calls corroborated, beside today's count."""
    claimed = sum(1 for seen in written.values() if seen.corroborated_in(version))
    how = (
        "counts node keys as vantages"
        if version == b.VERSION_NODES_BY_KEY
        else "counts the sealed --bind networks (private ones too) and not node keys"
    )
    return (
        f"bundle format version {version} (written before today's vantage rules): its hits.jsonl {how}"
        f" ({claimed} addresses 'corroborated'); by two or more node keys from two or more vantages (as"
        f" cases build --min-vantages counts), {corroborated} are"
    )


def _claims_note(written: Sequence[NodeHit], today: Sequence[NodeHit], corroborated: int) -> str:
    """What a version-4 bundle counted under a claimed port whatever peer id answered our probe, beside
    today's rule (``written`` and ``today``: the same hits in the same order, by either rule)."""
    moved = sum(1 for old, new in zip(written, today, strict=True) if old.port != new.port)
    return (
        "bundle format version 4 (written before the peer-id rule): its hits.jsonl counts an inbound peer"
        " under its claimed listen port when our own probe checked that ip:port, whatever peer id answered"
        f" it; by today's rule (the same peer id) {moved} hit(s) count under their TCP source port instead,"
        f" and {corroborated} addresses are corroborated"
    )


def _node_hits_line(node: str, hits: Sequence[NodeHit], groups: Mapping[Group, Seen]) -> CheckResult:
    """``node <fingerprint> hits``: the node's verified hits, how many corroborated, its vantages."""
    own = [h for h in hits if h.node == node]
    backed = sum(1 for h in own if groups[h.group()].corroborated)
    where = ", ".join(sorted({h.vantage for h in own})) or "-"
    detail = f"{len(own)} verified hits, {backed} corroborated; vantage {where}"
    return CheckResult(f"node {node[:16]} hits", True, detail)


MAX_HIT_LINES = 1_000_000  # lines of a differing hits.jsonl read for false corroboration claims
_LINE = re.compile(rb"[^\r\n]+")  # a line of hits.jsonl (bytes.splitlines's separators)


def _claimed(given: bytes, version: int) -> set[Group]:
    """The groups the first :data:`MAX_HIT_LINES` lines of a ``hits.jsonl`` call corroborated.

    Lines are taken one at a time (never a list of them all); each is parsed under the JSON bound of
    :mod:`~swarmscope.evidence.bundle.json_bound` (64 KiB a line, or too costly to parse: skipped, as an
    unreadable line is), and only when it holds ``true``. The set holds one tuple per claiming line of at
    least 50 bytes, so it stays within a few times the file's size.
    """
    claimed: set[Group] = set()
    for match in itertools.islice(_LINE.finditer(given), MAX_HIT_LINES):
        start, end = match.span()
        if end - start > HITS_LINE.max_bytes or given.find(b"true", start, end) < 0:
            continue  # not copied out: over the bound, or no claim of corroboration
        try:
            line = loads_bounded(match[0], HITS_LINE)
            if isinstance(line, dict) and line.get("corroborated") is True:
                claimed.add((str(line["ip"]), _line_port(line, version), str(line["infohash"])))
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError):
            continue
    return claimed


def _hits_difference(given: bytes | None, groups: Mapping[Group, Seen], version: int) -> str:
    """The problem with a ``hits.jsonl`` that is not the re-derived one; an address it calls corroborated
    that the records do not corroborate is named (the first one, and how many)."""
    message = "differs from the hits re-derived from the nodes' records"
    claimed = _claimed(given or b"", version)
    false = sorted((g for g in claimed if not _corroborated(groups.get(g), version)), key=str)
    if not false:
        return message
    ip, port, infohash = false[0]
    seen = groups.get(false[0])
    points = (
        "no verified hit"
        if seen is None
        else (
            f"{len(seen.vantages)} vantage ({', '.join(seen.vantages)[:200]}) from {len(seen.nodes)} node(s)"
        )
    )
    return (
        f"{message}: it claims {len(false)} address(es) corroborated that are not, first "
        f"{str(ip)[:64]} port {port} in {str(infohash)[:64]}: the nodes' records show {points}"
    )


def _line_port(line: dict[str, Any], version: int) -> int | str:
    """The port a ``hits.jsonl`` line is counted under (``NodeHit.group``): versions 5 and 4's
    ``counted_port`` (a line without one: a group of its own), earlier versions' ``port``."""
    if version in (b.VERSION_NODES_BY_NETWORK, b.VERSION_NODES_BY_KEY):
        return int(line["port"])
    counted = line.get("counted_port")
    return f"?{line['node']}:{line['chain_index']}" if counted is None else int(counted)


def _corroborated(seen: Seen | None, version: int) -> bool:
    return seen is not None and seen.corroborated_in(version)

"""Export bundle across nodes: the evidence of several signing nodes (a fleet's vantage points) in one
bundle (format ``swarmscope-bundle``, version 5).

Each node keeps its own hash chain (chain indices are per node), so a bundle across nodes holds one
complete one-node bundle per node (:mod:`swarmscope.evidence.bundle.layout`, version 1: byte for byte
what a one-node export of that node's selection writes when signed by the exporting node's key)::

    manifest.json             format, version 5, created_us, software version, filters, signing_key (the
                              exporting node), nodes (every node's key fingerprint, ascending), and the
                              path, size (bytes) and sha256 of every other file, the nodes' files included
    manifest.sig              64-byte Ed25519 signature (RFC 8032) by the exporting node's key
    keys/<fingerprint>.pem    the public key (RFC 8410 PEM) of every node and of the exporting node
    nodes/<fingerprint>/      that node's chain slice, batches, records (its sealed RunStarted records
                              among them), captures, views and methodology
    hits.jsonl                one JSON object per verified observation of every node: the node that saw
                              it (key fingerprint) and its ``vantage`` (the source network of the run that
                              sealed it, from that node's sealed RunStarted records:
                              :func:`swarmscope.evidence.bundle.vantage.hit_vantage`, as ``cases build
                              --min-vantages`` derives it), its chain index there, infohash, ip, port,
                              start, the ``nodes`` and the distinct ``vantages`` whose verified hits of
                              the same (ip, port, infohash) the bundle holds (ascending), and
                              ``corroborated``: two or more node keys from two or more vantages
                              (:func:`swarmscope.evidence.bundle.vantage.corroborated`). Two nodes on
                              one /24, behind one NAT, or both without --bind, are one vantage; one
                              node key from two /24s is one node: not corroborated. Hits are counted by
                              ``counted_port`` (:mod:`swarmscope.evidence.hit_port`, as cases count them:
                              an inbound peer's claimed listen port only when our own outbound probe
                              checked it within two hours and its handshake named the same peer id,
                              else its TCP source port; null: neither) and ``port_seen`` says which;
                              ``port`` is the record's.

Version 4 (written before the peer-id rule) is the same but for ``hits.jsonl``: an inbound claim counted
when an outbound probe checked that ip:port within two hours whatever peer id answered it (a neighbour
behind one carrier-grade NAT address counted under another subscriber's port), and its ``port_seen``
says "claimed listen port, checked by our own connection"; the verifier re-derives it so, and notes how
many hits today's rule counts under another port.

Version 3 (written before the NAT and node-key rules) is the same but for ``hits.jsonl``: hits counted
by the record's ``port`` (no ``counted_port``, ``port_seen``), a ``vantage``
is the sealed ``--bind`` network alone (a private one counted too, ``--public-ip`` unknown) and
``corroborated`` means two or more vantages, whatever the node keys; the verifier re-derives it so.
Version 2 (written before vantages were derived) is the same but for ``hits.jsonl``: no ``vantage`` nor
``nodes``, its ``vantages`` are node key fingerprints and ``corroborated`` means two or more node keys;
:mod:`swarmscope.evidence.bundle.nodes_verify` still verifies it as it did, and notes that it counts node
keys. A bundle with one node is written as version 1 (unchanged). Pure: bytes in, bytes out.

Source: README "A fleet" (vantages; export across nodes) and "Export and verify".
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.errors import DecodeError, InputError
from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.exhibits import iso
from swarmscope.evidence.bundle.settings import RunIndex
from swarmscope.evidence.bundle.vantage import corroborated, hit_vantage, vantage_count
from swarmscope.evidence.canonical import EvidenceRecord, record_from_canonical
from swarmscope.evidence.hit_port import claim_checks, counted_port
from swarmscope.evidence.records import Observation, RunStarted, Source, Tier
from swarmscope.evidence.seal import key_fingerprint, public_key_raw

HITS = "hits.jsonl"
NODES = "nodes/"


def node_prefix(fingerprint: str) -> str:
    """Bundle path prefix of a node's one-node bundle: ``nodes/<fingerprint>/``."""
    return f"{NODES}{fingerprint}/"


Group = tuple[str, int | str, str]  # (ip, port, infohash): one peer address in one swarm, as cases count hits


@dataclass(frozen=True, slots=True)
class NodeHit:
    """One verified observation, the node (key fingerprint, hex) whose chain holds it at ``index``, and
    its vantage (the sealing run's source network: :func:`swarmscope.evidence.bundle.vantage.hit_vantage`)."""

    node: str
    index: int
    observation: Observation
    vantage: str
    port: int | None = None  # the port it counts under (swarmscope.evidence.hit_port); None: no port it can

    def group(self, version: int = b.VERSION_NODES) -> Group:
        """The (ip, port, infohash) it is counted in: by its counted port (versions 5 and 4), its record's
        port (earlier versions); a hit with no countable port is a group of its own, corroborating nothing."""
        o = self.observation
        if version in (b.VERSION_NODES_BY_NETWORK, b.VERSION_NODES_BY_KEY):
            return (o.ip, o.port, o.infohash)
        return (o.ip, f"?{self.node}:{self.index}" if self.port is None else self.port, o.infohash)


def node_hits(
    ledgers: Mapping[str, Iterable[tuple[int, bytes]]],
    decode: Callable[[bytes], EvidenceRecord] = record_from_canonical,
    *,
    version: int = b.VERSION_NODES,
) -> list[NodeHit]:
    """The verified observations of every node's ``(chain index, canonical bytes)`` records, each with its
    vantage from that node's own RunStarted records among them; a record that does not decode is skipped
    (the node's own verification names it). ``version``: the bundle format whose rules derive them
    (vantages by --bind alone in version 3, claims checked by address alone in version 4: module
    docstring).

    ``decode`` turns canonical bytes into the record or raises :class:`DecodeError`
    (:func:`record_from_canonical`, or a verifier's lookup of the records it decoded already).
    """
    out: list[NodeHit] = []
    for node, records in ledgers.items():
        runs: list[tuple[int, RunStarted]] = []
        verified: list[tuple[int, Observation]] = []
        for index, canonical in records:
            try:
                record = decode(canonical)
            except DecodeError:
                continue
            if isinstance(record, RunStarted):
                runs.append((index, record))
            elif isinstance(record, Observation) and record.tier == Tier.VERIFIED:
                verified.append((index, record))
        sealed = RunIndex(runs)
        by_bind = version == b.VERSION_NODES_BY_NETWORK
        for index, o in verified:
            out.append(NodeHit(node, index, o, hit_vantage(sealed, index, o.ip, by_bind=by_bind)))
    return counted_ports(out, version)


def counted_ports(hits: Iterable[NodeHit], version: int = b.VERSION_NODES) -> list[NodeHit]:
    """``hits`` with the port each counts under: an inbound one's claimed port only when an outbound hit
    of the bundle with the same peer id checked it within the window (any peer id in ``version`` 4), else
    its TCP source port (``evidence.hit_port``)."""
    hits = list(hits)
    inbound = Source.INBOUND.value
    by_address = version == b.VERSION_NODES_BY_ADDRESS
    outbound = (o for o in (h.observation for h in hits) if o.source != inbound)
    checks = claim_checks(
        ((o.ip, o.port, o.infohash, o.started_us, o.peer_id) for o in outbound), by_address=by_address
    )
    out = []
    for h in hits:
        o = h.observation
        port = counted_port(
            o.source == inbound, o.ip, o.port, o.source_port, o.infohash, o.started_us, checks, o.peer_id,
            by_address=by_address,
        )  # fmt: skip
        out.append(dataclasses.replace(h, port=port))
    return out


@dataclass(frozen=True, slots=True)
class Seen:
    """Who saw one (ip, port, infohash): the nodes (key fingerprints) and the distinct vantages of their
    verified hits, each ascending."""

    nodes: tuple[str, ...]
    vantages: tuple[str, ...]

    @property
    def corroborated(self) -> bool:
        """Seen by two or more node keys from two or more vantages (distinct source networks), as
        ``--min-vantages 2`` requires (:func:`swarmscope.evidence.bundle.vantage.corroborated`)."""
        return corroborated(self.nodes, self.vantages)

    def corroborated_in(self, version: int) -> bool:
        """``corroborated`` as a bundle of ``version`` wrote it: node keys (2), vantages alone (3)."""
        if version == b.VERSION_NODES_BY_KEY:
            return len(self.nodes) >= 2
        if version == b.VERSION_NODES_BY_NETWORK:
            return vantage_count(self.vantages) >= 2
        return self.corroborated


def seen_by(hits: Iterable[NodeHit], version: int = b.VERSION_NODES) -> dict[Group, Seen]:
    """(ip, port, infohash) → the nodes and vantages with a verified hit of it (:meth:`NodeHit.group`)."""
    nodes: dict[Group, set[str]] = {}
    points: dict[Group, set[str]] = {}
    for hit in counted_ports(hits, version):
        group = hit.group(version)
        nodes.setdefault(group, set()).add(hit.node)
        points.setdefault(group, set()).add(hit.vantage)
    return {group: Seen(tuple(sorted(n)), tuple(sorted(points[group]))) for group, n in nodes.items()}


def _hit_order(hit: NodeHit) -> tuple[str, str, int, int, str, int]:
    o = hit.observation
    return (o.infohash, o.ip, o.port, o.started_us, hit.node, hit.index)


def hits_bytes(hits: Sequence[NodeHit], version: int = b.VERSION_NODES) -> bytes:
    """``hits.jsonl`` of a bundle of ``version`` (module docstring): one line per hit, ordered by
    infohash, ip, port, start, node, chain index."""
    groups = seen_by(hits, version)
    lines: list[bytes] = []
    for hit in sorted(counted_ports(hits, version), key=_hit_order):
        o = hit.observation
        seen = groups[hit.group(version)]
        line: dict[str, Any] = {
            "node": hit.node,
            "chain_index": hit.index,
            "infohash": o.infohash,
            "ip": o.ip,
            "port": o.port,
            "started_us": o.started_us,
            "started": iso(o.started_us),
        }
        if version in (b.VERSION_NODES, b.VERSION_NODES_BY_ADDRESS):
            line.update(counted_port=hit.port, port_seen=_port_seen(hit, version))
        if version == b.VERSION_NODES_BY_KEY:
            line.update(vantages=list(seen.nodes))
        else:
            line.update(vantage=hit.vantage, nodes=list(seen.nodes), vantages=list(seen.vantages))
        line.update(corroborated=seen.corroborated_in(version))
        lines.append((json.dumps(line, sort_keys=True, ensure_ascii=True) + "\n").encode("ascii"))
    return b"".join(lines)


def _port_seen(hit: NodeHit, version: int = b.VERSION_NODES) -> str:
    """How ``counted_port`` was seen: dialled by us, the inbound connection's TCP source port, a claimed
    listen port our own probe checked (one of the same peer id since version 5), or none (an inbound record
    sealed without its source port)."""
    o = hit.observation
    if o.source != Source.INBOUND.value:
        return "dialled"
    if hit.port is None:
        return "none: claimed listen port unchecked, no source port sealed"
    if hit.port != o.port or hit.port == o.source_port:
        return "tcp source port"
    if version == b.VERSION_NODES_BY_ADDRESS:
        return "claimed listen port, checked by our own connection"
    return "claimed listen port, checked by our own connection to the same peer id"


def _keys(public_keys: Mapping[str, bytes], private_key: Ed25519PrivateKey) -> dict[str, bytes]:
    """``keys/<fingerprint>.pem`` of every node and of the exporting key.

    Raises:
        InputError: a node's raw key does not have the fingerprint it is filed under.
    """
    raws = dict(public_keys)
    raws[key_fingerprint(public_key_raw(private_key))] = public_key_raw(private_key)
    for fingerprint, raw in raws.items():
        if key_fingerprint(raw) != fingerprint:
            raise InputError(f"the public key filed as node {fingerprint} has another fingerprint")
    return {b.key_path(fp): b.public_key_pem_of(raw) for fp, raw in sorted(raws.items())}


def build_nodes_bundle(
    contents: Mapping[str, b.BundleContent],
    public_keys: Mapping[str, bytes],
    *,
    private_key: Ed25519PrivateKey,
    created_us: int,
    software_version: str,
    filters: Mapping[str, Any],
) -> dict[str, bytes]:
    """Every file of a bundle across nodes, path → bytes (layout in the module docstring).

    Args:
        contents: node key fingerprint (hex) → that node's selected evidence (its ``filters`` name it).
        public_keys: node key fingerprint → raw 32-byte Ed25519 public key, for every node of
            ``contents``. private_key: the exporting node's key; it signs every manifest.
        created_us: UTC microseconds of the export. software_version: the exporting swarmscope version.
        filters: the export's selection, as asked (each node's manifest holds its effective filters).

    Raises:
        InputError: fewer than two nodes, or a node without its public key.
        DecodeError: a selected record does not decode (corrupt store).
    """
    if len(contents) < 2 or set(contents) - set(public_keys):
        raise InputError("a bundle across nodes needs two or more nodes, each with its public key")
    files: dict[str, bytes] = {}
    ledgers: dict[str, list[tuple[int, bytes]]] = {}
    for node in sorted(contents):
        one = b.build_bundle(
            contents[node], private_key=private_key, created_us=created_us, software_version=software_version
        )
        files.update({node_prefix(node) + path: data for path, data in one.items()})
        ledgers[node] = sorted(contents[node].records.items())
    files.update(_keys({n: public_keys[n] for n in contents}, private_key))
    files[HITS] = hits_bytes(node_hits(ledgers))
    manifest = b.manifest_bytes(
        files,
        created_us=created_us,
        software_version=software_version,
        filters=filters,
        signing_key=key_fingerprint(public_key_raw(private_key)),
        nodes=sorted(contents),
    )
    files[b.MANIFEST] = manifest
    files[b.MANIFEST_SIG] = private_key.sign(manifest)
    return files

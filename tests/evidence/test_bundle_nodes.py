"""A bundle across nodes (format version 5): layout, verification per node, and hostile variants.

Every node's chain is the world of tests/evidence/test_bundle.py sealed by its own key, its run record
sealing the node's ``--bind`` (``BINDS``: three distinct /24s, three vantages): node A discloses every
record, node B the first two batches (so its chain ends at index 7), node C (three-node cases) every
record. Hostile variants are re-signed by the exporting key, so only the check they target can see them.
"""

from __future__ import annotations

import dataclasses
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.nodes import HITS, Seen, build_nodes_bundle, node_prefix
from swarmscope.evidence.bundle.nodes_verify import verify_export
from swarmscope.evidence.bundle.vantage import DEFAULT_ROUTE
from swarmscope.evidence.bundle.verify import verify_bundle
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.records import RunStarted
from swarmscope.evidence.seal import key_fingerprint, public_key_raw, seal_batch
from tests.evidence.test_bundle import (
    BLOCK_IP,
    NTP,
    SEED_IP,
    T0,
    World,
    build,
    content_of,
    make_world,
    seal_ledger,
)

KEYS = {
    name: Ed25519PrivateKey.from_private_bytes(bytes([n]) * 32) for name, n in (("A", 3), ("B", 5), ("C", 6))
}
FP = {name: key_fingerprint(public_key_raw(key)) for name, key in KEYS.items()}
EXPORTER = KEYS["A"]
KEEP = {"A": None, "B": set(range(8)), "C": None}
BINDS: dict[str, str | None] = {"A": "198.18.1.10", "B": "198.18.2.10", "C": "198.18.3.10"}


def sealed_by(world: World, name: str) -> World:
    """The world's chain sealed by node ``name``'s key."""
    batches = [seal_batch(s.batch, KEYS[name]) for s in world.batches]
    return dataclasses.replace(world, batches=batches, key=KEYS[name])


def bound(world: World, bind: str | None) -> World:
    """The world with its run record sealing ``bind`` as the run's ``bind_ip`` (None: no --bind)."""
    first = world.records[0]
    assert isinstance(first, RunStarted)
    settings = {"clock_servers": [NTP], "pieces_to_verify": 1} | ({} if bind is None else {"bind_ip": bind})
    run = dataclasses.replace(first, settings_json=json.dumps(settings, sort_keys=True))
    records = [run, *world.records[1:]]
    entries, batches = seal_ledger(records)
    return dataclasses.replace(world, records=records, entries=entries, batches=batches)


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


def contents(world: World, names: str, binds: dict[str, str | None] = BINDS) -> dict[str, b.BundleContent]:
    return {FP[n]: content_of(sealed_by(bound(world, binds[n]), n), KEEP[n], node=FP[n]) for n in names}


def bundle(content: dict[str, b.BundleContent]) -> dict[str, bytes]:
    return build_nodes_bundle(
        content,
        {fp: public_key_raw(key) for fp, key in ((FP[n], KEYS[n]) for n in KEYS)},
        private_key=EXPORTER,
        created_us=T0 + 300_000_000,
        software_version="0.1.0",
        filters={"infohash": None},
    )


def resign(files: dict[str, bytes], manifest: dict[str, object]) -> dict[str, bytes]:
    """``files`` with ``manifest`` (its listing recomputed) signed by the exporting key."""
    body = {path: data for path, data in files.items() if path not in (b.MANIFEST, b.MANIFEST_SIG)}
    raw = b.manifest_bytes(
        body,
        created_us=int(str(manifest["created_us"])),
        software_version=str(manifest["software_version"]),
        filters=dict(manifest["filters"]),  # type: ignore[call-overload]
        signing_key=FP["A"],
        nodes=list(manifest["nodes"]),  # type: ignore[call-overload]
    )
    return {**body, b.MANIFEST: raw, b.MANIFEST_SIG: EXPORTER.sign(raw)}


def manifest_of(files: dict[str, bytes]) -> dict[str, object]:
    return dict(json.loads(files[b.MANIFEST]))


def messages(verdict: object) -> list[str]:
    return [f"{p.check}: {p.file}: {p.message}" for p in verdict.problems]  # type: ignore[attr-defined]


@pytest.mark.parametrize("names", ["AB", "ABC"])
def test_across_nodes_verifies_per_node_and_shows_corroboration(world: World, names: str) -> None:
    files = bundle(contents(world, names))
    manifest = manifest_of(files)
    assert manifest["version"] == 5 and manifest["nodes"] == sorted(FP[n] for n in names)
    assert manifest["signing_key"] == FP["A"]
    for n in names:  # each node's slice is a whole one-node bundle: its own seals, its own public key
        assert files[node_prefix(FP[n]) + b.MANIFEST] and files[b.key_path(FP[n])]
    verdict = verify_export(files, expect_keys=[FP[n] for n in names])
    assert verdict.ok, messages(verdict)
    checked = {c.name for c in verdict.checks}
    for n in names:
        assert {
            f"node {FP[n][:16]} chain",
            f"node {FP[n][:16]} batch seals",
            f"node {FP[n][:16]} signers",
        } <= checked
    hits = [json.loads(line) for line in files[HITS].splitlines()]
    by_ip = {}
    for hit in hits:
        by_ip.setdefault(hit["ip"], set()).add(hit["node"])
        assert hit["corroborated"] == (len(hit["vantages"]) >= 2)
        network = next(f"{BINDS[n][:-3]}.0/24" for n in names if FP[n] == hit["node"])  # type: ignore[index]
        assert hit["vantage"] == network and hit["nodes"] == sorted(FP[n] for n in names), hit
    assert by_ip == {ip: {FP[n] for n in names} for ip in ("192.0.2.10", "198.51.100.20")}
    detail = next(c.detail for c in verdict.checks if c.name == "hits")
    assert f"from {len(names)} nodes; 2 of 2 addresses corroborated" in detail, detail
    for n in names:  # per node: its hits, how many corroborated, its vantage
        line = next(c.detail for c in verdict.checks if c.name == f"node {FP[n][:16]} hits")
        assert line == f"2 verified hits, 2 corroborated; vantage {BINDS[n][:-3]}.0/24", line  # type: ignore[index]


def test_one_node_bundle_is_unchanged_and_verifies_through_the_dispatch(world: World) -> None:
    files = build(world)
    assert manifest_of(files)["version"] == 1 and HITS not in files and "nodes" not in manifest_of(files)
    assert verify_export(files).ok and verify_bundle(files).ok


def test_record_moved_to_another_nodes_chain_is_refused(world: World) -> None:
    content = contents(world, "AB")
    moved = canonical_bytes(world.records[9])  # in A's chain only (B's slice ends at index 7)
    b_node = content[FP["B"]]
    content[FP["B"]] = dataclasses.replace(b_node, records={**b_node.records, 9: moved})
    verdict = verify_export(bundle(content))
    assert not verdict.ok
    expected = (
        f"cross-node: {node_prefix(FP['B'])}records/ledger.bin: record at chain index 9 of node {FP['B']} "
        f"is chain index 9 of node {FP['A']}: moved from another node's chain"
    )
    assert expected in messages(verdict), messages(verdict)


def test_a_nodes_batch_sealed_by_another_key_is_refused(world: World) -> None:
    content = contents(world, "ABC")
    content[FP["B"]] = content_of(sealed_by(world, "C"), KEEP["B"], node=FP["B"])  # C's seals, filed as B
    verdict = verify_export(bundle(content))
    assert not verdict.ok
    assert messages(verdict) == [
        f"node {FP['B'][:16]} signers: {node_prefix(FP['B'])}records/batches.bin: batch #{n} (chain "
        f"{lo}..{hi}) is sealed by key {FP['C']}, not by node {FP['B']}"
        for n, (lo, hi) in enumerate(((0, 3), (4, 7)))
    ]


def test_a_node_missing_from_the_manifest_is_refused(world: World) -> None:
    files = bundle(contents(world, "ABC"))
    manifest = manifest_of(files)
    manifest["nodes"] = [FP["A"], FP["C"]]
    verdict = verify_export(resign(files, manifest))
    assert messages(verdict) == [  # and hits.jsonl counts the hits of a node that is not named
        f"nodes: nodes/{FP['B']}/: chain slice of node {FP['B']}, which the manifest does not name",
        "hits: hits.jsonl: differs from the hits re-derived from the nodes' records",
    ]


def test_a_named_node_without_its_slice_is_refused(world: World) -> None:
    files = bundle(contents(world, "ABC"))
    kept = {p: d for p, d in files.items() if not p.startswith(node_prefix(FP["C"]))}
    verdict = verify_export(resign(kept, manifest_of(files)))
    assert messages(verdict) == [  # and hits.jsonl still counts that node's hits
        f"nodes: {node_prefix(FP['C'])}manifest.json: node {FP['C']} is named in the manifest but its "
        "bundle is missing",
        "hits: hits.jsonl: differs from the hits re-derived from the nodes' records",
    ]


def test_an_altered_hits_view_is_refused(world: World) -> None:
    files = bundle(contents(world, "AB"))
    files[HITS] = files[HITS].replace(b'"corroborated": true', b'"corroborated": false', 1)
    verdict = verify_export(resign(files, manifest_of(files)))
    assert messages(verdict) == ["hits: hits.jsonl: differs from the hits re-derived from the nodes' records"]


def test_expected_keys_must_name_every_node(world: World) -> None:
    files = bundle(contents(world, "ABC"))
    verdict = verify_export(files, expect_keys=[FP["A"], FP["B"]])
    assert not verdict.ok
    assert f"nodes: manifest.json: node {FP['C']} is not among the expected keys" in messages(verdict)
    assert verify_export(files, expect_keys=[FP["A"], FP["B"], FP["C"]]).ok


def test_notes_shared_by_every_node_are_said_once_and_unused_expected_keys_are_noted(world: World) -> None:
    files = bundle(contents(world, "AB"))
    verdict = verify_export(files, expect_keys=[FP["A"], FP["B"], FP["C"]])
    assert verdict.ok, messages(verdict)
    shared = [n for n in verdict.notes if n.startswith("every node: ")]
    assert shared and not any(n.startswith("node ") for n in verdict.notes), verdict.notes
    assert f"expected key {FP['C']} signs nothing in this bundle" in verdict.notes


ONE_NETWORK = {"A": "198.18.1.10", "B": "198.18.1.99"}  # two nodes on one /24: one vantage


@pytest.mark.parametrize(
    ("bind_a", "bind_b", "vantages"),
    [
        ("198.18.1.10", "198.18.1.99", ["198.18.1.0/24"]),  # one /24
        (None, None, [DEFAULT_ROUTE]),  # no --bind: whatever the kernel picks, one shared vantage
        ("2001:db8:1:1::1", "2001:db8:1:2::1", [DEFAULT_ROUTE]),  # IPv6 binds, IPv4 peers: the default route
        ("198.18.1.10", "198.18.2.10", ["198.18.1.0/24", "198.18.2.0/24"]),  # two /24s
        ("127.0.3.1", "127.0.3.5", ["127.0.3.1", "127.0.3.5"]),  # loopback: the addresses themselves
    ],
)
def test_corroboration_counts_vantages_not_node_keys(
    world: World, bind_a: str | None, bind_b: str | None, vantages: list[str]
) -> None:
    """As ``cases build --min-vantages`` counts: two node keys on one source network are one vantage."""
    files = bundle(contents(world, "AB", {"A": bind_a, "B": bind_b}))
    verdict = verify_export(files, expect_keys=[FP["A"], FP["B"]])
    assert verdict.ok, messages(verdict)
    hits = [json.loads(line) for line in files[HITS].splitlines()]
    assert {h["ip"] for h in hits} == {SEED_IP, BLOCK_IP} and len(hits) == 4
    corroborated = len(vantages) >= 2
    for hit in hits:
        assert hit["nodes"] == sorted([FP["A"], FP["B"]]) and hit["vantages"] == vantages, hit
        assert hit["corroborated"] is corroborated and hit["vantage"] in vantages, hit
    detail = next(c.detail for c in verdict.checks if c.name == "hits")
    assert f"from 2 nodes; {2 if corroborated else 0} of 2 addresses corroborated" in detail, detail


@pytest.mark.parametrize("forge_vantages", [False, True])
def test_hits_edited_to_claim_corroboration_are_refused(world: World, forge_vantages: bool) -> None:
    """hits.jsonl is never trusted: two nodes on one /24 edited to claim corroboration (and, the second
    time, a second vantage too) are refused in one line naming the address and what the records show."""
    files = bundle(contents(world, "AB", ONE_NETWORK))
    lines = [json.loads(line) for line in files[HITS].splitlines()]
    for line in lines:
        if line["ip"] == SEED_IP:
            line["corroborated"] = True
            if forge_vantages and line["node"] == FP["B"]:
                line["vantage"] = "198.18.9.0/24"
                line["vantages"] = ["198.18.1.0/24", "198.18.9.0/24"]
    forged = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines).encode()
    verdict = verify_export(resign({**files, HITS: forged}, manifest_of(files)))
    assert messages(verdict) == [
        "hits: hits.jsonl: differs from the hits re-derived from the nodes' records: it claims 1 address(es)"
        f" corroborated that are not, first {SEED_IP} port 6881 in {world.infohash}: the nodes' records show"
        " 1 vantage (198.18.1.0/24) from 2 node(s)"
    ]


def legacy(files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` as format version 2 wrote them: hits.jsonl counting node keys as vantages, re-signed."""
    lines = []
    for line in (json.loads(raw) for raw in files[HITS].splitlines()):
        nodes = line.pop("nodes")
        del line["vantage"], line["counted_port"], line["port_seen"]  # version 4's
        line.update(vantages=nodes, corroborated=len(nodes) >= 2)
        lines.append(json.dumps(line, sort_keys=True, ensure_ascii=True) + "\n")
    return resign_as({**files, HITS: "".join(lines).encode()}, 2)


def test_a_version_2_bundle_verifies_as_before_and_says_it_counts_node_keys(world: World) -> None:
    old = legacy(bundle(contents(world, "AB", ONE_NETWORK)))
    assert all(json.loads(line)["corroborated"] for line in old[HITS].splitlines())  # by node keys
    verdict = verify_export(old, expect_keys=[FP["A"], FP["B"]])
    assert verdict.ok, messages(verdict)
    assert (
        "bundle format version 2 (written before today's vantage rules): its hits.jsonl counts node keys as"
        " vantages (2 addresses 'corroborated'); by two or more node keys from two or more vantages (as"
        " cases build --min-vantages counts), 0 are"
    ) in verdict.notes, verdict.notes
    current = bundle(
        contents(world, "AB", ONE_NETWORK)
    )  # the version-4 hits.jsonl under a version-2 manifest
    verdict = verify_export(resign_as(legacy(current) | {HITS: current[HITS]}, 2))
    assert messages(verdict) == ["hits: hits.jsonl: differs from the hits re-derived from the nodes' records"]


def resign_as(files: dict[str, bytes], version: int) -> dict[str, bytes]:
    """``files`` with the manifest listing recomputed, its version set, signed by the exporting key."""
    signed = resign(files, manifest_of(files))
    raw = b.json_bytes(json.loads(signed[b.MANIFEST]) | {"version": version})
    return {**signed, b.MANIFEST: raw, b.MANIFEST_SIG: EXPORTER.sign(raw)}


def test_a_hostile_hits_line_is_one_problem_not_a_crash(world: World) -> None:
    """Corroboration claims are read from hits.jsonl only to name them: a port JSON reads as infinity
    (1e400), a deep nesting, bytes that are not UTF-8 are each the one usual problem."""
    files = bundle(contents(world, "AB", ONE_NETWORK))
    for bad in (
        b'{"corroborated": true, "ip": "192.0.2.10", "port": 1e400, "infohash": "aa"}\n',
        b"[" * 100_000 + b"\n",
        b"\xff\xfe\n",
    ):
        verdict = verify_export(resign({**files, HITS: files[HITS] + bad}, manifest_of(files)))
        assert messages(verdict) == [
            "hits: hits.jsonl: differs from the hits re-derived from the nodes' records"
        ]


BEHIND_NAT = {"A": "100.64.1.10", "B": "100.64.2.10"}  # RFC 6598: two private /24s, one gateway maybe


def by_bind(files: dict[str, bytes], binds: dict[str, str]) -> dict[str, bytes]:
    """``files`` as format version 3 wrote them: each vantage the sealed --bind's /24 (a private one
    too), ``corroborated`` by two or more vantages alone; re-signed."""
    nets = {FP[n]: f"{ip.rsplit('.', 1)[0]}.0/24" for n, ip in binds.items()}
    lines = [json.loads(raw) for raw in files[HITS].splitlines()]
    for line in lines:
        del line["counted_port"], line["port_seen"]  # version 4's
        line["vantage"] = nets[line["node"]]
        line["vantages"] = sorted({nets[n] for n in line["nodes"]})
        line["corroborated"] = len(line["vantages"]) >= 2
    text = "".join(json.dumps(line, sort_keys=True, ensure_ascii=True) + "\n" for line in lines)
    return resign_as({**files, HITS: text.encode()}, 3)


def test_private_binds_behind_nat_corroborate_nothing_in_a_version_4_bundle(world: World) -> None:
    files = bundle(contents(world, "AB", BEHIND_NAT))  # type: ignore[arg-type]
    verdict = verify_export(files, expect_keys=[FP["A"], FP["B"]])
    assert verdict.ok, messages(verdict)
    for hit in (json.loads(line) for line in files[HITS].splitlines()):
        assert hit["vantages"] == [DEFAULT_ROUTE] and hit["corroborated"] is False, hit


def test_a_version_3_bundle_verifies_as_written_and_says_what_today_counts(world: World) -> None:
    """A bundle written before the NAT rule (private --bind /24s counted as vantages) still verifies,
    re-derived by its own rule, and a note gives today's count beside its own."""
    old = by_bind(bundle(contents(world, "AB", BEHIND_NAT)), BEHIND_NAT)  # type: ignore[arg-type]
    assert all(json.loads(line)["corroborated"] for line in old[HITS].splitlines())
    verdict = verify_export(old, expect_keys=[FP["A"], FP["B"]])
    assert verdict.ok, messages(verdict)
    assert (
        "bundle format version 3 (written before today's vantage rules): its hits.jsonl counts the sealed"
        " --bind networks (private ones too) and not node keys (2 addresses 'corroborated'); by two or more"
        " node keys from two or more vantages (as cases build --min-vantages counts), 0 are"
    ) in verdict.notes, verdict.notes
    current = bundle(contents(world, "AB", BEHIND_NAT))  # type: ignore[arg-type]
    verdict = verify_export(resign_as({**old, HITS: current[HITS]}, 3))  # today's view, version 3
    problems = messages(verdict)
    assert problems[0].startswith("hits: hits.jsonl: differs from the hits re-derived"), problems


def test_one_node_key_seen_from_two_networks_is_not_corroborated() -> None:
    """Two /24s but one node key: one clock and software (``vantage.corroborated``)."""
    assert not Seen((FP["A"],), ("192.0.2.0/24", "198.51.100.0/24")).corroborated
    assert Seen((FP["A"], FP["B"]), ("192.0.2.0/24", "198.51.100.0/24")).corroborated
    assert Seen((FP["A"],), ("192.0.2.0/24", "198.51.100.0/24")).corroborated_in(3)  # as version 3 wrote it

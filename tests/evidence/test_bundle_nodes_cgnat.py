"""A bundle across nodes must not count a CGNAT neighbour's inbound hit under another subscriber's port.

Behind one carrier-grade NAT address, subscriber B is reachable at 100.64.0.1:51413 and node A's outbound
probe verifies it (B's peer id); neighbour N dials node B from source port 40001 and claims BEP 10 ``p`` =
51413 (its own default listen port, or B's read from a peer list) under its own peer id. The claim counts
only when the probe that checked ip:51413 saw the same peer id (``evidence.hit_port``; BEP 3: one client
keeps one peer id per torrent), so N's hit counts under 40001, what the ISP's CGNAT log maps to N (RFC 6302
section 2), and B's address is not corroborated by it. Bundle format version 4 counted the claim; such a
bundle still verifies by its own rule, with a note.
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from swarmscope.evidence.bundle import layout as b
from swarmscope.evidence.bundle.nodes import HITS
from swarmscope.evidence.bundle.nodes_verify import verify_export
from swarmscope.evidence.records import Observation, RunStarted, Source
from tests.evidence.test_bundle import NTP, T0, World, content_of, make_world, seal_ledger
from tests.evidence.test_bundle_nodes import BINDS, FP, bundle, messages, resign_as, sealed_by

CGNAT_IP = "100.64.0.1"  # RFC 6598 shared address space: many subscribers behind it
B_ID, N_ID = b"-TR3000-subscriberB1", b"-TR3000-neighbourN11"
CHECKED_V4 = "claimed listen port, checked by our own connection"  # port_seen of version 4
CHECKED = f"{CHECKED_V4} to the same peer id"  # of version 5


@pytest.fixture(scope="module")
def world() -> World:
    return make_world()


def node_world(world: World, name: str, extra: Observation) -> World:
    """The world as node ``name`` sealed it (its --bind sealed), then a second run (capture off) that
    sealed ``extra``."""
    first = world.records[0]
    assert isinstance(first, RunStarted)
    settings = {"clock_servers": [NTP], "pieces_to_verify": 1, "bind_ip": BINDS[name]}
    run1 = dataclasses.replace(first, settings_json=json.dumps(settings, sort_keys=True))
    run2 = RunStarted(2, T0 + 95_000_000, "0.1.0", "abc1234", json.dumps(settings | {"capture": False}))
    records = [run1, *world.records[1:], run2, extra]
    entries, batches = seal_ledger(records)
    return sealed_by(dataclasses.replace(world, records=records, entries=entries, batches=batches), name)


def cgnat_bundle(world: World, inbound_id: bytes) -> dict[str, bytes]:
    """Node A dialled B at CGNAT_IP:51413; node B was dialled from CGNAT_IP:40001 by a peer claiming
    51413 under ``inbound_id``, an hour later."""
    seed = next(r for r in world.records if isinstance(r, Observation))
    at = T0 + 100_000_000
    dialled = dataclasses.replace(
        seed, ip=CGNAT_IP, port=51413, peer_id=B_ID, capture_sha256=None, started_us=at, ended_us=at + 10**6
    )
    at += 3_600_000_000
    claimed = dataclasses.replace(
        dialled, source=Source.INBOUND.value, source_port=40001, peer_id=inbound_id, started_us=at,
        ended_us=at + 10**6,
    )  # fmt: skip
    worlds = {"A": node_world(world, "A", dialled), "B": node_world(world, "B", claimed)}
    return bundle({FP[n]: content_of(w, None, node=FP[n]) for n, w in worlds.items()})


def cgnat_lines(files: dict[str, bytes]) -> list[tuple[str, int, int, str, bool]]:
    lines = (json.loads(raw) for raw in files[HITS].splitlines())
    return [
        (line["node"], line["port"], line["counted_port"], line["port_seen"], line["corroborated"])
        for line in lines
        if line["ip"] == CGNAT_IP
    ]


def test_a_neighbours_claim_is_counted_under_its_own_source_port(world: World) -> None:
    files = cgnat_bundle(world, N_ID)
    assert cgnat_lines(files) == [
        (FP["A"], 51413, 51413, "dialled", False),
        (FP["B"], 51413, 40001, "tcp source port", False),
    ]
    assert manifest_version(files) == 5
    verdict = verify_export(files, expect_keys=[FP["A"], FP["B"]])
    assert verdict.ok, messages(verdict)


def test_the_same_clients_claim_counts_under_the_checked_port_and_corroborates(world: World) -> None:
    files = cgnat_bundle(world, B_ID)
    verdict = verify_export(files, expect_keys=[FP["A"], FP["B"]])
    assert verdict.ok, messages(verdict)
    assert cgnat_lines(files) == [
        (FP["A"], 51413, 51413, "dialled", True),
        (FP["B"], 51413, 51413, CHECKED, True),
    ]


def as_version_4(files: dict[str, bytes]) -> dict[str, bytes]:
    """``files`` as version 4 wrote them: the neighbour's claim counted under 51413 (checked by address
    alone), so the address is seen by both nodes from both vantages: 'corroborated'."""
    lines = [json.loads(raw) for raw in files[HITS].splitlines()]
    for line in lines:
        if line["ip"] == CGNAT_IP:
            line.update(nodes=sorted((FP["A"], FP["B"])), corroborated=True)
            line["vantages"] = sorted(f"{BINDS[n][:-3]}.0/24" for n in "AB")  # type: ignore[index]
            if line["port_seen"] == "tcp source port":
                line.update(counted_port=51413, port_seen=CHECKED_V4)
    text = "".join(json.dumps(line, sort_keys=True, ensure_ascii=True) + "\n" for line in lines)
    return {**files, HITS: text.encode()}


def test_a_version_4_bundle_verifies_by_its_own_rule_and_says_what_today_counts(world: World) -> None:
    current = cgnat_bundle(world, N_ID)
    old = resign_as(as_version_4(current), b.VERSION_NODES_BY_ADDRESS)
    verdict = verify_export(old, expect_keys=[FP["A"], FP["B"]])
    assert verdict.ok, messages(verdict)
    assert (
        "bundle format version 4 (written before the peer-id rule): its hits.jsonl counts an inbound peer"
        " under its claimed listen port when our own probe checked that ip:port, whatever peer id answered"
        " it; by today's rule (the same peer id) 1 hit(s) count under their TCP source port instead, and 2"
        " addresses are corroborated"
    ) in verdict.notes, verdict.notes
    forged = resign_as(as_version_4(current), b.VERSION_NODES)  # version 4's answer, a version 5 manifest
    assert messages(verify_export(forged)) == [
        "hits: hits.jsonl: differs from the hits re-derived from the nodes' records: it claims 1 address(es)"
        f" corroborated that are not, first {CGNAT_IP} port 51413 in {world.infohash}: the nodes' records"
        " show 1 vantage (198.18.1.0/24) from 1 node(s)"
    ]


def manifest_version(files: dict[str, bytes]) -> object:
    return json.loads(files[b.MANIFEST])["version"]

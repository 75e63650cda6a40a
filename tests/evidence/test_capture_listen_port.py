"""An inbound peer is recorded under its BEP 10 listen port by the pure run, and its capture says so.

BEP 10 ``p`` is the peer's "local TCP listen port"; a connection it dialled comes from an ephemeral source
port that no re-probe can reach. The rule is an input of the run (``record_listen_port``), carried in the
capture header (``l``), so replay re-derives the recorded port. Captures written before the rule was an
input have no ``l``: the monitor then applied the rule to every inbound observation after the run, so the
decoder reads it as the inbound flag and those sealed observations still replay.
"""

from __future__ import annotations

import dataclasses
import zlib

import pytest

from swarmscope.evidence.canonical import as_version, canonical_bytes
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.capture.format import MAGIC, VERSION
from swarmscope.evidence.capture.recording import Capture, CaptureRecorder, capture_header, replay
from swarmscope.evidence.declarations import OBSERVATION
from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Observation, Source, claimed_port, observed_port
from swarmscope.wire import bencode
from swarmscope.wire import peer as pw
from tests.evidence.fakepeer import IH, LT_ID, OUR_ID, Pieces, bitfield

SOURCE_PORT = 50123  # the ephemeral TCP source port of the peer's connection to us
LISTEN_PORT = 6999  # the BEP 10 ``p`` it announces
PIECES = Pieces()


def _inbound(record_listen_port: bool, inbound: bool = True) -> tuple[Observation, Capture]:
    """A peer dials us, announces ``p`` and its pieces, then the monitor stops; every call recorded."""
    run = ProbeRun(
        swarm=IH.hex(),
        wire_infohash=IH,
        peer_id=OUR_ID,
        pieces=PIECES,
        ip="127.0.0.2",
        port=SOURCE_PORT,
        source=Source.INBOUND.value,
        started_us=1_000_000,
        policy=ProbePolicy(),
        extension_handshake=bencode.encode({b"m": {}, b"v": b"swarmscope/0.1.0"}),
        inbound=inbound,
        record_listen_port=record_listen_port,
    )
    rec = CaptureRecorder(capture_header(run))
    ext = bencode.encode({b"m": {}, b"p": LISTEN_PORT, b"v": b"libtorrent/2.1.1.0"})
    peer = pw.Handshake(bytes.fromhex("0000000000100005"), IH, LT_ID).encode()
    peer += pw.encode_message(pw.Extended(0, ext)) + bitfield(PIECES.num_pieces, set(range(10)))
    if inbound:
        rec.event("accepted", 1_000_000, 1, sent=run.accepted(1_000_000))
    else:
        rec.event("connected", 1_000_000, 1, sent=run.connected(1_000_000))
    rec.event("received", 1_001_000, 2, peer, sent=run.received(peer, 1_001_000))
    run.stop(1_002_000)
    rec.event("stop", 1_002_000, 3)
    cap = rec.finish()
    return dataclasses.replace(run.observation(), capture_sha256=cap.sha256), cap


def _without_rule_field(data: bytes) -> bytes:
    """The same capture as an older version wrote it: no ``l`` in the header."""
    body = bencode.decode(zlib.decompress(data[len(MAGIC) + 1 : -4]))
    del body[b"h"][b"l"]
    out = MAGIC + bytes([VERSION]) + zlib.compress(bencode.encode(body), 9)
    return out + zlib.crc32(out).to_bytes(4, "big")


@pytest.mark.parametrize(("rule", "port"), [(True, LISTEN_PORT), (False, SOURCE_PORT)])
def test_the_run_names_the_listen_port_and_its_capture_re_derives_it(rule: bool, port: int) -> None:
    obs, cap = _inbound(rule)
    assert obs.port == port and obs.extension is not None and obs.extension.p == LISTEN_PORT
    assert decode_capture(cap.data).header.record_listen_port is rule
    again = replay(cap.data, PIECES, cap.blobs.get)
    assert again.port == port and canonical_bytes(again) == canonical_bytes(obs)


def test_an_outgoing_run_keeps_the_port_it_dialled() -> None:
    obs, _ = _inbound(True, inbound=False)
    assert obs.port == SOURCE_PORT  # we dialled that port: it is the peer's listen port already


def test_an_older_inbound_capture_replays_under_the_listen_port_as_the_monitor_sealed_it() -> None:
    sealed, cap = _inbound(True)  # what the monitor sealed then: the listen port, patched after the run
    older = _without_rule_field(cap.data)
    header = decode_capture(older).header
    assert header.inbound and header.record_listen_port  # type: ignore[union-attr]
    again = replay(older, PIECES, cap.blobs.get)
    assert again.port == LISTEN_PORT
    same = dataclasses.replace(sealed, capture_sha256=again.capture_sha256)  # another capture, same record
    assert canonical_bytes(again) == canonical_bytes(same)


def test_an_older_outgoing_capture_reads_without_the_rule() -> None:
    _, cap = _inbound(False, inbound=False)
    header = decode_capture(_without_rule_field(cap.data)).header
    assert not header.inbound and not header.record_listen_port  # type: ignore[union-attr]


@pytest.mark.parametrize("rule", [True, False])
def test_an_inbound_record_keeps_the_observed_source_port_beside_the_claim(rule: bool) -> None:
    """The BEP 10 ``p`` is the peer's claim; the TCP source port our socket saw is sealed beside it
    (RFC 6302 section 2), and replay re-derives it from the capture header."""
    obs, cap = _inbound(rule)
    assert obs.source_port == SOURCE_PORT
    assert observed_port(obs) == SOURCE_PORT
    assert claimed_port(obs) == (LISTEN_PORT if rule else None)
    assert decode_capture(cap.data).header.port == SOURCE_PORT  # type: ignore[union-attr]
    again = replay(cap.data, PIECES, cap.blobs.get)
    assert again.source_port == SOURCE_PORT and canonical_bytes(again) == canonical_bytes(obs)
    assert b"11:source_portl1:ii50123ee" in canonical_bytes(obs)


def test_an_outgoing_record_has_no_source_port_and_its_port_is_observed() -> None:
    run_obs, _ = _inbound(True, inbound=False)
    obs = dataclasses.replace(run_obs, source=Source.TRACKER.value)  # a port we dialled, from a tracker
    assert obs.source_port is None and observed_port(obs) == SOURCE_PORT and claimed_port(obs) is None


def test_an_inbound_record_sealed_before_the_source_port_still_replays_to_its_bytes() -> None:
    """A version 1 record (sealed before ``source_port``) is compared in its version: replay of its
    capture gives exactly its sealed bytes, and no port of it is presented as observed."""
    obs, cap = _inbound(True)
    sealed = as_version(OBSERVATION, obs, 1)
    assert b"source_port" not in canonical_bytes(sealed) and sealed.source_port is None
    again = as_version(OBSERVATION, replay(cap.data, PIECES, cap.blobs.get), sealed.version)
    assert canonical_bytes(again) == canonical_bytes(sealed)
    assert observed_port(sealed) is None and claimed_port(sealed) is None

"""Wire captures of BEP 9 metadata fetches (pure): recorded through the tap, replayed to the same record."""

from __future__ import annotations

from typing import cast

import pytest

from swarmscope.errors import ProtocolStateError
from swarmscope.evidence.canonical import canonical_bytes
from swarmscope.evidence.capture.decode import decode_capture
from swarmscope.evidence.capture.format import MetadataHeader
from swarmscope.evidence.capture.recording import CaptureRecorder, ReplayError, capture_header, replay
from swarmscope.evidence.probe.metadata_fetch import MetadataFetch, MetadataOutcome
from swarmscope.net.capture_tap import TappedRun
from swarmscope.net.clock import Clock
from tests.evidence.fakepeer import Pieces, make_run
from tests.evidence.test_metadata_fetch import INFO, V1, V2, MetadataPeer, converse, new_fetch

SCENARIOS: dict[str, tuple[dict[str, float], dict[str, object]]] = {  # fetch policy, peer rules
    "served": ({}, {}),
    "rejects_then_served": ({"reject_backoff": 0.25}, {"rejects": 2}),
    "lying": ({}, {"info": INFO[:-1] + b"x"}),
    "no_ut_metadata": ({}, {"offer": False}),
}


@pytest.mark.parametrize("name", sorted(SCENARIOS))
@pytest.mark.parametrize("chunk", [None, 7])
def test_metadata_fetch_capture_replays(name: str, chunk: int | None) -> None:
    policy, rules = SCENARIOS[name]
    peer = MetadataPeer(**rules)  # type: ignore[arg-type]
    fetch = new_fetch(**policy)  # type: ignore[arg-type]
    tapped = TappedRun(fetch, CaptureRecorder(capture_header(fetch)), Clock())
    converse(cast(MetadataFetch, tapped), peer, chunk)
    obs = tapped.observation()
    cap = tapped.capture
    assert isinstance(decode_capture(cap.data).header, MetadataHeader)
    assert canonical_bytes(replay(cap.data, None, cap.blobs.get)) == canonical_bytes(obs)
    if name in ("served", "rejects_then_served"):
        assert fetch.outcome is MetadataOutcome.VERIFIED


def test_hybrid_header_round_trips_and_probe_needs_pieces() -> None:
    fetch = new_fetch(v1=V1, v2=V2, piece_timeout=3.5)
    header = capture_header(fetch)
    assert isinstance(header, MetadataHeader) and header.client == b"swarmscope/0.1.0"
    rec = CaptureRecorder(header)
    rec.event("connected", 1, 1, sent=fetch.connected(1))
    assert decode_capture(rec.finish().data).header == header
    run = make_run(Pieces(3))
    rec2 = CaptureRecorder(capture_header(run))
    rec2.event("connected", 1, 1, sent=run.connected(1))
    with pytest.raises(ReplayError, match="pieces"):
        replay(rec2.finish().data, None, lambda _h: None)
    with pytest.raises(ProtocolStateError):
        capture_header(object())

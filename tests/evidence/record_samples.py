"""A rich sample of every sealed record type, for golden vectors of all its derived forms.

Each sample sets awkward values on purpose: None next to empty values, non-ASCII text, quirk ids that
need JSON escaping, integers beyond 64 bits, a float field given an int, NaN-free floats, block proofs.
"""

from __future__ import annotations

from swarmscope.evidence.canonical import EvidenceRecord
from swarmscope.evidence.records import (
    Attribution,
    BlockProof,
    ClockSample,
    ExtensionInfo,
    Failure,
    Observation,
    RedactedEntry,
    Redaction,
    RunStarted,
    Sighting,
    Source,
    Tier,
    WorkflowEvent,
)

T0 = 1_796_000_000_000_000
BLOCK = BlockProof(piece=2, begin=16384, length=16384, sha256=bytes(range(32)))

SAMPLES: dict[str, EvidenceRecord] = {
    "observation-full": Observation(
        infohash="cd" * 20,
        ip="::1",
        port=51413,
        source=Source.DHT.value,
        started_us=T0 + 7,
        ended_us=T0 + 9_000_001,
        tier=Tier.HAS_PIECES,
        failure=Failure.HASH_MISMATCH.value,
        failure_detail='piece 3: "sha1" mismatch — ünïcødé\n',
        remote_infohash="ee" * 20,
        peer_id=b"-TR3000-\x00\xff" + bytes(range(10)),
        reserved=b"\x00\x00\x00\x00\x00\x10\x00\x05",
        client="Transmission",
        client_version="3.00",
        extension=ExtensionInfo(
            m={"ut_pex": 1, "ut_metadata": 2, 'lt_dönt"have': 2**70},
            v=b"Tr\xff",
            p=51413,
            yourip="127.0.0.1",
            reqq=250,
            metadata_size=2**65,
        ),
        num_pieces=2**40,
        pieces_have=3,
        bitfield=b"\xe0\x00",
        completion=1 / 3,
        bytes_received=16384,
        wire_bytes_in=20000,
        wire_bytes_out=300,
        payload_bytes_sent=0,
        verified_pieces=(0, 2, 2**33),
        failed_pieces=(1,),
        encrypted=True,
        quirks=("PW-10", 'odd "quirk" \\ é'),
        verified_blocks=(BLOCK, BlockProof(piece=9, begin=0, length=1, sha256=b"\x00" * 32)),
        failed_blocks=(BlockProof(piece=1, begin=0, length=1000, sha256=b"\xff" * 32),),
        capture_sha256=b"\xab" * 32,
    ),
    "observation-plain-quirks": Observation(
        infohash="ab" * 32,
        ip="127.0.0.2",
        port=1,
        source=Source.INBOUND.value,
        started_us=T0,
        ended_us=T0,
        tier=Tier.VERIFIED,
        extension=ExtensionInfo(),
        completion=1,  # type: ignore[arg-type]  # an int in a float field: sealed as 1.0
        quirks=("PW-10", "TRK-03"),
        verified_pieces=(0,),
        peer_id=b"",
    ),
    "observation-minimal": Observation(
        infohash="ab" * 20,
        ip="=1+2",
        port=6881,
        source="-tracker",
        started_us=0,
        ended_us=1,
        tier=Tier.LISTED,
        failure_detail="@x",
    ),
    "sighting": Sighting("ab" * 20, "192.0.2.7", 6881, "tracker", "udp://t.example/a", T0),
    "sighting-peer-id": Sighting("ab" * 20, "::ffff:1.2.3.4", 65535, "pex", "", T0 + 1, b"\x00" * 20),
    "clock": ClockSample("127.0.0.1:11123", T0, offset_us=-1234, delay_us=250, stratum=8, leap=0),
    "clock-failed": ClockSample("[::1]:123", 1, error="timeout after 2 s"),
    "run": RunStarted(7, T0, "0.1.0", None, '{"dht":false,"ä":1}'),
    "run-commit": RunStarted(2**40, T0 + 5, "0.2.0", "0123abcd" * 5, "{}"),
    "attribution": Attribution(
        ip="127.0.1.5",
        observed_at_us=T0,
        asn=64500,
        as_org="Test Net",
        isp='Ünity "ISP"',
        country="DE",
        region="NRW",
        city="Köln",
        accuracy_radius_km=50,
        flags=("hosting", "vpn"),
        datasets=("ab" * 32, "cd" * 32),
    ),
    "attribution-empty": Attribution(ip="::1", observed_at_us=0),
    "redaction": Redaction(
        'ip_evidence_days=30 "ü"',
        T0 + 3,
        (
            RedactedEntry("ab" * 32, 0, "observation", bytes(range(32))),
            RedactedEntry("cd" * 32, 2**40, "attribution", b"\xff" * 32),
        ),
    ),
    "redaction-empty": Redaction("", 0),
    "workflow-event": WorkflowEvent("DOE-000001", "letter_approved", T0 + 4, bytes(range(32))),
}

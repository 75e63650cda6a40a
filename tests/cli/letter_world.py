"""The letters world shared by the letter, payment and escalation tests.

A fresh store (open_store, a fresh Ed25519 node key beside it), a swarm with its .torrent, the sealed
verified hits of its cases, a client and work, an ISP, the sealed attributions and the work/torrent link
that prove each case's ISP, region/city and work (:func:`tests.cases.evidence.prove_case_inputs`), three
cases passed through request → identify by a real ``import_disclosure`` with an identity key (DOE-000001
and -000003 have e-mail, DOE-000002 has postal address only); helpers to draft, approve and send their
letters.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import swarmscope.cli.letters  # noqa: F401  (registers the letters commands)
from swarmscope.cases import letter_settings as LS
from swarmscope.cases import letters as L
from swarmscope.cases.identities import Identity, IdentityKey, write_key_file
from swarmscope.cases.letter_flow import approve_letter, draft_letters
from swarmscope.cases.letter_send import Delivery, SentLetter, send_letter
from swarmscope.cases.requests import record_disclosure
from swarmscope.cases.thresholds import Candidate
from swarmscope.cases.workflow import CaseEvent, next_case_status
from swarmscope.evidence.records import Observation, Source, Tier
from swarmscope.store.database import Store, open_store
from swarmscope.store.legal import case_status
from swarmscope.store.legal import cases as case_store
from swarmscope.store.legal import letters as letter_store
from swarmscope.store.legal.disclosure_match import DisclosureRow
from swarmscope.store.legal.subscribers import import_disclosure
from swarmscope.testbed.smtp import SmtpServer
from swarmscope.wire.bencode import encode
from tests.cases.evidence import Place, node_key_for, prove_case_inputs

T0 = 1_780_000_000_000_000  # 2026-05-28 UTC
HOUR, DAY = 3_600 * 1_000_000, 86_400 * 1_000_000
TORRENT_INFO = encode(  # the stored .torrent: 8 pieces of 256 KiB, the last one short
    {b"name": b"example-film.mkv", b"length": 2_000_000, b"piece length": 262_144, b"pieces": b"\1" * 160}
)
TORRENT = b"d4:info" + TORRENT_INFO + b"e"
INFOHASH = hashlib.sha1(TORRENT_INFO).hexdigest()  # BEP 3: what a letter may name the torrent by
IDENTITIES = {
    "127.0.0.11": Identity("Alex Sample", "1 First Street\n10115 Berlin", "alex@example.test"),
    "127.0.0.12": Identity("Blake Sample", "2 Second Street\n10117 Berlin", None),
    "127.0.0.13": Identity("Casey Sample", "3 Third Street\n10119 Berlin", "casey@example.test"),
}
SETTINGS = LS.load_settings(L.TEMPLATES / "settings.example.toml", {})


@dataclass
class World:
    db: Path
    store: Store
    key: IdentityKey
    key_file: Path
    dois: list[str]


def _hits() -> list[Observation]:
    """The sealed verified hits behind case n (1..3): 3 + n hits from port 6881 + n over three hours."""
    out = []
    for n, ip in enumerate(IDENTITIES, start=1):
        first, count = T0 - 10 * DAY + n * HOUR, 3 + n
        for k in range(count):
            start = first + k * 3 * HOUR // (count - 1)
            out.append(
                Observation(INFOHASH, ip, 6881 + n, Source.TRACKER.value, start, start + 4_000_000,
                            Tier.VERIFIED, verified_pieces=(0,), bytes_received=262_144)
            )  # fmt: skip
    return out


def build_world(tmp_path: Path, *, sealed_identities: bool = True) -> World:
    """A store with three identified cases (see the module docstring); ``sealed_identities``: identified
    as ``subscribers import`` does it, each identification sealed (:func:`swarmscope.cases.requests.
    record_disclosure`; False: by the store alone, as someone without the node key would: every letter
    gate refuses those cases)."""
    db = tmp_path / "evidence.db"
    store = open_store(str(db), node_key=node_key_for(db), now_us=T0)
    store.add_swarm(INFOHASH, INFOHASH, None, "example-film.mkv", 8, 262_144, 2_000_000, TORRENT, None, T0)
    run_id = store.start_run({}, "0.1.0", T0 - 11 * DAY)
    store.commit_evidence(run_id, records=_hits(), sealed_at_us=T0 - DAY)
    work_id = case_store.add_work(store, "Example Rights Ltd", "The Example Film", "PA-1-234", None, T0)
    isp_id = case_store.add_isp(store, "Loopback Telecom", [64500], "abuse@isp.test", "1 ISP Way", "DE", T0)
    places = [
        Place(ip, T0 - 10 * DAY + n * HOUR, 64500, "Berlin", "Berlin") for n, ip in enumerate(IDENTITIES, 1)
    ]
    prove_case_inputs(store, run_id, places, work_id=work_id, infohash=INFOHASH, sealed_at_us=T0 - DAY)
    key = IdentityKey.generate()
    key_file = tmp_path / "identity.key"
    write_key_file(key_file, key)
    rows, dois = [], []
    for n, ip in enumerate(IDENTITIES, start=1):
        first = T0 - 10 * DAY + n * HOUR
        candidate = Candidate(ip, INFOHASH, 6881 + n, first, first + 3 * HOUR, 3 + n)
        case = case_status.upsert_case(store, candidate, work_id, isp_id, "Berlin", "Berlin", T0)
        case_status.set_case_status(
            store, case.id, CaseEvent.REQUEST, "counsel", None, T0, rule=next_case_status
        )
        rows.append(DisclosureRow(n, ip, first - HOUR, first + 4 * HOUR, IDENTITIES[ip]))
        dois.append(case.doe)
    if sealed_identities:
        report = record_disclosure(
            store, key, rows, "00" * 32, isp=None, actor="clerk", partial=False, now_us=T0
        )
    else:
        report = import_disclosure(
            store, key, rows, source_sha256="00" * 32, actor="clerk", now_us=T0, rule=next_case_status
        )
    assert len(report.imported) == 3, report.problems
    return World(db, store, key, key_file, dois)


def open_world(tmp_path: Path) -> Iterator[World]:
    """:func:`build_world` under ``tmp_path``, its store closed afterwards; a fixture body."""
    world = build_world(tmp_path)
    try:
        yield world
    finally:
        world.store.close()


def pdf_text(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / f"{hashlib.sha256(pdf).hexdigest()[:12]}.pdf"
    path.write_bytes(pdf)
    done = subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, timeout=60, check=True
    )
    return " ".join(done.stdout.decode().split())


def status(world: World, doe: str) -> str:
    return case_status.get_case(world.store, doe).status


def draft_approve(world: World, doe: str, now_us: int = T0) -> letter_store.LetterRow:
    draft_letters(world.store, SETTINGS, [doe], "counsel", now_us)
    return approve_letter(world.store, doe, "alice", now_us + 1)


def send(world: World, doe: str, smtp: SmtpServer | None, out: Path | None, now_us: int) -> SentLetter:
    delivery = Delivery(smtp.host if smtp else None, smtp.port if smtp else 25, out, timeout=30.0)
    return send_letter(world.store, doe, world.key, {}, delivery, "alice", now_us)

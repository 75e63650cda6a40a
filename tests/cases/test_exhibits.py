"""Exhibits from a real store: CSV content, the PDF's text (pdftotext), the footer hash, disclosure requests.

The store is a fresh SQLite file with a fresh Ed25519 node key; verified observations are sealed with
``commit_evidence``; clients, works, ISPs and cases are inserted through the schema tables (the rows
``store/legal/cases.py`` writes), each case's ISP, region/city and work backed by a sealed attribution
and a work/torrent link (:func:`tests.cases.evidence.prove_case_inputs`). :func:`build_world` is shared
with the notice tests.
"""

from __future__ import annotations

import csv
import hashlib
import io
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from swarmscope.cases.case_proof import ProvenCaseHits
from swarmscope.cases.exhibits import (
    COLUMNS,
    build_exhibits,
    case_proofs,
    csv_cell,
    produce_exhibits,
    render_csv,
    render_html,
    render_pdf,
)
from swarmscope.evidence.records import BlockProof, Observation, Source, Tier
from swarmscope.store.database import Store, open_store
from swarmscope.store.ledger.proven import store_trust
from swarmscope.store.legal.notices import CaseDocument, case_documents
from swarmscope.store.legal.schema import client, disclosure_event, disclosure_request, isp, legal_case, work
from swarmscope.wire.bencode import encode
from tests.cases.evidence import Place, node_key_for, prove_case_inputs

T0 = 1_796_000_000_000_000  # 2026-11-30T00:53:20Z, UTC µs
HOUR = 3_600_000_000
HOSTILE_NAME = '=HYPERLINK("http:x")<script>alert(1)<script>.torrent'  # no "/": a torrent name holds none
TORRENT_INFO = encode(  # the work's stored .torrent: 8 pieces of 32 KiB, the last 100 bytes short
    {
        b"name": HOSTILE_NAME.encode(),
        b"length": 8 * 32768 - 100,
        b"piece length": 32768,
        b"pieces": b"\1" * 160,
    }
)
TORRENT = b"d4:info" + TORRENT_INFO + b"e"
IH = hashlib.sha1(TORRENT_INFO).hexdigest()  # BEP 3: the SHA-1 of the bencoded info dict
HOSTILE_REGION = "<b>Nord</b> & -1+1"


@dataclass(frozen=True)
class World:
    """A populated store: two ISPs (one with a hostile name), three cases, verified hits for each."""

    db: Path
    isp_ids: dict[str, int]
    case_ids: dict[str, int]


BLOCK = BlockProof(5, 16384, 16384, bytes(range(32)))  # piece 5, second 16 KiB block
PIECE_3 = "piece 3 (32,768 bytes, SHA-1 of the piece matched the torrent)"
BLOCK_5 = (
    "block at offset 16,384 of piece 5 (16,384 bytes, SHA-256 matched a piece already checked against the"
    " torrent)"
)
LAST_PIECE = "piece 7 (32,668 bytes, SHA-1 of the piece matched the torrent)"  # 8 * 32768 - 100 bytes in all
DOE1_PROOFS = (  # what each of DOE-000001's three hits proved: a whole piece, one block, the short last piece
    f"2026-11-30T00:53:20.000000Z: {PIECE_3}; 2026-11-30T01:53:20.000000Z: {BLOCK_5}; "
    f"2026-11-30T02:53:20.000000Z: {LAST_PIECE}"
)


def _proof(ip: str, k: int) -> dict[str, object]:
    """DOE-000001 (127.0.0.11): piece 3, then a block proof, then the last piece; the others piece 3."""
    if ip == "127.0.0.11" and k == 1:
        return {"verified_blocks": (BLOCK,), "bytes_received": 16384}
    if ip == "127.0.0.11" and k == 2:
        return {"verified_pieces": (7,), "bytes_received": 32668}
    return {"verified_pieces": (3,), "bytes_received": 32768}


def _verified(ip: str, port: int, start_us: int, k: int = 0) -> Observation:
    return Observation(
        infohash=IH,
        ip=ip,
        port=port,
        source=Source.TRACKER.value,
        started_us=start_us,
        ended_us=start_us + 5_000_000,
        tier=Tier.VERIFIED,
        client="Transmission",
        client_version="4.0.5",
        num_pieces=8,
        pieces_have=8,
        **_proof(ip, k),  # type: ignore[arg-type]
    )


def _insert(conn: sa.Connection, table: sa.Table, **values: object) -> int:
    key = conn.execute(sa.insert(table).values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


CASES = (  # doe, ip, port, isp, region, city
    ("DOE-000001", "127.0.0.11", 51413, "Loopback Telecom", "Bavaria", "Munich"),
    ("DOE-000002", "127.0.0.12", 6881, "Loopback Telecom", HOSTILE_REGION, None),
    ("DOE-000003", "127.0.0.21", 6882, "Other <ISP> & Co", None, None),
)
ASNS = {"Loopback Telecom": 64500, "Other <ISP> & Co": 64501}  # the ASN each ISP's directory entry lists


def build_world(db: Path, *, client_contact: str | None = "notices@rights.test") -> World:
    """Populate ``db``: swarm, run, three verified hits per case IP (sealed), client, work, ISPs, cases."""
    store = open_store(str(db), node_key=node_key_for(db), now_us=T0)
    try:
        store.add_swarm(IH, IH, None, HOSTILE_NAME, 8, 32768, 8 * 32768 - 100, TORRENT, None, T0)
        run_id = store.start_run({"test": True}, "0.1.0", T0)
        records = [_verified(ip, port, T0 + k * HOUR, k) for _doe, ip, port, *_ in CASES for k in range(3)]
        store.commit_evidence(run_id, records=records, sealed_at_us=T0 + 4 * HOUR)
        work_id, isp_ids, case_ids = _legal_rows(store, client_contact)
        places = [
            Place(ip, T0 - HOUR, ASNS[isp_name], region, city) for _d, ip, _p, isp_name, region, city in CASES
        ]
        prove_case_inputs(store, run_id, places, work_id=work_id, infohash=IH, sealed_at_us=T0 + 4 * HOUR)
        return World(db, isp_ids, case_ids)
    finally:
        store.close()


def _legal_rows(store: Store, client_contact: str | None) -> tuple[int, dict[str, int], dict[str, int]]:
    with store._write() as conn:
        client_id = _insert(conn, client, name="Rights Holder Films", contact=client_contact, added_us=T0)
        work_id = _insert(conn, work, client_id=client_id, title="The Work & <Title>", added_us=T0)
        isp_ids = {
            "Loopback Telecom": _insert(
                conn,
                isp,
                name="Loopback Telecom",
                asns=[ASNS["Loopback Telecom"]],
                abuse_email="abuse@loopback.test",
                added_us=T0,
            ),
            "Other <ISP> & Co": _insert(
                conn,
                isp,
                name="Other <ISP> & Co",
                asns=[ASNS["Other <ISP> & Co"]],
                abuse_email="abuse@other.test",
                added_us=T0,
            ),
        }
        case_ids = {}
        for doe, ip, port, isp_name, region, city in CASES:
            case_ids[doe] = _insert(
                conn,
                legal_case,
                doe=doe,
                ip=ip,
                port=port,
                infohash=IH,
                work_id=work_id,
                isp_id=isp_ids[isp_name],
                first_hit_us=T0,
                last_hit_us=T0 + 2 * HOUR,  # the start of the last hit, as a build records it
                hits=3,
                region=region,
                city=city,
                status="candidate",
                created_us=T0,
                status_us=T0,
            )
    return work_id, isp_ids, case_ids


@pytest.fixture
def world(tmp_path: Path) -> World:
    return build_world(tmp_path / "evidence.db")


@pytest.fixture
def store(world: World) -> Iterator[Store]:
    s = open_store(str(world.db), node_key=node_key_for(world.db), now_us=T0)
    try:
        yield s
    finally:
        s.close()


def pdf_text(path: Path) -> str:
    """The PDF's text by poppler's ``pdftotext`` (bounded: 60 s)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    done = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, timeout=60, check=True)
    return done.stdout.decode("utf-8")


# --- CSV ---------------------------------------------------------------------------------------------------

CELLS = (  # (cell, as written)
    ("=1+1", "'=1+1"),
    ("+SUM(A1)", "'+SUM(A1)"),
    ("-2", "'-2"),
    ("@cmd", "'@cmd"),
    ("\t=x", "'\t=x"),
    ("\r=x", "'\r=x"),
    ("plain", "plain"),
    ("a=b", "a=b"),
    ("", ""),
    ("127.0.0.1", "127.0.0.1"),
)


@pytest.mark.parametrize(("cell", "written"), CELLS)
def test_csv_cells_never_start_a_formula(cell: str, written: str) -> None:
    assert csv_cell(cell) == written


def test_csv_round_trips_hostile_cells_with_crlf_and_header() -> None:
    line = (
        "DOE-1",
        "127.0.0.1",
        "1",
        "t1",
        "t2",
        "3",
        IH,
        HOSTILE_NAME,
        'x "quoted",\nnewline',
        "ISP",
        "",
        "",
    )
    data = render_csv([line])
    assert data.startswith(",".join(f'"{c}"' if "," in c else c for c in COLUMNS).encode() + b"\r\n")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows[0] == list(COLUMNS)
    assert rows[1][7] == "'" + HOSTILE_NAME
    assert rows[1][8] == 'x "quoted",\nnewline'


def test_exhibit_csv_lines_from_the_store(store: Store) -> None:
    docs = case_documents(store)
    exhibits = build_exhibits(
        docs, proofs=case_proofs(store, ProvenCaseHits(store, store_trust(store, None)), docs)
    )
    assert [e.isp for e in exhibits] == ["Loopback Telecom", "Other <ISP> & Co"]
    rows = list(csv.reader(io.StringIO(exhibits[0].csv_bytes.decode("utf-8"), newline="")))
    assert rows[0] == list(COLUMNS)
    assert rows[1] == [
        "DOE-000001",
        "127.0.0.11",
        "51413",
        "2026-11-30T00:53:20.000000Z",
        "2026-11-30T02:53:20.000000Z",
        "3",
        IH,
        "'" + HOSTILE_NAME,
        "The Work & <Title>",
        "Loopback Telecom",
        "Bavaria",
        "Munich",
        DOE1_PROOFS,
    ]
    assert rows[2][0] == "DOE-000002" and rows[2][10] == HOSTILE_REGION and rows[2][11] == ""
    assert rows[2][12].count(PIECE_3) == 3 and "block" not in rows[2][12]
    assert len(rows) == 3
    assert exhibits[0].sha256 == hashlib.sha256(exhibits[0].csv_bytes).hexdigest()


def test_by_region_splits_and_names_unknown(store: Store) -> None:
    exhibits = build_exhibits(case_documents(store), by_region=True)
    titles = [(e.isp, e.region, [line[0] for line in e.lines]) for e in exhibits]
    assert titles == [
        ("Loopback Telecom", HOSTILE_REGION, ["DOE-000002"]),
        ("Loopback Telecom", "Bavaria", ["DOE-000001"]),
        ("Other <ISP> & Co", "unknown", ["DOE-000003"]),
    ]
    assert all(e.stem.replace("-", "").replace("_", "").isalnum() for e in exhibits)
    assert len({e.stem for e in exhibits}) == 3


def test_html_escapes_hostile_names(store: Store) -> None:
    exhibit = build_exhibits(case_documents(store))[0]
    html = render_html(exhibit, T0)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;script&gt;" in html
    assert "<b>Nord</b>" not in html and "&lt;b&gt;Nord&lt;/b&gt;" in html
    assert f'content: "Exhibit CSV SHA-256: {exhibit.sha256}"' in html


# --- PDF + disclosure request ------------------------------------------------------------------------------


def test_produce_exhibits_pdf_text_footer_and_request(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "exhibits"
    written = produce_exhibits(store, out, actor="counsel", now_us=T0 + 5 * HOUR)
    assert len(written) == 2
    first = written[0]
    assert first.csv_path.read_bytes() == first.exhibit.csv_bytes
    digest = hashlib.sha256(first.csv_path.read_bytes()).hexdigest()
    text = pdf_text(first.pdf_path)
    pages = text.split("\f")
    pages = [p for p in pages if p.strip()]
    assert pages and all(digest in page for page in pages)
    assert all(f"Page {n} of {len(pages)}" in page for n, page in enumerate(pages, 1))
    assert "IP address associated with a subscriber account" in text.replace("\n", " ")
    assert "(advisory)" in text and "advisory geolocation" in text
    assert "subscriber downloaded" not in text and "you downloaded" not in text.lower()
    assert "DOE-000001" in text and "127.0.0.11" in text and "Munich" in text
    assert "alert(1)" in text and "&lt;" not in text and "&amp;" not in text  # text, escaped once
    flat = " ".join(text.split())
    for proof in (PIECE_3, BLOCK_5, LAST_PIECE):  # what each hit proved, read back from the PDF
        assert proof in flat, proof
    assert "received a piece from that address and its hash matched" not in flat  # the old overstatement
    with store.engine.connect() as conn:
        requests = conn.execute(sa.select(disclosure_request).order_by(disclosure_request.c.id)).all()
        events = conn.execute(sa.select(disclosure_event)).all()
        links = dict(conn.execute(sa.select(legal_case.c.doe, legal_case.c.request_id)).all())
    assert [(r.isp_id, r.region, r.status, r.exhibit_sha256) for r in requests] == [
        (w.exhibit.isp_id, None, "drafted", w.exhibit.sha256) for w in written
    ]
    assert [(e.status, e.actor) for e in events] == [("drafted", "counsel"), ("drafted", "counsel")]
    assert links == {"DOE-000001": requests[0].id, "DOE-000002": requests[0].id, "DOE-000003": requests[1].id}


def test_rerun_updates_the_drafted_request(store: Store, tmp_path: Path) -> None:
    first = produce_exhibits(store, tmp_path / "a", isp_name="Loopback Telecom", actor="a", now_us=T0)
    with store._write() as conn:
        conn.execute(sa.update(legal_case).where(legal_case.c.doe == "DOE-000002").values(hits=4))
    second = produce_exhibits(store, tmp_path / "b", isp_name="Loopback Telecom", actor="a", now_us=T0 + 1)
    assert len(first) == len(second) == 1
    assert first[0].request_id == second[0].request_id
    assert first[0].exhibit.sha256 != second[0].exhibit.sha256
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(disclosure_request)).one()
    assert row.exhibit_sha256 == second[0].exhibit.sha256


def test_served_request_is_not_touched(store: Store, tmp_path: Path) -> None:
    first = produce_exhibits(store, tmp_path / "a", isp_name="Loopback Telecom", actor="a", now_us=T0)
    with store._write() as conn:
        conn.execute(sa.update(disclosure_request).values(status="served"))
    second = produce_exhibits(store, tmp_path / "b", isp_name="Loopback Telecom", actor="a", now_us=T0 + 1)
    assert second[0].request_id != first[0].request_id
    with store.engine.connect() as conn:
        served = conn.execute(
            sa.select(disclosure_request).where(disclosure_request.c.id == first[0].request_id)
        ).one()
    assert served.status == "served" and served.exhibit_sha256 == first[0].exhibit.sha256


def test_no_open_case_no_exhibit(store: Store, tmp_path: Path) -> None:
    with store._write() as conn:
        conn.execute(sa.update(legal_case).values(status="withdrawn"))
    assert produce_exhibits(store, tmp_path / "x", actor="a", now_us=T0) == []


def test_many_pages_each_numbered_with_the_hash(tmp_path: Path) -> None:
    docs = [
        CaseDocument(
            n,
            f"DOE-{n:06d}",
            f"127.0.{n // 250}.{n % 250 + 1}",
            6881,
            IH,
            T0,
            T0 + 2 * HOUR,
            3,
            "R",
            "C",
            "candidate",
            1,
            "Loopback Telecom",
            "abuse@loopback.test",
            "Work",
            "Client",
            None,
            "name.iso",
            1,
        )
        for n in range(1, 121)
    ]
    (exhibit,) = build_exhibits(docs)
    path = tmp_path / "big.pdf"
    path.write_bytes(render_pdf(exhibit, T0))
    pages = [p for p in pdf_text(path).split("\f") if p.strip()]
    assert len(pages) >= 3
    for n, page in enumerate(pages, 1):
        assert f"Page {n} of {len(pages)}" in page
        assert exhibit.sha256 in page
    assert "DOE-000120" in pages[-1]

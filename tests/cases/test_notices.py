"""ACNS notices: XML validated against the real 1.2 schema (imports resolved locally), broken ones rejected,
hostile text escaped, the e-mail body (text then XML), rows recorded from a real store."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from lxml import etree

from swarmscope.cases.acns import (
    ACNS_NS,
    Complainant,
    NoticeError,
    build_notice_xml,
    extract_xml,
    load_schema,
    validate_notice,
)
from swarmscope.cases.hit_proofs import torrent_pieces
from swarmscope.cases.notices import (
    load_complainant,
    notice_message,
    prepare_notices,
    render_notice_text,
)
from swarmscope.errors import InputError
from swarmscope.store.database import Store, open_store
from swarmscope.store.legal.notices import CaseDocument, HitWindow, SwarmPieces, notice_rows
from tests.cases.evidence import node_key_for
from tests.cases.test_exhibits import (
    BLOCK_5,
    HOSTILE_NAME,
    HOUR,
    IH,
    LAST_PIECE,
    PIECE_3,
    T0,
    World,
    build_world,
)
from tests.conftest import SHARED

ACNS_DIR = SHARED / "specs" / "acns"  # ../shared, or SWARMSCOPE_SHARED
XSD = ACNS_DIR / "1.2-acns.xsd"
NS = {"a": ACNS_NS}


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    if not XSD.is_file():
        pytest.skip(f"ACNS schema not found at {XSD} (../shared/specs/acns relative to the project)")
    return load_schema(XSD)


DOC = CaseDocument(
    case_id=1,
    doe="DOE-000001",
    ip="127.0.0.11",
    port=51413,
    infohash=IH,
    first_hit_us=T0,
    last_hit_us=T0 + 2 * HOUR,
    hits=3,
    region="Bavaria",
    city="Munich",
    status="candidate",
    isp_id=1,
    isp_name="Loopback Telecom",
    abuse_email="abuse@loopback.test",
    work_title="The Work",
    client_name="Rights Holder Films",
    client_contact="notices@rights.test",
    torrent_name="the.work.2026.mkv",
    total_size=4_500_000_000,  # > 2**31: ACNS Infringement FileSize is xs:nonNegativeInteger
)
WINDOWS = [
    HitWindow(T0 + k * HOUR, T0 + k * HOUR + 5_000_000, 51413, "Transmission", "4.0.5") for k in range(3)
]
SENDER = Complainant("Rights Holder Films", "notices@rights.test", contact="Legal", phone="+1 555 0100")


def test_sample_from_the_spec_directory_validates_with_local_imports(schema: etree.XMLSchema) -> None:
    root = etree.fromstring((ACNS_DIR / "1.2-full.xml").read_bytes())
    # The sample's one flaw: its xsi namespace is misspelled ("XMLSchemainstance"), so schemaLocation is an
    # undeclared attribute. Without it the sample is valid against the schema loaded with local imports.
    assert not schema.validate(root)
    assert "schemaLocation" in str(schema.error_log)
    del root.attrib["{http://www.w3.org/2001/XMLSchemainstance}schemaLocation"]
    assert schema.validate(root), schema.error_log


def test_notice_validates_and_carries_the_fields(schema: etree.XMLSchema) -> None:
    xml = build_notice_xml(DOC, WINDOWS, SENDER, "SWS-DOE-000001")
    validate_notice(schema, xml)
    root = etree.fromstring(xml)
    assert root.tag == f"{{{ACNS_NS}}}Infringement"

    def text(path: str) -> str:
        found = root.find(path, NS)
        assert found is not None, path
        return found.text or ""

    assert text("a:Case/a:ID") == "SWS-DOE-000001"
    assert text("a:Complainant/a:Entity") == "Rights Holder Films"
    assert text("a:Complainant/a:Email") == "notices@rights.test"
    assert text("a:Service_Provider/a:Entity") == "Loopback Telecom"
    assert text("a:Service_Provider/a:Email") == "abuse@loopback.test"
    assert text("a:Source/a:TimeStamp") == "2026-11-30T00:53:20.000000Z"
    assert text("a:Source/a:IP_Address") == "127.0.0.11"
    assert text("a:Source/a:Port") == "51413"
    assert text("a:Source/a:Type") == "BITTORRENT"
    sub = root.find("a:Source/a:SubType", NS)
    assert sub is not None and dict(sub.attrib) == {
        "BaseType": "P2P",
        "Protocol": "BITTORRENT",
        "Application": "Transmission 4.0.5",
    }
    also = root.findall("a:Content/a:Item/a:AlsoSeen", NS)
    assert [(a.get("Start"), a.get("End")) for a in also] == [
        ("2026-11-30T00:53:20.000000Z", "2026-11-30T00:53:25.000000Z"),
        ("2026-11-30T01:53:20.000000Z", "2026-11-30T01:53:25.000000Z"),
        ("2026-11-30T02:53:20.000000Z", "2026-11-30T02:53:25.000000Z"),
    ]
    assert text("a:Content/a:Item/a:Title") == "The Work"
    assert text("a:Content/a:Item/a:FileName") == "the.work.2026.mkv"
    assert text("a:Content/a:Item/a:FileSize") == "4500000000"
    hash_element = root.find("a:Content/a:Item/a:Hash", NS)
    assert hash_element is not None and hash_element.get("Type") == "SHA1" and hash_element.text == IH.upper()


def test_notice_is_deterministic() -> None:
    assert build_notice_xml(DOC, WINDOWS, SENDER, "X-1") == build_notice_xml(DOC, WINDOWS, SENDER, "X-1")


def test_v2_swarm_hash_is_sha256(schema: etree.XMLSchema) -> None:
    doc = dataclasses.replace(DOC, infohash="c3" * 32, work_title=None, total_size=None, torrent_name=None)
    xml = build_notice_xml(doc, [], SENDER, "X-2")
    validate_notice(schema, xml)
    root = etree.fromstring(xml)
    assert root.find("a:Content/a:Item/a:Hash", NS).get("Type") == "SHA256"
    assert root.find("a:Content/a:Item/a:FileName", NS).text == "c3" * 32
    assert root.find("a:Source/a:SubType", NS).get("Application") is None


BROKEN = (  # (what is broken, xpath to remove or edit, lxml's complaint)
    ("no Service_Provider e-mail", "a:Service_Provider/a:Email", "Email"),
    ("no Case ID", "a:Case/a:ID", "ID"),
    ("no FileName", "a:Content/a:Item/a:FileName", "FileName"),
)


@pytest.mark.parametrize(("what", "xpath", "named"), BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_notice_is_rejected_with_lxml_error(
    schema: etree.XMLSchema, what: str, xpath: str, named: str
) -> None:
    root = etree.fromstring(build_notice_xml(DOC, WINDOWS, SENDER, "X-3"))
    element = root.find(xpath, NS)
    assert element is not None
    element.getparent().remove(element)
    with pytest.raises(NoticeError, match=f"does not validate.*{named}"):
        validate_notice(schema, etree.tostring(root))


@pytest.mark.parametrize(
    ("xpath", "value", "named"),
    [("a:Source/a:Port", "70000", "Port"), ("a:Source/a:TimeStamp", "yesterday", "TimeStamp")],
)
def test_bad_values_are_rejected(schema: etree.XMLSchema, xpath: str, value: str, named: str) -> None:
    root = etree.fromstring(build_notice_xml(DOC, WINDOWS, SENDER, "X-4"))
    root.find(xpath, NS).text = value
    with pytest.raises(NoticeError, match=named):
        validate_notice(schema, etree.tostring(root))


def test_not_xml_is_rejected(schema: etree.XMLSchema) -> None:
    with pytest.raises(NoticeError, match="not well-formed"):
        validate_notice(schema, b"<Infringement")


def test_schema_never_fetches_other_urls(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xsd"
    bad.write_text(
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema">'
        '<xs:import namespace="urn:x" schemaLocation="http://example.invalid/x.xsd"/></xs:schema>'
    )
    with pytest.raises(NoticeError, match=r"refusing to fetch|example\.invalid"):
        load_schema(bad)
    with pytest.raises(NoticeError, match="ACNS schema"):
        load_schema(tmp_path / "missing.xsd")


def test_hostile_text_is_escaped_and_control_characters_replaced(schema: etree.XMLSchema) -> None:
    hostile = dataclasses.replace(
        DOC,
        torrent_name="<?xml version='1.0'?><Infringement>\x01</Infringement>\nFake: line",
        work_title="A & B </Title>",
        isp_name="ISP\x07 <x>",
    )
    xml = build_notice_xml(hostile, WINDOWS, SENDER, "X-5")
    validate_notice(schema, xml)
    root = etree.fromstring(xml)
    assert root.find("a:Content/a:Item/a:Title", NS).text == "A & B </Title>"
    assert "\ufffd" in root.find("a:Service_Provider/a:Entity", NS).text
    text = render_notice_text(hostile, WINDOWS, SENDER, "X-5")
    assert "\x01" not in text and "\x07" not in text and "\nFake: line" not in text
    message = notice_message(text, xml, notice_id="X-5", sender="n@rights.test", to="abuse@loopback.test")
    body = message.get_content()
    assert body.index("<?xml version='1.0'?><Infringement>") < body.rindex("<?xml")
    assert extract_xml(body) == xml.rstrip()
    validate_notice(schema, extract_xml(body))


def test_text_wording_and_order() -> None:
    xml = build_notice_xml(DOC, WINDOWS, SENDER, "SWS-DOE-000001")
    text = render_notice_text(DOC, WINDOWS, SENDER, "SWS-DOE-000001")
    assert "IP address associated with a subscriber account" in text
    assert "downloaded" not in text
    for fact in (
        "127.0.0.11",
        "51413",
        "2026-11-30T00:53:20.000000Z",
        IH.upper(),
        "the.work.2026.mkv",
        "The Work",
    ):
        assert fact in text
    message = notice_message(text, xml, notice_id="SWS-DOE-000001", sender="n@rights.test", to="abuse@l.test")
    body = message.get_content()
    assert body.index("Case ID SWS-DOE-000001") < body.index("<?xml")
    assert message["Subject"] == "Notice of claimed infringement - Case ID SWS-DOE-000001"
    assert message["X-ACNS-Case-ID"] == "SWS-DOE-000001"


@pytest.mark.parametrize("address", ["no-at-sign", "a@b.test\r\nBcc: x@y.test"])
def test_bad_addresses_are_refused(address: str) -> None:
    with pytest.raises(NoticeError, match="not an e-mail address"):
        notice_message("t", b"<x/>", notice_id="X", sender="n@rights.test", to=address)


def test_extract_xml_without_xml() -> None:
    with pytest.raises(NoticeError, match="no ACNS"):
        extract_xml("just text")


def test_complainant_file(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[complainant]\nentity = "Films"\nemail = "n@films.test"\nphone = "+1"\n')
    assert load_complainant(path) == Complainant("Films", "n@films.test", phone="+1")
    path.write_text('entity = "Films"\n')
    with pytest.raises(InputError, match="required"):
        load_complainant(path)
    path.write_text('entity = "F"\nemail = "e@f"\npassword = "x"\n')
    with pytest.raises(InputError, match="unknown keys"):
        load_complainant(path)
    path.write_text("entity = ")
    with pytest.raises(InputError, match="complainant file"):
        load_complainant(path)


# --- from a real store ------------------------------------------------------------------------------------


def _open(world: World) -> Store:
    return open_store(str(world.db), node_key=node_key_for(world.db), now_us=T0)


def test_prepare_notices_writes_validates_and_records(tmp_path: Path, schema: etree.XMLSchema) -> None:
    world = build_world(tmp_path / "e.db")
    store = _open(world)
    try:
        batch = prepare_notices(store, tmp_path / "out", now_us=T0 + 5 * HOUR, schema=schema)
        assert [n.notice_id for n in batch.notices] == ["SWS-DOE-000001", "SWS-DOE-000002", "SWS-DOE-000003"]
        assert batch.skipped == []
        first = batch.notices[0]
        assert first.xml_path.read_bytes() == first.xml
        validate_notice(schema, extract_xml(first.body_path.read_text(encoding="utf-8")))
        root = etree.fromstring(first.xml)
        assert len(root.findall("a:Content/a:Item/a:AlsoSeen", NS)) == 3
        also = [a.text for a in root.findall("a:Content/a:Item/a:AlsoSeen", NS)]
        assert also == [PIECE_3, BLOCK_5, LAST_PIECE]  # DOE-000001: a piece, a block, the short last piece
        lines = [f"  2026-11-30T0{k}:53:20.000000Z: {p}" for k, p in enumerate(also)]
        assert "\n".join(lines) in first.text
        assert "received a piece of the torrent from that" not in " ".join(first.text.split())
        assert root.find("a:Content/a:Item/a:FileName", NS).text == HOSTILE_NAME
        assert root.find("a:Complainant/a:Email", NS).text == "notices@rights.test"
        rows = notice_rows(store)
        assert [(r.notice_id, r.to_address, r.sent_us) for r in rows] == [
            ("SWS-DOE-000001", "abuse@loopback.test", None),
            ("SWS-DOE-000002", "abuse@loopback.test", None),
            ("SWS-DOE-000003", "abuse@other.test", None),
        ]
        import hashlib

        assert rows[0].xml_sha256 == hashlib.sha256(first.xml).hexdigest()
        again = prepare_notices(store, tmp_path / "out2", now_us=T0 + 6 * HOUR, isp_name="Loopback Telecom")
        assert [n.notice_id for n in again.notices] == ["SWS-DOE-000001", "SWS-DOE-000002"]
        assert len(notice_rows(store)) == 3  # stable ids: refreshed, not duplicated
    finally:
        store.close()


def test_case_without_complainant_email_is_skipped(tmp_path: Path) -> None:
    world = build_world(tmp_path / "e.db", client_contact="Legal department, 1 Main St")
    store = _open(world)
    try:
        batch = prepare_notices(store, tmp_path / "out", now_us=T0)
        assert batch.notices == [] and len(batch.skipped) == 3
        assert "no complainant e-mail" in batch.skipped[0][1]
        override = Complainant("Agent Ltd", "agent@agent.test")
        batch = prepare_notices(store, tmp_path / "out", now_us=T0, complainant=override)
        assert len(batch.notices) == 3
    finally:
        store.close()


PIECE_AND_BLOCK = [
    HitWindow(T0, T0 + 5_000_000, 51413, "Transmission", "4.0.5", verified_pieces=(2,)),
    HitWindow(T0 + HOUR, T0 + HOUR + 5_000_000, 51413, None, None, verified_blocks=((4, 32768, 16384),)),
    HitWindow(T0 + 2 * HOUR, T0 + 2 * HOUR + 1, 51413, None, None, (1,), ((6, 0, 16384),)),
]
# swarm rows without metainfo: their unsealed sizes and v1/v2 columns are never stated (length unknown,
# the hash named from the 40-digit infohash: SHA-1)
V1_ROW = SwarmPieces(IH, None, 10, 262_144, 2_500_000, None)
HYBRID_ROW = SwarmPieces(IH, "c3" * 32, 10, 262_144, 2_621_440, None)


def test_each_hit_says_whether_a_piece_or_a_block_was_proven(schema: etree.XMLSchema) -> None:
    xml = build_notice_xml(DOC, PIECE_AND_BLOCK, SENDER, "SWS-DOE-000001", torrent_pieces(V1_ROW, IH))
    validate_notice(schema, xml)  # AlsoSeen text is allowed by the ACNS 1.2 schema (type_AlsoSeen)
    also = etree.fromstring(xml).findall("a:Content/a:Item/a:AlsoSeen", NS)
    piece = "piece 2 (length unknown, SHA-1 of the piece matched the torrent)"
    block = (
        "block at offset 32,768 of piece 4 (16,384 bytes, SHA-256 matched a piece already checked against "
        "the torrent)"
    )
    both = (
        "piece 1 (length unknown, SHA-1 of the piece matched the torrent) and block at offset 0 of piece 6 "
        "(16,384 bytes, SHA-256 matched a piece already checked against the torrent)"
    )
    assert [a.text for a in also] == [piece, block, both]
    text = render_notice_text(DOC, PIECE_AND_BLOCK, SENDER, "SWS-DOE-000001", torrent_pieces(V1_ROW, IH))
    assert f"  2026-11-30T00:53:20.000000Z: {piece}\n  2026-11-30T01:53:20.000000Z: {block}\n" in text
    assert f"  2026-11-30T02:53:20.000000Z: {both}\n" in text


def test_piece_wording_names_the_hashes_the_torrent_carries(schema: etree.XMLSchema) -> None:
    last = HitWindow(T0, T0 + 1, 51413, None, None, verified_pieces=(9,))
    v1 = build_notice_xml(DOC, [last], SENDER, "X-6", torrent_pieces(V1_ROW, IH))
    hybrid = build_notice_xml(DOC, [last], SENDER, "X-7", torrent_pieces(HYBRID_ROW, IH))
    texts = [etree.fromstring(x).find("a:Content/a:Item/a:AlsoSeen", NS).text for x in (v1, hybrid)]
    assert texts == [
        "piece 9 (length unknown, SHA-1 of the piece matched the torrent)",
        "piece 9 (length unknown, SHA-1 of the piece matched the torrent)",  # its v2 column is not sealed
    ]
    for xml in (v1, hybrid):
        validate_notice(schema, xml)


def test_intro_says_pieces_or_blocks_as_the_hits_proved() -> None:
    only_blocks = [w for w in PIECE_AND_BLOCK if not w.verified_pieces]
    only_pieces = [HitWindow(T0, T0 + 1, 51413, None, None, verified_pieces=(2,))]

    def intro(windows: list[HitWindow]) -> str:
        text = render_notice_text(DOC, windows, SENDER, "X-8", torrent_pieces(V1_ROW, IH))
        return " ".join(text.split("\n\n")[2].split())  # the intro paragraph, lines joined

    assert "observed offering verified blocks of pieces of a torrent" in intro(only_blocks)
    assert "verified pieces" not in intro(only_blocks)  # a block proof is never called a piece
    assert "observed offering verified pieces of a torrent" in intro(only_pieces)
    assert "observed offering verified pieces and blocks of pieces of a torrent" in intro(PIECE_AND_BLOCK)
    assert "observed offering data of a torrent" in intro(WINDOWS)  # hits that recorded no proof

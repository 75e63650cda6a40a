"""Notices delivered to a real SMTP server (aiosmtpd) on loopback, parsed on arrival, XML re-validated;
a server that is down leaves nothing marked sent; a sent notice is never sent twice."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from lxml import etree

from swarmscope.cases.acns import extract_xml, load_schema, validate_notice
from swarmscope.cases.notices import notice_message, prepare_notices, send_notices
from swarmscope.store.database import open_store
from swarmscope.store.legal.notices import notice_rows
from swarmscope.testbed.smtp import start_smtp
from tests.cases.evidence import node_key_for
from tests.cases.test_exhibits import T0, build_world
from tests.cases.test_notices import NS, XSD


class FixedClock:
    """``now_us()`` at a fixed instant (the send time recorded in ``notice.sent_us``)."""

    def __init__(self, now_us: int) -> None:
        self.value = now_us

    def now_us(self) -> int:
        return self.value


@pytest.fixture(scope="module")
def schema() -> etree.XMLSchema:
    if not XSD.is_file():
        pytest.skip(f"ACNS schema not found at {XSD}")
    return load_schema(XSD)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_notices_arrive_parsed_and_validate(tmp_path: Path, schema: etree.XMLSchema) -> None:
    world = build_world(tmp_path / "e.db")
    store = open_store(str(world.db), node_key=node_key_for(world.db), now_us=T0)
    try:
        batch = prepare_notices(store, tmp_path / "out", now_us=T0, schema=schema)
        with start_smtp() as server:
            deliveries = await send_notices(
                store, batch.notices, host=server.host, port=server.port, sender="notices@rights.test",
                clock=FixedClock(T0 + 7), timeout=10,
            )  # fmt: skip
            assert [d.error for d in deliveries] == [None, None, None]
            assert len(server.messages) == 3
            by_to: dict[str, list[object]] = {}
            for message, envelope in zip(server.messages, server.envelopes, strict=True):
                assert envelope.rcpt_tos == (str(message["To"]),)
                by_to.setdefault(str(message["To"]), []).append(message)
            assert sorted(by_to) == ["abuse@loopback.test", "abuse@other.test"]
            for message, delivery in zip(server.messages, deliveries, strict=True):
                body = message.get_content()
                assert body.index("IP address associated with a subscriber account") < body.rindex("<?xml")
                xml = extract_xml(body)
                validate_notice(schema, xml)
                case_id = etree.fromstring(xml).find("a:Case/a:ID", NS).text
                assert case_id == delivery.notice_id == message["X-ACNS-Case-ID"]
                assert message["Message-ID"] == delivery.message_id
        rows = notice_rows(store)
        assert [(r.sent_us, r.message_id) for r in rows] == [(T0 + 7, d.message_id) for d in deliveries]
        # a re-run re-renders (same bytes) but never sends a sent notice again
        again = prepare_notices(store, tmp_path / "out", now_us=T0 + 9, schema=schema)
        assert [n.row.sent_us for n in again.notices] == [T0 + 7] * 3
        with start_smtp() as server:
            assert await send_notices(
                store, again.notices, host=server.host, port=server.port, sender="n@rights.test",
                clock=FixedClock(T0 + 10),
            ) == []  # fmt: skip
            assert server.messages == []
    finally:
        store.close()


async def test_server_down_marks_nothing_sent(tmp_path: Path) -> None:
    world = build_world(tmp_path / "e.db")
    store = open_store(str(world.db), node_key=node_key_for(world.db), now_us=T0)
    try:
        batch = prepare_notices(store, tmp_path / "out", now_us=T0)
        port = _free_port()
        deliveries = await send_notices(
            store, batch.notices, host="127.0.0.1", port=port, sender="n@rights.test", clock=FixedClock(T0),
            timeout=5,
        )  # fmt: skip
        assert len(deliveries) == 3
        assert all(
            d.message_id is None and d.error and f"127.0.0.1:{port} unreachable" in d.error
            for d in deliveries
        )
        assert [r.sent_us for r in notice_rows(store)] == [None, None, None]
        assert [r.message_id for r in notice_rows(store)] == [None, None, None]
    finally:
        store.close()


def test_a_message_id_never_asks_the_resolver(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Message-ID's domain is the sender's, whatever the address form, and never socket.getfqdn()'s."""

    def no_dns() -> str:
        raise AssertionError("socket.getfqdn called")

    monkeypatch.setattr(socket, "getfqdn", no_dns)
    for sender in ("n@rights.test (Notices)", "Notices <n@rights.test>", "n@rights.test"):
        message = notice_message("t", b"<x/>", notice_id="X-1", sender=sender, to="abuse@isp.test")
        assert str(message["Message-ID"]).endswith("@rights.test>"), sender

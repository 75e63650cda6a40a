"""net.smtp_client against a real SMTP server (aiosmtpd) on loopback, and against no server at all."""

from __future__ import annotations

import socket
from email.message import EmailMessage

import pytest

from swarmscope.net.smtp_client import MailError, send_message
from swarmscope.testbed.smtp import start_smtp


def _message(to: str = "abuse@isp.test", **headers: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "notices@rights.test"
    message["To"] = to
    message["Subject"] = "Notice — Case ID SWS-DOE-000001"
    for name, value in headers.items():
        message[name] = value
    message.set_content("Grüße\n<?xml version='1.0'?>\n<Infringement/>\n", charset="utf-8")
    return message


def _free_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_delivers_and_the_server_parses_it() -> None:
    with start_smtp() as server:
        message_id = await send_message(server.host, server.port, _message(), timeout=10)
        assert len(server.messages) == 1
        got = server.messages[0]
        assert (
            got["Message-ID"] == message_id and message_id.startswith("<") and "@rights.test>" in message_id
        )
        assert got["Subject"] == "Notice — Case ID SWS-DOE-000001"
        assert "Grüße" in got.get_content() and "<Infringement/>" in got.get_content()
        assert server.envelopes[0].mail_from == "notices@rights.test"
        assert server.envelopes[0].rcpt_tos == ("abuse@isp.test",)


async def test_keeps_an_existing_message_id() -> None:
    with start_smtp() as server:
        given = "<fixed.1@rights.test>"
        assert await send_message(server.host, server.port, _message(**{"Message-ID": given})) == given
        assert server.messages[0]["Message-ID"] == given


async def test_server_down_is_a_clear_mail_error() -> None:
    port = _free_port()
    with pytest.raises(MailError, match=rf"SMTP server 127\.0\.0\.1:{port} unreachable"):
        await send_message("127.0.0.1", port, _message(), timeout=5)


async def test_stopped_server_refuses() -> None:
    server = start_smtp()
    host, port = server.host, server.port
    server.stop()
    server.stop()  # idempotent
    with pytest.raises(MailError, match="unreachable"):
        await send_message(host, port, _message(), timeout=5)


async def test_no_recipient_and_half_credentials_are_refused_before_connecting() -> None:
    message = _message()
    del message["To"]
    with pytest.raises(MailError, match="no To address"):
        await send_message("127.0.0.1", _free_port(), message)
    with pytest.raises(MailError, match="both a username and a password"):
        await send_message("127.0.0.1", _free_port(), _message(), username="u")


async def test_starttls_against_a_server_without_it_is_a_mail_error() -> None:
    with start_smtp() as server:
        with pytest.raises(MailError, match=f"127.0.0.1:{server.port}"):
            await send_message(server.host, server.port, _message(), starttls=True, timeout=10)
        assert server.messages == []


def test_test_server_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        start_smtp("0.0.0.0")


async def test_silent_server_times_out_as_mail_error() -> None:
    import asyncio

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)  # never greets
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(MailError, match=f"127.0.0.1:{port}"):
            await send_message("127.0.0.1", port, _message(), timeout=1.0)
    finally:
        server.close()

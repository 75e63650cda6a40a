"""A real SMTP server on loopback (aiosmtpd) that keeps every message it receives, parsed.

Used by tests (and the lead's end-to-end run) to deliver ACNS notices and letters and read what arrived.
The server listens on an ephemeral port of ``host`` (loopback only), runs in aiosmtpd's own thread and is
stopped by :meth:`SmtpServer.stop` (its controller), never by a process name.

Source: aiosmtpd ``Controller`` (threaded server), RFC 5321.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from typing import Any

from aiosmtpd.controller import Controller


@dataclass(frozen=True, slots=True)
class Envelope:
    """The SMTP envelope of one received message: MAIL FROM and RCPT TO addresses."""

    mail_from: str
    rcpt_tos: tuple[str, ...]


class _Collector:
    """aiosmtpd handler: parse each DATA with ``BytesParser(policy=default)`` and keep it."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        data = raw if isinstance(raw, bytes) else str(raw).encode()
        message = BytesParser(policy=default).parsebytes(data)
        assert isinstance(message, EmailMessage)
        self.envelopes.append(Envelope(str(envelope.mail_from), tuple(map(str, envelope.rcpt_tos))))
        self.messages.append(message)
        return "250 Message accepted for delivery"


class _EphemeralController(Controller):
    """A Controller bound to port 0: learns the port the kernel chose before aiosmtpd connects to it."""

    def _trigger_server(self) -> None:
        server: Any = self.server  # an asyncio.Server once bound
        self.port = server.sockets[0].getsockname()[1]
        super()._trigger_server()  # type: ignore[no-untyped-call]


@dataclass
class SmtpServer:
    """A running loopback SMTP server: ``messages`` grows as messages arrive (parsed ``EmailMessage``)."""

    host: str
    port: int
    messages: list[EmailMessage]
    envelopes: list[Envelope]
    _controller: Controller = field(repr=False)

    def stop(self) -> None:
        """Stop the server (its thread and listening socket); idempotent."""
        if self._controller._thread is not None:
            self._controller.stop()

    def __enter__(self) -> SmtpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_smtp(host: str = "127.0.0.1", *, ready_timeout: float = 10.0) -> SmtpServer:
    """Start an SMTP server on ``host`` (loopback only) at an ephemeral port.

    Args:
        host: a loopback address (127.0.0.0/8 or ::1).
        ready_timeout: seconds to wait for the server to answer.

    Returns:
        The running :class:`SmtpServer`; call ``stop()`` (or use it as a context manager).

    Raises:
        ValueError: ``host`` is not a loopback address (tests never listen elsewhere).
    """
    if not ipaddress.ip_address(host).is_loopback:
        raise ValueError(f"{host}: the test SMTP server listens on loopback only")
    collector = _Collector()
    controller = _EphemeralController(collector, hostname=host, port=0, ready_timeout=ready_timeout)
    controller.start()
    return SmtpServer(host, controller.port, collector.messages, collector.envelopes, controller)

"""SMTP delivery of notices and letters (aiosmtplib): one message, one connection, every failure a MailError.

A notice is either delivered (the server accepted it for every recipient: this returns its Message-ID) or
it is not (``MailError``); the caller records ``sent_us`` only after this returns, so a server that is down,
refuses a recipient or times out never leaves a notice marked sent.

Source: RFC 5321 (SMTP), RFC 5322 (Message-ID), RFC 3207 (STARTTLS); README "ACNS notices".
"""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from swarmscope.errors import SwarmscopeError


class MailError(SwarmscopeError):
    """A message could not be delivered (server unreachable, refused, timed out, or a recipient refused)."""


def _ensure_message_id(message: EmailMessage) -> str:
    """Give ``message`` a Message-ID (RFC 5322 3.6.4) when it has none; return it."""
    if message["Message-ID"] is None:
        sender = str(message["From"] or "")
        domain = sender.rpartition("@")[2].strip("> ") or "swarmscope.invalid"
        message["Message-ID"] = make_msgid(domain=domain)
    return str(message["Message-ID"])


async def send_message(
    host: str,
    port: int,
    message: EmailMessage,
    *,
    timeout: float = 30.0,
    starttls: bool = False,
    username: str | None = None,
    password: str | None = None,
) -> str:
    """Deliver one message to an SMTP server (sender and recipients from its From/To/Cc headers).

    Args:
        host, port: the SMTP server (the submission relay or the ISP's MX).
        message: the message; a Message-ID is added when it has none.
        timeout: seconds for connect and for each SMTP command.
        starttls: upgrade with STARTTLS before sending (RFC 3207); False never upgrades.
        username, password: SMTP AUTH credentials (both or neither).

    Returns:
        The Message-ID header of the delivered message (with its angle brackets).

    Raises:
        MailError: connection refused/unreachable, timeout, TLS or authentication failure, the server refused
            the sender, the data or any recipient. The message names host, port and the server's reply.
    """
    if (username is None) != (password is None):
        raise MailError("SMTP AUTH needs both a username and a password")
    if not message.get_all("To"):
        raise MailError("the message has no To address")
    message_id = _ensure_message_id(message)
    where = f"SMTP server {host}:{port}"
    try:
        refused, _reply = await aiosmtplib.send(
            message,
            hostname=host,
            port=port,
            timeout=timeout,
            start_tls=starttls,
            username=username,
            password=password,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        raise MailError(f"{where} refused every recipient: {_refusals(exc.recipients)}") from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise MailError(f"{where} refused the message: {exc.code} {exc.message}") from exc
    except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPConnectTimeoutError) as exc:
        raise MailError(f"{where} unreachable: {exc}") from exc
    except aiosmtplib.SMTPTimeoutError as exc:
        raise MailError(f"{where} timed out after {timeout} s: {exc}") from exc
    except aiosmtplib.SMTPException as exc:
        raise MailError(f"{where}: {exc}") from exc
    except (TimeoutError, OSError) as exc:
        raise MailError(f"{where} unreachable: {exc or type(exc).__name__}") from exc
    if refused:
        detail = ", ".join(f"{address} ({reply.code} {reply.message})" for address, reply in refused.items())
        raise MailError(f"{where} refused recipients: {detail}")
    return message_id


def _refusals(recipients: list[aiosmtplib.SMTPRecipientRefused]) -> str:
    return ", ".join(f"{r.recipient} ({r.code} {r.message})" for r in recipients)

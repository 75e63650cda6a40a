"""Settlement letters: Jinja2 → text / HTML → PDF (WeasyPrint) and e-mail; the approval digest.

A letter states what was observed and never who did it: the IP address was *associated with* the
subscriber's account at the times shown (the ISP's disclosure says no more). Campaigns that wrote "you
downloaded" were condemned for it; :data:`FORBIDDEN_PHRASES` lists wording no rendered letter may contain,
and :func:`render_letter` refuses to produce one that does.

"Verified" in the evidence summary means: data of the work was received from that address and checked, and
the letter lists what each counted hit proved (``CaseFacts.hit_proofs``, worded by
:mod:`swarmscope.cases.hit_proofs`): a whole piece against the hash the torrent publishes for it (BEP 3
``pieces``; BEP 52 piece layers), or one block against the same block of a piece already checked.

What an approval binds (README "Letters"): a letter's settings are frozen into its row when it is drafted
(:mod:`swarmscope.cases.letter_settings`); ``letters preview`` renders the letter from those settings and the
case facts with a placeholder addressee and placeholder dates ("[date of sending]", "[28 days after
sending]") — exactly what will be sent except the addressee (decrypted only at sending) and the two dates
(fixed by the sending time and the frozen term). :func:`approval_digest` is the SHA-256 of that preview (text
and HTML, so the templates are bound too) and of the addressee as stored: the SHA-256 of the case's
encrypted identity (what its sealed identification binds too), so that the approval names whom the letter
goes to without decrypting it; ``letters approve`` records it and ``letters send`` recomputes it and refuses
a letter whose content or addressee changed since approval (other settings, other case facts, other
templates, another identity stored for the case). Payment references:
:mod:`swarmscope.cases.payment_reference` (ISO 11649).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import jinja2

from swarmscope.cases.letter_settings import LetterError, LetterSettings, format_amount
from swarmscope.cases.payment_reference import grouped
from swarmscope.cases.pdf import html_to_pdf
from swarmscope.store.legal.letters import CaseFacts, LetterRow

TEMPLATES = Path(__file__).parent / "templates" / "letters"
FORBIDDEN_PHRASES: tuple[str, ...] = (
    "you downloaded",
    "you have downloaded",
    "you shared",
    "you have shared",
    "you uploaded",
    "you distributed",
    "you infringed",
    "you pirated",
    "you are guilty",
)
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_DAY_US = 86_400 * 1_000_000


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` readable by its owner only (mode 0600 whatever the umask; an existing
    file is truncated and its mode reset). For files holding personal data (letters, identity lists).

    Raises:
        OSError: the file cannot be created or written.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class Addressee:
    """Who the letter is addressed to (decrypted from the subscriber table; never stored in clear)."""

    name: str
    postal_address: str
    email: str | None


@dataclass(frozen=True, slots=True)
class RenderedLetter:
    """One rendered letter: the plain text (e-mail body), the HTML and the PDF bytes."""

    text: str
    html: str
    pdf: bytes


def _utc(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _date(us: int) -> str:
    return datetime.fromtimestamp(us / 1_000_000, UTC).strftime("%d %B %Y")


def _clean(value: object) -> object:
    return _CONTROL.sub("\ufffd", value) if isinstance(value, str) else value


PREVIEW_ADDRESSEE = Addressee("[addressee]", "[postal address: decrypted only when the letter is sent]", None)
"""The addressee of a preview: the identity is decrypted only at sending, and is outside the approval."""


def term_days(letter: LetterRow) -> int:
    """The letter's term in days: its deadline is the sending time plus this. Before sending the row's
    deadline is the drafting time plus the term; sending moves it to the sending time plus the term
    (:func:`swarmscope.store.legal.letters.mark_sent`), so a sent letter's term counts from ``sent_us``,
    and its preview re-renders as approved however long after drafting it was sent."""
    start = letter.created_us if letter.sent_us is None else letter.sent_us
    return round((letter.deadline_us - start) / _DAY_US)


def _context(
    facts: CaseFacts, letter: LetterRow, to: Addressee, settings: LetterSettings, preview: bool = False
) -> dict[str, Any]:
    values = {
        **{f.name: _clean(getattr(facts, f.name)) for f in fields(facts)},
        "first_hit": _utc(facts.first_hit_us),
        "last_hit": _utc(facts.last_hit_us),
        "kind": letter.kind,
        "amount": format_amount(letter.amount_cents, letter.currency),
        "deadline": _date(letter.deadline_us),
        "dated": _date(letter.sent_us or letter.created_us),
        "reference": grouped(letter.payment_reference),
        "to_name": _clean(to.name),
        "to_address_lines": [_clean(line) for line in to.postal_address.splitlines() if line.strip()],
    }
    if preview:
        values |= {"dated": "[date of sending]", "deadline": f"[{term_days(letter)} days after sending]"}
    values.update({f.name: _clean(getattr(settings, f.name)) for f in fields(settings)})
    return values


def _environment(autoescape: bool) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=autoescape,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def forbidden_wording(text: str) -> list[str]:
    """The :data:`FORBIDDEN_PHRASES` found in ``text`` (case and whitespace insensitive)."""
    flat = " ".join(text.lower().split())
    return [phrase for phrase in FORBIDDEN_PHRASES if phrase in flat]


def _refuse_accusation(text: str) -> None:
    found = forbidden_wording(text)
    if found:
        raise LetterError(
            f"the rendered letter contains accusing wording {found}; it states an association only"
        )


def render_letter(
    facts: CaseFacts, letter: LetterRow, to: Addressee, settings: LetterSettings
) -> RenderedLetter:
    """Render a letter as plain text, HTML (autoescaped) and PDF (WeasyPrint, no external resources).

    Args:
        facts: the case evidence summary. letter: the letter row (kind, amount, deadline, reference).
        to: the addressee. settings: sender, payment and dispute contacts.

    Returns:
        :class:`RenderedLetter`.

    Raises:
        LetterError: the rendered text would contain a :data:`FORBIDDEN_PHRASES` phrase.
    """
    text, html = _documents(_context(facts, letter, to, settings))
    return RenderedLetter(text, html, pdf_of(html))


def _documents(context: dict[str, Any]) -> tuple[str, str]:
    text = _environment(False).get_template("letter.txt.j2").render(context)
    html = _environment(True).get_template("letter.html.j2").render(context)
    _refuse_accusation(text)
    _refuse_accusation(re.sub(r"<[^>]+>", " ", html))
    return text, html


def pdf_of(html: str) -> bytes:
    """The PDF of a rendered letter's HTML (WeasyPrint; no external resource is fetched)."""
    return html_to_pdf(html)


def render_preview(facts: CaseFacts, letter: LetterRow, settings: LetterSettings) -> tuple[str, str]:
    """The letter as approved: text and HTML with :data:`PREVIEW_ADDRESSEE` and placeholder dates.

    Raises:
        LetterError: accusing wording (see :func:`render_letter`).
    """
    return _documents(_context(facts, letter, PREVIEW_ADDRESSEE, settings, preview=True))


def approval_digest(facts: CaseFacts, letter: LetterRow, settings: LetterSettings, recipient: str) -> str:
    """Hex SHA-256 of what an approval binds: ``recipient`` (the hex SHA-256 of the case's encrypted
    identity as stored, ``none`` without one: :func:`swarmscope.cases.sealed_history.recipient_sha256`) and
    :func:`render_preview`'s text and HTML (see module docstring): ``b"swarmscope letter approval v2\\n"``,
    the recipient, a newline, the text, a NUL, the HTML (UTF-8).

    Raises:
        LetterError: accusing wording.
    """
    head = b"swarmscope letter approval v2\n" + recipient.encode("ascii") + b"\n"
    return _digest(head, *render_preview(facts, letter, settings))


ADDRESSEE_BOUND_SINCE_US = 1_796_616_033_000_000
"""2026-12-07T04:00:33Z (UTC µs): from this release on, every approval binds the addressee (digest v2,
:func:`approval_digest`); an approval sealed at or after it cannot have recorded a v1 digest."""


def unbound_approval_digest(facts: CaseFacts, letter: LetterRow, settings: LetterSettings) -> str:
    """The digest approvals recorded before they bound the recipient (``v1``: the text and HTML only).
    Only a letter SENT under such an approval is still judged by it, and only while a proven approval
    sealed before :data:`ADDRESSEE_BOUND_SINCE_US` seals that digest
    (:func:`swarmscope.cases.sealed_history.approvals_differ`); an unsent one needs a new approval.

    Raises:
        LetterError: accusing wording.
    """
    return _digest(b"swarmscope letter approval v1\n", *render_preview(facts, letter, settings))


def _digest(head: bytes, text: str, html: str) -> str:
    return hashlib.sha256(head + text.encode() + b"\0" + html.encode()).hexdigest()


def build_message(
    facts: CaseFacts,
    letter: LetterRow,
    rendered: RenderedLetter,
    to: Addressee,
    settings: LetterSettings,
    now_us: int,
) -> EmailMessage:
    """The e-mail: the plain-text letter as body, the PDF attached (``DOE-000001-initial.pdf``).

    Raises:
        LetterError: the addressee has no e-mail address, or the sender has none.
    """
    if not to.email or not settings.sender_email:
        raise LetterError(f"{facts.doe}: an e-mail needs both a recipient and sender_email")
    message = EmailMessage()
    try:
        message["From"] = Address(display_name=settings.sender_name, addr_spec=settings.sender_email)
        message["To"] = Address(addr_spec=to.email)
    except (ValueError, IndexError, HeaderParseError) as exc:
        raise LetterError(f"{facts.doe}: an e-mail address is malformed ({exc})") from None
    kind = "Reminder: " if letter.kind == "reminder" else ""
    message["Subject"] = (
        f"{kind}{facts.doe} — notice of observed file sharing, reference {grouped(letter.payment_reference)}"
    )
    message["Date"] = format_datetime(datetime.fromtimestamp(now_us / 1_000_000, UTC))
    message["Message-ID"] = make_msgid(
        idstring=facts.doe, domain=settings.sender_email.rpartition("@")[2] or None
    )
    message.set_content(rendered.text)
    name = f"{facts.doe}-{letter.kind}.pdf"
    message.add_attachment(rendered.pdf, maintype="application", subtype="pdf", filename=name)
    return message

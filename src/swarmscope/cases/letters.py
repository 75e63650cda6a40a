"""Settlement letters: settings, payment references, Jinja2 → text / HTML → PDF (WeasyPrint) and e-mail.

A letter states what was observed and never who did it: the IP address was *associated with* the
subscriber's account at the times shown (the ISP's disclosure says no more). Campaigns that wrote "you
downloaded" were condemned for it; :data:`FORBIDDEN_PHRASES` lists wording no rendered letter may contain,
and :func:`render_letter` refuses to produce one that does.

"Verified" in the evidence summary means: data of the work was received from that address and checked, and
the letter lists what each counted hit proved (``CaseFacts.hit_proofs``, worded by
:mod:`swarmscope.cases.hit_proofs`): a whole piece against the hash the torrent publishes for it (BEP 3
``pieces``; BEP 52 piece layers), or one block against the same block of a piece already checked.

What an approval binds (README "Letters"): a letter's settings are frozen into its row when it is drafted
(:func:`settings_json`); ``letters preview`` renders the letter from those settings and the case facts with a
placeholder addressee and placeholder dates ("[date of sending]", "[28 days after sending]") — exactly what
will be sent except the addressee (decrypted only at sending) and the two dates (fixed by the sending time
and the frozen term). :func:`approval_digest` is the SHA-256 of that preview (text and HTML, so the
templates are bound too); ``letters approve`` records it and ``letters send`` recomputes it and refuses a
letter whose content changed since approval (other settings, other case facts, other templates).

Payment references follow ISO 11649 (structured creditor reference, "RF" + two ISO 7064 MOD 97-10 check
digits + up to 21 alphanumerics): banks accept them, and a mistyped character is caught by the check digits.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
import unicodedata
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Any

import jinja2

from swarmscope.cases.identities import valid_email
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.store.letters import CaseFacts, LetterRow

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
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_REFERENCE_BODY = re.compile(r"^[0-9A-Z]{1,21}$")
_DAY_US = 86_400 * 1_000_000
CONTACT_FIELDS: tuple[str, ...] = (
    "sender_name", "sender_email", "sender_address", "payee", "iban", "bic", "dispute_email",
    "dispute_address",
)  # fmt: skip
"""Settings a letter prints besides the money: fixed at drafting, never changed at sending."""


class LetterError(SwarmscopeError):
    """A letter cannot be drafted, rendered or sent (the message says why)."""


@dataclass(frozen=True, slots=True)
class LetterSettings:
    """Everything a letter needs besides the case: money, deadline, sender, payment and dispute contacts.

    Settings file (TOML, table ``[letters]``; every key optional, CLI options override)::

        [letters]
        amount = "450.00"          # decimal string, in ``currency``
        currency = "EUR"           # ISO 4217
        deadline_days = 28         # days from sending
        reminder_days = 14         # deadline of a reminder, days from its sending
        sender_name = "Example Rights Ltd, by counsel"
        sender_email = "letters@example.test"
        sender_address = "1 Example Street, 10115 Berlin"
        payee = "Example Rights Ltd"
        iban = "DE89 3704 0044 0532 0130 00"
        bic = "COBADEFFXXX"
        dispute_email = "disputes@example.test"
        dispute_address = "Disputes, 1 Example Street, 10115 Berlin"
    """

    amount_cents: int = 0
    currency: str = "EUR"
    deadline_days: int = 28
    reminder_days: int = 14
    sender_name: str = ""
    sender_email: str = ""
    sender_address: str = ""
    payee: str = ""
    iban: str = ""
    bic: str = ""
    dispute_email: str = ""
    dispute_address: str = ""

    def checked(self, *, amount: bool = True, contacts: bool = True) -> LetterSettings:
        """These settings, validated: days ≥ 1, ISO 4217 currency; with ``amount`` a positive amount;
        with ``contacts`` a sender name and a dispute contact (rendering).

        Raises:
            InputError: naming the first bad setting.
        """
        if amount and self.amount_cents <= 0:
            raise InputError("amount: must be positive (e.g. 450.00)")
        if not _CURRENCY.match(self.currency):
            raise InputError(f"currency: {self.currency!r} is not an ISO 4217 code (e.g. EUR)")
        if self.deadline_days < 1 or self.reminder_days < 1:
            raise InputError("deadline_days / reminder_days: must be at least 1")
        if contacts and not (self.dispute_email or self.dispute_address):
            raise InputError("dispute_email or dispute_address: a letter must say where to dispute")
        if contacts and not self.sender_name:
            raise InputError("sender_name: a letter must say who sends it")
        for name in ("sender_email", "dispute_email"):
            value = getattr(self, name, None)
            if value and not valid_email(value):
                raise InputError(f"{name}: not a single valid e-mail address (local@domain)")
        for name in ("sender_name", "payee", "iban", "bic"):
            value = getattr(self, name, None)
            if value and any(unicodedata.category(ch)[0] == "C" for ch in value):
                raise InputError(f"{name}: contains control characters")
        return self


_AMOUNT = re.compile(r"[0-9]{1,12}(?:\.[0-9]{1,2})?")  # no sign, exponent, separators or spaces


def parse_amount(text: str) -> int:
    """``"450.00"`` → 45000 (integer cents; at most two decimals, positive).

    Raises:
        InputError: not a positive decimal with at most two decimals.
    """
    if not _AMOUNT.fullmatch(text.strip()):
        raise InputError(f"amount: {text!r} must be digits with at most two decimals (e.g. 450.00)")
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InputError(f"amount: {text!r} is not a decimal number") from None
    if not value.is_finite() or value <= 0 or value != value.quantize(Decimal("0.01")):
        raise InputError(f"amount: {text!r} must be positive with at most two decimals")
    return int(value * 100)


def format_amount(cents: int, currency: str) -> str:
    """45000, "EUR" → ``"450.00 EUR"``."""
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100:,}.{abs(cents) % 100:02d} {currency}"


def load_settings(
    path: Path | None, overrides: Mapping[str, Any], *, amount: bool = True, contacts: bool = True
) -> LetterSettings:
    """Settings from the ``[letters]`` table of a TOML file (optional), then ``overrides`` (CLI options).

    Args:
        path: the settings file, or None. overrides: field name → value; None values are ignored;
            ``amount`` (decimal string) sets ``amount_cents``. amount, contacts: see :meth:`checked`.

    Returns:
        Validated :class:`LetterSettings`.

    Raises:
        InputError: unreadable file, unknown key, wrong type, or a bad value (see :meth:`checked`).
    """
    return settings_from(read_settings(path, overrides), amount=amount, contacts=contacts)


def read_settings(path: Path | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """The keys given: the file's ``[letters]`` table updated by the non-None ``overrides`` (unchecked).

    Raises:
        InputError: unreadable file.
    """
    raw: dict[str, Any] = {}
    if path is not None:
        try:
            raw = dict(tomllib.loads(path.read_text(encoding="utf-8")).get("letters", {}))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"settings file {path}: {exc}") from None
    raw.update({k: v for k, v in overrides.items() if v is not None})
    return raw


def settings_from(given: Mapping[str, Any], *, amount: bool = True, contacts: bool = True) -> LetterSettings:
    """:class:`LetterSettings` from keys as in the settings file (see :func:`load_settings`).

    Raises:
        InputError: unknown key, wrong type, or a bad value (see :meth:`LetterSettings.checked`).
    """
    raw = dict(given)
    if "amount" in raw:
        raw["amount_cents"] = parse_amount(str(raw.pop("amount")))
    known = {f.name: f.type for f in fields(LetterSettings)}
    settings = LetterSettings()
    for key, value in raw.items():
        if key not in known:
            raise InputError(f"settings: unknown key {key!r} (known: amount, {', '.join(sorted(known))})")
        want = int if known[key] == "int" else str
        if not isinstance(value, want) or isinstance(value, bool):
            raise InputError(f"settings: {key} must be {want.__name__}, not {value!r}")
        if key == "currency":
            value = str(value).upper()
        settings = replace(settings, **{key: value})
    return settings.checked(amount=amount, contacts=contacts)


def settings_json(settings: LetterSettings) -> str:
    """The settings frozen into a letter row: canonical JSON (sorted keys, no spaces)."""
    return json.dumps(asdict(settings), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def frozen_settings(text: str | None) -> LetterSettings:
    """The settings frozen into a letter row (:func:`settings_json`).

    Raises:
        LetterError: none frozen (drafted before letters froze their settings) or not readable.
    """
    if text is None:
        raise LetterError("the letter has no frozen settings (drafted by an older version); draft it again")
    try:
        return LetterSettings(**json.loads(text))
    except (ValueError, TypeError) as exc:
        raise LetterError(f"the letter's frozen settings are unreadable ({exc}); draft it again") from None


def settings_conflicts(frozen: LetterSettings, given: Mapping[str, Any]) -> list[str]:
    """The :data:`CONTACT_FIELDS` that ``given`` (send-time settings) sets otherwise than ``frozen``."""
    return [name for name in CONTACT_FIELDS if name in given and str(given[name]) != getattr(frozen, name)]


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


def _mod97(text: str) -> int:
    return int("".join(str(int(ch, 36)) for ch in text)) % 97


def payment_reference(case_id: int, sequence: int) -> str:
    """The ISO 11649 creditor reference of a case's ``sequence``-th letter, e.g. ``"RF90000000101"``.

    Args:
        case_id: the legal_case row id (≥ 1). sequence: 1 for the first letter of the case, 2 ...

    Returns:
        "RF" + 2 check digits + the case id (7 digits) + the sequence (2 digits); unique per letter.
    """
    body = f"{case_id:07d}{sequence:02d}"
    check = 98 - _mod97(body + "RF00")
    return f"RF{check:02d}{body}"


def normalise_reference(text: str) -> str:
    """A typed reference (spaces, dashes, lower case allowed) → canonical form, its check digits verified.

    Raises:
        InputError: not an RF reference, or its check digits do not match (a typing mistake).
    """
    ref = re.sub(r"[\s-]", "", text).upper()
    if not (ref.startswith("RF") and ref[2:4].isdigit() and _REFERENCE_BODY.match(ref[4:])):
        raise InputError(f"reference: {text!r} is not an RF creditor reference (RFkk + up to 21 characters)")
    if _mod97(ref[4:] + ref[:4]) != 1:
        raise InputError(f"reference: {text!r} fails its check digits (a typing mistake?)")
    return ref


def grouped(reference: str) -> str:
    """``"RF90000000101"`` → ``"RF90 0000 0010 1"`` (groups of four, as printed on letters)."""
    return " ".join(reference[i : i + 4] for i in range(0, len(reference), 4))


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
    """The letter's term in days (its deadline is the sending time plus this)."""
    return round((letter.deadline_us - letter.created_us) / _DAY_US)


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


def _no_fetch(url: str, *_args: object, **_kwargs: object) -> dict[str, Any]:
    raise LetterError(f"letters load no external resources (asked for {url[:80]!r})")


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
    import weasyprint  # heavy import: only when a letter is rendered

    pdf = weasyprint.HTML(string=html, url_fetcher=_no_fetch).write_pdf()
    assert isinstance(pdf, bytes)
    return pdf


def render_preview(facts: CaseFacts, letter: LetterRow, settings: LetterSettings) -> tuple[str, str]:
    """The letter as approved: text and HTML with :data:`PREVIEW_ADDRESSEE` and placeholder dates.

    Raises:
        LetterError: accusing wording (see :func:`render_letter`).
    """
    return _documents(_context(facts, letter, PREVIEW_ADDRESSEE, settings, preview=True))


def approval_digest(facts: CaseFacts, letter: LetterRow, settings: LetterSettings) -> str:
    """Hex SHA-256 of what an approval binds: :func:`render_preview`'s text and HTML (see module docstring).

    Raises:
        LetterError: accusing wording.
    """
    text, html = render_preview(facts, letter, settings)
    blob = b"swarmscope letter approval v1\n" + text.encode() + b"\0" + html.encode()
    return hashlib.sha256(blob).hexdigest()


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

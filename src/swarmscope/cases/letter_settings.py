"""Letter settings: what a settlement letter says besides the case (amount, term, sender, payee, contacts).

What an approval binds: a letter's settings are frozen into its row when it is drafted
(:func:`settings_json`) and every later step renders from that frozen copy (:func:`frozen_settings`); a
send-time setting may only repeat a frozen contact, never change it (:func:`settings_conflicts`), so the
letter that leaves is the one a person approved (see :mod:`swarmscope.cases.letters` for the digest).

Money is integer cents in an ISO 4217 currency; terms are whole days counted from sending.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from swarmscope.cases.identities import has_control, valid_email
from swarmscope.errors import InputError, SwarmscopeError

_CURRENCY = re.compile(r"^[A-Z]{3}$")
MAX_LETTER_DAYS = 3_650
"""The longest term a letter or reminder may give, days (ten years): ``--deadline-days`` and a settings
file's ``deadline_days``/``reminder_days`` alike (a deadline must be a date a calendar and the store hold)."""
ADDRESS_FIELDS: tuple[str, ...] = ("sender_address", "dispute_address")  # postal: line breaks allowed
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
        """These settings, validated: days 1..:data:`MAX_LETTER_DAYS`, ISO 4217 currency, no control or
        bidi character in a text field (:func:`~swarmscope.cases.identities.has_control`; a line break only
        in the postal addresses); with ``amount`` a positive amount; with ``contacts`` a sender name and a
        dispute contact (rendering).

        Raises:
            InputError: naming the first bad setting.
        """
        if amount and self.amount_cents <= 0:
            raise InputError("amount: must be positive (e.g. 450.00)")
        if not _CURRENCY.match(self.currency):
            raise InputError(f"currency: {self.currency!r} is not an ISO 4217 code (e.g. EUR)")
        for name in ("deadline_days", "reminder_days"):
            days = getattr(self, name)
            if not 1 <= days <= MAX_LETTER_DAYS:
                shown = str(days) if len(str(days)) <= 20 else f"{str(days)[:20]}..."
                raise InputError(f"{name}: {shown} is out of range (1..{MAX_LETTER_DAYS} days)")
        if contacts and not (self.dispute_email or self.dispute_address):
            raise InputError("dispute_email or dispute_address: a letter must say where to dispute")
        if contacts and not self.sender_name:
            raise InputError("sender_name: a letter must say who sends it")
        for name in ("sender_email", "dispute_email"):
            value = getattr(self, name, None)
            if value and not valid_email(value):
                raise InputError(f"{name}: not a single valid e-mail address (local@domain)")
        for name in ("sender_name", "payee", "iban", "bic", *ADDRESS_FIELDS):
            value = getattr(self, name, None)
            if value and has_control(value, line_breaks=name in ADDRESS_FIELDS):
                raise InputError(f"{name}: contains a control, bidi or format character")
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

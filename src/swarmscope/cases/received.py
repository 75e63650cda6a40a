"""When a payment or a dispute was received: one parser and one range check for the CLI and the console.

The time is ISO 8601 (UTC unless an offset is given) or integer UTC microseconds; empty means now. It is
then checked against the workflow's own bounds before anything is formatted or stored:

- not after the end of today's date at UTC+14 (:func:`latest_received_us`): a date that is in the future
  in every time zone is refused. UTC+14 (Kiribati's Line Islands) is the furthest-ahead civil time zone
  (IANA tz ``Pacific/Kiritimati``), so a receipt dated today anywhere on Earth, such as a bank's value
  date in the payer's zone or a date alone read as midnight UTC, passes, and nothing later does;
- not before :data:`FLOOR_US` (2000-01-01T00:00:00Z, before any case this tool can open), nor before
  the event it answers: a payment not before its letter was sent, a dispute not before the case was
  opened (:func:`check_received`).

So ``0001-01-01T00:00:00+14:00`` or ``9999-12-31T23:59:59-14:00`` (valid ISO 8601 whose UTC instant
Python cannot print) is one line naming the text given, never a traceback, and nothing is sealed.
"""

from __future__ import annotations

from datetime import UTC, datetime

from swarmscope.errors import InputError
from swarmscope.evidence.records import us_to_iso

DAY_US = 86_400 * 1_000_000
LATEST_OFFSET_US = 14 * 3_600 * 1_000_000  # UTC+14, the furthest-ahead time zone (Pacific/Kiritimati)
FLOOR_US = 946_684_800_000_000  # 2000-01-01T00:00:00Z, UTC µs
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
RECEIVED_RULE = (  # the help text of --received and of the console's forms
    "Not before 2000-01-01, nor after today's date at UTC+14 (the furthest-ahead time zone: a later "
    "date is in the future everywhere); a payment not before its letter was sent, a dispute not before "
    "the case was opened."
)


def parse_received(text: str | None, now_us: int, field: str = "received") -> int:
    """``text`` → UTC µs, range-checked against ``now_us`` and :data:`FLOOR_US`; empty or None → now.

    Raises:
        InputError: neither ISO 8601 nor integer microseconds, or out of range (names ``field``).
    """
    if text is None or not text.strip():
        return now_us
    given = text.strip()
    if given.lstrip("-").isdigit():
        received = int(given)
    else:
        try:
            moment = datetime.fromisoformat(given)
        except ValueError:
            raise InputError(f"{field}: {given!r} is neither ISO 8601 nor UTC microseconds") from None
        delta = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)) - _EPOCH
        received = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    latest = latest_received_us(now_us)
    if not FLOOR_US <= received <= latest:
        raise InputError(
            f"{field}: {given!r} is not between {us_to_iso(FLOOR_US)} and the end of today at UTC+14 "
            f"({us_to_iso(latest)}): a later date is in the future in every time zone"
        )
    return received


def latest_received_us(now_us: int) -> int:
    """The last microsecond of today's date at UTC+14 (UTC µs): the latest receipt time that is not in
    the future in every time zone. Between ``now_us`` and 24 h after it."""
    ahead = now_us + LATEST_OFFSET_US
    return ahead - ahead % DAY_US + DAY_US - 1 - LATEST_OFFSET_US


def check_received(received_us: int, now_us: int, not_before_us: int, since: str) -> None:
    """Refuse a receipt time before ``not_before_us`` (UTC µs, the event it answers: ``since`` names it,
    e.g. "the letter was sent") or after :func:`latest_received_us` of ``now_us``; the bounds are
    formatted, never a time outside them.

    Raises:
        InputError: out of range.
    """
    floor = max(not_before_us, FLOOR_US)
    if received_us < floor:
        raise InputError(f"received: before {since} ({us_to_iso(floor)})")
    latest = latest_received_us(now_us)
    if received_us > latest:
        raise InputError(
            f"received: after the end of today at UTC+14 ({us_to_iso(latest)}): in the future in every "
            "time zone"
        )

"""When a payment or dispute was received: nothing after today's date at UTC+14 (the furthest-ahead time
zone, Pacific/Kiritimati), so a date that is in the future in every time zone is refused, and a date that
is today anywhere passes; one parser for the CLI and the console."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from swarmscope.cases.received import check_received, latest_received_us, parse_received
from swarmscope.errors import InputError


def us(text: str) -> int:
    moment = datetime.fromisoformat(text)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


MORNING = us("2026-12-07T03:56:00+00:00")  # 17:56 on 7 December at UTC+14
EVENING = us("2026-12-07T12:00:00+00:00")  # 02:00 on 8 December at UTC+14


@pytest.mark.parametrize(
    ("now", "latest"),
    [(MORNING, "2026-12-07T09:59:59.999999+00:00"), (EVENING, "2026-12-08T09:59:59.999999+00:00"),
     (us("2026-12-07T10:00:00+00:00"), "2026-12-08T09:59:59.999999+00:00"),
     (us("2026-12-07T09:59:59.999999+00:00"), "2026-12-07T09:59:59.999999+00:00")],
)  # fmt: skip
def test_the_latest_receipt_is_the_end_of_today_at_utc_plus_14(now: int, latest: str) -> None:
    assert latest_received_us(now) == us(latest)
    assert now <= latest_received_us(now) < now + 86_400 * 1_000_000


@pytest.mark.parametrize(
    ("now", "given"),
    [(MORNING, "2026-12-07T12:00:00Z"),  # 8 h ahead: 8 December at UTC+14, which is not yet anywhere
     (MORNING, "2026-12-08"),  # a date no time zone has reached
     (MORNING, "2026-12-08T00:00:00+14:00"), (EVENING, "2026-12-09"),
     (EVENING, str(EVENING + 86_400 * 1_000_000 - 1))],
)  # fmt: skip
def test_a_date_in_the_future_in_every_time_zone_is_refused(now: int, given: str) -> None:
    with pytest.raises(InputError) as refused:
        parse_received(given, now, "--received")
    latest = datetime.fromtimestamp(latest_received_us(now) / 1e6, UTC).isoformat()[:19]
    assert str(refused.value).startswith(f"--received: {given!r} is not between 2000-01-01")
    assert f"and the end of today at UTC+14 ({latest}" in str(refused.value)
    assert str(refused.value).endswith("a later date is in the future in every time zone")
    with pytest.raises(InputError, match=r"^received: after the end of today at UTC\+14 \("):
        check_received(latest_received_us(now) + 1, now, 0, "the letter was sent")


@pytest.mark.parametrize(
    ("now", "given"),
    [(MORNING, "2026-12-07"), (MORNING, "2026-12-07T23:59:59.999999+14:00"),
     (MORNING, "2026-12-06T23:00:00-10:00"),  # already past in UTC-10 terms, 09:00 UTC
     (EVENING, "2026-12-08"),  # 8 December is today at UTC+14 (02:00 there)
     (EVENING, "2026-12-08T23:59:59+14:00"), (EVENING, "")],
)  # fmt: skip
def test_a_date_that_is_today_somewhere_passes(now: int, given: str) -> None:
    received = parse_received(given, now, "--received")
    assert received <= latest_received_us(now)
    check_received(received, now, 0, "the letter was sent")

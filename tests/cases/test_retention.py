"""Retention schedules (pure): calendar months, identity due dates, unresolved IP evidence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from swarmscope.cases.retention import (
    DAY_US,
    ClosedCase,
    RetentionPolicy,
    add_months,
    due_identities,
    due_ip_addresses,
    identity_due_at,
)
from swarmscope.errors import InputError


def us(text: str) -> int:
    moment = datetime.fromisoformat(text).replace(tzinfo=UTC)
    return int(moment.timestamp()) * 1_000_000 + moment.microsecond


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        ("2026-01-31T12:00:00.000007", 1, "2026-02-28T12:00:00.000007"),
        ("2028-01-31T00:00:00", 1, "2028-02-29T00:00:00"),
        ("2026-11-30T00:00:00", 3, "2027-02-28T00:00:00"),
        ("2026-12-15T08:00:00", 1, "2027-01-15T08:00:00"),
        ("2026-06-30T00:00:00", 12, "2027-06-30T00:00:00"),
        ("2026-03-31T23:59:59", 6, "2026-09-30T23:59:59"),
        ("2026-05-05T00:00:00", 0, "2026-05-05T00:00:00"),
    ],
)
def test_add_months(start: str, months: int, end: str) -> None:
    assert add_months(us(start), months) == us(end)


@given(st.integers(0, 4_000_000_000 * 10**6), st.integers(0, 240))
def test_add_months_never_goes_back_and_is_about_a_month_each(at_us: int, months: int) -> None:
    later = add_months(at_us, months)
    assert at_us + months * 28 * DAY_US <= later <= at_us + months * 31 * DAY_US


POLICY = RetentionPolicy(ip_evidence_days=30, identity_months_after_close=6)
CLOSED = us("2026-01-10T00:00:00")


@pytest.mark.parametrize(
    ("case", "now", "due"),
    [
        (ClosedCase(1, "DOE-000001", "closed", CLOSED), us("2026-07-10T00:00:00"), True),  # exactly 6 months
        (ClosedCase(2, "DOE-000002", "closed", CLOSED), us("2026-07-09T23:59:59"), False),
        (ClosedCase(3, "DOE-000003", "paid", CLOSED), us("2027-01-01T00:00:00"), True),
        (ClosedCase(4, "DOE-000004", "withdrawn", CLOSED), us("2027-01-01T00:00:00"), True),
        (ClosedCase(5, "DOE-000005", "sent", None), us("2099-01-01T00:00:00"), False),  # open: never
        (ClosedCase(6, "DOE-000006", "disputed", CLOSED), us("2099-01-01T00:00:00"), False),
        (ClosedCase(7, "DOE-000007", "closed", None), us("2099-01-01T00:00:00"), False),  # no close time
    ],
)
def test_identity_due(case: ClosedCase, now: int, due: bool) -> None:
    assert (due_identities([case], now, POLICY) == [case]) is due


def test_identity_due_at_is_close_plus_months() -> None:
    assert identity_due_at(ClosedCase(1, "D", "closed", CLOSED), POLICY) == us("2026-07-10T00:00:00")
    assert identity_due_at(ClosedCase(1, "D", "identified", None), POLICY) is None


def test_due_ip_addresses() -> None:
    now = us("2026-12-01T00:00:00")
    old, fresh = now - 31 * DAY_US, now - 29 * DAY_US
    last_seen = {
        "127.0.0.2": old,  # no case: due
        "127.0.0.3": fresh,  # no case, recent: kept
        "127.0.0.4": old,  # only withdrawn cases: due
        "127.0.0.5": old,  # a live case: kept
        "127.0.0.6": old,  # withdrawn and closed: the closed case keeps it
        "::1": now - 30 * DAY_US,  # exactly at the window: kept
    }
    statuses = {"127.0.0.4": ["withdrawn"], "127.0.0.5": ["candidate"], "127.0.0.6": ["withdrawn", "closed"]}
    assert due_ip_addresses(last_seen, statuses, now, POLICY) == ["127.0.0.2", "127.0.0.4"]


def test_defaults_and_rules() -> None:
    policy = RetentionPolicy()
    assert (policy.ip_evidence_days, policy.identity_months_after_close) == (90, 6)
    assert policy.ip_rule == "ip_evidence_days=90"
    assert policy.identity_rule == "identity_months_after_close=6"


@pytest.mark.parametrize(("days", "months"), [(0, 6), (90, 0), (-1, 6)])
def test_policy_refuses_non_positive_periods(days: int, months: int) -> None:
    with pytest.raises(InputError):
        RetentionPolicy(days, months)

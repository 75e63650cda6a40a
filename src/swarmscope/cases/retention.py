"""Retention schedules (pure): which IP evidence and which identities are due for purging at ``now``.

Two schedules (README "Retention"), both configurable:

- **Unresolved IP evidence** — an IP address that never became a case, or whose every case was
  ``withdrawn``, is due once its LAST observation or sighting is older than ``ip_evidence_days``
  (default 90 days: long enough to accumulate the hits a threshold needs and to serve a disclosure
  request, short enough not to keep a profile of everyone who was ever in a swarm). An address with any
  case in another status is never due under this rule: that evidence is the case.
- **Identities** — a subscriber identity is due ``identity_months_after_close`` calendar months (default
  6: time for a late payment or a dispute to surface) after its case reached a closing status
  (``paid``, ``withdrawn``, ``closed``: ``legal_case.closed_us``). Months are calendar months in UTC; a
  day that does not exist in the target month is clamped to its last day (31 Jan + 1 month = 28/29 Feb).

No I/O, no clock: the caller passes ``now_us`` (UTC microseconds).

Source: README "Retention".
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from swarmscope.errors import InputError

DAY_US = 86_400 * 1_000_000
CLOSING_STATUSES = frozenset({"paid", "withdrawn", "closed"})  # cases/workflow.py CLOSING_STATUSES
RELEASING_STATUSES = frozenset({"withdrawn"})  # a case in these no longer holds its IP evidence
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DEFAULT_IP_EVIDENCE_DAYS = 90
DEFAULT_IDENTITY_MONTHS_AFTER_CLOSE = 6


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    """How long to keep unresolved IP evidence (days) and identities after their case closes (months)."""

    ip_evidence_days: int = DEFAULT_IP_EVIDENCE_DAYS
    identity_months_after_close: int = DEFAULT_IDENTITY_MONTHS_AFTER_CLOSE

    def __post_init__(self) -> None:
        if self.ip_evidence_days < 1 or self.identity_months_after_close < 1:
            raise InputError("retention periods must be at least 1 day / 1 month")

    @property
    def ip_rule(self) -> str:
        """The rule as recorded in ``purge_log.rule``."""
        return f"ip_evidence_days={self.ip_evidence_days}"

    @property
    def identity_rule(self) -> str:
        """The rule as recorded in ``purge_log.rule``."""
        return f"identity_months_after_close={self.identity_months_after_close}"


@dataclass(frozen=True, slots=True)
class ClosedCase:
    """A case with an identity stored: id, DOE number, status, when it closed (UTC µs, None if open)."""

    case_id: int
    doe: str
    status: str
    closed_us: int | None


def add_months(at_us: int, months: int) -> int:
    """``at_us`` plus ``months`` calendar months (UTC; day clamped to the month's last day).

    Args:
        at_us: UTC microseconds. months: non-negative count.

    Returns:
        UTC microseconds.
    """
    moment = _EPOCH + timedelta(microseconds=at_us)
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    next_first = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
    last_day = (next_first - timedelta(days=1)).day
    shifted = moment.replace(year=year, month=month, day=min(moment.day, last_day))
    delta = shifted - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def identity_due_at(case: ClosedCase, policy: RetentionPolicy) -> int | None:
    """When the identity of ``case`` becomes due (UTC µs), or None while the case is open."""
    if case.status not in CLOSING_STATUSES or case.closed_us is None:
        return None
    return add_months(case.closed_us, policy.identity_months_after_close)


def due_identities(cases: Iterable[ClosedCase], now_us: int, policy: RetentionPolicy) -> list[ClosedCase]:
    """The cases whose stored identity is due for deletion at ``now_us`` (in the given order)."""
    out = []
    for case in cases:
        due = identity_due_at(case, policy)
        if due is not None and due <= now_us:
            out.append(case)
    return out


def due_ip_addresses(
    last_seen_us: Mapping[str, int],
    case_statuses: Mapping[str, Iterable[str]],
    now_us: int,
    policy: RetentionPolicy,
) -> list[str]:
    """IP addresses whose evidence is due: unresolved (no case, or only withdrawn ones) and stale.

    Args:
        last_seen_us: IP address → UTC µs of its last observation or sighting.
        case_statuses: IP address → statuses of its cases (absent: no case).
        now_us: UTC µs. policy: the schedule.

    Returns:
        The due addresses, sorted.
    """
    cutoff = now_us - policy.ip_evidence_days * DAY_US
    due = []
    for ip, last in last_seen_us.items():
        holding = [s for s in case_statuses.get(ip, ()) if s not in RELEASING_STATUSES]
        if not holding and last < cutoff:
            due.append(ip)
    return sorted(due)

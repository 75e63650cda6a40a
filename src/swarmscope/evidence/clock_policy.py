"""Clock policy: which stretches of time the evidence clock was not verified, from NTP samples (pure).

**Good sample.** A sample is good when it has a usable reply (no ``error``, an offset) and
``|offset_us| <= threshold_us`` (the boundary itself is good).

**Several servers: flag if any exceeds.** Each server keeps a state: *good* after a good reply, *bad*
after a reply beyond the threshold, *unknown* after a failed sample (no usable reply) unless it is bad — a
failure never clears a bad reading. The clock counts as verified at an instant when no server is bad and at
least one is good. Chosen over "best-delay server per round" because it is conservative for evidence: a
disagreeing server can only remove observations from the exhibits, never make a skewed clock look good, and
an opposing expert cannot point to a measurement we overruled. The cost (a false ticker flags
time until it answers within the threshold again) is visible in :func:`clock_status`; drop such a server
from the configuration. Samples with the same ``measured_at_us`` are judged together (order-free).

**Windows.** When the clock stops being verified, a window opens *just after* the last instant it was
verified (or at the start of the record, ``RECORD_START_US``, when it never was) and closes at the next
instant it is verified again (open-ended, ``end_us=None``, when it never is). Windows are half-open:
``start_us <= t < end_us``; an observation stamped exactly at a good sample is not flagged, one a
microsecond after the last good sample is. With ``max_age_us`` set, a verification also expires: time more
than ``max_age_us`` after the last good instant is flagged until the next one.

**Presets.** :meth:`ClockPolicy.default` (100 ms) and :meth:`ClockPolicy.strict`, the commercial-anchor mode:
40 ms and "discard everything since the last good sync" — the same window rule with a tighter threshold.
With no samples at all the clock is *unmeasured*: no window is produced, and :func:`clock_status` says so.

Source: README "Honest clock"; RFC 4330 section 5 (offset, delay).
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from typing import Any, Literal

from swarmscope.evidence.records import ClockSample

RECORD_START_US = 0  # window start when no good sample precedes: the whole record before it is flagged


@dataclass(frozen=True, slots=True)
class ClockPolicy:
    """When a clock sample counts as good, and when a sync expires.

    Args:
        threshold_us: largest |offset| (microseconds, inclusive) of a good sample; > 0.
        max_age_us: a good sync vouches for at most this many microseconds after it (None: until the next
            sample). name: label in the methodology statement.

    Raises:
        ValueError: non-positive threshold or max_age.
    """

    threshold_us: int = 100_000
    max_age_us: int | None = None
    name: str = "default"

    def __post_init__(self) -> None:
        if self.threshold_us <= 0 or (self.max_age_us is not None and self.max_age_us <= 0):
            raise ValueError("ClockPolicy: threshold_us and max_age_us must be positive")

    @classmethod
    def default(cls) -> ClockPolicy:
        """100 ms; flag from just after the last good sync until the next good one (README "Honest clock")."""
        return cls()

    @classmethod
    def strict(cls) -> ClockPolicy:
        """Commercial-anchor mode: 40 ms; discard everything since the last good sync."""
        return cls(threshold_us=40_000, name="commercial-anchor")

    def is_good(self, sample: ClockSample) -> bool:
        """True when ``sample`` has a usable reply within the threshold (inclusive)."""
        return (
            sample.error is None
            and sample.offset_us is not None
            and abs(sample.offset_us) <= self.threshold_us
        )


@dataclass(frozen=True, slots=True)
class FlagWindow:
    """A stretch of evidence time the clock was not verified: ``start_us <= t < end_us``.

    Args:
        start_us: first flagged microsecond (UTC; ``RECORD_START_US`` = from the start of the record).
        end_us: first microsecond verified again (the next good sample), None when open-ended.
        reason: what opened the window (offset and server, failure text, or sync expiry).
    """

    start_us: int
    end_us: int | None
    reason: str

    def covers(self, t_us: int) -> bool:
        """True when ``t_us`` (UTC microseconds) falls inside the window."""
        return self.start_us <= t_us and (self.end_us is None or t_us < self.end_us)


def _reason(sample: ClockSample, policy: ClockPolicy) -> str:
    if sample.error is not None or sample.offset_us is None:
        return f"no usable reply from {sample.server}: {sample.error or 'no offset'}"
    return f"offset {sample.offset_us:+d} us from {sample.server} exceeds {policy.threshold_us} us"


def _verdicts(samples: Iterable[ClockSample], policy: ClockPolicy) -> list[tuple[int, bool, str]]:
    """(instant, verified?, reason of the first bad/failed sample there) per distinct measured_at_us."""
    state: dict[str, str] = {}
    out: list[tuple[int, bool, str]] = []
    ordered = sorted(samples, key=lambda s: s.measured_at_us)
    for instant, group in groupby(ordered, key=lambda s: s.measured_at_us):
        reason = ""
        for sample in group:
            if policy.is_good(sample):
                state[sample.server] = "good"
                continue
            reason = reason or _reason(sample, policy)
            if sample.offset_us is not None and sample.error is None:
                state[sample.server] = "bad"
            elif state.get(sample.server) != "bad":
                state[sample.server] = "unknown"
        values = state.values()
        verified = "bad" not in values and "good" in values
        out.append((instant, verified, reason or "no server verified the clock"))
    return out


def flag_windows(samples: Iterable[ClockSample], policy: ClockPolicy) -> tuple[FlagWindow, ...]:
    """The windows during which the evidence clock was not verified (rules in the module docstring).

    Args:
        samples: clock samples of one record, any order, any servers.
        policy: threshold and expiry.

    Returns:
        Non-overlapping windows sorted by ``start_us``; empty when there are no samples (unmeasured).
    """
    windows: list[FlagWindow] = []
    last_good: int | None = None
    open_reason: str | None = None
    for instant, verified, reason in _verdicts(samples, policy):
        if verified:
            if open_reason is not None:
                start = RECORD_START_US if last_good is None else last_good + 1
                windows.append(FlagWindow(start, instant, open_reason))
            elif last_good is not None and policy.max_age_us is not None:
                expiry = last_good + policy.max_age_us + 1
                if expiry < instant:
                    windows.append(FlagWindow(expiry, instant, _expired(policy)))
            last_good, open_reason = instant, None
        elif open_reason is None:
            open_reason = reason
    if open_reason is not None:
        start = RECORD_START_US if last_good is None else last_good + 1
        windows.append(FlagWindow(start, None, open_reason))
    elif last_good is not None and policy.max_age_us is not None:
        windows.append(FlagWindow(last_good + policy.max_age_us + 1, None, _expired(policy)))
    return tuple(windows)


def _expired(policy: ClockPolicy) -> str:
    return f"no good sync for more than {policy.max_age_us} us"


def flagged(t_us: int, windows: Sequence[FlagWindow]) -> FlagWindow | None:
    """The window covering ``t_us``, or None (binary search: O(log n)).

    Args:
        t_us: an evidence timestamp, UTC microseconds.
        windows: as returned by :func:`flag_windows` (sorted, non-overlapping).
    """
    index = bisect_right(windows, t_us, key=lambda w: w.start_us) - 1
    if index >= 0 and windows[index].covers(t_us):
        return windows[index]
    return None


@dataclass(frozen=True, slots=True)
class ClockStatus:
    """The clock facts for a methodology statement.

    Args:
        state: ``unmeasured`` (no samples: nothing flagged, nothing verified), ``unverified`` (samples
            but never a good one), ``verified`` (no window), or ``flagged`` (some windows).
        policy: the policy applied. servers: servers sampled, sorted. samples, failures: counts.
        last_offset_us: offset of the latest usable reply (None without one).
        max_abs_offset_us: largest |offset| of any usable reply (None without one).
        windows: as :func:`flag_windows`. statement: one English sentence summarising the above.
    """

    state: Literal["unmeasured", "unverified", "verified", "flagged"]
    policy: ClockPolicy
    servers: tuple[str, ...]
    samples: int
    failures: int
    last_offset_us: int | None
    max_abs_offset_us: int | None
    windows: tuple[FlagWindow, ...]
    statement: str

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for a methodology statement (str keys; int, str, None, list, dict values)."""
        return {
            "state": self.state,
            "policy": {
                "name": self.policy.name,
                "threshold_us": self.policy.threshold_us,
                "max_age_us": self.policy.max_age_us,
                "multi_server_rule": "flag if any server exceeds",
                "window": "start_us <= t < end_us (end_us null: open-ended)",
            },
            "servers": list(self.servers),
            "samples": self.samples,
            "failures": self.failures,
            "last_offset_us": self.last_offset_us,
            "max_abs_offset_us": self.max_abs_offset_us,
            "windows": [
                {"start_us": w.start_us, "end_us": w.end_us, "reason": w.reason} for w in self.windows
            ],
            "statement": self.statement,
        }


def clock_status(samples: Iterable[ClockSample], policy: ClockPolicy) -> ClockStatus:
    """Summarise ``samples`` under ``policy`` for the methodology statement.

    Args:
        samples: clock samples of one record, any order.
        policy: the policy applied.

    Returns:
        A ClockStatus; with no samples its state is ``unmeasured`` and its statement says so.
    """
    ordered = sorted(samples, key=lambda s: s.measured_at_us)
    replies = [s.offset_us for s in ordered if s.error is None and s.offset_us is not None]
    windows = flag_windows(ordered, policy)
    servers = tuple(sorted({s.server for s in ordered}))
    rule = f"policy {policy.name}: |offset| <= {policy.threshold_us} us"
    if not ordered:
        state: Literal["unmeasured", "unverified", "verified", "flagged"] = "unmeasured"
        text = f"Clock unmeasured: no NTP samples, so no observation is flagged or clock-verified ({rule})."
    elif windows and (windows[0].start_us, windows[0].end_us) == (RECORD_START_US, None):
        state, text = "unverified", f"Clock never verified by {len(servers)} server(s) ({rule})."
    elif windows:
        state, text = (
            "flagged",
            f"Clock measured against {len(servers)} server(s); {len(windows)} window(s) flagged ({rule}).",
        )
    else:
        state, text = "verified", f"Clock verified against {len(servers)} server(s) throughout ({rule})."
    return ClockStatus(
        state=state,
        policy=policy,
        servers=servers,
        samples=len(ordered),
        failures=len(ordered) - len(replies),
        last_offset_us=replies[-1] if replies else None,
        max_abs_offset_us=max((abs(o) for o in replies), default=None),
        windows=windows,
        statement=text,
    )

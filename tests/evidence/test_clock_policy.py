"""Clock policy: good samples, flag windows (one and several servers), expiry, presets, status; a property
that flagged() agrees with a brute-force scan and with an independent oracle of the documented rule."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from swarmscope.evidence.clock_policy import (
    RECORD_START_US,
    ClockPolicy,
    FlagWindow,
    clock_status,
    flag_windows,
    flagged,
)
from swarmscope.evidence.records import ClockSample

T = 100_000  # threshold in the table below


def ok(t: int, offset: int = 0, server: str = "a") -> ClockSample:
    return ClockSample(server, t, offset_us=offset, delay_us=50, stratum=8, leap=0)


def fail(t: int, server: str = "a", error: str = "timeout: no reply within 2.0 s") -> ClockSample:
    return ClockSample(server, t, error=error)


def spans(windows: tuple[FlagWindow, ...]) -> list[tuple[int, int | None]]:
    return [(w.start_us, w.end_us) for w in windows]


# (name, samples, expected (start, end) windows) under ClockPolicy(threshold_us=T)
TABLE = [
    ("no samples: unmeasured, nothing flagged", [], []),
    ("all good", [ok(10), ok(20, 99_999), ok(30, -T)], []),
    ("threshold itself is good", [ok(10, T), ok(20, -T)], []),
    ("one over the threshold", [ok(10), ok(20, T + 1), ok(30)], [(11, 30)]),
    ("bad first: from the record start", [ok(10, -500_000), ok(20)], [(RECORD_START_US, 20)]),
    ("bad last: open-ended", [ok(10), ok(20, 500_000)], [(11, None)]),
    ("failure flags like a bad offset", [ok(10), fail(20), ok(30)], [(11, 30)]),
    ("only failures: whole record", [fail(10), fail(20)], [(RECORD_START_US, None)]),
    ("run of bad ones: one window", [ok(10), ok(20, T * 3), fail(25), ok(27, -T * 2), ok(40)], [(11, 40)]),
    ("two separate windows", [ok(1), fail(5), ok(9), ok(12), ok(15, T * 9), ok(19)], [(2, 9), (13, 19)]),
    ("order of input does not matter", [ok(30), ok(20, T + 1), ok(10)], [(11, 30)]),
    # several servers: flag if any exceeds; failures do not clear a bad reading
    ("two servers agree", [ok(10, 5, "a"), ok(11, -5, "b"), ok(20, 0, "a")], []),
    (
        "one server disagrees",
        [ok(10, 0, "a"), ok(11, 0, "b"), ok(20, 0, "a"), ok(21, T * 5, "b"), ok(30, 0, "a"), ok(31, 0, "b")],
        [(21, 31)],
    ),
    (
        "failure of one server while another is good",
        [ok(10, 0, "a"), ok(10, 0, "b"), fail(20, "b"), ok(20, 0, "a")],
        [],
    ),
    (
        "bad server then silent stays bad",
        [ok(10, 0, "a"), ok(20, T * 5, "b"), fail(30, "b"), ok(30, 0, "a"), ok(40, 0, "a")],
        [(11, None)],
    ),
    (
        "same instant: bad and good together is bad",
        [ok(10, 0, "a"), ok(20, 0, "a"), ok(20, T * 2, "b"), ok(30, 0, "a"), ok(30, 0, "b")],
        [(11, 30)],
    ),
]


@pytest.mark.parametrize(("name", "samples", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_flag_windows_table(
    name: str, samples: list[ClockSample], expected: list[tuple[int, int | None]]
) -> None:
    assert spans(flag_windows(samples, ClockPolicy(threshold_us=T))) == expected


def test_window_boundaries_are_half_open() -> None:
    windows = flag_windows([ok(100), ok(200, T + 1), ok(300)], ClockPolicy(threshold_us=T))
    assert flagged(100, windows) is None  # the last good sample itself is verified
    assert flagged(101, windows) == windows[0]  # one microsecond later is not
    assert flagged(200, windows) == windows[0]
    assert flagged(299, windows) == windows[0]
    assert flagged(300, windows) is None  # the next good sample closes the window
    assert "offset +100001 us from a exceeds 100000 us" in windows[0].reason


def test_failure_reason_names_server_and_error() -> None:
    (window,) = flag_windows(
        [ok(1, 0, "[::1]:123"), fail(2, "[::1]:123", "kiss-o'-death RATE")], ClockPolicy()
    )
    assert window.reason == "no usable reply from [::1]:123: kiss-o'-death RATE"
    assert window.end_us is None


def test_strict_preset_is_the_commercial_anchor() -> None:
    strict, default = ClockPolicy.strict(), ClockPolicy.default()
    assert (strict.threshold_us, strict.name) == (40_000, "commercial-anchor")
    assert default.threshold_us == 100_000
    samples = [ok(10), ok(20, 50_000), ok(30)]  # 50 ms: fine by default, discarded by the anchor
    assert flag_windows(samples, default) == ()
    assert spans(flag_windows(samples, strict)) == [(11, 30)]


def test_max_age_expires_a_sync() -> None:
    policy = ClockPolicy(threshold_us=T, max_age_us=50)
    samples = [ok(0), ok(40), ok(200), ok(230)]
    windows = flag_windows(samples, policy)
    assert spans(windows) == [(91, 200), (281, None)]
    assert flagged(90, windows) is None and flagged(91, windows) is not None
    assert "no good sync for more than 50 us" in windows[0].reason


@pytest.mark.parametrize("bad", [{"threshold_us": 0}, {"threshold_us": -1}, {"max_age_us": 0}])
def test_policy_rejects_non_positive(bad: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        ClockPolicy(**bad)


def test_status_unmeasured_says_so() -> None:
    status = clock_status([], ClockPolicy())
    assert status.state == "unmeasured"
    assert status.windows == () and status.servers == () and status.samples == 0
    assert status.last_offset_us is None and status.max_abs_offset_us is None
    assert "unmeasured" in status.statement and "no NTP samples" in status.statement
    assert status.as_dict()["state"] == "unmeasured" and status.as_dict()["windows"] == []


def test_status_summarises_samples() -> None:
    samples = [ok(10, 30, "a"), ok(11, -250_000, "b"), fail(12, "a"), ok(20, -40, "b"), ok(21, 20, "a")]
    status = clock_status(samples, ClockPolicy())
    assert status.state == "flagged"
    assert status.servers == ("a", "b")
    assert (status.samples, status.failures) == (5, 1)
    assert status.last_offset_us == 20 and status.max_abs_offset_us == 250_000
    assert spans(status.windows) == [(11, 20)]
    as_dict = status.as_dict()
    assert json.loads(json.dumps(as_dict)) == as_dict
    assert as_dict["windows"] == [{"start_us": 11, "end_us": 20, "reason": status.windows[0].reason}]
    assert as_dict["policy"]["threshold_us"] == 100_000 and as_dict["servers"] == ["a", "b"]
    assert clock_status([ok(1), ok(2)], ClockPolicy()).state == "verified"
    never = clock_status([fail(1), ok(2, T * 2)], ClockPolicy())
    assert never.state == "unverified" and spans(never.windows) == [(RECORD_START_US, None)]


def test_flagged_on_empty_and_before_first_window() -> None:
    assert flagged(5, ()) is None
    windows = (FlagWindow(10, 20, "x"), FlagWindow(30, None, "y"))
    assert [flagged(t, windows) for t in (9, 10, 19, 20, 29, 30, 10**15)] == [
        None,
        windows[0],
        windows[0],
        None,
        None,
        windows[1],
        windows[1],
    ]


# -- properties -----------------------------------------------------------------------------------

_sample = st.builds(
    lambda server, t, kind, offset: fail(t, server) if kind == "fail" else ok(t, offset, server),
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 60),
    st.sampled_from(["reply", "reply", "fail"]),
    st.integers(-30, 30),
)


def _unique(samples: list[ClockSample]) -> list[ClockSample]:
    """One sample per (server, instant): the rule leaves same-server ties to input order."""
    return list({(s.server, s.measured_at_us): s for s in samples}.values())


def _verified_at(instant: int, samples: list[ClockSample], policy: ClockPolicy) -> bool:
    """Oracle: a server is bad when its latest reply is over the threshold, good when its latest sample
    is a good reply; verified when none is bad and one is good."""
    bad = good = False
    for server in {s.server for s in samples}:
        mine = sorted(
            (s for s in samples if s.server == server and s.measured_at_us <= instant),
            key=lambda s: s.measured_at_us,
        )
        replies = [s for s in mine if s.error is None]
        bad |= bool(replies) and not policy.is_good(replies[-1])
        good |= bool(mine) and policy.is_good(mine[-1])
    return good and not bad


@settings(max_examples=300, deadline=None)
@given(st.lists(_sample, max_size=12), st.sampled_from([None, 7, 25]), st.integers(0, 70))
def test_flagged_agrees_with_scan_and_oracle(samples: list[ClockSample], max_age: int | None, t: int) -> None:
    samples = _unique(samples)
    policy = ClockPolicy(threshold_us=10, max_age_us=max_age)
    windows = flag_windows(samples, policy)
    assert list(windows) == sorted(windows, key=lambda w: w.start_us)
    for first, second in itertools.pairwise(windows):
        assert first.end_us is not None and first.end_us < second.start_us
    scan = next((w for w in windows if w.start_us <= t and (w.end_us is None or t < w.end_us)), None)
    assert flagged(t, windows) == scan
    instants = sorted({s.measured_at_us for s in samples})
    verified = [i for i in instants if _verified_at(i, samples, policy)]
    last_good = max((i for i in verified if i <= t), default=None)
    next_good = min((i for i in verified if i > t), default=None)
    lo = -1 if last_good is None else last_good
    hi = 10**9 if next_good is None else next_good
    unverified_between = any(lo < i < hi and i not in verified for i in instants)
    expired = last_good is not None and max_age is not None and t > last_good + max_age
    assert (scan is not None) == (t != last_good and (unverified_between or expired))

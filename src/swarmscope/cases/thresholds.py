"""Which peer addresses become case candidates (pure policy over verified hits).

A *hit* is one VERIFIED observation (a piece or block received from the address matched the metainfo);
listed, connected and has_pieces observations never count. Hits are grouped per (IP, infohash). A group is
a candidate when ALL of these hold, otherwise it is excluded with every reason that applies:

- ``too_few_hits``: at least ``min_hits`` verified hits (default 3);
- ``span_too_short``: the first and last hit *start* times are at least ``min_span_us`` apart (default one
  hour; the boundary itself passes) — a court rejected two sightings ten minutes apart;
- ``clock_flagged``: NO hit lies in a clock-flagged window. Choice: a single flagged hit excludes the
  address rather than merely not counting, because its timestamps as a whole then rest on a clock we could
  not vouch for at one of the moments we would show; counsel can re-run once more hits accrue outside any
  window only if the flagged one is purged from the evidence, never by ignoring it;
- ``flagged:<flag>``: the address carries none of the attribution flags (``hosting``, ``vpn``, ``tor``)
  unless the user opted in to that flag (``allow_flags``).

The candidate's port is the port of its first hit (exhibits show the address the first proof came from).

Source: issue 5 item 3.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

KNOWN_FLAGS: frozenset[str] = frozenset({"hosting", "vpn", "tor"})
HOUR_US = 3600 * 10**6


@dataclass(frozen=True, slots=True)
class ThresholdPolicy:
    """How much verified evidence makes an address a candidate.

    Args:
        min_hits: verified hits needed (>= 1). min_span_us: first-to-last hit start, microseconds (>= 0).
        allow_flags: attribution flags that do NOT exclude (opt-in), e.g. ``frozenset({"hosting"})``.

    Raises:
        ValueError: min_hits < 1 or min_span_us < 0.
    """

    min_hits: int = 3
    min_span_us: int = HOUR_US
    allow_flags: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.min_hits < 1 or self.min_span_us < 0:
            raise ValueError("ThresholdPolicy: min_hits must be >= 1 and min_span_us >= 0")


@dataclass(frozen=True, slots=True)
class Hit:
    """One VERIFIED observation of an address in a swarm.

    Args:
        ip: normalised IP literal. port: 1..65535. infohash: swarm id hex.
        at_us, ended_us: the observation's start and end, UTC microseconds.
        clock_flagged: the start lies in a clock-flagged window (:mod:`swarmscope.evidence.clock_policy`).
    """

    ip: str
    port: int
    infohash: str
    at_us: int
    ended_us: int
    clock_flagged: bool = False


@dataclass(frozen=True, slots=True)
class Candidate:
    """An (IP, infohash) group of verified hits and the verdict on it.

    Args:
        ip, infohash: the group. port: port of the first hit.
        first_hit_us, last_hit_us: start of the first and last hit, UTC microseconds. hits: verified hits.
        reasons_excluded: empty for a candidate; else ``"<code>: <explanation>"`` strings (codes
            ``too_few_hits``, ``span_too_short``, ``clock_flagged``, ``flagged:<flag>``).
    """

    ip: str
    infohash: str
    port: int
    first_hit_us: int
    last_hit_us: int
    hits: int
    reasons_excluded: tuple[str, ...] = ()

    @property
    def span_us(self) -> int:
        """Microseconds from the first to the last hit start."""
        return self.last_hit_us - self.first_hit_us

    @property
    def is_candidate(self) -> bool:
        """True when no reason excludes it."""
        return not self.reasons_excluded


def _minutes(us: int) -> str:
    return f"{us / 60_000_000:.1f} min"


def _reasons(group: list[Hit], policy: ThresholdPolicy, flags: frozenset[str]) -> tuple[str, ...]:
    reasons: list[str] = []
    span = group[-1].at_us - group[0].at_us
    if len(group) < policy.min_hits:
        reasons.append(f"too_few_hits: {len(group)} verified hit(s), {policy.min_hits} required")
    if span < policy.min_span_us:
        reasons.append(f"span_too_short: hits span {_minutes(span)}, {_minutes(policy.min_span_us)} required")
    flagged = [h for h in group if h.clock_flagged]
    if flagged:
        reasons.append(f"clock_flagged: {len(flagged)} hit(s) in a clock-flagged window")
    reasons.extend(
        f"flagged:{f}: address flagged {f} (not allowed)" for f in sorted(flags - policy.allow_flags)
    )
    return tuple(reasons)


def evaluate(
    hits: Iterable[Hit], policy: ThresholdPolicy, flags_by_ip: Mapping[str, frozenset[str]]
) -> list[Candidate]:
    """Judge every (IP, infohash) group of ``hits``: candidates and excluded groups, with reasons.

    Args:
        hits: verified hits, any order. policy: the thresholds.
        flags_by_ip: attribution flags per IP (missing IP: no flags).

    Returns:
        One :class:`Candidate` per group, sorted by (infohash, first hit, ip); excluded groups have
        non-empty ``reasons_excluded``.

    Source: issue 5 item 3.
    """
    groups: dict[tuple[str, str], list[Hit]] = {}
    for hit in hits:
        groups.setdefault((hit.ip, hit.infohash.lower()), []).append(hit)
    out: list[Candidate] = []
    for (ip, infohash), group in groups.items():
        group.sort(key=lambda h: (h.at_us, h.ended_us, h.port))
        reasons = _reasons(group, policy, flags_by_ip.get(ip, frozenset()))
        first, last = group[0], group[-1]
        out.append(Candidate(ip, infohash, first.port, first.at_us, last.at_us, len(group), reasons))
    out.sort(key=lambda c: (c.infohash, c.first_hit_us, c.ip))
    return out


def candidates(
    hits: Iterable[Hit], policy: ThresholdPolicy, flags_by_ip: Mapping[str, frozenset[str]]
) -> list[Candidate]:
    """Only the groups that pass every threshold (see :func:`evaluate`)."""
    return [c for c in evaluate(hits, policy, flags_by_ip) if c.is_candidate]

"""Which peer addresses become case candidates (pure policy over verified hits).

A *hit* is one VERIFIED observation (a piece or block received from the address matched the metainfo);
listed, connected and has_pieces observations never count. Hits are grouped per (IP, port, infohash):
behind carrier-grade NAT one IP address with several ports may be several subscribers, so the hits that
make a candidate must all come from ONE address and port. A group is a candidate when ALL of these hold,
otherwise it is excluded with every reason that applies:

- ``too_few_hits``: at least ``min_hits`` verified hits (default 3);
- ``span_too_short``: the first and last hit *start* times are at least ``min_span_us`` apart (default one
  hour; the boundary itself passes) — a court rejected two sightings ten minutes apart;
- ``clock_flagged``: NO hit lies in a clock-flagged window. Choice: a single flagged hit excludes the
  address rather than merely not counting, because its timestamps as a whole then rest on a clock we could
  not vouch for at one of the moments we would show; counsel can re-run once more hits accrue outside any
  window only if the flagged one is purged from the evidence, never by ignoring it;
- ``flagged:<flag>``: the address carries none of the attribution flags (``hosting``, ``vpn``, ``tor``)
  unless the user opted in to that flag (``allow_flags``);
- ``too_few_vantages``: its hits were seen from at least ``min_vantages`` distinct vantage points
  (default 1, the court-tested single-monitor evidence): source networks of the sealing runs (/24 IPv4,
  /48 IPv6; the address itself on loopback; every run without ``--bind`` one shared vantage:
  :mod:`swarmscope.evidence.bundle.vantage`), since two nodes on one address or network are banned and
  routed together, and by at least as many distinct node keys, since one node's own runs from two
  networks share its clock and software: the count is the smaller of the two. A group seen by two or more
  node keys from two or more vantages is *corroborated* (``Candidate.corroborated``,
  :func:`swarmscope.evidence.bundle.vantage.corroborated`): one node's routing, clock or software fault
  cannot have made it alone.

When the same (IP, infohash) also shows hits on other ports, every group of that IP says so
(``other_ports`` and its ``notes``: "also seen on ports ..."), so counsel and exhibits see that the IP
address alone may not single out one subscriber; those other hits are never counted in the group.

:func:`policy_warnings` names what in a policy is weaker than the defaults (fewer hits, a shorter span,
flags opted in) and :meth:`ThresholdPolicy.describe` gives the one-line text recorded with each case.

Source: README "Thresholds" (a court rejected two sightings in ten minutes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from swarmscope.evidence.bundle.vantage import corroborated, independent_pairs, vantage_count

KNOWN_FLAGS: frozenset[str] = frozenset({"hosting", "vpn", "tor"})
HOUR_US = 3600 * 10**6
DEFAULT_MIN_HITS = 3
DEFAULT_MIN_SPAN_US = HOUR_US
DEFAULT_MIN_VANTAGES = 1


@dataclass(frozen=True, slots=True)
class ThresholdPolicy:
    """How much verified evidence makes an address a candidate.

    Args:
        min_hits: verified hits needed (>= 1). min_span_us: first-to-last hit start, microseconds (>= 0).
        allow_flags: attribution flags that do NOT exclude (opt-in), e.g. ``frozenset({"hosting"})``.
        min_vantages: distinct vantage points (source networks of the sealing runs) AND distinct node
            keys whose hits make the group (>= 1).

    Raises:
        ValueError: min_hits < 1, min_span_us < 0 or min_vantages < 1.
    """

    min_hits: int = DEFAULT_MIN_HITS
    min_span_us: int = DEFAULT_MIN_SPAN_US
    allow_flags: frozenset[str] = field(default_factory=frozenset)
    min_vantages: int = DEFAULT_MIN_VANTAGES

    def __post_init__(self) -> None:
        if self.min_hits < 1 or self.min_span_us < 0 or self.min_vantages < 1:
            raise ValueError("ThresholdPolicy: min_hits and min_vantages must be >= 1 and min_span_us >= 0")

    def describe(self) -> str:
        """One line for the case history, e.g. ``min_hits=3, min_span=60.0 min, allow_flags=none``
        (``, min_vantages=2`` follows when more than one vantage is required).

        A policy weaker than the defaults says so: ``(below the defaults: min_hits; opt-in: hosting)``.
        """
        text = (
            f"min_hits={self.min_hits}, min_span={_minutes(self.min_span_us)}, "
            f"allow_flags={','.join(sorted(self.allow_flags)) or 'none'}"
        )
        if self.min_vantages > DEFAULT_MIN_VANTAGES:
            text += f", min_vantages={self.min_vantages}"
        below = [
            name
            for name, weaker in (
                ("min_hits", self.min_hits < DEFAULT_MIN_HITS),
                ("min_span", self.min_span_us < DEFAULT_MIN_SPAN_US),
            )
            if weaker
        ]
        marks = ([f"below the defaults: {', '.join(below)}"] if below else []) + (
            [f"opt-in: {','.join(sorted(self.allow_flags))}"] if self.allow_flags else []
        )
        return f"{text} ({'; '.join(marks)})" if marks else text


def policy_warnings(policy: ThresholdPolicy) -> tuple[str, ...]:
    """What in ``policy`` is weaker than a court-tested policy (defaults: 3 hits over >= 1 hour, no flags).

    Args:
        policy: the thresholds a build uses.

    Returns:
        One English sentence per weakening (empty for the defaults or anything stricter).

    Source: README "Thresholds" (a court rejected two sightings in ten minutes).
    """
    defaults = f"the defaults a court-tested policy uses ({DEFAULT_MIN_HITS} verified hits over >= 1 hour)"
    out: list[str] = []
    if policy.min_hits < DEFAULT_MIN_HITS:
        out.append(f"min hits {policy.min_hits} is below {defaults}")
    if policy.min_span_us < DEFAULT_MIN_SPAN_US:
        out.append(f"min span {_minutes(policy.min_span_us)} is below {defaults}")
    for flag in sorted(policy.allow_flags):
        out.append(
            f"addresses flagged {flag} are admitted (opt-in): such an address rarely identifies the person "
            "who used it"
        )
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Hit:
    """One VERIFIED observation of an address in a swarm.

    Args:
        ip: normalised IP literal. port: 1..65535. infohash: swarm id hex.
        at_us, ended_us: the observation's start and end, UTC microseconds.
        clock_flagged: the start lies in a clock-flagged window (:mod:`swarmscope.evidence.clock_policy`).
        node: hex fingerprint of the node key that sealed it ("" when unknown).
        vantage: the source network its run probed from (:mod:`swarmscope.evidence.bundle.vantage`;
            "" when unknown: the node key stands for it).
    """

    ip: str
    port: int
    infohash: str
    at_us: int
    ended_us: int
    clock_flagged: bool = False
    node: str = ""
    vantage: str = ""

    @property
    def vantage_key(self) -> str:
        """What corroboration counts: the vantage network, else the node key ("" when neither is known)."""
        return self.vantage or self.node


@dataclass(frozen=True, slots=True)
class Candidate:
    """An (IP, port, infohash) group of verified hits and the verdict on it.

    Args:
        ip, infohash, port: the group (every hit counted came from this one address and port).
        first_hit_us, last_hit_us: start of the first and last hit, UTC microseconds. hits: verified hits.
        reasons_excluded: empty for a candidate; else ``"<code>: <explanation>"`` strings (codes
            ``too_few_hits``, ``span_too_short``, ``clock_flagged``, ``flagged:<flag>``,
            ``too_few_vantages``).
        other_ports: other ports with verified hits from the same IP in the same swarm (ascending;
            possibly other subscribers behind carrier-grade NAT); never counted here.
        vantages: hex fingerprints of the node keys that sealed its hits (ascending, distinct).
        networks: the distinct vantage points (source networks, :attr:`Hit.vantage_key`) of its hits.
    """

    ip: str
    infohash: str
    port: int
    first_hit_us: int
    last_hit_us: int
    hits: int
    reasons_excluded: tuple[str, ...] = ()
    other_ports: tuple[int, ...] = ()
    vantages: tuple[str, ...] = ()
    networks: tuple[str, ...] = ()

    @property
    def corroborated(self) -> bool:
        """True when two or more node keys from two or more vantage points (distinct source networks)
        saw its hits (:func:`swarmscope.evidence.bundle.vantage.corroborated`)."""
        return corroborated(self.vantages, self.networks)

    @property
    def notes(self) -> tuple[str, ...]:
        """Facts counsel must see besides the verdict (``"also_seen_on_ports: ..."``), possibly empty."""
        if not self.other_ports:
            return ()
        ports = ", ".join(str(p) for p in self.other_ports)
        return (
            f"also_seen_on_ports: {self.ip} also seen on ports {ports} in this swarm (not counted: behind "
            "carrier-grade NAT each port may be another subscriber)",
        )

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
    reasons.extend(_vantage_reasons(group, policy.min_vantages))
    return tuple(reasons)


def _vantage_reasons(group: list[Hit], required: int) -> list[str]:
    """``too_few_vantages`` when fewer than ``required`` node keys or vantages saw the group, or, for three
    or more, fewer than ``required`` hits are pairwise independent, each of another node key and another
    vantage (:func:`~swarmscope.evidence.bundle.vantage.independent_pairs`)."""
    if required <= DEFAULT_MIN_VANTAGES:
        return []
    networks = vantage_count(h.vantage_key for h in group if h.vantage_key)  # one at least
    nodes = len({h.node for h in group if h.node})
    pairs = independent_pairs((h.node, h.vantage_key) for h in group)
    if min(networks, nodes) < required:
        if nodes < networks:
            shared = f" from {networks} source networks (one node key's runs share its clock and software)"
        elif nodes > networks:
            shared = f" on {networks} vantage point(s) (distinct source networks)"
        else:
            shared = ""
        return [f"too_few_vantages: seen from {nodes} node(s){shared}, {required} required"]
    if pairs < required and required > 2:  # two: corroborated()'s rule (two keys AND two vantages)
        return [
            f"too_few_vantages: seen from {nodes} node(s) on {networks} vantage point(s), but only {pairs}"
            f" of them pairwise distinct in both node and vantage, {required} required"
        ]
    return []


def evaluate(
    hits: Iterable[Hit], policy: ThresholdPolicy, flags_by_ip: Mapping[str, frozenset[str]]
) -> list[Candidate]:
    """Judge every (IP, port, infohash) group of ``hits``: candidates and excluded groups, with reasons.

    Args:
        hits: verified hits, any order. policy: the thresholds.
        flags_by_ip: attribution flags per IP (missing IP: no flags).

    Returns:
        One :class:`Candidate` per group, sorted by (infohash, first hit, ip, port); excluded groups have
        non-empty ``reasons_excluded``; ``other_ports`` lists the IP's other ports in the same swarm.

    Source: README "Thresholds"; carrier-grade NAT (one IP, many subscribers told apart by port).
    """
    groups: dict[tuple[str, int, str], list[Hit]] = {}
    for hit in hits:
        groups.setdefault((hit.ip, hit.port, hit.infohash.lower()), []).append(hit)
    ports: dict[tuple[str, str], set[int]] = {}
    for ip, port, infohash in groups:
        ports.setdefault((ip, infohash), set()).add(port)
    out: list[Candidate] = []
    for (ip, port, infohash), group in groups.items():
        group.sort(key=lambda h: (h.at_us, h.ended_us))
        reasons = _reasons(group, policy, flags_by_ip.get(ip, frozenset()))
        others = tuple(sorted(ports[(ip, infohash)] - {port}))
        first, last = group[0], group[-1]
        nodes = tuple(sorted({h.node for h in group if h.node}))
        networks = tuple(sorted({h.vantage_key for h in group if h.vantage_key}))
        out.append(
            Candidate(
                ip, infohash, port, first.at_us, last.at_us, len(group), reasons, others, nodes, networks
            )
        )
    out.sort(key=lambda c: (c.infohash, c.first_hit_us, c.ip, c.port))
    return out


def candidates(
    hits: Iterable[Hit], policy: ThresholdPolicy, flags_by_ip: Mapping[str, frozenset[str]]
) -> list[Candidate]:
    """Only the groups that pass every threshold (see :func:`evaluate`)."""
    return [c for c in evaluate(hits, policy, flags_by_ip) if c.is_candidate]

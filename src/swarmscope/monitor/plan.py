"""Pure probing policy: which peer to probe when (no I/O, times passed in as UTC microseconds).

Politeness: one probe at a time per peer address, at most ``per_ip`` at once per IP, and a peer is probed
again only after ``reprobe_interval`` (verified peers) or a backoff (failures). Re-probing gives the
repeated, spaced hits that courts asked for (German courts threw out one-second hits; README "Evidence
tiers, and why" and "Thresholds").

Hostile peers (README "Resource bounds"):

- A peer whose probes connect but end without evidence in a way no honest client causes (a protocol error,
  a hash failure, metadata that does not hash: :data:`SUSPECT`; or more than 1 MiB of bytes besides piece
  payload: ``records.heavy_overhead``, verified or not) is re-probed after ``reprobe_interval``
  doubled per such probe, up to ``max_suspect_backoff``; a light verified probe resets the doubling of the
  protocol errors, never that of heavy probes (one genuine block must not carry its junk past the bound,
  nor genuine blocks alternating with junk). Each such probe stores up to the probe's overhead cap
  (4 MiB, ``ProbePolicy``), so at most 10 probes in its first day and 4 a day after (240 s doubling to
  6 h) bound what one peer stores.
- PEX (BEP 11) names addresses of the naming peer's choice. A PEX-only lead that has not yet connected is
  *pending*: at most ``pex_pending_per_swarm`` per swarm and ``pex_per_source`` per naming host (its IP
  address, an IPv6 /64: :func:`naming_host`; a naming host's slot is freed only when its lead connects or
  another source names it, so a liar names at most ``pex_per_source`` dead addresses for the whole run,
  whatever ports it listens on; with N probe processes each holds ``ceil(pex_per_source / N)`` of a naming
  host's leads of its shard, so the host holds at most ``N * ceil(pex_per_source / N)`` <=
  ``pex_per_source + N - 1`` in the node), and a pending lead is dropped after
  ``pex_max_failures`` failed dials, as libtorrent's peer list drops a peer whose ``failcount`` reaches
  ``max_failcount`` (3). Leads beyond a cap are not planned (their sighting is still recorded).
- Trackers and DHT nodes name addresses of their choice too: at most ``max_peers_per_swarm`` peers not
  verified per swarm (libtorrent's ``max_peerlist_size``; a new lead evicts the oldest never reached, then
  the oldest never verified, never a verified peer or one in flight), and a lead that never answered is
  dropped after ``max_failcount`` failed dials and refused for ``failed_lead_cooldown`` after
  (:mod:`swarmscope.monitor.plan_bound`).
"""

from __future__ import annotations

import heapq
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from swarmscope.evidence.records import Failure, Observation, Source, Tier, heavy_overhead
from swarmscope.monitor.plan_bound import PeerBound
from swarmscope.wire.types import host_key

PeerKey = tuple[str, str, int]  # (swarm hex, ip, port)
K = TypeVar("K")
_US = 1_000_000


@dataclass(frozen=True, slots=True)
class PlanPolicy:
    """Re-probe timing in seconds.

    Args:
        reprobe_interval: after a probe that reached ``connected`` or better.
        retry_after_failure: after a connect failure; doubled per consecutive failure up to ``max_backoff``.
        per_ip: probes in flight at once towards one IP address.
        max_attempts_unreachable: consecutive connect failures after which we stop trying (0 = never stop).
        max_suspect_backoff: the longest wait after :data:`SUSPECT` outcomes (seconds).
        pex_pending_per_swarm: PEX-only leads not yet connected, per swarm.
        pex_per_source: PEX-only leads not yet connected that one naming peer may hold.
        pex_max_failures: failed dials after which a pending PEX lead is dropped from the plan.
        max_peers_per_swarm: peers not verified a swarm's plan holds (libtorrent ``max_peerlist_size``).
        max_failcount: failed dials in a row, none ever answered, after which any other lead is dropped
            (libtorrent ``max_failcount``; 0 = never).
        failed_lead_cooldown: seconds a dropped lead is refused when named again.
    """

    reprobe_interval: float = 120.0
    retry_after_failure: float = 60.0
    max_backoff: float = 1800.0
    per_ip: int = 2
    max_attempts_unreachable: int = 0
    max_suspect_backoff: float = 21_600.0
    pex_pending_per_swarm: int = 1_000
    pex_per_source: int = 50
    pex_max_failures: int = 3
    max_peers_per_swarm: int = 3_000
    max_failcount: int = 3
    failed_lead_cooldown: float = 3_600.0


SUSPECT = frozenset(
    {Failure.PROTOCOL_ERROR.value, Failure.HASH_MISMATCH.value, Failure.METADATA_MISMATCH.value}
)


SOURCE_NAMES = tuple(source.value for source in Source)  # bit i of a source mask names SOURCE_NAMES[i]
_SOURCE_BITS = {name: 1 << i for i, name in enumerate(SOURCE_NAMES)}


def source_bit(name: str) -> int:
    """The bit of discovery source ``name`` (a :class:`Source` value) in a source mask.

    Raises:
        ValueError: ``name`` is not a :class:`Source` value.
    """
    bit = _SOURCE_BITS.get(name)
    if bit is None:
        raise ValueError(f"not a discovery source: {name!r}")
    return bit


def source_names(mask: int) -> set[str]:
    """The discovery source names set in ``mask``."""
    return {name for i, name in enumerate(SOURCE_NAMES) if mask >> i & 1}


class PeerState:
    """What the plan knows about one peer address.

    One per tracked peer, so kept small (``__slots__``, the sources as a bit mask of small ints that
    CPython shares): ≈ 72 bytes instead of ≈ 290 with a ``set`` of source names (``bench/memory.py``).
    ``due_us``: UTC µs of the next probe.
    """

    __slots__ = ("due_us", "failures", "in_flight", "probes", "source_mask")

    def __init__(self, source_mask: int = 0, due_us: int = 0) -> None:
        self.source_mask = source_mask
        self.in_flight = False
        self.failures = 0
        self.probes = 0
        self.due_us = due_us

    @property
    def sources(self) -> set[str]:
        """The discovery sources that named the peer."""
        return source_names(self.source_mask)


class ProbePlan:
    """Schedule of probes over all monitored swarms.

    ``shards``: the node's probe processes (``--probe-processes``, ``monitor/shards.py``), each with a plan
    of its own shard of the peers: a naming host's PEX quota is shared among them, ``pex_quota`` =
    ``ceil(pex_per_source / shards)`` here (leads are sharded by a hash of their address, so an honest
    host's leads spread evenly). ``on_drop``: called with each peer that leaves the plan (evicted for a
    new lead, dropped after failed dials, its swarm forgotten). Raises ValueError: ``shards`` below 1, or
    ``max_peers_per_swarm`` below 1.
    """

    def __init__(
        self,
        policy: PlanPolicy | None = None,
        shards: int = 1,
        on_drop: Callable[[PeerKey], object] = lambda _key: None,
    ) -> None:
        if shards < 1:
            raise ValueError(f"probe plan: {shards} shards")
        self.policy = policy or PlanPolicy()
        self.on_drop = on_drop
        self._bound = PeerBound(self.policy.max_peers_per_swarm, int(self.policy.failed_lead_cooldown * _US))
        self.pex_quota = -(-self.policy.pex_per_source // shards)
        self.peers: dict[PeerKey, PeerState] = {}
        self._heap: list[tuple[int, PeerKey]] = []
        self._per_ip: dict[str, int] = {}
        self._suspect: dict[PeerKey, int] = {}  # SUSPECT outcomes since the last verified probe
        self._heavy: dict[
            PeerKey, int
        ] = {}  # heavy probes, for good (a hostile peer's; honest ones have none)
        self._pex_pending: dict[PeerKey, str] = {}  # pending PEX lead -> the peer that named it
        self._pex_swarm: dict[str, int] = {}  # pending PEX leads per swarm
        self._pex_source: dict[tuple[str, str], int] = {}  # (swarm, naming peer) -> slots held

    def add(self, key: PeerKey, source: str, now_us: int, via: str = "") -> bool:
        """A discovery source named ``key``. Returns True when the peer is new to the plan.

        ``via``: for PEX, the naming peer (``"ip:port"``, also for leads another probe process forwards;
        ``""`` when unknown: only the swarm's cap applies). A PEX lead beyond a cap is refused (False), so
        is a lead cooling down after its failed dials, and a lead whose swarm is full of peers not verified
        with every one in flight; else a full swarm evicts one (:mod:`~swarmscope.monitor.plan_bound`).
        """
        state = self.peers.get(key)
        if state is not None:
            state.source_mask |= source_bit(source)
            if source != "pex":
                self._settle_pex(key, keep_source_slot=False)
            return False
        if self._bound.cooling(key, now_us):
            return False
        if source == "pex" and not self._admit_pex(key, via):
            return False
        if not self._make_room(key[0]):
            self._settle_pex(key, keep_source_slot=False)
            return False
        state = PeerState(source_bit(source), due_us=now_us)
        self.peers[key] = state
        self._bound.added(key)
        heapq.heappush(self._heap, (now_us, key))
        return True

    def _make_room(self, swarm: str) -> bool:
        """Evict a peer of ``swarm`` when it holds ``max_peers_per_swarm`` not verified; False when every
        one of them is in flight."""
        if not self._bound.full(swarm):
            return True
        victim = self._bound.victim(swarm, lambda key: self.peers[key].in_flight)
        if victim is None:
            return False
        self._drop(victim)
        return True

    def _drop(self, key: PeerKey, failed_at_us: int | None = None) -> None:
        """``key`` (not in flight) leaves the plan: evicted, or (``failed_at_us``) after its failed dials,
        then refused for the cool-down. A PEX lead's source slot stays spent (module docstring)."""
        del self.peers[key]
        self._suspect.pop(key, None)
        self._heavy.pop(key, None)
        self._settle_pex(key, keep_source_slot=True)
        if failed_at_us is None:
            self._bound.removed(key)
        else:
            self._bound.failed_out(key, failed_at_us)
        self.on_drop(key)
        if len(self._heap) > 2 * len(self.peers) + 1024:
            self._compact()

    def _compact(self) -> None:
        """Drop the heap's stale entries (peers evicted, dropped or forgotten), so that a flood of leads
        cannot grow the heap past twice the plan (+ 1,024)."""
        peers = self.peers
        self._heap = [
            (due_us, key)
            for due_us, key in self._heap
            if (state := peers.get(key)) is not None and state.due_us == due_us and not state.in_flight
        ]
        heapq.heapify(self._heap)

    def due(self, now_us: int, limit: int) -> list[PeerKey]:
        """Up to ``limit`` peers whose probe is due now, marked in flight (politeness applied)."""
        out: list[PeerKey] = []
        skipped: list[tuple[int, PeerKey]] = []
        heap = self._heap
        while heap and len(out) < limit and heap[0][0] <= now_us:
            due_us, key = heapq.heappop(heap)
            state = self.peers.get(key)
            if state is None or state.in_flight or due_us != state.due_us:
                continue  # stale heap entry (or a forgotten swarm's)
            if self._per_ip.get(key[1], 0) >= self.policy.per_ip:
                skipped.append((due_us, key))
                continue
            state.in_flight = True
            self._per_ip[key[1]] = self._per_ip.get(key[1], 0) + 1
            out.append(key)
        for item in skipped:
            heapq.heappush(heap, item)
        return out

    def finished(self, key: PeerKey, observation: Observation, now_us: int) -> bool:
        """Record a probe's outcome and schedule the next one (nothing for a forgotten swarm's peer).

        Returns:
            True when the peer left the plan: a lead no dial ever reached failed ``max_failcount`` dials
            (a pending PEX lead: ``pex_max_failures``); it is refused for ``failed_lead_cooldown`` after.
        """
        state = self.peers.get(key)
        if state is None:
            return False
        state.in_flight = False
        state.probes += 1
        self._release_ip(key[1])
        p = self.policy
        if observation.tier >= Tier.CONNECTED or observation.failure == Failure.INFOHASH_MISMATCH.value:
            state.failures = 0
            self._settle_pex(key, keep_source_slot=False)
            self._bound.reached(key, verified=observation.tier >= Tier.VERIFIED)
            delay = self._connected_delay(key, observation)
        else:
            state.failures += 1
            limit = p.pex_max_failures if key in self._pex_pending else p.max_failcount
            if limit and state.failures >= limit and self._bound.never_reached(key):
                self._drop(key, now_us)
                return True
            if p.max_attempts_unreachable and state.failures >= p.max_attempts_unreachable:
                return False
            delay = min(p.max_backoff, p.retry_after_failure * 2 ** (state.failures - 1))
        state.due_us = now_us + int(delay * _US)
        heapq.heappush(self._heap, (state.due_us, key))
        return False

    def _connected_delay(self, key: PeerKey, observation: Observation) -> float:
        """Seconds to the next probe of a peer that answered: doubled per SUSPECT outcome until a light
        probe is verified, and per heavy one for good (a verified block does not lift it, so alternating
        junk and genuine blocks does not escape it: ``records.heavy_overhead``; module docstring)."""
        if heavy_overhead(observation):
            self._heavy[key] = self._heavy.get(key, 0) + 1
        elif observation.tier < Tier.VERIFIED and observation.failure in SUSPECT:
            self._suspect[key] = self._suspect.get(key, 0) + 1
        elif observation.tier >= Tier.VERIFIED:
            self._suspect.pop(key, None)
        strikes = self._suspect.get(key, 0) + self._heavy.get(key, 0)
        if not strikes:
            return self.policy.reprobe_interval
        return min(self.policy.max_suspect_backoff, self.policy.reprobe_interval * 2.0 ** min(strikes, 64))

    def _admit_pex(self, key: PeerKey, via: str) -> bool:
        """Hold a slot for a new PEX lead named by ``via``; False when the swarm's or the source's is full."""
        p, swarm, namer = self.policy, key[0], naming_host(via)
        if self._pex_swarm.get(swarm, 0) >= p.pex_pending_per_swarm:
            return False
        if namer and self._pex_source.get((swarm, namer), 0) >= self.pex_quota:
            return False
        self._pex_pending[key] = namer
        self._pex_swarm[swarm] = self._pex_swarm.get(swarm, 0) + 1
        self._pex_source[(swarm, namer)] = self._pex_source.get((swarm, namer), 0) + 1
        return True

    def _settle_pex(self, key: PeerKey, *, keep_source_slot: bool) -> None:
        """``key`` is no longer a pending PEX lead: free its swarm slot (and its source's unless failed)."""
        via = self._pex_pending.pop(key, None)
        if via is None:
            return
        _decrement(self._pex_swarm, key[0])
        if not keep_source_slot:
            _decrement(self._pex_source, (key[0], via))

    @property
    def pex_pending(self) -> int:
        """PEX leads not yet connected, all swarms."""
        return len(self._pex_pending)

    def forget(self, swarm: str) -> int:
        """Drop every peer of ``swarm`` (no longer monitored); returns how many. Their heap entries go stale.

        A probe of the swarm still in flight frees its per-IP politeness slot here; its outcome is ignored.
        """
        keys = [key for key in self.peers if key[0] == swarm]
        for key in keys:
            if self.peers.pop(key).in_flight:
                self._release_ip(key[1])
            self._suspect.pop(key, None)
            self._heavy.pop(key, None)
            self._pex_pending.pop(key, None)
            self.on_drop(key)
        self._pex_swarm.pop(swarm, None)
        for source in [s for s in self._pex_source if s[0] == swarm]:
            del self._pex_source[source]
        self._bound.forget(swarm)
        self._compact()
        return len(keys)

    def _release_ip(self, ip: str) -> None:
        """One probe of ``ip`` ended: free its per-IP politeness slot."""
        count = self._per_ip.get(ip, 1) - 1
        if count:
            self._per_ip[ip] = count
        else:
            self._per_ip.pop(ip, None)

    def next_due_us(self) -> int | None:
        """Earliest due time in the schedule (may be a stale entry; callers just wake and ask)."""
        return self._heap[0][0] if self._heap else None

    @property
    def in_flight(self) -> int:
        """Probes currently running."""
        return sum(self._per_ip.values())


def naming_host(via: str) -> str:
    """The host a PEX quota is kept for: ``via`` ("ip:port" of the naming peer) without its port, as
    ``wire.types.host_key`` counts it (an IPv6 address by its /64). One host listening on many ports is one
    naming peer: else each port it connects on would bring a new quota. "" stays "" (no namer)."""
    return host_key(via.rsplit(":", 1)[0].strip("[]")) if via else ""


def _decrement(counts: dict[K, int], key: K) -> None:
    """One less of ``key`` in ``counts`` (the entry goes at zero)."""
    left = counts.get(key, 1) - 1
    if left > 0:
        counts[key] = left
    else:
        counts.pop(key, None)


def unusable_address(ip: str) -> bool:
    """Unspecified, multicast or IPv6 link-local addresses are never peers (normalised IP literals).

    A link-local ``fe80::/10`` address needs an interface (scope id) that no tracker, DHT node or PEX list
    carries, so ``connect`` fails with EINVAL: libtorrent ``peer_list::add_peer`` and Transmission
    ``tr_socket_address::is_valid_for_peers`` drop such peers before dialling.
    """
    if ":" in ip:
        try:
            v6 = ipaddress.IPv6Address(ip)
        except ValueError:
            return True  # not an address at all
        return v6.is_unspecified or v6.is_multicast or v6.is_link_local
    first = ip.split(".", 1)[0]
    return ip == "0.0.0.0" or (first.isdigit() and 224 <= int(first) <= 239)

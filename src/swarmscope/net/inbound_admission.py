"""Per-IP bounds on inbound connections, and the throttle on what one IP's empty probes may seal.

One host must not keep honest peers out of the listener, nor fill the ledger with records of nothing.
Mature clients bound inbound peers per IP: libtorrent by default admits ONE connection per IP per torrent
(``settings_pack::allow_multiple_connections_per_ip`` = false, ``peer_list::new_connection`` drops the
second as a duplicate) and drops a peer that does nothing (``handshake_timeout`` 10 s,
``inactivity_timeout``). A monitor must still tell apart the subscribers that share one public address
behind carrier-grade NAT (RFC 6888), so it admits a few per IP, not one:

- :data:`MAX_PER_IP` streams in flight from one IP, whether they named a swarm or not (an IPv6 peer: one
  /64, the prefix one subscriber gets, RFC 6177, so it cannot step around the bound by address);
- :data:`MAX_PER_IP_SWARM` probes in flight for one (IP, swarm);
- a stream that named its swarm but sent no piece claim (bitfield, have_all/have_none, have) and no BEP 10
  handshake within :data:`IDLE_AFTER` seconds is *idle*: an honest peer sends its claims right after its
  handshake (BEP 3, BEP 6, BEP 10), so an idle stream gives its slot to a newcomer when the listener, the
  IP or the (IP, swarm) is full (the run's own ``claims_wait`` ends it anyway when nobody waits);
- an inbound probe that verified nothing is sealed at most once per (IP, swarm) per interval (the monitor's
  re-probe interval, 120 s by default, as an outbound peer is probed): a host that dials in again and again
  with junk gets one sealed record per interval, not one per connection; a probe that verified a piece or a
  block and carried at most 1 MiB besides piece payload is sealed once per interval per peer id, and at most
  :data:`MAX_PER_IP_SWARM` per interval of one (IP, swarm) (an honest peer's evidence is kept at the pace
  outbound probes take it, one hit per interval, and so is that of each client behind one address; its
  overhead is kilobytes). A *heavy* probe (more than 1 MiB besides piece payload,
  ``records.heavy_overhead``), verified or not, is sealed only when the interval passed since its (IP,
  swarm)'s last sealed throttled probe, and doubles that interval, up to :data:`MAX_HEAVY_INTERVAL`, as
  outbound re-probes back off (``monitor/plan.py``); a verified probe never undoes the doubling. So what one
  (IP, swarm) makes us store per day is at most 4 light probes per interval (2,880 a day at 120 s, each
  under 1 MiB of overhead besides its pieces) and 10 heavy probes the first day, 4 a day after (240 s
  doubling to 6 h), whatever it alternates.
  :data:`MAX_REMEMBERED` bounds that memory.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar, cast

from swarmscope.evidence.records import Observation, heavy_overhead

MAX_PER_IP = 8  # streams in flight from one IP (named or not)
MAX_PER_IP_SWARM = 4  # probes in flight for one (IP, swarm)
IDLE_AFTER = 2.0  # seconds after which a stream with no swarm, or a named one with no claim, may be evicted
MAX_REMEMBERED = 65_536  # (IP, swarm) pairs whose last sealed unverified probe is remembered
T = TypeVar("T")


@dataclass(slots=True)
class Slot:
    """What the listener knows of one admitted stream: its IP, when it came and (once named) its swarm.

    ``accepted_at`` and ``named_at`` are loop times (seconds); ``swarm`` is the wire infohash (20 bytes)
    once the stream named one; ``claimed`` is True once the peer sent a piece claim or a BEP 10 handshake.
    """

    ip: str
    accepted_at: float
    swarm: bytes | None = None
    named_at: float = 0.0
    claimed: bool = False

    def idle(self, now: float) -> bool:
        """No swarm named, or named but no claim, :data:`IDLE_AFTER` seconds on."""
        if self.swarm is None:
            return now - self.accepted_at >= IDLE_AFTER
        return not self.claimed and now - self.named_at >= IDLE_AFTER


def evictable(slots: Iterable[tuple[Slot, T]], now: float) -> T | None:
    """The stream to close for a newcomer among ``(slot, stream)`` pairs: an idle one, those that never
    named a swarm first, then the oldest; None when none is idle."""
    pairs = list(slots)
    idle = [(s.swarm is not None, s.accepted_at, i) for i, (s, _) in enumerate(pairs) if s.idle(now)]
    return pairs[min(idle)[2]][1] if idle else None


@dataclass(slots=True)
class ListenerStats:
    """Counters of a :class:`~swarmscope.net.listener.PeerListener` (connections, not bytes)."""

    accepted: int = 0  # TCP connections taken in (below max_connections)
    unknown_infohash: int = 0  # closed: the swarm is not one we monitor
    encrypted: int = 0  # RC4 established (MSE/PE)
    refused_over_limit: int = 0  # closed at once: max_connections reached and no idle stream to evict
    refused_per_ip: int = 0  # closed: MAX_PER_IP or MAX_PER_IP_SWARM reached and no idle stream of it
    evicted: int = 0  # closed to make room: full, and idle (no swarm, or no claim) IDLE_AFTER s on
    bad_handshake: int = 0  # closed: invalid MSE handshake or too many bytes before the swarm was known
    refused_by_policy: int = 0  # closed: plaintext under "require", MSE under "disable" or without skeys
    timed_out: int = 0  # closed: no complete handshake within handshake_timeout
    closed_early: int = 0  # the peer closed before its swarm was known
    runs: int = 0  # connections handed to a run (each ends in on_done exactly once, unless unsealed)
    unsealed: int = 0  # runs not reported (unverified or heavy): their (IP, swarm) had one sealed lately
    unsealed_verified: int = 0  # of those: runs that verified a block (SealThrottle: heavy, or too soon)

    def held_back(self, verified: bool) -> None:
        """One run :class:`SealThrottle` did not let be sealed (``verified``: it verified a block)."""
        self.unsealed += 1
        self.unsealed_verified += verified


MAX_HEAVY_INTERVAL = 21_600.0  # seconds: as ``PlanPolicy.max_suspect_backoff``


class SealThrottle:
    """When an inbound probe of one (IP, swarm) may be sealed (module docstring)."""

    def __init__(self, interval: float, remembered: int = MAX_REMEMBERED) -> None:
        self.interval, self.remembered = interval, remembered
        # (IP, swarm) -> (light verified probes sealed in the last interval: (time, peer id), last throttled
        # probe sealed, heavy strikes)
        self._last: OrderedDict[tuple[str, bytes], tuple[tuple[tuple[float, bytes], ...], float | None, int]]
        self._last = OrderedDict()

    def allow(
        self, ip: str, swarm: bytes, verified: bool, now: float, observation: Observation | None = None
    ) -> bool:
        """True when the probe is to be sealed (``now``: loop time, seconds; ``observation``: the probe's
        record, heavy when ``records.heavy_overhead``, verified or not):

        - a light verified probe: when its peer id had none sealed in the last ``interval`` seconds (one hit
          per re-probe interval, as an outbound peer gives) and fewer than :data:`MAX_PER_IP_SWARM` of the
          (``ip``, ``swarm``) were (clients behind one address, a CGNAT's, keep their own hits);
        - an unverified or heavy probe: when no such probe of it was sealed in the last ``interval``
          seconds, doubled per heavy one sealed (up to :data:`MAX_HEAVY_INTERVAL`); a verified probe does
          not undo the doubling, so alternating junk and genuine blocks does not escape it.
        """
        if self.interval <= 0:
            return True
        heavy = observation is not None and heavy_overhead(observation)
        key = (ip, swarm)
        recent, throttled_at, strikes = self._last.get(key, ((), None, 0))
        recent = tuple(seal for seal in recent if now - seal[0] < self.interval)
        if verified and not heavy:
            peer = (observation.peer_id if observation is not None else None) or b""
            if len(recent) >= MAX_PER_IP_SWARM or any(seen == peer for _at, seen in recent):
                return False
            recent += ((now, peer),)
        else:
            wait = min(MAX_HEAVY_INTERVAL, self.interval * 2.0 ** min(strikes, 32))
            if throttled_at is not None and now - throttled_at < wait:
                return False
            throttled_at, strikes = now, strikes + heavy
        self._last[key] = (recent, throttled_at, strikes)
        self._last.move_to_end(key)
        while len(self._last) > self.remembered:
            self._last.popitem(last=False)
        return True


def peer_address(peername: object) -> tuple[str, int]:
    """(ip, port) of a socket peer name; IPv4-mapped IPv6 addresses (``::ffff:a.b.c.d``) become IPv4."""
    host, port = cast(tuple[str, int], peername)[:2]
    mapped = ipaddress.ip_address(host.split("%")[0])
    if isinstance(mapped, ipaddress.IPv6Address) and mapped.ipv4_mapped is not None:
        host = str(mapped.ipv4_mapped)
    return host, int(port)

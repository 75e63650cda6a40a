"""The per-swarm bound of the probe plan: how many peers not yet verified it holds, which one makes room,
and the cool-down of a lead dropped after failed dials (pure; no I/O, times passed in as UTC µs).

A tracker names up to ``numwant`` (200) addresses of its choice per announce, a DHT node up to 100 per
reply (BEP 5), a lookup asks up to 256 nodes; none of them has to answer. libtorrent bounds what it keeps
of them per torrent (``settings_pack::max_peerlist_size``, 3,000 by default; ``peer_list::add_peer`` makes
room with ``erase_peers``, unconnectable and failed entries first) and forgets a peer whose ``failcount``
reaches ``max_failcount`` (3; ``peer_list::connect_failed``). We do the same, with two choices of our own
(README "Resource bounds", docs/tolerances.md B-06):

* the bound counts peers **not verified**: a verified peer proved it distributes the work (a hash-checked
  piece or block) and is evidence for the rest of the run, so it is never evicted and never counted (their
  number is bounded by the hosts that served us data, not by what a tracker names);
* a lead that failed its dials and was dropped is refused for ``cooldown_us`` after (one announce later
  would otherwise bring it back, and a tracker could keep it cycling: ``max_failcount`` dials every 30 s).

Eviction order when a new lead finds its swarm full: the oldest lead never reached (no TCP connection
ever answered), then the oldest peer reached but never verified; never a peer whose probe is in flight
(its evidence is pending). With none to evict the new lead is refused (its sighting is still recorded).
"""

from __future__ import annotations

from collections.abc import Callable

Key = tuple[str, str, int]  # (swarm hex, ip, port), as ``plan.PeerKey``


class PeerBound:
    """Which of a plan's peers are not verified, in order, per swarm; and the leads cooling down.

    Args:
        cap: peers not verified per swarm (``PlanPolicy.max_peers_per_swarm``); also the most leads one
            swarm keeps cooling down (beyond that the oldest leaves its cool-down early, costing at most
            ``max_failcount`` more dials).
        cooldown_us: how long a lead dropped after its failed dials is refused (µs).

    Memory: one dict entry (≈ 40 B, the key shared with the plan) per peer not verified; none per verified
    peer; a cooling lead keeps its key and its end time (≈ 200 B) for ``cooldown_us`` at most.
    """

    __slots__ = ("_cooling", "_unreached", "_unverified", "cap", "cooldown_us")

    def __init__(self, cap: int, cooldown_us: int) -> None:
        if cap < 1:
            raise ValueError(f"probe plan: a bound of {cap} peers per swarm")
        self.cap, self.cooldown_us = cap, cooldown_us
        self._unreached: dict[str, dict[Key, None]] = {}  # swarm -> never reached, oldest first
        self._unverified: dict[str, dict[Key, None]] = {}  # swarm -> reached, never verified, oldest first
        self._cooling: dict[str, dict[Key, int]] = {}  # swarm -> dropped lead -> end of its cool-down (µs)

    def held(self, swarm: str) -> int:
        """Peers of ``swarm`` not verified."""
        return len(self._unreached.get(swarm, ())) + len(self._unverified.get(swarm, ()))

    def full(self, swarm: str) -> bool:
        """Whether a new peer of ``swarm`` needs another to make room."""
        return self.held(swarm) >= self.cap

    def never_reached(self, key: Key) -> bool:
        """Whether ``key`` is a lead no connection of ours ever reached."""
        return key in self._unreached.get(key[0], ())

    def cooling(self, key: Key, now_us: int) -> bool:
        """Whether ``key`` is in its cool-down at ``now_us`` (ended cool-downs of its swarm are cleared)."""
        cooling = self._cooling.get(key[0])
        if cooling is None:
            return False
        while cooling:  # oldest first, and every cool-down is as long: the ended ones are in front
            first, until = next(iter(cooling.items()))
            if until > now_us:
                break
            del cooling[first]
        if not cooling:
            del self._cooling[key[0]]
            return False
        return key in cooling

    def added(self, key: Key) -> None:
        """A new lead of the plan (never reached yet)."""
        self._unreached.setdefault(key[0], {})[key] = None

    def reached(self, key: Key, verified: bool) -> None:
        """A probe of ``key`` reached it (``verified``: and verified a piece or block)."""
        if _discard(self._unreached, key) and not verified:
            self._unverified.setdefault(key[0], {})[key] = None
        elif verified:
            _discard(self._unverified, key)

    def victim(self, swarm: str, busy: Callable[[Key], bool]) -> Key | None:
        """The peer to evict for a new one of ``swarm`` (module docstring), or None when every peer not
        verified is ``busy`` (its probe in flight). Scans past busy peers only (≤ the probes in flight)."""
        for held in (self._unreached.get(swarm, {}), self._unverified.get(swarm, {})):
            for key in held:
                if not busy(key):
                    return key
        return None

    def removed(self, key: Key) -> None:
        """``key`` left the plan (evicted, or its swarm forgotten)."""
        _discard(self._unreached, key)
        _discard(self._unverified, key)

    def failed_out(self, key: Key, now_us: int) -> None:
        """``key`` left the plan after its failed dials: refused until ``now_us + cooldown_us``."""
        self.removed(key)
        cooling = self._cooling.setdefault(key[0], {})
        cooling.pop(key, None)
        if len(cooling) >= self.cap:
            del cooling[next(iter(cooling))]
        cooling[key] = now_us + self.cooldown_us

    def forget(self, swarm: str) -> None:
        """Everything of ``swarm`` (no longer monitored)."""
        for table in (self._unreached, self._unverified, self._cooling):
            table.pop(swarm, None)


def _discard(table: dict[str, dict[Key, None]], key: Key) -> bool:
    """Remove ``key`` from its swarm's entry of ``table`` (an emptied entry goes, so its table is freed);
    True when it was there."""
    held = table.get(key[0])
    if held is None or key not in held:
        return False
    del held[key]
    if not held:
        del table[key[0]]
    return True


def hold(held: dict[str, dict[Key, str]], key: Key, source: str, cap: int) -> None:
    """Hold ``key``, a lead of a magnet whose metadata is still fetched (BEP 9), with the source that first
    named it, in ``held`` (swarm -> lead -> source): once, however often it is named again, and at most
    ``cap`` per swarm (``PlanPolicy.max_peers_per_swarm``, as the plan the leads go to once the metadata
    is known), the oldest making room: none of them was probed yet."""
    leads = held.setdefault(key[0], {})
    if key in leads:
        return
    if len(leads) >= cap:
        del leads[next(iter(leads))]
    leads[key] = source

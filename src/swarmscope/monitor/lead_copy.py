"""The coordinator's copy of the leads it handed one probe process (``--probe-processes N``), kept to hand
them again to the process that replaces it (``ProbeProcesses._replay``) or to the coordinator when it takes
the shard over (``ProbeProcesses._abandon``).

Trackers repeat their list at every announce (``numwant`` 200 every ``announce_floor`` = 30 s at the most),
DHT lookups and PEX lists name the same peers again and again, and a hostile tracker names fresh
addresses every time (README "Resource bounds"). So the copy holds each (swarm, ip, port) once, with the
source that named it (a tracker's or the DHT's over PEX, as the plan stops counting a lead against its PEX
quotas once another source names it: ``monitor/plan.py``), and at most ``cap`` per swarm: the shard's plan
holds at most ``PlanPolicy.max_peers_per_swarm`` peers not verified per swarm, so the newest that many are
kept (a lead named again becomes the newest). A verified peer older than them is not lost with them: the
coordinator's live counters keep every verified address (``monitor/stats.py``), and a replacement process is
handed those of its shard too (``ProbeProcesses._handed``).
"""

from __future__ import annotations

from collections.abc import Iterable

Lead = tuple[str, str, int, str, str]  # (swarm, ip, port, source, via: the PEX peer that named it or "")
Group = tuple[str, str, str]  # (swarm, source, via)


class LeadCopy:
    """One shard's leads, each (swarm, ip, port) once, at most ``cap`` per swarm, the newest kept.

    Memory: one dict entry and one ``(ip, port)`` tuple per lead (≈ 120 B; the (source, via) pair is
    shared by the leads of one :meth:`add`); ≤ ``cap`` leads per swarm whatever the sources repeat.
    Raises ValueError: ``cap`` below 1.
    """

    __slots__ = ("_swarms", "cap")

    def __init__(self, cap: int) -> None:
        if cap < 1:
            raise ValueError(f"lead copy: a bound of {cap} leads per swarm")
        self.cap = cap
        self._swarms: dict[str, dict[tuple[str, int], tuple[str, str]]] = {}

    def add(self, swarm: str, peers: Iterable[tuple[str, int]], source: str, via: str = "") -> None:
        """``peers`` of ``swarm`` were handed on, named by ``source`` (``via``: the PEX peer that named
        them)."""
        leads = self._swarms.setdefault(swarm, {})
        tag = (source, via)
        for peer in peers:
            old = leads.pop(peer, None)
            leads[peer] = old if old is not None and source == "pex" and old[0] != "pex" else tag
            if len(leads) > self.cap:
                del leads[next(iter(leads))]

    def holds(self, swarm: str, peer: tuple[str, int]) -> bool:
        """Whether ``peer`` of ``swarm`` is among the leads kept."""
        return peer in self._swarms.get(swarm, ())

    def drop(self, swarm: str) -> None:
        """Forget the leads of ``swarm`` (no longer probed)."""
        self._swarms.pop(swarm, None)

    def groups(self) -> dict[Group, list[tuple[str, int]]]:
        """The leads grouped by (swarm, source, naming peer), each group's (ip, port) oldest first: one
        ``L`` frame (or one ``planned`` call) each, so each naming host's PEX quota holds in the process
        that takes them (``monitor/plan.py``)."""
        groups: dict[Group, list[tuple[str, int]]] = {}
        for swarm, leads in self._swarms.items():
            for peer, (source, via) in leads.items():
                groups.setdefault((swarm, source, via), []).append(peer)
        return groups

    def __len__(self) -> int:
        """Leads held, all swarms."""
        return sum(len(leads) for leads in self._swarms.values())

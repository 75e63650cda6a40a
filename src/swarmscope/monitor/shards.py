"""Shards of the probe plan across a node's probe processes, and the settings a probe process is given.

A node with N probe processes (``swarmscope monitor --probe-processes N``) splits its peers by a stable
hash of the IP address: peer ``(swarm, ip, port)`` belongs to shard ``crc32(ip) mod N`` (CRC-32 of the
address's text, ISO 3309 / zlib: the same in every process and every run, unlike Python's salted
``hash()``). Every probe of one IP address runs in one process, so the plan's per-IP politeness
(``PlanPolicy.per_ip``) and "one probe at a time per peer" stay local to that process, with no lock.

Shard 0 is the coordinator (the process the user started): it owns discovery (trackers, the DHT, the
inbound listener, BEP 9 metadata) and hands each lead to its shard; the others only probe.
:func:`config_to_json` / :func:`config_from_json` carry a :class:`MonitorConfig` to a probe process as
JSON bytes (every field, not only the sealed ones: the probe processes run with the coordinator's exact
settings).
"""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Iterable
from typing import Any, Protocol

from swarmscope.errors import DecodeError
from swarmscope.evidence.probe.policy import Depth, ProbePolicy
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.plan import PlanPolicy
from swarmscope.monitor.targets import Target
from swarmscope.net.mse_conn import EncryptionPolicy
from swarmscope.store.fleet.fencing import Fence


def shard_of(ip: str, shards: int) -> int:
    """The shard (0 .. shards - 1) that probes every peer at ``ip`` (module docstring)."""
    return zlib.crc32(ip.encode("utf-8", "surrogateescape")) % shards if shards > 1 else 0


def config_to_json(config: MonitorConfig) -> bytes:
    """Every field of ``config`` as JSON bytes (peer id in hex, enums by value, policies as dicts)."""
    raw: dict[str, Any] = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if isinstance(value, bytes):
            value = value.hex()
        elif isinstance(value, EncryptionPolicy):
            value = value.value
        elif isinstance(value, ProbePolicy):
            value = {k: getattr(value, k) for k in value.__slots__} | {"depth": value.depth.value}
        elif isinstance(value, PlanPolicy):
            value = {k: getattr(value, k) for k in value.__slots__}
        raw[f.name] = value
    return json.dumps(raw, sort_keys=True).encode()


def config_from_json(data: bytes) -> MonitorConfig:
    """The :class:`MonitorConfig` :func:`config_to_json` wrote.

    Raises:
        DecodeError: not JSON of a config (a field missing, unknown or of the wrong shape).
    """
    try:
        raw = json.loads(data)
        raw["peer_id"] = bytes.fromhex(raw["peer_id"])
        raw["encryption"] = EncryptionPolicy(raw["encryption"])
        raw["probe"] = ProbePolicy(**(raw["probe"] | {"depth": Depth(raw["probe"]["depth"])}))
        raw["plan"] = PlanPolicy(**raw["plan"])
        raw["dht_bootstrap"] = [(str(host), int(port)) for host, port in raw["dht_bootstrap"]]
        return MonitorConfig(**raw)
    except (ValueError, TypeError, KeyError) as exc:
        raise DecodeError(f"probe process settings: {exc}") from None


class LeadRouter(Protocol):
    """How a monitor that is one of several probe processes splits its leads (module docstring)."""

    @property
    def shards(self) -> int:
        """The node's probe processes, this one included (each plans its share of a PEX quota)."""
        ...

    def mine(self, ip: str) -> bool:
        """Whether this process probes the peers at ``ip``."""
        ...

    def forward(self, swarm: str, peers: list[tuple[str, int]], source: str, via: str = "") -> None:
        """Hand peers of other shards on (their sightings are recorded already; ``via``: the PEX peer that
        named them, ``"ip:port"``, or ``""``)."""
        ...

    async def start(self, monitor: Any) -> None:
        """Start (the monitor's run is recorded; ``monitor.planned`` takes leads handed to this shard)."""
        ...

    async def stop(self) -> None:
        """Stop the other processes this one drives, once their last evidence is committed."""
        ...


class FleetShards(LeadRouter, Protocol):
    """The lead router of a fleet node's coordinator, which also hands its probe processes the swarms it
    leases, their lease tokens and their reference copies as they change
    (:class:`~swarmscope.monitor.probe_processes.ProbeProcesses`)."""

    def add_target(self, target: Target) -> None:
        """Probe ``target`` (its metainfo known) in every probe process."""
        ...

    def remove_target(self, swarm: str) -> None:
        """Stop probing ``swarm`` everywhere (its lease is lost or handed off)."""
        ...

    def discard_queued(self, swarm: str) -> None:
        """Drop the records of ``swarm`` every probe process queued (its lease is lost)."""
        ...

    def pending_swarms(self) -> set[str]:
        """The swarms removed that a running probe process may still have records of, queued or in a
        commit under way (a handed-off swarm keeps its lease meanwhile)."""
        ...

    def lease_state(self, fence: Fence, fleet: Iterable[str]) -> None:
        """The node's current lease tokens (every later commit is fenced by them) and the fleet's
        addresses (never probed)."""
        ...

    def reference(self, swarm: str, path: str) -> None:
        """This node's reference copy at ``path`` backs block proofs of ``swarm`` in every probe process."""
        ...

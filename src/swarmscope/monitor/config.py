"""Settings of one monitoring run (built by the CLI, stored with the run as its methodology record)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from swarmscope.evidence.probe.policy import ProbePolicy
from swarmscope.monitor.plan import PlanPolicy
from swarmscope.net.dht_bootstrap import PUBLIC_ROUTERS
from swarmscope.net.mse_conn import EncryptionPolicy

Address = tuple[str, int]


@dataclass(slots=True)
class MonitorConfig:
    """Settings of one monitoring run. Times in seconds.

    Args:
        peer_id: our 20-byte peer id. duration: run length (None: until stopped).
        max_peers: probes in flight at once (global bound). bind_ip: source address of every connection
        and announce. public_ip: the address the peers see (``--public-ip``, a node behind NAT; None: not
        declared), sealed only when declared (:mod:`swarmscope.evidence.bundle.vantage`).
        listen_port: the port we announce (BEP 3 ``port``). connect_timeout: TCP connect.
        announce_floor / announce_ceiling: clamp of the tracker's interval (interop TRK-07).
        numwant: peers asked of each tracker. flush_interval: how often the writer commits (seconds);
        flush_rows: pending observations that trigger an early commit.
        listen: accept inbound connections on ``listen_port`` (TCP, every monitored swarm).
        dht: discover peers through the Mainline DHT (BEP 5); dht_bootstrap: nodes to join through (the
        public routers by default; tests always pass a local node); dht_interval: seconds between lookups;
        dht_read_only: BEP 43 (we query, answer nobody, and others keep us out of their tables).
        pex: collect BEP 11 ``ut_pex`` lists from the peers we probe; pex_wait: seconds a first probe may
        linger for the peer's first PEX message. encryption: MSE/PE policy of outgoing probes.
        metadata_timeout: seconds one BEP 9 metadata search for a magnet may take before it is retried.
        references: swarm id → path of a reference copy of the work (block proofs).
        proof_pieces: verified pieces per swarm that back block proofs; proof_candidates: block proofs
        offered to each probe (0 disables block proofs: every peer is verified by a whole piece).
        ntp_servers: SNTP servers (``host[:port]``) measured every ``ntp_interval`` seconds;
        clock_threshold_ms: offset above which observations are flagged (README "Honest clock"); clock_policy:
        ``default`` (100 ms) or ``commercial-anchor`` (40 ms, everything since the last good sync flagged).
        tsa_url: RFC 3161 time-stamp authority for sealed batches, or None. capture: record every
        probe's wire bytes (README "Wire captures").
        dataset_paths: registered dataset SHA-256 hex → this machine's copy of that file (a fleet node's
        ``--dataset NAME=PATH``, checked by SHA-256 at start); a dataset not named here is read at its
        registered path. Not sealed: an attribution cites the dataset's SHA-256, never a path.
        max_backlog_bytes: bytes of evidence waiting for the store above which no new probe starts
        (``LedgerWriter.backlog_full``). Not sealed: a resource bound, not methodology.
    """

    peer_id: bytes
    duration: float | None = None
    max_peers: int = 200
    bind_ip: str | None = None
    public_ip: str | None = None
    listen_port: int = 6881
    connect_timeout: float = 5.0
    tracker_timeout: float = 10.0
    announce_floor: float = 30.0
    announce_ceiling: float = 3600.0
    numwant: int = 200
    flush_interval: float = 0.5
    flush_rows: int = 5000
    listen: bool = False
    dht: bool = False
    dht_bootstrap: list[Address] = field(default_factory=lambda: list(PUBLIC_ROUTERS))
    dht_interval: float = 300.0
    dht_read_only: bool = False
    pex: bool = True
    pex_wait: float = 1.0
    encryption: EncryptionPolicy = EncryptionPolicy.ALLOW
    metadata_timeout: float = 60.0
    probe: ProbePolicy = field(default_factory=ProbePolicy)
    plan: PlanPolicy = field(default_factory=PlanPolicy)
    references: dict[str, str] = field(default_factory=dict)
    proof_pieces: int = 16
    proof_candidates: int = 4
    ntp_servers: list[str] = field(default_factory=list)
    ntp_interval: float = 64.0
    clock_threshold_ms: float = 100.0
    clock_policy: str = "default"
    tsa_url: str | None = None
    capture: bool = True
    dataset_paths: dict[str, str] = field(default_factory=dict)
    max_backlog_bytes: int = 256 * 1024 * 1024

    def as_settings(self) -> dict[str, Any]:
        """JSON-able settings stored with the run (methodology record); ``public_ip`` follows ``bind_ip``
        only when declared, so the settings of a run without it are the ones sealed before it existed."""
        settings: dict[str, Any] = {
            "peer_id": self.peer_id.hex(),
            "duration": self.duration,
            "max_peers": self.max_peers,
            "bind_ip": self.bind_ip,
            "listen_port": self.listen_port,
            "connect_timeout": self.connect_timeout,
            "announce_floor": self.announce_floor,
            "listen": self.listen,
            "dht": self.dht,
            "dht_bootstrap": [f"{h}:{p}" for h, p in self.dht_bootstrap] if self.dht else [],
            "pex": self.pex,
            "encryption": self.encryption.value,
            "probe": {k: getattr(self.probe, k) for k in self.probe.__slots__ if k != "depth"}
            | {"depth": self.probe.depth.value},
            "plan": {k: getattr(self.plan, k) for k in self.plan.__slots__},
            "references": dict(self.references),
            "proof_pieces": self.proof_pieces,
            "proof_candidates": self.proof_candidates,
            "ntp_servers": list(self.ntp_servers),
            "ntp_interval": self.ntp_interval,
            "clock_threshold_ms": self.clock_threshold_ms,
            "clock_policy": self.clock_policy,
            "tsa_url": self.tsa_url,
            "capture": self.capture,
        }
        if self.public_ip is not None:
            settings["public_ip"] = self.public_ip
        return settings

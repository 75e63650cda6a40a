"""The monitor's evidence options: node key, reference copies, NTP servers, RFC 3161 authority.

Kept apart from ``cli/monitor.py`` so both the Typer command and the Python API
(:func:`swarmscope.cli.monitor.run_monitor_command`) build the same settings and refuse the same mistakes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from swarmscope.cli.node_identity import check_key_path
from swarmscope.cli.numeric import BACKLOG_MIB, CLOCK_THRESHOLD_MS, NTP_INTERVAL_SECONDS, PROOF_CANDIDATES
from swarmscope.errors import InputError
from swarmscope.evidence.clock_policy import ClockPolicy
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.targets import Target
from swarmscope.net.ntp_clock import parse_server

CLOCK_POLICIES = ("default", "commercial-anchor")


@dataclass(slots=True)
class EvidenceOptions:
    """Evidence settings of one monitor run.

    Args:
        node_key: the node's Ed25519 key file (created on first use, only in an existing directory;
            default beside an SQLite database, see :func:`swarmscope.store.ledger.node_key.default_key_path`).
        references: reference copies of the work, one per .torrent target in order (block proofs).
        ntp_servers: SNTP servers ``host[:port]`` measured every ``ntp_interval`` seconds.
        clock_threshold_ms: offset above which observations are flagged (default 100 ms).
        clock_policy: ``default`` or ``commercial-anchor`` (40 ms unless a lower threshold is given).
        tsa_url: RFC 3161 time-stamp authority for every sealed batch (None: no tokens).
        proof_candidates: block proofs offered to each probe (0: verify whole pieces only).
        capture: record every probe's wire bytes (on by default; off only for benchmarks).
        max_backlog_mib: MiB of evidence waiting for a refusing store above which no new probe starts.
    """

    node_key: str | None = None
    references: list[str] = field(default_factory=list)
    ntp_servers: list[str] = field(default_factory=list)
    ntp_interval: float = 64.0
    clock_threshold_ms: float = 100.0
    clock_policy: str = "default"
    tsa_url: str | None = None
    proof_candidates: int = 4
    capture: bool = True
    max_backlog_mib: float = 256.0

    def check(self) -> None:
        """Refuse values that would make the evidence silently weaker.

        Raises:
            InputError: naming the option and the problem.
        """
        check_key_path(self.node_key)
        for server in self.ntp_servers:
            parse_server(server)
        NTP_INTERVAL_SECONDS.check("--ntp-interval", self.ntp_interval)
        CLOCK_THRESHOLD_MS.check("--clock-threshold-ms", self.clock_threshold_ms)
        PROOF_CANDIDATES.check("--proof-candidates", self.proof_candidates)
        BACKLOG_MIB.check("--max-backlog", self.max_backlog_mib)
        if self.clock_policy not in CLOCK_POLICIES:
            raise InputError(f"--clock-policy {self.clock_policy!r}: use {' or '.join(CLOCK_POLICIES)}")
        if self.tsa_url is not None and not self.tsa_url.startswith(("http://", "https://")):
            raise InputError(f"--tsa-url {self.tsa_url!r}: an http:// or https:// URL of an RFC 3161 TSA")
        for ref in self.references:
            if not Path(ref).exists():
                raise InputError(f"--reference {ref}: no such file or folder")

    def apply(self, config: MonitorConfig, targets: list[Target]) -> None:
        """Copy the settings into ``config``; pair each reference with a .torrent target, in order.

        Raises:
            InputError: more references than targets with metainfo.
        """
        self.check()
        with_meta = [t for t in targets if t.meta is not None]
        if len(self.references) > len(with_meta):
            raise InputError(
                f"--reference given {len(self.references)} times for {len(with_meta)} .torrent targets"
            )
        config.references = {t.swarm: ref for t, ref in zip(with_meta, self.references, strict=False)}
        config.ntp_servers = list(self.ntp_servers)
        config.ntp_interval = self.ntp_interval
        config.clock_policy = self.clock_policy
        config.clock_threshold_ms = self.clock_threshold_ms
        if self.clock_policy == "commercial-anchor":
            strict_ms = ClockPolicy.strict().threshold_us / 1000
            config.clock_threshold_ms = min(self.clock_threshold_ms, strict_ms)
        config.tsa_url = self.tsa_url
        config.proof_candidates = self.proof_candidates
        config.capture = self.capture
        config.max_backlog_bytes = int(self.max_backlog_mib * 1024 * 1024)

"""The options of ``swarmscope monitor``, declared once as ``Annotated`` types (Typer reads the metadata).

``cli/monitor.py`` names each option by its alias (``db: Db = DEFAULT_DB``), so the command's signature
stays one line per option and its body only hands the values on. Bounds come from :mod:`cli.numeric`, the
same ones the Python API (``run_monitor_command``) checks.
"""

from __future__ import annotations

from typing import Annotated

import typer

from swarmscope.cli import numeric as num
from swarmscope.cli.numeric import number_option

Targets = Annotated[
    list[str], typer.Argument(metavar="TORRENT_OR_MAGNET...", help=".torrent files or magnet URIs")
]
Db = Annotated[str, typer.Option("--db", help="SQLite file (or SQLAlchemy URL) for the evidence")]
Duration = Annotated[
    float | None, number_option("--duration", num.RUN_SECONDS, "seconds to run (default: until Ctrl-C)")
]
MaxPeers = Annotated[int, number_option("--max-peers", num.MAX_PEERS, "probes in flight at once")]
Bind = Annotated[str | None, typer.Option("--bind", help="source IP for our connections and announces")]
PublicIp = Annotated[
    str | None,
    typer.Option(
        "--public-ip",
        help="the public address peers see (behind NAT): the vantage and ban range, sealed with the run",
    ),
]
ListenPort = Annotated[
    int,
    number_option(
        "--listen-port",
        num.LISTEN_PORT,
        "TCP port for inbound peers, announced to trackers and the DHT (0: no listener)",
    ),
]
Dht = Annotated[bool, typer.Option("--dht/--no-dht", help="discover peers through the Mainline DHT")]
DhtBootstrap = Annotated[
    list[str] | None,
    typer.Option("--dht-bootstrap", metavar="HOST:PORT", help="DHT node to join through (repeatable)"),
]
DhtReadOnly = Annotated[
    bool,
    typer.Option(
        "--dht-read-only", help="BEP 43: query the DHT but answer nobody (others keep us out of tables)"
    ),
]
Pex = Annotated[bool, typer.Option("--pex/--no-pex", help="read peer lists peers send (BEP 11 ut_pex)")]
Loop = Annotated[str, typer.Option("--loop", help="event loop: auto (uvloop if installed), uvloop, asyncio")]
Encryption = Annotated[
    str,
    typer.Option(
        "--encryption",
        help="MSE/PE of outgoing probes: allow (plaintext first), prefer (encrypted first), require, disable",
    ),
]
ConnectTimeout = Annotated[
    float, number_option("--connect-timeout", num.CONNECT_SECONDS, "TCP connect timeout, seconds")
]
Live = Annotated[bool, typer.Option("--live/--no-live", help="live table (default on a terminal)")]
WriterProcess = Annotated[
    bool,
    typer.Option(
        "--writer-process/--no-writer-process",
        help="chain, seal and commit evidence in a second process (another core), not the probes' thread",
    ),
]
ProbeProcesses = Annotated[
    int,
    number_option(
        "--probe-processes",
        num.PROBE_PROCESSES,
        "processes that probe (each its own event loop and core, a shard of the peers by IP); above 1 "
        "implies --writer-process",
    ),
]
NodeKey = Annotated[
    str | None,
    typer.Option(
        "--node-key",
        help="Ed25519 signing key of this monitor node (created on first use, in an existing directory)",
    ),
]
Reference = Annotated[
    list[str] | None,
    typer.Option(
        "--reference", help="reference copy of the work for block proofs (one per .torrent, in order)"
    ),
]
NtpServer = Annotated[
    list[str] | None,
    typer.Option(
        "--ntp-server", metavar="HOST[:PORT]", help="NTP server to measure the clock against (repeatable)"
    ),
]
NtpInterval = Annotated[
    float, number_option("--ntp-interval", num.NTP_INTERVAL_SECONDS, "seconds between NTP measurements")
]
ClockThresholdMs = Annotated[
    float,
    number_option(
        "--clock-threshold-ms",
        num.CLOCK_THRESHOLD_MS,
        "clock offset that flags observations (commercial anchor: 40)",
    ),
]
ClockPolicyName = Annotated[
    str,
    typer.Option(
        "--clock-policy", help="default, or commercial-anchor (40 ms; flag all since last good sync)"
    ),
]
TsaUrl = Annotated[
    str | None, typer.Option("--tsa-url", help="RFC 3161 time-stamp authority for sealed batches")
]
ProofCandidates = Annotated[
    int,
    number_option(
        "--proof-candidates",
        num.PROOF_CANDIDATES,
        "16 KiB block proofs offered to each probe (0: whole pieces only)",
    ),
]
MaxBacklog = Annotated[
    float,
    number_option(
        "--max-backlog",
        num.BACKLOG_MIB,
        "MiB of evidence waiting for a refusing store (full disk, database down) before probing pauses",
    ),
]
CommitLogPath = Annotated[
    str | None,
    typer.Option("--commit-log", help="append 'first last head fingerprint' per sealed batch once committed"),
]

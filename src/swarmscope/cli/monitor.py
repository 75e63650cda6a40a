"""``swarmscope monitor``: watch swarms live, record evidence, print a summary at the end."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import resource
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.live import Live

from swarmscope import __version__
from swarmscope.cli import numeric as num
from swarmscope.cli.app import app
from swarmscope.cli.commit_log import CommitLog
from swarmscope.cli.evidence_options import EvidenceOptions
from swarmscope.cli.monitor_view import live_table
from swarmscope.cli.node_identity import open_signing_key, warn_other_signers
from swarmscope.cli.numeric import number_option
from swarmscope.cli.provenance import software_commit
from swarmscope.cli.refused_run import NewFiles
from swarmscope.cli.text import escaped
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.monitor.channels import check_channels_early, check_listen_port
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.targets import Target, load_target
from swarmscope.net.bind import check_local_address
from swarmscope.net.clock import Clock
from swarmscope.net.mse_conn import EncryptionPolicy
from swarmscope.store.database import DEFAULT_DB, Store, open_store
from swarmscope.store.ledger import queries
from swarmscope.store.ledger.node_key import NodeKeyFile

PEER_ID_PREFIX = (
    b"-SS" + b"".join(p.zfill(1).encode() for p in __version__.split(".")[:3]).ljust(4, b"0")[:4] + b"-"
)
err = Console(stderr=True, soft_wrap=True)  # warnings and recovery lines stay one line each (parsable)
OPEN_FILES_RESERVE = 128  # descriptors kept for the database, trackers, the DHT, the listener and imports


def make_peer_id() -> bytes:
    """Azureus-style peer id (BEP 20): ``-SSvvvv-`` + 12 random printable bytes."""
    alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz"
    return PEER_ID_PREFIX + bytes(alphabet[b % len(alphabet)] for b in os.urandom(12))


def run_monitor_command(
    *,
    targets: list[str],
    db: str = DEFAULT_DB,
    duration: float | None = None,
    max_peers: int = 200,
    bind: str | None = None,
    live: bool = True,
    listen_port: int = 6881,
    connect_timeout: float = 5.0,
    console: Console | None = None,
    dht: bool = False,
    dht_bootstrap: list[str] | None = None,
    pex: bool = True,
    encryption: str = "allow",
    loop: str = "auto",
    dht_read_only: bool = False,
    evidence: EvidenceOptions | None = None,
    commit_log_path: str | None = None,
) -> Monitor:
    """Load the targets, run the monitor until ``duration`` passes or Ctrl-C, print a summary.

    The Python defaults keep the DHT off (no public router is ever contacted unless asked); the CLI turns
    it on by default, as a production monitor wants. ``listen_port`` 0 means no inbound listener.
    ``evidence``: node key, reference copies, NTP, RFC 3161, captures.
    ``commit_log_path``: append one line per sealed batch once committed (:mod:`swarmscope.cli.commit_log`).

    Raises:
        InputError: a target cannot be loaded, an option value is malformed (the message names it), or a
            swarm has no discovery channel, or the listen port is taken (nothing is created then).
    """
    if console is None:
        console = Console()
        if not console.is_terminal:
            console = Console(width=max(console.width, 150))
    _check_options(duration=duration, connect_timeout=connect_timeout, bind=bind)
    max_peers = _fit_open_files(max_peers, err)
    loaded: list[Target] = [load_target(t) for t in targets]
    try:
        policy = EncryptionPolicy(encryption)
    except ValueError:
        raise InputError(f"--encryption {encryption!r}: use allow, prefer, require or disable") from None
    config = MonitorConfig(
        peer_id=make_peer_id(),
        duration=duration,
        max_peers=max_peers,
        bind_ip=bind,
        listen_port=listen_port,
        listen=listen_port > 0,
        connect_timeout=connect_timeout,
        dht=dht,
        dht_read_only=dht_read_only,
        pex=pex,
        encryption=policy,
    )
    if dht_bootstrap:
        config.dht_bootstrap = [parse_host_port(text, "--dht-bootstrap") for text in dht_bootstrap]
    evidence = evidence or EvidenceOptions()
    evidence.apply(config, loaded)
    check_channels_early(config, loaded)
    check_listen_port(config)
    ack = CommitLog.open(commit_log_path)  # refused here, before anything is created
    new_files = NewFiles.before_opening(db)
    if "://" not in db:
        try:
            Path(db).parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            ack.close()
            raise InputError(f"--db {db}: cannot create its folder: {exc.strerror or exc}") from None
    clock = Clock()
    key = open_signing_key(db, evidence.node_key, lambda line: err.print(escaped(line)))
    store = open_store(db, node_key=key.key, now_us=clock.now_us())
    warn_other_signers(store, key, lambda line: err.print(f"[yellow]warning:[/] {escaped(line)}"))
    if store.recovery is not None and not store.recovery.clean:
        for action in store.recovery.actions:
            err.print(f"[yellow]ledger recovery:[/] {escaped(action)}")
    warnings: list[str] = []

    def warn(msg: str) -> None:
        if msg not in warnings:
            warnings.append(msg)
            err.print(f"[yellow]warning:[/] {escaped(msg)}")

    commit = software_commit()
    monitor = Monitor(loaded, store, config, clock, on_warning=warn, software_commit=commit, on_committed=ack)
    started = time.monotonic()
    try:
        with asyncio.Runner(loop_factory=_loop_factory(loop)) as runner:
            runner.run(_run(monitor, live, console))
    except Exception:  # any start-up failure; a run that started keeps its files
        _forget_refused_run(monitor, store, new_files, key)
        raise
    finally:
        store.close()
        ack.close()
    console.print(live_table(monitor, time.monotonic() - started))
    console.print(
        f"evidence committed to {db} (run {monitor.run_id}); `swarmscope report --db {db}` shows it"
    )
    return monitor


def _forget_refused_run(monitor: Monitor, store: Store, new_files: NewFiles, key: NodeKeyFile) -> None:
    """A run refused before it started (a channel failed after the early checks): remove what it created."""
    if monitor.run_id is not None or queries.run_rows(store):
        return
    store.close()
    for path in new_files.remove(key):
        if path == key.path:
            err.print(f"removed node key {escaped(str(path))}: this refused run created it")


async def _run(monitor: Monitor, live: bool, console: Console) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    start = loop.time()
    runner = asyncio.create_task(monitor.run(stop))
    if live and console.is_terminal:
        with Live(live_table(monitor, 0.0), console=console, refresh_per_second=4, transient=True) as view:
            while not runner.done():
                await asyncio.wait({runner}, timeout=0.5)
                view.update(live_table(monitor, loop.time() - start))
    else:
        last = -10.0
        while not runner.done():
            await asyncio.wait({runner}, timeout=1.0)
            now = loop.time() - start
            if now - last >= 5.0 and not runner.done():  # a refused run prints its one error line only
                last = now
                for s in monitor.stats.values():
                    c = s.counts()
                    sources = " ".join(f"{src} {n}" for src, n in sorted(s.by_source().items()))
                    console.print(
                        f"[{now:6.1f}s] {escaped(s.name)}: listed {c['listed']} connected {c['connected']} "
                        f"has_pieces {c['has_pieces']} verified {c['verified']} bytes {s.bytes_in} "
                        f"sources: {sources or '-'}"
                    )
    await runner


def _loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
    """The event loop: uvloop when installed (``auto``; about twice the probe rate), else asyncio's.

    Raises:
        InputError: ``uvloop`` asked for but not installed, or an unknown name.
    """
    if name not in ("auto", "uvloop", "asyncio"):
        raise InputError(f"--loop {name!r}: use auto, uvloop or asyncio")
    if name == "asyncio":
        return None
    try:
        import uvloop
    except ImportError:
        if name == "uvloop":
            raise InputError(
                "--loop uvloop: uvloop is not installed (pip install 'swarmscope[speed]')"
            ) from None
        return None
    return uvloop.new_event_loop


def _check_options(*, duration: float | None, connect_timeout: float, bind: str | None) -> None:
    """Refuse option values that would make a run silently useless.

    Raises:
        InputError: naming the option and the problem.
    """
    if duration is not None:
        num.RUN_SECONDS.check("--duration", duration)
    num.CONNECT_SECONDS.check("--connect-timeout", connect_timeout)
    if bind is not None:
        try:
            ipaddress.ip_address(bind)
        except ValueError:
            raise InputError(f"--bind {bind!r}: not an IP address of this machine") from None
        try:
            check_local_address(bind)
        except OSError as exc:
            raise InputError(
                f"--bind {bind}: not an address of this machine ({exc.strerror or exc})"
            ) from None


def _fit_open_files(max_peers: int, console: Console) -> int:
    """Raise the open-file soft limit as far as allowed and keep ``max_peers`` below it.

    Every probe in flight holds one socket; past RLIMIT_NOFILE the process cannot even import a module.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    with contextlib.suppress(ValueError, OSError):
        if hard == resource.RLIM_INFINITY or hard > soft:
            soft = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
            resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    room = max(1, soft - OPEN_FILES_RESERVE)
    if max_peers > room:
        console.print(
            f"[yellow]warning:[/] --max-peers {max_peers} exceeds the open-file limit ({soft}); using {room}"
        )
        return room
    return max_peers


def parse_host_port(text: str, option: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[V6]:PORT`` → (host, port).

    Raises:
        InputError: not of that form, or the port is outside 1..65535.
    """
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise InputError(f"{option} {text!r}: expected HOST:PORT")
    return host, int(port)


@app.command()
def monitor(
    targets: list[str] = typer.Argument(
        ..., metavar="TORRENT_OR_MAGNET...", help=".torrent files or magnet URIs"
    ),
    db: str = typer.Option(DEFAULT_DB, "--db", help="SQLite file (or SQLAlchemy URL) for the evidence"),
    duration: float = number_option(
        "--duration", num.RUN_SECONDS, "seconds to run (default: until Ctrl-C)", default=None
    ),
    max_peers: int = number_option("--max-peers", num.MAX_PEERS, "probes in flight at once", default=200),
    bind: str = typer.Option(None, "--bind", help="source IP for our connections and announces"),
    listen_port: int = number_option(
        "--listen-port",
        num.LISTEN_PORT,
        "TCP port for inbound peers, announced to trackers and the DHT (0: no listener)",
        default=6881,
    ),
    dht: bool = typer.Option(True, "--dht/--no-dht", help="discover peers through the Mainline DHT"),
    dht_bootstrap: list[str] = typer.Option(
        None, "--dht-bootstrap", metavar="HOST:PORT", help="DHT node to join through (repeatable)"
    ),
    dht_read_only: bool = typer.Option(
        False,
        "--dht-read-only",
        help="BEP 43: query the DHT but answer nobody (others keep us out of tables)",
    ),
    pex: bool = typer.Option(True, "--pex/--no-pex", help="read peer lists peers send (BEP 11 ut_pex)"),
    loop: str = typer.Option(
        "auto", "--loop", help="event loop: auto (uvloop if installed), uvloop, asyncio"
    ),
    encryption: str = typer.Option(
        "allow",
        "--encryption",
        help="MSE/PE of outgoing probes: allow (plaintext first), prefer (encrypted first), require, disable",
    ),
    connect_timeout: float = number_option(
        "--connect-timeout", num.CONNECT_SECONDS, "TCP connect timeout, seconds", default=5.0
    ),
    live: bool = typer.Option(True, "--live/--no-live", help="live table (default on a terminal)"),
    node_key: str = typer.Option(
        None,
        "--node-key",
        help="Ed25519 signing key of this monitor node (created on first use, in an existing directory)",
    ),
    reference: list[str] = typer.Option(
        None, "--reference", help="reference copy of the work for block proofs (one per .torrent, in order)"
    ),
    ntp_server: list[str] = typer.Option(
        None,
        "--ntp-server",
        metavar="HOST[:PORT]",
        help="NTP server to measure the clock against (repeatable)",
    ),
    ntp_interval: float = number_option(
        "--ntp-interval", num.NTP_INTERVAL_SECONDS, "seconds between NTP measurements", default=64.0
    ),
    clock_threshold_ms: float = number_option(
        "--clock-threshold-ms",
        num.CLOCK_THRESHOLD_MS,
        "clock offset that flags observations (commercial anchor: 40)",
        default=100.0,
    ),
    clock_policy: str = typer.Option(
        "default",
        "--clock-policy",
        help="default, or commercial-anchor (40 ms; flag all since last good sync)",
    ),
    tsa_url: str = typer.Option(None, "--tsa-url", help="RFC 3161 time-stamp authority for sealed batches"),
    proof_candidates: int = number_option(
        "--proof-candidates",
        num.PROOF_CANDIDATES,
        "16 KiB block proofs offered to each probe (0: whole pieces only)",
        default=4,
    ),
    commit_log_path: str = typer.Option(
        None, "--commit-log", help="append 'first last head fingerprint' per sealed batch once committed"
    ),
) -> None:
    """Monitor swarms: discover peers via trackers, probe and verify each, record evidence."""
    try:
        run_monitor_command(
            targets=targets,
            db=db,
            duration=duration,
            max_peers=max_peers,
            bind=bind,
            live=live,
            listen_port=listen_port,
            connect_timeout=connect_timeout,
            dht=dht,
            dht_bootstrap=dht_bootstrap,
            pex=pex,
            encryption=encryption,
            loop=loop,
            dht_read_only=dht_read_only,
            evidence=EvidenceOptions(
                node_key=node_key,
                references=reference or [],
                ntp_servers=ntp_server or [],
                ntp_interval=ntp_interval,
                clock_threshold_ms=clock_threshold_ms,
                clock_policy=clock_policy,
                tsa_url=tsa_url,
                proof_candidates=proof_candidates,
            ),
            commit_log_path=commit_log_path,
        )
    except SwarmscopeError as exc:
        err.print(f"[red]error:[/] {escaped(exc)}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        sys.exit(130)

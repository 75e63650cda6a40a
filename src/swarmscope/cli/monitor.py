"""``swarmscope monitor``: watch swarms live, record evidence, print a summary at the end."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path

import typer
from rich.console import Console
from rich.live import Live

from swarmscope.cli import monitor_options as opt
from swarmscope.cli import numeric as num
from swarmscope.cli.app import app
from swarmscope.cli.commit_log import CommitLog
from swarmscope.cli.evidence_options import EvidenceOptions
from swarmscope.cli.monitor_settings import check_options, fit_open_files, loop_factory, monitor_config
from swarmscope.cli.monitor_view import live_table
from swarmscope.cli.node_identity import bind_witness, open_signing_key, warn_other_signers
from swarmscope.cli.provenance import software_commit
from swarmscope.cli.refused_run import NewFiles
from swarmscope.cli.text import error_console, escaped
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.monitor.channels import check_channels_early, check_listen_port
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.crawler import Monitor
from swarmscope.monitor.live_stats import LiveStats
from swarmscope.monitor.probe_processes import ProbeProcesses
from swarmscope.monitor.targets import Target, load_target
from swarmscope.monitor.writer_process import WriterProcess, collecting_less
from swarmscope.net.clock import Clock
from swarmscope.store.console.stats import write_monitor_sample
from swarmscope.store.database import DEFAULT_DB, Store, open_store
from swarmscope.store.ledger import queries
from swarmscope.store.ledger.node_key import NodeKeyFile


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
    writer_process: bool = False,
    probe_processes: int = 1,
    public_ip: str | None = None,
) -> Monitor:
    """Load the targets, run the monitor until ``duration`` passes or Ctrl-C, print a summary.

    The Python defaults keep the DHT off (no public router is ever contacted unless asked); the CLI turns
    it on by default, as a production monitor wants. ``listen_port`` 0 means no inbound listener.
    ``evidence``: node key, reference copies, NTP, RFC 3161, captures.
    ``commit_log_path``: append one line per sealed batch once committed (:mod:`swarmscope.cli.commit_log`).
    ``writer_process``: the evidence writer in its own process (:mod:`swarmscope.monitor.writer_process`);
    ``probe_processes`` > 1 implies it: as many processes probe (:mod:`swarmscope.monitor.probe_processes`).

    Raises:
        InputError: a target cannot be loaded, an option value is malformed (the message names it), or a
            swarm has no discovery channel, or the listen port is taken (nothing is created then).
    """
    console = _default_console() if console is None else console
    check_options(duration=duration, connect_timeout=connect_timeout, bind=bind, public_ip=public_ip)
    writer_process = num.PROBE_PROCESSES.check("--probe-processes", probe_processes) > 1 or writer_process
    max_peers = fit_open_files(max_peers, error_console())
    loaded: list[Target] = [load_target(t) for t in targets]
    config = monitor_config(
        duration=duration, max_peers=max_peers, bind=bind, listen_port=listen_port,
        connect_timeout=connect_timeout, dht=dht, dht_bootstrap=dht_bootstrap, dht_read_only=dht_read_only,
        pex=pex, encryption=encryption, public_ip=public_ip,
    )  # fmt: skip
    evidence = evidence or EvidenceOptions()
    evidence.apply(config, loaded)
    check_channels_early(config, loaded)
    check_listen_port(config)
    ack = CommitLog.open(commit_log_path)  # refused here, before anything is created
    new_files = NewFiles.before_opening(db)
    _make_db_folder(db, ack)
    key, store = _open_evidence_store(db, evidence, clock := Clock())
    warn = _warn_once()
    writer = WriterProcess(db, key.key, store.witness, store, on_warning=warn) if writer_process else None
    monitor = Monitor(
        loaded, store, config, clock, on_warning=warn, software_commit=software_commit(), on_committed=ack,
        ledger=writer, router=_probe_processes(probe_processes, writer, db, targets, config, warn, ack),
    )  # fmt: skip
    started = time.monotonic()
    try:
        if writer is not None:
            writer.start()  # it opens the store now: a refusal is one line before anything is sealed
        with collecting_less(), asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
            runner.run(_run(monitor, store, live, console))
    except Exception:  # any start-up failure; a run that started keeps its files
        _forget_refused_run(monitor, store, new_files, key)
        raise
    finally:
        _close(writer, store, ack)
    _print_summary(console, monitor, db, time.monotonic() - started)
    return monitor


def _probe_processes(
    count: int,
    writer: WriterProcess | None,
    db: str,
    targets: list[str],
    config: MonitorConfig,
    warn: Callable[[str], None],
    ack: CommitLog,
) -> ProbeProcesses | None:
    """The other probe processes' router when ``--probe-processes`` is above 1 (it needs the writer)."""
    if writer is None or count <= 1:
        return None
    return ProbeProcesses(count, writer, db, targets, config, warn, on_committed=ack)


def _close(writer: WriterProcess | None, store: Store, ack: CommitLog) -> None:
    """The writer process first (after the monitor's last commit: it answers it, then exits), the store,
    the commit log."""
    if writer is not None:
        writer.close()
    store.close()
    ack.close()


def _print_summary(console: Console, monitor: Monitor, db: str, elapsed: float) -> None:
    """The final table (``elapsed`` seconds of run) and where the evidence went."""
    console.print(live_table(monitor, elapsed))
    console.print(
        f"evidence committed to {db} (run {monitor.run_id}); `swarmscope report --db {db}` shows it"
    )


def _default_console() -> Console:
    """Standard output; 150 columns at least when it is not a terminal (a log keeps whole rows)."""
    console = Console()
    return console if console.is_terminal else Console(width=max(console.width, 150))


def _make_db_folder(db: str, ack: CommitLog) -> None:
    """Create the folder of an SQLite ``--db`` path (a URL is left to its server).

    Raises:
        InputError: the folder cannot be created (the commit log is closed first).
    """
    if "://" in db:
        return
    try:
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        ack.close()
        raise InputError(f"--db {db}: cannot create its folder: {exc.strerror or exc}") from None


def _open_evidence_store(db: str, evidence: EvidenceOptions, clock: Clock) -> tuple[NodeKeyFile, Store]:
    """Open (or create) the node key and the store with it; one line per other signer and recovery step."""
    err = error_console()
    key = open_signing_key(db, evidence.node_key, lambda line: err.print(escaped(line)))
    store = open_store(db, node_key=key.key, now_us=clock.now_us())
    warn_other_signers(store, key, lambda line: err.print(f"[yellow]warning:[/] {escaped(line)}"))
    try:
        bind_witness(store, key.path, lambda line: err.print(f"[yellow]warning:[/] {escaped(line)}"))
    except BaseException:
        store.close()
        raise
    if store.recovery is not None and not store.recovery.clean:
        for action in store.recovery.actions:
            error_console().print(f"[yellow]ledger recovery:[/] {escaped(action)}")
    return key, store


def _warn_once() -> Callable[[str], None]:
    """A warning printer that prints each distinct message once (a dead tracker warns once, not hourly)."""
    warnings: set[str] = set()

    def warn(msg: str) -> None:
        if msg not in warnings:
            warnings.add(msg)
            error_console().print(f"[yellow]warning:[/] {escaped(msg)}")

    return warn


def _forget_refused_run(monitor: Monitor, store: Store, new_files: NewFiles, key: NodeKeyFile) -> None:
    """A run refused before it started (a channel failed after the early checks): remove what it created."""
    if monitor.run_id is not None or queries.run_rows(store):
        return
    store.close()
    for path in new_files.remove(key):
        if path == key.path:
            error_console().print(f"removed node key {escaped(str(path))}: this refused run created it")


async def _run(monitor: Monitor, store: Store, live: bool, console: Console) -> None:
    """Run the monitor until it stops, with its live table and its stats samples for the web console."""
    sampling = asyncio.Event()
    sampler = asyncio.create_task(
        LiveStats(monitor, functools.partial(write_monitor_sample, store)).run(sampling)
    )
    try:
        await _run_monitor(monitor, live, console)
    finally:
        sampling.set()
        await sampler


async def _run_monitor(monitor: Monitor, live: bool, console: Console) -> None:
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
                        f"[{now:6.1f}s] {escaped(s.name)}: listed {c['listed']}{'+' if s.over_bound else ''} "
                        f"connected {c['connected']} "
                        f"has_pieces {c['has_pieces']} verified {c['verified']} bytes {s.bytes_in} "
                        f"sources: {sources or '-'}"
                    )
    await runner


@app.command()
def monitor(
    targets: opt.Targets,
    db: opt.Db = DEFAULT_DB,
    duration: opt.Duration = None,
    max_peers: opt.MaxPeers = 200,
    bind: opt.Bind = None,
    public_ip: opt.PublicIp = None,
    listen_port: opt.ListenPort = 6881,
    dht: opt.Dht = True,
    dht_bootstrap: opt.DhtBootstrap = None,
    dht_read_only: opt.DhtReadOnly = False,
    pex: opt.Pex = True,
    loop: opt.Loop = "auto",
    encryption: opt.Encryption = "allow",
    connect_timeout: opt.ConnectTimeout = 5.0,
    live: opt.Live = True,
    node_key: opt.NodeKey = None,
    reference: opt.Reference = None,
    ntp_server: opt.NtpServer = None,
    ntp_interval: opt.NtpInterval = 64.0,
    clock_threshold_ms: opt.ClockThresholdMs = 100.0,
    clock_policy: opt.ClockPolicyName = "default",
    tsa_url: opt.TsaUrl = None,
    proof_candidates: opt.ProofCandidates = 4,
    commit_log_path: opt.CommitLogPath = None,
    max_backlog: opt.MaxBacklog = 256.0,
    writer_process: opt.WriterProcess = False,
    probe_processes: opt.ProbeProcesses = 1,
) -> None:
    """Monitor swarms: discover peers via trackers, probe and verify each, record evidence."""
    evidence = EvidenceOptions(
        node_key=node_key, references=reference or [], ntp_servers=ntp_server or [],
        ntp_interval=ntp_interval, clock_threshold_ms=clock_threshold_ms, clock_policy=clock_policy,
        tsa_url=tsa_url, proof_candidates=proof_candidates, max_backlog_mib=max_backlog,
    )  # fmt: skip
    try:
        run_monitor_command(
            targets=targets, db=db, duration=duration, max_peers=max_peers, bind=bind, public_ip=public_ip,
            live=live, listen_port=listen_port, connect_timeout=connect_timeout, dht=dht, loop=loop,
            dht_bootstrap=dht_bootstrap, pex=pex, encryption=encryption, dht_read_only=dht_read_only,
            evidence=evidence, commit_log_path=commit_log_path, writer_process=writer_process,
            probe_processes=probe_processes,
        )  # fmt: skip
    except SwarmscopeError as exc:
        error_console().print(f"[red]error:[/] {escaped(exc)}")
        raise typer.Exit(1) from None
    except KeyboardInterrupt:
        sys.exit(130)

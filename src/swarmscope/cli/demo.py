"""``swarmscope demo``: a real swarm on loopback, the monitor run against it, the report, a verified bundle.

Offline and self-contained: real libtorrent peers, aria2 and opentracker on private 127.x addresses
(``swarmscope.testbed``). As root the demo first moves itself into a private network namespace, so
nothing it or the clients send can leave the machine; otherwise it runs on the host's loopback.

``--serve`` then keeps the web console running on the demo's database (:mod:`swarmscope.cli.demo_console`).
The newcomer's browser is in the network namespace the command was started in, not in the demo's: so the
console's listening socket on 127.0.0.1 is taken first, before the demo enters its namespace (a socket
stays in the namespace it was made in; network_namespaces(7)), and is served once the demo is over.
A port another program holds is refused then, before the demo runs.
"""

from __future__ import annotations

import importlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from swarmscope.cli import numeric as num
from swarmscope.cli.app import app
from swarmscope.cli.demo_console import CONSOLE_HOST, demo_console
from swarmscope.cli.evidence_options import EvidenceOptions
from swarmscope.cli.numeric import DEMO_SECONDS, number_option
from swarmscope.errors import SwarmscopeError
from swarmscope.netns import enter_private_netns, in_private_netns
from swarmscope.web.server import console_socket

MONITOR_IP = "127.0.0.1"
CONSOLE_PORT = 8080  # demo --serve without --port (README "Quick start")
LIBTORRENT_MISSING = "libtorrent is not installed: pip install 'swarmscope[demo]' (or pip install libtorrent)"
MONITOR_MISSING = "the monitor command is not available in this build (swarmscope.cli.monitor)"


class DemoError(Exception):
    """A prerequisite of the demo is missing; the message says how to install it."""


def _isolate(console: Console) -> None:
    """Enter a private network namespace when we can (root); say where the demo runs."""
    if in_private_netns():
        console.print("[dim]running in a private network namespace (only lo exists)[/]")
    elif enter_private_netns():
        console.print("[dim]entered a private network namespace: no packet can leave this machine[/]")
    else:
        console.print("[yellow]not root: running on the host loopback (127.0.0.0/8 only)[/]")


def _check_prerequisites() -> tuple[Any, Any]:
    """Return (run_monitor_command, print_report) or raise DemoError naming what to install."""
    try:
        importlib.import_module("libtorrent")
    except ImportError:
        raise DemoError(LIBTORRENT_MISSING) from None
    try:
        monitor = importlib.import_module("swarmscope.cli.monitor")
        report = importlib.import_module("swarmscope.cli.report")
    except ImportError as exc:
        raise DemoError(f"{MONITOR_MISSING}: {exc}") from None
    return monitor.run_monitor_command, report.print_report


def _truth_table(swarm: Any) -> Table:
    """What each scenario address really is, to compare with the report."""
    table = Table(title="the scenario (ground truth)", title_justify="left")
    for col in ("name", "address", "client", "pieces held", "serves"):
        table.add_column(col)
    n = swarm.content.num_pieces
    for p in swarm.peers:
        held = "-" if p.completion is None else f"{len(p.pieces)}/{n}"
        serves = (
            "nothing (refuses)"
            if p.role == "dead"
            else ("good data" if p.serves_good_data else "CORRUPT data")
        )
        if p.role == "leecher":
            serves = "nothing (holds no piece)"
        table.add_row(p.name, f"{p.ip}:{p.port}", p.client or "-", held, serves)
    return table


@dataclass(frozen=True, slots=True)
class DemoRun:
    """What a finished demo leaves: its database (SQLite path), the swarm's infohash (hex) and name."""

    db: str
    infohash: str
    name: str


def run_demo(duration: float, db: str | None, workdir: str | None, console: Console) -> DemoRun:
    """Start the scenario, monitor it, print the report, export a bundle and verify it.

    The monitor gets the scenario's good content as its reference copy, so peers are verified by a single
    16 KiB block proof (README "Blocks proving distribution"); the bundle is checked by ``swarmscope
    verify``'s code.

    Raises:
        DemoError: a prerequisite is missing. SwarmStartError and friends: a component did not start.
    """
    run_monitor_command, print_report = _check_prerequisites()
    from swarmscope.testbed.swarm import start_swarm

    db_path = db or str(Path(tempfile.mkdtemp(prefix="swarmscope-demo-")) / "evidence.db")
    started = time.monotonic()
    with start_swarm(workdir, monitor_ip=MONITOR_IP, tracker_kind="auto") as swarm:
        for note in swarm.notes:
            console.print(f"[yellow]note:[/] {note}")
        console.print(
            f"swarm up in {time.monotonic() - started:.1f} s: tracker {swarm.tracker_url}, "
            f"infohash {swarm.infohash_hex}"
        )
        console.print(_truth_table(swarm))
        console.print(f"running the monitor for {duration:g} s from {MONITOR_IP} …")
        run_monitor_command(
            targets=[str(swarm.torrent_path)],
            db=db_path,
            duration=duration,
            max_peers=50,
            bind=MONITOR_IP,
            live=console.is_terminal,
            console=console,
            evidence=EvidenceOptions(references=[str(swarm.content.data_dir / swarm.content.name)]),
        )
        stats = swarm.peer_stats()
        received = swarm.payload_received_from(MONITOR_IP, stats)
        served = swarm.payload_sent_to(MONITOR_IP, stats)
        run = DemoRun(db_path, swarm.infohash_hex, swarm.content.name)
    print_report(db_path, "table")
    console.print(
        f"the libtorrent peers' own counters: they sent the monitor {served:,} payload bytes "
        f"and received {received:,} from it"
    )
    console.print(
        f"evidence kept in {db_path}; `swarmscope report --db {db_path} --format json` shows it again"
    )
    _bundle(db_path, console)
    return run


def _bundle(db_path: str, console: Console) -> None:
    """Export the run as a self-contained bundle and verify it (README "Export and verify")."""
    from swarmscope.cli.export import run_export
    from swarmscope.cli.verify import run_verify

    out = Path(db_path).with_name(f"{Path(db_path).stem}-bundle-{time.strftime('%Y%m%dT%H%M%S')}")
    run_export(db=db_path, out=out, console=console)
    console.print(f"verifying the bundle in {out} with nothing but its files:")
    status = run_verify(out, console=console)
    if status != 0:
        raise SwarmscopeError(f"the exported bundle did not verify (exit status {status})")
    console.print(f"`swarmscope verify {out}` re-checks it at any time")


@app.command()
def demo(
    duration: float = number_option("--duration", DEMO_SECONDS, "seconds the monitor runs", default=30.0),
    db: str = typer.Option(None, "--db", help="evidence database (default: a new temporary directory)"),
    workdir: str = typer.Option(None, "--workdir", help="parent directory for the scenario's files"),
    serve: bool = typer.Option(
        False, "--serve", help="then keep the web console running on the demo's database (Ctrl-C stops it)"
    ),
    port: int | None = number_option(
        "--port",
        num.PORT,
        f"the console's port on 127.0.0.1 (only with --serve; default {CONSOLE_PORT})",
        default=None,
    ),
) -> None:
    """Run a real swarm on loopback (libtorrent, aria2, opentracker), monitor it, print the evidence."""
    if port is not None and not serve:  # a usage error: one line, exit status 1 (cli/app.py)
        raise typer.BadParameter("only with --serve (the console's port)", param_hint="'--port'")
    console = Console()
    if not console.is_terminal:  # piped or logged: keep the tables' rows on one line
        console = Console(width=max(console.width, 150))
    try:  # the console's socket first, in the namespace we were started in (where the browser is)
        sock = console_socket(CONSOLE_HOST, port or CONSOLE_PORT) if serve else None
    except SwarmscopeError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None
    _isolate(console)  # first: before libtorrent (or anything else) starts a thread
    try:
        run = _run_or_exit(duration, db, workdir, console)
    except BaseException:  # typer.Exit, KeyboardInterrupt: the console will not be served
        if sock is not None:
            sock.close()
        raise
    if sock is not None:
        try:
            demo_console(run, sock, console)
        except SwarmscopeError as exc:
            console.print(f"[red]error:[/] the console could not start: {escape(str(exc))}", soft_wrap=True)
            raise typer.Exit(1) from None


def _run_or_exit(duration: float, db: str | None, workdir: str | None, console: Console) -> DemoRun:
    """:func:`run_demo`, its errors as one line and exit status 2 (a missing prerequisite) or 1."""
    try:
        return run_demo(duration, db, workdir, console)
    except DemoError as exc:
        console.print(f"[red]error:[/] {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(2) from None
    except (SwarmscopeError, RuntimeError, OSError) as exc:
        console.print(f"[red]error:[/] the demo could not run: {escape(str(exc))}", soft_wrap=True)
        raise typer.Exit(1) from None

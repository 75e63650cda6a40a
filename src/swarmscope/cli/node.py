"""``swarmscope node``: run one monitor node of a fleet until stopped (SIGTERM or SIGINT).

The node is the engine of ``swarmscope monitor`` (:class:`~swarmscope.monitor.fleet_monitor.FleetMonitor`)
fed the swarms it leases from the fleet's PostgreSQL store (:class:`~swarmscope.monitor.node.FleetNode`),
with its own Ed25519 key file (so its own hash chain) and every batch fenced by its lease tokens. Like
``monitor`` it runs a Mainline DHT node (``--dht``, the default; ``--dht-bootstrap`` as for ``monitor``)
that looks up each swarm while it is leased; one that cannot start is one warning line. Files
the fleet registered on another machine are found by name on this one: ``--dataset NAME=PATH`` gives
this node's copy of a registered IP dataset, refused unless its SHA-256 is the registered one, and
``--reference WORK=PATH`` this node's copy of a work's reference content (:func:`local_references`).
``--ntp-server``/``--ntp-interval``/``--clock-threshold-ms`` are ``monitor``'s; besides, every lease round
measures the node's clock against the database's and seals that sample too. ``--probe-processes N`` is
``monitor``'s (N processes probe a shard of the peers each, by IP, feeding one evidence writer process;
the node's process is the coordinator: leases, discovery, inbound peers): every batch of every process
is fenced by the node's current lease tokens, handed to the probe processes as they change. One line
per lease taken, lost or given back, per warning and per fleet duty it ran (timestamping, retention
purges: :mod:`swarmscope.cli.fleet_duties`); stopping commits everything and releases the leases.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import signal
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from rich.console import Console

from swarmscope.attribution.datasets import file_sha256
from swarmscope.cli import monitor_options as opt
from swarmscope.cli import numeric as num
from swarmscope.cli.app import app
from swarmscope.cli.fleet_duties import duty_runners
from swarmscope.cli.monitor_settings import check_options, fit_open_files, loop_factory, monitor_config
from swarmscope.cli.node_identity import bind_witness, open_signing_key
from swarmscope.cli.options import fail
from swarmscope.cli.provenance import software_commit
from swarmscope.cli.text import one_line
from swarmscope.errors import InputError, SwarmscopeError
from swarmscope.monitor.channels import check_listen_port
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.fleet_monitor import FleetMonitor
from swarmscope.monitor.node import FleetNode, NodePlan
from swarmscope.monitor.probe_processes import ProbeProcesses
from swarmscope.monitor.writer_process import WriterProcess
from swarmscope.net.clock import Clock
from swarmscope.net.ntp_clock import parse_server
from swarmscope.store.database import Store, open_store
from swarmscope.store.fleet.fencing import FencedStore
from swarmscope.store.fleet.handle import NEEDS_POSTGRESQL, Fleet, is_postgresql
from swarmscope.store.fleet.jobs import FleetJobs
from swarmscope.store.fleet.registry import NodeStart
from swarmscope.store.ledger.datasets import active_datasets
from swarmscope.store.ledger.head_witness import witness_path
from swarmscope.store.ledger.node_key import KEY_FILE_SUFFIX, default_key_path
from swarmscope.store.legal import cases as case_rows
from swarmscope.store.legal.case_rows import WorkRow
from swarmscope.store.legal.workflow_seals import reference_sha256

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def say(line: str) -> None:
    """One line on stdout, flushed (a node's log is read while it runs); a name in it (a magnet's ``dn``)
    cannot break it into two (:func:`~swarmscope.cli.text.one_line`)."""
    typer.echo(one_line(line))


def node_key_path(db: str, name: str, explicit: str | None) -> str:
    """``--node-key``, else ``fleet-NAME.node-key.pem`` in the default key directory: one key per node
    name, so two nodes on one machine never share a key (and a chain)."""
    return explicit or str(Path(default_key_path(db)).parent / f"fleet-{name}{KEY_FILE_SUFFIX}")


def local_datasets(store: Store, specs: Sequence[str]) -> dict[str, str]:
    """``--dataset NAME=PATH``: this node's copy of the active registered dataset NAME (the stable name
    ``swarmscope datasets list`` shows), accepted only when its SHA-256 is that dataset's.

    Returns:
        dataset SHA-256 hex → PATH, for :attr:`MonitorConfig.dataset_paths`.

    Raises:
        InputError: not NAME=PATH, no active dataset NAME, PATH unreadable, or PATH's SHA-256 is not the
            registered one (the node does not start: it would attribute from a different file).
    """
    active = active_datasets(store)
    paths: dict[str, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not (sep and name and path):
            raise InputError(f"--dataset {spec!r}: NAME=PATH (a registered dataset's name, this node's file)")
        named = [d for d in active if d.name == name]
        if not named:
            raise InputError(f"--dataset {spec}: no active registered dataset named {name!r}")
        try:
            digest, _size = file_sha256(Path(path))
        except InputError as exc:
            raise InputError(f"--dataset {spec}: {exc}") from None
        if digest not in {d.sha256 for d in named}:
            wanted = ", ".join(d.sha256[:16] for d in named)
            raise InputError(
                f"--dataset {spec}: sha256 {digest[:16]}… is not the registered {name}'s ({wanted}…): refused"
            )
        paths[digest] = path
    return paths


def local_references(store: Store, specs: Sequence[str]) -> dict[int, str]:
    """``--reference WORK=PATH``: this node's copy of the reference content of WORK (its id or title, as
    ``swarmscope works list`` shows), accepted only when its SHA-256 is the stored one.

    Returns:
        work id → PATH (absolute), for :class:`~swarmscope.monitor.node.FleetNode`.

    Raises:
        InputError: not WORK=PATH, no such work (or an ambiguous title), a work registered without
            reference content or whose identity is not stored, PATH unreadable, or PATH's SHA-256 is not
            the stored one (the node does not start: it would take another copy for the work's).
    """
    paths: dict[int, str] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not (sep and name and path):
            raise InputError(f"--reference {spec!r}: WORK=PATH (a work's id or title, this node's copy)")
        try:
            work = case_rows.get_work(store, name)
        except SwarmscopeError as exc:
            raise InputError(f"--reference {spec}: {exc}") from None
        paths[work.id] = _checked(spec, work, path)
    return paths


def _checked(spec: str, work: WorkRow, path: str) -> str:
    """PATH, absolute, when its content is the work's registered reference copy."""
    label = f"work {work.id} ({work.title})"
    if work.reference_path is None:
        raise InputError(f"--reference {spec}: {label} has no reference content (works add --reference)")
    if work.reference_sha256 is None:
        raise InputError(
            f"--reference {spec}: the identity of {label}'s reference copy is not stored (its copy was not "
            f"readable when the store was upgraded): run `swarmscope works seal {work.id}` where "
            f"{work.reference_path} is"
        )
    digest = reference_sha256(path) if Path(path).exists() else "missing"
    if digest in (None, "missing"):
        raise InputError(f"--reference {spec}: cannot read {path}")
    if digest != work.reference_sha256:
        raise InputError(
            f"--reference {spec}: sha256 {digest[:16]}… is not {label}'s reference copy "
            f"({work.reference_sha256[:16]}…): refused"
        )
    return str(Path(path).resolve())


def check_node(
    db: str, name: str, bind: str | None, connect_timeout: float, public_ip: str | None = None
) -> None:
    """Refuse a non-PostgreSQL store, a bad name or option before anything is created.

    Raises:
        InputError: naming the option.
    """
    if not is_postgresql(db):
        raise InputError(f"--db {db}: {NEEDS_POSTGRESQL}")
    if not NAME.fullmatch(name):
        raise InputError(
            f"--name {name!r}: 1 to 64 letters, digits, '.', '_' or '-' (a letter or digit first)"
        )
    check_options(duration=None, connect_timeout=connect_timeout, bind=bind, public_ip=public_ip)


def clock_options(config: MonitorConfig, servers: list[str], interval: float, threshold_ms: float) -> None:
    """``--ntp-server`` (measured every ``--ntp-interval`` seconds, as ``monitor`` does) and
    ``--clock-threshold-ms`` (also the limit of the node's offset from the database clock, measured every
    lease round) into ``config``.

    Raises:
        InputError: a malformed server or an out-of-range number, naming the option.
    """
    for server in servers:
        parse_server(server)
    num.NTP_INTERVAL_SECONDS.check("--ntp-interval", interval)
    num.CLOCK_THRESHOLD_MS.check("--clock-threshold-ms", threshold_ms)
    config.ntp_servers, config.ntp_interval, config.clock_threshold_ms = list(servers), interval, threshold_ms


async def serve(node: FleetNode) -> None:
    """Run ``node`` until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)
    await node.run(stop)


def build_node(
    db: str,
    plan: NodePlan,
    config: MonitorConfig,
    key_path: str,
    references: dict[int, str] | None = None,
    probe_processes: int = 1,
) -> FleetNode:
    """Open the node's key and store, and put the fleet node together (nothing runs yet); ``references``:
    this node's copies of works' reference content (:func:`local_references`). A key file created here
    is announced once the fleet accepted the start (:func:`run_node` removes it after a refusal).
    ``probe_processes`` above 1: that many processes probe, one writer process seals (:func:`_shards`).

    Raises:
        SwarmscopeError: unusable key file, store or fleet (the message names it).
    """
    created: list[str] = []  # announced once the fleet accepted the start (a refused one removes the key)
    key = open_signing_key(db, key_path, created.append)
    clock = Clock()
    store = open_store(db, node_key=key.key, now_us=clock.now_us())
    try:
        bind_witness(store, key.path, lambda line: say(f"warning: {line}"))
    except BaseException:
        store.close()
        raise
    fleet = Fleet(store, timeout=plan.renew_every)  # a lease statement or lock wait: one renewal period
    start = NodeStart(  # the fleet's vantage and ban range: the public address peers see, when declared
        plan.start.name, key.fingerprint, config.public_ip or config.bind_ip, config.listen_port,
        plan.start.capacity,
    )  # fmt: skip
    holder: list[FleetNode] = []
    fenced = FencedStore(store, lambda: holder[0].tokens(), lambda: holder[0].identity())
    warn = lambda msg: say(f"warning: {msg}")  # noqa: E731
    writer, shards = _shards(probe_processes, db, key.key, store, config, lambda: holder[0])
    monitor = FleetMonitor(
        fenced, config, clock, warn, software_commit(), ledger=writer, shards=shards
    )  # fmt: skip
    lease = plan.lease_seconds
    jobs = FleetJobs(
        store, start.name, stalled_after=max(2 * lease, 10.0), live_within=lease, on_event=say,
        runners=duty_runners(store, clock, start.name),
    )  # fmt: skip
    node_plan = NodePlan(start, plan.lease_seconds)

    def announce() -> None:
        for line in created:
            say(line)

    holder.append(FleetNode(fleet, monitor, node_plan, say, jobs.run, references, announce))
    return holder[0]


def _shards(
    count: int,
    db: str,
    key: Ed25519PrivateKey,
    store: Store,
    config: MonitorConfig,
    node: Callable[[], FleetNode],
) -> tuple[WriterProcess | None, ProbeProcesses | None]:
    """With ``--probe-processes`` above 1: the node's writer process (every commit fenced by the node's
    lease tokens, read at the commit: :meth:`FleetNode.fence`) and its probe processes (each handed the
    tokens as they change; a batch of theirs refused by fencing drops its swarms as the node's own do).

    Raises:
        SwarmscopeError: the writer process cannot start or open the store (one line, nothing sealed).
    """
    if count <= 1:
        return None, None
    warn = lambda msg: say(f"warning: {msg}")  # noqa: E731
    writer = WriterProcess(db, key, store.witness, store, on_warning=warn, fence=lambda: node().fence())
    writer.start()
    shards = ProbeProcesses(
        count, writer, db, [], config, warn, fleet=True,
        on_fenced=lambda swarms: node().monitor.evidence.on_fenced(swarms),
    )  # fmt: skip
    return writer, shards


@app.command()
def node(
    db: Annotated[str, typer.Option("--db", help="The fleet's PostgreSQL store (SQLAlchemy URL).")],
    name: Annotated[str, typer.Option("--name", help="This node's name in the fleet (bound to its key).")],
    bind: opt.Bind = None,
    public_ip: opt.PublicIp = None,
    listen_port: opt.ListenPort = 6881,
    capacity: Annotated[int, num.number_option("--capacity", num.CAPACITY, "swarms leased at once")] = 10,
    lease_seconds: Annotated[
        float, num.number_option("--lease-seconds", num.LEASE_SECONDS, "lease length (renewed every third)")
    ] = 30.0,
    max_peers: opt.MaxPeers = 200,
    dht: opt.Dht = True,
    dht_bootstrap: opt.DhtBootstrap = None,
    dht_read_only: opt.DhtReadOnly = False,
    connect_timeout: opt.ConnectTimeout = 5.0,
    encryption: opt.Encryption = "allow",
    loop: opt.Loop = "auto",
    node_key: opt.NodeKey = None,
    ntp_server: opt.NtpServer = None,
    ntp_interval: opt.NtpInterval = 64.0,
    clock_threshold_ms: opt.ClockThresholdMs = 100.0,
    dataset: Annotated[
        list[str] | None,
        typer.Option("--dataset", metavar="NAME=PATH", help="This node's copy of registered dataset NAME."),
    ] = None,
    reference: Annotated[
        list[str] | None,
        typer.Option(
            "--reference", metavar="WORK=PATH", help="This node's copy of the reference content of WORK."
        ),
    ] = None,
    probe_processes: opt.ProbeProcesses = 1,
    max_backlog: opt.MaxBacklog = 256.0,
) -> None:
    """Run one monitor node of a fleet: lease swarms, monitor them, renew, release on stop."""
    try:
        check_node(db, name, bind, connect_timeout, public_ip)
        num.PROBE_PROCESSES.check("--probe-processes", probe_processes)
        num.BACKLOG_MIB.check("--max-backlog", max_backlog)
        dataset_paths: dict[str, str] = {}
        references: dict[int, str] = {}
        if dataset or reference:  # checked before anything is written for this node
            with open_store(db, create=False) as store:
                dataset_paths = local_datasets(store, dataset or [])
                references = local_references(store, reference or [])
        config = monitor_config(
            duration=None, max_peers=fit_open_files(max_peers, Console(stderr=True)), bind=bind,
            listen_port=listen_port, connect_timeout=connect_timeout, dht=dht, dht_bootstrap=dht_bootstrap,
            dht_read_only=dht_read_only, pex=True, encryption=encryption, public_ip=public_ip,
        )  # fmt: skip
        check_listen_port(config)
        config.dataset_paths = dataset_paths
        config.max_backlog_bytes = int(max_backlog * 1024 * 1024)  # shared among the probe processes
        clock_options(config, ntp_server or [], ntp_interval, clock_threshold_ms)
        plan = NodePlan(NodeStart(name, "", public_ip or bind, listen_port, capacity), lease_seconds)
        run_node(db, plan, config, node_key_path(db, name, node_key), references, loop, probe_processes)
    except SwarmscopeError as exc:
        raise fail(exc) from None


def run_node(
    db: str,
    plan: NodePlan,
    config: MonitorConfig,
    key_path: str,
    references: dict[int, str],
    loop: str,
    probe_processes: int = 1,
) -> None:
    """Build and serve the node; a start the fleet refuses leaves no key file (nor witness) it created.

    A refused start (name running already, another key's name, a shared ban range...) must not leave a
    new signing identity behind: an operator would publish or reuse a key that never sealed anything.

    Raises:
        SwarmscopeError: see :func:`build_node` and :meth:`FleetNode.run`.
    """
    new_files = [p for p in (Path(key_path), witness_path(key_path)) if not p.exists()]
    fleet_node: FleetNode | None = None
    try:
        fleet_node = build_node(db, plan, config, key_path, references, probe_processes)
        with asyncio.Runner(loop_factory=loop_factory(loop)) as runner:
            runner.run(serve(fleet_node))
    except SwarmscopeError:
        if fleet_node is None or not fleet_node.registered:
            for path in new_files:
                path.unlink(missing_ok=True)
        raise
    finally:
        writer = None if fleet_node is None else fleet_node.monitor.evidence.ledger
        if isinstance(writer, WriterProcess):  # after the monitor's last commit: it answers it, then exits
            writer.close()

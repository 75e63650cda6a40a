"""The monitor's discovery channels: open the inbound listener and the DHT node, and refuse a run in which
some swarm has no channel that can ever name a peer.

Which combinations leave a swarm with no channel (decided here, documented in README "Usage"):

- A channel that *names* peers is needed: a tracker of the swarm with a URL we can announce to (http,
  https, udp), peers named by the magnet itself (``x.pe``, BEP 9), or our DHT node. PEX and the inbound
  listener only extend what those find: PEX lists come from peers we already probe (BEP 11), and a peer
  learns our listen port only from our tracker announces and DHT ``announce_peer`` (we send no PEX, BEP 10
  ``p`` goes only to peers we dial).
- So a swarm with no usable tracker is refused when the DHT is off (``--no-dht``) or cannot run: not even a
  free UDP port can be bound, or no bootstrap node resolves. A tracker or DHT node that does not answer
  yet is not refused: both are retried for the whole run (a warning says so).
- The refusal comes before the run is started and sealed: one line, exit status 1, nothing recorded.

The listener is opened before the run is sealed too: a ``--listen-port`` taken by another process (another
monitor on the other address family included) is refused, since trackers and the DHT would be told a port
where someone else's peers are accepted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from swarmscope.errors import InputError
from swarmscope.evidence.probe.run import ProbeRun
from swarmscope.evidence.records import Observation
from swarmscope.monitor.config import MonitorConfig
from swarmscope.monitor.dht_discovery import DhtDiscovery, DhtUnusable
from swarmscope.monitor.targets import Target
from swarmscope.net.bind import IPV6_MISSING, check_udp_port, listen_socket
from swarmscope.net.capture_tap import CaptureTap
from swarmscope.net.clock import Clock
from swarmscope.net.dht_bootstrap import any_resolves
from swarmscope.net.listener import PeerListener
from swarmscope.net.tracker_client import usable_tracker_url
from swarmscope.wire.mse_cipher import SkeyIndex


def check_listen_port(config: MonitorConfig) -> None:
    """Refuse early a ``--listen-port`` that another program holds: bind it as :func:`open_listener`
    would, then close it at once, so a refused run creates nothing (no key, no database). The port
    could still be taken in between; :func:`open_listener` refuses it then.

    Raises:
        InputError: as :func:`open_listener`.
    """
    if config.listen_port <= 0:
        return
    for host in [config.bind_ip] if config.bind_ip else ["::", "0.0.0.0"]:
        try:
            listen_socket(host, config.listen_port).close()
            return
        except OSError as exc:
            if host == "::" and exc.errno in IPV6_MISSING:
                continue
            raise _port_refused(config.listen_port, host, exc) from None


def _port_refused(port: int, host: str, exc: OSError) -> InputError:
    shown = f"[{host}]" if ":" in host else host
    return InputError(
        f"--listen-port {port}: cannot listen on {shown}:{port} ({exc.strerror or exc}); another monitor or"
        " client may hold it: choose another port, or 0 for no listener"
    )


async def open_listener(config: MonitorConfig, make: Callable[[str], PeerListener]) -> PeerListener:
    """Listen on ``--listen-port``: on ``--bind``, else on ``::`` (dual-stack), else (no IPv6) ``0.0.0.0``.

    Raises:
        InputError: the port cannot be ours (taken, in either address family; not permitted).
    """
    hosts = [config.bind_ip] if config.bind_ip else ["::", "0.0.0.0"]
    for host in hosts:
        listener = make(host)
        try:
            await listener.start()
            return listener
        except OSError as exc:
            if host == "::" and exc.errno in IPV6_MISSING:
                continue  # a host without IPv6: listen on IPv4 only
            raise _port_refused(config.listen_port, host, exc) from None
    raise InputError(f"--listen-port {config.listen_port}: no address family to listen on")


def peer_listener(
    config: MonitorConfig,
    clock: Clock,
    host: str,
    runs: tuple[Callable[[bytes, str, int], ProbeRun | None], Callable[[ProbeRun, Observation], None]],
    by_wire: dict[bytes, str],
    tap: CaptureTap | None,
) -> PeerListener:
    """The inbound listener on ``host``: ``runs`` makes a run for an accepted peer (wire infohash, ip,
    port) and takes its finished observation; ``by_wire``: wire infohash → swarm, the SKEYs an MSE/PE
    responder finds an encrypted peer's swarm by (``HASH('req2', SKEY)``)."""
    modes = {"allow": "prefer", "prefer": "prefer", "require": "require", "disable": "disable"}
    return PeerListener(
        host=host,
        port=config.listen_port,
        clock=clock,
        make_run=runs[0],
        on_done=runs[1],
        skeys=SkeyIndex(by_wire),
        encryption=modes[config.encryption.value],
        max_connections=config.max_peers,
        handshake_timeout=config.probe.handshake_timeout,
        tap=tap,
        unverified_interval=config.plan.reprobe_interval,  # one sealed empty probe per (IP, swarm) in it
    )


async def open_dht(dht: DhtDiscovery, on_warning: Callable[[str], None]) -> bool:
    """Bind and bootstrap our DHT node (a taken port falls back to a free one, announced in one line).

    Returns:
        True when the node runs; False (after a warning naming why) when it cannot.
    """
    try:
        notice = await dht.open()
    except (OSError, DhtUnusable) as exc:
        on_warning(f"DHT unavailable: {exc}")
        return False
    if notice:
        on_warning(notice)
    if not len(dht.node.routing):
        on_warning("DHT: no bootstrap node answered yet; our node keeps trying for the whole run")
    return True


def dht_problem(config: MonitorConfig) -> str | None:
    """Why our DHT node could never run, decided without starting it: None when it can.

    Binds a UDP socket as :meth:`DhtDiscovery.open` would (the listen port number, else a free port) and
    closes it at once, then resolves the bootstrap nodes for that family as the node would; a node that
    does not answer is no problem here. Lets a refused run create nothing (no key, no database); the
    node can still fail later at start-up (the port or the names changed in between).
    """
    host = config.bind_ip or "0.0.0.0"
    try:
        check_udp_port(host, config.listen_port if config.listen else 0)
    except OSError as asked:
        try:
            check_udp_port(host, 0)  # the node falls back to a free port
        except OSError:
            return f"cannot bind a UDP port on {host} ({asked.strerror or asked})"
    if not any_resolves(config.dht_bootstrap, v6=":" in host):
        return "none of the DHT bootstrap nodes resolves to an address"
    return None


def check_channels_early(config: MonitorConfig, targets: Iterable[Target]) -> None:
    """:func:`check_channels` before anything is created, with the DHT judged by :func:`dht_problem`.

    Raises:
        InputError: as :func:`check_channels`, naming why the DHT cannot run when it is on.
    """
    try:
        check_channels(targets, dht_running=False)
    except InputError as exc:  # some swarm depends on the DHT: judge it (only then: no needless lookup)
        problem = dht_problem(config) if config.dht else None
        if config.dht and problem is None:
            return
        raise InputError(f"{exc} (DHT: {problem})" if problem else str(exc)) from None


def check_channels(targets: Iterable[Target], *, dht_running: bool) -> None:
    """Refuse the run when a swarm has no tracker we can announce to and no DHT (see the module docstring).

    Raises:
        InputError: naming every such swarm and what would give it a channel.
    """
    if dht_running:
        return
    lost = [t.name for t in targets if not _has_tracker_or_peers(t)]
    if lost:
        raise InputError(
            f"no discovery channel for {', '.join(lost)}: no usable tracker and the DHT is off or "
            "unavailable, so no peer can ever be found (PEX and inbound peers need peers found first)"
        )


def _has_tracker_or_peers(target: Target) -> bool:
    """A tracker we can announce to, or peers named by the magnet itself (``x.pe``, BEP 9)."""
    if target.magnet is not None and target.magnet.peers:
        return True
    return any(usable_tracker_url(url) for url in target.trackers)


async def open_channels(
    config: MonitorConfig,
    targets: Iterable[Target],
    make: tuple[Callable[[str], PeerListener], Callable[[], DhtDiscovery]],
    on_warning: Callable[[str], None],
    *,
    require: bool = True,
) -> tuple[PeerListener | None, DhtDiscovery | None]:
    """Open the listener (``config.listen``) and the DHT node (``config.dht``), then check the channels.

    Args:
        make: builds a listener for a host, and the DHT discovery. require: refuse a swarm without a
            channel (False: the caller hands in peers itself).

    Returns:
        (listener or None, DHT discovery or None); nothing is open when this raises.

    Raises:
        InputError: from :func:`open_listener` or :func:`check_channels`.
    """
    listener = await open_listener(config, make[0]) if config.listen else None
    dht = make[1]() if config.dht else None
    if dht is not None and not await open_dht(dht, on_warning):
        dht = None
    try:
        if require:
            check_channels(targets, dht_running=dht is not None)
    except InputError:
        await close_channels(listener, dht)
        raise
    return listener, dht


async def close_channels(listener: PeerListener | None, dht: DhtDiscovery | None) -> None:
    """Close a listener and a DHT node that a run opened but will not use (the run was refused)."""
    if listener is not None:
        await listener.stop()
    if dht is not None:
        await dht.stop()

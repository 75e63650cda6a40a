"""``swarmscope monitor``'s options turned into the run's settings, each refused in one line when unusable.

Shared by the Typer command and the Python API (:func:`swarmscope.cli.monitor.run_monitor_command`): the
peer id (BEP 20), the :class:`MonitorConfig`, the event loop, the open-file budget and ``HOST:PORT``
parsing.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import resource
from collections.abc import Callable

from rich.console import Console

from swarmscope import __version__
from swarmscope.cli import numeric as num
from swarmscope.errors import InputError
from swarmscope.evidence.bundle.vantage import behind_nat
from swarmscope.monitor.config import MonitorConfig
from swarmscope.net.bind import check_local_address
from swarmscope.net.mse_conn import EncryptionPolicy

PEER_ID_PREFIX = (
    b"-SS" + b"".join(p.zfill(1).encode() for p in __version__.split(".")[:3]).ljust(4, b"0")[:4] + b"-"
)
OPEN_FILES_RESERVE = 128  # descriptors kept for the database, trackers, the DHT, the listener and imports


def make_peer_id() -> bytes:
    """Azureus-style peer id (BEP 20): ``-SSvvvv-`` + 12 random printable bytes."""
    alphabet = b"0123456789abcdefghijklmnopqrstuvwxyz"
    return PEER_ID_PREFIX + bytes(alphabet[b % len(alphabet)] for b in os.urandom(12))


def monitor_config(
    *,
    duration: float | None,
    max_peers: int,
    bind: str | None,
    listen_port: int,
    connect_timeout: float,
    dht: bool,
    dht_bootstrap: list[str] | None,
    dht_read_only: bool,
    pex: bool,
    encryption: str,
    public_ip: str | None = None,
) -> MonitorConfig:
    """The run's settings from the command's options, with a fresh peer id (BEP 20).

    Raises:
        InputError: ``--encryption`` or a ``--dht-bootstrap`` value is malformed (the message names it).
    """
    config = MonitorConfig(
        peer_id=make_peer_id(),
        duration=duration,
        max_peers=max_peers,
        bind_ip=bind,
        public_ip=public_ip,
        listen_port=listen_port,
        listen=listen_port > 0,
        connect_timeout=connect_timeout,
        dht=dht,
        dht_read_only=dht_read_only,
        pex=pex,
        encryption=encryption_policy(encryption),
    )
    if dht_bootstrap:
        config.dht_bootstrap = [parse_host_port(text, "--dht-bootstrap") for text in dht_bootstrap]
    return config


def encryption_policy(name: str) -> EncryptionPolicy:
    """``--encryption`` as a policy (MSE/PE of outgoing probes).

    Raises:
        InputError: not one of allow, prefer, require, disable.
    """
    try:
        return EncryptionPolicy(name)
    except ValueError:
        raise InputError(f"--encryption {name!r}: use allow, prefer, require or disable") from None


def loop_factory(name: str) -> Callable[[], asyncio.AbstractEventLoop] | None:
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


def check_options(
    *, duration: float | None, connect_timeout: float, bind: str | None, public_ip: str | None = None
) -> None:
    """Refuse option values that would make a run silently useless.

    Raises:
        InputError: naming the option and the problem.
    """
    if duration is not None:
        num.RUN_SECONDS.check("--duration", duration)
    num.CONNECT_SECONDS.check("--connect-timeout", connect_timeout)
    if bind is not None:
        check_bind(bind)
    if public_ip is not None:
        check_public_ip(public_ip, bind)


def check_public_ip(public_ip: str, bind: str | None) -> None:
    """Refuse a ``--public-ip`` that names no address a peer can see: it must be a global unicast address
    (not private or shared behind NAT, RFC 1918/6598/4193, nor link-local, loopback, multicast, reserved
    or unspecified; the documentation prefixes of RFC 5737/3849 are accepted, for tests and examples), not
    IPv4-mapped, given with a ``bind`` (without one the kernel picks the source address per route, so the
    declared address would name a vantage no probe is known to come from) and of its address family (the
    bind applies to its own family only).

    Raises:
        InputError: one line naming the option and the problem.
    """
    try:
        address = ipaddress.ip_address(public_ip)
    except ValueError:
        raise InputError(f"--public-ip {public_ip!r}: not an IP address") from None
    mapped = isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None
    special = address.is_unspecified or address.is_loopback or address.is_multicast or address.is_link_local
    if special or mapped or address.is_reserved or behind_nat(address):
        raise InputError(
            f"--public-ip {public_ip}: not a global unicast address; give the public address the peers see"
        )
    if bind is None:
        raise InputError(
            f"--public-ip {public_ip}: needs --bind (the local address that NAT maps to it); without it the"
            " kernel picks each probe's source, so no vantage can be named"
        )
    if ipaddress.ip_address(bind).version != address.version:
        raise InputError(f"--public-ip {public_ip}: not of the address family of --bind {bind}")


BROADCAST = ipaddress.IPv4Address("255.255.255.255")  # RFC 919 limited broadcast


def check_bind(bind: str) -> None:
    """Refuse a ``--bind`` that names no single source address of this machine (one line each): not an
    IP address, a wildcard, multicast (224.0.0.0/4, ff00::/8) or broadcast, IPv4-mapped, or not local.

    Raises:
        InputError: naming the option and the problem.
    """
    try:
        address = ipaddress.ip_address(bind)
    except ValueError:
        raise InputError(f"--bind {bind!r}: not an IP address of this machine") from None
    if address.is_multicast or address == BROADCAST:  # RFC 5771, RFC 4291 section 2.7, RFC 919
        raise InputError(f"--bind {bind}: a multicast or broadcast address is no source; give one address")
    if address.is_unspecified:  # probes would leave from whatever source the kernel picks
        raise InputError(
            f"--bind {bind}: a wildcard address names no source; give one address of this machine"
            " (or leave --bind out)"
        )
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    if mapped is not None:  # RFC 4291 section 2.5.5.2: the IPv4 host, not an IPv6 source of its own
        raise InputError(
            f"--bind {bind}: an IPv4-mapped IPv6 address; give the IPv4 address itself (--bind {mapped}),"
            " so probes leave from it and the fleet's address rules see it"
        )
    try:
        check_local_address(bind)
    except OSError as exc:
        raise InputError(f"--bind {bind}: not an address of this machine ({exc.strerror or exc})") from None


def fit_open_files(max_peers: int, console: Console) -> int:
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

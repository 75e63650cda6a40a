"""A hit's vantage point: the source network its node probed from, read from the sealed run settings.

Corroboration means independent vantage points, not independent keys: two nodes that probe from one
address, or from one network, see the same peers the same way and are banned together. So a vantage is

- the run's ``bind_ip`` (``RunStarted`` settings, sealed) reduced to its network: the /24 of an IPv4
  address and the /48 of an IPv6 one (a typical end-site assignment, RFC 6177; an IPv4 /24 is the
  smallest block commonly routed and leased to one site), an IPv4-mapped IPv6 address (RFC 4291
  section 2.5.5.2) counting as its IPv4 address;
- on loopback (127.0.0.0/8, ::1: tests and one-machine demonstrations) the address itself, since
  there every address is one host anyway;
- ``DEFAULT_ROUTE`` for a run without ``--bind`` (or an unreadable one, or a wildcard ``0.0.0.0`` /
  ``::``, which binds no source): its source is whatever the kernel picks, unknown to the evidence; the
  same for a peer of the other address family than the bind address (a node bound to an IPv6 address
  reaches an IPv4 peer from the kernel's default IPv4 source: the bind applies to its own family only).
  Since that source may be any of the host's addresses, a bound one included, ``DEFAULT_ROUTE``
  corroborates nothing: :func:`vantage_count` counts it only when no named vantage saw the peer (then as
  one), so two vantages always mean two distinct named networks.

``cases build --min-vantages`` (:mod:`swarmscope.cases.run_clock`) and a bundle across nodes
(:mod:`swarmscope.evidence.bundle.nodes`, and its verifier) both name a hit's vantage with
:func:`hit_vantage`, from the node's sealed run records, so the two count corroboration alike.

Pure: no I/O. Source: README "A fleet" (Vantages).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from swarmscope.evidence.bundle.settings import RunIndex, settings_of
from swarmscope.evidence.records import RunStarted

DEFAULT_ROUTE = "default route (no --bind)"
PREFIX = {4: 24, 6: 48}  # production vantage networks, per IP version


def source_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``text`` as an IP address, an IPv4-mapped IPv6 address as its IPv4 address.

    Raises:
        ValueError: not an IP address.
    """
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def vantage_of_address(bind_ip: str | None, peer_ip: str | None = None) -> str:
    """The vantage of a source address (module docstring): an address on loopback, else its network;
    ``peer_ip`` (the probed peer, when known) of another address family than ``bind_ip``:
    ``DEFAULT_ROUTE``, since that peer was reached from the kernel's default source."""
    if not bind_ip:
        return DEFAULT_ROUTE
    try:
        address = source_address(bind_ip)
        if peer_ip is not None and source_address(peer_ip).version != address.version:
            return DEFAULT_ROUTE
    except ValueError:
        return DEFAULT_ROUTE
    if address.is_unspecified:  # 0.0.0.0 or ::: the kernel picks the source, as without --bind
        return DEFAULT_ROUTE
    if address.is_loopback:
        return str(address)
    return str(ipaddress.ip_network(f"{address}/{PREFIX[address.version]}", strict=False))


def vantage_count(vantages: Iterable[str]) -> int:
    """How many vantage points ``vantages`` (one hit's vantage each, repeats allowed) make: the distinct
    named ones; ``DEFAULT_ROUTE`` counts (as one) only when there is no named one (module docstring)."""
    distinct = set(vantages)
    named = len(distinct - {DEFAULT_ROUTE})
    return named if named else len(distinct)


def vantage_of_run(run: RunStarted | None, peer_ip: str | None = None) -> str:
    """The vantage of the run that sealed a hit of ``peer_ip`` (its sealed ``bind_ip``, see
    :func:`vantage_of_address`); no run known: ``DEFAULT_ROUTE``."""
    if run is None:
        return DEFAULT_ROUTE
    bind_ip = settings_of(run).get("bind_ip")
    return vantage_of_address(bind_ip if isinstance(bind_ip, str) else None, peer_ip)


def hit_vantage(runs: RunIndex, index: int, peer_ip: str) -> str:
    """The vantage of a verified hit of ``peer_ip`` at chain ``index`` of one node, ``runs`` being that
    node's sealed ``RunStarted`` records: the run it belongs to is the nearest one before it in the chain
    (:class:`RunIndex`), and its sealed ``bind_ip`` names the vantage (:func:`vantage_of_run`)."""
    return vantage_of_run(runs.run_at(index), peer_ip)

"""A hit's vantage point: the source network its node probed from, read from the sealed run settings.

Corroboration means independent vantage points, not independent keys: two nodes that probe from one
address, or from one network, see the same peers the same way and are banned together. So a vantage is

- the run's ``bind_ip`` (``RunStarted`` settings, sealed) reduced to its network: the /24 of an IPv4
  address and the /48 of an IPv6 one (a typical end-site assignment, RFC 6177; an IPv4 /24 is the
  smallest block commonly routed and leased to one site), an IPv4-mapped IPv6 address (RFC 4291
  section 2.5.5.2) counting as its IPv4 address;
- on loopback (127.0.0.0/8, ::1: tests and one-machine demonstrations) the address itself, since
  there every address is one host anyway;
- the run's sealed ``public_ip`` (``--public-ip``: the address the peers see, declared by the operator of
  a node behind NAT) in place of ``bind_ip`` when it was given, reduced the same way;
- ``DEFAULT_ROUTE`` for a ``bind_ip`` in a range that leaves the site through a NAT (:data:`NAT_RANGES`:
  RFC 1918 private, RFC 6598 shared/carrier-grade, RFC 4193 unique local, and link-local addresses) when
  no ``public_ip`` was sealed: the peer sees the gateway's public address, so 10.0.1.5 and 10.0.2.5
  behind one gateway are one vantage, unknown to the evidence;
- ``DEFAULT_ROUTE`` for a run without ``--bind`` (or an unreadable one, or a wildcard ``0.0.0.0`` /
  ``::``, which binds no source): its source is whatever the kernel picks, unknown to the evidence; the
  same for a peer of the other address family than the bind address (a node bound to an IPv6 address
  reaches an IPv4 peer from the kernel's default IPv4 source: the bind applies to its own family only).
  Since that source may be any of the host's addresses, a bound one included, ``DEFAULT_ROUTE``
  corroborates nothing: :func:`vantage_count` counts it only when no named vantage saw the peer (then as
  one), so two vantages always mean two distinct named networks.

A hit is *corroborated* (:func:`corroborated`) when two or more distinct node keys AND two or more distinct
vantages saw it: one node key is one clock and one software, so its own runs from two networks (a
multi-homed host, a restart with another address) do not corroborate it.

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
NAT_RANGES = tuple(
    ipaddress.ip_network(net)
    for net in (
        "10.0.0.0/8",  # RFC 1918 section 3
        "172.16.0.0/12",  # RFC 1918 section 3
        "192.168.0.0/16",  # RFC 1918 section 3
        "100.64.0.0/10",  # RFC 6598: shared address space (carrier-grade NAT)
        "169.254.0.0/16",  # RFC 3927: IPv4 link-local, never routed past the link
        "fc00::/7",  # RFC 4193: unique local IPv6 (NAT66/NPTv6 at the site border)
        "fe80::/10",  # RFC 4291 section 2.5.6: IPv6 link-local
    )
)


def source_address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """``text`` as an IP address, an IPv4-mapped IPv6 address as its IPv4 address.

    Raises:
        ValueError: not an IP address.
    """
    address = ipaddress.ip_address(text)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def behind_nat(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True when ``address`` lies in one of :data:`NAT_RANGES` (the peer never sees it as our source)."""
    return any(address in net for net in NAT_RANGES if net.version == address.version)


def vantage_of_address(
    bind_ip: str | None, peer_ip: str | None = None, public_ip: str | None = None, *, by_bind: bool = False
) -> str:
    """The vantage of a source address (module docstring): an address on loopback, else its network;
    ``public_ip`` (the declared address the peers see), when given, stands for ``bind_ip``; a
    ``bind_ip`` behind NAT (:func:`behind_nat`) without one: ``DEFAULT_ROUTE``. ``peer_ip`` (the probed
    peer, when known) of another address family than the source: ``DEFAULT_ROUTE``, since that peer was
    reached from the kernel's default source. ``by_bind``: the rule of bundle format version 3 (the
    ``bind_ip`` alone, NAT ranges included), so such a bundle re-derives as it was written."""
    source = bind_ip if by_bind else (public_ip or bind_ip)
    if not source:
        return DEFAULT_ROUTE
    try:
        address = source_address(source)
        if peer_ip is not None and source_address(peer_ip).version != address.version:
            return DEFAULT_ROUTE
    except ValueError:
        return DEFAULT_ROUTE
    if address.is_unspecified:  # 0.0.0.0 or ::: the kernel picks the source, as without --bind
        return DEFAULT_ROUTE
    if address.is_loopback:
        return str(address)
    if behind_nat(address) and not by_bind:  # RFC 1918 / RFC 6598: the peer sees the gateway
        return DEFAULT_ROUTE
    return str(ipaddress.ip_network(f"{address}/{PREFIX[address.version]}", strict=False))


def vantage_count(vantages: Iterable[str]) -> int:
    """How many vantage points ``vantages`` (one hit's vantage each, repeats allowed) make: the distinct
    named ones; ``DEFAULT_ROUTE`` counts (as one) only when there is no named one (module docstring)."""
    distinct = set(vantages)
    named = len(distinct - {DEFAULT_ROUTE})
    return named if named else len(distinct)


def corroborated(nodes: Iterable[str], vantages: Iterable[str]) -> bool:
    """Whether hits seen by ``nodes`` (node key fingerprints, "" unknown) from ``vantages`` (one hit's
    vantage each) are corroborated: two or more distinct known node keys AND two or more vantage points
    (:func:`vantage_count`); one node key is one clock and one software, whatever networks it ran from."""
    return len(set(nodes) - {""}) >= 2 and vantage_count(vantages) >= 2


def independent_pairs(pairs: Iterable[tuple[str, str]]) -> int:
    """How many hits of ``pairs`` (node key fingerprint, vantage; one per hit, "" unknown) are pairwise
    independent: the size of a largest set of (node, vantage) pairs with no node and no vantage twice (a
    maximum bipartite matching, Kuhn's augmenting paths; a group has a handful of nodes). Vantages count as
    :func:`vantage_count` counts them (``DEFAULT_ROUTE`` only when no named one); unknown nodes not at all.
    For two named vantages it agrees with :func:`corroborated` (König), which stays the rule for two (a
    node that ran without ``--bind`` counts there as a node key, its vantage unknown); for three or more
    it is stricter than counting nodes and vantages apart: one node on three networks beside two nodes on
    one network is two independent observers, not three."""
    known = {(node, vantage) for node, vantage in pairs if node and vantage}
    named = {v for _, v in known} - {DEFAULT_ROUTE}
    edges: dict[str, list[str]] = {}
    for node, vantage in sorted(known):
        if not named or vantage != DEFAULT_ROUTE:
            edges.setdefault(node, []).append(vantage)
    holder: dict[str, str] = {}  # vantage -> the node matched to it

    def augment(node: str, seen: set[str]) -> bool:
        for vantage in edges[node]:
            if vantage not in seen:
                seen.add(vantage)
                if vantage not in holder or augment(holder[vantage], seen):
                    holder[vantage] = node
                    return True
        return False

    return sum(1 for node in edges if augment(node, set()))


def vantage_of_run(run: RunStarted | None, peer_ip: str | None = None, *, by_bind: bool = False) -> str:
    """The vantage of the run that sealed a hit of ``peer_ip`` (its sealed ``bind_ip`` and, when the node
    declared one, ``public_ip``: see :func:`vantage_of_address`, also for ``by_bind``); no run known:
    ``DEFAULT_ROUTE``."""
    if run is None:
        return DEFAULT_ROUTE
    settings = settings_of(run)
    bind_ip, public_ip = settings.get("bind_ip"), settings.get("public_ip")
    return vantage_of_address(
        bind_ip if isinstance(bind_ip, str) else None,
        peer_ip,
        public_ip if isinstance(public_ip, str) else None,
        by_bind=by_bind,
    )


def hit_vantage(runs: RunIndex, index: int, peer_ip: str, *, by_bind: bool = False) -> str:
    """The vantage of a verified hit of ``peer_ip`` at chain ``index`` of one node, ``runs`` being that
    node's sealed ``RunStarted`` records: the run it belongs to is the nearest one before it in the chain
    (:class:`RunIndex`), and its sealed ``bind_ip`` names the vantage (:func:`vantage_of_run`)."""
    return vantage_of_run(runs.run_at(index), peer_ip, by_bind=by_bind)

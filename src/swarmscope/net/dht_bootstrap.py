"""Bootstrap nodes of the Mainline DHT: the production default and name resolution.

Source: BEP 5 ("bootstrap" — a new node joins through any known node); the router names are the
well-known public ones. Tests never use them: they pass a local node and run in a private namespace.
"""

from __future__ import annotations

import asyncio
import socket

Address = tuple[str, int]
PUBLIC_ROUTERS: tuple[Address, ...] = (  # production default of --dht-bootstrap
    ("router.bittorrent.com", 6881),
    ("router.utorrent.com", 6881),
    ("dht.transmissionbt.com", 6881),
    ("dht.libtorrent.org", 25401),
)
MAX_BOOTSTRAP = 32  # names resolved at most
MAX_ADDRESSES_PER_NAME = 4


async def resolve_bootstrap(nodes: list[Address], v6: bool) -> list[Address]:
    """Resolve bootstrap host names to IP addresses of our socket's family (replies come from IPs).

    Args:
        nodes: ``(host name or IP literal, port)`` pairs.
        v6: our socket is IPv6.

    Returns:
        Distinct ``(ip, port)`` pairs in input order; names that do not resolve are skipped.
    """
    loop, family = asyncio.get_running_loop(), socket.AF_INET6 if v6 else socket.AF_INET
    out: list[Address] = []
    for host, port in nodes[:MAX_BOOTSTRAP]:
        try:
            infos = await loop.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM)
        except OSError:
            continue  # an unresolvable router is skipped, not fatal
        out += [(str(info[4][0]), int(info[4][1])) for info in infos[:MAX_ADDRESSES_PER_NAME]]
    return list(dict.fromkeys(out))


def any_resolves(nodes: list[Address], v6: bool) -> bool:
    """Whether at least one bootstrap node resolves for our socket's family (blocking; before the run).

    The same lookup as :func:`resolve_bootstrap`, stopping at the first name that resolves.
    """
    family = socket.AF_INET6 if v6 else socket.AF_INET
    for host, port in nodes[:MAX_BOOTSTRAP]:
        try:
            if socket.getaddrinfo(host, port, family=family, type=socket.SOCK_DGRAM):
                return True
        except OSError:
            continue  # skipped by resolve_bootstrap too
    return False

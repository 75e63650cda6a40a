"""Binding our own sockets: the inbound listen socket, and the check that ``--bind`` names this machine.

Both answer by trying the bind itself (the kernel knows which addresses are ours, including ones an
interface list would miss, such as all of 127.0.0.0/8 on Linux's loopback), never by parsing interfaces.
"""

from __future__ import annotations

import errno
import socket

LISTEN_BACKLOG = 100  # connections queued before accept (asyncio create_server's default)
IPV6_MISSING = (errno.EAFNOSUPPORT, errno.EADDRNOTAVAIL, errno.EPROTONOSUPPORT)  # no IPv6 on this host
Listener = socket.socket  # what listen_socket returns, for modules that hold one but may not make sockets


def listen_socket(host: str, port: int, backlog: int = LISTEN_BACKLOG) -> socket.socket:
    """A listening, non-blocking TCP socket on ``(host, port)`` that owns the port number exclusively.

    ``::`` is one dual-stack socket (IPV6_V6ONLY off): it holds the port in IPv4 and IPv6 at once, so a
    second monitor cannot take ``0.0.0.0:port`` beside it and split the inbound peers by address family.
    asyncio's ``create_server`` sets IPV6_V6ONLY on every IPv6 socket, which is why the socket is made
    here. Any other IPv6 literal is IPv6 only. SO_REUSEADDR lets a restarted monitor bind while old
    connections sit in TIME_WAIT; on Linux it never lets two sockets listen on one address and port.
    SO_REUSEPORT, which would, is never set.

    Args:
        host: IPv4 or IPv6 literal (``"::"`` and ``"0.0.0.0"`` are the wildcards). port: TCP port, 0 = any.
        backlog: queued connections not yet accepted.

    Raises:
        OSError: EADDRINUSE (taken, in either family for ``::``), EACCES, EADDRNOTAVAIL, EAFNOSUPPORT.

    Source: Linux ip(7) and ipv6(7) (SO_REUSEADDR, IPV6_V6ONLY; net.ipv6.bindv6only defaults to 0).
    """
    v6 = ":" in host
    sock = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if v6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0 if host == "::" else 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def check_local_address(ip: str) -> None:
    """Bind a TCP socket to ``(ip, any port)`` and close it: does ``ip`` belong to this machine?

    Args:
        ip: IPv4 or IPv6 literal (already parsed).

    Raises:
        OSError: EADDRNOTAVAIL when no interface has ``ip``; EAFNOSUPPORT when its family is missing.
    """
    with socket.socket(socket.AF_INET6 if ":" in ip else socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((ip, 0))


def check_udp_port(host: str, port: int) -> None:
    """Bind a UDP socket to ``(host, port)`` and close it at once: could our DHT node bind there?

    Args:
        host: IPv4 or IPv6 literal. port: UDP port, 0 = any free one.

    Raises:
        OSError: EADDRINUSE (taken), EACCES, EADDRNOTAVAIL (not our address), EAFNOSUPPORT.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((host, port))

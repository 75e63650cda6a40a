"""The UDP socket of our DHT node, read in batches from the event loop's reader callback.

asyncio's datagram transport reads one datagram per readiness event, a whole turn of the event loop each
(a ``select`` call, the ready callbacks); under a query flood that turn costs more than the answer. Here
the loop calls :meth:`DatagramSocket._readable` when the socket is readable and it drains up to
:data:`BATCH` datagrams with ``recvfrom_into``, handing each to the handler. Datagrams go out with a
non-blocking ``sendto``; one that finds the socket buffer full is dropped and counted, as the network may
drop any datagram (the asker retries or times out; nothing queues up without bound).

Errors: a failed receive (Linux reports ICMP errors of earlier datagrams there, on connected sockets or
with IP_RECVERR, udp(7)) or send (full buffer, an address the socket cannot reach) goes to the caller's
``on_error`` and is never raised. Binding raises the ``OSError`` of the last address tried, as
``loop.create_datagram_endpoint`` did.

Sources: Linux udp(7), socket(7); asyncio ``selector_events._SelectorDatagramTransport._read_ready``.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

BATCH = 64  # datagrams read per readiness event before the loop runs its other callbacks
MAX_DATAGRAM = 65536  # bytes: the largest UDP payload fits (65,507 over IPv4)
Address = tuple[str, int]


class DatagramSocket:
    """A bound, non-blocking UDP socket whose datagrams go to ``handler(data, (host, port))``.

    Args:
        sock: the bound socket (made by :meth:`bind`).
        handler: called for every datagram, on the event loop's thread; must not block.
        on_error: called with the ``OSError`` of a failed receive or send.
    """

    def __init__(
        self,
        sock: socket.socket,
        handler: Callable[[bytes, Address], None],
        on_error: Callable[[OSError], None],
    ) -> None:
        self._sock, self._handler, self._on_error = sock, handler, on_error
        self._buffer = memoryview(bytearray(MAX_DATAGRAM))
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    async def bind(
        cls,
        local: Address,
        family: socket.AddressFamily,
        handler: Callable[[bytes, Address], None],
        on_error: Callable[[OSError], None],
    ) -> DatagramSocket:
        """Resolve ``local`` in ``family`` and bind the first address that takes the socket.

        Raises:
            OSError: no address resolves (``socket.gaierror``) or none can be bound (the last error).
        """
        infos = await asyncio.get_running_loop().getaddrinfo(*local, family=family, type=socket.SOCK_DGRAM)
        error: OSError = OSError(f"cannot bind {local[0]!r}: no address")
        for fam, kind, proto, _, address in infos:
            sock = socket.socket(fam, kind, proto)
            try:
                sock.setblocking(False)
                sock.bind(address)
            except OSError as exc:
                sock.close()
                error = exc
                continue
            return cls(sock, handler, on_error)
        raise error

    @property
    def address(self) -> Address:
        """The bound ``(host, port)``."""
        host, port = self._sock.getsockname()[:2]
        return (str(host), int(port))

    def sendto(self, data: bytes, address: Address) -> None:
        """Send one datagram now, or drop it (counted by ``on_error``) when the socket cannot take it."""
        try:
            self._sock.sendto(data, address)
        except OSError as exc:  # BlockingIOError (buffer full), an unreachable family or address, ...
            self._on_error(exc)

    def _readable(self) -> None:
        recv, buffer, handler = self._sock.recvfrom_into, self._buffer, self._handler
        for _ in range(BATCH):
            try:
                size, address = recv(buffer)
            except BlockingIOError:
                return
            except OSError as exc:  # e.g. an ICMP error of an earlier datagram: the socket goes on
                self._on_error(exc)
                continue
            handler(buffer[:size].tobytes(), address[:2])
            if self._sock.fileno() < 0:
                return  # the handler closed us

    def close(self) -> None:
        """Stop reading and close the socket (idempotent)."""
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()

"""The DHT node's UDP socket on loopback: batched reads, receive errors counted and survived, sends that
cannot go out dropped and counted, bind errors raised as the OS gives them, closing from the handler."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

from swarmscope.net.dht_socket import BATCH, DatagramSocket

LOCAL = ("127.0.0.1", 0)


class Inbox:
    def __init__(self) -> None:
        self.datagrams: list[tuple[bytes, tuple[str, int]]] = []
        self.errors: list[OSError] = []

    def take(self, data: bytes, address: tuple[str, int]) -> None:
        self.datagrams.append((data, address))

    def error(self, exc: OSError) -> None:
        self.errors.append(exc)


async def until(condition: object, seconds: float = 5.0) -> None:
    for _ in range(int(seconds / 0.01)):
        if callable(condition) and condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not reached")


async def test_every_queued_datagram_is_read_in_order_across_batches() -> None:
    inbox = Inbox()
    udp = await DatagramSocket.bind(LOCAL, socket.AF_INET, inbox.take, inbox.error)
    count = 3 * BATCH + 5  # queued before the loop runs the reader: several batches
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.bind(("127.0.0.1", 0))
        for i in range(count):
            sender.sendto(b"d%05d" % i + b"x" * (i % 7), udp.address)
        await until(lambda: len(inbox.datagrams) == count)
        assert [data for data, _ in inbox.datagrams] == [b"d%05d" % i + b"x" * (i % 7) for i in range(count)]
        assert {address for _, address in inbox.datagrams} == {sender.getsockname()}
        big = bytes(range(256)) * 200  # 51,200 bytes: one datagram, never cut
        sender.sendto(big, udp.address)
        await until(lambda: len(inbox.datagrams) == count + 1)
        assert inbox.datagrams[-1][0] == big
    udp.close()
    udp.close()  # idempotent
    assert inbox.errors == []


class RefusedOnce:
    """A socket whose first receive fails as a connected UDP socket's does after an ICMP error (udp(7))."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock, self.failed = sock, False

    def recvfrom_into(self, buffer: memoryview) -> tuple[int, tuple[str, int]]:
        if not self.failed:
            self.failed = True
            raise ConnectionRefusedError(errno.ECONNREFUSED, "Connection refused")
        return self.sock.recvfrom_into(buffer)

    def __getattr__(self, name: str) -> object:
        return getattr(self.sock, name)


async def test_receive_errors_and_unsendable_datagrams_are_counted_not_raised() -> None:
    inbox = Inbox()
    udp = await DatagramSocket.bind(LOCAL, socket.AF_INET, inbox.take, inbox.error)
    udp._sock = RefusedOnce(udp._sock)  # type: ignore[assignment]
    udp.sendto(b"ping", ("::1", 1))  # an IPv6 address on an IPv4 socket cannot be sent
    assert len(inbox.errors) == 1
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        sender.sendto(b"still here", udp.address)
        await until(lambda: inbox.datagrams != [])
    assert inbox.datagrams[0][0] == b"still here"
    assert len(inbox.errors) == 2 and isinstance(inbox.errors[1], ConnectionRefusedError)
    udp.close()


async def test_bind_errors_are_the_os_errors() -> None:
    inbox = Inbox()
    first = await DatagramSocket.bind(LOCAL, socket.AF_INET, inbox.take, inbox.error)
    with pytest.raises(OSError) as taken:
        await DatagramSocket.bind(first.address, socket.AF_INET, inbox.take, inbox.error)
    assert taken.value.errno == errno.EADDRINUSE
    with pytest.raises(OSError):
        await DatagramSocket.bind(("::1", 0), socket.AF_INET, inbox.take, inbox.error)  # wrong family
    first.close()


async def test_a_handler_that_closes_the_socket_stops_the_batch() -> None:
    seen: list[bytes] = []
    holder: list[DatagramSocket] = []

    def take(data: bytes, address: tuple[str, int]) -> None:
        seen.append(data)
        holder[0].close()

    holder.append(await DatagramSocket.bind(LOCAL, socket.AF_INET, take, lambda exc: None))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for i in range(5):
            sender.sendto(b"%d" % i, holder[0].address)
        await until(lambda: seen != [])
        await asyncio.sleep(0.05)
    assert seen == [b"0"]

"""Our sockets own their port: two listeners cannot split one port between IPv4 and IPv6 (private netns)."""

from __future__ import annotations

import asyncio
import errno
import socket

import pytest

from swarmscope.net.bind import check_local_address, listen_socket
from swarmscope.net.clock import Clock
from swarmscope.net.listener import PeerListener


def _free_port() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        probe.bind(("::", 0))
        return int(probe.getsockname()[1])


def _listener(host: str, port: int) -> PeerListener:
    return PeerListener(
        host=host, port=port, clock=Clock(), make_run=lambda *_: None, on_done=lambda *_: None
    )


@pytest.mark.parametrize(("first", "second"), [("::", "0.0.0.0"), ("0.0.0.0", "::"), ("::", "::")])
def test_a_second_listener_on_the_other_family_is_refused(netns: bool, first: str, second: str) -> None:
    """The split seen in the field: one monitor on [::]:P, another on 0.0.0.0:P, each half the peers."""
    port = _free_port()

    async def main() -> None:
        owner = _listener(first, port)
        await owner.start()
        try:
            with pytest.raises(OSError) as taken:
                await _listener(second, port).start()
            assert taken.value.errno == errno.EADDRINUSE
        finally:
            await owner.stop()

    asyncio.run(main())


def test_the_wildcard_listener_takes_ipv4_and_ipv6_peers(netns: bool) -> None:
    port = _free_port()
    sock = listen_socket("::", port)
    try:
        for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
            with socket.socket(family, socket.SOCK_STREAM) as client:
                client.connect((address, port))
                sock.setblocking(True)
                conn, peer = sock.accept()
                conn.close()
                assert peer[0] in ("::ffff:127.0.0.1", "::1")
    finally:
        sock.close()


def test_a_listener_on_one_address_leaves_other_addresses_free(netns: bool) -> None:
    """Distinct --bind addresses share a port number legitimately: each owns its own address."""
    port = _free_port()
    first, second = listen_socket("127.0.0.1", port), listen_socket("127.0.0.2", port)
    first.close()
    second.close()


def test_check_local_address(netns: bool) -> None:
    check_local_address("127.0.0.1")
    check_local_address("127.3.4.5")  # all of 127.0.0.0/8 is loopback on Linux
    check_local_address("::1")
    with pytest.raises(OSError) as missing:
        check_local_address("192.0.2.1")  # TEST-NET-1 (RFC 5737): never an address of this machine
    assert missing.value.errno == errno.EADDRNOTAVAIL

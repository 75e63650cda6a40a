"""Our DHT node falls back to a free UDP port when its port is taken, on asyncio's loop and on uvloop.

uvloop (the monitor's default loop when installed) reports a taken port as ``OSError("could not bind to
local_addr ...")`` with no errno, the OS error only on ``__cause__``; asyncio's loop raises the bare
``EADDRINUSE``. The fallback must work with both, and must not hide an address that cannot be bound at
all. Loopback only; the bootstrap address answers nothing (no node needs to answer to bind).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from swarmscope.monitor.dht_discovery import DhtDiscovery


def _loops() -> list[Any]:
    out = [pytest.param(None, id="asyncio")]
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a declared extra
        out.append(pytest.param(None, id="uvloop", marks=pytest.mark.skip(reason="uvloop not installed")))
    else:
        out.append(pytest.param(uvloop.new_event_loop, id="uvloop"))
    return out


def _run(factory: Callable[[], asyncio.AbstractEventLoop] | None, coro: Coroutine[Any, Any, Any]) -> Any:
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)


def _discovery(host: str, port: int) -> DhtDiscovery:
    return DhtDiscovery(
        bind=(host, port), bootstrap=[("127.0.0.9", 6881)], infohashes=[], on_peers=lambda *_: None,
        announce_port=None,
    )  # fmt: skip


@pytest.mark.parametrize("factory", _loops())
def test_a_taken_dht_port_falls_back_to_a_free_one(
    factory: Callable[[], asyncio.AbstractEventLoop] | None, netns: bool
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("0.0.0.0", 0))  # another client holds the port on every IPv4 address
        port = squatter.getsockname()[1]
        dht = _discovery("0.0.0.0", port)

        async def main() -> tuple[str | None, int]:
            try:
                notice = await dht.open()
                return notice, dht.node.address[1]
            finally:
                await dht.stop()

        notice, bound = _run(factory, main())
    assert bound not in (0, port)
    assert notice == (
        f"DHT: UDP port {port} is taken (Address already in use); our DHT node uses UDP port {bound} instead"
    )


@pytest.mark.parametrize("factory", _loops())
def test_an_address_that_cannot_be_bound_is_no_fallback(
    factory: Callable[[], asyncio.AbstractEventLoop] | None, netns: bool
) -> None:
    """Not even a free port binds on an address this machine does not have: the error is raised."""
    dht = _discovery("192.0.2.1", 7003)  # TEST-NET-1 (RFC 5737): never an address of ours; nothing is sent

    async def main() -> None:
        try:
            await dht.open()
        finally:
            await dht.stop()

    with pytest.raises(OSError):
        _run(factory, main())
    assert dht.node.bind == ("192.0.2.1", 7003)

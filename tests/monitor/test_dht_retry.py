"""An empty or failed DHT lookup is repeated soon, not after the full lookup interval (BEP 5 lookups)."""

from __future__ import annotations

import asyncio

import pytest

from swarmscope.monitor import dht_discovery
from swarmscope.monitor.dht_discovery import DhtDiscovery
from swarmscope.wire.dht_lookup import LookupResult
from swarmscope.wire.types import Endpoint

INFOHASH = bytes(range(20))
PEER = Endpoint("127.0.1.1", 6881)


class _ScriptedNode:
    """Stands in for the DHT node: answers lookups from a script (an exception is raised)."""

    def __init__(self, script: list[tuple[Endpoint, ...] | Exception]) -> None:
        self.script = script
        self.calls = 0

    async def lookup(self, target: bytes, **_: object) -> LookupResult:
        step = self.script[min(self.calls, len(self.script) - 1)]
        self.calls += 1
        if isinstance(step, Exception):
            raise step
        return LookupResult(target, step, nodes_contacted=1, nodes_responded=1, closest=())

    def stop(self) -> None:
        pass


def _run(script: list[tuple[Endpoint, ...] | Exception], wait_s: float) -> tuple[_ScriptedNode, list[bytes]]:
    found: list[bytes] = []
    dht = DhtDiscovery(
        bind=("127.0.0.1", 0), bootstrap=[("127.0.0.9", 6881)], infohashes=[INFOHASH],
        on_peers=lambda ih, peers: found.append(ih), announce_port=None, interval=3600.0,
    )  # fmt: skip
    node = _ScriptedNode(script)
    dht.node = node  # type: ignore[assignment]

    async def main() -> None:
        dht.start()
        for _ in range(int(wait_s / 0.01)):  # bounded: wait_s at most
            if found:
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.2)  # ten retry periods: a lookup that should not be repeated is not
        await dht.stop()

    asyncio.run(main())
    return node, found


def test_empty_then_failed_lookups_are_retried_until_peers_are_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dht_discovery, "RETRY_FIRST", 0.02)
    node, found = _run([(), TimeoutError("no reply"), (PEER,)], wait_s=5.0)
    assert found == [INFOHASH] and node.calls == 3


def test_after_peers_are_found_the_next_lookup_waits_the_interval(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dht_discovery, "RETRY_FIRST", 0.02)
    node, found = _run([(PEER,)], wait_s=0.3)
    assert found == [INFOHASH] and node.calls == 1

"""The asyncio driver of one iterative DHT lookup: the pure state machine decides, this sends and waits.

:class:`swarmscope.wire.dht_lookup.Lookup` names the next nodes to query (``alpha`` in flight, BEP 5
"get_peers" / "find_node") and digests each reply or failure; :func:`drive_lookup` runs those queries
concurrently through the node's ``ask`` (one KRPC query, its own timeout), stops at the state's end or at the
wall-clock deadline, and cancels whatever is still in flight when it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable

from swarmscope.wire.dht_lookup import Lookup
from swarmscope.wire.krpc import KrpcError, Query, Response
from swarmscope.wire.types import Endpoint

Address = tuple[str, int]
Ask = Callable[[Address, Query], Awaitable[Response | KrpcError | None]]


async def drive_lookup(
    state: Lookup, query: Query, ask: Ask, clock: Callable[[], float], timeout: float
) -> AsyncIterator[list[Endpoint]]:
    """Run ``state`` to its end or ``timeout`` seconds (by ``clock``), yielding new peers as they arrive.

    Args:
        query: the query sent to every node the state names (its transaction id is the node's business).
        ask: sends one query to ``(host, port)``; None means no answer (timeout, budget, stopped).
    """
    deadline = clock() + timeout
    running: dict[asyncio.Future[Response | KrpcError | None], Address] = {}
    try:
        while not state.done:
            for address in state.next_queries():
                running[asyncio.ensure_future(ask(address, query))] = address
            remaining = deadline - clock()
            if not running or remaining <= 0:
                break
            done, _ = await asyncio.wait(running, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                address, reply = running.pop(task), task.result()
                if isinstance(reply, Response):
                    new = state.on_response(address, reply)
                    if new:
                        yield new
                else:
                    state.on_failure(address)
    finally:
        for task in running:
            task.cancel()

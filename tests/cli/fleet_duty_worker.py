"""A fleet node's job worker with the fleet's duties, in its own process, for the exactly-once duty test.

``python -m tests.cli.fleet_duty_worker URL KEY_FILE NAME``: opens the store with the node key in
KEY_FILE (created if missing), registers it as fleet node NAME (so the fleet's fencing rules apply to
the batches it seals), and runs :class:`FleetJobs` with this node's duty runners (as
``swarmscope node`` builds them), checking for due duties every second. One line per duty run on stdout.
Stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

from swarmscope.cli.fleet_duties import duty_runners
from swarmscope.net.clock import Clock
from swarmscope.store.database import open_store
from swarmscope.store.fleet.handle import Fleet
from swarmscope.store.fleet.jobs import FleetJobs
from swarmscope.store.fleet.registry import NodeStart
from swarmscope.store.ledger.node_key import load_or_create_node_key


async def main(url: str, key_file: Path, name: str) -> None:
    clock = Clock()
    store = open_store(url, node_key=load_or_create_node_key(key_file), now_us=clock.now_us())
    assert store.node is not None
    Fleet(store).start_node(NodeStart(name, store.node.fingerprint, None, 0, 1))  # a fleet node's key
    runners = duty_runners(store, clock, name)
    say = lambda line: print(f"{name}: {line}", flush=True)  # noqa: E731
    jobs = FleetJobs(
        store, name, sweep_every=1, stalled_after=5.0, heartbeat=0.5, on_event=say, runners=runners
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await jobs.run(stop)
    finally:
        store.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], Path(sys.argv[2]), sys.argv[3]))

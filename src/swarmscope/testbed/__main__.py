"""``python -m swarmscope.testbed``: hold the real-swarm scenario up for manual runs of the monitor.

Prints one JSON object (torrent path, tracker URLs, infohash, every peer with its expected state), keeps
the swarm running for ``--hold`` seconds or until SIGINT/SIGTERM, then prints the libtorrent peers'
final stats dump as JSON and stops everything it started. It does not enter a network namespace itself:
to isolate it, run it and the monitor in the same one, e.g. ``unshare -n sh -c 'ip link set lo up;
python -m swarmscope.testbed --hold 120 & sleep 5; swarmscope monitor …'``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from typing import Any

from swarmscope.testbed.swarm import Swarm, start_swarm


def describe(swarm: Swarm) -> dict[str, Any]:
    """A JSON-ready description of the running scenario."""
    return {
        "torrent": str(swarm.torrent_path),
        "infohash": swarm.infohash_hex,
        "tracker_http": swarm.tracker_url,
        "tracker_udp": swarm.tracker_udp_url,
        "monitor_ip": swarm.monitor_ip,
        "notes": swarm.notes,
        "peers": [
            {
                "name": p.name,
                "role": p.role,
                "ip": p.ip,
                "port": p.port,
                "client": p.client,
                "pieces": sorted(p.pieces),
                "completion": p.completion,
                "serves_good_data": p.serves_good_data,
            }
            for p in swarm.peers
        ],
    }


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the scenario, return the exit status."""
    parser = argparse.ArgumentParser(prog="python -m swarmscope.testbed", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--hold", type=float, default=300.0, help="seconds to keep the swarm up (default 300)"
    )
    parser.add_argument("--workdir", default=None, help="parent directory for the scenario's files")
    parser.add_argument("--monitor-ip", default="127.0.0.1", help="address the monitor will use")
    parser.add_argument("--tracker", choices=["opentracker", "builtin", "auto"], default="auto")
    args = parser.parse_args(argv)
    stop = {"now": False}

    def on_signal(_signum: int, _frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with start_swarm(args.workdir, monitor_ip=args.monitor_ip, tracker_kind=args.tracker) as swarm:
        print(json.dumps(describe(swarm)), flush=True)
        deadline = time.monotonic() + args.hold
        while not stop["now"] and time.monotonic() < deadline:
            time.sleep(0.2)
    print(json.dumps({"final_stats": swarm.final_stats}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

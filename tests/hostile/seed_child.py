"""The hostile suite's honest libtorrent seed, in a process of its own (run as a script).

The hostile harness measures the resident memory of the test process while the Monitor runs; with the
seed in that process its own buffers counted as the monitor's. Here it runs apart (in the test session's
private network namespace, which a child inherits): it prints ``ready`` once seeding, then reads commands
on stdin, one a line: ``connect IP PORT`` (libtorrent ``torrent_handle.connect_peer``: the seed dials a
listener). End of stdin stops it.

Usage: seed_child.py TORRENT CONTENT_DIR IP PORT
"""

from __future__ import annotations

import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from tests.net.lt_seed import seed

    torrent, content_dir, ip, port = argv
    with seed(
        Path(torrent), Path(content_dir), ip, int(port), enable_outgoing_utp=False, enable_incoming_utp=False
    ) as handle:
        print("ready", flush=True)
        for line in sys.stdin:
            verb, *args = line.split()
            if verb == "connect":
                handle.connect_peer((args[0], int(args[1])))
            print("ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    sys.exit(main(sys.argv[1:]))

"""A connection flood in its own process: ``python flood.py HOST PORT COUNT HOLD`` (loopback only).

Opens COUNT TCP connections to HOST:PORT from source addresses 127.0.30.1, 127.0.30.2, ... (1,000 each,
so no source runs out of ephemeral ports), sends the first 20 bytes of a BitTorrent handshake on each
(a slot held, the swarm never named), prints ``{"connected": N}``, holds them HOLD seconds, then prints
``{"opened": connections the kernel completed, "closed_by_server": ones the server closed meanwhile}``
(one JSON object a line).
The soft RLIMIT_NOFILE is raised to the hard limit first (restored when the process exits).
"""

from __future__ import annotations

import contextlib
import errno
import json
import resource
import select
import socket
import sys
import time

PER_SOURCE = 1000
OPENING = b"\x13BitTorrent protocol"


def main(host: str, port: int, count: int, hold: float) -> None:
    assert host.startswith("127."), "loopback only"
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    socks = []
    for i in range(count):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setblocking(False)
        s.bind((f"127.0.30.{1 + i // PER_SOURCE}", 0))
        if s.connect_ex((host, port)) not in (0, errno.EINPROGRESS):
            s.close()
            continue
        socks.append(s)
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLOUT)
    opened, pending, deadline = set(), {s.fileno(): s for s in socks}, time.monotonic() + 10
    while pending and time.monotonic() < deadline:
        for fd, _event in poller.poll(200):
            s = pending.pop(fd, None)
            if s is None:
                continue
            poller.unregister(fd)
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                opened.add(fd)
                with contextlib.suppress(OSError):
                    s.send(OPENING)
    print(json.dumps({"connected": len(opened)}), flush=True)
    time.sleep(hold)
    closed = 0
    for s in socks:
        if s.fileno() in opened:
            try:
                closed += s.recv(1) == b""
            except BlockingIOError:
                pass
            except OSError:
                closed += 1
        s.close()
    print(json.dumps({"opened": len(opened), "closed_by_server": closed}), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))

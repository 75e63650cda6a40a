"""A KRPC query flood in its own process: ``python dht_flood.py HOST PORT SOURCES PER_SOURCE`` (loopback).

From SOURCES UDP sockets on 127.0.28.1, 127.0.28.2, ... it sends PER_SOURCE ``get_peers`` queries each
(random transaction ids and node ids), as fast as the socket takes them, then collects answers for 1 s and
prints one JSON line: queries and bytes sent, answers and bytes received in all, the most answers any
one source received, and the seconds from the first query to the end of collection.
"""

from __future__ import annotations

import json
import os
import select
import socket
import sys
import time

from swarmscope.wire import krpc


def main(host: str, port: int, sources: int, per_source: int) -> None:
    assert host.startswith("127."), "loopback only"
    socks = []
    for i in range(sources):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind((f"127.0.28.{1 + i}", 0))
        s.setblocking(False)
        socks.append(s)
    sent = sent_bytes = 0
    started = time.monotonic()
    for _ in range(per_source):
        for s in socks:
            query = krpc.Query(os.urandom(2), krpc.GET_PEERS, os.urandom(20), info_hash=os.urandom(20))
            data = krpc.encode_message(query)
            try:
                s.sendto(data, (host, port))
            except BlockingIOError:
                continue
            sent += 1
            sent_bytes += len(data)
    answers = {s.fileno(): 0 for s in socks}
    got_bytes = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        ready, _, _ = select.select(socks, [], [], 0.1)
        for s in ready:
            try:
                while True:
                    got_bytes += len(s.recv(65536))
                    answers[s.fileno()] += 1
            except BlockingIOError:
                pass
    for s in socks:
        s.close()
    report = {
        "sent": sent, "sent_bytes": sent_bytes, "answers": sum(answers.values()), "answer_bytes": got_bytes,
        "max_per_source": max(answers.values()), "seconds": time.monotonic() - started,
    }  # fmt: skip
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))

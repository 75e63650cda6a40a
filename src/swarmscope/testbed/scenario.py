"""The scenario's cast: who is on which loopback address, and the truth a monitor should find.

========== ================ ===================================================================
name       client           true state
========== ================ ===================================================================
seed1/2    libtorrent       complete, serves good data
partial    libtorrent       every third piece; downloads nothing (all priorities 0)
leecher    libtorrent       no piece; download rate limited to 200 B/s, i.e. minutes per piece
corrupt    libtorrent       claims every piece (seed mode, hash checks off), serves wrong bytes
aria2      aria2            complete (second real client); only when aria2c is installed
dead       —                announced to the tracker from 127.0.0.66 on a port nothing listens on
========== ================ ===================================================================
"""

from __future__ import annotations

from dataclasses import dataclass

from swarmscope.testbed.content import TorrentContent

TRACKER_IP = "127.0.0.2"
PROBE_IP = "127.0.0.99"  # source address of our own tracker probes
DEAD_IP = "127.0.0.66"
LT_PEERS = (
    ("seed1", "seed", "127.0.1.11"),
    ("seed2", "seed", "127.0.1.12"),
    ("partial", "partial", "127.0.1.13"),
    ("leecher", "leecher", "127.0.1.14"),
    ("corrupt", "corrupt", "127.0.1.15"),
)
ARIA2_IP = "127.0.1.16"
LEECHER_RATE_LIMIT = 200  # bytes/s: measured ~390 B/s real at a 500 limit, so > 5 minutes per 64 KiB piece


@dataclass(frozen=True)
class PeerExpectation:
    """One address of the scenario and the truth a monitor should find about it.

    Attributes:
        name: scenario name ("seed1", "partial", "aria2", "dead", ...).
        role: "seed", "partial", "leecher", "corrupt", "aria2" or "dead".
        ip: IPv4 address.
        port: TCP listen port (for "dead": the port announced, where nothing listens).
        client: expected client name with version ("libtorrent 2.1.1.0", "aria2 1.36.0"), "" for dead.
        pieces: indices of the pieces the peer truly holds (for "corrupt": what it claims).
        completion: expected advertised completion 0.0..1.0, None for dead.
        serves_good_data: True when downloaded pieces from it pass the SHA-1 check.
    """

    name: str
    role: str
    ip: str
    port: int
    client: str
    pieces: frozenset[int]
    completion: float | None
    serves_good_data: bool


def libtorrent_expectations(
    content: TorrentContent, lt_version: str, ports: dict[str, int]
) -> list[PeerExpectation]:
    """The expectations of the libtorrent peers (see the module table), given their listen ports."""
    everything = frozenset(range(content.num_pieces))
    partial = frozenset(i for i in range(content.num_pieces) if i % 3 == 0)
    truth = {
        "seed": (everything, True),
        "partial": (partial, True),
        "leecher": (frozenset(), True),
        "corrupt": (everything, False),
    }
    out = []
    for name, role, ip in LT_PEERS:
        pieces, good = truth[role]
        out.append(
            PeerExpectation(
                name,
                role,
                ip,
                ports[name],
                f"libtorrent {lt_version}",
                pieces,
                len(pieces) / content.num_pieces,
                good,
            )
        )
    return out

"""The discovery scenario's cast: addresses, groups, per-group libtorrent settings, torrent variants.

See ``swarmscope.testbed.discovery`` for the table of groups and why each is reachable through exactly
one channel.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from swarmscope.testbed.content import TorrentContent

TRACKER_IP = "127.0.5.2"
BOOTSTRAP = ("127.0.5.1", 6881)
CHECKER = ("127.0.5.3", 6881)
MESH_PREFIX = "127.0.6."
DHT_PORT = 6881
SIZE = 1024 * 1024  # bytes of each work
PIECE_LENGTH = 64 * 1024  # bytes per piece
READY_TIMEOUT = 120.0  # seconds
GROUPS = ("tracker", "dht", "pex", "inbound", "encrypted", "magnet", "ipv6")
CAST = (  # name, group, role, ip
    ("tracker-hub", "tracker", "seed", "127.0.7.1"),
    ("tracker-partial", "tracker", "partial", "127.0.7.2"),
    ("dht-seed", "dht", "seed", "127.0.7.11"),
    ("dht-partial", "dht", "partial", "127.0.7.12"),
    ("pex-seed", "pex", "seed", "127.0.7.21"),
    ("pex-partial", "pex", "partial", "127.0.7.22"),
    ("inbound-seed", "inbound", "seed", "127.0.7.31"),
    ("inbound-partial", "inbound", "partial", "127.0.7.32"),
    ("enc-seed", "encrypted", "seed", "127.0.7.41"),
    ("enc-partial", "encrypted", "partial", "127.0.7.42"),
    ("magnet-seed", "magnet", "seed", "127.0.7.51"),
    ("magnet-seed2", "magnet", "seed", "127.0.7.52"),
    ("v6-seed", "ipv6", "seed", "::1"),
)
FORCED_ENCRYPTION = {"out_enc_policy": 0, "in_enc_policy": 0, "allowed_enc_level": 2}  # pe_forced, pe_rc4
# accept nothing; dial out over TCP (libtorrent tries uTP first for a new address, and the monitor has no
# uTP) in plaintext only (its default pe_enabled tries MSE first, which would tie this group to encryption)
NO_INCOMING = {
    "enable_incoming_tcp": False,
    "enable_incoming_utp": False,
    "enable_outgoing_utp": False,
    "out_enc_policy": 2,
    "in_enc_policy": 2,
    # keep dialling a monitor that is not up yet: by default a refused address is retried after
    # min_reconnect_time x failures and dropped after max_failcount (measured: never reconnected)
    "max_failcount": 100_000,
    "min_reconnect_time": 1,
}

# inbound-partial dials over MSE only (BEP 8 pe_forced, RC4): the monitor's listener then accepts one
# plaintext and one encrypted inbound peer in every run
INBOUND_MSE_PEERS = frozenset({"inbound-partial"})
INBOUND_MSE = {**NO_INCOMING, "out_enc_policy": 0, "allowed_enc_level": 2}


@dataclass(frozen=True)
class DiscoveryPeer:
    """One peer of the scenario and its truth.

    Attributes:
        name: e.g. "dht-seed". group: one of ``GROUPS``. role: "seed" or "partial".
        ip: IPv4 address, or "::1". port: TCP listen port (the inbound group accepts nothing on it).
        infohash_hex: the swarm it is in (40 hex digits). pieces: indices it truly holds.
        completion: len(pieces) / number of pieces.
    """

    name: str
    group: str
    role: str
    ip: str
    port: int
    infohash_hex: str
    pieces: frozenset[int]
    completion: float


def write_tracker_variant(content: TorrentContent, target: Path, announce: Sequence[str]) -> Path:
    """Copy the .torrent with trackers ``announce`` (one tier each), or none at all; same info dict."""
    import libtorrent as lt

    meta = cast(dict[bytes, Any], lt.bdecode(content.torrent_path.read_bytes()))
    meta.pop(b"announce", None)
    meta.pop(b"announce-list", None)
    if announce:
        meta[b"announce"] = announce[0].encode()
        meta[b"announce-list"] = [[u.encode()] for u in announce]
    target.write_bytes(lt.bencode(meta))
    return target


def true_pieces(content: TorrentContent, role: str) -> frozenset[int]:
    """Pieces a peer of ``role`` holds: all for a seed, every third (0, 3, 6, …) for a partial seed."""
    every = range(content.num_pieces)
    return frozenset(every) if role == "seed" else frozenset(i for i in every if i % 3 == 0)

"""Turn what the user named (a .torrent path or a magnet URI) into a monitoring target."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from swarmscope.errors import DecodeError, InputError
from swarmscope.evidence.probe.pieces import MetainfoPieces
from swarmscope.net.local_file import read_bounded
from swarmscope.wire.magnet import Magnet, parse_magnet
from swarmscope.wire.metainfo import Metainfo, parse_metainfo

MAX_TORRENT_BYTES = 64 << 20  # refuse absurd files before reading them whole
PIPE_WAIT_SECONDS = 10  # a .torrent path that is a pipe: seconds to wait for its first byte


@dataclass(slots=True)
class Target:
    """One swarm to monitor.

    Args:
        swarm: hex swarm id (v1 infohash, or v2 for v2-only torrents). name: display name.
        wire_infohash: the 20 bytes used in handshakes and announces (BEP 52 truncation for v2).
        trackers: announce URLs, tier order flattened. meta: parsed metainfo (None for a bare magnet).
        magnet: the magnet, when given one. origin: what the user typed.
    """

    swarm: str
    name: str
    wire_infohash: bytes
    trackers: list[str]
    meta: Metainfo | None
    magnet: Magnet | None
    origin: str

    @property
    def pieces(self) -> MetainfoPieces | None:
        """Piece sizes and hashes, when the metainfo is known."""
        return MetainfoPieces(self.meta) if self.meta is not None else None

    def swarm_fields(self) -> dict[str, Any]:
        """The store's swarm row for this target (``Store.add_swarm`` keywords but ``added_us``)."""
        meta, magnet = self.meta, self.magnet
        return {
            "infohash": self.swarm,
            "v1": meta.v1.hex if meta and meta.v1 else (magnet.v1.hex if magnet and magnet.v1 else None),
            "v2": meta.v2.hex if meta and meta.v2 else (magnet.v2.hex if magnet and magnet.v2 else None),
            "name": self.name,
            "num_pieces": meta.num_pieces if meta else 0,
            "piece_length": meta.piece_length if meta else 0,
            "total_size": meta.total_size if meta else 0,
            "metainfo": meta.raw if meta else None,
            "magnet": self.origin if magnet else None,
        }


def load_target(text: str) -> Target:
    """Load a .torrent file or parse a magnet URI.

    Raises:
        InputError: unreadable file, malformed torrent or magnet, or an unknown scheme (message names it).
    """
    if text.startswith("magnet:"):
        try:
            magnet = parse_magnet(text)
        except DecodeError as exc:
            raise InputError(f"{text[:60]}: invalid magnet: {exc}") from exc
        return Target(
            swarm=magnet.swarm_id.hex,
            name=magnet.display_name or magnet.swarm_id.hex,
            wire_infohash=magnet.wire_infohash,
            trackers=list(magnet.trackers),
            meta=None,
            magnet=magnet,
            origin=text,
        )
    if "://" in text:
        raise InputError(f"{text[:60]}: unknown scheme (give a .torrent path or a magnet: URI)")
    try:
        data = read_bounded(Path(text), MAX_TORRENT_BYTES, PIPE_WAIT_SECONDS, text)
    except OSError as exc:
        raise InputError(f"{text}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > MAX_TORRENT_BYTES:
        raise InputError(f"{text}: more than {MAX_TORRENT_BYTES} bytes is too large for a .torrent file")
    return target_from_metainfo(data, text)


def target_from_metainfo(data: bytes, origin: str) -> Target:
    """A target from the exact .torrent bytes (a file read, or a fleet swarm's stored metainfo).

    Raises:
        InputError: malformed torrent (the message names ``origin``).
    """
    try:
        meta = parse_metainfo(data)
    except DecodeError as exc:
        raise InputError(f"{origin}: invalid torrent: {exc}") from exc
    return Target(
        swarm=meta.swarm_id.hex,
        name=meta.name,
        wire_infohash=meta.wire_infohash,
        trackers=[url for tier in meta.trackers for url in tier],
        meta=meta,
        magnet=None,
        origin=origin,
    )

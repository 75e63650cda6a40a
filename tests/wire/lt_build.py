"""Torrents built by libtorrent itself (v1, v2 or hybrid), to check our parser and hashes against it."""

from __future__ import annotations

import warnings
from pathlib import Path


def libtorrent_torrent(root: Path, content: Path, piece: int, flags: int) -> bytes:
    """The .torrent libtorrent makes of the files under ``content`` (a folder inside ``root``).

    Args:
        root: the folder holding ``content`` (libtorrent reads the files relative to it).
        piece: piece length, bytes. flags: ``lt.create_torrent`` flags (0: hybrid; ``v2_only``, ``v1_only``).
    """
    import libtorrent as lt

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        fs = lt.file_storage()
        lt.add_files(fs, str(content))
        ct = lt.create_torrent(fs, piece, flags=flags)
        lt.set_piece_hashes(ct, str(root))
        return bytes(lt.bencode(ct.generate()))

"""Real libtorrent 2.1.1 sessions on loopback for probe tests (settings from ../shared/testbed/NOTES.md)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

lt = pytest.importorskip("libtorrent", reason="libtorrent (PyPI) is needed for real-peer tests")

PIECE_LEN = 32 * 1024


def make_torrent(workdir: Path, *, pieces: int = 12, tail: int = 1000, name: str = "content.bin") -> Path:
    """Write deterministic content and a v1 .torrent for it (libtorrent.create_torrent); returns the path."""
    data = b"".join(
        hashlib.sha256(i.to_bytes(4, "big")).digest() for i in range((pieces - 1) * PIECE_LEN // 32)
    )
    data += b"t" * tail
    (workdir / name).write_bytes(data)
    ct = lt.create_torrent(lt.list_files(str(workdir / name)), PIECE_LEN, flags=lt.create_torrent.v1_only)
    lt.set_piece_hashes(ct, str(workdir))
    path = workdir / "content.torrent"
    path.write_bytes(lt.bencode(ct.generate()))
    return path


def session(ip: str, port: int, **extra: Any) -> Any:
    settings = {
        "listen_interfaces": f"{ip}:{port}",
        "outgoing_interfaces": ip,
        "enable_dht": False,
        "enable_lsd": False,
        "enable_upnp": False,
        "enable_natpmp": False,
        "alert_mask": 0,
    }
    settings.update(extra)
    return lt.session(settings)


@contextmanager
def seed(
    torrent: Path,
    content_dir: Path,
    ip: str,
    port: int = 6881,
    *,
    admit_only: str | None = None,
    **extra: Any,
) -> Iterator[Any]:
    """A libtorrent seed of ``torrent`` on ``ip:port``; yields the torrent handle. Stopped on exit.

    ``admit_only``: when set, the session's ``ip_filter`` blocks every other IPv4 address in both directions.
    """
    ses = session(ip, port, **extra)
    try:
        if admit_only is not None:
            filt = lt.ip_filter()
            filt.add_rule("0.0.0.0", "255.255.255.255", 1)
            filt.add_rule(admit_only, admit_only, 0)
            ses.set_ip_filter(filt)
        params = lt.add_torrent_params()
        params.ti = lt.torrent_info(str(torrent))
        params.save_path = str(content_dir)
        handle = ses.add_torrent(params)
        deadline = time.monotonic() + 30
        while not handle.status().is_seeding and time.monotonic() < deadline:
            time.sleep(0.05)
        assert handle.status().is_seeding, "libtorrent seed did not finish checking"
        yield handle
    finally:
        del ses  # the session object's destructor stops libtorrent's threads

"""One honest libtorrent seed per hostile-scenario module (module-scoped), beside the hostile peers."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.hostile.harness import HONEST


@dataclass(frozen=True)
class Honest:
    """The honest seed's torrent, its content file (bytes), piece length and libtorrent torrent handle."""

    torrent: Path
    content: bytes
    piece_len: int
    handle: Any


@pytest.fixture(scope="module")
def honest(netns: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Honest]:
    from tests.net.lt_seed import PIECE_LEN, make_torrent, seed

    workdir = tmp_path_factory.mktemp("honest")
    torrent = make_torrent(workdir)
    with seed(
        torrent, workdir, HONEST[0], HONEST[1], enable_outgoing_utp=False, enable_incoming_utp=False
    ) as handle:
        yield Honest(torrent, (workdir / "content.bin").read_bytes(), PIECE_LEN, handle)

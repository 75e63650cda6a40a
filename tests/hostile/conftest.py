"""One honest libtorrent seed per hostile-scenario module (module-scoped), beside the hostile peers."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.hostile.harness import HONEST

SEED_CHILD = Path(__file__).with_name("seed_child.py")


class SeedProcess:
    """The honest seed's process (seed_child.py): ``connect_peer`` as libtorrent's handle has it."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc

    def connect_peer(self, endpoint: tuple[str, int]) -> None:
        """Make the seed dial ``endpoint`` (libtorrent ``torrent_handle.connect_peer``); waits for its ok."""
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(f"connect {endpoint[0]} {endpoint[1]}\n")
        self.proc.stdin.flush()
        assert self.proc.stdout.readline().strip() == "ok", "the seed process did not answer"


@dataclass(frozen=True)
class Honest:
    """The honest seed's torrent, its content file (bytes), piece length and its process (``handle``)."""

    torrent: Path
    content: bytes
    piece_len: int
    handle: SeedProcess


@pytest.fixture(scope="module")
def honest(netns: bool, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Honest]:
    """The seed runs in a child process, so the harness's RSS bound measures the monitor's process without
    libtorrent's buffers (the hostile scripts share it: small asyncio handlers)."""
    from tests.net.lt_seed import PIECE_LEN, make_torrent

    workdir = tmp_path_factory.mktemp("honest")
    torrent = make_torrent(workdir)
    cmd = [sys.executable, str(SEED_CHILD), str(torrent), str(workdir), HONEST[0], str(HONEST[1])]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready", "the seed did not start"
        yield Honest(torrent, (workdir / "content.bin").read_bytes(), PIECE_LEN, SeedProcess(proc))
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

"""Reading a local file a user names (a .torrent path) that may not be a regular file: a FIFO or a device
reports no size, and a plain open(2) of a FIFO waits for a writer with no end.

Source: Linux fifo(7) and poll(2): a FIFO opened ``O_RDONLY | O_NONBLOCK`` with no writer yet opens at once
and reports no POLLHUP until a writer came, so poll waits for the first byte (or the writer's close).
"""

from __future__ import annotations

import os
import select
import stat
from pathlib import Path

from swarmscope.errors import InputError


def read_bounded(path: Path, limit: int, pipe_wait: float, shown: str) -> bytes:
    """At most ``limit + 1`` bytes of ``path`` (the caller refuses more than ``limit``). A regular file
    larger than ``limit`` is refused before reading; a FIFO or a device is read up to the bound; a FIFO is
    opened non-blocking and given ``pipe_wait`` seconds for its first byte, then read as usual (a pipe
    such as ``<(cat f.torrent)`` works, and so does a writer that comes late).

    Raises:
        InputError: a regular file over ``limit`` bytes, or a pipe silent for ``pipe_wait`` seconds (the
            message names ``shown``).
        OSError: unreadable.
    """
    info = path.stat()
    if stat.S_ISREG(info.st_mode):
        if info.st_size > limit:
            raise InputError(f"{shown}: {info.st_size} bytes is too large for a .torrent file")
        with path.open("rb") as file:
            return file.read(limit + 1)
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    with os.fdopen(fd, "rb") as file:
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        if stat.S_ISFIFO(info.st_mode) and not poller.poll(pipe_wait * 1000):
            raise InputError(f"{shown}: a pipe with nothing written to it within {pipe_wait:g} s")
        os.set_blocking(fd, True)
        return file.read(limit + 1)

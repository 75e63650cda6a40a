"""A .torrent path that is not a regular file (a FIFO, a character device such as /dev/zero) reports size 0
to ``stat``, so ``load_target``'s size cap (``MAX_TORRENT_BYTES``, checked before reading) never applies
and ``read_bytes`` reads until the writer stops: ``swarmscope fleet add /dev/zero`` (and ``monitor``) is
killed by the kernel's OOM killer instead of one line and exit 1 (bad input = one clear line).

Here a FIFO fed ``MAX_TORRENT_BYTES + 1`` bytes (bounded, so the test cannot exhaust memory): the load
must be refused as too large, not read whole and then parsed.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from swarmscope.errors import InputError
from swarmscope.monitor.targets import MAX_TORRENT_BYTES, load_target


def _feed(fifo: Path, size: int) -> None:
    """Write ``size`` bytes into ``fifo`` (1 MiB at a time); stops quietly when the reader closes."""
    chunk = b"x" * (1 << 20)
    with contextlib.suppress(OSError), open(fifo, "wb") as out:
        left = size
        while left > 0:
            out.write(chunk[: min(left, len(chunk))])
            left -= min(left, len(chunk))


def test_a_fifo_larger_than_the_cap_is_refused_as_too_large(tmp_path: Path) -> None:
    fifo = tmp_path / "feed.torrent"
    os.mkfifo(fifo)
    feeder = threading.Thread(target=_feed, args=(fifo, MAX_TORRENT_BYTES + 1), daemon=True)
    feeder.start()
    with pytest.raises(InputError, match="too large") as caught:
        load_target(str(fifo))
    feeder.join(30)
    assert "\n" not in str(caught.value)

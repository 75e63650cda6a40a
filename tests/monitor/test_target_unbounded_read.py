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


def test_a_fifo_nobody_writes_to_is_refused_in_one_line_not_waited_on_forever(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plain open(2) of a FIFO waits for a writer with no end (``fleet add f.fifo`` hung)."""
    import swarmscope.monitor.targets as targets

    monkeypatch.setattr(targets, "PIPE_WAIT_SECONDS", 1)
    fifo = tmp_path / "silent.torrent"
    os.mkfifo(fifo)
    with pytest.raises(InputError, match="a pipe with nothing written to it within 1 s") as caught:
        load_target(str(fifo))
    assert "\n" not in str(caught.value)


def test_a_fifo_whose_writer_comes_late_is_still_read(tmp_path: Path) -> None:
    """The writer opens the FIFO after the load began (the race a shell's ``<(cat f.torrent)`` never has,
    a named FIFO may): its bytes are read; the refusal is the parser's, not the pipe's."""
    fifo = tmp_path / "late.torrent"
    os.mkfifo(fifo)

    def late() -> None:
        threading.Event().wait(0.5)
        _feed(fifo, 10)

    feeder = threading.Thread(target=late, daemon=True)
    feeder.start()
    with pytest.raises(InputError, match="invalid torrent"):
        load_target(str(fifo))
    feeder.join(30)

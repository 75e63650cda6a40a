"""The console's background folder: one thread that keeps the read models up to date while ``serve`` runs.

Reads never fold (a first page over a backlog of a million sealed rows would wait minutes for it, and a
read-only database user could not read at all). Instead :class:`BackgroundFolder` calls
:func:`swarmscope.store.console.fold.fold_once` in a loop, in small transactions: the ledger entries per
transaction adapt so one takes about :data:`TARGET_SECONDS` (halved after a slow one, grown after a quick
one, within :data:`MIN_ENTRIES`..:data:`MAX_ENTRIES`), so the SQLite write lock is never held much longer
than that and the monitor's writer, which needs the same lock to commit a batch, waits at most that long.
Between transactions it sleeps :data:`PAUSE_SECONDS` (the writer gets its turn), :data:`IDLE_SECONDS`
when nothing was left to fold. A failure (a locked, read-only or unreachable database) is retried with
exponential backoff: :data:`IDLE_SECONDS` after the first, doubling up to :data:`MAX_BACKOFF_SECONDS`; it
is logged in one line when it starts or changes and then only once per backoff ceiling, and the recovery
is logged too, so a database down for an hour writes a few lines, not 3,600.
:meth:`BackgroundFolder.stop` ends the loop and joins the thread (the current transaction finishes first,
at most about :data:`TARGET_SECONDS`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from swarmscope.store.console.fold import fold_once

if TYPE_CHECKING:
    from swarmscope.store.database import Store

log = logging.getLogger(__name__)

TARGET_SECONDS = 0.25  # a fold transaction's aim (the SQLite write lock held about this long)
MIN_ENTRIES, MAX_ENTRIES = 200, 20_000  # ledger entries per transaction, bounds of the adaptation
IDLE_SECONDS = 1.0  # sleep when every sealed batch is folded, and after a failure
PAUSE_SECONDS = 0.05  # sleep between two transactions of a backlog
MAX_BACKOFF_SECONDS = 60.0  # the longest sleep after consecutive failures


class BackgroundFolder:
    """Folds ``store``'s new sealed batches in a daemon thread between :meth:`start` and :meth:`stop`."""

    def __init__(
        self, store: Store, *, idle_seconds: float = IDLE_SECONDS, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.store, self.idle_seconds, self.clock = store, idle_seconds, clock
        self.entries = 500  # ledger entries of the next transaction (adapted to TARGET_SECONDS)
        self.failures = 0  # consecutive failed transactions (the backoff's exponent)
        self._last_error = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="console-folder", daemon=True)

    def start(self) -> None:
        """Start folding (once)."""
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        """Ask the loop to end and wait up to ``timeout`` seconds for the thread."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._stop.wait(self.step())

    def step(self) -> float:
        """Fold one transaction; returns the seconds to sleep before the next."""
        started = self.clock()
        try:
            folded = fold_once(self.store, max_entries=self.entries)
        except Exception as exc:  # the loop must outlive a locked or unreachable database
            return self._failed((str(exc).strip().splitlines() or [type(exc).__name__])[0])
        if self.failures:
            log.warning("console fold recovered after %d failed attempts", self.failures)
            self.failures, self._last_error = 0, ""
        if folded == 0:
            return self.idle_seconds
        took = self.clock() - started
        if took > 2 * TARGET_SECONDS:
            self.entries = max(MIN_ENTRIES, self.entries // 2)
        elif took < TARGET_SECONDS / 2:
            self.entries = min(MAX_ENTRIES, self.entries * 3 // 2)
        return PAUSE_SECONDS

    def _failed(self, line: str) -> float:
        """Count a failure; returns the backoff (seconds) and logs only a new error or a capped retry."""
        self.failures += 1
        delay = min(MAX_BACKOFF_SECONDS, self.idle_seconds * 2.0 ** min(self.failures - 1, 16))
        if line != self._last_error or delay >= MAX_BACKOFF_SECONDS:
            log.warning(
                "console fold failed (%d in a row), retrying in %.0f s: %s", self.failures, delay, line
            )
        self._last_error = line
        return delay

"""``monitor --commit-log PATH``: the acknowledgement of every sealed batch, one line each, after COMMIT.

A batch is acknowledged only once its database transaction's COMMIT returned (SQLite ``synchronous=FULL``:
the WAL was fsynced; PostgreSQL: the server reported the commit durable). The line then says which chain
entries it holds, so an operator (or a crash test) can check later that nothing acknowledged was lost:

    <first chain index> <last chain index> <head entry hash, hex> <node key fingerprint, hex>

The file is appended to (several runs share one log) and each line is handed to the operating system
before the writer goes on, so a ``kill -9`` of the monitor never loses a line already written; a line may
be missing for the very last batch (committed, not yet acknowledged), never present for an uncommitted one.
"""

from __future__ import annotations

from typing import TextIO

from swarmscope.errors import InputError
from swarmscope.evidence.seal import SealedBatch, key_fingerprint


class CommitLog:
    """The ``on_committed`` callback of a monitor run; without a path it does nothing."""

    def __init__(self, out: TextIO | None) -> None:
        self._out = out

    @classmethod
    def open(cls, path: str | None) -> CommitLog:
        """Open ``path`` for appending (None: no log).

        Raises:
            InputError: the file cannot be opened for appending (names the option and the reason).
        """
        if path is None:
            return cls(None)
        try:
            return cls(open(path, "a", encoding="ascii"))  # closed by close()
        except OSError as exc:
            raise InputError(f"--commit-log {path}: cannot append to it: {exc.strerror or exc}") from None

    def __call__(self, sealed: SealedBatch) -> None:
        """Acknowledge one committed batch (one line, flushed to the operating system)."""
        if self._out is None:
            return
        b = sealed.batch
        fingerprint = key_fingerprint(sealed.public_key_bytes)
        self._out.write(f"{b.first_index} {b.last_index} {b.head_hash.hex()} {fingerprint}\n")
        self._out.flush()

    def close(self) -> None:
        """Close the file (idempotent)."""
        if self._out is not None:
            self._out.close()
            self._out = None

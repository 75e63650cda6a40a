"""The evidence writer process: ``python -m swarmscope.monitor.writer_main``, started by the monitor.

It reads frames (:mod:`swarmscope.monitor.writer_frames`) on standard input: first the hello (database,
node key, chain-head witness file), then commit and find requests, and answers each on standard output
with the sealed batch or a one-line refusal. Each commit is ``Store.commit_evidence`` (rows, chain, Ed25519
seal, COMMIT: one transaction, README "Crash safety"), run on the records it decoded strictly from their
canonical bytes; a fleet node's commit carries its lease tokens and is the fleet's fenced commit
(``store.fleet.fencing.commit_fenced``: the lease fences in the same transaction, refused by the database
when a token is no longer current; the refusal names the swarms lost). It ends (status 0) at the end of
its input: the monitor closed the pipe, or died (``kill -9`` of the monitor: the writer finishes the
commit it is in, if any, and exits; a frame cut short is dropped whole and never committed).

Standard output carries only frames: anything else printed goes to standard error. SIGINT is ignored (the
monitor is the one that stops on Ctrl-C, and it closes the pipe after its last commit).
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import BinaryIO

from swarmscope.errors import SwarmscopeError
from swarmscope.evidence.seal import load_private_key
from swarmscope.monitor import writer_frames as frames
from swarmscope.monitor.writer_process import collecting_less
from swarmscope.net.clock import Clock
from swarmscope.store.database import Store, open_store
from swarmscope.store.fleet.fencing import FencingRefused, commit_fenced
from swarmscope.store.fleet.leases import NodeReplaced
from swarmscope.store.ledger.commit import Commit


def read_frame(stream: BinaryIO) -> bytes | None:
    """The next frame's body, or None at the end of input (a frame cut short counts as the end)."""
    header = stream.read(frames.HEADER.size)
    if len(header) < frames.HEADER.size:
        return None
    body = stream.read(frames.frame_length(header))
    return body if len(body) == frames.frame_length(header) else None


def write_frame(stream: BinaryIO, body: bytes) -> None:
    """Send one frame and flush it."""
    stream.write(frames.frame(body))
    stream.flush()


def answer(store: Store, body: bytes) -> bytes:
    """The reply to one request: the store's answer, or one line when it or the frame is refused."""
    try:
        op, req = frames.read_request(body)
        if op == "find":
            return frames.sealed_reply(store.committed_batch(req.records, req.sealed_at_us))
        extra = Commit(req.captures, req.blobs, req.pieces, req.sealed_at_us, req.clock, req.canonical)
        if req.fence is not None:  # a fleet node's batch: fenced by its lease tokens, in its transaction
            return frames.sealed_reply(commit_fenced(store, req.run_id, req.records, extra, req.fence))
        return frames.sealed_reply(store.commit_batch(req.run_id, req.records, extra))
    except FencingRefused as exc:  # rolled back whole: the sender drops the lost swarms' records
        return frames.fenced_reply(exc)
    except NodeReplaced as exc:  # final: the sender writes nothing more
        return frames.replaced_reply(exc)
    except (SwarmscopeError, ValueError, TypeError) as exc:  # nothing was committed: the monitor keeps it
        return frames.error_reply(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)


def open_from_hello(body: bytes) -> Store:
    """The store a hello names, opened as a writer for its key, its witness kept up to date.

    Raises:
        SwarmscopeError: a malformed hello, an unusable key, a store that cannot be opened.
    """
    db, key_pem, witness = frames.read_hello(body)
    store = open_store(db, create=False, node_key=load_private_key(key_pem), now_us=Clock().now_us())
    store.witness = Path(witness) if witness else None
    return store


def serve(inp: BinaryIO, out: BinaryIO) -> int:
    """Open the store from the hello, then answer requests until the end of input; the exit status."""
    body = read_frame(inp)
    if body is None:
        return 0
    try:
        store = open_from_hello(body)
    except SwarmscopeError as exc:
        write_frame(out, frames.error_reply(f"evidence writer: {exc}"))
        return 1
    try:
        write_frame(out, frames.ok_reply())
        with collecting_less():
            while (body := read_frame(inp)) is not None:
                write_frame(out, answer(store, body))
    except BrokenPipeError:  # the monitor is gone; what committed is committed
        return 0
    finally:
        store.close()
    return 0


def main() -> int:
    """Frames on stdin/stdout; fd 1 is moved aside so that no stray print can corrupt a frame."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    return serve(sys.stdin.buffer, out)


if __name__ == "__main__":
    sys.exit(main())

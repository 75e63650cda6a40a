"""The stub peer farm and the two ceilings ``bench/probe.py`` compares swarmscope with (C and raw Python).

The sources are the read-only references in ``../shared/bench`` (stubfarm.c, ceiling.c, mkfarm.py). They are
copied into ``bench/.work/`` (gitignored) and built there; nothing built or generated is committed.

The farm is an epoll server on 0.0.0.0:6881 that answers as the 127.x address that was dialled, so each of
127.1.0.1 + i (i < M) is a distinct peer: handshake, bitfield by address (addr % 3: 0 seed, 1 even pieces,
2 no piece), unchoke on interested, correct blocks of a deterministic payload.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, cast

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"


def _refs() -> Path:
    """The read-only references: $SWARMSCOPE_BENCH_REFS, else $SWARMSCOPE_SHARED/bench, else ../shared/bench
    beside the checkout (a git worktree elsewhere names the shared folder through SWARMSCOPE_SHARED)."""
    if os.environ.get("SWARMSCOPE_BENCH_REFS"):
        return Path(os.environ["SWARMSCOPE_BENCH_REFS"])
    if os.environ.get("SWARMSCOPE_SHARED"):
        return Path(os.environ["SWARMSCOPE_SHARED"]) / "bench"
    return HERE.parent.parent / "shared" / "bench"


REFS = _refs()
SOURCES = ("stubfarm.c", "ceiling.c", "mkfarm.py", "Makefile")
PORT = 6881
PSTR = b"\x13BitTorrent protocol"
FIRST_PEER = "127.1.0.1"
FARM_WORKERS = 4  # SO_REUSEPORT workers; the open-file limit (20,000) caps one process
SYSCTLS = {
    "net/core/somaxconn": "65535",
    "net/ipv4/tcp_max_syn_backlog": "65535",
    "net/ipv4/ip_local_port_range": "1024 65535",
}


def cpus() -> tuple[str | None, str | None]:
    """(client CPU, farm CPU) for taskset; (None, None) on a one-core machine (no pinning)."""
    n = os.cpu_count() or 1
    return ("0", "1") if n >= 2 else (None, None)


def pinned(cmd: list[str], cpu: str | None) -> list[str]:
    """``cmd`` prefixed with ``taskset -c cpu`` when a CPU is given and taskset exists."""
    if cpu is None or shutil.which("taskset") is None:
        return cmd
    return ["taskset", "-c", cpu, *cmd]


def peer_address(i: int) -> str:
    """Address of farm peer ``i`` (0-based): 127.1.0.1 + i."""
    base = int.from_bytes(socket.inet_aton(FIRST_PEER), "big")
    return socket.inet_ntoa((base + i).to_bytes(4, "big"))


def _sync_sources() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    for name in SOURCES:
        src, dst = REFS / name, WORK / name
        if not src.is_file():
            raise SystemExit(f"bench: reference file missing: {src} (set SWARMSCOPE_BENCH_REFS)")
        if not dst.is_file() or dst.read_bytes() != src.read_bytes():
            shutil.copyfile(src, dst)


def prepare(log: Any = sys.stderr) -> dict[str, Any]:
    """Build the farm (required) and the C ceiling (optional), generate the farm torrent once.

    Returns:
        farm.json's content plus ``stubfarm`` and ``ceiling`` (path, or None when it did not build).
    """
    _sync_sources()
    subprocess.run(["make", "-s", "stubfarm"], cwd=WORK, check=True, timeout=300)
    ceiling: str | None = str(WORK / "ceiling")
    made = subprocess.run(["make", "-s", "ceiling"], cwd=WORK, capture_output=True, text=True, timeout=300)
    if made.returncode != 0:
        print(f"bench: C ceiling did not build (needs libssl-dev), skipped:\n{made.stderr[-800:]}", file=log)
        ceiling = None
    meta_path = WORK / "data" / "farm.json"
    if not meta_path.is_file():
        subprocess.run(
            [sys.executable, str(WORK / "mkfarm.py")],
            cwd=WORK,
            check=True,
            timeout=600,
            stdout=subprocess.DEVNULL,
        )
    meta: dict[str, Any] = json.loads(meta_path.read_text())
    meta["stubfarm"], meta["ceiling"] = str(WORK / "stubfarm"), ceiling
    return meta


def setup_namespace() -> None:
    """Inside a fresh network namespace: ``lo`` up and the listen/port-range sysctls bench.py uses."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    for key, value in SYSCTLS.items():
        Path("/proc/sys", key).write_text(value)


def _wait_accepting(deadline_s: float) -> None:
    t_end = time.monotonic() + deadline_s
    while True:  # 127.0.0.1 is outside the probed range 127.1.0.1 + i
        try:
            socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > t_end:
                raise SystemExit("bench: the stub farm did not start") from None
            time.sleep(0.05)


def _final_stats(path: Path) -> dict[str, Any]:
    lines = [json.loads(x) for x in path.read_text().splitlines() if x.strip().startswith("{")]
    final = next((x for x in reversed(lines) if x.get("final")), lines[-1] if lines else {})
    keys = ("accepted", "hs_ok", "bitfields", "pieces", "closed_err", "emfile", "cpu_user_s", "cpu_sys_s")
    return {k: final.get(k) for k in keys}


@contextmanager
def running_farm(
    meta: dict[str, Any],
    cpu: str | None,
    stats: dict[str, Any],
    run_limit_s: float = 600.0,
    args: Sequence[str] = (),
    interval_s: float = 5.0,
) -> Iterator[Path]:
    """Run the farm for the ``with`` body; stop it by PID (TERM, then KILL). Final counters: ``stats``.

    ``run_limit_s``: the farm exits by itself after this many seconds even if nobody stops it (``-T``).
    ``args``: more stubfarm options (``-b seed``: every peer a seed). ``interval_s``: seconds between the
    farm's counter lines (JSON) in the file the body gets (``lt_monitor.py --farm-stats`` reads it live).
    """
    tmp = Path(tempfile.mkdtemp(prefix="swarmscope-farm-"))
    out_path = tmp / "farm.jsonl"
    cmd = [
        meta["stubfarm"],
        "-w",
        str(FARM_WORKERS),
        "-P",
        str(meta["pieces"]),
        "-L",
        str(meta["piece_length"]),
        "-i",
        f"{interval_s:g}",
        "-T",
        str(run_limit_s),
        *args,
    ]
    with open(out_path, "w") as out:
        farm = subprocess.Popen(pinned(cmd, cpu), stdout=out, stderr=subprocess.DEVNULL)
        try:
            _wait_accepting(5.0)
            time.sleep(0.2)
            yield out_path
        finally:
            farm.send_signal(signal.SIGTERM)
            try:
                farm.wait(timeout=15)
            except subprocess.TimeoutExpired:
                farm.kill()
                farm.wait(timeout=15)
    stats.update(_final_stats(out_path))
    shutil.rmtree(tmp, ignore_errors=True)


def ceiling_command(meta: dict[str, Any], mode: str, m: int, k: int) -> list[str]:
    """ceiling.c in ``mode`` (hs | block): M farm peers, K in flight, RST close (as swarmscope's driver)."""
    return [
        meta["ceiling"],
        "-m",
        mode,
        "-M",
        str(m),
        "-K",
        str(k),
        "-a",
        FIRST_PEER,
        "-p",
        str(PORT),
        "-i",
        meta["infohash"],
        "-H",
        meta["piece_sha1"][0],
        "-x",
        "0",
        "-L",
        str(meta["piece_length"]),
        "-D",
        "120",
        "-r",
    ]


def ceiling_result(raw: dict[str, Any]) -> dict[str, Any]:
    """ceiling.c's JSON line in the shape of the Python measurements."""
    completed = int(raw.get("completed", 0))
    return {
        "probes_per_s": raw.get("probes_per_s"),
        "completed": completed,
        "elapsed_s": raw.get("elapsed_s"),
        "cpu_s": round(raw.get("cpu_user_s", 0) + raw.get("cpu_sys_s", 0), 3),
        "cpu_user_s": raw.get("cpu_user_s"),
        "vmhwm_kb": raw.get("vmhwm_kb"),
        "rss_growth_kb": None,
        "outcomes": {
            k: raw[k]
            for k in ("ok", "verified", "nopiece", "fail_connect", "fail_proto", "bad_hash", "timeout")
            if raw.get(k)
        },
    }


# --- the raw Python ceiling: connect, handshake, bitfield (, one block), nothing else ---------------------


class RawProbe(asyncio.Protocol):
    """Minimal probe: no per-probe timers, no evidence record; RST close like swarmscope's driver."""

    def __init__(self, ctx: dict[str, Any], done: asyncio.Future[str]) -> None:
        self.ctx, self.done, self.buf, self.state = ctx, done, bytearray(), "hs"
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport is no subclass of asyncio.Transport: duck-type, do not isinstance-check
        self.transport = cast(asyncio.Transport, transport)
        self.transport.write(self.ctx["handshake"])

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result("closed")

    def finish(self, outcome: str) -> None:
        if not self.done.done():
            self.done.set_result(outcome)
        if self.transport is not None:
            self.transport.abort()

    def data_received(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        if self.state == "hs":
            if len(buf) < 68:
                return
            if buf[:20] != PSTR or buf[28:48] != self.ctx["infohash"]:
                return self.finish("bad_handshake")
            del buf[:68]
            self.state = "bitfield"
        while len(buf) >= 4:
            n = int.from_bytes(buf[:4], "big")
            if len(buf) < 4 + n:
                return
            msg = bytes(buf[4 : 4 + n])
            del buf[: 4 + n]
            if n and self.on_message(msg[0], msg):
                return

    def on_message(self, kind: int, msg: bytes) -> bool:
        """Handle one message; True when the probe is over."""
        ctx = self.ctx
        if self.state == "bitfield" and kind == 5:
            if not any(msg[1:]):
                self.finish("connected")
            elif ctx["mode"] == "hs" or not msg[1] & 0x80:
                self.finish("has_pieces")
            else:
                self.state = "unchoke"
                assert self.transport is not None
                self.transport.write(b"\x00\x00\x00\x01\x02")
        elif self.state == "unchoke" and kind == 1:
            self.state = "piece"
            assert self.transport is not None
            self.transport.write(ctx["request"])
        elif self.state == "piece" and kind == 7:
            ok = msg[1:9] == bytes(8) and hashlib.sha1(memoryview(msg)[9:]).digest() == ctx["piece_hash"]
            self.finish("verified" if ok else "bad_hash")
        return self.done.done()


async def raw_ceiling(cfg: dict[str, Any], meta: dict[str, Any], tally: Counter[str]) -> None:
    loop = asyncio.get_running_loop()
    ih = bytes.fromhex(meta["infohash"])
    length = meta["piece_length"]
    ctx = {
        "mode": cfg["mode"],
        "infohash": ih,
        "handshake": PSTR + bytes(8) + ih + b"-SB0001-" + os.urandom(6).hex().encode(),
        "request": b"\x00\x00\x00\x0d\x06" + bytes(8) + length.to_bytes(4, "big"),
        "piece_hash": bytes.fromhex(meta["piece_sha1"][0]),
    }
    indices = iter(range(cfg["M"]))

    async def worker() -> None:
        for i in indices:
            done: asyncio.Future[str] = loop.create_future()
            try:
                await loop.create_connection(partial(RawProbe, ctx, done), peer_address(i), PORT)
            except OSError:
                tally["connect_failed"] += 1
                continue
            tally[await done] += 1

    await asyncio.gather(*(worker() for _ in range(cfg["K"])))

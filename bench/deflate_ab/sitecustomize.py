"""The capture deflate measured inside the real monitor's processes: every variant on every capture.

Loaded by ``bench/hurtlocker.py --deflate-ab`` (this directory first on the monitor's ``PYTHONPATH``, so
Python imports it at start-up in the coordinator, its probe processes and its writer). Once
``swarmscope.evidence.capture.format`` is imported, its ``zlib`` name is replaced by a shim: each capture
body the format compresses (``zlib.compress(body, 9)``) is compressed by every variant below, in an order
rotated by one per capture (so each variant goes first as often as the others: the first pays the cold
cache), each timed in thread CPU (``time.thread_time_ns``). The capture keeps the format's bytes (the
``zlib9`` variant's); the others are checked to inflate back to the body, and ``kept9``'s to be the format's
very bytes. At exit each process writes ``deflate-ab-<pid>.json`` into ``$SWARMSCOPE_DEFLATE_AB``.

Variants: ``zlib9`` the format (a new deflate state per capture), ``kept9`` one state kept and
``deflateReset`` per capture (zlib manual; the same bytes: libz through ``ctypes.PyDLL``, which Python's
``zlib`` does not expose), ``zlib1`` level 1 (other bytes: a format decision), ``w11m1`` level 9 with a
2 KiB window and ``memLevel`` 1 (a ≈ 10 KiB state instead of ≈ 256 KiB; other bytes), ``fixed9`` level 9
with ``Z_FIXED`` (RFC 1951 fixed Huffman codes; other bytes), ``stored`` level 0 (no compression: the zlib
framing, Adler-32 and a copy; other bytes).

Not part of swarmscope (bench only); docs/performance.md "Step 5" has what it measured.
"""

from __future__ import annotations

import atexit
import builtins
import ctypes
import json
import os
import sys
import time
import zlib
from collections.abc import Callable
from typing import Any

_OUT = os.environ.get("SWARMSCOPE_DEFLATE_AB")


class _ZStream(ctypes.Structure):
    """zlib.h ``z_stream`` (LP64)."""

    _fields_ = [
        ("next_in", ctypes.c_char_p), ("avail_in", ctypes.c_uint), ("total_in", ctypes.c_ulong),
        ("next_out", ctypes.c_void_p), ("avail_out", ctypes.c_uint), ("total_out", ctypes.c_ulong),
        ("msg", ctypes.c_char_p), ("state", ctypes.c_void_p), ("zalloc", ctypes.c_void_p),
        ("zfree", ctypes.c_void_p), ("opaque", ctypes.c_void_p), ("data_type", ctypes.c_int),
        ("adler", ctypes.c_ulong), ("reserved", ctypes.c_ulong),
    ]  # fmt: skip


def kept_deflater() -> Callable[[bytes], bytes]:
    """``zlib.compress(data, 9)`` from one kept state (``deflateReset`` per call; level 9, ``Z_DEFLATED``,
    window bits 15, memLevel 8, ``Z_DEFAULT_STRATEGY``: CPython's ``zlib_compress_impl``). One thread only.
    Raises OSError when ``libz.so.1`` is not there, RuntimeError on a zlib error code."""
    lib = ctypes.PyDLL("libz.so.1")
    lib.zlibVersion.restype = ctypes.c_char_p
    lib.deflateBound.restype = ctypes.c_ulong
    stream = _ZStream()
    ref = ctypes.byref(stream)
    if lib.deflateInit2_(ref, 9, 8, 15, 8, 0, lib.zlibVersion(), ctypes.sizeof(_ZStream)) != 0:
        raise RuntimeError("deflateInit2_ failed")
    out = ctypes.create_string_buffer(1 << 20)

    def compress(data: bytes) -> bytes:
        if lib.deflateReset(ref) != 0 or lib.deflateBound(ref, ctypes.c_ulong(len(data))) > len(out):
            raise RuntimeError("deflateReset failed or body too large")
        stream.next_in, stream.avail_in = data, len(data)
        stream.next_out, stream.avail_out = ctypes.addressof(out), len(out)
        if lib.deflate(ref, 4) != 1:  # Z_FINISH → Z_STREAM_END
            raise RuntimeError("deflate did not finish")
        return ctypes.string_at(out, stream.total_out)

    return compress


def _small(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 11, 1)
    return c.compress(data) + c.flush()


def _fixed(data: bytes) -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 15, 8, zlib.Z_FIXED)
    return c.compress(data) + c.flush()


def variants() -> list[tuple[str, Callable[[bytes], bytes]]]:
    """(name, compress) of every variant; ``zlib9`` first (the format's)."""
    return [
        ("zlib9", lambda d: zlib.compress(d, 9)),
        ("kept9", kept_deflater()),
        ("zlib1", lambda d: zlib.compress(d, 1)),
        ("w11m1", _small),
        ("fixed9", _fixed),
        ("stored", lambda d: zlib.compress(d, 0)),
    ]


class Trial:
    """Every variant on each body, rotated order, thread CPU summed per variant (and when it went first)."""

    def __init__(self) -> None:
        self.variants = variants()
        self.calls = 0
        self.sums: dict[str, list[int]] = {n: [0, 0, 0, 0, 0] for n, _ in self.variants}  # ns, first ns,
        # first calls, bytes out, bytes in

    def compress(self, data: bytes) -> bytes:
        """The format's bytes (``zlib9``), after every variant compressed ``data``."""
        k = self.calls % len(self.variants)
        self.calls += 1
        outs = {}
        for place, (name, fn) in enumerate(self.variants[k:] + self.variants[:k]):
            t0 = time.thread_time_ns()
            out = fn(data)
            spent = time.thread_time_ns() - t0
            s = self.sums[name]
            s[0] += spent
            s[1] += spent if place == 0 else 0
            s[2] += place == 0
            s[3] += len(out)
            s[4] += len(data)
            outs[name] = out
        assert outs["kept9"] == outs["zlib9"] and all(zlib.decompress(o) == data for o in outs.values())
        return outs["zlib9"]

    def report(self) -> dict[str, Any]:
        """Per variant: µs of thread CPU per capture (all places; when first), bytes out ÷ in."""
        n = max(self.calls, 1)
        return {
            "captures": self.calls,
            **{
                name: {
                    "cpu_us": round(s[0] / n / 1000, 1),
                    "first_cpu_us": round(s[1] / max(s[2], 1) / 1000, 1),
                    "out_over_in": round(s[3] / max(s[4], 1), 3),
                }
                for name, s in self.sums.items()
            },
        }


class _Shim:
    """Stands for ``zlib`` in the capture format module: ``compress(body, 9)`` goes to the trial."""

    def __init__(self, trial: Trial) -> None:
        self.trial = trial
        self.crc32 = zlib.crc32

    def compress(self, data: bytes, level: int = -1) -> bytes:
        return self.trial.compress(data) if level == 9 else zlib.compress(data, level)


def _install(fmt: Any, out_dir: str) -> None:
    trial = Trial()
    fmt.zlib = _Shim(trial)

    def dump() -> None:
        if trial.calls:
            path = os.path.join(out_dir, f"deflate-ab-{os.getpid()}.json")
            with open(path, "w") as f:
                json.dump(trial.report(), f)

    atexit.register(dump)


def _watch(out_dir: str) -> None:
    """Install the shim as soon as the capture format module has been imported (then stop watching)."""
    original = builtins.__import__

    def hook(name: str, *args: Any, **kwargs: Any) -> Any:
        module = original(name, *args, **kwargs)
        fmt = sys.modules.get("swarmscope.evidence.capture.format")
        if fmt is not None and hasattr(fmt, "encode_rows"):
            builtins.__import__ = original
            _install(fmt, out_dir)
        return module

    builtins.__import__ = hook


if _OUT:
    _watch(_OUT)

"""Private network namespace for tests, demos and benchmarks (Linux, root).

Inside a fresh network namespace only ``lo`` exists, so nothing we or the real clients we start send can
leave the machine: every 127.0.0.0/8 address routes to ``lo`` and everything else is unreachable.
This module is used by composition roots only (``cli``, test ``conftest``, ``bench``).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import shutil
import subprocess

CLONE_NEWNET = 0x40000000  # <sched.h>


def in_private_netns() -> bool:
    """True when the only network interface is ``lo`` (we are in a private namespace)."""
    try:  # the calling thread's namespace (sysfs would show the namespace it was mounted in)
        with open("/proc/thread-self/net/dev", encoding="ascii") as f:
            names = [line.split(":", 1)[0].strip() for line in f.readlines()[2:]]
    except OSError:
        return False
    return names == ["lo"]


def enter_private_netns() -> bool:
    """Move the calling process (thread) into a new network namespace and bring ``lo`` up.

    Must be called before other threads start. Returns True on success, False when not permitted
    (not root, no ``unshare`` support, or no ``ip`` tool); the caller then runs on the host's loopback.
    """
    if in_private_netns():
        return True
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return False
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True, timeout=10)
    return True

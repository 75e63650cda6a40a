"""Rule 2 of the architecture (docs/architecture.md): the pure layers do no I/O, read no clock, draw no
randomness. wire/, evidence/ and :data:`PURE_MODULES` are replayed byte for byte, so nothing they compute
may depend on the world outside their arguments.

The rule is an ALLOW-list: a pure module imports (or reaches through an alias) only the modules of
:data:`PURE_ALLOWED`, so a library nobody thought to forbid (``requests``, ``ctypes``, ``_thread``,
``pkgutil``, ``sys``) fails by default. Inside allowed modules :data:`IMPURE_NAMES` lists the few names that
still touch the world (``datetime.datetime.now``, ``uuid.uuid4``, ``builtins.open``), and calls on values
(a socket, a file, a ``Path`` handed in) are recognised by method name.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.architecture_network import CONNECTION_OPENERS
from tests.architecture_rules import SRC, _by_line, _describe, _matches, imported_names, load

PURE_PACKAGES = {"wire", "evidence"}
PURE_MODULES = {
    "monitor/plan.py", "cases/workflow.py", "cases/thresholds.py",
    "research/pseudonym.py", "research/cells.py", "research/aggregate.py", "research/readme.py",
}  # fmt: skip
PURE_ALLOWED = {  # module (and every name under it) -> why a pure module may use it
    "__future__": "postponed annotations",
    "builtins": "the names every module has; open/print/input are refused by IMPURE_NAMES",
    "typing": "annotations", "collections": "containers (and collections.abc for annotations)",
    "dataclasses": "record types", "enum": "closed sets of values", "functools": "caching pure functions",
    "itertools": "iteration", "bisect": "sorted lookups", "heapq": "ordered queues", "math": "arithmetic",
    "contextlib": "suppressing a parse error", "warnings": "silencing a library's warning while parsing",
    "re": "parsing text", "textwrap": "wrapping the documented canonical layout",
    "struct": "BEP 3/15 fixed-width fields",
    "ipaddress": "peer addresses",
    "base64": "magnet base32 infohashes (BEP 9)", "binascii": "hex infohashes",
    "urllib.parse": "magnet URIs and tracker query strings (BEP 3, BEP 9); no urllib.request",
    "json": "canonical JSON of bundle members", "csv": "CSV exhibits written to a buffer",
    "io": "in-memory buffers (BytesIO/StringIO); io.open and FileIO are refused",
    "zlib": "capture compression", "hashlib": "SHA-1 infohashes, SHA-256 chain",
    "hmac": "keyed pseudonyms of research exports (RFC 2104); the key is passed in",
    "datetime": "UTC µs conversions; now/utcnow/today are refused",
    "uuid": "UUIDs from given bytes; uuid1/uuid4/getnode are refused",
    "pathlib": "PurePosixPath for bundle member names; Path (the file system) is refused",
    "bencode2": "bencoding (BEP 3)", "asn1crypto": "RFC 3161 timestamp tokens",
    "cryptography": "Ed25519 seals, RC4 for MSE, X.509; key generation is refused",
}  # fmt: skip
IMPURE_NAMES = {  # single names of allowed modules that read a clock, draw randomness or do I/O
    "uuid.uuid1", "uuid.uuid4", "uuid.getnode",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today",
    "io.open", "io.open_code", "io.FileIO", "pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath",
    "builtins.open", "builtins.print", "builtins.input", "builtins.breakpoint",
    "builtins.__loader__", "builtins.__spec__",  # the module's loader reads files (get_data)
}  # fmt: skip
KEY_GENERATORS = {"generate", "generate_private_key", "generate_key"}  # cryptography: draw a random key
CLOCK_OR_RANDOM_CALLS = {  # (owner, method) of calls whose owner is a value, not an imported name
    ("time", "time"), ("time", "monotonic"), ("time", "perf_counter"), ("time", "time_ns"),
    ("datetime", "now"), ("datetime", "utcnow"), ("date", "today"), ("os", "urandom"), ("os", "getrandom"),
}  # fmt: skip
FILE_METHODS = {  # pathlib.Path and file-object methods that touch the file system
    "open", "read_bytes", "read_text", "write_bytes", "write_text", "mkdir", "rmdir", "unlink", "touch",
    "iterdir", "glob", "rglob", "exists", "is_file", "is_dir", "stat", "lstat", "chmod", "symlink_to",
    "hardlink_to", "samefile",
}  # fmt: skip
# Methods only a socket, an asyncio stream or a transport has. Generic words (send, connect, read, write,
# close) are left out: sans-IO state machines use them for pure steps (h11's Connection.send, aioquic's
# QuicConnection.connect), and a pure module cannot make a socket since it may not import socket/asyncio.
SOCKET_METHODS = {
    "recv", "recv_into", "recvfrom", "recvfrom_into", "recvmsg", "sendall", "sendto", "sendmsg",
    "sendfile", "connect_ex", "setsockopt", "getsockopt", "getpeername", "getsockname", "setblocking",
    "drain", "readexactly", "readuntil", "wait_closed", "get_extra_info",
    "sock_recv", "sock_recv_into", "sock_recvfrom", "sock_sendall", "sock_sendto",
}  # fmt: skip


def pure_paths(root: Path = SRC) -> list[Path]:
    """The modules rule 2 applies to: every module of :data:`PURE_PACKAGES`, then :data:`PURE_MODULES`."""
    out = [p for p in sorted(root.rglob("*.py")) if p.relative_to(root).parts[0] in PURE_PACKAGES]
    return out + [root / m for m in sorted(PURE_MODULES) if (root / m).exists()]


def _allowed(name: str) -> bool:
    own = name == "swarmscope" or name.startswith("swarmscope.")  # the layer rule judges these
    return own or any(_matches(name, ok) for ok in PURE_ALLOWED)


def _impure(name: str) -> bool:
    random_key = name.startswith("cryptography.") and name.rsplit(".", 1)[-1] in KEY_GENERATORS
    return random_key or not _allowed(name) or any(_matches(name, bad) for bad in IMPURE_NAMES)


def _method_problem(func: ast.expr) -> str | None:
    """File, socket or clock I/O recognised by the method's name when its owner is a value, not an import."""
    if not isinstance(func, ast.Attribute):
        return None
    owner = func.value
    owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
    if (owner_name, func.attr) in CLOCK_OR_RANDOM_CALLS:
        return f"calls {owner_name}.{func.attr}()"
    if func.attr in FILE_METHODS:
        return f"calls .{func.attr}() (file I/O)"
    if func.attr in SOCKET_METHODS | CONNECTION_OPENERS:
        return f"calls .{func.attr}() (socket I/O)"
    return None


def purity_problems(path: Path, root: Path = SRC) -> list[str]:
    """Imports off the allow-list, impure names and I/O calls in a pure module."""
    mod = load(path, root)
    problems = [f"line {line}: imports {name}" for name, line in imported_names(mod) if _impure(name)]
    reported: set[int] = set()
    for ref, name, is_called in mod.references():
        if _impure(name):
            problems.append(f"line {ref.lineno}: {_describe(name, is_called)}")
            reported.add(id(ref))
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Call) and id(node.func) not in reported:
            problem = _method_problem(node.func)
            if problem:
                problems.append(f"line {node.lineno}: {problem}")
    return _by_line(problems)

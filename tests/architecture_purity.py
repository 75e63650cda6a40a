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
import functools
from pathlib import Path

from tests.architecture_names import private_part, real_name
from tests.architecture_network import CONNECTION_OPENERS
from tests.architecture_order import order_problems
from tests.architecture_rules import (
    SRC,
    _by_line,
    _describe,
    _is_getattr,
    _matches,
    _module_prefix,
    imported_names,
    load,
)

PURE_PACKAGES = {"wire", "evidence"}
PURE_MODULES = {
    "monitor/plan.py", "monitor/plan_bound.py", "cases/workflow.py", "cases/thresholds.py",
    "research/pseudonym.py", "research/cells.py", "research/aggregate.py", "research/readme.py",
}  # fmt: skip
LAYER_ZERO = {"errors.py", "__init__.py"}  # imported by every module: held to rule 2 too
PURE_ALLOWED = {  # module (and every name under it) -> why a pure module may use it
    "__future__": "postponed annotations",
    "builtins": "the names every module has; open/print/input are refused by IMPURE_NAMES",
    "typing": "annotations", "collections": "containers (and collections.abc for annotations)",
    "dataclasses": "record types", "enum": "closed sets of values", "functools": "caching pure functions",
    "itertools": "iteration", "bisect": "sorted lookups", "heapq": "ordered queues", "math": "arithmetic",
    **dict.fromkeys(  # not contextlib.chdir (the process's working directory) nor redirect_stdout
        ("contextlib.contextmanager", "contextlib.suppress", "contextlib.nullcontext"),
        "suppressing a parse error, small context managers"),
    **dict.fromkeys(  # not formatwarning/showwarning (they read the source file named in the warning)
        ("warnings.catch_warnings", "warnings.simplefilter", "warnings.filterwarnings"),
        "silencing a library's warning while parsing"),
    "re": "parsing text", "textwrap": "wrapping the documented canonical layout",
    "struct": "BEP 3/15 fixed-width fields",
    "ipaddress": "peer addresses",
    "unicodedata": "NFKC and character categories of free text (research scrub: UAX #15)",
    **dict.fromkeys(  # the codecs only: base64.main reads files and stdin
        [f"base64.{kind}{way}" for kind in ("b16", "b32", "b64", "urlsafe_b64", "standard_b64")
         for way in ("encode", "decode")], "magnet base32 infohashes (BEP 9)"),
    "binascii": "hex infohashes",
    "urllib.parse": "magnet URIs and tracker query strings (BEP 3, BEP 9); no urllib.request",
    **dict.fromkeys(  # not json.load/dump (a file handed in) nor json.tool (reads stdin and files)
        ("json.dumps", "json.loads", "json.JSONDecodeError", "json.JSONEncoder"),
        "canonical JSON of bundle members"),
    "csv": "CSV exhibits written to a buffer",
    "io": "in-memory buffers (BytesIO/StringIO); io.open and FileIO are refused",
    "zlib": "capture compression", "hashlib": "SHA-1 infohashes, SHA-256 chain",
    "hmac": "keyed pseudonyms of research exports (RFC 2104); the key is passed in",
    "datetime": "UTC µs conversions; now/utcnow/today are refused",
    "uuid": "UUIDs from given bytes; uuid1/uuid4/getnode are refused",
    "pathlib": "PurePosixPath for bundle member names; Path (the file system) is refused",
    "bencode2": "bencoding (BEP 3)", "asn1crypto": "RFC 3161 timestamp tokens",
    # cryptography: the primitives pure code uses, not the whole library (Fernet reads the clock and draws
    # an IV, Diffie-Hellman parameters are random); key generation and randomized signing are refused
    "cryptography.exceptions": "InvalidSignature", "cryptography.x509": "RFC 3161 TSA certificates",
    "cryptography.hazmat.primitives.asymmetric.ed25519": "Ed25519 seals (RFC 8032, deterministic)",
    "cryptography.hazmat.primitives.asymmetric.ec": "verifying a TSA's ECDSA signature",
    "cryptography.hazmat.primitives.asymmetric.rsa": "verifying a TSA's RSA signature",
    "cryptography.hazmat.primitives.asymmetric.padding": "RSA signature padding, for verifying",
    "cryptography.hazmat.primitives.hashes": "hash algorithms",
    "cryptography.hazmat.primitives.serialization": "loading and dumping given keys",
    "cryptography.hazmat.primitives.ciphers": "RC4 for MSE (BEP 8)",
    "cryptography.hazmat.decrepit.ciphers.algorithms.ARC4": "RC4 for MSE (BEP 8)",
}  # fmt: skip
IMPURE_NAMES = {  # single names of allowed modules that read a clock, draw randomness or do I/O
    "uuid.uuid1", "uuid.uuid4", "uuid.getnode",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today",
    "io.open", "io.open_code", "io.FileIO", "pathlib.Path", "pathlib.PosixPath", "pathlib.WindowsPath",
    "builtins.open", "builtins.print", "builtins.input", "builtins.breakpoint",
    "builtins.__loader__", "builtins.__spec__",  # the module's loader reads files (get_data)
    "builtins.hash",  # str/bytes hashes are salted per process (PYTHONHASHSEED)
    "builtins.id",  # an object's address: differs from run to run
    "hashlib.file_digest",  # reads a file object handed in
    "cryptography.hazmat.primitives.serialization.BestAvailableEncryption",  # draws a random salt and IV
    "typing.get_type_hints", "typing.get_overloads",  # evaluate string annotations: code no rule sees
}  # fmt: skip
VERIFIER_BUILDERS = {"build_client_verifier", "build_server_verifier"}  # cryptography.x509.verification
KEY_GENERATORS = {  # cryptography: draw a random key, serial number or nonce
    "generate", "generate_private_key", "generate_key", "random_serial_number",
}  # fmt: skip
# Calls on a value (a module or clock handed in, ``self`` of a subclass of datetime) that read a clock or
# draw randomness, whatever the owner is called: a pure module is given the time and the random bytes.
CLOCK_OR_RANDOM_METHODS = {
    "now", "utcnow", "today", "time_ns", "monotonic", "monotonic_ns", "perf_counter", "perf_counter_ns",
    "process_time", "process_time_ns", "thread_time", "thread_time_ns", "clock_gettime", "clock_gettime_ns",
    "urandom", "getrandom", "randbytes", "getrandbits", "token_bytes", "token_hex", "token_urlsafe",
    "uuid1", "uuid4", "getnode", *KEY_GENERATORS,
}  # fmt: skip
CLOCK_OR_RANDOM_OWNERS = {"time", "os", "posix", "random", "secrets"}  # every call on a value of that name
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
    """The modules rule 2 applies to: every module of :data:`PURE_PACKAGES`, then :data:`PURE_MODULES`,
    the package ``__init__`` modules importing one of them runs, and layer 0 (:data:`LAYER_ZERO`), which
    every pure module imports."""
    out = [p for p in sorted(root.rglob("*.py")) if p.relative_to(root).parts[0] in PURE_PACKAGES]
    inits = {(parent / "__init__.py").as_posix() for m in PURE_MODULES for parent in Path(m).parents}
    extra = PURE_MODULES | LAYER_ZERO | inits
    return out + [root / m for m in sorted(extra) if (root / m).exists()]


@functools.cache
def _pure_names(root: Path) -> frozenset[str]:
    return frozenset(p.relative_to(root).as_posix() for p in pure_paths(root))


def _impure_project(name: str, root: Path) -> str | None:
    """The module of the project a dotted ``swarmscope.`` name lands in when it is not pure, else None:
    importing it runs its code (and hands out its names), so a pure module imports pure modules only."""
    module = _module_prefix(root, name)
    if module is None:
        return None  # ``swarmscope`` itself (its __init__ is held to rule 2) or a name of no module
    path = root.joinpath(*module.split(".")[1:])
    rel = (path / "__init__.py" if path.is_dir() else path.with_suffix(".py")).relative_to(root).as_posix()
    return None if rel in _pure_names(root) else module


def _allowed(name: str) -> bool:
    """Own names, names under an entry, and the packages on the way to one (``cryptography`` for the
    import of ``cryptography.x509``; a package's other names are not admitted by that)."""
    own = name == "swarmscope" or name.startswith("swarmscope.")  # the layer rule judges these
    return own or any(_matches(name, ok) or ok.startswith(name + ".") for ok in PURE_ALLOWED)


def _impure(name: str) -> str | None:
    """The name as it really is (:func:`real_name`) when a pure module may not use it, else None: a module
    off the allow-list (also one reached as an attribute of an allowed one, ``uuid.os``), a library's
    private attribute (``io._io``), an impure name or a key generator."""
    if name == "swarmscope" or name.startswith("swarmscope."):
        return None  # the layer rule judges these
    if not _allowed(name):  # spelled as it really is when its library is (partly) allowed: uuid.os is os
        return real_name(name) if _allowed(name.split(".")[0]) else name
    real = real_name(name)
    random_key = real.startswith("cryptography.") and real.rsplit(".", 1)[-1] in KEY_GENERATORS
    private = private_part(name) or private_part(real)
    if random_key or private or not _allowed(real) or any(_matches(real, bad) for bad in IMPURE_NAMES):
        return real
    return name if any(_matches(name, bad) for bad in IMPURE_NAMES) else None


def _through(name: str, real: str) -> str:
    return "" if real == name else f" through {name}"


def _member(func: ast.expr) -> ast.Attribute | None:
    """The called member: ``x.m`` or a literal ``getattr(x, "m")`` (on a value the walk cannot resolve)."""
    if isinstance(func, ast.Attribute):
        return func
    if _is_getattr(func):
        owner, name = func.args[0], func.args[1].value  # type: ignore[attr-defined]
        return ast.Attribute(value=owner, attr=name, ctx=ast.Load())
    return None


def _method_problem(call: ast.Call) -> str | None:
    """File, socket or clock I/O recognised by the method's name when its owner is a value, not an import."""
    func = _member(call.func)
    if func is None:
        return None
    owner = func.value
    owner_name = owner.id if isinstance(owner, ast.Name) else getattr(owner, "attr", None)
    if func.attr in CLOCK_OR_RANDOM_METHODS or owner_name in CLOCK_OR_RANDOM_OWNERS:
        return f"calls {owner_name or '...'}.{func.attr}() (clock or randomness)"
    if func.attr in FILE_METHODS:
        return f"calls .{func.attr}() (file I/O)"
    if func.attr in SOCKET_METHODS | CONNECTION_OPENERS:
        return f"calls .{func.attr}() (socket I/O)"
    return _argument_problem(func.attr, call)


def _argument_problem(method: str, call: ast.Call) -> str | None:
    """Methods impure by how they are called: a signature scheme given an algorithm or padding (ECDSA,
    RSA-PSS: random per signature; Ed25519's ``sign(data)`` is deterministic, RFC 8032 5.1.6), an
    encryption given a padding (RSA-OAEP and PKCS #1 v1.5 draw random padding, RFC 8017 7.1.1/7.2.1; the
    RC4 stream of MSE takes the data only), a time converted without a zone (the machine's local time
    zone; ``.timestamp()`` of a naive datetime and ``strftime("%s")`` too), and an X.509 verifier built
    by a chain with no ``.time(...)`` (cryptography's PolicyBuilder then validates at the current time)."""
    given = len(call.args) + len(call.keywords)
    if method == "sign" and given > 1:
        return "calls .sign() with an algorithm (a randomized signature)"
    if method == "encrypt" and given > 1:
        return "calls .encrypt() with a padding (randomized encryption)"
    if (method in ("astimezone", "timestamp") and not given) or (method == "fromtimestamp" and given < 2):
        return f"calls .{method}() without a time zone (the local zone)"
    if method == "strftime" and any("%s" in _text(a) for a in call.args):
        return 'calls .strftime("%s") (seconds in the local zone)'
    if method in VERIFIER_BUILDERS and not _chain_sets_time(call.func):
        return f"calls .{method}() on a chain with no .time(...) (verifies at the current time)"
    return None


def _text(node: ast.expr) -> str:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else ""


def _chain_sets_time(func: ast.expr) -> bool:
    """Whether the call chain a builder method is called on (``PolicyBuilder().store(s).time(t)``) has a
    ``.time(...)`` call: the builder must be given the validation time in the same expression."""
    node: ast.expr = func
    while isinstance(node, ast.Attribute | ast.Call):
        if isinstance(node, ast.Call):
            if isinstance(node.func, ast.Attribute) and node.func.attr == "time" and node.args:
                return True
            node = node.func
        else:
            node = node.value
    return False


def purity_problems(path: Path, root: Path = SRC) -> list[str]:
    """Imports off the allow-list, impure names and I/O calls in a pure module."""
    mod = load(path, root)
    problems = []
    for name, line in imported_names(mod):
        real = _impure(name)
        if real:
            problems.append(f"line {line}: imports {real}{_through(name, real)}")
        own = _impure_project(name, root) if name.startswith("swarmscope.") else None
        if own and f"line {line}: imports {own}, which is not pure" not in problems:
            problems.append(f"line {line}: imports {own}, which is not pure")
    reported: set[int] = set()
    for ref, name, is_called in mod.references():
        real = _impure(name)
        if real:
            problems.append(f"line {ref.lineno}: {_describe(real, is_called)}{_through(name, real)}")
            reported.add(id(ref))
    called = {id(node.func) for node in ast.walk(mod.tree) if isinstance(node, ast.Call)}
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Call) and id(node.func) not in reported:
            problem = _method_problem(node)
            if problem:
                problems.append(f"line {node.lineno}: {problem}")
        elif _held_clock(node, called, reported):
            problems.append(f"line {node.lineno}: holds .{node.attr} (a clock or randomness read later)")  # type: ignore[attr-defined]
    return _by_line(problems + order_problems(mod))


def _held_clock(node: ast.AST, called: set[int], reported: set[int]) -> bool:
    """``read = type(stamp).now``: a clock or random method taken as a value, to be called elsewhere."""
    return (
        isinstance(node, ast.Attribute)
        and isinstance(node.ctx, ast.Load)
        and node.attr in CLOCK_OR_RANDOM_METHODS
        and id(node) not in called | reported
    )

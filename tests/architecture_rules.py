"""The import rules of the architecture, as functions over one module's source (used by test_architecture).

Every rule reads the module's AST and returns problem lines (``"line N: ..."``); an empty list means the
module obeys it. The walk sees through the usual dodges: a dynamic import with a literal name counts as an
import (a computed name is itself a problem, since no rule could check it), a name imported from a module
(``from os import urandom``, ``from time import time as clock``) or reached through ``getattr`` is resolved
to its full dotted name, and a function-level import is an import like any other (an import cycle hidden
inside a function is still a cycle).

1. Layers: imports point down only; siblings in one layer never import each other; no import cycles.
2. wire/, evidence/ and the pure policy modules do no I/O (files, sockets, terminal), read no clock, draw
   no randomness.
3. Only net/ opens sockets (and speaks HTTP); only store/ talks to the database; only attribution/ reads IP
   datasets. testbed/ is the exception for sockets: it runs foreign software to build test swarms.
4. No module reads the environment at import time.
5. A cli/ module imports no other cli/ module but the shared ones (:data:`SHARED_CLI`): a command is parsing,
   printing and exit codes, and what two commands both need is a workflow action in cases/ (which a web
   console calls too) or a shared cli helper. :data:`CLI_COMPOSERS` are the two modules made to import
   commands.
"""

from __future__ import annotations

import ast
import builtins
import functools
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "swarmscope"

LAYERS = {
    "errors": 0,
    "__init__": 0,
    "wire": 1,
    "evidence": 2,
    "net": 3,
    "store": 3,
    "attribution": 3,
    "netns": 3,
    "reference": 3,
    "monitor": 4,
    "cases": 4,
    "testbed": 4,
    "cli": 5,
    "web": 5,
}
PURE_PACKAGES = {"wire", "evidence"}
PURE_MODULES = {"monitor/plan.py", "cases/workflow.py", "cases/thresholds.py"}
IMPURE_IMPORTS = {  # modules a pure module may neither import nor use (any name under them)
    "asyncio", "socket", "ssl", "sqlite3", "threading", "subprocess", "logging", "select", "selectors",
    "multiprocessing", "concurrent", "uvloop", "httpx", "sqlalchemy", "alembic", "urllib.request",
    "http.client",
    "time", "random", "secrets",  # clocks and randomness
    "os", "shutil", "tempfile", "glob", "fcntl", "mmap",  # files, processes, the environment
    "importlib", "runpy",  # code loaded by name
}  # fmt: skip
IMPURE_NAMES = {  # single names of otherwise pure modules that read a clock, draw randomness or do I/O
    "uuid.uuid1", "uuid.uuid4", "uuid.getnode",
    "datetime.datetime.now", "datetime.datetime.utcnow", "datetime.datetime.today", "datetime.date.today",
    "io.open", "io.open_code", "io.FileIO", "codecs.open", "pathlib.Path", "pathlib.PosixPath",
    "pathlib.WindowsPath", "sys.stdin", "sys.stdout", "sys.stderr",
    "builtins.open", "builtins.print", "builtins.input",
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
CONNECTION_OPENERS = {  # asyncio / socket calls that open a connection or a listening socket
    "open_connection", "start_server", "create_connection", "create_datagram_endpoint", "create_server",
    "open_unix_connection", "start_unix_server", "create_unix_connection", "create_unix_server",
    "sock_connect", "sock_accept", "connect_accepted_socket",
}  # fmt: skip
SOCKET_OWNERS = {"net", "testbed"}
OWNED_IMPORTS = {  # third-party or stdlib module -> the only top-level packages allowed to import it
    "socket": SOCKET_OWNERS, "http.client": SOCKET_OWNERS, "urllib.request": SOCKET_OWNERS,
    "httpx": {"net"}, "ntplib": {"net"}, "aiosmtplib": {"net"}, "aiosmtpd": {"testbed"},
    "sqlalchemy": {"store"}, "alembic": {"store"}, "sqlite3": {"store"}, "psycopg": {"store"},
    "maxminddb": {"attribution"}, "geoip2": {"attribution"},
}  # fmt: skip
DYNAMIC_IMPORTS = {"importlib.import_module", "importlib.__import__", "builtins.__import__"}
CODE_LOADERS = {  # run code that the import walk cannot see at all
    "importlib.util.spec_from_file_location", "importlib.util.module_from_spec",
    "importlib.machinery.SourceFileLoader", "runpy.run_path", "runpy.run_module", "builtins.exec",
    "builtins.eval",
}  # fmt: skip
ENVIRONMENT = {"os.environ", "os.environb", "os.getenv", "os.getenvb"}
SHARED_CLI = {  # cli/ modules every command may import: they register no command
    "app", "options", "numeric", "text", "evidence_trust", "node_identity", "evidence_options",
    "provenance", "monitor_view", "commit_log", "refused_run", "monitor_options", "monitor_settings",
    "policy_options",
}  # fmt: skip
CLI_COMPOSERS = {  # cli/ modules whose job is to import commands
    "__init__",  # registers every command on the app
    "__main__",  # ``python -m swarmscope.cli``: the package's entry point
    "demo",  # runs monitor, report, export and verify end to end on a loopback swarm
}
_BUILTINS = set(dir(builtins))


@dataclass(frozen=True)
class ImportRef:
    """One import: ``module`` (absolute dotted), names taken from it (none for ``import m``), its line."""

    module: str
    names: tuple[str, ...]
    line: int


class Module:
    """A parsed source file of the package under ``root`` (``.../swarmscope``)."""

    def __init__(self, path: Path, root: Path, text: str) -> None:
        self.path, self.root = path, root
        self.tree = ast.parse(text, str(path))
        rel = path.relative_to(root)
        self.top = rel.parts[0].removesuffix(".py")
        parts = ["swarmscope", *rel.with_suffix("").parts]
        self.name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        self.package = ["swarmscope", *rel.parent.parts]
        self.refs = self._imports()
        self.aliases = self._aliases()

    def _absolute(self, module: str | None, level: int) -> str:
        if not level:
            return module or ""
        base = self.package[: len(self.package) - level + 1]
        return ".".join(base + ([module] if module else []))

    def _dynamic_target(self, node: ast.Call) -> str | None:
        """The module a literal ``import_module("x")`` / ``__import__("x")`` loads (relative resolved)."""
        first = node.args[0] if node.args else None
        if not isinstance(first, ast.Constant) or not isinstance(first.value, str):
            return None
        name: str = first.value
        level = len(name) - len(name.lstrip("."))
        return self._absolute(name.lstrip(".") or None, level)

    def _imports(self) -> list[ImportRef]:
        out: list[ImportRef] = []
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                out += [ImportRef(alias.name, (), node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                module = self._absolute(node.module, node.level)
                out.append(ImportRef(module, tuple(a.name for a in node.names), node.lineno))
            elif isinstance(node, ast.Call) and _is_dynamic_import(node):
                target = self._dynamic_target(node)
                if target:
                    out.append(ImportRef(target, (), node.lineno))
        return out

    def _aliases(self) -> dict[str, str]:
        """Local name -> the dotted name it is bound to by an import anywhere in the module."""
        out: dict[str, str] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    local = alias.asname or alias.name.split(".")[0]
                    out[local] = alias.name if alias.asname else local
            elif isinstance(node, ast.ImportFrom):
                module = self._absolute(node.module, node.level)
                out.update({a.asname or a.name: f"{module}.{a.name}" for a in node.names if a.name != "*"})
            elif isinstance(node, ast.Assign) and _is_dynamic_import(node.value):
                target = self._dynamic_target(node.value)  # type: ignore[arg-type]
                if target and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    out[node.targets[0].id] = target
        return out

    def qualify(self, node: ast.AST) -> str | None:
        """The full dotted name an expression refers to (``u`` after ``from os import urandom as u``)."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            return f"builtins.{node.id}" if node.id in _BUILTINS else None
        if isinstance(node, ast.Attribute):
            base = self.qualify(node.value)
            return f"{base}.{node.attr}" if base else None
        if _is_getattr(node):
            assert isinstance(node, ast.Call)
            base = self.qualify(node.args[0])
            return f"{base}.{node.args[1].value}" if base else None  # type: ignore[attr-defined]
        return None

    def references(self) -> list[tuple[ast.expr, str, bool]]:
        """Every outermost name/attribute chain that resolves: (node, dotted name, is it called?)."""
        inner: set[int] = set()
        called: set[int] = set()
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Attribute):
                inner.add(id(node.value))
            elif _is_getattr(node):
                assert isinstance(node, ast.Call)
                inner.add(id(node.args[0]))
            if isinstance(node, ast.Call):
                called.add(id(node.func))
        out: list[tuple[ast.expr, str, bool]] = []
        for node in ast.walk(self.tree):
            if id(node) in inner or not isinstance(node, ast.Name | ast.Attribute | ast.Call):
                continue
            name = self.qualify(node)
            if name:
                out.append((node, name, id(node) in called))
        return out


def _is_getattr(node: ast.AST) -> bool:
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "getattr"
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    )


def _is_dynamic_import(node: ast.AST) -> bool:
    """``import_module(...)`` or ``__import__(...)`` under any owner (resolved later by :meth:`qualify`)."""
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    tail = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
    return tail in {"import_module", "__import__"}


def _matches(name: str, target: str) -> bool:
    return name == target or name.startswith(target + ".")


def _by_line(problems: list[str]) -> list[str]:
    """Problems in source order (stable: problems of one line keep the order they were found in)."""
    return sorted(problems, key=lambda p: int(p.split(":")[0].removeprefix("line ")))


def _describe(name: str, is_called: bool) -> str:
    return f"calls {name.removeprefix('builtins.')}()" if is_called else f"uses {name}"


@functools.cache
def _parsed(path: Path, root: Path, text: str) -> Module:
    return Module(path, root, text)


def load(path: Path, root: Path = SRC) -> Module:
    """The parsed module (parsed once per content: every rule walks the same tree)."""
    return _parsed(path, root, path.read_text())


def modules(root: Path = SRC) -> list[Path]:
    return sorted(root.rglob("*.py"))


def imported_names(mod: Module) -> list[tuple[str, int]]:
    """Absolute dotted names the module imports (``from m import n`` gives ``m`` and ``m.n``), with lines."""
    out: list[tuple[str, int]] = []
    for ref in mod.refs:
        out.append((ref.module, ref.line))
        out += [(f"{ref.module}.{name}", ref.line) for name in ref.names]
    return out


def layer_problems(path: Path, root: Path = SRC) -> list[str]:
    mod = load(path, root)
    me = mod.top
    if me not in LAYERS:
        return [f"top-level module {me!r} has no layer; add it to LAYERS"]
    problems = []
    for name, line in imported_names(mod):
        if not name.startswith("swarmscope."):
            continue
        other = name.split(".")[1]
        if other not in LAYERS or other == me:
            continue
        if LAYERS[other] > LAYERS[me]:
            problems.append(f"line {line}: {me} (layer {LAYERS[me]}) imports {name} (layer {LAYERS[other]})")
        elif LAYERS[other] == LAYERS[me] and LAYERS[me] > 0:
            problems.append(f"line {line}: siblings {me} and {other} must not import each other")
    return _by_line(problems)


def dynamic_import_problems(path: Path, root: Path = SRC) -> list[str]:
    """A dynamic import must name its module literally (then the other rules check it like an import)."""
    mod = load(path, root)
    problems = []
    for node in ast.walk(mod.tree):
        if not isinstance(node, ast.Call):
            continue
        name = mod.qualify(node.func)
        if name in DYNAMIC_IMPORTS and mod._dynamic_target(node) is None:
            problems.append(f"line {node.lineno}: {name}() of a computed name; import the module statically")
        elif name in CODE_LOADERS:
            problems.append(f"line {node.lineno}: {name}() runs code the import rules cannot see")
    for ref, name, _ in mod.references():
        if _matches(name, "sys.modules"):
            problems.append(f"line {ref.lineno}: reaches a module through sys.modules; import it statically")
    return _by_line(problems)


def ownership_problems(path: Path, root: Path = SRC) -> list[str]:
    mod = load(path, root)
    problems = []
    for name, line in imported_names(mod):
        for owned, owners in OWNED_IMPORTS.items():
            if _matches(name, owned) and mod.top not in owners:
                problems.append(f"line {line}: {name} is owned by {sorted(owners)}")
    return _by_line(problems)


def connection_problems(path: Path, root: Path = SRC) -> list[str]:
    """Only net/ (and the testbed) opens connections or listening sockets, through any alias or loop."""
    mod = load(path, root)
    if mod.top in SOCKET_OWNERS:
        return []
    owners = sorted(SOCKET_OWNERS)
    named = [(line, name) for name, line in imported_names(mod)]
    named += [(node.lineno, name) for node, name, _ in mod.references()]
    problems = [f"line {n}: uses {name}; only {owners} open sockets" for n, name in named if _opener(name)]
    for node in ast.walk(mod.tree):
        if isinstance(node, ast.Attribute) and node.attr in CONNECTION_OPENERS and not mod.qualify(node):
            problems.append(f"line {node.lineno}: uses .{node.attr}; only {owners} open sockets")
    return _by_line(problems)


def _opener(name: str) -> bool:
    """An opener of asyncio/socket/uvloop (a net/ function that happens to share its name is not)."""
    parts = name.split(".")
    return parts[0] in {"asyncio", "socket", "uvloop"} and parts[-1] in CONNECTION_OPENERS


def _impure(name: str) -> bool:
    random_key = name.startswith("cryptography.") and name.rsplit(".", 1)[-1] in KEY_GENERATORS
    return random_key or any(_matches(name, bad) for bad in IMPURE_IMPORTS | IMPURE_NAMES)


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
    """Imports, names and calls that do I/O, read a clock or draw randomness in a pure module."""
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


def _import_time_nodes(statements: list[ast.stmt]) -> list[ast.AST]:
    """The nodes evaluated when the module is imported: not function bodies, but defaults and decorators."""
    out: list[ast.AST] = []
    for stmt in statements:
        if isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef):
            parts: list[ast.AST] = [*stmt.decorator_list, *stmt.args.defaults]
            parts += [d for d in stmt.args.kw_defaults if d is not None]
        elif isinstance(stmt, ast.ClassDef):
            parts = [*stmt.decorator_list, *stmt.bases, *stmt.keywords]
            out += _import_time_nodes(stmt.body)
        else:
            children = list(ast.iter_child_nodes(stmt))
            out.append(stmt)
            out += _import_time_nodes([c for c in children if isinstance(c, ast.stmt)])
            parts = [c for c in children if not isinstance(c, ast.stmt)]
        for part in parts:
            out += ast.walk(part)
    return out


def environment_problems(path: Path, root: Path = SRC) -> list[str]:
    mod = load(path, root)
    problems = []
    for node in _import_time_nodes(mod.tree.body):
        if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv", "environb"}:
            problems.append(f"line {node.lineno}: reads os.{node.attr} at import time")
        elif isinstance(node, ast.Name) and mod.qualify(node) in ENVIRONMENT:
            problems.append(f"line {node.lineno}: reads {mod.qualify(node)} at import time")
    return _by_line(problems)


def _cli_targets(ref: ImportRef, root: Path) -> list[str]:
    """The cli/ modules an import reaches (``__init__`` for the package itself or a name defined in it)."""
    parts = ref.module.split(".")
    if parts[:2] != ["swarmscope", "cli"]:
        return []
    if len(parts) > 2:
        return [parts[2]]
    subs = [name for name in ref.names if (root / "cli" / f"{name}.py").exists()]
    return subs + (["__init__"] if len(subs) < len(ref.names) or not ref.names else [])


def cli_import_problems(path: Path, root: Path = SRC) -> list[str]:
    """A cli/ module importing a cli/ module that is neither shared nor itself (rule 5)."""
    mod = load(path, root)
    own = path.relative_to(root).with_suffix("").parts
    if mod.top != "cli" or own[-1] in CLI_COMPOSERS:
        return []
    problems = []
    for ref in mod.refs:
        for target in _cli_targets(ref, root):
            if target not in SHARED_CLI and target != own[-1]:
                problems.append(
                    f"line {ref.line}: imports command module cli.{target}; move what both commands need "
                    "into cases/ (a workflow action) or a shared cli module"
                )
    return _by_line(problems)
